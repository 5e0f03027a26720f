package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/console"
)

// TestHandler serves the embedded files with the types browsers insist on
// for module scripts and stylesheets, and nothing else.
func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /console/", console.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, path   string
		wantStatus   int
		wantType     string
		wantContains string
	}{
		{name: "index", path: "/console/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantContains: `<script type="module" src="js/app.js">`},
		{name: "app module", path: "/console/js/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantContains: "import"},
		{name: "api module", path: "/console/js/api.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantContains: "graphql-transport-ws"},
		{name: "stylesheet", path: "/console/console.css", wantStatus: 200, wantType: "text/css; charset=utf-8", wantContains: ":root"},
		{name: "icon", path: "/console/icon.svg", wantStatus: 200, wantType: "image/svg+xml", wantContains: "<svg"},
		{name: "missing file", path: "/console/nope.js", wantStatus: 404},
		{name: "no directory listing", path: "/console/js/", wantStatus: 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, res.StatusCode)
			if tt.wantStatus != 200 {
				return
			}
			require.Equal(t, tt.wantType, res.Header.Get("Content-Type"))
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			require.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'")
			require.Contains(t, string(body), tt.wantContains)
		})
	}
}

// TestHandlerRevalidates answers a browser's revalidation with 304.
func TestHandlerRevalidates(t *testing.T) {
	h := console.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/js/app.js", nil))
	etag := rec.Header().Get("ETag")
	require.True(t, strings.HasPrefix(etag, `"`), "no ETag: %q", etag)

	req := httptest.NewRequest(http.MethodGet, "/console/js/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotModified, rec.Code)
}

// TestNoExternalResources keeps the console working offline: no file
// refers to another host.
func TestNoExternalResources(t *testing.T) {
	for _, p := range []string{"/console/", "/console/console.css", "/console/js/app.js", "/console/js/api.js", "/console/js/dom.js", "/console/js/inbox.js", "/console/js/setup.js"} {
		rec := httptest.NewRecorder()
		console.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		require.Equal(t, http.StatusOK, rec.Code, p)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import url("} {
			require.NotContains(t, rec.Body.String(), bad, p)
		}
	}
}
