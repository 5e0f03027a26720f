package heartbeat_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/heartbeat"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLive(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		opts := heartbeat.Options{Now: c.Now, Interval: 10 * time.Millisecond}
		a, err := heartbeat.Start(ctx, st.Client, opts)
		require.NoError(t, err)
		b, err := heartbeat.Start(ctx, st.Client, opts)
		require.NoError(t, err)
		require.NotEqual(t, a.ID(), b.ID())

		live, err := a.Live(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{a.ID(), b.ID()}, live)

		// b keeps beating, a does not: to b, a is dead once stale; a
		// always counts itself live.
		c.Advance(heartbeat.DefaultStale + time.Second)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); b.Run(runCtx) }()
		require.Eventually(t, func() bool {
			live, err := a.Live(ctx)
			return err == nil && len(live) == 2
		}, 5*time.Second, 10*time.Millisecond, "b's heartbeat was not refreshed")
		stop()
		<-done
		live, err = b.Live(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{b.ID()}, live)

		// A process alone on its database (SQLite) forgets the others at
		// start: it owns every claim.
		s, err := heartbeat.Start(ctx, st.Client, heartbeat.Options{Now: c.Now, Exclusive: true})
		require.NoError(t, err)
		live, err = s.Live(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{s.ID()}, live)
		n, err := st.Client.Process.Query().Count(auth.SystemContext(ctx))
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}
