//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/bench/harness"
	"github.com/seachat/seachat/internal/store/storetest"
)

// drainWait bounds how long a test waits for the backlog after a fault.
const drainWait = 150 * time.Second

// After kill -9 and a restart, API.md's "Crash recovery" promises every
// acknowledged event stored as a message within storedWithin and answered
// within answeredWithin: a dead process's claims are taken over as soon as
// its heartbeat is stale, not when a lease runs out.
const (
	storedWithin   = 10 * time.Second
	answeredWithin = 30 * time.Second
)

// TestKillDashNine kills the server with SIGKILL twice while users write,
// restarts it on the same SQLite file, and checks that every event that got
// a 200 is stored and answered exactly once, in order, within API.md's
// times of the last restart.
func TestKillDashNine(t *testing.T) {
	t.Parallel()
	killDashNine(t, newEnv(t, ""))
}

// TestKillDashNinePostgres is TestKillDashNine on PostgreSQL, where the
// restarted process is a new replica: it takes over the killed one's
// claims once that one's heartbeat is stale.
func TestKillDashNinePostgres(t *testing.T) {
	t.Parallel()
	pg, err := harness.CreatePostgresDatabase(context.Background(), storetest.PostgresURL(), "seachat_kill")
	if err != nil {
		if os.Getenv("CI") != "true" && (strings.Contains(err.Error(), "connect") || strings.Contains(err.Error(), "refused")) {
			t.Skipf("skipping: PostgreSQL is unreachable (%v); start it or set TEST_DATABASE_URL", err)
		}
		require.NoError(t, err)
	}
	// Registered before the env's, so it runs after the server stopped.
	t.Cleanup(func() { require.NoError(t, pg.Drop(context.Background())) })
	killDashNine(t, newEnv(t, pg.URL))
}

// TestKillReplica runs two replicas on one PostgreSQL database, sends the
// webhooks to one of them and kills it with SIGKILL while users write; the
// webhooks then go to the other (as a load balancer would), which takes
// over the dead replica's claims once its heartbeat is stale. Every event
// that got a 200 is stored within 10 s of the kill and answered within 30 s,
// exactly once, in order.
func TestKillReplica(t *testing.T) {
	t.Parallel()
	pg, err := harness.CreatePostgresDatabase(context.Background(), storetest.PostgresURL(), "seachat_replica")
	if err != nil {
		if os.Getenv("CI") != "true" && (strings.Contains(err.Error(), "connect") || strings.Contains(err.Error(), "refused")) {
			t.Skipf("skipping: PostgreSQL is unreachable (%v); start it or set TEST_DATABASE_URL", err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() { require.NoError(t, pg.Drop(context.Background())) })
	e := newEnv(t, pg.URL)
	addr, err := harness.FreeAddr()
	require.NoError(t, err)
	replica, err := harness.StartSeaChat(context.Background(), harness.SeaChatConfig{
		Bin: seachatBin, Addr: addr, DatabaseURL: pg.URL, GraphAPIURL: e.fake.URL,
		AdminToken: adminToken, SecretKey: e.secretKey, Log: e.logs,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if !replica.Exited() {
			replica.Stop(15 * time.Second)
		}
	})
	live := e.webhookURL()
	e.setWebhook(strings.Replace(live, e.addr, addr, 1))

	s := e.streamUsers(12, 20*time.Millisecond)
	waitAcked(t, s, 80, 20*time.Second)
	replica.Kill()
	killed := time.Now()
	t.Logf("killed the replica (pid %d) with SIGKILL", replica.PID())
	// Meta keeps delivering to the dead replica until the load balancer
	// notices: switch only once deliveries were refused there.
	require.Eventually(t, func() bool { return s.refusals()[0] > 0 }, 10*time.Second, 5*time.Millisecond,
		"no delivery reached the killed replica")
	e.setWebhook(live)
	waitAcked(t, s, s.ackedCount()+40, 20*time.Second)
	acked := s.halt()
	t.Logf("%d messages acked; refusals by status (0 = connection refused): %v", len(acked), s.refusals())

	stored := e.storedBy(acked, killed.Add(storedWithin))
	t.Logf("every acked message was stored %s after the kill", stored.Sub(killed).Round(10*time.Millisecond))
	if err := e.waitSettled(time.Until(killed.Add(answeredWithin))); err != nil {
		t.Fatalf("not answered within %s of the kill: %v", answeredWithin, err)
	}
	t.Logf("every acked message was answered %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	e.checkExactlyOnce(acked, false)
	require.Equal(t, int64(len(acked)), e.fake.Accepted(), "the fake got a different number of replies than there were acked messages")
}

func killDashNine(t *testing.T, e *env) {
	s := e.streamUsers(12, 20*time.Millisecond)
	var restarted time.Time
	for round := range 2 {
		waitAcked(t, s, 40*(round+1), 20*time.Second)
		e.kill()
		time.Sleep(500 * time.Millisecond) // Meta keeps retrying meanwhile
		before := s.ackedCount()
		time.Sleep(500 * time.Millisecond)
		require.Equal(t, before, s.ackedCount(), "events were acked while the server was dead")
		e.start()
		restarted = time.Now()
	}
	waitAcked(t, s, s.ackedCount()+40, 20*time.Second)
	acked := s.halt()
	require.NotZero(t, s.refusals()[0], "the kills never refused a delivery: the test did not kill anything in flight")
	t.Logf("%d messages acked across two kills; refusals by status (0 = connection refused): %v", len(acked), s.refusals())

	stored := e.storedBy(acked, restarted.Add(storedWithin))
	t.Logf("every acked message was stored %s after the last restart", stored.Sub(restarted).Round(10*time.Millisecond))
	if err := e.waitSettled(time.Until(restarted.Add(answeredWithin))); err != nil {
		t.Fatalf("not answered within %s of the restart: %v", answeredWithin, err)
	}
	t.Logf("every acked message was answered %s after the last restart", time.Since(restarted).Round(10*time.Millisecond))
	e.checkExactlyOnce(acked, false)
	require.Equal(t, int64(len(acked)), e.fake.Accepted(), "the fake got a different number of replies than there were acked messages")
}

// TestGraphAPIOutage makes the Send API fail (HTTP 500, code 2,
// is_transient) for two seconds while users write, which is shorter than
// SeaChat's send retry budget (4 attempts over about 3.5 s): every reply is
// delivered once, in order per user.
func TestGraphAPIOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	s := e.streamUsers(8, 50*time.Millisecond)
	waitReplies(t, e, 10, 20*time.Second)
	e.fake.SetFailing(true)
	time.Sleep(2 * time.Second)
	e.fake.SetFailing(false)
	waitAcked(t, s, s.ackedCount()+30, 20*time.Second)
	acked := s.halt()
	require.NotZero(t, e.fake.Refused(), "the outage refused no send: it was not exercised")
	t.Logf("%d messages acked; the fake refused %d Send API calls during the outage", len(acked), e.fake.Refused())

	e.settled(drainWait)
	e.checkExactlyOnce(acked, false)
}

// TestGraphAPILongOutage makes the Send API fail for 12 seconds, longer
// than SeaChat's in-place send retries (about 3.5 s): the replies that run
// out of them stay PENDING, and the outbox's backoff sends them once Meta
// is back. Every acked message is answered exactly
// once, in order per user, and none is given up.
func TestGraphAPILongOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	s := e.streamUsers(6, 50*time.Millisecond)
	waitReplies(t, e, 6, 20*time.Second)
	e.fake.SetFailing(true)
	time.Sleep(12 * time.Second)
	e.fake.SetFailing(false)
	recovered := e.fake.Accepted()
	waitAcked(t, s, s.ackedCount()+20, 20*time.Second)
	acked := s.halt()
	e.settled(drainWait)
	failed := e.checkExactlyOnce(acked, false)
	require.Greater(t, e.fake.Accepted(), recovered, "nothing was answered after the Graph API recovered")
	require.Empty(t, failed, "replies were given up during a 12 s outage")
	require.NotZero(t, e.fake.Refused(), "the outage refused no send: it was not exercised")
}

// TestDatabaseUnreachable cuts a server off from its PostgreSQL database
// (ALTER DATABASE … ALLOW_CONNECTIONS false, then pg_terminate_backend on
// its connections: the server process and the PostgreSQL cluster stay up,
// so other work on the cluster is not disturbed). While cut off, /readyz
// says 503 and webhooks get 5xx, so Meta retries; after recovery every
// event that got a 200 is stored and answered exactly once, in order.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, err := harness.CreatePostgresDatabase(ctx, storetest.PostgresURL(), "seachat_faults")
	if err != nil {
		if os.Getenv("CI") != "true" && (strings.Contains(err.Error(), "connect") || strings.Contains(err.Error(), "refused")) {
			t.Skipf("skipping: PostgreSQL is unreachable (%v); start it or set TEST_DATABASE_URL", err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		pg.Admin().Exec("ALTER DATABASE " + pg.Name + " ALLOW_CONNECTIONS true")
		require.NoError(t, pg.Drop(context.Background()))
	})
	e := newEnv(t, pg.URL)
	s := e.streamUsers(8, 30*time.Millisecond)
	waitReplies(t, e, 10, 20*time.Second)

	// Cut off.
	_, err = pg.Admin().Exec("ALTER DATABASE " + pg.Name + " ALLOW_CONNECTIONS false")
	require.NoError(t, err)
	// A connection that was being opened as the ALTER ran is not in
	// pg_stat_activity yet: terminate until none is left.
	require.Eventually(t, func() bool {
		var left int
		err := pg.Admin().QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, pg.Name).Scan(&left)
		return err == nil && left == 0
	}, 5*time.Second, 50*time.Millisecond, "connections to the database survived pg_terminate_backend")
	e.db.Close() // its connection was terminated too; reopened below
	e.outage(s, pg.URL, "the database was unreachable", 4*time.Second, func() {
		_, err := pg.Admin().Exec("ALTER DATABASE " + pg.Name + " ALLOW_CONNECTIONS true")
		require.NoError(t, err)
	})
}

// TestPostgresRestart stops the PostgreSQL server itself while events
// stream in, keeps it down for a few seconds, and starts it again: the
// server reconnects by itself, /readyz says 503 while PostgreSQL is down,
// webhooks then get 5xx (so Meta retries), and every event that got a 200
// is stored and answered exactly once, in order. It restarts the machine's
// cluster, which breaks anything else using it, so it runs only where
// SEACHAT_FAULTS_RESTART_POSTGRES=1 (.ci/run sets it), and not in parallel:
// the parallel tests wait until it is done.
func TestPostgresRestart(t *testing.T) {
	if os.Getenv("SEACHAT_FAULTS_RESTART_POSTGRES") != "1" {
		t.Skip("restarts the local PostgreSQL cluster: set SEACHAT_FAULTS_RESTART_POSTGRES=1 to run it (.ci/run does)")
	}
	ctx := context.Background()
	pg, err := harness.CreatePostgresDatabase(ctx, storetest.PostgresURL(), "seachat_restart")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pg.Drop(context.Background())) })
	cluster := func(action string) error {
		versions, err := os.ReadDir("/etc/postgresql")
		if err != nil || len(versions) == 0 {
			return fmt.Errorf("finding the PostgreSQL cluster in /etc/postgresql: %v", err)
		}
		args := []string{"--skip-systemctl-redirect", versions[0].Name(), "main", action}
		if action == "stop" {
			args = append(args, "-m", "fast")
		}
		out, err := exec.Command("pg_ctlcluster", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctlcluster %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	e := newEnv(t, pg.URL)
	s := e.streamUsers(8, 30*time.Millisecond)
	waitReplies(t, e, 10, 20*time.Second)

	require.NoError(t, cluster("stop"))
	stopped := true
	t.Cleanup(func() {
		if stopped {
			require.NoError(t, cluster("start"))
		}
	})
	e.db.Close() // its connection died with the server; reopened below
	e.outage(s, pg.URL, "PostgreSQL was stopped", 3*time.Second, func() {
		require.NoError(t, cluster("start"))
		stopped = false
	})
}

// outage follows a server whose database just went away while s streams
// in: /readyz and webhooks say 503 for length and nothing is acked then
// (but what was in flight); after restore brings the database back at
// databaseURL, the server recovers by itself, and every acked event is
// stored and answered exactly once, in order.
func (e *env) outage(s *stream, databaseURL, what string, length time.Duration, restore func()) {
	t := e.t
	require.Eventually(t, func() bool { return status(e.srv.URL+"/readyz") == http.StatusServiceUnavailable },
		10*time.Second, 100*time.Millisecond, "/readyz did not say 503 when %s", what)
	ackedAtCut := s.ackedAfterInFlight()
	cut := s.refusals()
	time.Sleep(length)
	during := s.refusals()
	require.Greater(t, during[http.StatusServiceUnavailable], cut[http.StatusServiceUnavailable],
		"webhooks were not refused with 503 while %s: %v", what, during)
	require.Equal(t, ackedAtCut, s.ackedCount(), "events were acked while %s", what)
	require.Equal(t, http.StatusServiceUnavailable, status(e.srv.URL+"/readyz"))

	restore()
	require.Eventually(t, func() bool { return status(e.srv.URL+"/readyz") == http.StatusOK },
		30*time.Second, 100*time.Millisecond, "/readyz did not recover after %s", what)
	waitAcked(t, s, s.ackedCount()+30, 30*time.Second)
	acked := s.halt()
	t.Logf("%d messages acked; refusals by status: %v", len(acked), s.refusals())

	var err error
	e.db, err = harness.OpenDB(databaseURL)
	require.NoError(t, err)
	e.settled(drainWait)
	e.checkExactlyOnce(acked, false)
}

func waitAcked(t *testing.T, s *stream, n int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return s.ackedCount() >= n }, timeout, 20*time.Millisecond,
		"fewer than %d messages acked (%d; refusals %v)", n, s.ackedCount(), s.refusals())
}

func waitReplies(t *testing.T, e *env, n int64, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return e.fake.Accepted() >= n }, timeout, 20*time.Millisecond,
		"fewer than %d replies at the fake Graph API", n)
}

func status(url string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
