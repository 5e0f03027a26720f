package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
)

// TestOwnEchoNotBehindItsReply is the crash the fault tests found: a reply
// went out but the process died before recording it, so the user's event
// is refused as "in flight" until the echo of that send settles it. The
// echo must not wait in the same per-user lane behind that event, or
// neither moves until the event fails for good.
func TestOwnEchoNotBehindItsReply(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		var confirmed atomic.Bool
		errInFlight := errors.New("the reply is being sent by another process")
		rec := newRecorder(func(_ context.Context, ev messenger.Event, _ int) error {
			switch {
			case ev.Kind == messenger.KindEcho:
				confirmed.Store(true)
			case ev.MID == "m_waits" && !confirmed.Load():
				return errInFlight
			}
			return nil
		})
		e := newEnv(t, st, rec, inbox.Options{MaxAttempts: 8})
		ownEcho := fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":"U1"},"timestamp":1700000000900,`+
			`"message":{"is_echo":true,"app_id":1517776481860111,"mid":"m_echo","metadata":"seachat:42","text":"hi"}}`, testPage)
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U1", "m_waits", 1700000000000))))
		require.Equal(t, 200, e.postSigned(body(testPage, ownEcho)))
		e.run(e.in)
		for _, ev := range e.waitSettled(e.ch.ID, 2) {
			require.Equal(t, inboxevent.StatusDONE, ev.Status, "event %s: %s", ev.DedupKey, deref(ev.LastError))
		}
		require.Less(t, rec.count("m_waits"), 8)
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
