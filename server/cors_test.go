package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store/storetest"
)

// TestCORS: browsers on SEACHAT_ALLOWED_ORIGINS may call /graphql (a
// preflight gets 204 with the methods and headers, the answer names the
// origin); other origins get no CORS headers (API.md, "Browsers and GraphQL
// clients").
func TestCORS(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"), "SEACHAT_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:*")
	request := func(method, origin string, headers ...string) *http.Response {
		t.Helper()
		body := strings.NewReader(`{"query":"{agents{id}}"}`)
		req, _ := http.NewRequest(method, e.url+"/graphql", body)
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}

	for _, origin := range []string{"https://app.example.com", "http://localhost:5173"} {
		res := request(http.MethodOptions, origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type, x-apollo-operation-name")
		require.Equal(t, http.StatusNoContent, res.StatusCode, origin)
		require.Equal(t, origin, res.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "GET, POST")
		allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-apollo-operation-name"} {
			require.Contains(t, allowed, h)
		}
		res = request(http.MethodPost, origin, "Content-Type", "application/json", "Authorization", "Bearer "+adminToken)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, origin, res.Header.Get("Access-Control-Allow-Origin"))
	}

	for _, origin := range []string{"https://evil.example.com", "http://app.example.com", "null"} {
		res := request(http.MethodOptions, origin, "Access-Control-Request-Method", "POST")
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"), origin)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Methods"), origin)
	}

	any := newEnv(t, storetest.Open(t, "sqlite"), "SEACHAT_ALLOWED_ORIGINS", "*")
	req, _ := http.NewRequest(http.MethodOptions, any.url+"/graphql", nil)
	req.Header.Set("Origin", "https://anything.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "https://anything.example", res.Header.Get("Access-Control-Allow-Origin"))
}
