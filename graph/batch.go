package graph

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// Batching is the gqlgen extension that gives each operation its own
// batchers, so that a field computed per object (Conversation.unreadCount)
// costs one query per page rather than one per object: gqlgen resolves
// the objects of a list concurrently, and the batcher gathers the calls
// that arrive within batchWait into one.
type Batching struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = Batching{}

// ExtensionName implements graphql.HandlerExtension.
func (Batching) ExtensionName() string { return "Batching" }

// Validate implements graphql.HandlerExtension.
func (Batching) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (Batching) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, batchersKey{}, &batchers{}))
}

type batchersKey struct{}

// batchers are one operation's.
type batchers struct {
	unread batcher[int]
}

func batchersOf(ctx context.Context) *batchers {
	b, _ := ctx.Value(batchersKey{}).(*batchers)
	return b
}

// Limits of a batch.
const (
	// batchWait is how long a batch waits for more calls after its first.
	batchWait = 2 * time.Millisecond
	// maxBatch is the most keys of one batch: a page of a connection.
	maxBatch = MaxPageSize
)

// batcher gathers concurrent calls of get into calls of fetch with all
// their keys. It caches nothing: a subscription's later events see fresh
// values.
type batcher[V any] struct {
	wait    time.Duration // zero: batchWait
	mu      sync.Mutex
	pending *batch[V]
}

type batch[V any] struct {
	keys   []int
	once   sync.Once
	done   chan struct{}
	values map[int]V
	err    error
}

// get returns fetch's value of key, fetched with the other keys asked for
// within batchWait. The batch runs with the context of its first call.
func (b *batcher[V]) get(ctx context.Context, key int, fetch func(context.Context, []int) (map[int]V, error)) (V, error) {
	b.mu.Lock()
	bt := b.pending
	if bt == nil {
		bt = &batch[V]{done: make(chan struct{})}
		b.pending = bt
		wait := b.wait
		if wait == 0 {
			wait = batchWait
		}
		time.AfterFunc(wait, func() { b.run(ctx, bt, fetch) })
	}
	bt.keys = append(bt.keys, key)
	full := len(bt.keys) >= maxBatch
	if full {
		b.pending = nil
	}
	b.mu.Unlock()
	if full {
		b.run(ctx, bt, fetch)
	}
	<-bt.done
	return bt.values[key], bt.err
}

func (b *batcher[V]) run(ctx context.Context, bt *batch[V], fetch func(context.Context, []int) (map[int]V, error)) {
	bt.once.Do(func() {
		b.mu.Lock()
		if b.pending == bt {
			b.pending = nil
		}
		keys := bt.keys
		b.mu.Unlock()
		bt.values, bt.err = fetch(ctx, keys)
		close(bt.done)
	})
}

// unreadCount is Conversation.unreadCount, batched per operation.
func (r *Resolver) unreadCount(ctx context.Context, convID int) (int, error) {
	b := batchersOf(ctx)
	if b == nil {
		counts, err := r.conversations.UnreadCounts(ctx, []int{convID})
		return counts[convID], err
	}
	return b.unread.get(ctx, convID, r.conversations.UnreadCounts)
}
