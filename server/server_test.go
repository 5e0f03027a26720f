package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/app"
	"github.com/seachat/seachat/internal/config"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

const adminToken = "sct_test_admin_token"

// env is a running SeaChat on a real database, served over real HTTP.
type env struct {
	t   *testing.T
	url string
	st  *store.Store
	log *syncWriter // the server's log
	app *app.App
}

func newEnv(t *testing.T, st *store.Store, settings ...string) *env {
	t.Helper()
	return startEnv(t, st, true, settings...)
}

// newIdleEnv is newEnv without the background workers (file ingest, inbox,
// handoff timeouts): a test starts the ones it needs when it needs them.
func newIdleEnv(t *testing.T, st *store.Store, settings ...string) *env {
	t.Helper()
	return startEnv(t, st, false, settings...)
}

func startEnv(t *testing.T, st *store.Store, workers bool, settings ...string) *env {
	t.Helper()
	vars := map[string]string{"SEACHAT_ADMIN_TOKEN": adminToken, "DATABASE_URL": "sqlite://unused.db"}
	for i := 0; i+1 < len(settings); i += 2 {
		vars[settings[i]] = settings[i+1]
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	require.NoError(t, err)
	logs := &bytes.Buffer{}
	logw := &syncWriter{w: logs}
	logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	box, err := secret.New(bytes.Repeat([]byte{1}, secret.KeySize))
	require.NoError(t, err)
	a, err := app.New(context.Background(), cfg, st, box, prometheus.NewRegistry(), logger)
	require.NoError(t, err)
	hs := httptest.NewServer(a.Server)
	ctx, stopWorkers := context.WithCancel(context.Background())
	workersDone := make(chan struct{})
	if workers {
		go func() {
			a.RunWorkers(ctx)
			close(workersDone)
		}()
	} else {
		close(workersDone)
	}
	t.Cleanup(func() {
		a.Server.CloseWebsockets()
		hs.Close()
		stopWorkers()
		<-workersDone
		a.Close()
	})
	return &env{t: t, url: hs.URL, st: st, log: logw, app: a}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a GraphQL operation and returns the HTTP status and the response.
func (e *env) do(token, query string, vars map[string]any) (int, gqlResponse) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.post(token, "application/json", bytes.NewReader(body))
}

// post sends a GraphQL request body (JSON, or a multipart upload) and
// returns the HTTP status and the response.
func (e *env) post(token, contentType string, body io.Reader) (int, gqlResponse) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", body)
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	var out gqlResponse
	raw, _ := io.ReadAll(res.Body)
	require.NoError(e.t, json.Unmarshal(raw, &out), "body: %s", raw)
	return res.StatusCode, out
}

// ok runs an operation that must succeed and decodes field into dst.
func (e *env) ok(token, query string, vars map[string]any, field string, dst any) {
	e.t.Helper()
	_, res := e.do(token, query, vars)
	require.Empty(e.t, res.Errors, "query %s", query)
	require.NoError(e.t, json.Unmarshal(res.Data[field], dst))
}

type workspaceTokens struct{ owner, agent string }

// newWorkspace creates a workspace with an OWNER and an AGENT token.
func (e *env) newWorkspace(name string) workspaceTokens {
	e.t.Helper()
	var ws struct{ Token string }
	e.ok(adminToken, `mutation($n:String!){createWorkspace(name:$n){token workspace{id name}}}`,
		map[string]any{"n": name}, "createWorkspace", &ws)
	var tok struct{ Token string }
	e.ok(ws.Token, `mutation{createAPIToken(name:"Dana",role:AGENT){token apiToken{id name role}}}`, nil, "createAPIToken", &tok)
	return workspaceTokens{owner: ws.Token, agent: tok.Token}
}

func (e *env) createAgent(token, name string) string {
	e.t.Helper()
	var a struct{ ID string }
	e.ok(token, `mutation($n:String!){createAgent(input:{name:$n}){id}}`, map[string]any{"n": name}, "createAgent", &a)
	return a.ID
}

func TestHealthAndMetrics(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 401, "/": 200, "/nope": 404} {
			res, err := http.Get(e.url + path)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, want, res.StatusCode, path)
			require.NotEmpty(t, res.Header.Get("X-Request-ID"), path)
		}
		res := e.metrics()
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Contains(t, string(body), `seachat_http_requests_total{code="200",route="GET /healthz"}`)

		st.Close()
		res, err := http.Get(e.url + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "readyz with the database closed")
	})
}

// TestMetricsNeedTheAdmin: /metrics counts every workspace's traffic, so
// on the main address only the built-in admin token reads it; with
// SEACHAT_METRICS_ADDR it moves to that address (cmd/seachat serves it).
func TestMetricsNeedTheAdmin(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	ws := e.newWorkspace("acme")
	for token, want := range map[string]int{"": 401, "sct_wrong": 401, ws.owner: 403, ws.agent: 403, adminToken: 200} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, want, res.StatusCode, "token %q", token)
	}

	separate := newEnv(t, storetest.Open(t, "sqlite"), "SEACHAT_METRICS_ADDR", "127.0.0.1:0")
	req, _ := http.NewRequest(http.MethodGet, separate.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode, "metrics on the main address with SEACHAT_METRICS_ADDR set")
}

// metrics reads /metrics with the admin token.
func (e *env) metrics() *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, res.StatusCode)
	return res
}

func TestAuthentication(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, tt := range []struct{ name, token string }{
			{"no token", ""},
			{"unknown token", "sct_not_a_real_token"},
		} {
			status, res := e.do(tt.token, `{agents{id}}`, nil)
			require.Equal(t, http.StatusUnauthorized, status, tt.name)
			require.Equal(t, "UNAUTHENTICATED", res.code(), tt.name)
		}

		ws := e.newWorkspace("Acme")
		var tok struct {
			Token    string
			APIToken struct{ ID string } `json:"apiToken"`
		}
		e.ok(ws.owner, `mutation{createAPIToken(name:"temp",role:OWNER){token apiToken{id}}}`, nil, "createAPIToken", &tok)
		var viewer struct{ TokenName string }
		e.ok(tok.Token, `{viewer{tokenName}}`, nil, "viewer", &viewer)
		require.Equal(t, "temp", viewer.TokenName)

		var revoked string
		e.ok(ws.owner, `mutation($id:ID!){revokeAPIToken(id:$id)}`, map[string]any{"id": tok.APIToken.ID}, "revokeAPIToken", &revoked)
		require.Equal(t, tok.APIToken.ID, revoked)
		status, res := e.do(tok.Token, `{viewer{tokenName}}`, nil)
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, "UNAUTHENTICATED", res.code())
		require.Contains(t, res.Errors[0].Message, "revoked")

		var tokens []struct {
			Name      string
			RevokedAt *string
		}
		e.ok(ws.owner, `{apiTokens{name revokedAt}}`, nil, "apiTokens", &tokens)
		require.Len(t, tokens, 3)

		require.NotContains(t, e.log.String(), tok.Token, "a token was logged")
		require.NotContains(t, e.log.String(), ws.owner, "a token was logged")
	})
}

func TestRoles(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Acme")

		_, res := e.do(ws.agent, `mutation{createAgent(input:{name:"Bot"}){id}}`, nil)
		require.Equal(t, "FORBIDDEN", res.code(), "an AGENT token created an agent")
		_, res = e.do(ws.agent, `mutation{createAPIToken(name:"x",role:OWNER){token}}`, nil)
		require.Equal(t, "FORBIDDEN", res.code(), "an AGENT token created a token")
		_, res = e.do(ws.owner, `mutation{createWorkspace(name:"Evil"){token}}`, nil)
		require.Equal(t, "FORBIDDEN", res.code(), "a workspace owner created a workspace")

		id := e.createAgent(ws.owner, "Bot")
		_, res = e.do(ws.agent, `mutation($id:ID!){updateAgent(id:$id,input:{name:"Hacked"}){id}}`, map[string]any{"id": id})
		require.Equal(t, "FORBIDDEN", res.code(), "an AGENT token updated an agent")
		var agents []struct{ Name string }
		e.ok(ws.agent, `{agents{name}}`, nil, "agents", &agents)
		require.Equal(t, []struct{ Name string }{{"Bot"}}, agents, "AGENT tokens read agents")
	})
}

func TestAgents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Acme")

		var a struct {
			ID, Name, HandoffCommand, HandoffMessage, FallbackMessage, Instructions string
			MessengerChannels                                                       []any
			KnowledgeSources                                                        []any
		}
		e.ok(ws.owner, `mutation{createAgent(input:{name:"Harbor Bikes",instructions:"Be brief."}){
			id name instructions handoffCommand handoffMessage fallbackMessage messengerChannels{id} knowledgeSources{id}}}`,
			nil, "createAgent", &a)
		require.Equal(t, "Harbor Bikes", a.Name)
		require.Equal(t, "Be brief.", a.Instructions)
		require.Equal(t, "/agent", a.HandoffCommand)
		require.Equal(t, "Thanks! A member of our team will reply here shortly.", a.HandoffMessage)
		require.Equal(t, "Sorry, I don't have an answer to that yet.", a.FallbackMessage)
		require.NotNil(t, a.MessengerChannels)
		require.NotNil(t, a.KnowledgeSources)

		e.ok(ws.owner, `mutation($id:ID!){updateAgent(id:$id,input:{handoffCommand:"/human"}){id name handoffCommand}}`,
			map[string]any{"id": a.ID}, "updateAgent", &a)
		require.Equal(t, "/human", a.HandoffCommand)
		require.Equal(t, "Harbor Bikes", a.Name, "update changed a field it was not given")

		for _, tt := range []struct{ name, query, wantCode, wantMsg string }{
			{"empty name", `mutation{createAgent(input:{name:""}){id}}`, "BAD_USER_INPUT", "name: must not be blank"},
			{"blank name", `mutation{createAgent(input:{name:"   "}){id}}`, "BAD_USER_INPUT", "name: must not be blank"},
			{"blank command", `mutation{createAgent(input:{name:"x",handoffCommand:" "}){id}}`, "BAD_USER_INPUT", "handoffCommand: must not be blank"},
			{"missing name", `mutation{createAgent(input:{}){id}}`, "GRAPHQL_VALIDATION_FAILED", ""},
			{"malformed id", `{node(id:"abc"){id}}`, "BAD_USER_INPUT", "abc is not a SeaChat ID"},
			{"unknown field", `{agents{nope}}`, "GRAPHQL_VALIDATION_FAILED", ""},
			{"syntax", `{agents{`, "GRAPHQL_PARSE_FAILED", ""},
		} {
			_, res := e.do(ws.owner, tt.query, nil)
			require.Equal(t, tt.wantCode, res.code(), tt.name)
			if tt.wantMsg != "" {
				require.Contains(t, res.Errors[0].Message, tt.wantMsg, tt.name)
			}
		}
		var node struct{ ID, Name string }
		e.ok(ws.owner, `query($id:ID!){node(id:$id){id ... on Agent{name}}}`, map[string]any{"id": a.ID}, "node", &node)
		require.Equal(t, "Harbor Bikes", node.Name)
		_, res := e.do(ws.owner, `{node(id:"999999"){id}}`, nil)
		require.Equal(t, "NOT_FOUND", res.code())
	})
}

// TestTenantIsolation: a token never reads or changes another workspace's rows.
func TestTenantIsolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a, b := e.newWorkspace("A"), e.newWorkspace("B")
		agentA := e.createAgent(a.owner, "A's bot")
		e.createAgent(b.owner, "B's bot")

		var agents []struct{ ID, Name string }
		e.ok(b.owner, `{agents{id name}}`, nil, "agents", &agents)
		require.Len(t, agents, 1)
		require.Equal(t, "B's bot", agents[0].Name)

		for _, tt := range []struct{ name, query string }{
			{"node", `query($id:ID!){node(id:$id){id}}`},
			{"update", `mutation($id:ID!){updateAgent(id:$id,input:{name:"stolen"}){id}}`},
		} {
			_, res := e.do(b.owner, tt.query, map[string]any{"id": agentA})
			require.Equal(t, "NOT_FOUND", res.code(), tt.name)
		}
		var tokens []struct{ ID string }
		e.ok(a.owner, `{apiTokens{id}}`, nil, "apiTokens", &tokens)
		_, res := e.do(b.owner, `mutation($id:ID!){revokeAPIToken(id:$id)}`, map[string]any{"id": tokens[0].ID})
		require.Equal(t, "NOT_FOUND", res.code(), "B revoked A's token")

		var nodes []*struct{ ID string }
		_, res = e.do(b.owner, `query($id:ID!){nodes(ids:[$id]){id}}`, map[string]any{"id": agentA})
		require.Equal(t, "NOT_FOUND", res.code(), "nodes")
		if raw := res.Data["nodes"]; raw != nil {
			require.NoError(t, json.Unmarshal(raw, &nodes))
		}
		for _, n := range nodes {
			require.Nil(t, n, "nodes leaked A's agent to B")
		}

		var got struct{ Name string }
		e.ok(a.owner, `query($id:ID!){node(id:$id){... on Agent{name}}}`, map[string]any{"id": agentA}, "node", &got)
		require.Equal(t, "A's bot", got.Name, "A's agent changed")
	})
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	big := `{"query":"{agents{id}}","variables":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	_, ok := e.do(adminToken, `{agents{id}}`, nil)
	require.Empty(t, ok.Errors, "the server stopped serving after a huge body")
}

// TestMalformedJSON: bodies gqlgen cannot decode get 400 with BAD_REQUEST,
// a message that does not echo the body, and no panic in the log (entgql's
// Transactioner panicked on every one, logging a 4 KB stack each time).
func TestMalformedJSON(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, body := range []string{`{`, `"x"`, `{"query":5}`, `{"query":"{agents{id}}", "variables": "sct_secret"}`} {
			status, res := e.post(adminToken, "application/json", strings.NewReader(body))
			require.Equal(t, http.StatusBadRequest, status, "body %s", body)
			require.Equal(t, "BAD_REQUEST", res.code(), "body %s: %+v", body, res.Errors)
			require.NotContains(t, res.Errors[0].Message, "sct_secret", "the message quotes the body")
		}
		_, ok := e.do(adminToken, `{agents{id}}`, nil)
		require.Empty(t, ok.Errors, "the server stopped serving")
		require.NotContains(t, e.log.String(), "panicked")
	})
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialGraphQL(t *testing.T, e *env, subprotocol string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{subprotocol}})
	require.NoError(t, err)
	require.Equal(t, subprotocol, c.Subprotocol())
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestWebsocketAuth(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
			t.Run(proto+"/refused", func(t *testing.T) {
				for _, payload := range []string{`{}`, `{"authorization":"Bearer sct_wrong"}`} {
					c := dialGraphQL(t, e, proto)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(payload)}))
					var err error
					for err == nil { // an error message may come before the close
						var m wsMessage
						err = wsjson.Read(ctx, c, &m)
						require.NotEqual(t, "connection_ack", m.Type, "acknowledged %s", payload)
					}
					cancel()
					require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err), "close status for %s: %v", payload, err)
				}
			})
			t.Run(proto+"/accepted", func(t *testing.T) {
				c := dialGraphQL(t, e, proto)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init",
					Payload: json.RawMessage(`{"authorization":"Bearer ` + adminToken + `"}`)}))
				var m wsMessage
				require.NoError(t, wsjson.Read(ctx, c, &m))
				require.Equal(t, "connection_ack", m.Type)

				start, data := "subscribe", "next"
				if proto == "graphql-ws" {
					start, data = "start", "data"
				}
				require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "1", Type: start,
					Payload: json.RawMessage(`{"query":"{viewer{tokenName}}"}`)}))
				for {
					require.NoError(t, wsjson.Read(ctx, c, &m))
					if m.Type == data {
						break
					}
					require.Contains(t, []string{"ka", "ping", "pong"}, m.Type)
				}
				require.JSONEq(t, `{"data":{"viewer":{"tokenName":"admin"}}}`, string(m.Payload))
			})
		}
	})
}

// syncWriter lets concurrent handlers log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// String returns what was written so far; the server may be writing at
// the same time (a request is logged after its response is sent).
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestBadCursor(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	_, res := e.do(adminToken, `{conversations(first:1,after:"not-a-cursor"){totalCount}}`, nil)
	require.Equal(t, "BAD_USER_INPUT", res.code())
}
