// Package scalar binds GraphQL scalars to Go types so that malformed input is
// reported as BAD_USER_INPUT, not as an internal error.
package scalar

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/seachat/seachat/internal/apperr"
)

// MarshalID writes an ent ID as a GraphQL ID.
func MarshalID(id int) graphql.Marshaler { return graphql.MarshalIntID(id) }

// UnmarshalID reads a GraphQL ID.
func UnmarshalID(v any) (int, error) {
	id, err := graphql.UnmarshalIntID(v)
	if err != nil {
		return 0, apperr.Errorf(apperr.InvalidArgument, "%v is not a SeaChat ID: IDs are the digits the API returned", v)
	}
	return id, nil
}
