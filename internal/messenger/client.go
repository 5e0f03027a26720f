package messenger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/seachat/seachat/internal/apperr"
)

// APIVersion is the Graph API version every request is pinned to. Webhooks
// should be set to the same version in the App Dashboard.
const APIVersion = "v25.0"

// DefaultBaseURL is the Graph API host used when NewClient gets "".
const DefaultBaseURL = "https://graph.facebook.com"

// maxResponse bounds how much of a Graph answer is read.
const maxResponse = 1 << 20

// Client calls the Graph API for any number of Pages: the page access token
// is an argument of each call. It does not retry; callers decide with
// IsTransient.
//
// Every error it returns carries an apperr kind with a message that names
// the fix: InvalidArgument for bad input, InvalidPageToken, OutsideWindow,
// or Upstream for anything else Meta or the network did (Internal only for
// a malformed base URL). The *GraphError or network error stays wrapped, so
// errors.Is with an apperr kind and the Is* functions both work on the same
// error. Errors never contain the token.
type Client struct {
	baseURL   string
	http      *http.Client
	appSecret []byte
}

// NewClient returns a Client for the Graph API at baseURL (DefaultBaseURL
// when empty; tests pass an httptest server). A nil httpClient means one with
// a 30 s timeout.
func NewClient(baseURL string, httpClient *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), http: httpClient}
}

// WithAppSecret returns a copy of c that adds appsecret_proof to every
// request, as apps with "Require App Secret" need. The copy shares c's
// http.Client, so making one per call is cheap.
func (c *Client) WithAppSecret(secret []byte) *Client {
	cc := *c
	cc.appSecret = secret
	return &cc
}

// Page is the Page a page access token belongs to.
type Page struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Me returns the Page of token. It is the cheapest check that a token is
// alive and belongs to the expected Page.
func (c *Client) Me(ctx context.Context, token string) (Page, error) {
	var p Page
	err := c.call(ctx, http.MethodGet, "me", token, url.Values{"fields": {"id,name"}}, nil, &p)
	return p, err
}

// MessagingType is the Send API messaging_type.
type MessagingType string

// The messaging types SeaChat uses.
const (
	// MessagingResponse replies inside the 24-hour window.
	MessagingResponse MessagingType = "RESPONSE"
	// MessagingUpdate is a proactive message inside the 24-hour window.
	MessagingUpdate MessagingType = "UPDATE"
	// MessagingTag sends outside the window with a Tag.
	MessagingTag MessagingType = "MESSAGE_TAG"
)

// TagHumanAgent is the message tag that lets a human agent (never the bot)
// reply up to 7 days after the person's last message.
const TagHumanAgent = "HUMAN_AGENT"

// SendRequest is a text message to one person.
type SendRequest struct {
	PSID string
	Text string
	// Type defaults to MessagingTag when Tag is set, else MessagingResponse.
	Type         MessagingType
	Tag          string // TagHumanAgent or empty
	QuickReplies []QuickReply
	// Metadata comes back in the message's echo (under 1000 characters).
	Metadata string
}

// QuickReply is a text quick-reply button: Title is shown (20 characters at
// most), Payload comes back in the message's QuickReplyPayload.
type QuickReply struct {
	Title   string
	Payload string
}

// SendResult is the Send API's answer.
type SendResult struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// SendText sends a text message with POST /me/messages.
func (c *Client) SendText(ctx context.Context, token string, req SendRequest) (SendResult, error) {
	if req.PSID == "" || req.Text == "" {
		return SendResult{}, apperr.Errorf(apperr.InvalidArgument, "a message needs a recipient and text")
	}
	type quickReply struct {
		ContentType string `json:"content_type"`
		Title       string `json:"title"`
		Payload     string `json:"payload"`
	}
	var body struct {
		Recipient     recipient     `json:"recipient"`
		MessagingType MessagingType `json:"messaging_type"`
		Tag           string        `json:"tag,omitempty"`
		Message       struct {
			Text         string       `json:"text"`
			QuickReplies []quickReply `json:"quick_replies,omitempty"`
			Metadata     string       `json:"metadata,omitempty"`
		} `json:"message"`
	}
	body.Recipient.ID = req.PSID
	body.MessagingType, body.Tag = req.Type, req.Tag
	if body.MessagingType == "" {
		body.MessagingType = MessagingResponse
		if req.Tag != "" {
			body.MessagingType = MessagingTag
		}
	}
	body.Message.Text, body.Message.Metadata = req.Text, req.Metadata
	for _, q := range req.QuickReplies {
		body.Message.QuickReplies = append(body.Message.QuickReplies, quickReply{"text", q.Title, q.Payload})
	}
	var res SendResult
	err := c.call(ctx, http.MethodPost, "me/messages", token, nil, body, &res)
	return res, err
}

type recipient struct {
	ID string `json:"id"`
}

// Action is a Send API sender_action.
type Action string

// The sender actions.
const (
	ActionMarkSeen  Action = "mark_seen"
	ActionTypingOn  Action = "typing_on"
	ActionTypingOff Action = "typing_off"
)

// SenderAction shows a typing indicator or marks the conversation seen. Meta
// requires it to be a request of its own, apart from any message.
func (c *Client) SenderAction(ctx context.Context, token, psid string, action Action) error {
	if psid == "" || action != ActionMarkSeen && action != ActionTypingOn && action != ActionTypingOff {
		return apperr.Errorf(apperr.InvalidArgument, "a sender action needs a recipient and one of mark_seen, typing_on, typing_off")
	}
	body := struct {
		Recipient    recipient `json:"recipient"`
		SenderAction Action    `json:"sender_action"`
	}{recipient{psid}, action}
	return c.call(ctx, http.MethodPost, "me/messages", token, nil, body, nil)
}

// SubscribedApp is an app that receives a Page's webhooks.
type SubscribedApp struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	SubscribedFields []string `json:"subscribed_fields"`
}

// SubscribedApps lists the apps subscribed to the Page's webhooks. An empty
// list means the Page sends no webhooks to any app.
func (c *Client) SubscribedApps(ctx context.Context, token, pageID string) ([]SubscribedApp, error) {
	if !validID(pageID) {
		return nil, invalidID("page", pageID)
	}
	var res struct {
		Data []SubscribedApp `json:"data"`
	}
	err := c.call(ctx, http.MethodGet, pageID+"/subscribed_apps", token, nil, nil, &res)
	return res.Data, err
}

// Subscribe subscribes the token's app to the Page's webhook fields (for
// example messages, messaging_postbacks, message_echoes). The token needs
// pages_messaging and pages_manage_metadata.
func (c *Client) Subscribe(ctx context.Context, token, pageID string, fields []string) error {
	if !validID(pageID) {
		return invalidID("page", pageID)
	}
	if len(fields) == 0 {
		return apperr.Errorf(apperr.InvalidArgument, "at least one webhook field is needed to subscribe")
	}
	q := url.Values{"subscribed_fields": {strings.Join(fields, ",")}}
	return c.callSuccess(ctx, http.MethodPost, pageID+"/subscribed_apps", token, q)
}

// Unsubscribe removes the token's app from the Page's webhooks.
func (c *Client) Unsubscribe(ctx context.Context, token, pageID string) error {
	if !validID(pageID) {
		return invalidID("page", pageID)
	}
	return c.callSuccess(ctx, http.MethodDelete, pageID+"/subscribed_apps", token, nil)
}

// MessengerProfile is what people see of the Page in Messenger around a
// conversation: the Get Started button of a first conversation, the
// greeting above it, and the persistent menu. Unset parts are left as they
// are by SetMessengerProfile.
type MessengerProfile struct {
	GetStarted     *GetStarted      `json:"get_started,omitempty"`
	Greeting       []Greeting       `json:"greeting,omitempty"`
	PersistentMenu []PersistentMenu `json:"persistent_menu,omitempty"`
}

// GetStarted is the Get Started button; a tap arrives as a postback with
// Payload.
type GetStarted struct {
	Payload string `json:"payload"`
}

// Greeting is the text above the Get Started button, per locale ("default"
// for all); at most MaxGreetingLength characters.
type Greeting struct {
	Locale string `json:"locale"`
	Text   string `json:"text"`
}

// MaxGreetingLength is the longest greeting Meta accepts.
const MaxGreetingLength = 160

// PersistentMenu is the menu beside the composer, per locale.
type PersistentMenu struct {
	Locale                string     `json:"locale"`
	ComposerInputDisabled bool       `json:"composer_input_disabled"`
	CallToActions         []MenuItem `json:"call_to_actions"`
}

// MenuItem is one entry of the persistent menu; Type "postback" sends
// Payload back as a postback.
type MenuItem struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

// MessengerProfileFields are the parts of the profile that SeaChat sets.
var MessengerProfileFields = []string{"get_started", "greeting", "persistent_menu"}

// SetMessengerProfile sets the Page's Messenger profile (POST
// me/messenger_profile). Meta allows 10 such calls per 10 minutes per Page.
func (c *Client) SetMessengerProfile(ctx context.Context, token string, p MessengerProfile) error {
	return c.callResult(ctx, http.MethodPost, "me/messenger_profile", token, p)
}

// DeleteMessengerProfile removes parts of the Page's Messenger profile.
func (c *Client) DeleteMessengerProfile(ctx context.Context, token string, fields []string) error {
	return c.callResult(ctx, http.MethodDelete, "me/messenger_profile", token, map[string][]string{"fields": fields})
}

// callResult makes a call whose answer is {"result":"success"}.
func (c *Client) callResult(ctx context.Context, method, path, token string, in any) error {
	var res struct {
		Result  string `json:"result"`
		Success bool   `json:"success"`
	}
	if err := c.call(ctx, method, path, token, nil, in, &res); err != nil {
		return err
	}
	if res.Result != "success" && !res.Success {
		return kindError(fmt.Errorf("messenger: %s %s: answer without success: %q", method, path, res.Result))
	}
	return nil
}

// Profile is a person's public Messenger profile. Fields are empty when Meta
// withholds them.
type Profile struct {
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	ProfilePic string `json:"profile_pic"` // the URL expires
}

// UserProfile fetches a person's name and picture. It is best effort: it
// needs Advanced Access to Business Asset User Profile Access, so callers
// should carry on without a profile when it fails.
func (c *Client) UserProfile(ctx context.Context, token, psid string) (Profile, error) {
	if !validID(psid) {
		return Profile{}, invalidID("person", psid)
	}
	var p Profile
	q := url.Values{"fields": {"first_name,last_name,profile_pic"}}
	err := c.call(ctx, http.MethodGet, psid, token, q, nil, &p)
	return p, err
}

// callSuccess makes a call whose answer is {"success":true} or true.
func (c *Client) callSuccess(ctx context.Context, method, path, token string, q url.Values) error {
	var raw json.RawMessage
	if err := c.call(ctx, method, path, token, q, nil, &raw); err != nil {
		return err
	}
	var res struct {
		Success bool `json:"success"`
	}
	if string(bytes.TrimSpace(raw)) == "true" || json.Unmarshal(raw, &res) == nil && res.Success {
		return nil
	}
	return kindError(fmt.Errorf("messenger: %s %s: answer without success: %.100s", method, path, raw))
}

// call sends one request to <base>/<version>/<path>. The token travels in
// the Authorization header, never in the URL. in, when not nil, is sent as
// JSON; a 2xx answer is decoded into out when out is not nil.
func (c *Client) call(ctx context.Context, method, path, token string, q url.Values, in, out any) error {
	if token == "" {
		return apperr.Errorf(apperr.InvalidPageToken, "the page access token is missing: paste one")
	}
	if len(c.appSecret) > 0 {
		if q == nil {
			q = url.Values{}
		}
		q.Set("appsecret_proof", appSecretProof(c.appSecret, token))
	}
	u := c.baseURL + "/" + APIVersion + "/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return apperr.Wrapf(err, apperr.Internal, "encoding a Graph API request")
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return apperr.Wrapf(err, apperr.Internal, "the Graph API base URL %q is invalid", c.baseURL)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	fail := func(cause error) error {
		return kindError(fmt.Errorf("messenger: %s %s: %w", method, path, cause))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fail(newTransportError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fail(newTransportError(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(parseGraphError(resp.StatusCode, data, token))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fail(fmt.Errorf("decoding answer: %w", err))
		}
	}
	return nil
}

// appSecretProof is hex(HMAC-SHA256(key=app secret, message=token)).
func appSecretProof(secret []byte, token string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// validID accepts Graph node IDs (digits) and aliases such as "me", and
// nothing that could change the request path.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_') {
			return false
		}
	}
	return true
}

func invalidID(what, id string) error {
	return apperr.Errorf(apperr.InvalidArgument, "%q is not a valid %s ID", id, what)
}
