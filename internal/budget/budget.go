// Package budget bounds how many bytes one request may produce. The server
// gives every GraphQL response a Budget; code that builds large values
// (transcripts) spends from it as it writes, so a request that would answer
// with gigabytes fails after a few megabytes instead of after building
// them.
package budget

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/seachat/seachat/internal/apperr"
)

// Budget is a number of bytes a request may still produce. It is safe for
// concurrent use: the resolvers of one response run in parallel.
type Budget struct {
	limit int64
	used  atomic.Int64
	err   error
}

// New returns a budget of limit bytes.
func New(limit int64) *Budget {
	return &Budget{limit: limit, err: apperr.Errorf(apperr.InvalidArgument,
		"the response would be larger than %s: ask for fewer fields, fewer transcripts or smaller pages (first/last) per request",
		Size(limit))}
}

// Limit is the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Spend takes n bytes from the budget. Once the budget is exceeded it
// returns an InvalidArgument error, then and on every later call. A nil
// Budget has no limit.
func (b *Budget) Spend(n int) error {
	if b == nil {
		return nil
	}
	if b.used.Add(int64(n)) > b.limit {
		return b.err
	}
	return nil
}

// Exceeded reports whether more than the budget was spent.
func (b *Budget) Exceeded() bool { return b != nil && b.used.Load() > b.limit }

// Used is how many bytes were spent.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Err is the error Spend returns once the budget is exceeded.
func (b *Budget) Err() error { return b.err }

// Is reports whether err is, or wraps, the error b returns once exceeded.
func (b *Budget) Is(err error) bool { return b != nil && errors.Is(err, b.err) }

type budgetKey struct{}

type meterKey struct{}

// NewContext returns ctx carrying b.
func NewContext(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// FromContext returns the budget of ctx, or nil (no limit) if it has none.
func FromContext(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// Meter counts what was spent below one point of a context, so that the
// server does not charge twice for a value its resolver already paid for.
type Meter struct{ n atomic.Int64 }

// Spent is how many bytes were spent through contexts derived from the
// meter's.
func (m *Meter) Spent() int64 { return m.n.Load() }

// WithMeter returns a context whose spending is also counted by the
// returned Meter (and by no meter further up).
func WithMeter(ctx context.Context) (context.Context, *Meter) {
	m := &Meter{}
	return context.WithValue(ctx, meterKey{}, m), m
}

// Spend takes n bytes from the budget of ctx, if it has one, and counts
// them on its innermost Meter.
func Spend(ctx context.Context, n int) error {
	if m, ok := ctx.Value(meterKey{}).(*Meter); ok {
		m.n.Add(int64(n))
	}
	return FromContext(ctx).Spend(n)
}

// Size formats a byte count for people: "16 MiB", "512 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
