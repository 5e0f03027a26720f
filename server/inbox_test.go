package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// tokenID returns the id of the workspace's API token called name.
func (e *env) tokenID(owner, name string) string {
	e.t.Helper()
	var toks []struct{ ID, Name string }
	e.ok(owner, `{apiTokens{id name}}`, nil, "apiTokens", &toks)
	for _, t := range toks {
		if t.Name == name {
			return t.ID
		}
	}
	e.t.Fatalf("no token %q", name)
	return ""
}

type assignedConv struct {
	ID       string
	Status   string
	Assignee *struct{ ID, Name string }
}

const assignedFields = `id status assignee{id name}`

// TestAssignment: acceptHandoff assigns; a second agent's reply is a
// CONFLICT naming the holder until it says takeOver; AGENT tokens assign
// and unassign only themselves, OWNER tokens anyone of the workspace; the
// "mine" and "unassigned" filters; a reply on an unassigned conversation
// assigns it; every change is published on conversationUpdated.
func TestAssignment(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		other := e.newWorkspace("Other")
		agentID, ch := connectedAgent(t, e, ws.owner)
		eve := e.createToken(ws.owner, "Eve")
		var me struct{ TokenID string }
		e.ok(ws.agent, `{viewer{tokenId}}`, nil, "viewer", &me)
		danaID, eveID := me.TokenID, eve.APIToken.ID
		require.Equal(t, e.tokenID(ws.owner, "Dana"), danaID, "viewer.tokenId")
		strangerID := e.tokenID(other.owner, "Dana")

		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_a1", "/agent", time.Now())))
		graph.WaitSent(t, 1, 10*time.Second)
		var convs struct {
			Edges []struct{ Node assignedConv }
		}
		e.ok(ws.agent, `{conversations{edges{node{`+assignedFields+`}}}}`, nil, "conversations", &convs)
		require.Len(t, convs.Edges, 1)
		convID := convs.Edges[0].Node.ID
		require.Nil(t, convs.Edges[0].Node.Assignee, "a new conversation is unassigned")

		updates := subscribe(t, e, ws.owner, "graphql-transport-ws",
			`subscription{conversationUpdated{`+assignedFields+`}}`, nil)
		e.waitSubscribers(1)
		nextUpdate := func() assignedConv {
			t.Helper()
			var d struct{ ConversationUpdated assignedConv }
			require.NoError(t, json.Unmarshal(updates.next(10*time.Second), &d))
			return d.ConversationUpdated
		}

		var c assignedConv
		e.ok(ws.agent, `mutation($c:ID!){acceptHandoff(conversationId:$c){`+assignedFields+`}}`,
			map[string]any{"c": convID}, "acceptHandoff", &c)
		require.Equal(t, "HUMAN", c.Status)
		require.Equal(t, danaID, c.Assignee.ID, "acceptHandoff assigns the accepting token")
		require.Equal(t, danaID, nextUpdate().Assignee.ID)

		send := `mutation($c:ID!,$t:String!,$o:Boolean){sendAgentMessage(conversationId:$c,text:$t,takeOver:$o){author sentBy deliveryStatus}}`
		_, res := e.do(eve.Token, send, map[string]any{"c": convID, "t": "Eve here"})
		require.Equal(t, "CONFLICT", res.code(), "a reply on Dana's conversation")
		require.Contains(t, res.Errors[0].Message, "Dana")
		require.Contains(t, res.Errors[0].Message, "takeOver: true")
		require.Len(t, graph.Sent(), 1, "the refused reply reached Meta")

		var msg struct{ Author, SentBy, DeliveryStatus string }
		e.ok(eve.Token, send, map[string]any{"c": convID, "t": "Eve here, I'll take it", "o": true}, "sendAgentMessage", &msg)
		require.Equal(t, "SENT", msg.DeliveryStatus)
		require.Equal(t, "Eve", msg.SentBy)
		graph.WaitSent(t, 2, 10*time.Second)
		require.Equal(t, eveID, nextUpdate().Assignee.ID, "takeOver reassigns")
		e.ok(eve.Token, send, map[string]any{"c": convID, "t": "Anything else?"}, "sendAgentMessage", &msg)
		require.Equal(t, "SENT", msg.DeliveryStatus, "the holder replies without takeOver")

		count := func(token, where string, vars map[string]any) int {
			t.Helper()
			var page struct{ TotalCount int }
			q := `{conversations(where:` + where + `){totalCount}}`
			if vars != nil {
				q = `query($id:ID)` + q
			}
			e.ok(token, q, vars, "conversations", &page)
			return page.TotalCount
		}
		require.Equal(t, 1, count(eve.Token, `{assigneeId:$id}`, map[string]any{"id": eveID}), "Eve's")
		require.Equal(t, 0, count(ws.agent, `{assigneeId:$id}`, map[string]any{"id": danaID}), "Dana's")
		require.Equal(t, 0, count(ws.agent, `{unassigned:true}`, nil))
		require.Equal(t, 1, count(ws.agent, `{unassigned:false}`, nil))

		assign := `mutation($c:ID!,$a:ID){assignConversation(conversationId:$c,assigneeId:$a){` + assignedFields + `}}`
		_, res = e.do(eve.Token, assign, map[string]any{"c": convID, "a": danaID})
		require.Equal(t, "FORBIDDEN", res.code(), "an AGENT assigns another token")
		_, res = e.do(ws.agent, assign, map[string]any{"c": convID, "a": nil})
		require.Equal(t, "FORBIDDEN", res.code(), "an AGENT unassigns another token")
		e.ok(eve.Token, assign, map[string]any{"c": convID, "a": nil}, "assignConversation", &c)
		require.Nil(t, c.Assignee, "an AGENT unassigns itself")
		require.Nil(t, nextUpdate().Assignee)
		require.Equal(t, 1, count(ws.agent, `{unassigned:true}`, nil))
		e.ok(ws.agent, assign, map[string]any{"c": convID, "a": danaID}, "assignConversation", &c)
		require.Equal(t, danaID, c.Assignee.ID, "an AGENT assigns itself")
		require.Equal(t, danaID, nextUpdate().Assignee.ID)
		e.ok(ws.owner, assign, map[string]any{"c": convID, "a": eveID}, "assignConversation", &c)
		require.Equal(t, eveID, c.Assignee.ID, "an OWNER assigns anyone")
		require.Equal(t, eveID, nextUpdate().Assignee.ID)
		_, res = e.do(ws.owner, assign, map[string]any{"c": convID, "a": strangerID})
		require.Equal(t, "NOT_FOUND", res.code(), "a token of another workspace")
		_, res = e.do(other.owner, assign, map[string]any{"c": convID, "a": strangerID})
		require.Equal(t, "NOT_FOUND", res.code(), "a conversation of another workspace")

		// A reply on an unassigned conversation makes it the sender's.
		e.ok(ws.owner, assign, map[string]any{"c": convID, "a": nil}, "assignConversation", &c)
		require.Nil(t, nextUpdate().Assignee)
		e.ok(ws.agent, send, map[string]any{"c": convID, "t": "Dana again"}, "sendAgentMessage", &msg)
		require.Equal(t, danaID, nextUpdate().Assignee.ID)
		var node struct{ Assignee struct{ ID string } }
		e.ok(ws.agent, `query($c:ID!){node(id:$c){... on Conversation{assignee{id}}}}`, map[string]any{"c": convID}, "node", &node)
		require.Equal(t, danaID, node.Assignee.ID)

		// returnToBot: nobody handles it any more.
		e.ok(ws.agent, `mutation($c:ID!){returnToBot(conversationId:$c){`+assignedFields+`}}`,
			map[string]any{"c": convID}, "returnToBot", &c)
		require.Nil(t, c.Assignee)

		var stats struct{ MedianHandoffAcceptMs, MedianFirstHumanReplyMs *int }
		e.ok(ws.owner, `query($a:ID!){agentStats(agentId:$a){medianHandoffAcceptMs medianFirstHumanReplyMs}}`,
			map[string]any{"a": agentID}, "agentStats", &stats)
		require.NotNil(t, stats.MedianHandoffAcceptMs, "the accepted handoff")
		require.NotNil(t, stats.MedianFirstHumanReplyMs, "the human replies")
		require.LessOrEqual(t, *stats.MedianHandoffAcceptMs, *stats.MedianFirstHumanReplyMs)

		// An attachment is refused, clearly, before anything is stored.
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		ops, err := json.Marshal(map[string]any{
			"query":     `mutation($c:ID!,$f:Upload){sendAgentMessage(conversationId:$c,text:"photo",attachment:$f){id}}`,
			"variables": map[string]any{"c": convID, "f": nil},
		})
		require.NoError(t, err)
		require.NoError(t, w.WriteField("operations", string(ops)))
		require.NoError(t, w.WriteField("map", `{"0":["variables.f"]}`))
		part, err := w.CreateFormFile("0", "bike.jpg")
		require.NoError(t, err)
		part.Write([]byte("\xff\xd8\xff not really a jpeg"))
		require.NoError(t, w.Close())
		_, res = e.post(ws.agent, w.FormDataContentType(), &body)
		require.Equal(t, "BAD_USER_INPUT", res.code())
		require.Contains(t, res.Errors[0].Message, "attachments are not supported yet")
		require.Len(t, graph.Sent(), 4, "the refused attachment reached Meta")
	})
}

// TestNotes: a note is stored as NOTE, shown and published, never sent to
// Meta, does not move the messaging window and counts in no statistic.
func TestNotes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		other := e.newWorkspace("Other")
		agentID, ch := connectedAgent(t, e, ws.owner)
		at := time.Now().Add(-time.Minute).Truncate(time.Second)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_n1", "When are you open?", at)))
		graph.WaitSent(t, 1, 10*time.Second)

		type convView struct {
			ID                string
			LastUserMessageAt time.Time
			ReplyWindow       struct{ State string }
		}
		var convs struct{ Edges []struct{ Node convView } }
		fields := `id lastUserMessageAt replyWindow{state}`
		e.ok(ws.agent, `{conversations{edges{node{`+fields+`}}}}`, nil, "conversations", &convs)
		before := convs.Edges[0].Node
		var stats struct{ Conversations, InboundMessages, BotReplies int }
		statsQuery := `query($a:ID!){agentStats(agentId:$a){conversations inboundMessages botReplies}}`
		e.ok(ws.owner, statsQuery, map[string]any{"a": agentID}, "agentStats", &stats)

		added := subscribe(t, e, ws.owner, "graphql-ws", `subscription{messageAdded{`+addedFields+`}}`, nil)
		e.waitSubscribers(1)
		var note struct {
			ID, Author, Direction, DeliveryStatus, SentBy, Text string
		}
		e.ok(ws.agent, `mutation($c:ID!){addNote(conversationId:$c,text:"  VIP: offer the 10% discount  "){id author direction deliveryStatus sentBy text}}`,
			map[string]any{"c": before.ID}, "addNote", &note)
		require.Equal(t, "NOTE", note.Author)
		require.Equal(t, "OUTBOUND", note.Direction)
		require.Equal(t, "RECEIVED", note.DeliveryStatus)
		require.Equal(t, "Dana", note.SentBy)
		require.Equal(t, "VIP: offer the 10% discount", note.Text)
		ev := added.nextMessage()
		for ev.ID != note.ID { // the bot's reply may be announced just before
			ev = added.nextMessage()
		}
		require.Equal(t, "NOTE", ev.Author)

		time.Sleep(200 * time.Millisecond)
		require.Len(t, graph.Sent(), 1, "a note reached Meta")
		e.ok(ws.agent, `{conversations{edges{node{`+fields+`}}}}`, nil, "conversations", &convs)
		require.Equal(t, before.LastUserMessageAt.UTC(), convs.Edges[0].Node.LastUserMessageAt.UTC())
		require.Equal(t, before.ReplyWindow, convs.Edges[0].Node.ReplyWindow)
		var after struct{ Conversations, InboundMessages, BotReplies int }
		e.ok(ws.owner, statsQuery, map[string]any{"a": agentID}, "agentStats", &after)
		require.Equal(t, stats, after, "a note changed the statistics")

		var transcript string
		e.ok(ws.agent, `query($c:ID!){transcript(conversationId:$c,format:TEXT)}`, map[string]any{"c": before.ID}, "transcript", &transcript)
		require.Contains(t, transcript, "Note by Dana:")
		require.Contains(t, transcript, "VIP: offer the 10% discount")

		// The bot's answers never see notes; it still answers.
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_n2", "Are you open on Sundays?", time.Now())))
		graph.WaitSent(t, 2, 10*time.Second)

		addNote := `mutation($c:ID!,$t:String!){addNote(conversationId:$c,text:$t){id}}`
		for _, tt := range []struct {
			name, token, text, code string
		}{
			{"blank", ws.agent, "   ", "BAD_USER_INPUT"},
			{"too long", ws.agent, strings.Repeat("a", 20001), "BAD_USER_INPUT"},
			{"another workspace", other.owner, "hi", "NOT_FOUND"},
		} {
			_, res := e.do(tt.token, addNote, map[string]any{"c": before.ID, "t": tt.text})
			require.Equal(t, tt.code, res.code(), tt.name)
		}
	})
}

// TestCannedResponses: per workspace, shortcuts normalised, validated and
// unique; deleted by id.
func TestCannedResponses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st)
		ws := e.newWorkspace("Harbor")
		other := e.newWorkspace("Other")
		type canned struct{ ID, Shortcut, Text string }
		create := `mutation($s:String!,$t:String!){createCannedResponse(shortcut:$s,text:$t){id shortcut text}}`
		var hours, bye canned
		e.ok(ws.agent, create, map[string]any{"s": " /Hours", "t": "We open at 9 am, Monday to Saturday."}, "createCannedResponse", &hours)
		require.Equal(t, "hours", hours.Shortcut)
		e.ok(ws.owner, create, map[string]any{"s": "bye_2", "t": "Have a nice day!"}, "createCannedResponse", &bye)
		e.ok(other.owner, create, map[string]any{"s": "hours", "t": "Another workspace's"}, "createCannedResponse", &canned{})

		for _, tt := range []struct{ name, shortcut, text, code string }{
			{"taken", "/hours", "again", "CONFLICT"},
			{"taken, other case", "HOURS", "again", "CONFLICT"},
			{"spaces", "opening hours", "x", "BAD_USER_INPUT"},
			{"blank", " / ", "x", "BAD_USER_INPUT"},
			{"too long", strings.Repeat("a", 33), "x", "BAD_USER_INPUT"},
			{"punctuation", "hours!", "x", "BAD_USER_INPUT"},
			{"blank text", "empty", "  ", "BAD_USER_INPUT"},
		} {
			_, res := e.do(ws.agent, create, map[string]any{"s": tt.shortcut, "t": tt.text})
			require.Equal(t, tt.code, res.code(), tt.name)
		}

		var list []canned
		e.ok(ws.agent, `{cannedResponses{id shortcut text}}`, nil, "cannedResponses", &list)
		require.Equal(t, []canned{bye, hours}, list, "the workspace's, by shortcut")
		var node struct{ Shortcut string }
		e.ok(ws.agent, `query($id:ID!){node(id:$id){... on CannedResponse{shortcut}}}`, map[string]any{"id": hours.ID}, "node", &node)
		require.Equal(t, "hours", node.Shortcut)

		del := `mutation($id:ID!){deleteCannedResponse(id:$id)}`
		_, res := e.do(other.owner, del, map[string]any{"id": hours.ID})
		require.Equal(t, "NOT_FOUND", res.code(), "another workspace's")
		var id string
		e.ok(ws.agent, del, map[string]any{"id": hours.ID}, "deleteCannedResponse", &id)
		require.Equal(t, hours.ID, id)
		e.ok(ws.agent, `{cannedResponses{id shortcut text}}`, nil, "cannedResponses", &list)
		require.Equal(t, []canned{bye}, list)
		_, res = e.do(ws.agent, del, map[string]any{"id": hours.ID})
		require.Equal(t, "NOT_FOUND", res.code(), "deleted twice")
	})
}

// TestUnreadCounts: per conversation and per viewer token; marking read
// zeroes the viewer's count only, and a new message counts again.
func TestUnreadCounts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newIdleEnv(t, st)
		ws := e.newWorkspace("A")
		other := e.newWorkspace("B")
		now := time.Now()
		c1, _ := seedConversation(t, e, ws.owner, "p1", nil, now.Add(-time.Minute))
		c2, _ := seedConversation(t, e, ws.owner, "p2", nil, now)
		sys := auth.SystemContext(context.Background())
		write := func(convID int, author message.Author, text string) {
			t.Helper()
			c := st.Client.Conversation.GetX(sys, convID)
			dir := message.DirectionINBOUND
			if author != message.AuthorUSER {
				dir = message.DirectionOUTBOUND
			}
			_, err := st.Client.Message.Create().SetWorkspaceID(c.WorkspaceID).SetConversationID(c.ID).
				SetChannelID(c.ChannelID).SetDirection(dir).SetAuthor(author).SetText(text).Save(sys)
			require.NoError(t, err)
		}
		write(c2.ID, message.AuthorUSER, "anyone there?")
		write(c2.ID, message.AuthorUSER, "hello?")

		unread := func(token string) map[string]int {
			t.Helper()
			var page struct {
				Edges []struct {
					Node struct {
						ID          string
						UnreadCount int
					}
				}
			}
			e.ok(token, `{conversations{edges{node{id unreadCount}}}}`, nil, "conversations", &page)
			out := map[string]int{}
			for _, ed := range page.Edges {
				out[ed.Node.ID] = ed.Node.UnreadCount
			}
			return out
		}
		c1ID, c2ID := itoa(c1.ID), itoa(c2.ID)
		require.Equal(t, map[string]int{c1ID: 1, c2ID: 3}, unread(ws.agent), "USER messages only, all unread")

		var marked struct {
			ID          string
			UnreadCount int
		}
		e.ok(ws.agent, `mutation($c:ID!){markConversationRead(conversationId:$c){id unreadCount}}`,
			map[string]any{"c": c2.ID}, "markConversationRead", &marked)
		require.Equal(t, 0, marked.UnreadCount)
		require.Equal(t, map[string]int{c1ID: 1, c2ID: 0}, unread(ws.agent))
		require.Equal(t, map[string]int{c1ID: 1, c2ID: 3}, unread(ws.owner), "per viewer")

		write(c2.ID, message.AuthorBOT, "Our team replies soon.")
		write(c2.ID, message.AuthorUSER, "still there?")
		require.Equal(t, map[string]int{c1ID: 1, c2ID: 1}, unread(ws.agent), "only the person's new message")
		e.ok(ws.agent, `mutation($c:ID!){markConversationRead(conversationId:$c){id unreadCount}}`,
			map[string]any{"c": c2.ID}, "markConversationRead", &marked)
		require.Equal(t, map[string]int{c1ID: 1, c2ID: 0}, unread(ws.agent), "marked twice")

		_, res := e.do(other.owner, `mutation($c:ID!){markConversationRead(conversationId:$c){id}}`, map[string]any{"c": c1.ID})
		require.Equal(t, "NOT_FOUND", res.code())
	})
}

// TestBusinessHours: the settings, validated; outside business hours a
// handoff (command or quick reply) sends afterHoursMessage; inside, or
// without business hours, the handoffMessage.
func TestBusinessHours(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		agentID, ch := connectedAgent(t, e, ws.owner)

		type hours struct {
			Day   string `json:"day"`
			Open  string `json:"open"`
			Close string `json:"close"`
		}
		var ag struct {
			BusinessHours     []hours
			Timezone          string
			AfterHoursMessage string
		}
		fields := `businessHours{day open close} timezone afterHoursMessage`
		e.ok(ws.owner, `query($a:ID!){node(id:$a){... on Agent{`+fields+`}}}`, map[string]any{"a": agentID}, "node", &ag)
		require.Empty(t, ag.BusinessHours, "no business hours: always open")
		require.Equal(t, "UTC", ag.Timezone)
		require.NotEmpty(t, ag.AfterHoursMessage)

		update := `mutation($a:ID!,$in:UpdateAgentInput!){updateAgent(id:$a,input:$in){` + fields + `}}`
		for _, tt := range []struct {
			name string
			in   map[string]any
		}{
			{"unknown zone", map[string]any{"timezone": "Mars/Olympus"}},
			{"empty zone", map[string]any{"timezone": ""}},
			{"bad time", map[string]any{"businessHours": []hours{{"MONDAY", "9:00", "17:00"}}}},
			{"close before open", map[string]any{"businessHours": []hours{{"MONDAY", "17:00", "09:00"}}}},
			{"after 24:00", map[string]any{"businessHours": []hours{{"MONDAY", "09:00", "24:30"}}}},
			{"bad day", map[string]any{"businessHours": []map[string]string{{"day": "FUNDAY", "open": "09:00", "close": "10:00"}}}},
			{"blank message", map[string]any{"afterHoursMessage": "  "}},
		} {
			_, res := e.do(ws.owner, update, map[string]any{"a": agentID, "in": tt.in})
			require.Equal(t, "BAD_USER_INPUT", res.code(), tt.name)
		}

		// Berlin's today is closed: open only on another day of the week.
		berlin, err := time.LoadLocation("Europe/Berlin")
		require.NoError(t, err)
		today := strings.ToUpper(time.Now().In(berlin).Weekday().String())
		otherDay := strings.ToUpper(time.Now().In(berlin).Add(48 * time.Hour).Weekday().String())
		after := "We're closed now; we reply from 9 am."
		e.ok(ws.owner, update, map[string]any{"a": agentID, "in": map[string]any{
			"timezone": "Europe/Berlin", "afterHoursMessage": after,
			"businessHours": []hours{{otherDay, "09:00", "12:00"}, {otherDay, "13:00", "24:00"}},
		}}, "updateAgent", &ag)
		require.Equal(t, "Europe/Berlin", ag.Timezone)
		require.Len(t, ag.BusinessHours, 2)
		require.Equal(t, hours{otherDay, "13:00", "24:00"}, ag.BusinessHours[1])

		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_b1", "/agent", time.Now())))
		sent := graph.WaitSent(t, 1, 10*time.Second)
		require.Equal(t, after, sent[0].Text, "a handoff outside business hours")

		var convs struct {
			Edges []struct{ Node struct{ ID, Status string } }
		}
		e.ok(ws.agent, `{conversations{edges{node{id status}}}}`, nil, "conversations", &convs)
		require.Equal(t, "HANDOFF_REQUESTED", convs.Edges[0].Node.Status, "the handoff is still requested")
		e.ok(ws.agent, `mutation($c:ID!){returnToBot(conversationId:$c){id status}}`,
			map[string]any{"c": convs.Edges[0].Node.ID}, "returnToBot", &struct{}{})

		e.ok(ws.owner, update, map[string]any{"a": agentID, "in": map[string]any{
			"businessHours": []hours{{today, "00:00", "24:00"}},
		}}, "updateAgent", &ag)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_b2", "/agent", time.Now().Add(time.Second))))
		sent = graph.WaitSent(t, 2, 10*time.Second)
		require.Equal(t, "Thanks! A member of our team will reply here shortly.", sent[1].Text, "inside business hours")
	})
}

// TestSetupReturnsUnfinishedChannel: Step 1 twice (a double click, even
// concurrent) gives one channel; once it is connected, Step 1 starts a new
// one.
func TestSetupReturnsUnfinishedChannel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws := e.newWorkspace("Harbor")
		agentID := e.createAgent(ws.owner, "Harbor Bikes")
		setup := `mutation($a:ID!){setupMessengerChannel(agentId:$a){id status}}`
		ids := make([]string, 3)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, res := e.do(ws.owner, setup, map[string]any{"a": agentID})
				if !assert.Empty(t, res.Errors) {
					return
				}
				var ch struct{ ID string }
				assert.NoError(t, json.Unmarshal(res.Data["setupMessengerChannel"], &ch))
				ids[i] = ch.ID
			}()
		}
		wg.Wait()
		require.NotEmpty(t, ids[0])
		require.Equal(t, []string{ids[0], ids[0], ids[0]}, ids, "one channel for concurrent Step 1s")
		var agent struct{ MessengerChannels []struct{ ID string } }
		e.ok(ws.owner, `query($a:ID!){node(id:$a){... on Agent{messengerChannels{id}}}}`, map[string]any{"a": agentID}, "node", &agent)
		require.Len(t, agent.MessengerChannels, 1)

		connectedID, connected := connectedAgent(t, e, ws.owner)
		var again struct{ ID, Status string }
		e.ok(ws.owner, setup, map[string]any{"a": connectedID}, "setupMessengerChannel", &again)
		require.NotEqual(t, connected.ID, again.ID)
		require.Equal(t, "AWAITING_VERIFICATION", again.Status)
	})
}
