// Package pubsub fans events out to subscribers by topic, either inside one
// process (Memory, used with SQLite) or across replicas over Postgres
// LISTEN/NOTIFY (Postgres).
//
// Events carry IDs, not rows: a subscriber reloads what it needs, and a NOTIFY
// payload is capped at MaxPayload bytes anyway.
//
// A send to a subscriber never blocks the publisher. A subscriber that falls
// behind by more than its buffer is dropped: its channel is closed and its
// Err reports ErrSlowSubscriber, so a GraphQL resolver can end the stream with
// a clear reason and the client can refetch and resubscribe. The same recovery
// path serves ErrDisconnected, which Postgres reports when its listener
// connection was lost and events may have been missed.
package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// MaxPayload is the largest JSON encoding of an Event, in bytes, that Publish
// accepts. Postgres rejects NOTIFY payloads of 8000 bytes or more; Memory
// enforces the same limit so code developed on SQLite keeps working on Postgres.
const MaxPayload = 7999

// DefaultBuffer is the number of events a subscriber may fall behind before it
// is dropped, unless WithBuffer says otherwise.
const DefaultBuffer = 64

// DefaultChannel is the Postgres NOTIFY channel used unless WithChannel says
// otherwise.
const DefaultChannel = "seachat_events"

var (
	// ErrSlowSubscriber ends a subscription whose buffer was full when an event
	// arrived; that event and any later ones were not delivered to it.
	ErrSlowSubscriber = errors.New("pubsub: subscriber fell behind, events were dropped")

	// ErrDisconnected ends every subscription of a Postgres bus when its
	// listener reconnects: notifications sent while it was away are lost.
	ErrDisconnected = errors.New("pubsub: listener reconnected, events may have been missed")

	// ErrClosed is returned by a closed bus and ends its subscriptions.
	ErrClosed = errors.New("pubsub: bus closed")

	// ErrPayloadTooLarge is returned by Publish when the encoded event is
	// larger than MaxPayload.
	ErrPayloadTooLarge = errors.New("pubsub: event payload too large")
)

// Event says that something happened to an entity. It names the entity by
// ID; subscribers load the current state themselves.
type Event struct {
	// Topic routes the event to subscribers; it must not be empty.
	Topic string `json:"topic"`
	// WorkspaceID is the workspace the entity belongs to; subscribers must
	// filter on it so no one sees another workspace's events.
	WorkspaceID int `json:"workspace_id"`
	// Kind says what happened, e.g. "created" or "status_changed".
	Kind string `json:"kind,omitempty"`
	// ID is the ID of the entity the event is about.
	ID int `json:"id"`
	// Extra holds a few small attributes that subscribers filter on, such as
	// a conversation or agent ID. Subscribers share it and must not modify it.
	Extra map[string]string `json:"extra,omitempty"`
}

// Bus delivers published events to the subscribers of their topic.
type Bus interface {
	// Publish sends ev to the subscribers of ev.Topic. It does not wait for
	// them to receive it.
	Publish(ctx context.Context, ev Event) error

	// Subscribe returns a subscription to the events of topic that filter
	// accepts (all of them if filter is nil). The subscription ends when ctx is
	// done, when the subscriber falls behind, or when the bus is closed.
	// filter runs on the publishing goroutine: it must be fast and must not
	// call the bus.
	Subscribe(ctx context.Context, topic string, filter func(Event) bool) (*Subscription, error)

	// Close ends all subscriptions and releases the bus's resources.
	Close() error
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	ch     chan Event
	topic  string
	filter func(Event) bool
	stop   func() bool // deregisters the context.AfterFunc; guarded by the bus lock

	mu  sync.Mutex
	err error
}

// Events returns the channel of events. It is closed when the subscription
// ends; Err then says why.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Err returns nil while the subscription is active. Once Events is closed it
// returns why: ErrSlowSubscriber, ErrDisconnected, ErrClosed, or the cause of
// the subscriber's context (context.Canceled when it was simply canceled).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end records why the subscription ended and closes its channel. The caller
// holds the bus lock, so end runs once per subscription.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.ch)
	s.stop()
}

// Option configures a bus.
type Option func(*options)

type options struct {
	buffer  int
	metrics *Metrics
	channel string
	ping    time.Duration
}

func newOptions(opts []Option) options {
	o := options{buffer: DefaultBuffer, channel: DefaultChannel, ping: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithBuffer sets how many events each subscriber may fall behind before it
// is dropped. Values below 1 are ignored.
func WithBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.buffer = n
		}
	}
}

// WithMetrics makes the bus count deliveries, drops and subscribers in m.
func WithMetrics(m *Metrics) Option {
	return func(o *options) { o.metrics = m }
}

// WithChannel sets the Postgres NOTIFY channel (default DefaultChannel). All
// replicas must use the same one. Memory ignores it.
func WithChannel(name string) Option {
	return func(o *options) { o.channel = name }
}

// WithPingInterval sets how often Postgres pings its listener connection to
// detect that it died (default 30s). Memory ignores it.
func WithPingInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ping = d
		}
	}
}

// encode validates ev and returns its JSON encoding.
func encode(ev Event) ([]byte, error) {
	if ev.Topic == "" {
		return nil, errors.New("pubsub: event has no topic")
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("pubsub: encoding %s event: %w", ev.Topic, err)
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("pubsub: %s event is %d bytes encoded, limit %d: %w", ev.Topic, len(b), MaxPayload, ErrPayloadTooLarge)
	}
	return b, nil
}

// cloneExtra keeps a publisher's later changes to ev.Extra away from subscribers.
func cloneExtra(ev Event) Event {
	ev.Extra = maps.Clone(ev.Extra)
	return ev
}
