// Package messengertest is a fake Meta Graph API for tests: an httptest
// server that speaks the JSON of the calls SeaChat makes (GET /me,
// subscribed_apps, the Send API, sender actions, user profiles). It knows a
// set of Pages by their access tokens, checks appsecret_proof for Pages
// that have an app secret, keeps each Page's subscription, logs every
// request and records what it was sent. Knobs make it fail as Meta does.
package messengertest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seachat/seachat/internal/messenger"
)

// Page is a Facebook Page the fake knows, and its access token.
type Page struct {
	ID, Name, Token string
	// Secret is the app secret, if any. When it is set, the fake acts as an
	// app with "Require App Secret": every call with Token must carry the
	// matching appsecret_proof.
	Secret string
}

// The apps that subscribed_apps lists.
const (
	AppID      = "1517776481860111" // SeaChat's app
	OtherAppID = "263902037430900"  // the Page Inbox, listed with Knobs.OtherApps
)

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
	FailInvalidParam  = Failure{400, 100, 0, false, "(#100) Invalid parameter"}
)

// Failures the fake answers of itself.
var (
	failBadProof  = Failure{400, 100, 0, false, "Invalid appsecret_proof provided in the API argument"}
	failNoProof   = Failure{400, 100, 0, false, "API calls from the server require an appsecret_proof argument"}
	failNoProfile = Failure{400, 100, 2018218, false, "No profile available for this user."}
	failOtherPage = Failure{400, 210, 0, false, "(#210) A page access token is required to request this resource."}
)

// requiredFields are the webhook fields Knobs.RefuseOptional still accepts.
var requiredFields = []string{"messages", "messaging_postbacks", "message_echoes"}

// Knobs make the fake fail as Meta does. Change them with Graph.Set.
type Knobs struct {
	Outage           bool    // every call answers FailTemporary (HTTP 500)
	SendErr          Failure // when set, every Send API call (sender actions too) answers it
	UnsubscribeErr   bool    // DELETE subscribed_apps answers FailTemporary
	RefuseOptional   bool    // subscribing fields other than messages, messaging_postbacks, message_echoes is refused
	DropMessages     bool    // subscriptions never include messages
	OtherApps        bool    // another app (OtherAppID) is subscribed to every Page too
	NoDefaultProfile bool    // a PSID without SetProfile has no profile, instead of "Ada User <psid>"
	// MessengerProfileErr, when set, is the answer to setting the Page's
	// Messenger profile.
	MessengerProfileErr Failure
}

// Request is a call the fake received, without its token.
type Request struct {
	Method, Path string
	Page         string // the Page of the bearer token (revoked or not), "" if unknown
	Fields       string // the subscribed_fields parameter
	Proof        bool   // appsecret_proof was sent
}

// Graph is the fake Graph API. Server is set by New.
type Graph struct {
	*httptest.Server

	mu           sync.Mutex
	pages        map[string]Page                       // by token
	revoked      map[string]bool                       // tokens
	subs         map[string][]string                   // page ID → our app's subscribed fields
	profiles     map[string]messenger.Profile          // by PSID
	pageProfiles map[string]messenger.MessengerProfile // by page ID
	knobs        Knobs
	reqs         []Request
	sent         []Sent
	actions      []messenger.Action
	failures     []Failure
	next         int
	onSend       func(Sent)
	notify       chan struct{}
}

// New starts a fake Graph API that knows pages; it is closed when the test ends.
func New(t testing.TB, pages ...Page) *Graph {
	g := &Graph{}
	g.Server = httptest.NewServer(g.Handler(pages...))
	t.Cleanup(g.Close)
	return g
}

// Handler returns the fake as an http.Handler knowing pages, for serving it
// outside tests (cmd/fakegraph). It resets the fake: what it recorded, its
// knobs, profiles and subscriptions.
func (g *Graph) Handler(pages ...Page) http.Handler {
	g.mu.Lock()
	g.pages, g.revoked, g.subs = map[string]Page{}, map[string]bool{}, map[string][]string{}
	g.profiles, g.knobs, g.reqs = map[string]messenger.Profile{}, Knobs{}, nil
	g.pageProfiles = map[string]messenger.MessengerProfile{}
	g.sent, g.actions, g.failures, g.next, g.onSend = nil, nil, nil, 0, nil
	g.notify = make(chan struct{}, 1)
	for _, p := range pages {
		g.pages[p.Token] = p
	}
	g.mu.Unlock()

	mux := http.NewServeMux()
	route := func(pattern string, h func(*http.Request, Page) (any, Failure)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p, f := g.admit(r)
			var v any
			if f == (Failure{}) {
				v, f = h(r, p)
			}
			if f != (Failure{}) {
				writeError(w, f)
				return
			}
			writeJSON(w, v)
		})
	}
	v := "/" + messenger.APIVersion
	route("GET "+v+"/me", g.me)
	route("POST "+v+"/me/messages", g.messages)
	route("GET "+v+"/{page}/subscribed_apps", g.subscribedApps)
	route("POST "+v+"/{page}/subscribed_apps", g.subscribe)
	route("DELETE "+v+"/{page}/subscribed_apps", g.unsubscribe)
	route("POST "+v+"/me/messenger_profile", g.setMessengerProfile)
	route("DELETE "+v+"/me/messenger_profile", g.deleteMessengerProfile)
	route("GET "+v+"/{psid}", g.profile)
	route("/", func(r *http.Request, _ Page) (any, Failure) {
		return nil, Failure{400, 2500, 0, false, "Unknown path components: " + r.URL.Path}
	})
	return mux
}

// Set changes the fake's knobs.
func (g *Graph) Set(f func(k *Knobs)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.knobs)
}

// FailNext makes the next text messages fail, one failure each, in order.
func (g *Graph) FailNext(f ...Failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, f...)
}

// Revoke makes a page's token invalid, as a password change would.
func (g *Graph) Revoke(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.revoked[token] = true
}

// Restore makes a revoked token valid again.
func (g *Graph) Restore(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.revoked, token)
}

// DropSubscription forgets that pageID is subscribed to the app, as when
// someone removes the app from the Page.
func (g *Graph) DropSubscription(pageID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.subs, pageID)
}

// SetProfile sets the profile the fake answers for psid.
func (g *Graph) SetProfile(psid string, p messenger.Profile) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.profiles[psid] = p
}

// OnSend calls f with every text message the fake accepts, before it
// answers, outside its lock.
func (g *Graph) OnSend(f func(Sent)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onSend = f
}

// Sent returns the text messages accepted so far.
func (g *Graph) Sent() []Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sent)
}

// Actions returns the sender actions accepted so far.
func (g *Graph) Actions() []messenger.Action {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.actions)
}

// Subscribed returns the fields page is subscribed to.
func (g *Graph) Subscribed(pageID string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.subs[pageID])
}

// Requests returns the requests received since the fake started or since
// ResetRequests, failed ones included.
func (g *Graph) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.reqs)
}

// ResetRequests empties the request log (and so the counts below).
func (g *Graph) ResetRequests() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = nil
}

// Count counts the logged requests with method whose path ends in pathSuffix.
func (g *Graph) Count(method, pathSuffix string) int {
	return g.count(func(r Request) bool { return r.Method == method && strings.HasSuffix(r.Path, pathSuffix) })
}

// Calls counts the logged Send API requests (text messages and sender
// actions), failed ones included.
func (g *Graph) Calls() int { return g.Count(http.MethodPost, "/me/messages") }

// ProfileCalls counts the logged user profile requests.
func (g *Graph) ProfileCalls() int {
	prefix := "/" + messenger.APIVersion + "/"
	return g.count(func(r Request) bool {
		node, ok := strings.CutPrefix(r.Path, prefix)
		return r.Method == http.MethodGet && ok && node != "me" && !strings.Contains(node, "/")
	})
}

func (g *Graph) count(match func(Request) bool) int {
	n := 0
	for _, r := range g.Requests() {
		if match(r) {
			n++
		}
	}
	return n
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

// admit logs r and lets it through as Meta would: not during an outage, not
// with an unknown or revoked token, not without the right appsecret_proof.
func (g *Graph) admit(r *http.Request) (Page, Failure) {
	_ = r.ParseForm() // the query, and the body if it is a form
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	p, known := g.pages[token]
	g.reqs = append(g.reqs, Request{Method: r.Method, Path: r.URL.Path, Page: p.ID,
		Fields: r.Form.Get("subscribed_fields"), Proof: r.Form.Has("appsecret_proof")})
	outage, revoked := g.knobs.Outage, g.revoked[token]
	g.mu.Unlock()
	switch {
	case outage:
		return p, FailTemporary
	case !known || revoked:
		return p, FailTokenInvalid
	case p.Secret != "" && !r.Form.Has("appsecret_proof"):
		return p, failNoProof
	case p.Secret != "" && !hmac.Equal([]byte(r.Form.Get("appsecret_proof")), []byte(proof(p.Secret, token))):
		return p, failBadProof
	}
	return p, Failure{}
}

func (g *Graph) me(_ *http.Request, p Page) (any, Failure) {
	return map[string]string{"id": p.ID, "name": p.Name}, Failure{}
}

func (g *Graph) subscribedApps(r *http.Request, p Page) (any, Failure) {
	if r.PathValue("page") != p.ID {
		return nil, failOtherPage
	}
	type app struct {
		Category string   `json:"category"`
		Link     string   `json:"link"`
		Name     string   `json:"name"`
		ID       string   `json:"id"`
		Fields   []string `json:"subscribed_fields"`
	}
	data := []app{}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.knobs.OtherApps {
		data = append(data, app{"Business", "https://example.com/inbox", "Page Inbox", OtherAppID, []string{"messages", "message_echoes"}})
	}
	if fields, ok := g.subs[p.ID]; ok {
		data = append(data, app{"Business", "https://seachat.example", "SeaChat", AppID, slices.Clone(fields)})
	}
	return map[string]any{"data": data}, Failure{}
}

func (g *Graph) subscribe(r *http.Request, p Page) (any, Failure) {
	if r.PathValue("page") != p.ID {
		return nil, failOtherPage
	}
	fields := strings.Split(r.Form.Get("subscribed_fields"), ",")
	g.mu.Lock()
	defer g.mu.Unlock()
	optional := slices.IndexFunc(fields, func(f string) bool { return !slices.Contains(requiredFields, f) })
	if g.knobs.RefuseOptional && optional >= 0 {
		return nil, Failure{400, 100, 0, false, fmt.Sprintf("(#100) Param subscribed_fields must be one of {%s} - got %q",
			strings.Join(requiredFields, ", "), fields[optional])}
	}
	if g.knobs.DropMessages {
		fields = slices.DeleteFunc(fields, func(f string) bool { return f == "messages" })
	}
	g.subs[p.ID] = fields
	return map[string]bool{"success": true}, Failure{}
}

func (g *Graph) unsubscribe(r *http.Request, p Page) (any, Failure) {
	if r.PathValue("page") != p.ID {
		return nil, failOtherPage
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.knobs.UnsubscribeErr {
		return nil, FailTemporary
	}
	delete(g.subs, p.ID)
	return map[string]bool{"success": true}, Failure{}
}

func (g *Graph) setMessengerProfile(r *http.Request, p Page) (any, Failure) {
	var body messenger.MessengerProfile
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return nil, Failure{400, 100, 0, false, "(#100) Invalid JSON: " + err.Error()}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.knobs.MessengerProfileErr != (Failure{}) {
		return nil, g.knobs.MessengerProfileErr
	}
	if len(body.PersistentMenu) > 0 && body.GetStarted == nil && g.pageProfiles[p.ID].GetStarted == nil {
		return nil, Failure{400, 100, 2018145, false, "(#100) You must set a Get Started button if you also wish to use persistent menu."}
	}
	for _, gr := range body.Greeting {
		if len([]rune(gr.Text)) > messenger.MaxGreetingLength {
			return nil, Failure{400, 100, 0, false, "(#100) Param greeting[0][text] must be at most 160 characters long."}
		}
	}
	cur := g.pageProfiles[p.ID]
	if body.GetStarted != nil {
		cur.GetStarted = body.GetStarted
	}
	if body.Greeting != nil {
		cur.Greeting = body.Greeting
	}
	if body.PersistentMenu != nil {
		cur.PersistentMenu = body.PersistentMenu
	}
	g.pageProfiles[p.ID] = cur
	return map[string]string{"result": "success"}, Failure{}
}

func (g *Graph) deleteMessengerProfile(r *http.Request, p Page) (any, Failure) {
	var body struct{ Fields []string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Fields) == 0 {
		return nil, Failure{400, 100, 0, false, "(#100) param fields must be non-empty."}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.pageProfiles[p.ID]
	for _, f := range body.Fields {
		switch f {
		case "get_started":
			cur.GetStarted = nil
		case "greeting":
			cur.Greeting = nil
		case "persistent_menu":
			cur.PersistentMenu = nil
		}
	}
	g.pageProfiles[p.ID] = cur
	return map[string]string{"result": "success"}, Failure{}
}

// MessengerProfile returns the Messenger profile set on the page.
func (g *Graph) MessengerProfile(pageID string) messenger.MessengerProfile {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pageProfiles[pageID]
}

func (g *Graph) profile(r *http.Request, _ Page) (any, Failure) {
	psid := r.PathValue("psid")
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.profiles[psid]; ok {
		return p, Failure{}
	}
	if g.knobs.NoDefaultProfile {
		return nil, failNoProfile
	}
	return messenger.Profile{FirstName: "Ada", LastName: "User " + psid}, Failure{}
}

// sendBody is a Send API request.
type sendBody struct {
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

func (g *Graph) messages(r *http.Request, p Page) (any, Failure) {
	var body sendBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Recipient.ID == "" {
		return nil, FailInvalidParam
	}
	s, hook, f := g.accept(p, body)
	if f != (Failure{}) {
		return nil, f
	}
	if body.SenderAction != "" {
		return map[string]string{"recipient_id": body.Recipient.ID}, Failure{}
	}
	if hook != nil {
		hook(s)
	}
	select {
	case g.notify <- struct{}{}:
	default:
	}
	return map[string]string{"recipient_id": s.PSID, "message_id": s.MID}, Failure{}
}

// accept records a sender action or a text message, or says how it fails.
func (g *Graph) accept(p Page, body sendBody) (Sent, func(Sent), Failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.knobs.SendErr != (Failure{}):
		return Sent{}, nil, g.knobs.SendErr
	case body.SenderAction != "":
		g.actions = append(g.actions, messenger.Action(body.SenderAction))
		return Sent{}, nil, Failure{}
	case body.Message == nil || body.Message.Text == "" || body.MessagingType == "":
		return Sent{}, nil, Failure{400, 100, 0, false, "(#100) message and messaging_type are required"}
	case len(g.failures) > 0:
		f := g.failures[0]
		g.failures = g.failures[1:]
		return Sent{}, nil, f
	}
	g.next++
	s := Sent{PageID: p.ID, PSID: body.Recipient.ID, Text: body.Message.Text, MessagingType: body.MessagingType,
		Tag: body.Tag, Metadata: body.Message.Metadata, MID: fmt.Sprintf("m_fake_%d", g.next)}
	for _, q := range body.Message.QuickReplies {
		s.QuickReplies = append(s.QuickReplies, messenger.QuickReply{Title: q.Title, Payload: q.Payload})
	}
	g.sent = append(g.sent, s)
	return s, g.onSend, Failure{}
}

// proof is appsecret_proof: hex(HMAC-SHA256(key=app secret, message=token)).
func proof(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
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
