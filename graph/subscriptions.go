package graph

import (
	"context"
	"strconv"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/viewer"
)

// subscribe streams the entities named by the events of topic that belong
// to the subscriber's workspace and pass match. Events carry IDs only; each
// entity is loaded with the subscriber's context, so privacy rules apply to
// what it receives. The stream ends when the client leaves, or when the bus
// drops a subscriber too slow to keep up (the client then catches up with
// the conversations and messages queries, by cursor, and subscribes again).
func subscribe[T any](ctx context.Context, r *Resolver, topic string, match func(pubsub.Event) bool,
	load func(context.Context, int) (T, error)) (<-chan T, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return nil, apperr.Errorf(apperr.Unauthenticated, "missing API token")
	}
	sub, err := r.bus.Subscribe(ctx, topic, func(ev pubsub.Event) bool {
		return ev.WorkspaceID == v.WorkspaceID && match(ev)
	})
	if err != nil {
		return nil, err
	}
	out := make(chan T)
	go func() {
		defer close(out)
		for ev := range sub.Events() {
			obj, err := loadPayload(ctx, r, v.WorkspaceID, ev.ID, load)
			if err != nil {
				continue // deleted since, or no longer visible
			}
			select {
			case out <- obj:
			case <-ctx.Done():
				return
			}
		}
		if err := sub.Err(); err != nil && ctx.Err() == nil {
			r.logger.WarnContext(ctx, "subscription ended", "topic", topic, "reason", err)
		}
	}()
	return out, nil
}

// loadPayload loads an event's entity within the workspace's share of
// r.payloads: an event is loaded for all its subscribers at once, and one
// workspace's fan-out must not take every database connection.
func loadPayload[T any](ctx context.Context, r *Resolver, workspaceID, id int, load func(context.Context, int) (T, error)) (T, error) {
	if r.payloads != nil {
		release, err := r.payloads.Acquire(ctx, workspaceID)
		if err != nil {
			var zero T
			return zero, err
		}
		defer release()
	}
	return load(ctx, id)
}

// extraIs matches events whose Extra[key] is id; a nil id matches all.
func extraIs(ev pubsub.Event, key string, id *int) bool {
	return id == nil || ev.Extra[key] == strconv.Itoa(*id)
}

func kindIs(ev pubsub.Event, kind string) bool { return ev.Kind == kind }
