package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/seachat/seachat/internal/messenger"
)

// envelope is the stored payload of an InboxEvent: one messaging object as
// Meta sent it, with what it needs from its entry.
type envelope struct {
	PageID  string          `json:"page_id"`
	Standby bool            `json:"standby"`
	Event   json.RawMessage `json:"event"`
}

// EncodeEvent returns the payload stored for ev: a small JSON object
// {"page_id","standby","event"} holding the entry's page ID, whether the
// event came in the standby array, and ev.Raw unchanged. DecodeEvent turns
// it back into the Event.
func EncodeEvent(ev messenger.Event) ([]byte, error) {
	if !json.Valid(ev.Raw) {
		return nil, errors.New("inbox: event has no valid raw JSON")
	}
	// Built by hand: json.Marshal would compact Raw, and the event's bytes
	// are kept exactly as Meta sent them (DedupKey may digest them).
	page, err := json.Marshal(ev.PageID)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(ev.Raw)+len(page)+48)
	b = append(b, `{"page_id":`...)
	b = append(b, page...)
	b = append(b, `,"standby":`...)
	b = strconv.AppendBool(b, ev.Standby)
	b = append(b, `,"event":`...)
	b = append(b, ev.Raw...)
	return append(b, '}'), nil
}

// DecodeEvent parses a payload written by EncodeEvent back into the Event,
// with the same parser as the webhook body.
func DecodeEvent(payload []byte) (messenger.Event, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return messenger.Event{}, fmt.Errorf("inbox: decoding payload: %w", err)
	}
	if len(env.Event) == 0 {
		return messenger.Event{}, errors.New("inbox: payload holds no event")
	}
	// Rebuild a one-event webhook body, so the event is parsed exactly as it
	// was when it arrived, with the same raw bytes.
	page, err := json.Marshal(env.PageID)
	if err != nil {
		return messenger.Event{}, fmt.Errorf("inbox: rebuilding webhook body: %w", err)
	}
	array := "messaging"
	if env.Standby {
		array = "standby"
	}
	body := make([]byte, 0, len(env.Event)+len(page)+64)
	body = append(body, `{"object":"page","entry":[{"id":`...)
	body = append(body, page...)
	body = append(body, `,"`+array+`":[`...)
	body = append(body, env.Event...)
	body = append(body, "]}]}"...)
	w, err := messenger.ParseWebhook(body)
	if err != nil {
		return messenger.Event{}, fmt.Errorf("inbox: parsing stored event: %w", err)
	}
	if len(w.Events) != 1 {
		return messenger.Event{}, fmt.Errorf("inbox: stored payload holds %d events, want 1", len(w.Events))
	}
	return w.Events[0], nil
}
