package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/apitoken"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// rawSocket is an authenticated GraphQL websocket whose messages, other
// than keep-alives, arrive on msgs; closed receives the error that ended
// it.
type rawSocket struct {
	t      *testing.T
	proto  string
	conn   *websocket.Conn
	msgs   chan wsMessage
	closed chan error
}

// openSocket opens a websocket to e and authenticates with token.
func openSocket(t *testing.T, e *env, token, proto string) *rawSocket {
	t.Helper()
	c := dialGraphQL(t, e, proto)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init",
		Payload: json.RawMessage(`{"authorization":"Bearer ` + token + `"}`)}))
	var ack wsMessage
	require.NoError(t, wsjson.Read(ctx, c, &ack))
	require.Equal(t, "connection_ack", ack.Type)
	s := &rawSocket{t: t, proto: proto, conn: c, msgs: make(chan wsMessage, 256), closed: make(chan error, 1)}
	go func() {
		for {
			var m wsMessage
			if err := wsjson.Read(context.Background(), c, &m); err != nil {
				s.closed <- err
				return
			}
			switch m.Type {
			case "ping":
				_ = wsjson.Write(context.Background(), c, wsMessage{Type: "pong"})
			case "pong", "ka":
			default:
				s.msgs <- m
			}
		}
	}()
	return s
}

// start sends an operation with the given id.
func (s *rawSocket) start(id, query string) {
	s.t.Helper()
	typ := "subscribe"
	if s.proto == "graphql-ws" {
		typ = "start"
	}
	payload, err := json.Marshal(map[string]any{"query": query})
	require.NoError(s.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(s.t, wsjson.Write(ctx, s.conn, wsMessage{ID: id, Type: typ, Payload: payload}))
}

// stop ends the operation with the given id.
func (s *rawSocket) stop(id string) {
	s.t.Helper()
	typ := "complete"
	if s.proto == "graphql-ws" {
		typ = "stop"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(s.t, wsjson.Write(ctx, s.conn, wsMessage{ID: id, Type: typ}))
}

// result waits for the next data message of operation id, failing the
// test if the websocket closes first.
func (s *rawSocket) result(id string) gqlResponse {
	s.t.Helper()
	res, closed := s.resultOrClose(id)
	if closed != 0 {
		s.t.Fatalf("%s: the websocket closed (%d) waiting for %s", s.proto, closed, id)
	}
	return res
}

// resultOrClose waits for the next data message of operation id, or for
// the websocket to close; closed is its close status then, else 0.
func (s *rawSocket) resultOrClose(id string) (res gqlResponse, closed websocket.StatusCode) {
	s.t.Helper()
	for {
		select {
		case m := <-s.msgs:
			if m.ID != id || (m.Type != "next" && m.Type != "data") {
				continue
			}
			require.NoError(s.t, json.Unmarshal(m.Payload, &res))
			return res, 0
		case err := <-s.closed:
			return res, websocket.CloseStatus(err)
		case <-time.After(10 * time.Second):
			s.t.Fatalf("%s: no result for %s", s.proto, id)
		}
	}
}

// waitClosed returns the close status of the websocket, failing the test if
// it is still open after timeout.
func (s *rawSocket) waitClosed(timeout time.Duration) websocket.StatusCode {
	s.t.Helper()
	select {
	case err := <-s.closed:
		return websocket.CloseStatus(err)
	case <-time.After(timeout):
		s.t.Fatalf("%s: the websocket is still open after %s", s.proto, timeout)
		return 0
	}
}

type createdToken struct {
	Token    string
	APIToken struct{ ID string } `json:"apiToken"`
}

func (e *env) createToken(owner, name string) createdToken {
	e.t.Helper()
	var tok createdToken
	e.ok(owner, `mutation($n:String!){createAPIToken(name:$n,role:AGENT){token apiToken{id}}}`,
		map[string]any{"n": name}, "createAPIToken", &tok)
	return tok
}

// TestRevokeClosesWebsockets: revoking a token closes every websocket it
// authenticated with 4403 within a second, on either protocol, with
// subscriptions open or not. Other tokens' websockets stay open.
func TestRevokeClosesWebsockets(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Acme")
		tok := e.createToken(ws.owner, "laptop")
		var sockets []*rawSocket
		for _, proto := range protocols {
			idle := openSocket(t, e, tok.Token, proto)
			subscribed := openSocket(t, e, tok.Token, proto)
			subscribed.start("1", `subscription{messageAdded{id}}`)
			sockets = append(sockets, idle, subscribed)
		}
		other := openSocket(t, e, ws.agent, "graphql-transport-ws")
		e.waitSubscribers(len(protocols))

		revoked := time.Now()
		e.ok(ws.owner, `mutation($id:ID!){revokeAPIToken(id:$id)}`, map[string]any{"id": tok.APIToken.ID}, "revokeAPIToken", new(string))
		for _, s := range sockets {
			require.Equal(t, websocket.StatusCode(4403), s.waitClosed(time.Second), s.proto)
		}
		t.Logf("closed %s after the revocation", time.Since(revoked))

		other.start("q", `{viewer{tokenName}}`)
		require.Empty(t, other.result("q").Errors, "another token's websocket")
	})
}

// TestRevokeClosesWebsocketsAcrossReplicas: a token revoked through one
// replica loses its websockets on the other.
func TestRevokeClosesWebsocketsAcrossReplicas(t *testing.T) {
	open := replicas(t)
	e1, e2 := newIdleEnv(t, open()), newIdleEnv(t, open())
	ws := e1.newWorkspace("Acme")
	tok := e1.createToken(ws.owner, "laptop")
	s := openSocket(t, e2, tok.Token, "graphql-transport-ws")
	e1.ok(ws.owner, `mutation($id:ID!){revokeAPIToken(id:$id)}`, map[string]any{"id": tok.APIToken.ID}, "revokeAPIToken", new(string))
	require.Equal(t, websocket.StatusCode(4403), s.waitClosed(time.Second))
}

// TestRevokedTokenRefusedOnWebsocket: even when no replica hears of a
// revocation (here it is written to the database directly), an operation
// started on the token's websocket a second later is refused, and the
// websocket closed with 4403.
func TestRevokedTokenRefusedOnWebsocket(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st)
		ws := e.newWorkspace("Acme")
		for _, proto := range protocols {
			t.Run(proto, func(t *testing.T) {
				tok := e.createToken(ws.owner, proto)
				s := openSocket(t, e, tok.Token, proto)
				s.start("1", `{viewer{tokenName}}`)
				require.Empty(t, s.result("1").Errors)

				id, err := strconv.Atoi(tok.APIToken.ID)
				require.NoError(t, err)
				require.NoError(t, st.Client.APIToken.UpdateOneID(id).SetRevokedAt(time.Now()).
					Exec(auth.SystemContext(context.Background())))
				time.Sleep(time.Second)

				// The operation is refused with UNAUTHENTICATED, then the
				// websocket closes with 4403; a recheck of every open
				// websocket (the revocation watcher resubscribing) may close
				// it first. Either way the mutation never runs.
				s.start("2", `mutation{createAPIToken(name:"backdoor",role:AGENT){token}}`)
				if res, closed := s.resultOrClose("2"); closed == 0 {
					require.Equal(t, "UNAUTHENTICATED", res.code())
					require.Contains(t, res.Errors[0].Message, "revoked")
					closed = s.waitClosed(time.Second)
					require.Equal(t, websocket.StatusCode(4403), closed)
				} else {
					require.Equal(t, websocket.StatusCode(4403), closed)
				}
				n, err := st.Client.APIToken.Query().Where(apitoken.Name("backdoor")).Count(auth.SystemContext(context.Background()))
				require.NoError(t, err)
				require.Zero(t, n, "the revoked token's mutation ran")
			})
		}
	})
}

// TestSubscriptionCaps: a websocket, and a token across its websockets, may
// hold SEACHAT_MAX_SUBSCRIPTIONS subscriptions. One more is refused with
// BAD_USER_INPUT naming the limit; the websocket and its other
// subscriptions carry on, and a completed subscription frees its place.
func TestSubscriptionCaps(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st, "SEACHAT_MAX_SUBSCRIPTIONS", "3")
		ws := e.newWorkspace("Acme")
		for _, proto := range protocols {
			t.Run(proto, func(t *testing.T) {
				tok := e.createToken(ws.owner, proto)
				s := openSocket(t, e, tok.Token, proto)
				for _, id := range []string{"1", "2", "3"} {
					s.start(id, `subscription{messageAdded{id}}`)
				}
				e.waitSubscribers(3)
				s.start("4", `subscription{messageAdded{id}}`)
				res := s.result("4")
				require.Equal(t, "BAD_USER_INPUT", res.code())
				require.Contains(t, res.Errors[0].Message, "subscription limit")
				require.Contains(t, res.Errors[0].Message, "3 subscriptions")

				// The same token on another websocket.
				s2 := openSocket(t, e, tok.Token, proto)
				s2.start("1", `subscription{messageAdded{id}}`)
				res = s2.result("1")
				require.Equal(t, "BAD_USER_INPUT", res.code())
				require.Contains(t, res.Errors[0].Message, "API token")

				s.stop("1")
				e.waitSubscribers(2)
				s2.start("2", `subscription{messageAdded{id}}`)
				e.waitSubscribers(3)
				s.start("q", `{viewer{tokenName}}`)
				require.Empty(t, s.result("q").Errors, "the websocket still answers")

				s.conn.Close(websocket.StatusNormalClosure, "done")
				s2.conn.Close(websocket.StatusNormalClosure, "done")
				e.waitSubscribers(0)
			})
		}
	})
}

// TestUnauthenticatedWebsocketCap: one address may hold 20 websockets that
// have not sent connection_init; the 21st is refused with 429 before the
// upgrade, and authenticating one makes room.
func TestUnauthenticatedWebsocketCap(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st)
		var conns []*websocket.Conn
		for range 20 {
			conns = append(conns, dialGraphQL(t, e, "graphql-transport-ws"))
		}
		dial := func() (*websocket.Conn, *http.Response, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"/graphql",
				&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		}
		c, res, err := dial()
		if c != nil {
			c.CloseNow()
		}
		require.Error(t, err, "a 21st unauthenticated websocket was accepted")
		require.NotNil(t, res)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, wsjson.Write(ctx, conns[0], wsMessage{Type: "connection_init",
			Payload: json.RawMessage(`{"authorization":"Bearer ` + adminToken + `"}`)}))
		var ack wsMessage
		require.NoError(t, wsjson.Read(ctx, conns[0], &ack))
		require.Equal(t, "connection_ack", ack.Type)
		c, _, err = dial()
		require.NoError(t, err, "no room after one websocket authenticated")
		c.CloseNow()
	})
}
