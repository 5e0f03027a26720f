package inbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/store"
)

// TestFutureDatedEvent: a signed event dated years ahead is queued and
// handed to the Processor with the time it was received, so it cannot pin
// its conversation to the top of the list nor stretch its retries until that
// date. An event dated in the past keeps Meta's timestamp.
func TestFutureDatedEvent(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{})
		const past = int64(1700000000000)
		future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

		before := time.Now().Add(-time.Millisecond)
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_future", future.UnixMilli()),
			textEvent(testPage, "U2", "m_past", past))))
		after := time.Now().Add(time.Millisecond)
		e.run(e.in)
		rows := e.waitSettled(e.ch.ID, 2)

		got := map[string]time.Time{}
		for _, c := range rec.snapshot() {
			got[c.dedupKey] = c.timestamp
		}
		require.True(t, got["m_past"].Equal(time.UnixMilli(past)), "a past timestamp is kept: %s", got["m_past"])
		f := got["m_future"]
		require.True(t, f.After(before) && f.Before(after), "handed on with %s, want the receive time", f)
		for _, r := range rows {
			require.NotNil(t, r.EventTime)
			require.True(t, r.EventTime.Before(after), "event %s queued at %s", r.DedupKey, r.EventTime)
		}
	})
}
