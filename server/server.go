// Package server composes SeaChat's HTTP surface: one route table, the
// middleware every request passes through, the GraphQL handler with its
// transports, GraphiQL, health checks and metrics.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seachat/seachat/console"
	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/config"
	"github.com/seachat/seachat/internal/fairshare"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/server/graphiql"
)

// Readiness reports whether the process can serve: the database answers and
// its migrations were applied.
type Readiness interface {
	Ready(ctx context.Context) error
}

// Options are the server's dependencies.
type Options struct {
	Config   config.Config
	Client   *ent.Client
	Ready    Readiness
	Auth     *auth.Service
	Webhooks http.Handler // Meta's verification GET and event POSTs, at /webhooks/messenger/{key}
	Schema   graphql.ExecutableSchema
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Bus carries token revocations (auth.TopicTokenRevoked) from every
	// replica; the server closes the revoked tokens' websockets.
	Bus pubsub.Bus
	// Payloads bounds, per workspace, how many subscription events are
	// resolved at once; nil: no bound.
	Payloads *fairshare.Limiter
}

// Server is SeaChat's HTTP handler.
type Server struct {
	handler http.Handler
	logger  *slog.Logger

	tokens   *tokenChecker
	maxSubs  int
	payloads *fairshare.Limiter

	mu           sync.Mutex
	sockets      map[*websocketConn]struct{}
	pending      map[string]int // websockets before connection_init, by remote address
	pendingTotal int
	tokenSubs    map[int]int // subscriptions open, by token id
}

// New returns the server. With o.Bus, it watches token revocations until
// the bus is closed.
func New(o Options) *Server {
	s := &Server{
		logger:    o.Logger,
		tokens:    newTokenChecker(o.Auth.Active, time.Now),
		maxSubs:   o.Config.MaxSubscriptions,
		payloads:  o.Payloads,
		sockets:   map[*websocketConn]struct{}{},
		pending:   map[string]int{},
		tokenSubs: map[int]int{},
	}
	if s.maxSubs <= 0 {
		s.maxSubs = 50
	}
	if o.Bus != nil {
		go s.watchRevocations(o.Bus)
	}
	m := newMetrics(o.Registry)
	gql := s.graphqlHandler(o)

	mux := http.NewServeMux()
	gql = withCORS(o.Config.AllowedOrigins, gql)
	mux.Handle("POST /graphql", gql)
	mux.Handle("GET /graphql", gql) // websocket upgrades, and queries over GET
	mux.Handle("OPTIONS /graphql", gql)
	mux.Handle("GET /webhooks/messenger/{key}", o.Webhooks)
	mux.Handle("POST /webhooks/messenger/{key}", o.Webhooks)
	playground := graphiql.Handler() // the page at /, its files under /graphiql/
	mux.Handle("GET /{$}", playground)
	mux.Handle("GET "+graphiql.Prefix, playground)
	mux.Handle("GET /console/", console.Handler())
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := o.Ready.Ready(r.Context()); err != nil {
			o.Logger.WarnContext(r.Context(), "not ready", "error", err)
			http.Error(w, "not ready: database unreachable or not migrated", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if o.Config.MetricsAddr == "" {
		mux.Handle("GET /metrics", adminOnly(o.Auth, o.Logger, MetricsHandler(o.Registry)))
	}

	s.handler = s.recoverPanics(withRequestID(s.observe(m, mux)))
	return s
}

// MetricsHandler serves the registry's metrics in Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// adminOnly serves next to the built-in admin token only. Metrics are
// process-wide: they count every workspace's traffic.
func adminOnly(a *auth.Service, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
		switch {
		case err != nil && apperr.KindOf(err) == apperr.Unauthenticated:
			w.Header().Set("WWW-Authenticate", `Bearer realm="seachat"`)
			http.Error(w, apperr.Message(err)+" (metrics need the built-in admin token, or set SEACHAT_METRICS_ADDR)", http.StatusUnauthorized)
		case err != nil:
			logger.ErrorContext(r.Context(), "authenticating request", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		case !v.Admin:
			http.Error(w, "metrics need the built-in admin token (SEACHAT_ADMIN_TOKEN), or set SEACHAT_METRICS_ADDR", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// CloseWebsockets ends every open websocket connection. http.Server.Shutdown
// does not track hijacked connections, so call this from RegisterOnShutdown.
func (s *Server) CloseWebsockets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sockets {
		c.cancel(nil)
	}
}
