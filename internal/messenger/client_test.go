package messenger_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/messenger"
)

const (
	token = "EAAB-page-token"
	// proof is HMAC-SHA256("FAKE_SECRET", token), computed with openssl.
	proof = "c623de17b4aea1397864acdb8978ff2355ad688f12e3c2416512bba3af3a47c6"
)

type recorded struct {
	method, path string
	query        url.Values
	auth, ctype  string
	body         string
}

// fakeGraph is an httptest server that records requests and answers every
// one with the same status and body.
type fakeGraph struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFakeGraph(t *testing.T, status int, body string) *fakeGraph {
	t.Helper()
	g := &fakeGraph{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, recorded{r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGraph) requests() []recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]recorded(nil), g.reqs...)
}

func TestClientRequests(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		respBody string
		call     func(c *messenger.Client) (any, error)
		method   string
		path     string
		query    url.Values // without appsecret_proof
		wantBody string     // JSON; empty for no body
		want     any
	}{
		{
			name:     "me",
			respBody: `{"id":"682498171943165","name":"Sea Shop"}`,
			call:     func(c *messenger.Client) (any, error) { return c.Me(ctx, token) },
			method:   "GET", path: "/v25.0/me", query: url.Values{"fields": {"id,name"}},
			want: messenger.Page{ID: "682498171943165", Name: "Sea Shop"},
		},
		{
			name:     "send text",
			respBody: `{"recipient_id":"1254459154682919","message_id":"m_AG5Hz2U"}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SendText(ctx, token, messenger.SendRequest{PSID: "1254459154682919", Text: "Hello, world!"})
			},
			method: "POST", path: "/v25.0/me/messages",
			wantBody: `{"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"text":"Hello, world!"}}`,
			want:     messenger.SendResult{RecipientID: "1254459154682919", MessageID: "m_AG5Hz2U"},
		},
		{
			name:     "send text with quick replies and metadata",
			respBody: `{"recipient_id":"1","message_id":"m_2"}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SendText(ctx, token, messenger.SendRequest{
					PSID: "1", Text: "Pick a color", Metadata: "bot",
					QuickReplies: []messenger.QuickReply{{Title: "Green", Payload: "PICK_GREEN"}, {Title: "Talk to a human", Payload: "HANDOFF"}},
				})
			},
			method: "POST", path: "/v25.0/me/messages",
			wantBody: `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"Pick a color","metadata":"bot",
				"quick_replies":[{"content_type":"text","title":"Green","payload":"PICK_GREEN"},{"content_type":"text","title":"Talk to a human","payload":"HANDOFF"}]}}`,
			want: messenger.SendResult{RecipientID: "1", MessageID: "m_2"},
		},
		{
			name:     "send text as human agent",
			respBody: `{"recipient_id":"1","message_id":"m_3"}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SendText(ctx, token, messenger.SendRequest{PSID: "1", Text: "Sorry for the wait", Tag: messenger.TagHumanAgent})
			},
			method: "POST", path: "/v25.0/me/messages",
			wantBody: `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"Sorry for the wait"}}`,
			want:     messenger.SendResult{RecipientID: "1", MessageID: "m_3"},
		},
		{
			name:     "send update",
			respBody: `{"recipient_id":"1","message_id":"m_4"}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SendText(ctx, token, messenger.SendRequest{PSID: "1", Text: "Your order shipped", Type: messenger.MessagingUpdate})
			},
			method: "POST", path: "/v25.0/me/messages",
			wantBody: `{"recipient":{"id":"1"},"messaging_type":"UPDATE","message":{"text":"Your order shipped"}}`,
			want:     messenger.SendResult{RecipientID: "1", MessageID: "m_4"},
		},
		{
			name:     "sender action",
			respBody: `{"recipient_id":"1"}`,
			call: func(c *messenger.Client) (any, error) {
				return nil, c.SenderAction(ctx, token, "1", messenger.ActionTypingOn)
			},
			method: "POST", path: "/v25.0/me/messages",
			wantBody: `{"recipient":{"id":"1"},"sender_action":"typing_on"}`,
		},
		{
			name:     "subscribed apps",
			respBody: `{"data":[{"category":"Business","link":"https://example.com","name":"My Sample App","id":"1517776481860111","subscribed_fields":["messages","message_echoes"]}]}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SubscribedApps(ctx, token, "682498171943165")
			},
			method: "GET", path: "/v25.0/682498171943165/subscribed_apps",
			want: []messenger.SubscribedApp{{ID: "1517776481860111", Name: "My Sample App", SubscribedFields: []string{"messages", "message_echoes"}}},
		},
		{
			name:     "no subscribed apps",
			respBody: `{"data":[]}`,
			call: func(c *messenger.Client) (any, error) {
				return c.SubscribedApps(ctx, token, "682498171943165")
			},
			method: "GET", path: "/v25.0/682498171943165/subscribed_apps",
			want: []messenger.SubscribedApp{},
		},
		{
			name:     "subscribe",
			respBody: `{"success":true}`,
			call: func(c *messenger.Client) (any, error) {
				return nil, c.Subscribe(ctx, token, "682498171943165", []string{"messages", "messaging_postbacks", "message_echoes"})
			},
			method: "POST", path: "/v25.0/682498171943165/subscribed_apps",
			query: url.Values{"subscribed_fields": {"messages,messaging_postbacks,message_echoes"}},
		},
		{
			name:     "subscribe answered true",
			respBody: `true`,
			call: func(c *messenger.Client) (any, error) {
				return nil, c.Subscribe(ctx, token, "682498171943165", []string{"messages"})
			},
			method: "POST", path: "/v25.0/682498171943165/subscribed_apps",
			query: url.Values{"subscribed_fields": {"messages"}},
		},
		{
			name:     "unsubscribe",
			respBody: `{"success":true}`,
			call: func(c *messenger.Client) (any, error) {
				return nil, c.Unsubscribe(ctx, token, "682498171943165")
			},
			method: "DELETE", path: "/v25.0/682498171943165/subscribed_apps",
		},
		{
			name:     "user profile",
			respBody: `{"first_name":"Peter","last_name":"Chang","profile_pic":"https://example.com/p.jpg","locale":"en_US","id":"1254459154682919"}`,
			call: func(c *messenger.Client) (any, error) {
				return c.UserProfile(ctx, token, "1254459154682919")
			},
			method: "GET", path: "/v25.0/1254459154682919", query: url.Values{"fields": {"first_name,last_name,profile_pic"}},
			want: messenger.Profile{FirstName: "Peter", LastName: "Chang", ProfilePic: "https://example.com/p.jpg"},
		},
		{
			name:     "empty user profile",
			respBody: `{}`,
			call: func(c *messenger.Client) (any, error) {
				return c.UserProfile(ctx, token, "1254459154682919")
			},
			method: "GET", path: "/v25.0/1254459154682919", query: url.Values{"fields": {"first_name,last_name,profile_pic"}},
			want: messenger.Profile{},
		},
	} {
		for _, withSecret := range []bool{false, true} {
			name := tt.name
			if withSecret {
				name += " with appsecret_proof"
			}
			t.Run(name, func(t *testing.T) {
				g := newFakeGraph(t, http.StatusOK, tt.respBody)
				c := messenger.NewClient(g.URL+"/", g.Client())
				wantQuery := url.Values{}
				for k, v := range tt.query {
					wantQuery[k] = v
				}
				if withSecret {
					c = c.WithAppSecret([]byte("FAKE_SECRET"))
					wantQuery.Set("appsecret_proof", proof)
				}

				got, err := tt.call(c)
				require.NoError(t, err)
				if tt.want != nil {
					require.Equal(t, tt.want, got)
				}

				reqs := g.requests()
				require.Len(t, reqs, 1)
				r := reqs[0]
				require.Equal(t, tt.method, r.method)
				require.Equal(t, tt.path, r.path)
				require.Equal(t, wantQuery, r.query)
				require.Equal(t, "Bearer "+token, r.auth)
				if tt.wantBody == "" {
					require.Empty(t, r.body)
					return
				}
				require.Equal(t, "application/json", r.ctype)
				require.JSONEq(t, tt.wantBody, r.body)
			})
		}
	}
}

func TestClientSubscribeNotConfirmed(t *testing.T) {
	g := newFakeGraph(t, http.StatusOK, `{"success":false}`)
	err := messenger.NewClient(g.URL, g.Client()).Subscribe(context.Background(), token, "1", []string{"messages"})
	require.ErrorIs(t, err, apperr.Upstream)
}

// class is what the classification functions say about an error.
type class struct {
	outside, unavailable, tokenInvalid, notLive, permission, rateLimited, transient bool
}

func classify(err error) class {
	return class{
		messenger.IsOutsideWindow(err), messenger.IsUserUnavailable(err), messenger.IsTokenInvalid(err),
		messenger.IsAppNotLive(err), messenger.IsPermission(err), messenger.IsRateLimited(err), messenger.IsTransient(err),
	}
}

func TestClientErrors(t *testing.T) {
	for _, tt := range []struct {
		name        string
		status      int
		body        string
		wantCode    int
		wantSubcode int
		wantKind    *apperr.Kind
		wantMsg     string // a part of the user-facing message
		want        class
	}{
		{
			name: "outside window", status: 400,
			body:     `{"error":{"message":"(#10) This message is sent outside of allowed window. Learn more about the new policy here: https:\/\/developers.facebook.com\/docs\/messenger-platform\/policy-overview","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"AxIIVeNpuf3y2jeXdufRcEX"}}`,
			wantCode: 10, wantSubcode: 2018278, wantKind: apperr.OutsideWindow, wantMsg: "window has closed",
			want: class{outside: true},
		},
		{
			name: "outside window variant", status: 400,
			body:     `{"error":{"message":"(#10) outside window","type":"OAuthException","code":10,"error_subcode":2534022}}`,
			wantCode: 10, wantSubcode: 2534022, wantKind: apperr.OutsideWindow, want: class{outside: true},
		},
		{
			name: "outside window without subscription", status: 400,
			body:     `{"error":{"message":"(#10) outside window","type":"OAuthException","code":10,"error_subcode":2018065}}`,
			wantCode: 10, wantSubcode: 2018065, wantKind: apperr.OutsideWindow, want: class{outside: true},
		},
		{
			name: "app rate limit", status: 400,
			body:     `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"x"}}`,
			wantCode: 4, wantKind: apperr.Upstream, wantMsg: "rate limit", want: class{rateLimited: true, transient: true},
		},
		{
			name: "endpoint rate limit", status: 400,
			body:     `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613}}`,
			wantCode: 613, wantKind: apperr.Upstream, want: class{rateLimited: true, transient: true},
		},
		{
			name: "page rate limit", status: 400,
			body:     `{"error":{"message":"(#32) Page request limit reached","type":"OAuthException","code":32}}`,
			wantCode: 32, wantKind: apperr.Upstream, want: class{rateLimited: true, transient: true},
		},
		{
			name: "expired token echoing the token", status: 400,
			body:     `{"error":{"message":"Error validating access token: Session has expired for EAAB-page-token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"y"}}`,
			wantCode: 190, wantSubcode: 463, wantKind: apperr.InvalidPageToken, wantMsg: "paste a new one",
			want: class{tokenInvalid: true},
		},
		{
			name: "person unavailable", status: 400,
			body:     `{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041}}`,
			wantCode: 551, wantSubcode: 1545041, wantKind: apperr.Upstream, wantMsg: "can't receive messages",
			want: class{unavailable: true},
		},
		{
			name: "not receiving messages", status: 400,
			body:     `{"error":{"message":"(#200) Message Not Sent: This person isn't receiving messages from you right now.","type":"OAuthException","code":200,"error_subcode":1545041}}`,
			wantCode: 200, wantSubcode: 1545041, wantKind: apperr.Upstream, want: class{unavailable: true},
		},
		{
			name: "cannot receive messages", status: 400,
			body:     `{"error":{"message":"(#10) This person cannot receive messages at this time.","type":"OAuthException","code":10,"error_subcode":2018108}}`,
			wantCode: 10, wantSubcode: 2018108, wantKind: apperr.Upstream, want: class{unavailable: true},
		},
		{
			name: "app not live", status: 403,
			body:     `{"error":{"message":"(#200) Cannot message users who are not admins, developers or testers of the app until pages_messaging permission is reviewed and the app is live.","type":"OAuthException","code":200,"error_subcode":2018028}}`,
			wantCode: 200, wantSubcode: 2018028, wantKind: apperr.Upstream, wantMsg: "the app is not Live or pages_messaging is not approved",
			want: class{notLive: true},
		},
		{
			name: "permissions error", status: 403,
			body:     `{"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200}}`,
			wantCode: 200, wantKind: apperr.Upstream, wantMsg: "permission", want: class{permission: true},
		},
		{
			name: "permissions disallow", status: 403,
			body:     `{"error":{"message":"(#230) Permissions disallow message to user","type":"OAuthException","code":230}}`,
			wantCode: 230, wantKind: apperr.Upstream, want: class{permission: true},
		},
		{
			name: "messages disabled", status: 400,
			body:     `{"error":{"message":"(#10904) The page has messages disabled in the settings","type":"OAuthException","code":10904}}`,
			wantCode: 10904, wantKind: apperr.Upstream, want: class{permission: true},
		},
		{
			name: "invalid parameter", status: 400,
			body:     `{"error":{"message":"(#100) No matching user found","type":"OAuthException","code":100,"error_subcode":2018001}}`,
			wantCode: 100, wantSubcode: 2018001, wantKind: apperr.Upstream, wantMsg: "No matching user found",
		},
		{
			name: "abusive", status: 400,
			body:     `{"error":{"message":"(#368) The action attempted has been deemed abusive or is otherwise disallowed","type":"OAuthException","code":368}}`,
			wantCode: 368, wantKind: apperr.Upstream,
		},
		{
			name: "temporary send failure", status: 500,
			body:     `{"error":{"message":"(#1200) Temporary send message failure. Please try again later","type":"OAuthException","code":1200}}`,
			wantCode: 1200, wantKind: apperr.Upstream, wantMsg: "temporary", want: class{transient: true},
		},
		{
			name: "service unavailable", status: 400,
			body:     `{"error":{"message":"(#2) Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true}}`,
			wantCode: 2, wantKind: apperr.Upstream, want: class{transient: true},
		},
		{
			name: "html from a proxy", status: 502, body: `<html><body>Bad Gateway</body></html>`,
			wantKind: apperr.Upstream, want: class{transient: true},
		},
		{
			name: "empty 503", status: 503,
			wantKind: apperr.Upstream, want: class{transient: true},
		},
		{
			name: "2xx with a non-JSON body", status: 200, body: `<html>`,
			wantKind: apperr.Upstream, wantMsg: "unexpected answer",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, tt.status, tt.body)
			c := messenger.NewClient(g.URL, g.Client()).WithAppSecret([]byte("FAKE_SECRET"))
			_, err := c.SendText(context.Background(), token, messenger.SendRequest{PSID: "1", Text: "hi"})
			require.Error(t, err)

			require.ErrorIs(t, err, tt.wantKind)
			require.Contains(t, apperr.Message(err), tt.wantMsg)
			require.Equal(t, tt.want, classify(err))
			for _, s := range []string{err.Error(), apperr.Message(err)} {
				require.NotContains(t, s, token)
				require.NotContains(t, s, proof)
			}

			var ge *messenger.GraphError
			if tt.status/100 == 2 {
				require.False(t, errors.As(err, &ge))
				return
			}
			require.ErrorAs(t, err, &ge)
			require.Equal(t, tt.status, ge.HTTPStatus)
			require.Equal(t, tt.wantCode, ge.Code)
			require.Equal(t, tt.wantSubcode, ge.Subcode)
		})
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := messenger.NewClient(srv.URL, srv.Client()).WithAppSecret([]byte("FAKE_SECRET"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Me(ctx, token)
	require.Less(t, time.Since(start), 5*time.Second)

	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, apperr.Upstream)
	require.True(t, messenger.IsTransient(err))
	require.NotContains(t, err.Error(), token)
	require.NotContains(t, err.Error(), proof)
	require.NotContains(t, err.Error(), "?")
}

func TestClientNetworkErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens on its address any more

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tt := range []struct {
		name          string
		ctx           context.Context
		wantTransient bool
		wantIs        error
	}{
		{"connection refused", context.Background(), true, nil},
		{"canceled by the caller", canceled, false, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := messenger.NewClient(closed.URL, nil).WithAppSecret([]byte("FAKE_SECRET"))
			_, err := c.SendText(tt.ctx, token, messenger.SendRequest{PSID: "1", Text: "hi"})
			require.ErrorIs(t, err, apperr.Upstream)
			require.Equal(t, tt.wantTransient, messenger.IsTransient(err))
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.NotContains(t, err.Error(), token)
			require.NotContains(t, err.Error(), proof)
		})
	}
}

func TestClientRejectsBadInput(t *testing.T) {
	g := newFakeGraph(t, http.StatusOK, `{}`)
	c := messenger.NewClient(g.URL, g.Client())
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		call     func() error
		wantKind *apperr.Kind
	}{
		{"no token", func() error { _, err := c.Me(ctx, ""); return err }, apperr.InvalidPageToken},
		{"no text", func() error {
			_, err := c.SendText(ctx, token, messenger.SendRequest{PSID: "1"})
			return err
		}, apperr.InvalidArgument},
		{"no recipient", func() error {
			_, err := c.SendText(ctx, token, messenger.SendRequest{Text: "hi"})
			return err
		}, apperr.InvalidArgument},
		{"unknown sender action", func() error { return c.SenderAction(ctx, token, "1", "react") }, apperr.InvalidArgument},
		{"path in page id", func() error { _, err := c.SubscribedApps(ctx, token, "../1"); return err }, apperr.InvalidArgument},
		{"query in page id", func() error { return c.Unsubscribe(ctx, token, "1?x=y") }, apperr.InvalidArgument},
		{"no fields", func() error { return c.Subscribe(ctx, token, "1", nil) }, apperr.InvalidArgument},
		{"slash in psid", func() error { _, err := c.UserProfile(ctx, token, "1/feed"); return err }, apperr.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.ErrorIs(t, err, tt.wantKind)
			require.False(t, strings.Contains(err.Error(), token))
		})
	}
	require.Empty(t, g.requests())
}
