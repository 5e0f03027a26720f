package server

import (
	"context"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
)

// transactioner runs each mutation in one transaction, as entgql's
// Transactioner does, and also copes with the two responses that one does
// not expect: an error answered before any operation exists (malformed JSON,
// a body gqlgen cannot decode), which has no operation context and made
// entgql panic on every such request; and the nil with which a websocket
// operation's response stream ends, which made entgql dereference nil.
type transactioner struct{ entgql.Transactioner }

// InterceptResponse implements graphql.ResponseInterceptor.
func (t transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	ended := false
	rsp := t.Transactioner.InterceptResponse(ctx, func(ctx context.Context) *graphql.Response {
		rsp := next(ctx)
		if rsp == nil {
			ended = true
			return &graphql.Response{}
		}
		return rsp
	})
	if ended {
		return nil
	}
	return rsp
}
