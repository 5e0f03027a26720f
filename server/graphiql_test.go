package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/seachat/seachat/internal/store/storetest"
)

// TestGraphiQLPage checks that GET / is served under a strict CSP with
// framing protection, and that everything the page loads comes from the
// binary: the playground must work on a machine without internet.
func TestGraphiQLPage(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(e.url + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		return res, string(b)
	}

	res, page := get("/")
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	csp := map[string]string{}
	for _, d := range strings.Split(res.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self'", // no inline script, no eval
		"style-src":       "'self'",
		"connect-src":     "'self'", // same-origin websockets too
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
	} {
		require.Equal(t, want, csp[name], "CSP %s", name)
	}
	require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))

	// Every script and stylesheet is a same-origin path the binary serves
	// with its type; no script is inline.
	wantType := map[string]string{"script": "text/javascript; charset=utf-8", "link": "text/css; charset=utf-8"}
	var refs []string
	z := html.NewTokenizer(strings.NewReader(page))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		tok := z.Token()
		if tok.Type != html.StartTagToken && tok.Type != html.SelfClosingTagToken {
			continue
		}
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[a.Key] = a.Val
		}
		var ref string
		switch {
		case tok.Data == "script":
			ref = attrs["src"]
			require.NotEmpty(t, ref, "a script without src")
			if z.Next() == html.TextToken {
				require.Empty(t, strings.TrimSpace(string(z.Text())), "inline script")
			}
		case tok.Data == "link" && attrs["rel"] == "stylesheet":
			ref = attrs["href"]
		default:
			continue
		}
		require.Regexp(t, `^/[^/]`, ref, "not a same-origin path")
		res, body := get(ref)
		require.Equal(t, wantType[tok.Data], res.Header.Get("Content-Type"), ref)
		require.NotEmpty(t, body, ref)
		refs = append(refs, ref)
	}
	require.Len(t, refs, 6, "GraphiQL's stylesheet and ours, React, ReactDOM, GraphiQL and boot.js: %v", refs)
	require.Contains(t, refs, "/graphiql/boot.js")

	// No URL to another host, in the page or in our script.
	_, boot := get("/graphiql/boot.js")
	abs := regexp.MustCompile(`(?i)(https?:|wss?:)?//[a-z0-9]`)
	require.Empty(t, abs.FindAllString(page, -1), "the page names another host")
	require.Empty(t, abs.FindAllString(boot, -1), "boot.js names another host")
}
