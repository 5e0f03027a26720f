package inbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

const testSecret = "test-app-secret"

// openMu serializes opening stores: ent's migration setup writes to the
// package-level table definitions of ent/migrate, so two stores migrating at
// once in one process race (seen under -race with storetest.Run).
var openMu sync.Mutex

// runStores is storetest.Run, except that the stores are opened one at a
// time: f runs once per dialect, as parallel subtests, each with a fresh
// database.
func runStores(t *testing.T, f func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, openStore(t, d))
		})
	}
}

// openStore is storetest.Open under openMu.
func openStore(t *testing.T, dialect string) *store.Store {
	t.Helper()
	openMu.Lock()
	defer openMu.Unlock() // also when Open skips or fails the test
	return storetest.Open(t, dialect)
}

// testChannels is the channel service as the inbox sees it, backed by real
// rows: a channel is live unless REMOVED, and connected when CONNECTED.
type testChannels struct {
	client  *ent.Client
	secret  []byte
	secrets map[int][]byte // channels connected with another app
	refused atomic.Int64   // RefusedSignature calls
}

func (c *testChannels) RefusedSignature(context.Context, *ent.MessengerChannel) { c.refused.Add(1) }

func (c *testChannels) ByWebhookKey(ctx context.Context, key string) (*ent.MessengerChannel, error) {
	ch, err := c.client.MessengerChannel.Query().
		Where(messengerchannel.WebhookKey(key), messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED)).
		Only(auth.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.NotFound, "no channel has this webhook key")
	}
	return ch, err
}

func (c *testChannels) ByPageID(ctx context.Context, pageID string) (*ent.MessengerChannel, error) {
	ch, err := c.client.MessengerChannel.Query().
		Where(messengerchannel.PageID(pageID), messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED)).
		Only(auth.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.NotFound, "no channel of page %s", pageID)
	}
	return ch, err
}

func (c *testChannels) Get(ctx context.Context, id int) (*ent.MessengerChannel, error) {
	ch, err := c.client.MessengerChannel.Get(auth.SystemContext(ctx), id)
	if ent.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.NotFound, "no channel %d", id)
	}
	return ch, err
}

func (c *testChannels) Verify(ctx context.Context, key string, q url.Values) (string, error) {
	ch, err := c.ByWebhookKey(ctx, key)
	if err != nil {
		return "", err
	}
	challenge, ok := messenger.VerifyChallenge(q, ch.VerifyToken)
	if !ok {
		return "", apperr.Errorf(apperr.PermissionDenied, "wrong verify token")
	}
	return challenge, nil
}

func (c *testChannels) AppSecret(_ context.Context, ch *ent.MessengerChannel) ([]byte, error) {
	if ch.Status != messengerchannel.StatusCONNECTED {
		return nil, apperr.Errorf(apperr.Conflict, "the page is not connected yet")
	}
	if s, ok := c.secrets[ch.ID]; ok {
		return s, nil
	}
	return c.secret, nil
}

// snapshotChannels serves one channel from memory, without the database.
type snapshotChannels struct {
	ch     *ent.MessengerChannel
	secret []byte
}

func (c *snapshotChannels) ByWebhookKey(_ context.Context, key string) (*ent.MessengerChannel, error) {
	if key != c.ch.WebhookKey {
		return nil, apperr.Errorf(apperr.NotFound, "no channel has this webhook key")
	}
	return c.ch, nil
}

func (c *snapshotChannels) ByPageID(context.Context, string) (*ent.MessengerChannel, error) {
	return nil, apperr.Errorf(apperr.NotFound, "one channel only")
}

func (c *snapshotChannels) Get(_ context.Context, id int) (*ent.MessengerChannel, error) {
	if id != c.ch.ID {
		return nil, apperr.Errorf(apperr.NotFound, "no channel %d", id)
	}
	return c.ch, nil
}

func (c *snapshotChannels) Verify(context.Context, string, url.Values) (string, error) {
	return "", apperr.Errorf(apperr.PermissionDenied, "not supported")
}

func (c *snapshotChannels) AppSecret(context.Context, *ent.MessengerChannel) ([]byte, error) {
	return c.secret, nil
}

func (c *snapshotChannels) RefusedSignature(context.Context, *ent.MessengerChannel) {}

// call is one Processor call.
type call struct {
	channelID int
	psid      string
	dedupKey  string
	timestamp time.Time
	at        time.Time
}

// recorder is a Processor that records its calls, notices two concurrent
// calls for one user, and behaves as fn says (nil: succeed).
type recorder struct {
	mu       sync.Mutex
	calls    []call
	inFlight map[string]int
	overlaps []string
	fn       func(ctx context.Context, ev messenger.Event, attempt int) error
	attempts map[string]int
}

func newRecorder(fn func(ctx context.Context, ev messenger.Event, attempt int) error) *recorder {
	return &recorder{fn: fn, inFlight: map[string]int{}, attempts: map[string]int{}}
}

func (r *recorder) Process(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) error {
	user := fmt.Sprint(ch.ID, "/", ev.PSID())
	r.mu.Lock()
	r.inFlight[user]++
	if r.inFlight[user] > 1 {
		r.overlaps = append(r.overlaps, user)
	}
	r.calls = append(r.calls, call{channelID: ch.ID, psid: ev.PSID(), dedupKey: ev.DedupKey(), timestamp: ev.Timestamp, at: time.Now()})
	r.attempts[ev.DedupKey()]++
	attempt := r.attempts[ev.DedupKey()]
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[user]--
		r.mu.Unlock()
	}()
	if r.fn != nil {
		return r.fn(ctx, ev, attempt)
	}
	return nil
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) count(dedupKey string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[dedupKey]
}

func (r *recorder) overlapping() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.overlaps...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's world: a workspace with an agent and a connected
// channel, an inbox, and a real HTTP server around its handler.
type env struct {
	t        *testing.T
	st       *store.Store
	ws       *ent.Workspace
	agent    *ent.Agent
	ch       *ent.MessengerChannel
	channels inbox.Channels
	metrics  *inbox.Metrics
	in       *inbox.Inbox
	srv      *httptest.Server
}

const testPage = "PAGE_1"

// testOptions are quick enough for tests.
func testOptions(o inbox.Options) inbox.Options {
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.BaseBackoff == 0 {
		o.BaseBackoff = 5 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 40 * time.Millisecond
	}
	if o.DepthInterval == 0 {
		o.DepthInterval = 20 * time.Millisecond
	}
	return o
}

func newEnv(t *testing.T, st *store.Store, proc inbox.Processor, o inbox.Options) *env {
	t.Helper()
	ctx := auth.SystemContext(context.Background())
	e := &env{t: t, st: st}
	e.ws = st.Client.Workspace.Create().SetName("acme").SaveX(ctx)
	e.agent = st.Client.Agent.Create().SetWorkspaceID(e.ws.ID).SetName("Helper").SaveX(ctx)
	e.ch = e.newChannel(testPage, messengerchannel.StatusCONNECTED)
	// A page feeds one live channel at a time: free it for the next env.
	t.Cleanup(func() {
		st.Client.MessengerChannel.UpdateOneID(e.ch.ID).SetStatus(messengerchannel.StatusREMOVED).Exec(ctx)
	})
	e.channels = &testChannels{client: st.Client, secret: []byte(testSecret)}
	if o.Metrics == nil {
		o.Metrics = inbox.NewMetrics(prometheus.NewRegistry())
	}
	e.metrics = o.Metrics
	e.in = inbox.New(st, e.channels, proc, testOptions(o))
	e.srv = serve(t, e.in)
	return e
}

// serve mounts the handler the way the server does.
func serve(t *testing.T, in *inbox.Inbox) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /webhooks/messenger/{key}", in.Handler())
	mux.Handle("POST /webhooks/messenger/{key}", in.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func randomString() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) newChannel(pageID string, status messengerchannel.Status) *ent.MessengerChannel {
	ctx := auth.SystemContext(context.Background())
	c := e.st.Client.MessengerChannel.Create().SetWorkspaceID(e.ws.ID).SetAgentID(e.agent.ID).
		SetWebhookKey("wh_" + randomString()).SetVerifyToken("vt_" + randomString()).SetStatus(status)
	if pageID != "" {
		c.SetPageID(pageID)
	}
	return c.SaveX(ctx)
}

func sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (e *env) url(key string) string { return e.srv.URL + "/webhooks/messenger/" + key }

// post sends body to the channel's webhook with the given headers.
func (e *env) post(srv *httptest.Server, key string, body []byte, header http.Header) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/messenger/"+key, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postSigned sends a correctly signed body to the test channel.
func (e *env) postSigned(body []byte) int {
	e.t.Helper()
	code, _ := e.post(e.srv, e.ch.WebhookKey, body, http.Header{"X-Hub-Signature-256": {sign(body, testSecret)}})
	return code
}

// run starts Run on in and returns a function that stops it and returns
// Run's error. The test's cleanup stops it too.
func (e *env) run(in *inbox.Inbox) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				e.t.Error("Run did not return")
			}
		})
		return err
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

func (e *env) events(chID int) []*ent.InboxEvent {
	e.t.Helper()
	rows, err := e.st.Client.InboxEvent.Query().Where(inboxevent.ChannelID(chID)).
		Order(inboxevent.ByID()).All(auth.SystemContext(context.Background()))
	require.NoError(e.t, err)
	return rows
}

// waitSettled waits until the channel has want events and none is PENDING.
func (e *env) waitSettled(chID, want int) []*ent.InboxEvent {
	e.t.Helper()
	var rows []*ent.InboxEvent
	require.Eventually(e.t, func() bool {
		rows = e.events(chID)
		if len(rows) != want {
			return false
		}
		for _, r := range rows {
			if r.Status == inboxevent.StatusPENDING {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "events did not settle")
	return rows
}

// textEvent is one inbound text message of psid, as Meta sends it.
func textEvent(page, psid, mid string, ts int64) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"message":{"mid":%q,"text":"hi"}}`,
		psid, page, ts, mid)
}

// body wraps messaging objects in one entry of page.
func body(page string, events ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"object":"page","entry":[{"id":%q,"time":1700000000000,"messaging":[`, page)
	for i, ev := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ev)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
}
