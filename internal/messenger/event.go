package messenger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Parse errors. A body that passed CheckSignature came from Meta, so the
// HTTP layer answers 200 even when ParseWebhook fails (and logs it): any
// other status makes Meta retry the same body and, after an hour of
// failures, unsubscribe the Page.
var (
	// ErrMalformed means the body is not JSON or not shaped like Meta's
	// webhook envelope.
	ErrMalformed = errors.New("messenger: malformed webhook body")
	// ErrNotPage means the body's "object" is not "page" (for example an
	// Instagram or WhatsApp webhook sent to the Messenger endpoint).
	ErrNotPage = errors.New(`messenger: webhook object is not "page"`)
)

// Kind is the type of a webhook event. Its values are stable strings, safe
// to store.
type Kind string

// The event kinds. A quick reply is a KindMessage with QuickReplyPayload set.
const (
	KindMessage              Kind = "message"
	KindEcho                 Kind = "echo"
	KindPostback             Kind = "postback"
	KindDelivery             Kind = "delivery"
	KindRead                 Kind = "read"
	KindReaction             Kind = "reaction"
	KindMessageEdit          Kind = "message_edit"
	KindReferral             Kind = "referral"
	KindOptin                Kind = "optin"
	KindPassThreadControl    Kind = "pass_thread_control"
	KindTakeThreadControl    Kind = "take_thread_control"
	KindRequestThreadControl Kind = "request_thread_control"
	KindPolicyEnforcement    Kind = "policy_enforcement"
	KindUnknown              Kind = "unknown"
)

// Webhook is a decoded webhook POST body.
type Webhook struct {
	// Events holds the messaging and standby events of every entry, in body
	// order. Changes-style entries (dashboard tests) contribute none.
	Events []Event
}

// Event is one object of an entry's messaging or standby array. Fields that
// do not apply to the Kind are empty; Raw always holds the original object.
type Event struct {
	PageID      string // the entry id
	Standby     bool   // true when another app owns the thread
	Kind        Kind
	SenderID    string
	RecipientID string
	Timestamp   time.Time // zero when absent

	MID               string // message, echo, postback and message_edit
	Text              string // message, echo and message_edit
	QuickReplyPayload string
	Attachments       []Attachment
	PostbackTitle     string
	PostbackPayload   string // absent in standby postbacks
	AppID             string // the app that sent an echo; 263902037430900 is the Page Inbox
	Metadata          string // echo and handover metadata
	Watermark         time.Time
	Reaction          Reaction
	NumEdit           int // message_edit: how many times the message was edited

	NewOwnerAppID       string
	PreviousOwnerAppID  string // empty when the thread was idle
	RequestedOwnerAppID string

	Raw json.RawMessage
}

// Attachment is one item of a message's attachments. URL is empty for
// attachments without a payload URL (such as some fallbacks).
type Attachment struct {
	Type string // image, audio, video, file, sticker, fallback, template, ...
	URL  string
}

// Reaction is the payload of a message_reactions event.
type Reaction struct {
	Reaction string `json:"reaction"` // smile, angry, sad, wow, love, like, dislike or other
	Emoji    string `json:"emoji"`
	Action   string `json:"action"` // react or unreact
	MID      string `json:"mid"`    // the message reacted to
}

// PSID returns the page-scoped ID of the person in the conversation: the
// sender of inbound events and the recipient of echoes. It never returns the
// entry's Page ID, so it is empty for Page-level events such as
// policy_enforcement. When neither side is the Page (Meta's
// request_thread_control sample) it prefers the sender.
func (e Event) PSID() string {
	user, other := e.SenderID, e.RecipientID
	if e.Kind == KindEcho {
		user, other = other, user
	}
	if user != "" && user != e.PageID {
		return user
	}
	if other != e.PageID {
		return other
	}
	return ""
}

// DedupKey returns a key that is equal for Meta's retries of the same event
// and distinct for different events: the mid for messages, echoes and
// postbacks; mid and action for reactions; mid and edit count for edits;
// PSID and watermark for deliveries and reads; otherwise the kind, PSID and
// timestamp (or a digest of Raw when there is no timestamp).
func (e Event) DedupKey() string {
	switch {
	case (e.Kind == KindMessage || e.Kind == KindEcho || e.Kind == KindPostback) && e.MID != "":
		return e.MID
	case e.Kind == KindReaction && e.Reaction.MID != "":
		return "reaction:" + e.Reaction.MID + ":" + e.Reaction.Action
	case e.Kind == KindMessageEdit && e.MID != "":
		return "message_edit:" + e.MID + ":" + strconv.Itoa(e.NumEdit)
	case (e.Kind == KindDelivery || e.Kind == KindRead) && !e.Watermark.IsZero():
		return string(e.Kind) + ":" + e.PSID() + ":" + strconv.FormatInt(e.Watermark.UnixMilli(), 10)
	case !e.Timestamp.IsZero():
		return string(e.Kind) + ":" + e.PSID() + ":" + strconv.FormatInt(e.Timestamp.UnixMilli(), 10)
	default:
		sum := sha256.Sum256(e.Raw)
		return string(e.Kind) + ":" + e.PSID() + ":sha256:" + hex.EncodeToString(sum[:16])
	}
}

// ParseWebhook decodes a webhook POST body into events. It fails only with
// ErrMalformed or ErrNotPage, and the HTTP layer still answers 200 to a
// well-signed body that fails (see ErrMalformed). Events it cannot
// interpret, including objects whose fields have unexpected types (Meta's
// curl test sends "message" as a string), become KindUnknown with Raw kept.
// Changes-style bodies (dashboard tests) yield no events.
func ParseWebhook(body []byte) (*Webhook, error) {
	var env struct {
		Object string `json:"object"`
		Entry  []struct {
			ID        flexString        `json:"id"`
			Messaging []json.RawMessage `json:"messaging"`
			Standby   []json.RawMessage `json:"standby"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Object != "page" {
		return nil, ErrNotPage
	}
	w := &Webhook{}
	for _, entry := range env.Entry {
		for _, raw := range entry.Messaging {
			w.Events = append(w.Events, parseEvent(string(entry.ID), false, raw))
		}
		for _, raw := range entry.Standby {
			w.Events = append(w.Events, parseEvent(string(entry.ID), true, raw))
		}
	}
	return w, nil
}

type party struct {
	ID flexString `json:"id"`
}

type handover struct {
	PreviousOwnerAppID  flexString `json:"previous_owner_app_id"`
	NewOwnerAppID       flexString `json:"new_owner_app_id"`
	RequestedOwnerAppID flexString `json:"requested_owner_app_id"`
	Metadata            string     `json:"metadata"`
}

type watermark struct {
	Watermark flexInt `json:"watermark"`
}

// header is the part every messaging object shares. It is decoded on its
// own so that an object with a bad payload still yields its sender.
type header struct {
	Sender    party   `json:"sender"`
	Recipient party   `json:"recipient"`
	Timestamp flexInt `json:"timestamp"`
}

type rawEvent struct {
	header
	Message *struct {
		MID        string     `json:"mid"`
		Text       string     `json:"text"`
		IsEcho     bool       `json:"is_echo"`
		AppID      flexString `json:"app_id"`
		Metadata   string     `json:"metadata"`
		QuickReply *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		Attachments []struct {
			Type    string `json:"type"`
			Payload *struct {
				URL string `json:"url"`
			} `json:"payload"`
		} `json:"attachments"`
	} `json:"message"`
	Postback *struct {
		MID     string `json:"mid"`
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Delivery    *watermark `json:"delivery"`
	Read        *watermark `json:"read"`
	Reaction    *Reaction  `json:"reaction"`
	MessageEdit *struct {
		MID     string  `json:"mid"`
		Text    string  `json:"text"`
		NumEdit flexInt `json:"num_edit"`
	} `json:"message_edit"`
	Referral             json.RawMessage `json:"referral"`
	Optin                json.RawMessage `json:"optin"`
	PassThreadControl    *handover       `json:"pass_thread_control"`
	TakeThreadControl    *handover       `json:"take_thread_control"`
	RequestThreadControl *handover       `json:"request_thread_control"`
	PolicyEnforcement    json.RawMessage `json:"policy_enforcement"`
}

func parseEvent(pageID string, standby bool, raw json.RawMessage) Event {
	e := Event{PageID: pageID, Standby: standby, Kind: KindUnknown, Raw: raw}
	var r rawEvent
	if err := json.Unmarshal(raw, &r); err != nil {
		var h header
		if json.Unmarshal(raw, &h) == nil {
			e.setHeader(h)
		}
		return e
	}
	e.setHeader(r.header)
	switch {
	case r.Message != nil:
		m := r.Message
		e.Kind = KindMessage
		if m.IsEcho {
			e.Kind = KindEcho
		}
		e.MID, e.Text, e.AppID, e.Metadata = m.MID, m.Text, string(m.AppID), m.Metadata
		if m.QuickReply != nil {
			e.QuickReplyPayload = m.QuickReply.Payload
		}
		for _, a := range m.Attachments {
			att := Attachment{Type: a.Type}
			if a.Payload != nil {
				att.URL = a.Payload.URL
			}
			e.Attachments = append(e.Attachments, att)
		}
	case r.Postback != nil:
		e.Kind = KindPostback
		e.MID, e.PostbackTitle, e.PostbackPayload = r.Postback.MID, r.Postback.Title, r.Postback.Payload
	case r.Delivery != nil:
		e.Kind = KindDelivery
		e.Watermark = msTime(r.Delivery.Watermark)
	case r.Read != nil:
		e.Kind = KindRead
		e.Watermark = msTime(r.Read.Watermark)
	case r.Reaction != nil:
		e.Kind = KindReaction
		e.Reaction = *r.Reaction
	case r.MessageEdit != nil:
		e.Kind = KindMessageEdit
		e.MID, e.Text, e.NumEdit = r.MessageEdit.MID, r.MessageEdit.Text, int(r.MessageEdit.NumEdit)
	case present(r.Referral):
		e.Kind = KindReferral
	case present(r.Optin):
		e.Kind = KindOptin
	case r.PassThreadControl != nil:
		e.Kind = KindPassThreadControl
		e.setHandover(r.PassThreadControl)
	case r.TakeThreadControl != nil:
		e.Kind = KindTakeThreadControl
		e.setHandover(r.TakeThreadControl)
	case r.RequestThreadControl != nil:
		e.Kind = KindRequestThreadControl
		e.setHandover(r.RequestThreadControl)
	case present(r.PolicyEnforcement):
		e.Kind = KindPolicyEnforcement
	}
	return e
}

func (e *Event) setHeader(h header) {
	e.SenderID, e.RecipientID = string(h.Sender.ID), string(h.Recipient.ID)
	e.Timestamp = msTime(h.Timestamp)
}

func (e *Event) setHandover(h *handover) {
	e.NewOwnerAppID = string(h.NewOwnerAppID)
	e.PreviousOwnerAppID = string(h.PreviousOwnerAppID)
	e.RequestedOwnerAppID = string(h.RequestedOwnerAppID)
	e.Metadata = h.Metadata
}

func present(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

func msTime(ms flexInt) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// flexString decodes a JSON string or number (kept digit for digit, so large
// IDs lose no precision) and treats null as empty. Meta sends IDs, app_id and
// similar fields as either.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*s = flexString(b)
	default:
		return fmt.Errorf("messenger: want a string or number, got %.20s", b)
	}
	return nil
}

// flexInt decodes an integer sent as a JSON number or a decimal string, such
// as timestamps and watermarks. Null and "" decode as 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("messenger: want an integer: %w", err)
	}
	*n = flexInt(v)
	return nil
}
