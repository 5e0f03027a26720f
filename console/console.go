// Package console serves the built-in agent console: a small web page, at
// /console/, where staff watch conversations, take handoffs and set up
// agents. It is plain HTML, CSS and JavaScript modules embedded in the
// binary, with no build step, and it talks to SeaChat only through the public
// GraphQL API, so it doubles as the reference client for integrators.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
)

//go:embed static
var static embed.FS

// contentTypes are set explicitly so the page does not depend on the host's
// mime.types: browsers refuse module scripts served with another type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// csp allows the page only its own files and the GraphQL endpoint ('self'
// covers same-origin websockets). The page builds the DOM from text, never
// from HTML, so no inline script or style is needed.
const csp = "default-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's files. Mount it at "/console/".
func Handler() http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	etags := etags(root)
	files := http.FileServerFS(root)
	return http.StripPrefix("/console", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		if name == "/" {
			name = "/index.html"
		}
		etag, ok := etags[name[1:]]
		if !ok { // no directory listings
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			h.Set("Content-Type", ct)
		}
		// Embedded files have no modification time: the ETag lets browsers
		// revalidate cheaply, and no-cache makes them pick up a new binary.
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	}))
}

// etags hashes every file once, at start.
func etags(root fs.FS) map[string]string {
	m := map[string]string{}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return m
}
