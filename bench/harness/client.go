package harness

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
)

// AppSecret is the app secret every channel of the harness is connected
// with; webhook bodies are signed with it.
const AppSecret = "FAKE_SECRET"

// NewHTTPClient returns a client for load: it keeps enough idle loopback
// connections for conns concurrent requests, so the measurement is not of
// TCP handshakes.
func NewHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns * 2
	t.MaxConnsPerHost = 0
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// GraphQL is a client of one server's /graphql with one token.
type GraphQL struct {
	URL   string // the server's base URL
	Token string
	HTTP  *http.Client
}

// GraphQLError is an error of a GraphQL response.
type GraphQLError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a raw GraphQL response with its HTTP status and headers.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []GraphQLError  `json:"errors"`
}

// Raw posts an operation and returns the response whatever it holds.
func (g GraphQL) Raw(ctx context.Context, query string, vars map[string]any) (*Response, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	client := g.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: res.StatusCode, Header: res.Header}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("HTTP %d, body %q: %w", res.StatusCode, raw, err)
	}
	return out, nil
}

// Do runs an operation that must succeed and decodes its data into out.
func (g GraphQL) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	res, err := g.Raw(ctx, query, vars)
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("graphql: %s (%v)", res.Errors[0].Message, res.Errors[0].Extensions["code"])
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Data, out)
}

// Channel is a connected Messenger channel.
type Channel struct {
	ID         string
	AgentID    string
	WebhookURL string // on the server's real address
	PageID     string
}

// SetupChannel runs the README's setup against a server: an agent with a
// short knowledge text, Step 1, Meta's verification GET, Step 2 with the
// page's token and AppSecret.
func SetupChannel(ctx context.Context, g GraphQL, pageID, pageToken string) (Channel, error) {
	var agent struct {
		CreateAgent struct{ ID string }
	}
	if err := g.Do(ctx, `mutation{createAgent(input:{name:"Harbor Bikes",instructions:"Answer briefly."}){id}}`, nil, &agent); err != nil {
		return Channel{}, fmt.Errorf("createAgent: %w", err)
	}
	ch := Channel{AgentID: agent.CreateAgent.ID, PageID: pageID}
	var src struct {
		AddKnowledgeText struct{ Status string }
	}
	err := g.Do(ctx, `mutation($a:ID!,$t:String!){addKnowledgeText(agentId:$a,title:"Hours",text:$t){status}}`,
		map[string]any{"a": ch.AgentID, "t": KnowledgeText}, &src)
	if err != nil {
		return Channel{}, fmt.Errorf("addKnowledgeText: %w", err)
	}
	var setup struct {
		SetupMessengerChannel struct {
			ID, CallbackURL, VerifyToken string
		}
	}
	err = g.Do(ctx, `mutation($a:ID!){setupMessengerChannel(agentId:$a){id callbackUrl verifyToken}}`,
		map[string]any{"a": ch.AgentID}, &setup)
	if err != nil {
		return Channel{}, fmt.Errorf("setupMessengerChannel: %w", err)
	}
	ch.ID = setup.SetupMessengerChannel.ID
	cb := setup.SetupMessengerChannel.CallbackURL
	i := strings.Index(cb, "/webhooks/")
	if i < 0 {
		return Channel{}, fmt.Errorf("callback URL %q has no /webhooks/ path", cb)
	}
	ch.WebhookURL = g.URL + cb[i:]

	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {setup.SetupMessengerChannel.VerifyToken}, "hub.challenge": {"1158201444"}}
	res, err := http.Get(ch.WebhookURL + "?" + q.Encode())
	if err != nil {
		return Channel{}, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Channel{}, fmt.Errorf("verification GET: HTTP %d", res.StatusCode)
	}
	var conn struct {
		ConnectMessengerPage struct{ Status string }
	}
	err = g.Do(ctx, `mutation($c:ID!,$t:String!,$s:String!){connectMessengerPage(channelId:$c,input:{pageAccessToken:$t,appSecret:$s}){status}}`,
		map[string]any{"c": ch.ID, "t": pageToken, "s": AppSecret}, &conn)
	if err != nil {
		return Channel{}, fmt.Errorf("connectMessengerPage: %w", err)
	}
	if conn.ConnectMessengerPage.Status != "CONNECTED" {
		return Channel{}, fmt.Errorf("channel is %s after Step 2", conn.ConnectMessengerPage.Status)
	}
	return ch, nil
}

// KnowledgeText is the agent's knowledge base: Question answers from it.
const KnowledgeText = "Harbor Bikes is open Monday to Saturday from 9 am to 6 pm. We are closed on Sundays. " +
	"A city bike rents for 25 euros a day. Helmets and locks come free with every rental."

// Question is what the simulated users ask: the offline responder answers
// it from KnowledgeText.
const Question = "When are you open on Saturday?"

// TextEvent is a webhook body with one text message from psid to page.
func TextEvent(pageID, psid, mid, text string, at time.Time) []byte {
	return Body(pageID, at, Messaging(pageID, psid, mid, text, at))
}

// Messaging is one text message from psid to page, as an item of an
// entry's messaging array.
func Messaging(pageID, psid, mid, text string, at time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"timestamp": at.UnixMilli(), "message": map[string]string{"mid": mid, "text": text},
	})
	return b
}

// Body is a webhook body with one entry of page holding the messaging
// items.
func Body(pageID string, at time.Time, messaging ...json.RawMessage) []byte {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": at.UnixMilli(), "messaging": messaging,
	}}})
	return b
}

// EchoEvent is the message_echoes webhook body Meta sends for a message the
// page sent: metadata is what the Send API request carried.
func EchoEvent(pageID, psid, mid, metadata, text string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": at.UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]string{"id": pageID}, "recipient": map[string]string{"id": psid},
			"timestamp": at.UnixMilli(),
			"message": map[string]any{"is_echo": true, "app_id": 1517776481860111, "mid": mid,
				"metadata": metadata, "text": text},
		}},
	}}})
	return b
}

// Sign returns the X-Hub-Signature-256 value of body under secret.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// PostSigned posts a webhook body signed with AppSecret and returns the
// HTTP status. Only a transport error (refused, reset, timed out) is an
// error.
func PostSigned(ctx context.Context, client *http.Client, webhookURL string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", Sign(body, AppSecret))
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}
