package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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
	env := map[string]string{
		"DATABASE_URL": "sqlite://" + filepath.Join(dir, "seachat.db"),
		"SEACHAT_ADDR": "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	code := make(chan int, 1)
	go func() { code <- run(ctx, nil, func(k string) string { return env[k] }, out) }()

	endpoint := regexp.MustCompile(`GraphQL endpoint: +(\S+)`)
	token := regexp.MustCompile(`Admin token \(shown once, keep it safe\): (\S+)`)
	var url, admin string
	require.Eventually(t, func() bool {
		m, tk := endpoint.FindStringSubmatch(out.String()), token.FindStringSubmatch(out.String())
		if m == nil || tk == nil {
			return false
		}
		url, admin = m[1], tk[1]
		return true
	}, 20*time.Second, 20*time.Millisecond, "no endpoint or token printed:\n%s", out.String())

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

	cancel()
	select {
	case c := <-code:
		require.Equal(t, 0, c, out.String())
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	require.Equal(t, 1, strings.Count(out.String(), admin), "the admin token was printed more than once (or logged)")
	require.FileExists(t, filepath.Join(dir, "secret.key"))
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
