package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/messenger"
	mt "github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/viewer"
)

const publicURL = "https://seachat.example/"

// The Pages of the tests. Their tokens and secrets must never reach a log.
var (
	harbor = mt.Page{ID: "1895382890692545", Name: "Harbor Bikes", Token: "EAAB-harbor-page-token", Secret: "harbor-app-secret"}
	dunes  = mt.Page{ID: "682498171943165", Name: "Dunes Cafe", Token: "EAAB-dunes-page-token", Secret: "dunes-app-secret"}
	corals = mt.Page{ID: "117172741761305", Name: "Corals Dive", Token: "EAAB-corals-page-token", Secret: "corals-app-secret"}
)

// env is a channel service on a real database, talking to a fake Graph API,
// with two workspaces: A (an owner and an agent-role token) and B (an owner).
type env struct {
	t      *testing.T
	st     *store.Store
	meta   *mt.Graph
	box    *secret.Box
	svc    *channel.Service
	logs   *syncBuffer
	sys    context.Context
	ownerA context.Context
	staffA context.Context // an AGENT-role token of A
	ownerB context.Context
	agentA int // an agent of A
	agentB int // an agent of B
	wsA    int
}

func newEnv(t *testing.T, st *store.Store) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, st: st, sys: auth.SystemContext(ctx), logs: &syncBuffer{}}
	e.meta = mt.New(t, harbor, dunes, corals)
	var err error
	e.box, err = secret.New(bytes.Repeat([]byte{42}, secret.KeySize))
	require.NoError(t, err)
	e.svc = e.newService()

	wsA, err := st.Client.Workspace.Create().SetName("Alpha Workspace").Save(e.sys)
	require.NoError(t, err)
	wsB, err := st.Client.Workspace.Create().SetName("Bravo Workspace").Save(e.sys)
	require.NoError(t, err)
	e.wsA = wsA.ID
	e.ownerA = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsA.ID, TokenName: "owner", Role: viewer.RoleOwner})
	e.staffA = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsA.ID, TokenName: "staff", Role: viewer.RoleAgent})
	e.ownerB = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsB.ID, TokenName: "owner", Role: viewer.RoleOwner})
	a, err := st.Client.Agent.Create().SetName("Alpha bot").Save(e.ownerA)
	require.NoError(t, err)
	b, err := st.Client.Agent.Create().SetName("Bravo bot").Save(e.ownerB)
	require.NoError(t, err)
	e.agentA, e.agentB = a.ID, b.ID

	t.Cleanup(func() {
		logs := e.logs.String()
		for _, p := range []mt.Page{harbor, dunes, corals} {
			require.NotContains(t, logs, p.Token, "a page token was logged")
			require.NotContains(t, logs, p.Secret, "an app secret was logged")
		}
	})
	return e
}

// newService returns another Service on the same database and fake Meta,
// like a second replica.
func (e *env) newService() *channel.Service {
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return channel.New(e.st.Client, messenger.NewClient(e.meta.URL, nil), e.box, publicURL, logger, time.Now)
}

// newAgentA creates another agent in workspace A: Setup gives an agent
// one unfinished channel at a time.
func (e *env) newAgentA() int {
	e.t.Helper()
	a, err := e.st.Client.Agent.Create().SetName("Alpha bot").Save(e.ownerA)
	require.NoError(e.t, err)
	return a.ID
}

// setup creates a channel of agent A and has Meta verify it.
func (e *env) setup() *ent.MessengerChannel {
	e.t.Helper()
	ch, err := e.svc.Setup(e.ownerA, e.agentA)
	require.NoError(e.t, err)
	_, err = e.svc.Verify(context.Background(), ch.WebhookKey, verifyQuery(ch.VerifyToken))
	require.NoError(e.t, err)
	return e.reload(ch)
}

// connected returns a CONNECTED channel of agent A for page p.
func (e *env) connected(p mt.Page) *ent.MessengerChannel {
	e.t.Helper()
	ch, err := e.svc.Connect(e.ownerA, e.setup().ID, p.Token, p.Secret)
	require.NoError(e.t, err)
	return ch
}

func (e *env) reload(ch *ent.MessengerChannel) *ent.MessengerChannel {
	e.t.Helper()
	got, err := e.st.Client.MessengerChannel.Get(e.sys, ch.ID)
	require.NoError(e.t, err)
	return got
}

// rawSecrets reads the secret columns as stored, bypassing ent.
func (e *env) rawSecrets(id int) (token, sec []byte) {
	e.t.Helper()
	row := e.st.DB.QueryRow(fmt.Sprintf("SELECT page_token_enc, app_secret_enc FROM messenger_channels WHERE id = %d", id))
	require.NoError(e.t, row.Scan(&token, &sec))
	return token, sec
}

func verifyQuery(token string) url.Values {
	return url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
}

// requireKind checks that err carries the apperr kind.
func requireKind(t *testing.T, err error, kind *apperr.Kind) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, kind), "want %s, got %s: %v", kind.Code(), apperr.KindOf(err).Code(), err)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

func TestSetup(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		keyRE := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`) // 256 bits, URL-safe

		seen := map[string]bool{}
		for range 3 {
			agentID := e.newAgentA()
			ch, err := e.svc.Setup(e.ownerA, agentID)
			require.NoError(t, err)
			require.Equal(t, messengerchannel.StatusAWAITING_VERIFICATION, ch.Status)
			require.Regexp(t, keyRE, ch.WebhookKey)
			require.GreaterOrEqual(t, len(ch.VerifyToken), 20)
			require.False(t, seen[ch.WebhookKey] || seen[ch.VerifyToken], "a key or verify token repeated")
			seen[ch.WebhookKey], seen[ch.VerifyToken] = true, true
			require.Equal(t, "https://seachat.example/webhooks/messenger/"+ch.WebhookKey, e.svc.CallbackURL(ch))
			require.Equal(t, e.wsA, ch.WorkspaceID)
			require.Equal(t, agentID, ch.AgentID)

			// Step 1 again (a double click) returns the unfinished channel.
			again, err := e.svc.Setup(e.ownerA, agentID)
			require.NoError(t, err)
			require.Equal(t, ch.ID, again.ID)
		}

		for _, tt := range []struct {
			name    string
			ctx     context.Context
			agentID int
			want    *apperr.Kind
		}{
			{"another workspace's agent", e.ownerB, e.agentA, apperr.NotFound},
			{"unknown agent", e.ownerA, 1 << 30, apperr.NotFound},
			{"AGENT-role token", e.staffA, e.agentA, apperr.PermissionDenied},
			{"no viewer", context.Background(), e.agentA, apperr.PermissionDenied},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.svc.Setup(tt.ctx, tt.agentID)
				requireKind(t, err, tt.want)
			})
		}
		n, err := st.Client.MessengerChannel.Query().Count(e.sys)
		require.NoError(t, err)
		require.Equal(t, 3, n, "a refused Setup created a channel")
	})
}

func TestVerify(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		fresh := func() *ent.MessengerChannel {
			ch, err := e.svc.Setup(e.ownerA, e.newAgentA())
			require.NoError(t, err)
			return ch
		}
		for _, tt := range []struct {
			name       string
			channel    func() *ent.MessengerChannel
			key        func(ch *ent.MessengerChannel) string
			query      func(ch *ent.MessengerChannel) url.Values
			want       *apperr.Kind // nil: success
			wantStatus messengerchannel.Status
		}{
			{
				name: "right token", channel: fresh,
				wantStatus: messengerchannel.StatusAWAITING_PAGE_TOKEN,
			},
			{
				name: "wrong token", channel: fresh,
				query: func(*ent.MessengerChannel) url.Values { return verifyQuery("guess") },
				want:  apperr.PermissionDenied, wantStatus: messengerchannel.StatusAWAITING_VERIFICATION,
			},
			{
				name: "wrong mode", channel: fresh,
				query: func(ch *ent.MessengerChannel) url.Values {
					q := verifyQuery(ch.VerifyToken)
					q.Set("hub.mode", "unsubscribe")
					return q
				},
				want: apperr.PermissionDenied, wantStatus: messengerchannel.StatusAWAITING_VERIFICATION,
			},
			{
				name: "unknown key", channel: fresh,
				key:  func(*ent.MessengerChannel) string { return "c29tZS1vdGhlci1rZXktdGhhdC1kb2VzLW5vdC1leGlzdA" },
				want: apperr.NotFound, wantStatus: messengerchannel.StatusAWAITING_VERIFICATION,
			},
			{
				name: "removed key",
				channel: func() *ent.MessengerChannel {
					ch, err := e.svc.Remove(e.ownerA, fresh().ID)
					require.NoError(t, err)
					return ch
				},
				want: apperr.NotFound, wantStatus: messengerchannel.StatusREMOVED,
			},
			{
				name:       "connected channel stays connected",
				channel:    func() *ent.MessengerChannel { return e.connected(harbor) },
				wantStatus: messengerchannel.StatusCONNECTED,
			},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ch := tt.channel()
				key, q := ch.WebhookKey, verifyQuery(ch.VerifyToken)
				if tt.key != nil {
					key = tt.key(ch)
				}
				if tt.query != nil {
					q = tt.query(ch)
				}
				before := e.reload(ch)
				challenge, err := e.svc.Verify(context.Background(), key, q)
				got := e.reload(ch)
				require.Equal(t, tt.wantStatus, got.Status)
				if tt.want != nil {
					requireKind(t, err, tt.want)
					require.Empty(t, challenge)
					require.Equal(t, before.VerifiedAt, got.VerifiedAt, "a refused verification was recorded")
					return
				}
				require.NoError(t, err)
				require.Equal(t, "1158201444", challenge)
				require.NotNil(t, got.VerifiedAt)
			})
		}
	})
}

func TestConnect(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch := e.setup()

		got, err := e.svc.Connect(e.ownerA, ch.ID, " "+harbor.Token+"\n", harbor.Secret)
		require.NoError(t, err)
		require.Equal(t, messengerchannel.StatusCONNECTED, got.Status)
		require.Equal(t, harbor.ID, *got.PageID)
		require.Equal(t, harbor.Name, *got.PageName)
		require.Nil(t, got.LastError)
		require.Equal(t, mt.AppID, *got.AppID)
		require.Equal(t, []string{"messages", "messaging_postbacks", "message_echoes", "messaging_handovers",
			"standby", "message_reads", "message_deliveries", "message_reactions"}, got.SubscribedFields)
		require.NotContains(t, got.String(), harbor.Token)

		// Stored encrypted: the raw columns hold neither secret.
		rawToken, rawSecret := e.rawSecrets(ch.ID)
		require.NotEmpty(t, rawToken)
		require.NotEmpty(t, rawSecret)
		require.NotContains(t, string(rawToken), harbor.Token)
		require.NotContains(t, string(rawSecret), harbor.Secret)
		sec, err := e.svc.AppSecret(context.Background(), got)
		require.NoError(t, err)
		require.Equal(t, harbor.Secret, string(sec))

		// Meta saw /me, one subscription with every field, a read-back and
		// the Messenger profile, all with appsecret_proof (the fake checks
		// that it is right).
		reqs := e.meta.Requests()
		require.Len(t, reqs, 4)
		require.Equal(t, "GET /v25.0/me", reqs[0].Method+" "+reqs[0].Path)
		require.Equal(t, "POST /v25.0/"+harbor.ID+"/subscribed_apps", reqs[1].Method+" "+reqs[1].Path)
		require.Equal(t, "messages,messaging_postbacks,message_echoes,messaging_handovers,standby,message_reads,message_deliveries,message_reactions", reqs[1].Fields)
		require.Equal(t, "GET /v25.0/"+harbor.ID+"/subscribed_apps", reqs[2].Method+" "+reqs[2].Path)
		require.Equal(t, "POST /v25.0/me/messenger_profile", reqs[3].Method+" "+reqs[3].Path)
		for _, r := range reqs {
			require.True(t, r.Proof, "%s %s without appsecret_proof", r.Method, r.Path)
		}

		h := e.svc.Health(got)
		require.False(t, h.OK, "no event has arrived yet")
		for _, c := range h.Checks {
			require.Equal(t, c.Name != channel.CheckEventsReceived, c.OK, "%s: %s", c.Name, c.Detail)
		}
	})
}

// TestMessengerProfile: connecting sets the Page's Get Started button,
// greeting and "Talk to a human" menu; a channel whose profile Meta refused
// still connects, health says so, and checkMessengerChannel sets it later;
// Remove deletes it.
func TestMessengerProfile(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch, err := e.svc.Connect(e.ownerA, e.setup().ID, harbor.Token, harbor.Secret)
		require.NoError(t, err)
		p := e.meta.MessengerProfile(harbor.ID)
		require.Equal(t, &messenger.GetStarted{Payload: "GET_STARTED"}, p.GetStarted)
		require.Len(t, p.Greeting, 1)
		require.Equal(t, "default", p.Greeting[0].Locale)
		require.LessOrEqual(t, len([]rune(p.Greeting[0].Text)), messenger.MaxGreetingLength)
		require.Equal(t, []messenger.PersistentMenu{{Locale: "default", CallToActions: []messenger.MenuItem{
			{Type: "postback", Title: "Talk to a human", Payload: "SEACHAT_HANDOFF"}}}}, p.PersistentMenu)
		require.True(t, checks(t, e.svc.Health(ch))[channel.CheckMessengerProfile].OK)

		_, err = e.svc.Remove(e.ownerA, ch.ID)
		require.NoError(t, err)
		require.Equal(t, messenger.MessengerProfile{}, e.meta.MessengerProfile(harbor.ID), "Remove left the profile")

		// Meta refuses the profile: the channel connects all the same.
		e.meta.Set(func(k *mt.Knobs) { k.MessengerProfileErr = mt.FailTemporary })
		ch, err = e.svc.Connect(e.ownerA, e.setup().ID, harbor.Token, harbor.Secret)
		require.NoError(t, err)
		require.Equal(t, messengerchannel.StatusCONNECTED, ch.Status)
		c := checks(t, e.svc.Health(ch))[channel.CheckMessengerProfile]
		require.False(t, c.OK)
		require.Contains(t, c.Detail, "checkMessengerChannel")
		require.Nil(t, ch.LastError, "a missing profile is no channel error")

		e.meta.Set(func(k *mt.Knobs) { k.MessengerProfileErr = mt.Failure{} })
		h, err := e.svc.Check(e.ownerA, ch.ID)
		require.NoError(t, err)
		require.True(t, checks(t, h)[channel.CheckMessengerProfile].OK, "checkMessengerChannel did not set the profile")
		require.NotNil(t, e.meta.MessengerProfile(harbor.ID).GetStarted)
	})
}

func TestConnectOptionalFieldsRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.meta.Set(func(k *mt.Knobs) { k.RefuseOptional, k.OtherApps = true, true })
		got, err := e.svc.Connect(e.ownerA, e.setup().ID, harbor.Token, harbor.Secret)
		require.NoError(t, err)
		require.Equal(t, messengerchannel.StatusCONNECTED, got.Status)
		require.Equal(t, []string{"messages", "messaging_postbacks", "message_echoes"}, got.SubscribedFields)
		require.Equal(t, mt.AppID, *got.AppID, "the app was not told apart from the Page Inbox")
		var subscribed []string
		for _, r := range e.meta.Requests() {
			if r.Method == "POST" && strings.HasSuffix(r.Path, "/subscribed_apps") {
				subscribed = append(subscribed, r.Fields)
			}
		}
		require.Equal(t, []string{
			"messages,messaging_postbacks,message_echoes,messaging_handovers,standby,message_reads,message_deliveries,message_reactions",
			"messages,messaging_postbacks,message_echoes",
		}, subscribed)
	})
}

func TestConnectRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, tt := range []struct {
			name        string
			ctx         context.Context
			channel     func() *ent.MessengerChannel
			meta        func(k *mt.Knobs)
			token, sec  string
			want        *apperr.Kind
			wantMsg     string // in the user-facing message
			metaCalls   int    // -1: don't care
			wantStatus  messengerchannel.Status
			keepsPageID bool
		}{
			{
				name: "empty token", token: "  ", sec: harbor.Secret,
				want: apperr.InvalidArgument, wantMsg: "pageAccessToken",
			},
			{
				name: "empty app secret", token: harbor.Token, sec: "",
				want: apperr.InvalidArgument, wantMsg: "appSecret",
			},
			{
				name: "token Meta rejects (190)", token: "EAAB-revoked", sec: harbor.Secret,
				want: apperr.InvalidPageToken, wantMsg: "Error validating access token", metaCalls: 1,
			},
			{
				name: "wrong app secret", token: harbor.Token, sec: "not-the-secret",
				want: apperr.InvalidPageToken, wantMsg: "Invalid appsecret_proof", metaCalls: 1,
			},
			{
				name: "subscription read-back lacks messages", token: harbor.Token, sec: harbor.Secret,
				meta: func(k *mt.Knobs) { k.DropMessages = true },
				want: apperr.Upstream, wantMsg: "subscribe it to messages", metaCalls: 3,
			},
			{
				name: "Meta unreachable", token: harbor.Token, sec: harbor.Secret,
				meta: func(k *mt.Knobs) { k.Outage = true },
				want: apperr.Upstream, metaCalls: 1,
			},
			{
				name: "AGENT-role token", ctx: e.staffA, token: harbor.Token, sec: harbor.Secret,
				want: apperr.PermissionDenied,
			},
			{
				name: "another workspace's channel", ctx: e.ownerB, token: harbor.Token, sec: harbor.Secret,
				want: apperr.NotFound,
			},
			{
				name: "removed channel", token: harbor.Token, sec: harbor.Secret,
				channel: func() *ent.MessengerChannel {
					ch, err := e.svc.Remove(e.ownerA, e.setup().ID)
					require.NoError(t, err)
					return ch
				},
				want: apperr.Conflict, wantMsg: "removed", wantStatus: messengerchannel.StatusREMOVED,
			},
			{
				name: "page used by a channel of another workspace", token: dunes.Token, sec: dunes.Secret,
				channel: func() *ent.MessengerChannel {
					other, err := e.svc.Setup(e.ownerB, e.agentB)
					require.NoError(t, err)
					_, err = e.svc.Connect(e.ownerB, other.ID, dunes.Token, dunes.Secret)
					require.NoError(t, err)
					e.meta.ResetRequests()
					return e.setup()
				},
				want: apperr.Conflict, wantMsg: "already connected to another SeaChat channel", metaCalls: 1,
			},
			{
				name: "another page on a connected channel", token: corals.Token, sec: corals.Secret,
				channel: func() *ent.MessengerChannel {
					ch := e.connected(harbor)
					e.meta.ResetRequests()
					return ch
				},
				want: apperr.Conflict, wantMsg: "set up a new channel", metaCalls: 1,
				wantStatus: messengerchannel.StatusCONNECTED, keepsPageID: true,
			},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e.meta.Set(func(k *mt.Knobs) { k.DropMessages, k.Outage = false, false })
				for _, p := range []mt.Page{harbor, dunes, corals} {
					e.meta.DropSubscription(p.ID)
				}
				e.meta.ResetRequests()
				ctx, ch := tt.ctx, e.setup()
				if ctx == nil {
					ctx = e.ownerA
				}
				if tt.channel != nil {
					ch = tt.channel()
				}
				if tt.wantStatus == "" {
					tt.wantStatus = messengerchannel.StatusAWAITING_PAGE_TOKEN
				}
				e.meta.ResetRequests()
				if tt.meta != nil {
					e.meta.Set(tt.meta)
				}
				before := e.reload(ch)

				_, err := e.svc.Connect(ctx, ch.ID, tt.token, tt.sec)
				requireKind(t, err, tt.want)
				msg := apperr.Message(err)
				require.Contains(t, msg, tt.wantMsg)
				for _, leak := range []string{"Bravo", "Alpha", harbor.Token, harbor.Secret, dunes.Token, dunes.Secret, corals.Token} {
					require.NotContains(t, err.Error(), leak)
				}
				if tt.metaCalls >= 0 {
					require.Len(t, e.meta.Requests(), tt.metaCalls, "calls to Meta")
				}

				// Nothing stored.
				got := e.reload(ch)
				require.Equal(t, tt.wantStatus, got.Status)
				require.Equal(t, before.PageTokenEnc, got.PageTokenEnc)
				require.Equal(t, before.AppSecretEnc, got.AppSecretEnc)
				require.Equal(t, before.PageID, got.PageID)
				if !tt.keepsPageID {
					rawToken, rawSecret := e.rawSecrets(ch.ID)
					require.Nil(t, rawToken)
					require.Nil(t, rawSecret)
					require.Nil(t, got.PageID)
				}
			})
		}
	})
}

// TestLivePageUnique checks the database invariant behind Connect's
// Conflict: one live channel per Page, whatever the workspace.
func TestLivePageUnique(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		first := e.connected(harbor)
		second := e.setup()
		err := st.Client.MessengerChannel.UpdateOneID(second.ID).SetPageID(harbor.ID).Exec(e.sys)
		require.True(t, ent.IsConstraintError(err), "two live channels share a page: %v", err)

		_, err = e.svc.Remove(e.ownerA, first.ID)
		require.NoError(t, err)
		got, err := e.svc.Connect(e.ownerA, second.ID, harbor.Token, harbor.Secret)
		require.NoError(t, err, "a removed channel still holds its page")
		require.Equal(t, messengerchannel.StatusCONNECTED, got.Status)
	})
}
