package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/fairshare"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/viewer"
)

// Limits on websockets that have not finished connection_init. Each costs a
// goroutine and a socket for up to the init timeout without proving who
// opened it, so one address (and everyone together) may hold only so many.
// The address is the TCP peer's: behind a reverse proxy, every client shares
// the proxy's.
const (
	maxPendingPerAddr = 20
	maxPending        = 1000
)

// tokenRecheck is how long a websocket trusts the last check of its token:
// an operation started later looks again, so a revocation is honoured within
// this time even when its pubsub announcement never arrived.
const tokenRecheck = 500 * time.Millisecond

// closeForbidden is the close code of a websocket whose token is refused
// or was revoked (graphql-transport-ws's "forbidden").
const closeForbidden = 4403

// errTokenRevoked is the cancel cause of a websocket whose token was revoked.
var errTokenRevoked = errors.New("API token revoked")

const revokedMessage = "this API token was revoked: ask a workspace owner for a new one"

// websocketConn is an open GraphQL websocket. Its context carries it under
// websocketKey; fields other than cancel and addr are guarded by Server.mu.
type websocketConn struct {
	cancel  context.CancelCauseFunc
	addr    string
	pending bool // connection_init not done yet
	tokenID int  // the authenticated token, 0 before
	subs    int  // subscriptions open
}

// serveWebsocket runs a websocket connection until the client leaves, the
// server shuts down or the connection's token is revoked. Authentication
// happens in connection_init.
func (s *Server) serveWebsocket(h http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancelCause(r.Context())
	c := &websocketConn{cancel: cancel, addr: remoteHost(r), pending: true}
	s.mu.Lock()
	if s.pending[c.addr] >= maxPendingPerAddr || s.pendingTotal >= maxPending {
		s.mu.Unlock()
		cancel(nil)
		writeTooManyPending(w) // logged as an http request with status 429
		return
	}
	s.pending[c.addr]++
	s.pendingTotal++
	s.sockets[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.initDoneLocked(c)
		delete(s.sockets, c)
		s.mu.Unlock()
		cancel(nil)
	}()
	h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, websocketKey{}, c)))
}

// initDoneLocked stops counting c as waiting for connection_init.
func (s *Server) initDoneLocked(c *websocketConn) {
	if !c.pending {
		return
	}
	c.pending = false
	s.pendingTotal--
	if s.pending[c.addr]--; s.pending[c.addr] <= 0 {
		delete(s.pending, c.addr)
	}
}

// websocketInit authenticates the token in the connection_init payload
// ({"authorization": "Bearer <token>"}). A refused connection is closed with
// 4403, as graphql-transport-ws specifies.
func (s *Server) websocketInit(o Options) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		v, err := o.Auth.Authenticate(ctx, bearer(p.Authorization()))
		if err == nil && s.tokens.knownRevoked(v.TokenID) { // revoked while we looked it up
			err = apperr.Errorf(apperr.Unauthenticated, revokedMessage)
		}
		if c, ok := ctx.Value(websocketKey{}).(*websocketConn); ok {
			s.mu.Lock()
			s.initDoneLocked(c)
			if err == nil {
				c.tokenID = v.TokenID
			}
			s.mu.Unlock()
		}
		if err != nil {
			msg := apperr.Message(err)
			ctx = transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, "unauthenticated"), closeForbidden)
			return ctx, nil, errors.New(msg)
		}
		return viewer.NewContext(ctx, v), nil, nil
	}
}

// remoteHost is the IP address of the request's TCP peer.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeTooManyPending answers 429 before the upgrade, in the GraphQL
// response shape so clients can read extensions.code.
func writeTooManyPending(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusTooManyRequests, "too many websockets from your address have not sent connection_init yet: "+
		"authenticate the open ones (or close them) before opening more",
		map[string]any{"code": rateLimitedCode, "retryAfterSeconds": 1})
}

// checkWebsocketOperation guards each operation started over a websocket:
// its token must still be valid (else the operation is refused and the
// websocket closed with 4403), and a subscription must fit under the
// per-websocket and per-token caps (else it alone is refused).
func (s *Server) checkWebsocketOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	c, ok := ctx.Value(websocketKey{}).(*websocketConn)
	v, authenticated := viewer.FromContext(ctx)
	if !ok || !authenticated {
		return next(ctx)
	}
	revoked, err := s.tokens.revoked(ctx, v.TokenID)
	switch {
	case err != nil:
		s.logger.ErrorContext(ctx, "checking websocket token", "token_id", v.TokenID, "error", err)
		return oneShotError(apperr.Internal, "internal error")
	case revoked:
		// Close the websocket once the refusal is sent (the transport asks
		// for responses until nil), so the client reads why.
		refusal := oneShotError(apperr.Unauthenticated, revokedMessage)
		return func(ctx context.Context) *graphql.Response {
			resp := refusal(ctx)
			if resp == nil {
				c.cancel(errTokenRevoked)
			}
			return resp
		}
	}
	if graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	release, err := s.holdSubscription(c, v.TokenID)
	if err != nil {
		return oneShotError(apperr.KindOf(err), apperr.Message(err))
	}
	// The transport cancels an operation's context when it ends, however
	// it ends.
	context.AfterFunc(ctx, release)
	if s.payloads != nil {
		turn := &payloadTurn{limiter: s.payloads, workspaceID: v.WorkspaceID}
		context.AfterFunc(ctx, turn.leave)
		ctx = context.WithValue(ctx, payloadTurnKey{}, turn)
	}
	return next(ctx)
}

// checkWebsocketEvent gives back the payload slot of a subscription event
// once it is resolved (before it is written: a client slow to read holds no
// slot), and drops the event, and closes the websocket with 4403, when the
// token was revoked since the subscription started.
func (s *Server) checkWebsocketEvent(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	c, ok := ctx.Value(websocketKey{}).(*websocketConn)
	if resp == nil || !ok || !graphql.HasOperationContext(ctx) ||
		graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return resp
	}
	if turn, ok := ctx.Value(payloadTurnKey{}).(*payloadTurn); ok {
		turn.leave()
	}
	v, _ := viewer.FromContext(ctx)
	revoked, err := s.tokens.revoked(ctx, v.TokenID)
	if err != nil {
		// The payload was just loaded, so the database answers; a failed
		// check is not worth ending the stream for.
		s.logger.WarnContext(ctx, "checking websocket token", "token_id", v.TokenID, "error", err)
		return resp
	}
	if revoked {
		c.cancel(errTokenRevoked)
		return nil
	}
	return resp
}

// holdSubscription counts a new subscription of c and tokenID, or refuses it
// over the caps. release uncounts it (more calls do nothing).
func (s *Server) holdSubscription(c *websocketConn, tokenID int) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case c.subs >= s.maxSubs:
		return nil, apperr.Errorf(apperr.InvalidArgument, "subscription limit: this websocket already has %d subscriptions open, "+
			"the most allowed; complete one before starting another (one subscription without agentId or conversationId "+
			"receives the events of the whole workspace)", s.maxSubs)
	case s.tokenSubs[tokenID] >= s.maxSubs:
		return nil, apperr.Errorf(apperr.InvalidArgument, "subscription limit: this API token already has %d subscriptions open "+
			"on its websockets, the most allowed; complete one before starting another (one subscription without agentId "+
			"or conversationId receives the events of the whole workspace)", s.maxSubs)
	}
	c.subs++
	s.tokenSubs[tokenID]++
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		c.subs--
		if s.tokenSubs[tokenID]--; s.tokenSubs[tokenID] <= 0 {
			delete(s.tokenSubs, tokenID)
		}
	}), nil
}

func oneShotError(kind *apperr.Kind, msg string) graphql.ResponseHandler {
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
		Message: msg, Extensions: map[string]any{"code": kind.Code()},
	}}})
}

// payloadTurn is the slot of its workspace in Server.payloads that a
// subscription holds while it resolves an event. An event is resolved for
// every subscriber at once, and a heavy selection (a page of messages per
// event) costs queries and CPU per subscriber: one workspace's fan-out
// resolves only a few events at a time, so webhooks, queries and other
// workspaces keep their share of the database connections and the CPU.
//
// The first database-bound field of an event takes the slot
// (limitSubscriptionFields); checkWebsocketEvent gives it back once the
// response is ready.
type payloadTurn struct {
	limiter     *fairshare.Limiter
	workspaceID int

	mu      sync.Mutex // held while acquiring: the fields of one event take one slot
	release func()
}

type payloadTurnKey struct{}

func (t *payloadTurn) enter(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.release != nil {
		return nil
	}
	release, err := t.limiter.Acquire(ctx, t.workspaceID)
	if err != nil {
		return err
	}
	t.release = release
	return nil
}

func (t *payloadTurn) leave() {
	t.mu.Lock()
	release := t.release
	t.release = nil
	t.mu.Unlock()
	if release != nil {
		release()
	}
}

// limitSubscriptionFields makes a subscription event's fields that may query
// the database (resolvers and methods: edges, connections) wait for the
// subscription's payloadTurn.
func limitSubscriptionFields(ctx context.Context, next graphql.Resolver) (any, error) {
	turn, ok := ctx.Value(payloadTurnKey{}).(*payloadTurn)
	if !ok {
		return next(ctx)
	}
	if fc := graphql.GetFieldContext(ctx); fc == nil || !(fc.IsMethod || fc.IsResolver) || fc.Object == "Subscription" {
		return next(ctx)
	}
	if err := turn.enter(ctx); err != nil {
		return nil, err
	}
	return next(ctx)
}

// watchRevocations closes the websockets of every token revoked on any
// replica, as auth.Service.RevokeToken announces, until bus is closed. When
// announcements may have been missed (the subscription was dropped), it
// checks the tokens of all open websockets.
func (s *Server) watchRevocations(bus pubsub.Bus) {
	ctx := context.Background()
	for {
		sub, err := bus.Subscribe(ctx, auth.TopicTokenRevoked, nil)
		if errors.Is(err, pubsub.ErrClosed) {
			return
		}
		if err != nil {
			s.logger.Warn("watching token revocations", "error", err)
			time.Sleep(time.Second)
			continue
		}
		s.recheckSockets(ctx)
		for ev := range sub.Events() {
			s.closeTokenSockets(ev.ID)
		}
		if errors.Is(sub.Err(), pubsub.ErrClosed) {
			return
		}
		s.logger.Warn("token revocations interrupted, resubscribing", "reason", sub.Err())
	}
}

// closeTokenSockets closes the websockets of a revoked token with 4403.
func (s *Server) closeTokenSockets(tokenID int) {
	s.tokens.markRevoked(tokenID)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sockets {
		if c.tokenID == tokenID {
			c.cancel(errTokenRevoked)
		}
	}
}

// recheckSockets looks up the token of every open websocket and closes those
// revoked.
func (s *Server) recheckSockets(ctx context.Context) {
	s.mu.Lock()
	ids := map[int]bool{}
	for c := range s.sockets {
		if c.tokenID != 0 {
			ids[c.tokenID] = true
		}
	}
	s.mu.Unlock()
	for id := range ids {
		active, err := s.tokens.active(ctx, id)
		if err != nil {
			s.logger.Warn("rechecking websocket token", "token_id", id, "error", err)
			continue
		}
		if !active {
			s.closeTokenSockets(id)
		}
	}
}

// tokenChecker remembers for tokenRecheck whether tokens are still valid,
// so operations on websockets check their token without a query each.
type tokenChecker struct {
	active func(ctx context.Context, id int) (bool, error)
	now    func() time.Time

	mu        sync.Mutex
	checked   map[int]tokenCheck // by token id
	lastSweep time.Time
}

type tokenCheck struct {
	at      time.Time
	revoked bool
}

func newTokenChecker(active func(ctx context.Context, id int) (bool, error), now func() time.Time) *tokenChecker {
	return &tokenChecker{active: active, now: now, checked: map[int]tokenCheck{}}
}

// revoked reports whether the token was revoked, as of at most tokenRecheck
// ago. A revocation is final, so it is never looked up again.
func (t *tokenChecker) revoked(ctx context.Context, id int) (bool, error) {
	now := t.now()
	t.mu.Lock()
	c, ok := t.checked[id]
	t.mu.Unlock()
	if ok && (c.revoked || now.Sub(c.at) < tokenRecheck) {
		return c.revoked, nil
	}
	active, err := t.active(ctx, id)
	if err != nil {
		return false, err
	}
	t.set(id, tokenCheck{at: now, revoked: !active})
	return !active, nil
}

// knownRevoked reports whether the token is known to be revoked, without a
// query.
func (t *tokenChecker) knownRevoked(id int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checked[id].revoked
}

func (t *tokenChecker) markRevoked(id int) { t.set(id, tokenCheck{at: t.now(), revoked: true}) }

// set records a check. Checks older than a minute are forgotten: by then
// the websockets of a revoked token are closed, and a new one is refused
// by connection_init.
func (t *tokenChecker) set(id int, c tokenCheck) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.at.Sub(t.lastSweep) > time.Minute {
		for id, old := range t.checked {
			if c.at.Sub(old.at) > time.Minute {
				delete(t.checked, id)
			}
		}
		t.lastSweep = c.at
	}
	if old, ok := t.checked[id]; ok && old.revoked {
		c.revoked = true
	}
	t.checked[id] = c
}

// protocolImplementation accepts websockets like its embedded
// implementation, and makes them follow the graphql-transport-ws protocol
// where gqlgen does not (see protocolConn); it closes those ended by a
// revoked token with 4403 (gqlgen closes a canceled connection with 1000).
type protocolImplementation struct {
	transport.WebsocketImplementation
}

func (i protocolImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := i.WebsocketImplementation.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	return &protocolConn{WebsocketConn: c, ctx: r.Context(), active: map[string]bool{}}, nil
}

// protocolConn keeps the optional interfaces of the connection it wraps
// (the transport enforces read limits and pong deadlines through them).
//
// On graphql-transport-ws it reads each client message before gqlgen does
// and applies the rules gqlgen breaks: a ping is answered before
// connection_init too; a message that is not one of the protocol's closes
// with 4400, a subscribe before connection_ack with 4401, a second
// connection_init with 4429, a subscribe whose id is in use with 4409; the
// init timeout closes with 4408.
type protocolConn struct {
	transport.WebsocketConn
	ctx context.Context

	mu     sync.Mutex
	inited bool            // connection_init received
	acked  bool            // connection_ack sent
	active map[string]bool // operation ids running
}

// The close codes of graphql-transport-ws.
const (
	closeBadMessage        = 4400
	closeUnauthorized      = 4401
	closeInitTimeout       = 4408
	closeSubscriberExists  = 4409
	closeTooManyInitialise = 4429
)

// errProtocol ends the transport's read loop after protocolConn closed the
// websocket for breaking the protocol; it wraps net.ErrClosed, which the
// transport does not report as an error.
var errProtocol = fmt.Errorf("graphql-transport-ws protocol broken: %w", net.ErrClosed)

type wsEnvelope struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// NextReader implements transport.WebsocketConn.
func (c *protocolConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.WebsocketConn.NextReader()
		if err != nil || c.Subprotocol() != "graphql-transport-ws" {
			return typ, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		var m wsEnvelope
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			return typ, nil, c.closeProtocol(closeBadMessage, "Invalid message received")
		}
		code, reason, skip := c.check(m)
		if code != 0 {
			return typ, nil, c.closeProtocol(code, reason)
		}
		if skip {
			continue
		}
		return typ, bytes.NewReader(data), nil
	}
}

// check applies the protocol to a client message: a close code and reason
// when it breaks it, or skip when protocolConn answered it itself.
func (c *protocolConn) check(m wsEnvelope) (code int, reason string, skip bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case "connection_init":
		if c.inited {
			return closeTooManyInitialise, "Too many initialisation requests", false
		}
		c.inited = true
	case "ping":
		if !c.acked {
			c.mu.Unlock()
			err := c.WebsocketConn.WriteJSON(wsEnvelope{Type: "pong"})
			c.mu.Lock()
			return 0, "", err == nil
		}
	case "pong":
		return 0, "", !c.acked
	case "subscribe":
		switch {
		case !c.acked:
			return closeUnauthorized, "Unauthorized", false
		case m.ID == "":
			return closeBadMessage, "Invalid message received", false
		case c.active[m.ID]:
			return closeSubscriberExists, "Subscriber for " + m.ID + " already exists", false
		}
		c.active[m.ID] = true
	case "complete":
		delete(c.active, m.ID)
	default:
		return closeBadMessage, "Invalid message received", false
	}
	return 0, "", false
}

// WriteJSON implements transport.WebsocketConn, noting the acknowledgement
// and the end of operations.
func (c *protocolConn) WriteJSON(v any) error {
	if c.Subprotocol() == "graphql-transport-ws" {
		if b, err := json.Marshal(v); err == nil {
			var m wsEnvelope
			if json.Unmarshal(b, &m) == nil {
				c.mu.Lock()
				switch m.Type {
				case "connection_ack":
					c.acked = true
				case "complete", "error":
					delete(c.active, m.ID)
				}
				c.mu.Unlock()
			}
		}
	}
	return c.WebsocketConn.WriteJSON(v)
}

func (c *protocolConn) closeProtocol(code int, reason string) error {
	_ = c.WebsocketConn.WriteClose(code, reason)
	_ = c.WebsocketConn.Close()
	return errProtocol
}

func (c *protocolConn) WriteClose(code int, msg string) error {
	switch {
	case errors.Is(context.Cause(c.ctx), errTokenRevoked):
		code, msg = closeForbidden, "API token revoked"
	case c.Subprotocol() == "graphql-transport-ws" && msg == "connection initialisation timeout":
		code, msg = closeInitTimeout, "Connection initialisation timeout"
	}
	return c.WebsocketConn.WriteClose(code, msg)
}

func (c *protocolConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *protocolConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
