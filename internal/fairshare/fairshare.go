// Package fairshare bounds concurrent work per tenant and in total, so one
// tenant's burst cannot take every database connection from the others.
package fairshare

import (
	"context"
	"sync"
)

// Limiter lets at most perKey holders per key, and total holders in all,
// run at once. Others wait in Acquire.
type Limiter struct {
	perKey int
	total  chan struct{}

	mu   sync.Mutex
	keys map[int]*slots
}

type slots struct {
	ch   chan struct{}
	refs int // holders and waiters; the entry is dropped at 0
}

// New returns a limiter of perKey holders per key and total in all (both at
// least 1).
func New(perKey, total int) *Limiter {
	return &Limiter{perKey: max(perKey, 1), total: make(chan struct{}, max(total, 1)), keys: map[int]*slots{}}
}

// Acquire waits for a slot of key and one of the total, or for ctx to be
// done. Call release exactly once when the work is done.
func (l *Limiter) Acquire(ctx context.Context, key int) (release func(), err error) {
	l.mu.Lock()
	s := l.keys[key]
	if s == nil {
		s = &slots{ch: make(chan struct{}, l.perKey)}
		l.keys[key] = s
	}
	s.refs++
	l.mu.Unlock()

	// The key's slot first: a tenant waiting on itself holds none of the
	// total, which the other tenants share.
	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		l.unref(key, s)
		return nil, ctx.Err()
	}
	select {
	case l.total <- struct{}{}:
	case <-ctx.Done():
		<-s.ch
		l.unref(key, s)
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.total
			<-s.ch
			l.unref(key, s)
		})
	}, nil
}

func (l *Limiter) unref(key int, s *slots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(l.keys, key)
	}
}
