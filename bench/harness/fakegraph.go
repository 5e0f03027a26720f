package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seachat/seachat/internal/messenger/messengertest"
)

// Reply is one text message the fake Graph API accepted.
type Reply struct {
	PSID     string
	Text     string
	Metadata string // the Send API metadata: SeaChat puts its message id there
	MID      string // the message_id the fake answered
	At       time.Time
}

// FakeGraph is messengertest's fake Graph API with what the benchmarks and
// fault tests add around it: every accepted reply is timestamped on
// arrival and can be awaited per recipient, and the Send API can be made to
// fail (HTTP 500, code 2, is_transient) for as long as needed.
type FakeGraph struct {
	*httptest.Server
	Graph *messengertest.Graph

	// OnReply, when set before traffic starts, is called after each
	// accepted reply, outside any lock (e.g. to post Meta's echo).
	OnReply func(Reply)

	failing  atomic.Bool
	refused  atomic.Int64
	accepted atomic.Int64

	mu      sync.Mutex
	replies []Reply
	waiters map[string]chan Reply
	keep    bool
}

// NewFakeGraph serves a fake Graph API on loopback that knows pages. keep
// says whether to remember every reply (fault tests) or only count them and
// hand them to waiters (benchmarks).
func NewFakeGraph(keep bool, pages ...messengertest.Page) *FakeGraph {
	f := &FakeGraph{Graph: &messengertest.Graph{}, waiters: map[string]chan Reply{}, keep: keep}
	inner := f.Graph.Handler(pages...)
	mux := http.NewServeMux()
	mux.Handle("/", inner)
	mux.HandleFunc("POST /v25.0/me/messages", func(w http.ResponseWriter, r *http.Request) { f.messages(w, r, inner) })
	f.Server = httptest.NewServer(mux)
	return f
}

// SetFailing makes every Send API call (messages and sender actions) fail
// with a transient error until SetFailing(false).
func (f *FakeGraph) SetFailing(on bool) { f.failing.Store(on) }

// Refused is how many Send API calls were failed on purpose.
func (f *FakeGraph) Refused() int64 { return f.refused.Load() }

// Accepted is how many text messages were accepted.
func (f *FakeGraph) Accepted() int64 { return f.accepted.Load() }

// Replies returns the accepted replies in arrival order (only when keep).
func (f *FakeGraph) Replies() []Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Reply(nil), f.replies...)
}

// Await returns a channel that receives the replies to psid from now on.
// Cancel with Forget.
func (f *FakeGraph) Await(psid string) <-chan Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan Reply, 16)
	f.waiters[psid] = ch
	return ch
}

// Forget stops handing replies to psid's waiter.
func (f *FakeGraph) Forget(psid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.waiters, psid)
}

func (f *FakeGraph) messages(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var req struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		SenderAction string `json:"sender_action"`
		Message      *struct {
			Text     string `json:"text"`
			Metadata string `json:"metadata"`
		} `json:"message"`
	}
	json.Unmarshal(body, &req)
	if f.failing.Load() {
		f.refused.Add(1)
		writeFailure(w, messengertest.FailTemporary)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	inner.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
	if rec.Code != http.StatusOK || req.SenderAction != "" || req.Message == nil {
		return
	}
	var res struct {
		MessageID string `json:"message_id"`
	}
	json.Unmarshal(rec.Body.Bytes(), &res)
	reply := Reply{PSID: req.Recipient.ID, Text: req.Message.Text, Metadata: req.Message.Metadata,
		MID: res.MessageID, At: time.Now()}
	f.accepted.Add(1)
	f.mu.Lock()
	if f.keep {
		f.replies = append(f.replies, reply)
	}
	if ch, ok := f.waiters[reply.PSID]; ok {
		select {
		case ch <- reply:
		default:
		}
	}
	f.mu.Unlock()
	if f.OnReply != nil {
		f.OnReply(reply)
	}
}

// writeFailure answers as Meta does when it fails (MESSENGER.md §5.3).
func writeFailure(w http.ResponseWriter, fl messengertest.Failure) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(fl.HTTPStatus)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": fl.Message, "type": "OAuthException", "code": fl.Code, "error_subcode": fl.Subcode,
		"is_transient": fl.Transient, "fbtrace_id": "AxFakeTrace",
	}})
}
