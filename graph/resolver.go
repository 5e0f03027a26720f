// Package graph holds SeaChat's GraphQL resolvers. Each resolver unpacks its
// arguments, makes one call (an ent builder for plain reads and writes, a
// service for anything with rules) and returns; errors are turned into
// GraphQL errors in one place, errors.go.
package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/graph/generated"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/knowledge"
	"github.com/seachat/seachat/internal/pubsub"
)

// Resolver is the root resolver and the only place dependencies are injected.
type Resolver struct {
	client        *ent.Client
	auth          *auth.Service
	channels      *channel.Service
	conversations *conversation.Service
	knowledge     *knowledge.Service
	bus           pubsub.Bus
	payloads      PayloadLimiter
	logger        *slog.Logger
	now           func() time.Time
}

// Deps are what the resolvers need.
type Deps struct {
	Client        *ent.Client
	Auth          *auth.Service
	Channels      *channel.Service
	Conversations *conversation.Service
	Knowledge     *knowledge.Service
	Bus           pubsub.Bus
	// Payloads bounds, per workspace, how many subscription events are
	// loaded at once; nil: no bound.
	Payloads PayloadLimiter
	Logger   *slog.Logger
}

// PayloadLimiter lets a few holders per key at a time do database work;
// fairshare.Limiter implements it.
type PayloadLimiter interface {
	Acquire(ctx context.Context, key int) (release func(), err error)
}

// NewSchema returns the executable schema, with the complexity functions
// of the fields that cost more than their selections (cost.go).
func NewSchema(d Deps) graphql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{Complexity: complexity(), Resolvers: &Resolver{
		client:        d.Client,
		auth:          d.Auth,
		channels:      d.Channels,
		conversations: d.Conversations,
		knowledge:     d.Knowledge,
		bus:           d.Bus,
		payloads:      d.Payloads,
		logger:        d.Logger,
		now:           time.Now,
	}})
}
