package inbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
)

// Handler is the Messenger webhook endpoint of every channel, told apart by
// the {key} path value. It is plain net/http: GET answers Meta's
// verification, POST stores the events and answers 200 once they are
// committed. Build it with Inbox.Handler.
type Handler struct{ in *Inbox }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

const (
	msgNotFound    = "unknown webhook: set up the Messenger channel again and use its new callback URL"
	msgUnavailable = "temporarily unavailable, try again"
)

// verify answers Meta's verification GET with the raw challenge.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	in := h.in
	key := r.PathValue("key")
	if key == "" {
		h.fail(w, http.StatusNotFound, resultNotFound, msgNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(auth.SystemContext(r.Context()), in.opts.StoreTimeout)
	defer cancel()
	challenge, err := in.channels.Verify(ctx, key, r.URL.Query())
	switch {
	case err == nil:
		in.m.request(resultVerified)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The challenge is reflected: never let a browser sniff it as HTML.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, challenge)
	case errors.Is(err, apperr.NotFound):
		h.fail(w, http.StatusNotFound, resultNotFound, msgNotFound)
	default:
		if apperr.KindOf(err) == apperr.Internal {
			in.log.ErrorContext(r.Context(), "verifying webhook", "error", redact(err.Error()))
		}
		h.fail(w, http.StatusForbidden, resultForbidden,
			"verification failed: hub.mode must be subscribe and hub.verify_token must be the channel's verify token")
	}
}

// receive stores the events of a webhook POST.
func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	in := h.in
	key := r.PathValue("key")
	if key == "" {
		h.fail(w, http.StatusNotFound, resultNotFound, msgNotFound)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		h.fail(w, http.StatusRequestEntityTooLarge, resultTooLarge, "body too large: at most 1 MiB")
		return
	}

	lookupCtx, cancel := context.WithTimeout(auth.SystemContext(r.Context()), in.opts.StoreTimeout)
	defer cancel()
	ch, err := in.channels.ByWebhookKey(lookupCtx, key)
	if err != nil {
		h.channelError(w, r, err, "finding channel")
		return
	}
	secret, err := in.channels.AppSecret(lookupCtx, ch)
	if err != nil {
		h.channelError(w, r, err, "reading app secret")
		return
	}
	cancel()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.fail(w, http.StatusRequestEntityTooLarge, resultTooLarge, "body too large: at most 1 MiB")
			return
		}
		h.fail(w, http.StatusBadRequest, resultBadRequest, "reading the body failed")
		return
	}
	log := in.log.With("channel_id", ch.ID)
	err = messenger.CheckSignature(body, r.Header.Get("X-Hub-Signature-256"), secret)
	if err != nil {
		// Expected for probes; a steady stream means the app secret is wrong.
		log.WarnContext(r.Context(), "rejecting webhook signature", "error", err)
		in.channels.RefusedSignature(auth.SystemContext(r.Context()), ch)
		h.fail(w, http.StatusForbidden, resultForbidden, "invalid signature: send X-Hub-Signature-256, the HMAC-SHA256 of the body keyed with the app secret of the connected app")
		return
	}

	// From here the body is Meta's: anything but 200 or 503 would make Meta
	// retry a body that can never succeed.
	wh, err := messenger.ParseWebhook(body)
	if err != nil {
		log.WarnContext(r.Context(), "ignoring unusable webhook body", "error", err, "bytes", len(body))
		h.ok(w, resultUnusable)
		return
	}
	events, dropped, err := h.route(r.Context(), ch, secret, wh.Events)
	if err != nil {
		h.channelError(w, r, err, "finding the channel of another page")
		return
	}
	in.m.dropped(reasonOtherPage, dropped)
	if len(events) == 0 {
		log.InfoContext(r.Context(), "webhook body has no events for this page",
			"events", len(wh.Events), "dropped", dropped)
		h.ok(w, resultUnusable)
		return
	}

	storeCtx, cancel := context.WithTimeout(auth.SystemContext(r.Context()), in.opts.StoreTimeout)
	defer cancel()
	if err := in.commits.store(storeCtx, events); err != nil {
		log.ErrorContext(r.Context(), "storing webhook events", "events", len(events), "error", err)
		w.Header().Set("Retry-After", "1")
		h.fail(w, http.StatusServiceUnavailable, resultUnavailable, msgUnavailable)
		return
	}
	h.ok(w, resultStored)
}

// route pairs each event with the channel of its Page. A Meta app has one
// callback URL for all its Pages, so a business that connected several
// Pages of one app gets all their events at the URL it pasted: each goes to
// the live channel of its Page when that channel has the same app secret
// (the signature just proved the sender knows it). Events of any other Page
// are dropped, and counted. An error means the lookup failed: the caller
// answers 503, so Meta retries.
func (h *Handler) route(ctx context.Context, ch *ent.MessengerChannel, secret []byte, all []messenger.Event) (
	events []channelEvent, dropped int, err error,
) {
	ctx, cancel := context.WithTimeout(auth.SystemContext(ctx), h.in.opts.StoreTimeout)
	defer cancel()
	pages := map[string]*ent.MessengerChannel{}
	if ch.PageID != nil {
		pages[*ch.PageID] = ch
	}
	for _, ev := range all {
		dest, seen := pages[ev.PageID]
		if !seen {
			if dest, err = h.sameApp(ctx, ev.PageID, secret); err != nil {
				return nil, 0, err
			}
			pages[ev.PageID] = dest
			if dest == nil {
				h.in.log.WarnContext(ctx, "dropping webhook events of a page no channel of this app has",
					"entry_page_id", ev.PageID, "channel_id", ch.ID, "channel_page_id", deref(ch.PageID))
			}
		}
		if dest == nil {
			dropped++
			continue
		}
		events = append(events, channelEvent{dest, ev})
	}
	return events, dropped, nil
}

// sameApp returns the live channel of the Page if it has the app secret,
// or nil.
func (h *Handler) sameApp(ctx context.Context, pageID string, secret []byte) (*ent.MessengerChannel, error) {
	if pageID == "" {
		return nil, nil
	}
	ch, err := h.in.channels.ByPageID(ctx, pageID)
	if errors.Is(err, apperr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	theirs, err := h.in.channels.AppSecret(ctx, ch)
	if err != nil || !hmac.Equal(theirs, secret) {
		return nil, nil //nolint:nilerr // not connected, or another app's: not ours to store
	}
	return ch, nil
}

// channelError answers a failed channel lookup: 404 for an unknown or
// removed key, 403 for a page that cannot be verified yet, 503 otherwise
// (the database is down: Meta will retry).
func (h *Handler) channelError(w http.ResponseWriter, r *http.Request, err error, what string) {
	switch {
	case errors.Is(err, apperr.NotFound):
		h.fail(w, http.StatusNotFound, resultNotFound, msgNotFound)
	case errors.Is(err, apperr.Conflict), errors.Is(err, apperr.PermissionDenied):
		h.fail(w, http.StatusForbidden, resultForbidden,
			"this channel cannot receive events yet: connect the page first (Step 2, connectMessengerPage)")
	default:
		h.in.log.ErrorContext(r.Context(), what, "error", redact(err.Error()))
		w.Header().Set("Retry-After", "1")
		h.fail(w, http.StatusServiceUnavailable, resultUnavailable, msgUnavailable)
	}
}

func (h *Handler) ok(w http.ResponseWriter, result string) {
	h.in.m.request(result)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "EVENT_RECEIVED")
}

func (h *Handler) fail(w http.ResponseWriter, code int, result, msg string) {
	h.in.m.request(result)
	http.Error(w, msg, code)
}

// insertBatch bounds the rows of one INSERT statement, well below
// PostgreSQL's 65535 bind parameters.
const insertBatch = 500

// ownSendPrefix starts the Send API metadata of every message SeaChat sends
// (package conversation writes "seachat:<message id>"), which Meta echoes
// back in message_echoes.
const ownSendPrefix = "seachat:"

// lane returns the key whose events are processed one at a time, oldest
// first (the psid column): the user's PSID. The echo of one of SeaChat's
// own sends gets a lane of its own. It only confirms a delivery, and
// nothing in the user's lane should delay it: when a crash hides whether a
// reply went out, the outbox waits a few seconds (conversation.EchoGrace)
// for the echo to settle it before sending it again. Echoes
// of messages sent by others (a human in the Page Inbox) stay in the
// user's lane: they take the conversation over, in order with the user's
// messages.
func lane(ev messenger.Event) string {
	if ev.Kind == messenger.KindEcho && strings.HasPrefix(ev.Metadata, ownSendPrefix) {
		return "echo:" + ev.PSID()
	}
	return ev.PSID()
}

// maxKeyLen bounds the indexed text columns (dedup_key, psid). Meta's IDs
// are far shorter; a longer value is replaced by its digest, so that one odd
// event cannot fail its body forever (PostgreSQL refuses index entries over
// about 2700 bytes).
const maxKeyLen = 255

func indexable(s string) string {
	if len(s) <= maxKeyLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
