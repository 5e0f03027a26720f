package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRun starts SeaChat as `make run` does, on a fresh SQLite file, follows
// the README's first session with the printed admin token, and stops it as
// SIGTERM would.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	url, admin, out, stop := start(t, map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(dir, "seachat.db")})

	res, err := http.Get(strings.TrimSuffix(url, "/graphql") + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(
		`{"query":"mutation { createAgent(input: {name: \"Harbor Bikes\"}) { id name handoffCommand } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var resp struct {
		Data struct {
			CreateAgent struct{ Name, HandoffCommand string }
		}
		Errors []any
	}
	require.NoError(t, json.Unmarshal(body, &resp), "%s", body)
	require.Empty(t, resp.Errors, "%s", body)
	require.Equal(t, "Harbor Bikes", resp.Data.CreateAgent.Name)

	stop()
	require.Equal(t, 1, strings.Count(out.String(), admin), "the admin token was printed more than once (or logged)")
	require.FileExists(t, filepath.Join(dir, "secret.key"))
}

// start runs SeaChat on a free port with env added and waits until it
// prints its endpoint and admin token; stop ends it as SIGTERM would and
// checks it exits 0.
func start(t *testing.T, env map[string]string) (url, admin string, out *lockedBuffer, stop func()) {
	t.Helper()
	env["SEACHAT_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out = &lockedBuffer{}
	code := make(chan int, 1)
	go func() { code <- run(ctx, nil, func(k string) string { return env[k] }, out) }()

	endpoint := regexp.MustCompile(`GraphQL endpoint: +(\S+)`)
	token := regexp.MustCompile(`Admin token \(shown once, keep it safe\): (\S+)`)
	require.Eventually(t, func() bool {
		m, tk := endpoint.FindStringSubmatch(out.String()), token.FindStringSubmatch(out.String())
		if m == nil || tk == nil {
			return false
		}
		url, admin = m[1], tk[1]
		return true
	}, 20*time.Second, 20*time.Millisecond, "no endpoint or token printed:\n%s", out.String())
	return url, admin, out, func() {
		t.Helper()
		cancel()
		select {
		case c := <-code:
			require.Equal(t, 0, c, out.String())
		case <-time.After(20 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	}
}

// TestTimeoutsAndMetricsAddr: a client that stops sending its request is
// cut off after SEACHAT_READ_TIMEOUT while a websocket outlives it; with
// SEACHAT_METRICS_ADDR, /metrics is served there without a token.
func TestTimeoutsAndMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	url, admin, out, stop := start(t, map[string]string{
		"DATABASE_URL":         "sqlite://" + filepath.Join(dir, "seachat.db"),
		"SEACHAT_READ_TIMEOUT": "1s",
		"SEACHAT_METRICS_ADDR": "127.0.0.1:0",
	})
	defer stop()
	base := strings.TrimSuffix(url, "/graphql")

	metricsAddr := regexp.MustCompile(`"msg":"serving metrics","addr":"([^"]+)"`).FindStringSubmatch(out.String())
	require.NotNil(t, metricsAddr, "metrics address not logged:\n%s", out.String())
	res, err := http.Get("http://" + metricsAddr[1] + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, strings.Contains(string(body), "seachat_pubsub_subscribers"), "no SeaChat metrics")

	// A request whose body never comes: the server hangs up.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Authorization: Bearer "+admin+"\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	began := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the connection was not closed by the server")
	require.Less(t, time.Since(began), 5*time.Second)

	// A websocket lives past the read timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, wsjson.Write(ctx, ws, map[string]any{"type": "connection_init", "payload": map[string]string{"authorization": "Bearer " + admin}}))
	var msg struct{ Type string }
	require.NoError(t, wsjson.Read(ctx, ws, &msg))
	require.Equal(t, "connection_ack", msg.Type)
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, wsjson.Write(ctx, ws, map[string]any{"type": "ping"}))
	require.NoError(t, wsjson.Read(ctx, ws, &msg), "the websocket was closed by the read timeout")
	require.Equal(t, "pong", msg.Type)

	// So does a subscription over server-sent events.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url,
		strings.NewReader(`{"query":"subscription{knowledgeSourceUpdated{title status}}"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+admin)
	sse, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer sse.Body.Close()
	require.Equal(t, http.StatusOK, sse.StatusCode)
	events := bufio.NewScanner(sse.Body)
	require.True(t, events.Scan(), "the stream did not start")
	time.Sleep(1500 * time.Millisecond)
	post := func(query string) string {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(query))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	agentID := regexp.MustCompile(`"id":"(\d+)"`).FindStringSubmatch(post(`{"query":"mutation{createAgent(input:{name:\"A\"}){id}}"}`))
	require.NotNil(t, agentID)
	post(`{"query":"mutation{addKnowledgeText(agentId:\"` + agentID[1] + `\",title:\"Hours\",text:\"We open at 9.\"){id}}"}`)
	for events.Scan() {
		if strings.HasPrefix(events.Text(), "data:") {
			require.Contains(t, events.Text(), "Hours")
			return
		}
	}
	t.Fatalf("the event stream ended: %v", events.Err())
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct{ name, key, value, want string }{
		{"postgres without key", "DATABASE_URL", "postgres://localhost/x", "SEACHAT_SECRET_KEY is required"},
		{"bad secret key", "SEACHAT_SECRET_KEY", "short", "SEACHAT_SECRET_KEY"},
		{"bad database url", "DATABASE_URL", "mysql://x", "DATABASE_URL"},
		{"bad addr", "SEACHAT_ADDR", "nohost", "SEACHAT_ADDR"},
		{"bad log format", "SEACHAT_LOG_FORMAT", "xml", "SEACHAT_LOG_FORMAT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &lockedBuffer{}
			code := run(context.Background(), nil, func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			}, out)
			require.Equal(t, 2, code)
			require.Contains(t, out.String(), tt.want)
		})
	}
}
