package graph

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBatcher: concurrent calls share one fetch with all their keys, up to
// maxBatch keys a fetch, and every caller gets its own key's value.
func TestBatcher(t *testing.T) {
	for _, tt := range []struct {
		name        string
		calls       int
		wantFetches int32
	}{
		{"one", 1, 1},
		{"a page", MaxPageSize, 1},
		{"more than a batch", MaxPageSize + 1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := batcher[int]{wait: time.Second} // long enough for every goroutine to start
			var fetches atomic.Int32
			fetch := func(_ context.Context, keys []int) (map[int]int, error) {
				fetches.Add(1)
				out := map[int]int{}
				for _, k := range keys {
					out[k] = k * 10
				}
				return out, nil
			}
			var wg sync.WaitGroup
			for i := range tt.calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := b.get(context.Background(), i, fetch)
					require.NoError(t, err)
					require.Equal(t, i*10, v)
				}()
			}
			wg.Wait()
			require.Equal(t, tt.wantFetches, fetches.Load())
		})
	}
}
