package channel_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Meta's answers, as the Graph API sends them (MESSENGER.md §5.3, §7).
const (
	errTokenDead  = `{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"AbC190"}}`
	errBadProof   = `{"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100,"fbtrace_id":"AbC100"}}`
	errFieldsBad  = `{"error":{"message":"(#100) Param subscribed_fields must be one of {messages, messaging_postbacks, message_echoes} - got \"standby\"","type":"OAuthException","code":100,"fbtrace_id":"AbCfld"}}`
	errAppNotLive = `{"error":{"message":"(#200) Cannot message users who are not admins, developers or testers of the app until pages_messaging permission is reviewed and the app is live.","type":"OAuthException","code":200,"error_subcode":2018028,"fbtrace_id":"AbC200"}}`
	errOutage     = `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbC2"}}`
	ourAppID      = "1517776481860111"
	otherAppID    = "263902037430900"
)

// fakePage is a Facebook Page and the credentials that reach it.
type fakePage struct {
	ID, Name, Token, Secret string
}

// request is what the fake Graph API saw, without the token.
type request struct {
	Method, Path string
	Page         string // the Page of the bearer token, "" if unknown
	Fields       string // subscribed_fields
	Proof        bool   // appsecret_proof present
	Body         string
}

// fakeMeta is an httptest server that speaks the Graph API's JSON for the
// calls a channel makes: /me, subscribed_apps (GET, POST, DELETE), the Send
// API and the user profile. It checks the bearer token and appsecret_proof
// like Meta does and keeps each Page's subscription.
type fakeMeta struct {
	*httptest.Server
	mu             sync.Mutex
	pages          map[string]fakePage // by token
	dead           map[string]bool     // revoked tokens
	subs           map[string][]string // page ID → our app's fields
	otherApps      bool                // another app is also subscribed to every Page
	refuseOptional bool                // subscribing optional fields is refused
	dropMessages   bool                // subscriptions never include messages
	sendErr        string              // the Send API's error body (HTTP 400)
	outage         bool                // every call answers a transient 500
	unsubscribeErr bool                // DELETE subscribed_apps fails
	reqs           []request
}

func newFakeMeta(t *testing.T, pages ...fakePage) *fakeMeta {
	t.Helper()
	m := &fakeMeta{pages: map[string]fakePage{}, dead: map[string]bool{}, subs: map[string][]string{}}
	for _, p := range pages {
		m.pages[p.Token] = p
	}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *fakeMeta) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	q := r.URL.Query()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	page, ok := m.pages[token]
	m.reqs = append(m.reqs, request{
		Method: r.Method, Path: r.URL.Path, Page: page.ID, Fields: q.Get("subscribed_fields"),
		Proof: q.Has("appsecret_proof"), Body: string(body),
	})
	reply := func(status int, v string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, v)
	}
	if m.outage {
		reply(http.StatusInternalServerError, errOutage)
		return
	}
	if !ok || m.dead[token] {
		reply(http.StatusBadRequest, errTokenDead)
		return
	}
	if q.Has("appsecret_proof") && q.Get("appsecret_proof") != proof(page.Secret, token) {
		reply(http.StatusBadRequest, errBadProof)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v25.0/")
	switch {
	case r.Method == http.MethodGet && path == "me":
		reply(http.StatusOK, jsonString(map[string]string{"id": page.ID, "name": page.Name}))
	case path == page.ID+"/subscribed_apps" && r.Method == http.MethodPost:
		fields := strings.Split(q.Get("subscribed_fields"), ",")
		if m.refuseOptional && slices.ContainsFunc(fields, func(f string) bool {
			return f != "messages" && f != "messaging_postbacks" && f != "message_echoes"
		}) {
			reply(http.StatusBadRequest, errFieldsBad)
			return
		}
		if m.dropMessages {
			fields = slices.DeleteFunc(fields, func(f string) bool { return f == "messages" })
		}
		m.subs[page.ID] = fields
		reply(http.StatusOK, `{"success":true}`)
	case path == page.ID+"/subscribed_apps" && r.Method == http.MethodGet:
		type app struct {
			Category string   `json:"category"`
			Link     string   `json:"link"`
			Name     string   `json:"name"`
			ID       string   `json:"id"`
			Fields   []string `json:"subscribed_fields"`
		}
		data := []app{}
		if m.otherApps {
			data = append(data, app{"Business", "https://example.com/inbox", "Page Inbox", otherAppID, []string{"messages", "message_echoes"}})
		}
		if f, ok := m.subs[page.ID]; ok {
			data = append(data, app{"Business", "https://seachat.example", "SeaChat", ourAppID, f})
		}
		reply(http.StatusOK, jsonString(map[string]any{"data": data}))
	case path == page.ID+"/subscribed_apps" && r.Method == http.MethodDelete:
		if m.unsubscribeErr {
			reply(http.StatusInternalServerError, errOutage)
			return
		}
		delete(m.subs, page.ID)
		reply(http.StatusOK, `{"success":true}`)
	case r.Method == http.MethodPost && path == "me/messages":
		if m.sendErr != "" {
			reply(http.StatusBadRequest, m.sendErr)
			return
		}
		var in struct {
			Recipient struct {
				ID string `json:"id"`
			} `json:"recipient"`
			SenderAction string `json:"sender_action"`
		}
		_ = json.Unmarshal(body, &in)
		if in.SenderAction != "" {
			reply(http.StatusOK, jsonString(map[string]string{"recipient_id": in.Recipient.ID}))
			return
		}
		reply(http.StatusOK, jsonString(map[string]string{"recipient_id": in.Recipient.ID, "message_id": "m_" + in.Recipient.ID}))
	case r.Method == http.MethodGet && !strings.Contains(path, "/"):
		reply(http.StatusOK, `{"first_name":"Peter","last_name":"Chang","profile_pic":"https://example.com/p.jpg"}`)
	default:
		reply(http.StatusBadRequest, fmt.Sprintf(`{"error":{"message":"Unknown path components: /%s","type":"OAuthException","code":2500}}`, path))
	}
}

// set changes the fake's behaviour under its lock.
func (m *fakeMeta) set(f func(m *fakeMeta)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// requests returns the requests seen so far; count those matching.
func (m *fakeMeta) requests() []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reqs)
}

func (m *fakeMeta) count(method, pathSuffix string) int {
	n := 0
	for _, r := range m.requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

func proof(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
