//go:build faults

// Package faults holds SeaChat's fault tests: the real bin/seachat, as a
// subprocess, is killed with SIGKILL, loses the Graph API and loses its
// database while signed webhook events stream in, and every acknowledged
// event must still be stored and answered exactly once, in order. They are
// slow (each runs for tens of seconds), so they
// carry the build tag "faults" and run with `make test-faults`.
package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/bench/harness"
	"github.com/seachat/seachat/internal/messenger/messengertest"
)

const (
	pageID     = "1895382890692545"
	pageToken  = "EAAGfaultspagetoken"
	adminToken = "sct_faults_admin_token_0123456789"
)

// seachatBin is the binary under test: $SEACHAT_BIN, or built by TestMain.
var seachatBin string

func TestMain(m *testing.M) {
	seachatBin = os.Getenv("SEACHAT_BIN")
	if seachatBin == "" {
		dir, err := os.MkdirTemp("", "seachat-faults-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		seachatBin = filepath.Join(dir, "seachat")
		out, err := exec.Command("go", "build", "-o", seachatBin, "github.com/seachat/seachat/cmd/seachat").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building seachat: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// env is one SeaChat under test: its fake Graph API, its database and the
// process, which can be killed and started again on the same address.
type env struct {
	t           *testing.T
	fake        *harness.FakeGraph
	addr        string
	databaseURL string
	secretKey   string
	srv         *harness.Process
	logs        *lockedLog
	ch          harness.Channel
	db          *harness.DB
	client      *http.Client

	mu      sync.Mutex
	webhook string // set once the channel is connected
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newEnv starts SeaChat on databaseURL ("" for a fresh SQLite file) with a
// connected channel. The fake Graph API posts Meta's message echo for every
// reply it accepts, as Meta does for pages subscribed to message_echoes
// (SeaChat subscribes them): an echo is how SeaChat learns that a send whose
// outcome a crash hid did go out.
func newEnv(t *testing.T, databaseURL string) *env {
	t.Helper()
	if databaseURL == "" {
		databaseURL = "sqlite://" + filepath.Join(t.TempDir(), "seachat.db")
	}
	addr, err := harness.FreeAddr()
	require.NoError(t, err)
	e := &env{t: t, addr: addr, databaseURL: databaseURL, secretKey: randomHex(32), logs: &lockedLog{},
		client: harness.NewHTTPClient(64)}
	e.fake = harness.NewFakeGraph(true, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
	t.Cleanup(e.fake.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.fake.OnReply = func(r harness.Reply) { go e.echo(ctx, r) }
	e.start()
	t.Cleanup(func() {
		if e.srv != nil && !e.srv.Exited() {
			e.srv.Stop(15 * time.Second)
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(e.logs.String(), 6000))
		}
	})
	e.ch, err = harness.SetupChannel(context.Background(), harness.GraphQL{URL: e.srv.URL, Token: adminToken}, pageID, pageToken)
	require.NoError(t, err)
	e.mu.Lock()
	e.webhook = e.ch.WebhookURL
	e.mu.Unlock()
	e.db, err = harness.OpenDB(databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { e.db.Close() })
	return e
}

// start starts bin/seachat on the env's address and database.
func (e *env) start() {
	e.t.Helper()
	srv, err := harness.StartSeaChat(context.Background(), harness.SeaChatConfig{
		Bin: seachatBin, Addr: e.addr, DatabaseURL: e.databaseURL, GraphAPIURL: e.fake.URL,
		AdminToken: adminToken, SecretKey: e.secretKey, Log: e.logs,
	})
	require.NoError(e.t, err)
	e.srv = srv
}

// webhookURL is where Meta posts the page's webhooks now.
func (e *env) webhookURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.webhook
}

// setWebhook points Meta's webhooks (the users' messages and the echoes) at
// url, as a load balancer in front of several replicas would.
func (e *env) setWebhook(url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.webhook = url
}

// kill ends the server with SIGKILL.
func (e *env) kill() {
	e.t.Helper()
	e.srv.Kill()
	e.t.Logf("killed seachat (pid %d) with SIGKILL", e.srv.PID())
}

// echo posts Meta's message_echoes event for a reply until it is acked.
func (e *env) echo(ctx context.Context, r harness.Reply) {
	body := harness.EchoEvent(pageID, r.PSID, r.MID, r.Metadata, r.Text, time.Now())
	for ctx.Err() == nil {
		e.mu.Lock()
		url := e.webhook
		e.mu.Unlock()
		if code, err := harness.PostSigned(ctx, e.client, url, body); err == nil && code == http.StatusOK {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stream is a set of simulated Messenger users writing to the page. Each
// user sends numbered messages one after another; a message that is not
// acked with 200 is delivered again, as Meta does, until it is.
type stream struct {
	e       *env
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   []string       // mids that got a 200
	refused map[int]int    // non-200 statuses seen (0: transport error)
	last    map[string]int // per user, the messages sent so far
}

// streamUsers starts users senders, each waiting pause between messages.
func (e *env) streamUsers(users int, pause time.Duration) *stream {
	s := &stream{e: e, stop: make(chan struct{}), refused: map[int]int{}, last: map[string]int{}}
	for u := range users {
		psid := fmt.Sprintf("%d", 7100000000000000+u)
		s.wg.Go(func() { s.user(psid, pause) })
	}
	return s
}

func (s *stream) user(psid string, pause time.Duration) {
	ctx := context.Background()
	for k := 0; ; k++ {
		select {
		case <-s.stop:
			return
		default:
		}
		mid := fmt.Sprintf("m_%s_%04d", psid, k)
		body := harness.TextEvent(pageID, psid, mid, harness.Question, time.Now())
		for {
			code, err := harness.PostSigned(ctx, s.e.client, s.e.webhookURL(), body)
			if err == nil && code == http.StatusOK {
				break
			}
			s.mu.Lock()
			s.refused[code]++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return // never acked: Meta would go on retrying, we stop here
			case <-time.After(100 * time.Millisecond):
			}
		}
		s.mu.Lock()
		s.acked = append(s.acked, mid)
		s.last[psid] = k + 1
		s.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-time.After(pause):
		}
	}
}

// halt stops the users and returns the acked mids.
func (s *stream) halt() []string {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}

// refusals returns the non-200 answers seen so far, by status.
func (s *stream) refusals() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.refused {
		out[k] = v
	}
	return out
}

// ackedAfterInFlight waits out the requests in flight when the database
// went away (a commit that was under way may still be acked) and returns
// how many messages were acked by then: no later one can be, until the
// database is back.
func (s *stream) ackedAfterInFlight() int {
	time.Sleep(time.Second)
	return s.ackedCount()
}

// ackedCount is how many messages were acked so far.
func (s *stream) ackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// settled waits until nothing is left to do: no inbox event and no reply
// is PENDING.
func (e *env) settled(timeout time.Duration) {
	e.t.Helper()
	if err := e.waitSettled(timeout); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitSettled(timeout time.Duration) error {
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		events, err1 := e.db.PendingEvents(ctx)
		replies, err2 := e.db.Count(ctx, `SELECT count(*) FROM messages WHERE delivery_status = 'PENDING'`)
		if err1 == nil && err2 == nil && events == 0 && replies == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %s: %d inbox events and %d replies still PENDING (errors %v, %v)",
				timeout, events, replies, err1, err2)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// storedBy waits until every acked mid is stored as an inbound message, at
// the latest by deadline, and returns when they were.
func (e *env) storedBy(acked []string, deadline time.Time) time.Time {
	e.t.Helper()
	ctx := context.Background()
	for {
		inbound, err := e.db.Strings(ctx, `SELECT mid FROM messages WHERE direction = 'INBOUND'`)
		if err == nil {
			have := map[string]bool{}
			for _, m := range inbound {
				have[m] = true
			}
			var missing []string
			for _, m := range acked {
				if !have[m] {
					missing = append(missing, m)
				}
			}
			if len(missing) == 0 {
				return time.Now()
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("%d acked messages were not stored in time, e.g. %v", len(missing), missing[:min(5, len(missing))])
			}
		} else if time.Now().After(deadline) {
			e.t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answer is one reply as the fake Graph API received it, traced back to
// the inbound message it answers.
type answer struct {
	reply   harness.Reply
	inbound string // the mid of the message it answers
	status  string // the reply message's delivery status now
}

// checkExactlyOnce checks the fault tests' promise: every acked mid is
// stored as an inbound message; every stored inbound message has exactly
// one reply message; the fake received each SENT reply exactly once, and
// each user's replies in the order of their messages. FAILED replies (the
// Graph API gave up) are allowed only when allowFailed, and are returned.
func (e *env) checkExactlyOnce(acked []string, allowFailed bool) (failed []string) {
	t := e.t
	t.Helper()
	ctx := context.Background()

	inbound, err := e.db.Strings(ctx, `SELECT mid FROM messages WHERE direction = 'INBOUND'`)
	require.NoError(t, err)
	stored := map[string]bool{}
	for _, m := range inbound {
		require.False(t, stored[m], "inbound message %s stored twice", m)
		stored[m] = true
	}
	for _, m := range acked {
		require.True(t, stored[m], "acked message %s was not stored", m)
	}

	// Reply messages in the database: outbound id → inbound mid, status.
	rows, err := e.db.QueryContext(ctx, `SELECT o.id, i.mid, o.delivery_status, coalesce(o.error, '')
		FROM messages o JOIN messages i ON o.in_reply_to_id = i.id WHERE o.direction = 'OUTBOUND'`)
	require.NoError(t, err)
	type out struct{ inbound, status, err string }
	outs := map[string]out{}
	replied := map[string]int{}
	for rows.Next() {
		var id int
		var o out
		require.NoError(t, rows.Scan(&id, &o.inbound, &o.status, &o.err))
		outs["seachat:"+strconv.Itoa(id)] = o
		replied[o.inbound]++
	}
	require.NoError(t, rows.Err())
	rows.Close()
	for m := range stored {
		require.Equal(t, 1, replied[m], "inbound %s has %d reply messages, want exactly 1", m, replied[m])
	}

	// What the fake received.
	seen := map[string]int{}
	perUser := map[string][]string{}
	for _, r := range e.fake.Replies() {
		o, ok := outs[r.Metadata]
		require.True(t, ok, "the fake received a reply that is not in the database: %+v", r)
		seen[r.Metadata]++
		require.Equal(t, 1, seen[r.Metadata], "reply %s (to %s) was sent %d times", r.Metadata, o.inbound, seen[r.Metadata])
		perUser[r.PSID] = append(perUser[r.PSID], o.inbound)
	}
	for md, o := range outs {
		switch o.status {
		case "SENT":
			require.Equal(t, 1, seen[md], "reply %s to %s is SENT but the fake got it %d times", md, o.inbound, seen[md])
		case "FAILED":
			require.True(t, allowFailed, "reply %s to %s FAILED: %s", md, o.inbound, o.err)
			require.Zero(t, seen[md], "reply %s is FAILED but was delivered", md)
			require.NotEmpty(t, o.err, "a FAILED reply must say why")
			failed = append(failed, o.inbound)
		default:
			t.Fatalf("reply %s to %s is still %s", md, o.inbound, o.status)
		}
	}
	for psid, mids := range perUser {
		require.True(t, sort.StringsAreSorted(mids), "user %s got replies out of order: %v", psid, mids)
	}
	e.checkNoSecrets()
	return failed
}

// checkNoSecrets scans everything the server printed, across its restarts,
// for the credentials it was given.
func (e *env) checkNoSecrets() {
	e.t.Helper()
	logs := e.logs.String()
	require.Contains(e.t, logs, `"msg":"http request"`, "the server's logs were not captured")
	for what, s := range map[string]string{"page token": pageToken, "app secret": harness.AppSecret,
		"admin token": adminToken, "secret key": e.secretKey} {
		require.NotContains(e.t, logs, s, "the %s appears in the server's logs", what)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
