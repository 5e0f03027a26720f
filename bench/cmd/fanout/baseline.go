package main

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/seachat/seachat/bench/harness"
)

// The baseline (run as `fanout -serve-baseline`, its own process so that
// its RSS is measured alone) is the least a server can do for the same
// traffic: GET /graphql accepts a coder/websocket connection speaking
// graphql-transport-ws (connection_init with the bearer token compared to
// -token, connection_ack, one subscribe, ping→pong, complete), and
// POST /webhooks/fanout checks X-Hub-Signature-256, decodes the body, and
// hands every subscriber's writer goroutine two `next` frames carrying
// {"messageAdded":{"id","direction"}} (INBOUND, then OUTBOUND standing in
// for the bot's reply) before answering 200. No GraphQL parsing or
// execution, no database, no bot, no authorization beyond the token.

type baseSub struct {
	id  string
	out chan []byte
}

type baseline struct {
	token string
	mu    sync.Mutex
	subs  map[*baseSub]struct{}
	seq   atomic.Int64
}

func serveBaseline(token string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b := &baseline{token: token, subs: map[*baseSub]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /graphql", b.ws)
	mux.HandleFunc("POST /webhooks/fanout", b.webhook)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		n := len(b.subs)
		b.mu.Unlock()
		fmt.Fprintf(w, "seachat_pubsub_subscribers %d\n", n)
	})
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", ln.Addr())
	return http.Serve(ln, mux)
}

func (b *baseline) ws(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	var m wsMessage
	if err := wsjson.Read(ctx, c, &m); err != nil || m.Type != "connection_init" {
		return
	}
	var init struct {
		Authorization string `json:"authorization"`
	}
	json.Unmarshal(m.Payload, &init)
	tok, _ := strings.CutPrefix(init.Authorization, "Bearer ")
	if !hmac.Equal([]byte(tok), []byte(b.token)) {
		c.Close(4403, "unauthenticated")
		return
	}
	if err := wsjson.Write(ctx, c, wsMessage{Type: "connection_ack"}); err != nil {
		return
	}
	s := &baseSub{out: make(chan []byte, 64)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the writer: one per connection, as gqlgen has
		for {
			select {
			case f := <-s.out:
				if c.Write(ctx, websocket.MessageText, f) != nil {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
	}()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return
		}
		switch m.Type {
		case "subscribe":
			s.id = m.ID
			b.mu.Lock()
			b.subs[s] = struct{}{}
			b.mu.Unlock()
		case "ping":
			b, _ := json.Marshal(wsMessage{Type: "pong"})
			s.out <- b
		case "complete":
			return
		}
	}
}

func (b *baseline) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(harness.Sign(body, harness.AppSecret))) {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	var ev struct {
		Entry []struct {
			Messaging []struct {
				Message struct{ Mid, Text string }
			}
		}
	}
	if err := json.Unmarshal(body, &ev); err != nil || len(ev.Entry) == 0 || len(ev.Entry[0].Messaging) == 0 {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	in := b.seq.Add(1)
	outID := b.seq.Add(1)
	b.mu.Lock()
	for s := range b.subs {
		for _, e := range []struct {
			id  int64
			dir string
		}{{in, "INBOUND"}, {outID, "OUTBOUND"}} {
			f := fmt.Appendf(nil, `{"id":%q,"type":"next","payload":{"data":{"messageAdded":{"id":"%d","direction":%q}}}}`, s.id, e.id, e.dir)
			select {
			case s.out <- f:
			default: // a slow subscriber loses the event rather than stall the others
			}
		}
	}
	b.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
