package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/seachat/seachat/graph"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/viewer"
)

// complexityLimit bounds the work one GraphQL operation can ask for. A
// connection counts its selections once per item of its page, and
// transcript, answer and agentStats what they load (graph/cost.go): the
// console's list of 100 conversations costs about 2,800, 100 conversations
// with 20 messages each about 12,600, a transcript 4,000.
const complexityLimit = 20000

// networkMutations call Meta or Gemini. They run without the mutation-wide
// transaction: their services use short transactions of their own, so a slow
// network never holds the database (on SQLite, its one write lock).
var networkMutations = []string{
	"connectMessengerPage", "checkMessengerChannel", "removeMessengerChannel", "sendAgentMessage",
}

func (s *Server) graphqlHandler(o Options) http.Handler {
	srv := handler.New(o.Schema)
	srv.AddTransport(transport.Websocket{
		Implementation: protocolImplementation{transport.CoderWebsocketImplementation{
			// Same-origin browsers and non-browser clients are always allowed.
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: o.Config.AllowedOrigins},
		}},
		InitFunc:              s.websocketInit(o),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second, // graphql-ws: "ka" messages
		PingPongInterval:      15 * time.Second, // graphql-transport-ws: ping, expecting pong
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getQuery{})
	srv.AddTransport(transport.SSE{})            // subscriptions for clients without websockets (graphql-sse, distinct connections)
	srv.AddTransport(transport.MultipartMixed{}) // @defer, streamed, for clients that accept multipart/mixed
	srv.AddTransport(postJSON{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: o.Config.MaxUploadBytes, MaxMemory: 8 << 20})
	srv.SetQueryCache(pageDefaults{lru.New[*ast.QueryDocument](1000)})
	srv.Use(extension.Introspection{}) // only reachable with a valid token
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(pageSize{}) // before the complexity limit: its errors say more
	srv.Use(costLimit{extension.FixedComplexityLimit(complexityLimit)})
	srv.Use(responseSize{limit: o.Config.MaxResponseBytes})
	srv.Use(maxDepth{limit: depthLimit})
	srv.Use(graph.Batching{}) // Conversation.unreadCount: one query per page
	limiter := newRateLimiter(o.Config.RateLimit, o.Config.RateBurst, time.Now)
	srv.AroundOperations(limiter.limitWebsocketOperations)
	srv.AroundOperations(s.checkWebsocketOperation)
	srv.AroundResponses(s.checkWebsocketEvent)
	srv.AroundFields(limitSubscriptionFields)
	srv.Use(transactioner{entgql.Transactioner{TxOpener: o.Client, SkipTxFunc: entgql.SkipIfHasFields(networkMutations...)}})
	srv.SetErrorPresenter(graph.ErrorPresenter(o.Logger))
	srv.SetRecoverFunc(graph.RecoverFunc(o.Logger))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			s.serveWebsocket(srv, w, r)
			return
		}
		limit := o.Config.MaxBodyBytes
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			limit = o.Config.MaxUploadBytes + 1<<20 // the file plus the operation parts
		}
		if !limitBody(limit, w, r) {
			return
		}
		v, err := o.Auth.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
		if err != nil {
			if apperr.KindOf(err) != apperr.Unauthenticated {
				o.Logger.ErrorContext(r.Context(), "authenticating request", "error", err)
			}
			writeAuthError(w, err)
			return
		}
		if ok, wait := limiter.allow(v.TokenID); !ok {
			writeRateLimited(w, wait)
			return
		}
		withErrorCodes(srv).ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), v)))
	})
}

func isWebsocket(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return strings.TrimSpace(h)
}

// writeAuthError answers 401 before any resolver runs, in the GraphQL
// response shape so clients can read extensions.code.
func writeAuthError(w http.ResponseWriter, err error) {
	kind := apperr.KindOf(err)
	status := http.StatusUnauthorized
	if kind != apperr.Unauthenticated {
		kind, status = apperr.Internal, http.StatusInternalServerError
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="seachat"`)
	writeError(w, status, apperr.Message(err), map[string]any{"code": kind.Code()})
}

// writeError answers status with one GraphQL error, for refusals made
// before a request reaches gqlgen (authentication, rate and socket limits).
func writeError(w http.ResponseWriter, status int, message string, extensions map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": extensions}},
	})
}
