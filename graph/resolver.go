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
	"github.com/seachat/seachat/internal/channel"
)

// Resolver is the root resolver and the only place dependencies are injected.
type Resolver struct {
	client   *ent.Client
	auth     *auth.Service
	channels *channel.Service
	logger   *slog.Logger
}

// Deps are what the resolvers need.
type Deps struct {
	Client   *ent.Client
	Auth     *auth.Service
	Channels *channel.Service
	Logger   *slog.Logger
}

// NewSchema returns the executable schema.
func NewSchema(d Deps) graphql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{
		client:   d.Client,
		auth:     d.Auth,
		channels: d.Channels,
		logger:   d.Logger,
	}})
}
