package pubsub

import (
	"context"
	"errors"
	"sync"
)

// Memory is an in-process Bus. It is the whole bus for a single process on
// SQLite, and the local fan-out behind Postgres.
type Memory struct {
	buffer  int
	metrics *Metrics

	mu     sync.Mutex
	closed bool
	topics map[string]map[*Subscription]struct{}
}

var _ Bus = (*Memory)(nil)

// NewMemory returns an in-process bus. It honours WithBuffer and WithMetrics.
func NewMemory(opts ...Option) *Memory {
	o := newOptions(opts)
	return &Memory{
		buffer:  o.buffer,
		metrics: o.metrics,
		topics:  make(map[string]map[*Subscription]struct{}),
	}
}

// Publish hands ev to every matching subscriber of ev.Topic without blocking.
// It rejects events that Postgres could not carry (see MaxPayload), so both
// buses accept the same events.
func (m *Memory) Publish(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := encode(ev); err != nil {
		return err
	}
	return m.fanOut(cloneExtra(ev))
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(ctx context.Context, topic string, filter func(Event) bool) (*Subscription, error) {
	if topic == "" {
		return nil, errors.New("pubsub: subscribe to empty topic")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Subscription{ch: make(chan Event, m.buffer), topic: topic, filter: filter}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	subs := m.topics[topic]
	if subs == nil {
		subs = make(map[*Subscription]struct{})
		m.topics[topic] = subs
	}
	subs[s] = struct{}{}
	m.metrics.subscribers(1)
	// AfterFunc starts no goroutine until ctx is done.
	s.stop = context.AfterFunc(ctx, func() { m.unsubscribe(s, context.Cause(ctx)) })
	return s, nil
}

// Close ends every subscription with ErrClosed. Later calls do nothing.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.endAllLocked(ErrClosed, "")
	return nil
}

// fanOut delivers ev to the matching subscribers of its topic. Holding the
// lock across the loop gives every subscriber the same order of events.
func (m *Memory) fanOut(ev Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for s := range m.topics[ev.Topic] {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		select {
		case s.ch <- ev:
			m.metrics.delivered()
		default:
			m.metrics.dropped(reasonSlow)
			m.endLocked(s, ErrSlowSubscriber)
		}
	}
	return nil
}

// endAll ends every subscription with err and counts it as dropped for reason.
// The bus stays open.
func (m *Memory) endAll(err error, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endAllLocked(err, reason)
}

func (m *Memory) endAllLocked(err error, reason string) {
	for _, subs := range m.topics {
		for s := range subs {
			if reason != "" {
				m.metrics.dropped(reason)
			}
			m.endLocked(s, err)
		}
	}
}

func (m *Memory) unsubscribe(s *Subscription, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endLocked(s, err)
}

// endLocked removes s, if it is still subscribed, and ends it with err.
// Metrics are updated before the channel closes, so whoever sees it closed
// sees them too.
func (m *Memory) endLocked(s *Subscription, err error) {
	subs := m.topics[s.topic]
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(m.topics, s.topic)
	}
	m.metrics.subscribers(-1)
	s.end(err)
}
