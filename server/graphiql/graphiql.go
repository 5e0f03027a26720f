// Package graphiql serves the GraphiQL playground at / entirely from the
// binary: our page and boot script, and pinned GraphiQL and React bundles
// vendored from the npm registry (see assets.sh). Nothing is loaded from
// another origin, so the playground works offline and under a strict
// Content-Security-Policy.
package graphiql

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is the URL path under which the page's scripts and stylesheets are
// served; the page itself is served at /.
const Prefix = "/graphiql/"

// contentTypes are set explicitly so the page does not depend on the host's
// mime.types: with nosniff, browsers refuse scripts served with another type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

// csp allows the page only its own files and the GraphQL endpoint over HTTP
// and websockets: 'self' covers same-origin ws: and wss: (CSP level 3), where
// a bare ws: would let a script reach any host. GraphiQL's stylesheet carries
// its fonts as data: URLs. Inline style is not needed: GraphiQL and
// CodeMirror style elements through the DOM, which CSP allows. The one
// <style> element GraphiQL adds, to lock the page's scrolling while a dialog
// is open, is refused (the browser logs it); the page fills the window and
// does not scroll anyway.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"font-src 'self' data:; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the page at / and its files under Prefix. Mount it on both.
func Handler() http.Handler {
	files := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(r.URL.Path, Prefix)
		}
		f, ok := files[name]
		if !ok || name == "index.html" && r.URL.Path != "/" { // one URL per file, no listings
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			h.Set("Content-Type", ct)
		}
		// Vendored files have their version in their path, so browsers may
		// keep them; our own files are revalidated by ETag, so a new binary
		// is picked up at once.
		if strings.HasPrefix(name, "vendor/") {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Set("ETag", f.etag)
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}

type file struct {
	body []byte
	etag string
}

// load reads and hashes every embedded file once, at start.
func load() map[string]file {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	m := map[string]file{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p] = file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return m
}
