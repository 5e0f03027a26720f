package server_test

import (
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
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

const (
	pageID     = "1895382890692545"
	pageToken  = "EAAGpagetoken"
	appSecret  = "FAKE_SECRET"
	userPSID   = "1412611362105802"
	handoffCmd = "/agent"
)

type channelView struct {
	ID          string
	CallbackURL string `json:"callbackUrl"`
	VerifyToken string
	Status      string
	PageID      *string `json:"pageId"`
	PageName    *string
	Health      struct {
		OK     bool
		Checks []struct {
			Name   string
			OK     bool
			Detail string
		}
	}
}

const channelFields = `id callbackUrl verifyToken status pageId pageName health{ok checks{name ok detail}}`

// connectedAgent runs the README's setup: an agent with knowledge, Step 1,
// Meta's verification, Step 2. It returns the agent id and the channel.
func connectedAgent(t *testing.T, e *env, token string) (string, channelView) {
	t.Helper()
	agentID := e.createAgent(token, "Harbor Bikes")
	var src struct{ Status string }
	e.ok(token, `mutation($a:ID!){addKnowledgeText(agentId:$a,title:"Hours",
		text:"Harbor Bikes is open Monday to Saturday from 9 am to 6 pm. We are closed on Sundays."){status}}`,
		map[string]any{"a": agentID}, "addKnowledgeText", &src)
	require.Equal(t, "READY", src.Status)

	var ch channelView
	e.ok(token, `mutation($a:ID!){setupMessengerChannel(agentId:$a){`+channelFields+`}}`,
		map[string]any{"a": agentID}, "setupMessengerChannel", &ch)
	require.Equal(t, "AWAITING_VERIFICATION", ch.Status)
	require.True(t, strings.HasPrefix(ch.CallbackURL, "http://127.0.0.1:8080/webhooks/messenger/"), ch.CallbackURL)
	require.NotEmpty(t, ch.VerifyToken)

	// Meta's verification GET, as Meta sends it.
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {ch.VerifyToken}, "hub.challenge": {"1158201444"}}
	res, err := http.Get(e.webhookURL(ch) + "?" + q.Encode())
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "1158201444", string(body))

	e.ok(token, `mutation($c:ID!){connectMessengerPage(channelId:$c,input:{pageAccessToken:"`+pageToken+`",appSecret:"`+appSecret+`"}){`+channelFields+`}}`,
		map[string]any{"c": ch.ID}, "connectMessengerPage", &ch)
	require.Equal(t, "CONNECTED", ch.Status)
	require.Equal(t, pageID, *ch.PageID)
	return agentID, ch
}

// webhookURL is the channel's callback URL on the test server.
func (e *env) webhookURL(ch channelView) string {
	return e.url + ch.CallbackURL[strings.Index(ch.CallbackURL, "/webhooks/"):]
}

// postEvent posts a Messenger webhook body signed with the app secret.
func (e *env) postEvent(ch channelView, body string) int {
	e.t.Helper()
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, e.webhookURL(ch), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	res.Body.Close()
	return res.StatusCode
}

func textEvent(mid, text string, at time.Time) string {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": at.UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]string{"id": userPSID}, "recipient": map[string]string{"id": pageID},
			"timestamp": at.UnixMilli(), "message": map[string]string{"mid": mid, "text": text},
		}},
	}}})
	return string(b)
}

// TestMessengerRoundTrip is the "done when": setup, a signed event,
// the bot's reply at the fake Graph API; redelivery answers once; a wrong
// signature is refused; Remove makes the callback 404 and keeps transcripts.
func TestMessengerRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		_, ch := connectedAgent(t, e, ws.owner)
		require.Contains(t, graph.Subscribed(pageID), "messages")

		body := textEvent("m_1", "When are you open on Saturday?", time.Now())
		require.Equal(t, http.StatusOK, e.postEvent(ch, body))
		sent := graph.WaitSent(t, 1, 10*time.Second)
		require.Equal(t, userPSID, sent[0].PSID)
		require.Equal(t, "RESPONSE", sent[0].MessagingType)
		require.Contains(t, sent[0].Text, "9 am to 6 pm")

		// Meta redelivers: stored and answered once.
		require.Equal(t, http.StatusOK, e.postEvent(ch, body))
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_2", "Do you sell pizza?", time.Now())))
		graph.WaitSent(t, 2, 10*time.Second)
		time.Sleep(200 * time.Millisecond) // a second answer to m_1 would arrive by now
		sent = graph.Sent()
		require.Len(t, sent, 2, "a redelivered event was answered twice")
		require.Equal(t, "Sorry, I don't have an answer to that yet.", sent[1].Text)
		require.Equal(t, []string{"Talk to a human"}, []string{sent[1].QuickReplies[0].Title})

		// A bad signature is refused and stores nothing.
		req, _ := http.NewRequest(http.MethodPost, e.webhookURL(ch), strings.NewReader(textEvent("m_3", "hi", time.Now())))
		req.Header.Set("X-Hub-Signature-256", "sha256=00")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusForbidden, res.StatusCode)

		var conv struct {
			Edges []struct {
				Node struct {
					Status   string
					Contact  struct{ Psid string }
					Messages struct {
						TotalCount int
						Edges      []struct {
							Node struct{ Author, Text, DeliveryStatus string }
						}
					}
				}
			}
		}
		e.ok(ws.agent, `{conversations{edges{node{status contact{psid} messages(first:20){totalCount edges{node{author text deliveryStatus}}}}}}}`,
			nil, "conversations", &conv)
		require.Len(t, conv.Edges, 1)
		require.Equal(t, 4, conv.Edges[0].Node.Messages.TotalCount, "two questions and two answers")

		var removed channelView
		e.ok(ws.owner, `mutation($c:ID!){removeMessengerChannel(channelId:$c){`+channelFields+`}}`,
			map[string]any{"c": ch.ID}, "removeMessengerChannel", &removed)
		require.Equal(t, "REMOVED", removed.Status)
		require.Empty(t, graph.Subscribed(pageID), "the page is still subscribed")
		require.Equal(t, http.StatusNotFound, e.postEvent(ch, textEvent("m_4", "hello?", time.Now())))
		e.ok(ws.agent, `{conversations{edges{node{status contact{psid} messages(first:20){totalCount edges{node{author text deliveryStatus}}}}}}}`,
			nil, "conversations", &conv)
		require.Equal(t, 4, conv.Edges[0].Node.Messages.TotalCount, "Remove lost the transcript")

		require.NotContains(t, e.log.String(), pageToken, "the page token was logged")
		require.NotContains(t, e.log.String(), appSecret, "the app secret was logged")
	})
}

// TestHandoffRoundTrip: "/agent" reaches a dashboard subscribed to
// handoffRequested at once; the bot stays silent; a human reply goes out as
// RESPONSE; back to the bot, it answers again.
func TestHandoffRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		connectedAgentID, ch := connectedAgent(t, e, ws.owner)

		c := dialGraphQL(t, e, "graphql-transport-ws")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init",
			Payload: json.RawMessage(`{"authorization":"Bearer ` + ws.agent + `"}`)}))
		var m wsMessage
		require.NoError(t, wsjson.Read(ctx, c, &m))
		require.Equal(t, "connection_ack", m.Type)
		require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "h", Type: "subscribe",
			Payload: json.RawMessage(fmt.Sprintf(`{"query":"subscription{handoffRequested(agentId:\"%s\"){id status contact{psid name}}}"}`, connectedAgentID))}))
		time.Sleep(100 * time.Millisecond) // let the subscription register

		now := time.Now()
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_h1", "  /AGENT ", now)))
		for {
			require.NoError(t, wsjson.Read(ctx, c, &m), "no handoffRequested event")
			if m.Type == "next" {
				break
			}
		}
		var ev struct {
			Data struct {
				HandoffRequested struct {
					ID, Status string
					Contact    struct{ Psid string }
				}
			}
		}
		require.NoError(t, json.Unmarshal(m.Payload, &ev))
		require.Equal(t, "HANDOFF_REQUESTED", ev.Data.HandoffRequested.Status)
		require.Equal(t, userPSID, ev.Data.HandoffRequested.Contact.Psid)
		convID := ev.Data.HandoffRequested.ID

		sent := graph.WaitSent(t, 1, 10*time.Second)
		require.Equal(t, "Thanks! A member of our team will reply here shortly.", sent[0].Text)

		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_h2", "When are you open?", now.Add(time.Second))))
		time.Sleep(500 * time.Millisecond)
		require.Len(t, graph.Sent(), 1, "the bot answered during a handoff")

		var conv struct{ Status string }
		e.ok(ws.agent, `mutation($c:ID!){acceptHandoff(conversationId:$c){status}}`, map[string]any{"c": convID}, "acceptHandoff", &conv)
		require.Equal(t, "HUMAN", conv.Status)
		_, res := e.do(ws.agent, `mutation($c:ID!){acceptHandoff(conversationId:$c){status}}`, map[string]any{"c": convID})
		require.Equal(t, "CONFLICT", res.code(), "a second accept")

		var msg struct{ Author, SentBy, DeliveryStatus string }
		e.ok(ws.agent, `mutation($c:ID!){sendAgentMessage(conversationId:$c,text:"Hi, Dana here. We open at 9."){author sentBy deliveryStatus}}`,
			map[string]any{"c": convID}, "sendAgentMessage", &msg)
		require.Equal(t, "AGENT", msg.Author)
		require.Equal(t, "Dana", msg.SentBy)
		require.Equal(t, "SENT", msg.DeliveryStatus)
		sent = graph.WaitSent(t, 2, 10*time.Second)
		require.Equal(t, "RESPONSE", sent[1].MessagingType)
		require.Equal(t, "Hi, Dana here. We open at 9.", sent[1].Text)

		var window struct {
			ReplyWindow struct{ State string }
		}
		e.ok(ws.agent, `query($c:ID!){node(id:$c){... on Conversation{replyWindow{state endsAt}}}}`, map[string]any{"c": convID}, "node", &window)
		require.Equal(t, "STANDARD", window.ReplyWindow.State)

		e.ok(ws.agent, `mutation($c:ID!){returnToBot(conversationId:$c){status}}`, map[string]any{"c": convID}, "returnToBot", &conv)
		require.Equal(t, "BOT", conv.Status)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_h3", "Are you open on Sundays?", now.Add(2*time.Second))))
		sent = graph.WaitSent(t, 3, 10*time.Second)
		require.Contains(t, sent[2].Text, "Sundays")
	})
}

// TestHandoffTimeout: with handoffTimeoutSeconds set, a request nobody
// accepted returns to the bot, which tells the person and answers again.
func TestHandoffTimeout(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		agentID, ch := connectedAgent(t, e, ws.owner)
		var a struct{ HandoffTimeoutSeconds int }
		e.ok(ws.owner, `mutation($a:ID!){updateAgent(id:$a,input:{handoffTimeoutSeconds:1}){handoffTimeoutSeconds}}`,
			map[string]any{"a": agentID}, "updateAgent", &a)
		require.Equal(t, 1, a.HandoffTimeoutSeconds)

		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_t1", "/agent", time.Now())))
		graph.WaitSent(t, 1, 10*time.Second)
		n, err := e.app.Conversations.ExpireHandoffs(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "returned to the bot before the timeout")

		time.Sleep(1100 * time.Millisecond)
		n, err = e.app.Conversations.ExpireHandoffs(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		sent := graph.WaitSent(t, 2, 10*time.Second)
		require.Contains(t, sent[1].Text, "nobody from our team could reply in time")
		n, err = e.app.Conversations.ExpireHandoffs(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "expired twice")

		var convs struct {
			Edges []struct{ Node struct{ Status string } }
		}
		e.ok(ws.agent, `{conversations{edges{node{status}}}}`, nil, "conversations", &convs)
		require.Equal(t, "BOT", convs.Edges[0].Node.Status)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_t2", "Are you open on Sundays?", time.Now())))
		sent = graph.WaitSent(t, 3, 10*time.Second)
		require.Contains(t, sent[2].Text, "Sundays")
	})
}

// postbackEvent is a Messenger postback, as a tap on Get Started or a
// persistent-menu entry sends it.
func postbackEvent(mid, title, payload string, at time.Time) string {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": at.UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]string{"id": userPSID}, "recipient": map[string]string{"id": pageID},
			"timestamp": at.UnixMilli(), "postback": map[string]string{"mid": mid, "title": title, "payload": payload},
		}},
	}}})
	return string(b)
}

// TestAnsweringBeyondQuestions goes through API.md's "Answering" with signed
// webhooks and the fake Graph API: connecting sets the Page's Get Started,
// greeting and menu; Get Started gets the welcome; small talk a short
// reply; a request for a person in plain words, and the menu's postback,
// hand off.
func TestAnsweringBeyondQuestions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		agentID, ch := connectedAgent(t, e, ws.owner)
		profile := graph.MessengerProfile(pageID)
		require.Equal(t, "GET_STARTED", profile.GetStarted.Payload)
		require.Equal(t, "SEACHAT_HANDOFF", profile.PersistentMenu[0].CallToActions[0].Payload)
		var agent struct{ WelcomeMessage string }
		e.ok(ws.agent, `query($a:ID!){node(id:$a){...on Agent{welcomeMessage}}}`, map[string]any{"a": agentID}, "node", &agent)
		require.Equal(t, `Hi! I'm the assistant of Harbor Bikes. Ask me anything, or tap "Talk to a human".`, agent.WelcomeMessage)

		now := time.Now()
		for i, tt := range []struct{ body, want string }{
			{postbackEvent("m_g", "Get Started", "GET_STARTED", now), agent.WelcomeMessage},
			{textEvent("m_hi", "Hallo!", now.Add(time.Second)), "Hallo! Wie kann ich Ihnen helfen?"},
			{textEvent("m_q", "are you open on saturday?", now.Add(2*time.Second)), "9 am to 6 pm"},
			{textEvent("m_h", "can I talk to a real person please", now.Add(3*time.Second)), "A member of our team will reply here shortly"},
		} {
			require.Equal(t, http.StatusOK, e.postEvent(ch, tt.body))
			sent := graph.WaitSent(t, i+1, 10*time.Second)
			require.Contains(t, sent[i].Text, tt.want)
		}
		var conv struct {
			Edges []struct{ Node struct{ Status string } }
		}
		e.ok(ws.agent, `{conversations(first:1){edges{node{status}}}}`, nil, "conversations", &conv)
		require.Equal(t, "HANDOFF_REQUESTED", conv.Edges[0].Node.Status)

		// The menu's "Talk to a human" postback hands off too.
		_, err := st.Client.Conversation.Update().SetStatus("BOT").Save(auth.SystemContext(context.Background()))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, e.postEvent(ch, postbackEvent("m_p", "Talk to a human", "SEACHAT_HANDOFF", now.Add(4*time.Second))))
		sent := graph.WaitSent(t, 5, 10*time.Second)
		require.Contains(t, sent[4].Text, "A member of our team will reply here shortly")
	})
}
