package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// protocols are the websocket subprotocols SeaChat speaks.
var protocols = []string{"graphql-transport-ws", "graphql-ws"}

// gqlSub is one GraphQL subscription over its own websocket. A goroutine
// reads the socket (answering pings), so a test can wait for events with a
// timeout without the read deadline closing the connection.
type gqlSub struct {
	t      *testing.T
	proto  string
	conn   *websocket.Conn
	events chan wsMessage
}

// subscribe opens a websocket to e, authenticates with token and starts
// query. It returns once the server acknowledged the connection; wait for
// the bus to count the subscription (waitSubscribers) before relying on it.
func subscribe(t *testing.T, e *env, token, proto, query string, vars map[string]any) *gqlSub {
	t.Helper()
	c := dialGraphQL(t, e, proto)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hs, hsCancel := context.WithTimeout(ctx, 5*time.Second)
	defer hsCancel()
	require.NoError(t, wsjson.Write(hs, c, wsMessage{Type: "connection_init",
		Payload: json.RawMessage(`{"authorization":"Bearer ` + token + `"}`)}))
	var ack wsMessage
	require.NoError(t, wsjson.Read(hs, c, &ack))
	require.Equal(t, "connection_ack", ack.Type)
	start := "subscribe"
	if proto == "graphql-ws" {
		start = "start"
	}
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	require.NoError(t, wsjson.Write(hs, c, wsMessage{ID: "1", Type: start, Payload: payload}))

	s := &gqlSub{t: t, proto: proto, conn: c, events: make(chan wsMessage, 64)}
	go func() {
		defer close(s.events)
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			switch m.Type {
			case "ping":
				_ = wsjson.Write(ctx, c, wsMessage{Type: "pong"})
			case "pong", "ka":
			default:
				s.events <- m
			}
		}
	}()
	return s
}

// next returns the data of the next event, failing the test after timeout
// or on anything but an event.
func (s *gqlSub) next(timeout time.Duration) json.RawMessage {
	s.t.Helper()
	select {
	case m, ok := <-s.events:
		require.True(s.t, ok, "%s: the connection closed", s.proto)
		require.Contains(s.t, []string{"next", "data"}, m.Type, "%s: %s %s", s.proto, m.Type, m.Payload)
		var p struct {
			Data   json.RawMessage
			Errors []gqlError
		}
		require.NoError(s.t, json.Unmarshal(m.Payload, &p))
		require.Empty(s.t, p.Errors, "%s", s.proto)
		return p.Data
	case <-time.After(timeout):
		s.t.Fatalf("%s: no event within %s", s.proto, timeout)
		return nil
	}
}

// addedMessage is the messageAdded selection the tests read.
type addedMessage struct {
	ID, Text, Author, Direction string
	Conversation                struct {
		ID      string
		Contact struct{ Psid string }
		Agent   struct{ ID string }
	}
}

const addedFields = `id text author direction conversation{id contact{psid} agent{id}}`

// nextMessage returns the next messageAdded event.
func (s *gqlSub) nextMessage() addedMessage {
	s.t.Helper()
	var d struct{ MessageAdded addedMessage }
	require.NoError(s.t, json.Unmarshal(s.next(15*time.Second), &d))
	return d.MessageAdded
}

// close ends the subscription's connection.
func (s *gqlSub) close() { s.conn.Close(websocket.StatusNormalClosure, "done") }

// ownSubscriptions are the bus subscriptions a server holds itself: the
// one to token revocations.
const ownSubscriptions = 1

// waitSubscribers waits until e's bus counts n GraphQL subscriptions, as its
// /metrics reports them (beside the server's own).
func (e *env) waitSubscribers(n int) {
	e.t.Helper()
	want := fmt.Sprintf("seachat_pubsub_subscribers %d", ownSubscriptions+n)
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		res := e.metrics()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "seachat_pubsub_subscribers ") {
				last = sc.Text()
			}
		}
		res.Body.Close()
		if last == want {
			return
		}
	}
	e.t.Fatalf("want %q, have %q", want, last)
}

// connectPage is connectedAgent for any Page of the fake Graph API: an
// agent with knowledge, connected to page through Step 1, Meta's
// verification and Step 2. The app secret is appSecret, so postEvent signs
// the Page's events.
func connectPage(t *testing.T, e *env, token, agentName string, page messengertest.Page) (string, channelView) {
	t.Helper()
	agentID := e.createAgent(token, agentName)
	var src struct{ Status string }
	e.ok(token, `mutation($a:ID!){addKnowledgeText(agentId:$a,title:"Hours",
		text:"We are open Monday to Saturday from 9 am to 6 pm. We are closed on Sundays."){status}}`,
		map[string]any{"a": agentID}, "addKnowledgeText", &src)
	var ch channelView
	e.ok(token, `mutation($a:ID!){setupMessengerChannel(agentId:$a){`+channelFields+`}}`,
		map[string]any{"a": agentID}, "setupMessengerChannel", &ch)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {ch.VerifyToken}, "hub.challenge": {"42"}}
	res, err := http.Get(e.webhookURL(ch) + "?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	e.ok(token, `mutation($c:ID!,$t:String!,$s:String!){connectMessengerPage(channelId:$c,
		input:{pageAccessToken:$t,appSecret:$s}){`+channelFields+`}}`,
		map[string]any{"c": ch.ID, "t": page.Token, "s": appSecret}, "connectMessengerPage", &ch)
	require.Equal(t, "CONNECTED", ch.Status)
	require.Equal(t, page.ID, *ch.PageID)
	return agentID, ch
}

// pageText is a Messenger text event from psid to page.
func pageText(page, psid, mid, text string, at time.Time) string {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": page, "time": at.UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": page},
			"timestamp": at.UnixMilli(), "message": map[string]string{"mid": mid, "text": text},
		}},
	}}})
	return string(b)
}

// TestMessageAddedOverBothProtocols: a message posted as a signed webhook
// reaches subscribers on either subprotocol, followed by the bot's reply.
func TestMessageAddedOverBothProtocols(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		agentID, ch := connectedAgent(t, e, ws.owner)

		subs := map[string]*gqlSub{}
		for _, proto := range protocols {
			subs[proto] = subscribe(t, e, ws.agent, proto, `subscription{messageAdded{`+addedFields+`}}`, nil)
		}
		e.waitSubscribers(len(protocols))

		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_s1", "When are you open on Saturday?", time.Now())))
		for proto, s := range subs {
			in := s.nextMessage()
			require.Equal(t, "When are you open on Saturday?", in.Text, proto)
			require.Equal(t, "USER", in.Author, proto)
			require.Equal(t, "INBOUND", in.Direction, proto)
			require.Equal(t, userPSID, in.Conversation.Contact.Psid, proto)
			require.Equal(t, agentID, in.Conversation.Agent.ID, proto)
			reply := s.nextMessage()
			require.Equal(t, "BOT", reply.Author, proto)
			require.Equal(t, "OUTBOUND", reply.Direction, proto)
			require.Contains(t, reply.Text, "9 am to 6 pm", proto)
			require.Equal(t, in.Conversation.ID, reply.Conversation.ID, proto)
		}

		// Leaving ends the bus subscription.
		for _, s := range subs {
			s.close()
		}
		e.waitSubscribers(0)
	})
}

// TestSubscriptionScope: a subscriber sees only its workspace, and
// agentId and conversationId narrow what it sees. Each check posts the
// event the subscriber should get last: had it received anything it should
// not, that would have come first (a bus delivers in publish order).
func TestSubscriptionScope(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		pageA1 := messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken}
		pageA2 := messengertest.Page{ID: "2000000000000002", Name: "Harbor Rentals", Token: "EAAGpagetoken2"}
		pageB := messengertest.Page{ID: "3000000000000003", Name: "Other Shop", Token: "EAAGpagetoken3"}
		graph := messengertest.New(t, pageA1, pageA2, pageB)
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		a, b := e.newWorkspace("A"), e.newWorkspace("B")
		_, chA1 := connectPage(t, e, a.owner, "Bikes", pageA1)
		agentA2, chA2 := connectPage(t, e, a.owner, "Rentals", pageA2)
		_, chB := connectPage(t, e, b.owner, "Other", pageB)

		const sub = `subscription($a:ID,$c:ID){messageAdded(agentId:$a,conversationId:$c){` + addedFields + `}}`
		allA := subscribe(t, e, a.agent, "graphql-transport-ws", sub, nil)
		allB := subscribe(t, e, b.agent, "graphql-ws", sub, nil)
		onlyA2 := subscribe(t, e, a.agent, "graphql-transport-ws", sub, map[string]any{"a": agentA2})
		e.waitSubscribers(3)

		// post sends a person's text and returns it as allA (or allB) saw
		// it, after the bot's reply.
		now := time.Now()
		n := 0
		post := func(all *gqlSub, ch channelView, page, psid, text string) addedMessage {
			t.Helper()
			n++
			require.Equal(t, http.StatusOK, e.postEvent(ch, pageText(page, psid, fmt.Sprintf("m_scope_%d", n), text,
				now.Add(time.Duration(n)*time.Second))))
			in := all.nextMessage()
			require.Equal(t, text, in.Text)
			reply := all.nextMessage()
			require.Equal(t, "BOT", reply.Author)
			require.Equal(t, in.Conversation.ID, reply.Conversation.ID)
			return in
		}
		first := post(allA, chA1, pageA1.ID, "u1", "hello from one")
		onlyConv := subscribe(t, e, a.agent, "graphql-ws", sub, map[string]any{"c": first.Conversation.ID})
		e.waitSubscribers(4)

		post(allA, chA1, pageA1.ID, "u2", "hello from two")
		again := post(allA, chA1, pageA1.ID, "u1", "again from one")
		got := onlyConv.nextMessage()
		require.Equal(t, "again from one", got.Text, "conversationId: another conversation's message came through")
		require.Equal(t, "BOT", onlyConv.nextMessage().Author)

		toA2 := post(allA, chA2, pageA2.ID, "u3", "hello rentals")
		require.Equal(t, agentA2, toA2.Conversation.Agent.ID)
		got = onlyA2.nextMessage()
		require.Equal(t, "hello rentals", got.Text, "agentId: another agent's message came through")
		require.Equal(t, "BOT", onlyA2.nextMessage().Author)

		inB := post(allB, chB, pageB.ID, "u4", "hello from B")
		require.NotEqual(t, again.Conversation.ID, inB.Conversation.ID)
		// allB's first two events were B's own: it received nothing of A's.
		// And A's subscribers received nothing of B's.
		select {
		case m := <-allA.events:
			t.Fatalf("workspace A received %s", m.Payload)
		case m := <-onlyConv.events:
			t.Fatalf("conversation filter received %s", m.Payload)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// replicas returns a function that opens another store on one fresh
// PostgreSQL database, as each replica of a deployment does.
func replicas(t *testing.T) func() *store.Store {
	dsn := storetest.URL(t, "postgres")
	return func() *store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := store.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// TestSubscriptionsAcrossReplicas: two SeaChat processes on one PostgreSQL
// database behave as one service. A webhook taken by one reaches
// subscribers on the other (LISTEN/NOTIFY), both ways, and each message is
// answered once although both run inbox workers.
func TestSubscriptionsAcrossReplicas(t *testing.T) {
	open := replicas(t)
	graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
	e1 := newEnv(t, open(), "SEACHAT_GRAPH_API_URL", graph.URL)
	e2 := newEnv(t, open(), "SEACHAT_GRAPH_API_URL", graph.URL)
	ws := e1.newWorkspace("Harbor")
	_, ch := connectedAgent(t, e1, ws.owner)

	on2 := subscribe(t, e2, ws.agent, "graphql-transport-ws", `subscription{messageAdded{`+addedFields+`}}`, nil)
	on1 := subscribe(t, e1, ws.agent, "graphql-ws", `subscription{messageAdded{`+addedFields+`}}`, nil)
	e2.waitSubscribers(1)
	e1.waitSubscribers(1)

	now := time.Now()
	require.Equal(t, http.StatusOK, e1.postEvent(ch, textEvent("m_r1", "When are you open on Saturday?", now)))
	for _, s := range []*gqlSub{on2, on1} {
		in := s.nextMessage()
		require.Equal(t, "When are you open on Saturday?", in.Text, s.proto)
		require.Equal(t, "USER", in.Author)
		require.Equal(t, "BOT", s.nextMessage().Author, s.proto)
	}

	require.Equal(t, http.StatusOK, e2.postEvent(ch, textEvent("m_r2", "Do you sell pizza?", now.Add(time.Second))))
	for _, s := range []*gqlSub{on1, on2} {
		require.Equal(t, "Do you sell pizza?", s.nextMessage().Text, s.proto)
		require.Equal(t, "BOT", s.nextMessage().Author, s.proto)
	}
	graph.WaitSent(t, 2, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	require.Len(t, graph.Sent(), 2, "a message was answered twice")
	select {
	case m := <-on2.events:
		t.Fatalf("unexpected event %s", m.Payload)
	case <-time.After(100 * time.Millisecond):
	}

	// A mutation on one replica (published after its transaction commits)
	// reaches conversationUpdated on the other.
	updates := subscribe(t, e2, ws.agent, "graphql-transport-ws", `subscription{conversationUpdated{id tags}}`, nil)
	e2.waitSubscribers(2)
	var list struct {
		Edges []struct{ Node struct{ ID string } }
	}
	e1.ok(ws.agent, `{conversations{edges{node{id}}}}`, nil, "conversations", &list)
	require.Len(t, list.Edges, 1)
	var tagged struct{ Tags []string }
	e1.ok(ws.agent, `mutation($c:ID!){tagConversation(conversationId:$c,tags:["vip"]){tags}}`,
		map[string]any{"c": list.Edges[0].Node.ID}, "tagConversation", &tagged)
	var ev struct {
		ConversationUpdated struct {
			ID   string
			Tags []string
		}
	}
	require.NoError(t, json.Unmarshal(updates.next(15*time.Second), &ev))
	require.Equal(t, list.Edges[0].Node.ID, ev.ConversationUpdated.ID)
	require.Equal(t, []string{"vip"}, ev.ConversationUpdated.Tags)
}

// knowledgeSource is the knowledgeSourceUpdated selection the tests read.
type knowledgeSource struct {
	ID, Title, Status string
	Error             *string
	ChunkCount        int
	Agent             struct{ ID string }
}

const sourceFields = `id title status error chunkCount agent{id}`

// nextSource returns the next knowledgeSourceUpdated event.
func (s *gqlSub) nextSource() knowledgeSource {
	s.t.Helper()
	var d struct{ KnowledgeSourceUpdated knowledgeSource }
	require.NoError(s.t, json.Unmarshal(s.next(15*time.Second), &d))
	return d.KnowledgeSourceUpdated
}

// upload sends filename with content to uploadKnowledge as a multipart
// request (the GraphQL multipart request spec) and returns the new source.
func (e *env) upload(token, agentID, filename, content string) knowledgeSource {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops, err := json.Marshal(map[string]any{
		"query":     `mutation($a:ID!,$f:Upload!){uploadKnowledge(agentId:$a,file:$f){` + sourceFields + `}}`,
		"variables": map[string]any{"a": agentID, "f": nil},
	})
	require.NoError(e.t, err)
	require.NoError(e.t, w.WriteField("operations", string(ops)))
	require.NoError(e.t, w.WriteField("map", `{"0":["variables.f"]}`))
	part, err := w.CreateFormFile("0", filename)
	require.NoError(e.t, err)
	_, err = part.Write([]byte(content))
	require.NoError(e.t, err)
	require.NoError(e.t, w.Close())

	_, out := e.post(token, w.FormDataContentType(), &body)
	require.Empty(e.t, out.Errors)
	var src knowledgeSource
	require.NoError(e.t, json.Unmarshal(out.Data["uploadKnowledge"], &src))
	return src
}

// TestKnowledgeSourceUpdated: uploads reach subscribers of their workspace
// when they are stored (PROCESSING) and again when ingested, READY or
// FAILED with a reason; agentId narrows by agent. The env's workers are
// held back until both uploads were announced, so the first events
// deterministically show PROCESSING (each event carries the source as it is
// when delivered).
func TestKnowledgeSourceUpdated(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st)
		a, b := e.newWorkspace("A"), e.newWorkspace("B")
		agent := e.createAgent(a.owner, "Bikes")
		other := e.createAgent(a.owner, "Rentals")

		const sub = `subscription($a:ID){knowledgeSourceUpdated(agentId:$a){` + sourceFields + `}}`
		onlyAgent := subscribe(t, e, a.agent, "graphql-transport-ws", sub, map[string]any{"a": agent})
		allB := subscribe(t, e, b.agent, "graphql-ws", sub, nil)
		e.waitSubscribers(2)

		// Another agent's source comes first: had agentId let it through,
		// onlyAgent would see it before the uploads.
		var text knowledgeSource
		e.ok(a.owner, `mutation($a:ID!){addKnowledgeText(agentId:$a,title:"Prices",text:"A day costs 20 euros."){`+sourceFields+`}}`,
			map[string]any{"a": other}, "addKnowledgeText", &text)
		require.Equal(t, "READY", text.Status)

		hours := e.upload(a.owner, agent, "hours.txt", "We are open Monday to Saturday from 9 am to 6 pm.")
		broken := e.upload(a.owner, agent, "broken.pdf", "just some text")
		for _, want := range []knowledgeSource{hours, broken} {
			require.Equal(t, "PROCESSING", want.Status)
			got := onlyAgent.nextSource()
			require.Equal(t, want.ID, got.ID)
			require.Equal(t, "PROCESSING", got.Status)
			require.Equal(t, agent, got.Agent.ID)
		}

		// Ingest them; the two workers may finish in either order.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.app.Knowledge.Run(ctx)
			close(done)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		got := map[string]knowledgeSource{}
		for range 2 {
			s := onlyAgent.nextSource()
			got[s.ID] = s
		}
		require.Equal(t, "READY", got[hours.ID].Status)
		require.Nil(t, got[hours.ID].Error)
		require.Positive(t, got[hours.ID].ChunkCount)
		require.Equal(t, "FAILED", got[broken.ID].Status)
		require.NotNil(t, got[broken.ID].Error)
		require.Contains(t, *got[broken.ID].Error, "broken.pdf looks damaged")

		// allB's first event is B's own: it received nothing of A's. And
		// A's subscriber receives nothing of B's.
		otherB := e.createAgent(b.owner, "Other")
		var textB knowledgeSource
		e.ok(b.owner, `mutation($a:ID!){addKnowledgeText(agentId:$a,title:"Hours",text:"Open every day."){`+sourceFields+`}}`,
			map[string]any{"a": otherB}, "addKnowledgeText", &textB)
		gotB := allB.nextSource()
		require.Equal(t, textB.ID, gotB.ID)
		require.Equal(t, "READY", gotB.Status)
		select {
		case m := <-onlyAgent.events:
			t.Fatalf("agent subscriber received %s", m.Payload)
		case <-time.After(300 * time.Millisecond):
		}
	})
}
