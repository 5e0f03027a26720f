// Command fanout measures SeaChat's GraphQL subscription fan-out: N
// websocket subscribers of subscription{messageAdded{id direction}}, M
// signed inbound webhook messages posted one at a time, and for every
// subscriber the time from the webhook's 200 to the messageAdded event of
// that message. Beside it, in the same run, the same client against the
// baseline of baseline.go; and the server's RSS per idle subscriber.
// Loopback only; counts and durations are bounded by flags.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/seachat/seachat/bench/harness"
	"github.com/seachat/seachat/internal/messenger/messengertest"
)

const (
	pageID     = "1895382890692545"
	pageToken  = "EAAGbenchpagetoken"
	adminToken = "sct_bench_admin_token_0123456789abcdef"
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// target is one server under test.
type target struct {
	name    string
	url     string // base URL
	token   string
	webhook string
	pid     int // 0: RSS unknown
	// ownSubs are the bus subscriptions the server holds itself (SeaChat's
	// to token revocations), counted in seachat_pubsub_subscribers.
	ownSubs int
}

// result is one target at one N.
type result struct {
	n                  int
	posts, acked       int
	delivered, missing int64
	afterAck, afterReq latency
	early              int64 // events that arrived before the 200 did
	rssPerSub          float64
	rssBefore, rssIdle int64
}

type latency struct{ p50, p99, max float64 } // ms

func main() {
	seachat := flag.String("seachat", "bin/seachat", "the seachat binary (ignored with -url)")
	url := flag.String("url", "", "a running SeaChat to measure instead (it must use a fake Graph API that knows page "+pageID+")")
	token := flag.String("token", "", "admin token of -url")
	pid := flag.Int("pid", 0, "process id of -url, for RSS (0: not measured)")
	levels := flag.String("subscribers", "10,100,1000", "subscriber counts, each at most 2000")
	messages := flag.Int("messages", 50, "webhook messages per level, at most 500")
	wait := flag.Duration("wait", 10*time.Second, "how long to wait for every subscriber's event of one message")
	budget := flag.Duration("budget", 8*time.Minute, "the whole run, at most")
	out := flag.String("out", "bench/fanout.md", "markdown report ('' for stdout only)")
	serveBase := flag.Bool("serve-baseline", false, "internal: serve the baseline")
	baseToken := flag.String("baseline-token", "", "internal: the baseline's token")
	flag.Parse()
	if *serveBase {
		log.Fatal(serveBaseline(*baseToken))
	}
	ns, err := ints(*levels)
	if err != nil || *messages < 1 || *messages > 500 {
		log.Fatalf("fanout: bad -subscribers %q or -messages %d", *levels, *messages)
	}
	for _, n := range ns {
		if n < 1 || n > 2000 {
			log.Fatalf("fanout: -subscribers %d out of 1..2000", n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *budget)
	defer cancel()

	ours := target{name: "seachat", url: *url, token: *token, pid: *pid, ownSubs: 1}
	if *url == "" {
		dir, err := os.MkdirTemp("", "fanout-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		fake := harness.NewFakeGraph(false, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		defer fake.Close()
		logf, _ := os.Create(filepath.Join(dir, "seachat.log"))
		srv, err := harness.StartSeaChat(ctx, harness.SeaChatConfig{
			Bin: *seachat, DatabaseURL: "sqlite://" + filepath.Join(dir, "seachat.db"), GraphAPIURL: fake.URL,
			AdminToken: adminToken, SecretKey: randomHex(32), Log: logf,
			// 1000 subscribe operations on one token would exceed the
			// default 50/s, burst 200, and the default 50 subscriptions
			// per token.
			Env: []string{"SEACHAT_RATE_LIMIT=0", "SEACHAT_MAX_SUBSCRIPTIONS=10000"},
		})
		if err != nil {
			log.Fatalf("fanout: starting seachat: %v", err)
		}
		defer srv.Kill()
		ours.url, ours.token, ours.pid = srv.URL, adminToken, srv.PID()
	}
	ch, err := harness.SetupChannel(ctx, harness.GraphQL{URL: ours.url, Token: ours.token}, pageID, pageToken)
	if err != nil {
		log.Fatalf("fanout: setup: %v", err)
	}
	ours.webhook = ch.WebhookURL

	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	bt := randomHex(16)
	bp, err := harness.StartBaseline(ctx, self, []string{"-serve-baseline", "-baseline-token", bt}, nil)
	if err != nil {
		log.Fatalf("fanout: starting baseline: %v", err)
	}
	defer bp.Kill()
	base := target{name: "baseline", url: bp.URL, token: bt, webhook: bp.URL + "/webhooks/fanout", pid: bp.PID()}

	client := harness.NewHTTPClient(4)
	var rows [][2]result
	for _, n := range ns {
		var pair [2]result
		for i, t := range []target{ours, base} {
			r, err := measure(ctx, client, t, n, *messages, *wait)
			if err != nil {
				log.Fatalf("fanout: %s, %d subscribers: %v", t.name, n, err)
			}
			log.Printf("%s N=%d: ack→event p50 %.2f p99 %.2f ms, %d/%d delivered, %.1f KiB RSS/sub",
				t.name, n, r.afterAck.p50, r.afterAck.p99, r.delivered, int64(r.acked)*int64(n), r.rssPerSub/1024)
			pair[i] = r
		}
		rows = append(rows, pair)
	}
	md := report(rows, *messages)
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type event struct {
	at  time.Time
	id  string
	dir string
}

// sub is one subscriber: a reader goroutine timestamps each event on
// arrival and hands it over.
type sub struct {
	conn   *websocket.Conn
	events chan event
}

func dial(ctx context.Context, t target) (*sub, error) {
	ws := "ws" + strings.TrimPrefix(t.url, "http") + "/graphql"
	hs, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(hs, ws, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sub, error) { c.CloseNow(); return nil, err }
	if err := wsjson.Write(hs, c, wsMessage{Type: "connection_init",
		Payload: json.RawMessage(`{"authorization":"Bearer ` + t.token + `"}`)}); err != nil {
		return fail(err)
	}
	var ack wsMessage
	if err := wsjson.Read(hs, c, &ack); err != nil || ack.Type != "connection_ack" {
		return fail(fmt.Errorf("no connection_ack: %v %s", err, ack.Type))
	}
	p, _ := json.Marshal(map[string]any{"query": "subscription{messageAdded{id direction}}"})
	if err := wsjson.Write(hs, c, wsMessage{ID: "1", Type: "subscribe", Payload: p}); err != nil {
		return fail(err)
	}
	s := &sub{conn: c, events: make(chan event, 256)}
	go func() {
		defer close(s.events)
		for {
			_, b, err := c.Read(ctx)
			at := time.Now()
			if err != nil {
				return
			}
			var m wsMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ping":
				wsjson.Write(ctx, c, wsMessage{Type: "pong"})
			case "next":
				var d struct {
					Data struct {
						MessageAdded struct{ ID, Direction string }
					}
				}
				json.Unmarshal(m.Payload, &d)
				s.events <- event{at: at, id: d.Data.MessageAdded.ID, dir: d.Data.MessageAdded.Direction}
			case "error", "complete":
				log.Printf("subscription ended: %s %s", m.Type, m.Payload)
				return
			}
		}
	}()
	return s, nil
}

// measure opens n subscribers to t, measures RSS, posts m messages one at a
// time and times every subscriber's INBOUND event of each; then waits for
// the OUTBOUND event (the bot's reply) before the next post, so that one
// message's fan-out does not overlap the next.
func measure(ctx context.Context, client *http.Client, t target, n, m int, wait time.Duration) (result, error) {
	r := result{n: n}
	if err := waitSubscribers(ctx, t.url, t.token, t.ownSubs); err != nil {
		return r, err
	}
	settle()
	r.rssBefore, _ = harness.RSS(t.pid)
	subs := make([]*sub, n)
	var errMu sync.Mutex
	var dialErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := dial(ctx, t)
			if err != nil {
				errMu.Lock()
				dialErr = err
				errMu.Unlock()
				return
			}
			subs[i] = s
		})
	}
	wg.Wait()
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.conn.Close(websocket.StatusNormalClosure, "done")
			}
		}
	}()
	if dialErr != nil {
		return r, dialErr
	}
	if err := waitSubscribers(ctx, t.url, t.token, t.ownSubs+n); err != nil {
		return r, err
	}
	settle()
	r.rssIdle, _ = harness.RSS(t.pid)
	if t.pid != 0 {
		r.rssPerSub = float64(r.rssIdle-r.rssBefore) / float64(n)
	}

	ack := hdr()
	req := hdr()
	runID := randomHex(4)
	for k := range m {
		if ctx.Err() != nil {
			break
		}
		psid := fmt.Sprintf("fan_%s_%d", runID, k)
		body := harness.TextEvent(pageID, psid, "m_"+psid, harness.Question, time.Now())
		r.posts++
		t0 := time.Now()
		code, err := harness.PostSigned(ctx, client, t.webhook, body)
		tAck := time.Now()
		if err != nil || code != http.StatusOK {
			log.Printf("%s: post %d: HTTP %d %v", t.name, k, code, err)
			continue
		}
		r.acked++
		deadline := time.NewTimer(wait)
		for _, dir := range []string{"INBOUND", "OUTBOUND"} {
			for _, s := range subs {
				e, ok := next(s, dir, deadline.C)
				if dir == "OUTBOUND" {
					continue
				}
				if !ok {
					r.missing++
					continue
				}
				r.delivered++
				d := e.at.Sub(tAck)
				if d < 0 {
					r.early++
					d = 0
				}
				ack.RecordValue(max(d.Microseconds(), 1))
				req.RecordValue(max(e.at.Sub(t0).Microseconds(), 1))
			}
		}
		deadline.Stop()
	}
	r.afterAck, r.afterReq = lat(ack), lat(req)
	return r, nil
}

// next returns s's next event in direction dir, skipping others, or false
// once expired fires (after which it keeps failing at once).
func next(s *sub, dir string, expired <-chan time.Time) (event, bool) {
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return event{}, false
			}
			if e.dir == dir {
				return e, true
			}
		case <-expired:
			return event{}, false
		}
	}
}

// settle gives the server a moment to finish what a change started before
// RSS is read.
func settle() { time.Sleep(1500 * time.Millisecond) }

// waitSubscribers waits until /metrics (read with the admin token) counts
// n subscriptions.
func waitSubscribers(ctx context.Context, base, token string, n int) error {
	want := "seachat_pubsub_subscribers " + strconv.Itoa(n)
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "seachat_pubsub_subscribers ") {
				last = sc.Text()
			}
		}
		res.Body.Close()
		if last == want {
			return nil
		}
	}
	return fmt.Errorf("want %q, have %q", want, last)
}

func hdr() *hdrhistogram.Histogram { return hdrhistogram.New(1, (5 * time.Minute).Microseconds(), 3) }

func lat(h *hdrhistogram.Histogram) latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return latency{p50: ms(h.ValueAtQuantile(50)), p99: ms(h.ValueAtQuantile(99)), max: ms(h.Max())}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
