package knowledge

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// stepClock is a clock that moves one second each time it is read, so
// that every claim has its own time.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// TestIngestFairAcrossWorkspaces: workspace A queues many uploads, then B
// queues a few. Claims go to the workspace served least recently, so B's
// first upload is taken right after A's first rather than after all of A's,
// and two busy workspaces take turns. Claims and ingests run one at a time
// here, as one worker would, so the order is exact.
func TestIngestFairAcrossWorkspaces(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		clock := &stepClock{t: time.Now().Add(-time.Hour)}
		e := newEnv(t, st, nil, Options{Now: clock.now})
		names := map[int]string{}
		queue := func(ws string, n int) {
			ctx, agent := e.owner, e.agent
			if ws == "B" {
				ctx, agent = e.ownerB, e.agentB
			}
			for i := range n {
				body := strings.Repeat("Rentals include a helmet and a lock. ", 20)
				src, err := e.svc.Upload(ctx, agent, "notes.md", "text/markdown", strings.NewReader(body), "")
				require.NoError(t, err)
				names[src.ID] = ws + string(rune('1'+i))
			}
		}
		queue("A", 6)
		queue("B", 3)

		// Two workers claim at once: one file of each workspace.
		ctx := e.sys
		first, err := e.svc.claim(ctx)
		require.NoError(t, err)
		second, err := e.svc.claim(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"A1", "B1"}, []string{names[first.ID], names[second.ID]})
		e.svc.ingest(ctx, first)
		e.svc.ingest(ctx, second)

		// One worker from here on: the workspaces take turns until B is done.
		var order []string
		for {
			src, err := e.svc.claim(ctx)
			require.NoError(t, err)
			if src == nil {
				break
			}
			e.svc.ingest(ctx, src)
			got, err := st.Client.KnowledgeSource.Get(ctx, src.ID)
			require.NoError(t, err)
			require.Equal(t, knowledgesource.StatusREADY, got.Status, "error: %v", got.Error)
			order = append(order, names[src.ID])
		}
		require.Equal(t, []string{"A2", "B2", "A3", "B3", "A4", "A5", "A6"}, order)
	})
}
