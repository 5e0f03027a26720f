// Package graph holds SeaChat's GraphQL resolvers. Each resolver unpacks its
// arguments, makes one call (an ent builder for plain reads and writes, a
// service for anything with rules) and returns; errors are turned into
// GraphQL errors in one place, errors.go.
package graph

import (
	"log/slog"

	"github.com/99designs/gqlgen/graphql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/graph/generated"
	"github.com/seachat/seachat/internal/auth"
)

// Resolver is the root resolver and the only place dependencies are injected.
type Resolver struct {
	client    *ent.Client
	auth      *auth.Service
	publicURL string
	logger    *slog.Logger
}

// Deps are what the resolvers need.
type Deps struct {
	Client    *ent.Client
	Auth      *auth.Service
	PublicURL string // base of callback URLs, without a trailing slash
	Logger    *slog.Logger
}

// NewSchema returns the executable schema.
func NewSchema(d Deps) graphql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{
		client:    d.Client,
		auth:      d.Auth,
		publicURL: d.PublicURL,
		logger:    d.Logger,
	}})
}
