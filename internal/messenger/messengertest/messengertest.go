// Package messengertest is a fake Meta Graph API for tests: an httptest
// server that speaks the JSON of the calls SeaChat makes (GET /me,
// subscribed_apps, the Send API, sender actions, user profiles), knows a set
// of Pages by their access tokens, and records what it was sent.
package messengertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seachat/seachat/internal/messenger"
)

// Page is a Facebook Page the fake knows, and its access token.
type Page struct {
	ID, Name, Token string
}

// Sent is one text message the fake accepted.
type Sent struct {
	PageID        string
	PSID          string
	Text          string
	MessagingType string
	Tag           string
	Metadata      string
	QuickReplies  []messenger.QuickReply
	MID           string // the message_id the fake answered
}

// Failure is an error answer, as Meta shapes them (MESSENGER.md §5.3).
type Failure struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Transient  bool
	Message    string
}

// Failures the tests use.
var (
	FailOutsideWindow = Failure{400, 10, 2018278, false, "(#10) This message is sent outside of allowed window."}
	FailUnavailable   = Failure{400, 551, 1545041, false, "This person isn't available right now."}
	FailTokenInvalid  = Failure{400, 190, 460, false, "Error validating access token: The session has been invalidated."}
	FailAppNotLive    = Failure{400, 200, 2018028, false, "(#200) Cannot message users who are not admins, developers or testers of the app until pages_messaging permission is reviewed and the app is live."}
	FailTemporary     = Failure{500, 2, 0, true, "An unexpected error has occurred. Please retry your request later."}
)

// Graph is the fake Graph API. Server is set by New.
type Graph struct {
	*httptest.Server

	mu       sync.Mutex
	pages    map[string]Page     // by token
	subs     map[string][]string // page ID → subscribed fields
	sent     []Sent
	actions  []messenger.Action
	failures []Failure
	next     int
	notify   chan struct{}
}

// New starts a fake Graph API that knows pages; it is closed when the test ends.
func New(t testing.TB, pages ...Page) *Graph {
	g := &Graph{}
	g.Server = httptest.NewServer(g.Handler(pages...))
	t.Cleanup(g.Close)
	return g
}

// Handler returns the fake as an http.Handler knowing pages, for serving it
// outside tests (cmd/fakegraph). It resets what the fake recorded.
func (g *Graph) Handler(pages ...Page) http.Handler {
	g.mu.Lock()
	g.pages, g.subs, g.notify = map[string]Page{}, map[string][]string{}, make(chan struct{}, 1)
	for _, p := range pages {
		g.pages[p.Token] = p
	}
	g.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v25.0/me", g.me)
	mux.HandleFunc("POST /v25.0/me/messages", g.messages)
	mux.HandleFunc("GET /v25.0/{page}/subscribed_apps", g.subscribedApps)
	mux.HandleFunc("POST /v25.0/{page}/subscribed_apps", g.subscribe)
	mux.HandleFunc("DELETE /v25.0/{page}/subscribed_apps", g.unsubscribe)
	mux.HandleFunc("GET /v25.0/{psid}", g.profile)
	return mux
}

// FailNext makes the next Send API calls fail, in order.
func (g *Graph) FailNext(f ...Failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, f...)
}

// Revoke makes a page's token invalid, as a password change would.
func (g *Graph) Revoke(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pages, token)
}

// Sent returns the text messages accepted so far.
func (g *Graph) Sent() []Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Sent(nil), g.sent...)
}

// Actions returns the sender actions accepted so far.
func (g *Graph) Actions() []messenger.Action {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]messenger.Action(nil), g.actions...)
}

// Subscribed returns the fields page is subscribed to.
func (g *Graph) Subscribed(pageID string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.subs[pageID]...)
}

// WaitSent waits until at least n messages were accepted and returns them.
func (g *Graph) WaitSent(t testing.TB, n int, timeout time.Duration) []Sent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if s := g.Sent(); len(s) >= n {
			return s
		}
		select {
		case <-g.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the fake Graph API got %d messages, want %d: %+v", len(g.Sent()), n, g.Sent())
		}
	}
}

func (g *Graph) page(r *http.Request) (Page, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pages[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return p, ok
}

func (g *Graph) authed(w http.ResponseWriter, r *http.Request) (Page, bool) {
	p, ok := g.page(r)
	if !ok {
		writeError(w, FailTokenInvalid)
	}
	return p, ok
}

func (g *Graph) me(w http.ResponseWriter, r *http.Request) {
	if p, ok := g.authed(w, r); ok {
		writeJSON(w, map[string]string{"id": p.ID, "name": p.Name})
	}
}

func (g *Graph) subscribedApps(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authed(w, r); !ok {
		return
	}
	g.mu.Lock()
	fields := g.subs[r.PathValue("page")]
	g.mu.Unlock()
	data := []any{}
	if len(fields) > 0 {
		data = append(data, map[string]any{"id": "1517776481860111", "name": "SeaChat", "subscribed_fields": fields})
	}
	writeJSON(w, map[string]any{"data": data})
}

func (g *Graph) subscribe(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authed(w, r); !ok {
		return
	}
	r.ParseForm()
	g.mu.Lock()
	g.subs[r.PathValue("page")] = strings.Split(r.Form.Get("subscribed_fields"), ",")
	g.mu.Unlock()
	writeJSON(w, map[string]bool{"success": true})
}

func (g *Graph) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authed(w, r); !ok {
		return
	}
	g.mu.Lock()
	delete(g.subs, r.PathValue("page"))
	g.mu.Unlock()
	writeJSON(w, map[string]bool{"success": true})
}

func (g *Graph) profile(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authed(w, r); !ok {
		return
	}
	psid := r.PathValue("psid")
	writeJSON(w, map[string]string{"first_name": "Ada", "last_name": "User " + psid})
}

func (g *Graph) messages(w http.ResponseWriter, r *http.Request) {
	p, ok := g.authed(w, r)
	if !ok {
		return
	}
	var body struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		MessagingType string `json:"messaging_type"`
		Tag           string `json:"tag"`
		SenderAction  string `json:"sender_action"`
		Message       *struct {
			Text         string `json:"text"`
			Metadata     string `json:"metadata"`
			QuickReplies []struct {
				Title   string `json:"title"`
				Payload string `json:"payload"`
			} `json:"quick_replies"`
		} `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Recipient.ID == "" {
		writeError(w, Failure{400, 100, 0, false, "(#100) Invalid parameter"})
		return
	}
	g.mu.Lock()
	if body.SenderAction != "" {
		g.actions = append(g.actions, messenger.Action(body.SenderAction))
		g.mu.Unlock()
		writeJSON(w, map[string]string{"recipient_id": body.Recipient.ID})
		return
	}
	if len(g.failures) > 0 {
		f := g.failures[0]
		g.failures = g.failures[1:]
		g.mu.Unlock()
		writeError(w, f)
		return
	}
	if body.Message == nil || body.Message.Text == "" || body.MessagingType == "" {
		g.mu.Unlock()
		writeError(w, Failure{400, 100, 0, false, "(#100) message and messaging_type are required"})
		return
	}
	g.next++
	s := Sent{PageID: p.ID, PSID: body.Recipient.ID, Text: body.Message.Text, MessagingType: body.MessagingType,
		Tag: body.Tag, Metadata: body.Message.Metadata, MID: fmt.Sprintf("m_fake_%d", g.next)}
	for _, q := range body.Message.QuickReplies {
		s.QuickReplies = append(s.QuickReplies, messenger.QuickReply{Title: q.Title, Payload: q.Payload})
	}
	g.sent = append(g.sent, s)
	g.mu.Unlock()
	select {
	case g.notify <- struct{}{}:
	default:
	}
	writeJSON(w, map[string]string{"recipient_id": s.PSID, "message_id": s.MID})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, f Failure) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.HTTPStatus)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": f.Message, "type": "OAuthException", "code": f.Code, "error_subcode": f.Subcode,
		"is_transient": f.Transient, "fbtrace_id": "AxFakeTrace",
	}})
}
