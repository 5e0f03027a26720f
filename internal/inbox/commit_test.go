package inbox_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/store"
)

// lockInbox holds the write lock that storing webhook events needs, the
// way a long transaction of another process would, until release.
func lockInbox(t *testing.T, st *store.Store) (release func()) {
	t.Helper()
	tx, err := st.DB.BeginTx(context.Background(), nil) // SQLite: BEGIN IMMEDIATE
	require.NoError(t, err)
	if st.Dialect == dialect.Postgres {
		_, err = tx.Exec("LOCK TABLE inbox_events IN EXCLUSIVE MODE")
		require.NoError(t, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { require.NoError(t, tx.Rollback()) }) }
	t.Cleanup(release)
	return release
}

// postMany posts one event each for n senders at once and returns the
// status codes.
func (e *env) postMany(prefix string, n int) []int {
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			psid := fmt.Sprintf("%s%d", prefix, i)
			codes[i] = e.postSigned(body(testPage, textEvent(testPage, psid, "m_"+psid, 1700000000000)))
		})
	}
	wg.Wait()
	return codes
}

// TestGroupCommit shows that webhook requests arriving while a commit is
// under way are stored together, in one transaction, and each still gets
// its 200 only once its events are committed.
func TestGroupCommit(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		release := lockInbox(t, st)

		first := make(chan int, 1)
		go func() { first <- e.postSigned(body(testPage, textEvent(testPage, "LEAD", "m_lead", 1700000000000))) }()
		time.Sleep(200 * time.Millisecond) // the first request is now waiting for the lock
		var queued []int
		done := make(chan struct{})
		go func() {
			queued = e.postMany("Q", 20)
			close(done)
		}()
		time.Sleep(300 * time.Millisecond) // and the others queue behind it
		select {
		case <-first:
			t.Fatal("a request was acknowledged before its events could be committed")
		case <-done:
			t.Fatal("queued requests were acknowledged before their events could be committed")
		default:
		}
		release()

		require.Equal(t, http.StatusOK, <-first)
		<-done
		for i, code := range queued {
			require.Equal(t, http.StatusOK, code, "request %d", i)
		}
		rows := e.events(e.ch.ID)
		require.Len(t, rows, 21)
		commits := map[time.Time]int{}
		for _, r := range rows {
			commits[r.ReceivedAt.UTC()]++
		}
		// The first request's own commit, then one for the 20 that queued
		// (a third if the machine was too slow to queue them all in time);
		// without group commit, 21.
		require.LessOrEqual(t, len(commits), 3, "events by commit time: %v", commits)
	})
}

// TestGroupCommitDeadline shows that requests queued behind a commit that
// cannot finish give up at their own deadline with 503 (Meta retries), and
// that the queue works again once the database does.
func TestGroupCommitDeadline(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{StoreTimeout: 300 * time.Millisecond})
		release := lockInbox(t, st)

		start := time.Now()
		codes := e.postMany("D", 8)
		elapsed := time.Since(start)
		for i, code := range codes {
			require.Equal(t, http.StatusServiceUnavailable, code, "request %d", i)
		}
		require.Less(t, elapsed, 3*time.Second, "requests waited far past their 300 ms deadline")
		release()

		for i, code := range e.postMany("A", 8) {
			require.Equal(t, http.StatusOK, code, "request %d after recovery", i)
		}
		require.Len(t, e.events(e.ch.ID), 8)
	})
}
