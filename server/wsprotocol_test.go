package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store/storetest"
)

// TestWebsocketProtocol: graphql-transport-ws's rules, which gqlgen alone
// breaks: pings are answered before connection_init, queries and mutations
// work as over HTTP, and each breach closes the socket with the spec's
// code.
func TestWebsocketProtocol(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	const proto = "graphql-transport-ws"
	ctx := context.Background()
	send := func(c *websocket.Conn, m wsMessage) {
		t.Helper()
		require.NoError(t, wsjson.Write(ctx, c, m))
	}
	read := func(c *websocket.Conn) wsMessage {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var m wsMessage
		require.NoError(t, wsjson.Read(rctx, c, &m))
		return m
	}
	closedWith := func(c *websocket.Conn) websocket.StatusCode {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for {
			var m wsMessage
			if err := wsjson.Read(rctx, c, &m); err != nil {
				return websocket.CloseStatus(err)
			}
		}
	}
	init := json.RawMessage(`{"authorization":"Bearer ` + adminToken + `"}`)
	subscribe := func(id, query string) wsMessage {
		p, _ := json.Marshal(map[string]string{"query": query})
		return wsMessage{ID: id, Type: "subscribe", Payload: p}
	}
	authed := func() *websocket.Conn {
		c := dialGraphQL(t, e, proto)
		send(c, wsMessage{Type: "connection_init", Payload: init})
		require.Equal(t, "connection_ack", read(c).Type)
		return c
	}

	t.Run("ping before init", func(t *testing.T) {
		c := dialGraphQL(t, e, proto)
		send(c, wsMessage{Type: "ping"})
		require.Equal(t, "pong", read(c).Type)
		send(c, wsMessage{Type: "connection_init", Payload: init})
		require.Equal(t, "connection_ack", read(c).Type)
	})
	t.Run("mutation then query", func(t *testing.T) {
		c := authed()
		send(c, subscribe("m", `mutation{createAgent(input:{name:"Over WS"}){name}}`))
		m := read(c)
		require.Equal(t, "next", m.Type, "%s", m.Payload)
		require.JSONEq(t, `{"data":{"createAgent":{"name":"Over WS"}}}`, string(m.Payload))
		require.Equal(t, "complete", read(c).Type)
		send(c, subscribe("m", `mutation{createAgent(input:{name:""}){name}}`)) // the id is free again
		m = read(c)
		require.Contains(t, string(m.Payload), `"code":"BAD_USER_INPUT"`, "a failed mutation keeps its code")
	})
	t.Run("mutation over graphql-ws", func(t *testing.T) {
		c := dialGraphQL(t, e, "graphql-ws")
		send(c, wsMessage{Type: "connection_init", Payload: init})
		require.Equal(t, "connection_ack", read(c).Type)
		p, _ := json.Marshal(map[string]string{"query": `mutation{createAgent(input:{name:"Legacy"}){name}}`})
		send(c, wsMessage{ID: "1", Type: "start", Payload: p})
		m := read(c)
		for m.Type == "ka" {
			m = read(c)
		}
		require.Equal(t, "data", m.Type, "%s", m.Payload)
		require.JSONEq(t, `{"data":{"createAgent":{"name":"Legacy"}}}`, string(m.Payload))
		require.Equal(t, "complete", read(c).Type)
	})
	for _, tt := range []struct {
		name string
		do   func(c *websocket.Conn)
		want websocket.StatusCode
	}{
		{"subscribe before ack", func(c *websocket.Conn) { send(c, subscribe("1", `{agents{id}}`)) }, 4401},
		{"not a message", func(c *websocket.Conn) {
			require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"nope":1}`)))
		}, 4400},
		{"second init", func(c *websocket.Conn) {
			send(c, wsMessage{Type: "connection_init", Payload: init})
			require.Equal(t, "connection_ack", read(c).Type)
			send(c, wsMessage{Type: "connection_init", Payload: init})
		}, 4429},
		{"duplicate id", func(c *websocket.Conn) {
			send(c, wsMessage{Type: "connection_init", Payload: init})
			require.Equal(t, "connection_ack", read(c).Type)
			send(c, subscribe("s", `subscription{messageAdded{id}}`))
			send(c, subscribe("s", `subscription{messageAdded{id}}`))
		}, 4409},
		{"init timeout", func(*websocket.Conn) {}, 4408},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialGraphQL(t, e, proto)
			tt.do(c)
			require.Equal(t, tt.want, closedWith(c))
		})
	}
}
