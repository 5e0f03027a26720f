package graphiql

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVendoredFilesMatchChecksums checks, offline, that the embedded vendor
// tree is exactly what assets.sha256 records: no file edited, added or lost.
func TestVendoredFilesMatchChecksums(t *testing.T) {
	f, err := os.Open("assets.sha256")
	require.NoError(t, err)
	defer f.Close()
	want := map[string]string{}
	for s := bufio.NewScanner(f); s.Scan(); {
		sum, name, ok := strings.Cut(s.Text(), "  ")
		require.True(t, ok, "malformed line %q", s.Text())
		want[name] = sum
	}
	got := map[string]string{}
	vendor, err := fs.Sub(static, "static/vendor")
	require.NoError(t, err)
	require.NoError(t, fs.WalkDir(vendor, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(vendor, p)
		sum := sha256.Sum256(b)
		got[p] = hex.EncodeToString(sum[:])
		return err
	}))
	require.Equal(t, want, got)
}

func TestHandler(t *testing.T) {
	h := Handler()
	for _, tt := range []struct {
		path, wantCache string
		wantStatus      int
	}{
		{"/", "no-cache", 200},
		{"/graphiql/boot.js", "no-cache", 200},
		{"/graphiql/page.css", "no-cache", 200},
		{"/graphiql/vendor/graphiql-3.9.0/graphiql.min.js", "public, max-age=31536000, immutable", 200},
		{"/graphiql/index.html", "", 404},
		{"/graphiql/", "", 404},
		{"/graphiql/vendor/", "", 404},
		{"/graphiql/nope.js", "", 404},
	} {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			require.Equal(t, tt.wantStatus, rec.Code)
			require.Equal(t, tt.wantCache, rec.Header().Get("Cache-Control"))
			if tt.wantStatus != 200 {
				return
			}
			// A browser holding the same ETag gets 304.
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusNotModified, rec.Code)
		})
	}
}
