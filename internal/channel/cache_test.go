package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestCache shows what reusing channels read in the last two seconds costs:
// nothing for changes made through the same Service, and at most that long
// for changes made by another replica.
func TestCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		ch := e.connected(harbor)
		other := e.newService() // another replica
		_, err := e.svc.ByWebhookKey(ctx, ch.WebhookKey)
		require.NoError(t, err)
		_, err = other.ByWebhookKey(ctx, ch.WebhookKey)
		require.NoError(t, err)
		got, err := other.Get(ctx, ch.ID)
		require.NoError(t, err)
		got.Status = "REMOVED" // a caller's copy: the cache keeps its own
		_, err = other.Send(ctx, ch.ID, messenger.SendRequest{PSID: "1", Text: "cached, still connected"})
		require.NoError(t, err)

		_, err = e.svc.Remove(e.ownerA, ch.ID)
		require.NoError(t, err)
		// The replica that removed it knows at once.
		_, err = e.svc.ByWebhookKey(ctx, ch.WebhookKey)
		requireKind(t, err, apperr.NotFound)
		_, err = e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: "1", Text: "Hi"})
		requireKind(t, err, apperr.Conflict)
		// The other within the cache's lifetime.
		start := time.Now()
		require.Eventually(t, func() bool {
			_, err := other.ByWebhookKey(ctx, ch.WebhookKey)
			return apperr.KindOf(err) == apperr.NotFound
		}, 5*time.Second, 20*time.Millisecond)
		require.Less(t, time.Since(start), 3*time.Second)
		_, err = other.Send(ctx, ch.ID, messenger.SendRequest{PSID: "1", Text: "Hi"})
		requireKind(t, err, apperr.Conflict)
	})
}
