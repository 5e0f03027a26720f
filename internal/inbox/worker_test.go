package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/heartbeat"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestRestart stops Run with events in flight and others never claimed,
// then starts a new inbox on the same database, as after a deploy or crash:
// the new one finishes them all.
func TestRestart(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		started := make(chan string, 10)
		blocking := newRecorder(func(ctx context.Context, ev messenger.Event, _ int) error {
			started <- ev.MID
			<-ctx.Done() // a Processor stuck until shutdown gives up on it
			return ctx.Err()
		})
		e := newEnv(t, st, blocking, inbox.Options{Workers: 2, DrainTimeout: 50 * time.Millisecond})
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_1", 1700000000000),
			textEvent(testPage, "U2", "m_2", 1700000000000))))

		stop := e.run(e.in)
		<-started
		<-started
		err := stop()
		require.Error(t, err, "Run reports the interrupted drain")
		for _, r := range e.events(e.ch.ID) {
			require.Equal(t, inboxevent.StatusPENDING, r.Status)
			require.Equal(t, 0, r.Attempts, "an interrupted attempt is not counted")
		}

		// Stored while no worker runs.
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_3", 1700000000001),
			textEvent(testPage, "U3", "m_4", 1700000000000))))

		rec := newRecorder(nil)
		next := inbox.New(st, e.channels, rec, testOptions(inbox.Options{}))
		e.run(next)
		rows := e.waitSettled(e.ch.ID, 4)
		for _, r := range rows {
			require.Equal(t, inboxevent.StatusDONE, r.Status, r.DedupKey)
			require.NotNil(t, r.ProcessedAt)
			require.Equal(t, 1, rec.count(r.DedupKey))
		}
	})
}

// TestDrain checks that Run, once its context is done, lets the event in
// flight finish before it returns.
func TestDrain(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		started := make(chan struct{}, 1)
		rec := newRecorder(func(ctx context.Context, _ messenger.Event, _ int) error {
			started <- struct{}{}
			select {
			case <-time.After(200 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		e := newEnv(t, st, rec, inbox.Options{DrainTimeout: 10 * time.Second})
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U1", "m_slow", 1700000000000))))
		stop := e.run(e.in)
		<-started
		require.NoError(t, stop())
		rows := e.events(e.ch.ID)
		require.Len(t, rows, 1)
		require.Equal(t, inboxevent.StatusDONE, rows[0].Status)
	})
}

// TestCrashedLease leaves an event leased by a "replica" that died: it is
// taken again once the lease has run out, and not before.
func TestCrashedLease(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		clock := newFakeClock()
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{Now: clock.Now, Lease: time.Minute})
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_leased", 1700000000000),
			textEvent(testPage, "U1", "m_after", 1700000000001))))
		ctx := auth.SystemContext(context.Background())
		n, err := st.Client.InboxEvent.Update().Where(inboxevent.DedupKey("m_leased")).
			SetAttempts(1).SetAvailableAt(clock.Now().Add(time.Minute)).Save(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		e.run(e.in)
		time.Sleep(150 * time.Millisecond)
		require.Empty(t, rec.snapshot(), "a leased event, and the user's later ones, wait for the lease")

		clock.Advance(61 * time.Second)
		rows := e.waitSettled(e.ch.ID, 2)
		require.Equal(t, 2, rows[0].Attempts)
		calls := rec.snapshot()
		require.Len(t, calls, 2)
		require.Equal(t, "m_leased", calls[0].dedupKey)
		require.Equal(t, "m_after", calls[1].dedupKey)
	})
}

// TestDeadProcessClaim: an event claimed by a live process waits for it
// (and so do its user's later events), however old its lease; one claimed by
// a process whose heartbeat is stale is taken over at once, long before its
// lease runs out.
func TestDeadProcessClaim(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		clock := newFakeClock()
		ctx := auth.SystemContext(context.Background())
		hb := heartbeat.Options{Now: clock.Now}
		self, err := heartbeat.Start(ctx, st.Client, hb)
		require.NoError(t, err)
		other, err := heartbeat.Start(ctx, st.Client, hb)
		require.NoError(t, err)
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{Now: clock.Now, Lease: time.Hour, Process: self})
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_claimed", 1700000000000),
			textEvent(testPage, "U1", "m_after", 1700000000001))))
		n, err := st.Client.InboxEvent.Update().Where(inboxevent.DedupKey("m_claimed")).
			SetAttempts(1).SetAvailableAt(clock.Now().Add(time.Hour)).SetClaimedBy(other.ID()).Save(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		e.run(e.in)
		time.Sleep(150 * time.Millisecond)
		require.Empty(t, rec.snapshot(), "a live process's claim holds, and the user's later events wait")

		// The other process stops beating (it was killed); this one's
		// heartbeat is current.
		clock.Advance(heartbeat.DefaultStale + time.Second)
		require.NoError(t, st.Client.Process.UpdateOneID(self.ID()).SetLastSeen(clock.Now()).Exec(ctx))
		rows := e.waitSettled(e.ch.ID, 2)
		for _, r := range rows {
			require.Equal(t, inboxevent.StatusDONE, r.Status, r.DedupKey)
			require.Nil(t, r.ClaimedBy, r.DedupKey)
		}
		calls := rec.snapshot()
		require.Len(t, calls, 2)
		require.Equal(t, "m_claimed", calls[0].dedupKey)
		require.Equal(t, "m_after", calls[1].dedupKey)
	})
}

func TestRetry(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		ctx := auth.SystemContext(context.Background())
		t.Run("fails twice then succeeds", func(t *testing.T) {
			rec := newRecorder(func(_ context.Context, _ messenger.Event, attempt int) error {
				if attempt <= 2 {
					return fmt.Errorf("send failed (attempt %d)", attempt)
				}
				return nil
			})
			e := newEnv(t, st, rec, inbox.Options{BaseBackoff: 40 * time.Millisecond, MaxBackoff: time.Second})
			require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U1", "m_flaky", 1700000000000))))
			e.run(e.in)
			rows := e.waitSettled(e.ch.ID, 1)
			require.Equal(t, inboxevent.StatusDONE, rows[0].Status)
			require.Equal(t, 3, rows[0].Attempts)
			require.Nil(t, rows[0].LastError, "success clears the error")
			calls := rec.snapshot()
			require.Len(t, calls, 3)
			// Equal jitter: at least half the nominal delay (40 ms, then 80 ms).
			require.GreaterOrEqual(t, calls[1].at.Sub(calls[0].at), 20*time.Millisecond)
			require.GreaterOrEqual(t, calls[2].at.Sub(calls[1].at), 40*time.Millisecond)
			require.Eventually(t, func() bool { return testutil.ToFloat64(e.metrics.Retried) == 2.0 }, 5*time.Second, 5*time.Millisecond, "%s", "e.metrics.Retried")
			require.Eventually(t, func() bool { return testutil.ToFloat64(e.metrics.Processed) == 1.0 }, 5*time.Second, 5*time.Millisecond, "%s", "e.metrics.Processed")
		})

		t.Run("gives up after max attempts", func(t *testing.T) {
			rec := newRecorder(func(context.Context, messenger.Event, int) error {
				return errors.New(`Post "https://graph.facebook.com/v25.0/me/messages?access_token=EAABsbCS1iHgBAKZCZB0abcdefghijkl": connection refused`)
			})
			e := newEnv(t, st, rec, inbox.Options{MaxAttempts: 3})
			require.Equal(t, 200, e.postSigned(body(testPage,
				textEvent(testPage, "U2", "m_doomed", 1700000000000),
				textEvent(testPage, "U2", "m_next", 1700000000001))))
			e.run(e.in)
			rows := e.waitSettled(e.ch.ID, 2)
			byKey := map[string]int{}
			for i, r := range rows {
				byKey[r.DedupKey] = i
			}
			doomed := rows[byKey["m_doomed"]]
			require.Equal(t, inboxevent.StatusFAILED, doomed.Status)
			require.Equal(t, 3, doomed.Attempts)
			require.NotNil(t, doomed.ProcessedAt)
			require.NotNil(t, doomed.LastError)
			require.Contains(t, *doomed.LastError, "connection refused")
			require.NotContains(t, *doomed.LastError, "EAAB", "secrets never reach last_error")
			require.Equal(t, 3, rec.count("m_doomed"))
			// A failed event stops blocking its user.
			require.Equal(t, inboxevent.StatusFAILED, rows[byKey["m_next"]].Status)
			calls := rec.snapshot()
			require.Equal(t, "m_next", calls[3].dedupKey, "the next event waits for the failing one")
			require.Eventually(t, func() bool { return testutil.ToFloat64(e.metrics.Failed) == 2.0 }, 5*time.Second, 5*time.Millisecond, "%s", "e.metrics.Failed")
			require.Eventually(t, func() bool { return testutil.ToFloat64(e.metrics.Retried) == 4.0 }, 5*time.Second, 5*time.Millisecond, "%s", "e.metrics.Retried")
		})

		t.Run("panic is an error", func(t *testing.T) {
			rec := newRecorder(func(_ context.Context, _ messenger.Event, attempt int) error {
				if attempt == 1 {
					panic("boom")
				}
				return nil
			})
			e := newEnv(t, st, rec, inbox.Options{})
			require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U3", "m_panic", 1700000000000))))
			e.run(e.in)
			rows := e.waitSettled(e.ch.ID, 1)
			require.Equal(t, inboxevent.StatusDONE, rows[0].Status)
			require.Equal(t, 2, rows[0].Attempts)
		})

		t.Run("backoff follows the clock", func(t *testing.T) {
			clock := newFakeClock()
			rec := newRecorder(func(_ context.Context, _ messenger.Event, attempt int) error {
				if attempt == 1 {
					return errors.New("temporary")
				}
				return nil
			})
			e := newEnv(t, st, rec, inbox.Options{Now: clock.Now, BaseBackoff: time.Minute, MaxBackoff: time.Hour})
			require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U4", "m_later", 1700000000000))))
			e.run(e.in)
			require.Eventually(t, func() bool { return rec.count("m_later") == 1 }, 10*time.Second, 5*time.Millisecond)
			require.Eventually(t, func() bool {
				r := e.events(e.ch.ID)[0]
				return r.LastError != nil
			}, 10*time.Second, 5*time.Millisecond)
			row := e.events(e.ch.ID)[0]
			wait := row.AvailableAt.Sub(clock.Now())
			require.GreaterOrEqual(t, wait, 30*time.Second)
			require.LessOrEqual(t, wait, time.Minute)
			time.Sleep(100 * time.Millisecond)
			require.Equal(t, 1, rec.count("m_later"), "no retry before the backoff is over")
			clock.Advance(time.Minute)
			rows := e.waitSettled(e.ch.ID, 1)
			require.Equal(t, inboxevent.StatusDONE, rows[0].Status)
			require.Equal(t, 2, rec.count("m_later"))
		})

		t.Run("channel gone", func(t *testing.T) {
			rec := newRecorder(nil)
			e := newEnv(t, st, rec, inbox.Options{})
			require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U5", "m_orphan", 1700000000000))))
			st.Client.MessengerChannel.DeleteOneID(e.ch.ID).ExecX(ctx)
			e.run(e.in)
			rows := e.waitSettled(e.ch.ID, 1)
			require.Equal(t, inboxevent.StatusFAILED, rows[0].Status)
			require.Equal(t, 1, rows[0].Attempts, "no retry can help")
			require.Empty(t, rec.snapshot())
		})
	})
}

// userEvents builds n events for each of users, with timestamps shuffled
// across bodies of a few events each.
func userEvents(users []string, n int, base int64) (bodies [][]byte, total int) {
	var all []string
	for _, u := range users {
		for i := range n {
			all = append(all, textEvent(testPage, u, fmt.Sprintf("m_%s_%03d", u, i), base+int64(i)*1000))
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for len(all) > 0 {
		k := min(len(all), 1+rand.IntN(5))
		bodies = append(bodies, body(testPage, all[:k]...))
		all = all[k:]
	}
	return bodies, len(users) * n
}

// checkOrder asserts that every user's events were processed once each,
// in timestamp order, and never two at a time.
func checkOrder(t *testing.T, rec *recorder, total int) {
	t.Helper()
	require.Empty(t, rec.overlapping(), "two events of one user were processed at once")
	calls := rec.snapshot()
	require.Len(t, calls, total)
	seen := map[string]bool{}
	last := map[string]time.Time{}
	for _, c := range calls {
		require.False(t, seen[c.dedupKey], "processed twice: %s", c.dedupKey)
		seen[c.dedupKey] = true
		require.True(t, c.timestamp.After(last[c.psid]), "user %s: %s processed out of order", c.psid, c.dedupKey)
		last[c.psid] = c.timestamp
	}
}

func sleepy(context.Context, messenger.Event, int) error {
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	return nil
}

func TestPerUserOrder(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		rec := newRecorder(sleepy)
		e := newEnv(t, st, rec, inbox.Options{Workers: 4})
		users := []string{"A", "B", "C", "D", "E", "F"}
		// Stored before any worker runs, out of order: the order comes from
		// the events' timestamps.
		bodies, total := userEvents(users, 12, 1700000000000)
		for _, b := range bodies {
			require.Equal(t, 200, e.postSigned(b))
		}
		e.run(e.in)
		// More while the workers run, each user's later than the first wave.
		for _, u := range users {
			for i := range 4 {
				b := body(testPage, textEvent(testPage, u, fmt.Sprintf("m_%s_late_%d", u, i), 1800000000000+int64(i)))
				require.Equal(t, 200, e.postSigned(b))
			}
		}
		total += len(users) * 4
		e.waitSettled(e.ch.ID, total)
		checkOrder(t, rec, total)
	})
}

// TestReplicas runs two inboxes, each with its own connection pool, on one
// PostgreSQL database, as two seachat processes behind a load balancer:
// webhooks land on either, and each event is processed exactly once, in
// order per user.
func TestReplicas(t *testing.T) {
	u := storetest.URL(t, "postgres")
	open := func() *store.Store {
		openMu.Lock()
		defer openMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := store.Open(ctx, u)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	st1, st2 := open(), open()
	rec := newRecorder(sleepy)
	e := newEnv(t, st1, rec, inbox.Options{Workers: 4})
	replica2 := inbox.New(st2, &testChannels{client: st2.Client, secret: []byte(testSecret)}, rec,
		testOptions(inbox.Options{Workers: 4, Metrics: inbox.NewMetrics(prometheus.NewRegistry())}))
	srv2 := serve(t, replica2)
	post := func(srv *httptest.Server, b []byte) {
		code, msg := e.post(srv, e.ch.WebhookKey, b, http.Header{"X-Hub-Signature-256": {sign(b, testSecret)}})
		if code != 200 {
			t.Errorf("POST: %d %s", code, msg)
		}
	}

	users := make([]string, 20)
	for i := range users {
		users[i] = fmt.Sprintf("U%02d", i)
	}
	// A backlog, posted concurrently to both replicas, a third of it
	// redelivered to the other one.
	bodies, total := userEvents(users, 10, 1700000000000)
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			srv, other := e.srv, srv2
			if i%2 == 1 {
				srv, other = srv2, e.srv
			}
			post(srv, b)
			if i%3 == 0 {
				post(other, b)
			}
		})
	}
	wg.Wait()

	e.run(e.in)
	e.run(replica2)
	// More while both run: each user writes one message after another
	// (so they arrive in order), and the load balancer alternates.
	for _, u := range users {
		wg.Go(func() {
			for i := range 5 {
				srv := e.srv
				if i%2 == 1 {
					srv = srv2
				}
				post(srv, body(testPage, textEvent(testPage, u, fmt.Sprintf("m_%s_live_%d", u, i), 1800000000000+int64(i))))
			}
		})
	}
	wg.Wait()
	total += len(users) * 5

	rows := e.waitSettled(e.ch.ID, total)
	for _, r := range rows {
		require.Equal(t, inboxevent.StatusDONE, r.Status)
		require.Equal(t, 1, r.Attempts)
	}
	checkOrder(t, rec, total)
}

// TestLateOlderEventWaits stores an older event after a newer one of the
// same user is already in flight: the older one waits until the newer one
// is done, instead of running beside it.
func TestLateOlderEventWaits(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		release := make(chan struct{})
		started := make(chan string, 4)
		rec := newRecorder(func(_ context.Context, ev messenger.Event, _ int) error {
			started <- ev.MID
			if ev.MID == "m_new" {
				<-release
			}
			return nil
		})
		e := newEnv(t, st, rec, inbox.Options{Workers: 4})
		e.run(e.in)
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U1", "m_new", 1700000005000))))
		require.Equal(t, "m_new", <-started)
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U1", "m_old", 1700000001000))))
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U2", "m_other_user", 1700000001000))))
		require.Equal(t, "m_other_user", <-started, "other users go on")
		select {
		case mid := <-started:
			t.Fatalf("%s started while the user's other event was in flight", mid)
		case <-time.After(150 * time.Millisecond):
		}
		close(release)
		require.Equal(t, "m_old", <-started)
		e.waitSettled(e.ch.ID, 3)
		require.Empty(t, rec.overlapping())
	})
}

func TestQueueDepth(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{})
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_d1", 1700000000000), textEvent(testPage, "U2", "m_d2", 1700000000000))))
		n, err := e.in.Depth(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, n)
		age, err := e.in.OldestPending(context.Background())
		require.NoError(t, err)
		require.Greater(t, age, time.Duration(0))
		require.Less(t, age, time.Minute)
		e.run(e.in)
		e.waitSettled(e.ch.ID, 2)
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(e.metrics.QueueDepth) == 0 && testutil.ToFloat64(e.metrics.OldestPendingSeconds) == 0
		}, 5*time.Second, 10*time.Millisecond)
		age, err = e.in.OldestPending(context.Background())
		require.NoError(t, err)
		require.Zero(t, age)
	})
}

func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	inbox.NewMetrics(reg)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	for _, n := range names {
		require.True(t, strings.HasPrefix(n, "seachat_inbox_"), n)
	}
	require.Contains(t, names, "seachat_inbox_events_stored_total")
	require.Contains(t, names, "seachat_inbox_queue_depth")
	require.Contains(t, names, "seachat_inbox_oldest_pending_seconds")
}

// TestPurge: settled events are deleted after their retention, FAILED ones
// later than DONE ones; pending events never are.
func TestPurge(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := newFakeClock()
		rec := newRecorder(func(_ context.Context, ev messenger.Event, _ int) error {
			if ev.MID == "m_bad" {
				return errors.New("cannot be answered")
			}
			return nil
		})
		e := newEnv(t, st, rec, inbox.Options{Now: clock.Now, MaxAttempts: 1})
		require.Equal(t, 200, e.postSigned(body(testPage,
			textEvent(testPage, "U1", "m_ok", 1700000000000),
			textEvent(testPage, "U2", "m_bad", 1700000000000))))
		stop := e.run(e.in)
		e.waitSettled(e.ch.ID, 2)
		require.NoError(t, stop())
		require.Equal(t, 200, e.postSigned(body(testPage, textEvent(testPage, "U3", "m_waiting", 1700000000000))))

		statuses := func() map[string]inboxevent.Status {
			out := map[string]inboxevent.Status{}
			for _, r := range e.events(e.ch.ID) {
				out[r.DedupKey] = r.Status
			}
			return out
		}
		n, err := e.in.Purge(ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		clock.Advance(8 * 24 * time.Hour)
		n, err = e.in.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, map[string]inboxevent.Status{"m_bad": inboxevent.StatusFAILED, "m_waiting": inboxevent.StatusPENDING}, statuses())

		clock.Advance(30 * 24 * time.Hour)
		n, err = e.in.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, map[string]inboxevent.Status{"m_waiting": inboxevent.StatusPENDING}, statuses())
	})
}
