package fairshare_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/fairshare"
)

// TestLimits: a busy key gets at most perKey slots and never starves
// another key; the total bounds both together.
func TestLimits(t *testing.T) {
	l := fairshare.New(2, 3)
	var busy, peak atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := l.Acquire(context.Background(), 1)
			require.NoError(t, err)
			n := busy.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			busy.Add(-1)
			release()
		}()
	}
	// Key 2 gets a slot at once although key 1 has 18 waiters.
	time.Sleep(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	release, err := l.Acquire(ctx, 2)
	require.NoError(t, err, "key 2 waited for key 1")
	release()
	wg.Wait()
	require.LessOrEqual(t, peak.Load(), int32(2))
}

func TestAcquireCanceled(t *testing.T) {
	l := fairshare.New(1, 1)
	release, err := l.Acquire(context.Background(), 1)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = l.Acquire(ctx, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = l.Acquire(ctx, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the total is taken")
	release()
	release() // a second call does nothing
	release, err = l.Acquire(context.Background(), 2)
	require.NoError(t, err)
	release()
}
