// Package scalar binds GraphQL scalars to Go types so that malformed input is
// reported as BAD_USER_INPUT, not as an internal error.
package scalar

import (
	"time"

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

// MarshalTime writes a time as RFC 3339 with nanoseconds, as gqlgen does.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads a time written as RFC 3339 ("2026-12-01T09:30:00Z").
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.Errorf(apperr.InvalidArgument, "%v is not a time: write it as RFC 3339, such as \"2026-12-01T09:30:00Z\"", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.Errorf(apperr.InvalidArgument, "%q is not a time: write it as RFC 3339, such as \"2026-12-01T09:30:00Z\"", s)
	}
	return t, nil
}
