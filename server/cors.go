package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// corsMaxAge is how long, in seconds, browsers may cache a preflight.
const corsMaxAge = "600"

// originAllowed reports whether a browser origin ("https://app.example.com")
// may call the API from another origin. Patterns are those of
// SEACHAT_ALLOWED_ORIGINS, matched as the websocket library matches them: a
// pattern with "://" against scheme and host, any other against the host
// alone, with path.Match wildcards ("*" allows every origin).
func originAllowed(patterns []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// withCORS lets browsers on the allowed origins call next: a preflight
// (OPTIONS) is answered 204 with the methods and headers allowed, and
// every other response names the origin in Access-Control-Allow-Origin.
// Other origins get no CORS headers, so their browsers refuse the answer.
// Tokens are bearer headers, never cookies, so credentials are not allowed.
func withCORS(patterns []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		allowed := origin != "" && originAllowed(patterns, origin)
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if allowed {
			headers := "Authorization, Content-Type, Accept"
			if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
				headers += ", " + asked
			}
			w.Header().Add("Vary", "Access-Control-Request-Headers")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", headers)
			w.Header().Set("Access-Control-Max-Age", corsMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
