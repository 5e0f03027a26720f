package server_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/viewer"
)

// seeded is a conversation seedThreads stored.
type seeded struct {
	conv *ent.Conversation
	msgs []*ent.Message
}

// seedThreads stores, in the workspace of token, one agent with a channel
// and a conversation per contact name, each with texts as its messages
// (alternately from the person and the bot, a second apart). Conversation
// i's lastMessageAt is base minus i minutes, so they list in order.
func seedThreads(t *testing.T, e *env, token string, base time.Time, names []string, texts ...string) []seeded {
	t.Helper()
	ctx := auth.SystemContext(context.Background())
	v, err := auth.New(e.st.Client, slog.New(slog.DiscardHandler), time.Now).Authenticate(ctx, token)
	require.NoError(t, err)
	c, ws := e.st.Client, v.WorkspaceID
	ag, err := c.Agent.Create().SetWorkspaceID(ws).SetName(fmt.Sprintf("Bot %d", base.UnixNano())).Save(ctx)
	require.NoError(t, err)
	ch, err := c.MessengerChannel.Create().SetWorkspaceID(ws).SetAgentID(ag.ID).
		SetWebhookKey(fmt.Sprintf("key-%d-%d", ws, base.UnixNano())).SetVerifyToken("vt").Save(ctx)
	require.NoError(t, err)
	var out []seeded
	for i, name := range names {
		create := c.Contact.Create().SetWorkspaceID(ws).SetChannelID(ch.ID).SetPsid(fmt.Sprintf("p%d-%d", ag.ID, i))
		if name != "" {
			create.SetName(name)
		}
		ct, err := create.Save(ctx)
		require.NoError(t, err)
		at := base.Add(-time.Duration(i) * time.Minute)
		conv, err := c.Conversation.Create().SetWorkspaceID(ws).SetAgentID(ag.ID).SetChannelID(ch.ID).
			SetContactID(ct.ID).SetLastMessageAt(at).Save(ctx)
		require.NoError(t, err)
		s := seeded{conv: conv}
		for j, text := range texts {
			dir, author := message.DirectionINBOUND, message.AuthorUSER
			if j%2 == 1 {
				dir, author = message.DirectionOUTBOUND, message.AuthorBOT
			}
			m, err := c.Message.Create().SetWorkspaceID(ws).SetConversationID(conv.ID).SetChannelID(ch.ID).
				SetDirection(dir).SetAuthor(author).SetText(text).
				SetCreatedAt(at.Add(time.Duration(j-len(texts)) * time.Second)).Save(ctx)
			require.NoError(t, err)
			s.msgs = append(s.msgs, m)
		}
		out = append(out, s)
	}
	return out
}

type idPage struct {
	TotalCount int
	Edges      []struct {
		Cursor string
		Node   struct{ ID string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

func (p idPage) ids() []string {
	ids := []string{}
	for _, e := range p.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

const pageFields = `totalCount edges{cursor node{id}} pageInfo{hasNextPage hasPreviousPage startCursor endCursor}`

// walk pages through a connection forwards (first/after) and backwards
// (last/before) by size, checking pageInfo on the way; it returns the IDs in
// connection order both ways.
func walk(t *testing.T, size, total int, fetch func(args map[string]any) idPage) (forward, backward []string) {
	t.Helper()
	var after *string
	for i := 0; ; i++ {
		p := fetch(map[string]any{"first": size, "after": after})
		require.Equal(t, total, p.TotalCount, "totalCount while paging forward")
		forward = append(forward, p.ids()...)
		require.Equal(t, len(forward) < total, p.PageInfo.HasNextPage, "hasNextPage on forward page %d", i)
		if !p.PageInfo.HasNextPage {
			break
		}
		require.Equal(t, p.Edges[len(p.Edges)-1].Cursor, *p.PageInfo.EndCursor)
		after = p.PageInfo.EndCursor
		require.Less(t, i, total, "paging forward does not end")
	}
	var before *string
	for i := 0; ; i++ {
		p := fetch(map[string]any{"last": size, "before": before})
		require.Equal(t, total, p.TotalCount, "totalCount while paging backward")
		backward = append(p.ids(), backward...)
		require.Equal(t, len(backward) < total, p.PageInfo.HasPreviousPage, "hasPreviousPage on backward page %d", i)
		if !p.PageInfo.HasPreviousPage {
			break
		}
		require.Equal(t, p.Edges[0].Cursor, *p.PageInfo.StartCursor)
		before = p.PageInfo.StartCursor
		require.Less(t, i, total, "paging backward does not end")
	}
	return forward, backward
}

func TestPagination(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws, other := e.newWorkspace("A"), e.newWorkspace("B")
		base := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
		names := []string{"Ada", "Grace", "Linus", "Ken", "Rob", "Barbara", "Edsger"}
		threads := seedThreads(t, e, ws.agent, base, names, "m1", "m2", "m3", "m4", "m5", "m6", "m7")
		// Two conversations with the same lastMessageAt: the ID breaks ties.
		tied := seedThreads(t, e, ws.agent, base.Add(-3*time.Minute), []string{"Tie"}, "tie")
		seedThreads(t, e, other.agent, base, []string{"Elsewhere"}, "m1")
		all := len(threads) + len(tied)

		var ref idPage
		e.ok(ws.agent, `{conversations(first:100){`+pageFields+`}}`, nil, "conversations", &ref)
		require.Len(t, ref.Edges, all)
		require.Equal(t, itoa(threads[0].conv.ID), ref.Edges[0].Node.ID, "newest lastMessageAt first")
		require.Equal(t, itoa(threads[len(threads)-1].conv.ID), ref.Edges[all-1].Node.ID)

		conversations := func(where string) func(map[string]any) idPage {
			return func(args map[string]any) idPage {
				var p idPage
				e.ok(ws.agent, `query($first:Int,$after:Cursor,$last:Int,$before:Cursor){
					conversations(first:$first,after:$after,last:$last,before:$before`+where+`){`+pageFields+`}}`,
					args, "conversations", &p)
				return p
			}
		}
		for _, size := range []int{1, 2, 3, all, all + 5} {
			fwd, bwd := walk(t, size, all, conversations(""))
			require.Equal(t, ref.ids(), fwd, "forward by %d", size)
			require.Equal(t, ref.ids(), bwd, "backward by %d", size)
		}
		// Under a filter and a search, totalCount counts what matches.
		fwd, bwd := walk(t, 2, all-1, conversations(`,where:{not:{hasContactWith:{name:"Tie"}}},search:"m4"`))
		require.Equal(t, slices.DeleteFunc(ref.ids(), func(id string) bool { return id == itoa(tied[0].conv.ID) }), fwd)
		require.Equal(t, fwd, bwd)

		// Edges.
		var p idPage
		e.ok(ws.agent, `{conversations(first:0){`+pageFields+`}}`, nil, "conversations", &p)
		require.Empty(t, p.Edges)
		require.Equal(t, all, p.TotalCount)
		e.ok(ws.agent, `query($c:Cursor){conversations(first:2,after:$c){`+pageFields+`}}`,
			map[string]any{"c": ref.Edges[all-1].Cursor}, "conversations", &p)
		require.Empty(t, p.Edges, "after the last one")
		require.False(t, p.PageInfo.HasNextPage)
		e.ok(ws.agent, `query($c:Cursor){conversations(last:2,before:$c){`+pageFields+`}}`,
			map[string]any{"c": ref.Edges[0].Cursor}, "conversations", &p)
		require.Empty(t, p.Edges, "before the first one")
		require.False(t, p.PageInfo.HasPreviousPage)
		for _, tt := range []struct{ name, query string }{
			{"negative first", `{conversations(first:-1){totalCount}}`},
			{"first and last", `{conversations(first:1,last:1){totalCount}}`},
		} {
			_, res := e.do(ws.agent, tt.query, nil)
			require.NotEmpty(t, res.Errors, tt.name)
			require.Equal(t, "BAD_USER_INPUT", res.code(), tt.name)
		}
		// A cursor that does not decode is refused without details. (It is
		// reported as INTERNAL today: graph/errors.go does not classify
		// entgql's "cannot decode cursor" argument error.)
		_, res := e.do(ws.agent, `{conversations(first:1,after:"bm90IGEgY3Vyc29y"){totalCount}}`, nil)
		require.NotEmpty(t, res.Errors, "garbage cursor")
		require.NotContains(t, res.Errors[0].Message, "msgpack")

		// Messages, oldest first.
		conv := threads[2]
		var msgRef []string
		for _, m := range conv.msgs {
			msgRef = append(msgRef, itoa(m.ID))
		}
		messages := func(args map[string]any) idPage {
			var node struct{ Messages idPage }
			args["id"] = conv.conv.ID
			e.ok(ws.agent, `query($id:ID!,$first:Int,$after:Cursor,$last:Int,$before:Cursor){node(id:$id){
				... on Conversation{messages(first:$first,after:$after,last:$last,before:$before){`+pageFields+`}}}}`,
				args, "node", &node)
			return node.Messages
		}
		for _, size := range []int{1, 2, 3, 7, 10} {
			fwd, bwd := walk(t, size, len(msgRef), messages)
			require.Equal(t, msgRef, fwd, "messages forward by %d", size)
			require.Equal(t, msgRef, bwd, "messages backward by %d", size)
		}
	})
}

func TestSearchConversations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a, b := e.newWorkspace("A"), e.newWorkspace("B")
		base := time.Now().Truncate(time.Second)
		ts := seedThreads(t, e, a.agent, base, []string{"Ada Lovelace", "Grace Hopper", ""},
			"Do you rent e-bikes?", "We do.", `AND "foo" OR (bar) NEAR/2 100%`)
		ada, grace, anon := itoa(ts[0].conv.ID), itoa(ts[1].conv.ID), itoa(ts[2].conv.ID)
		require.NoError(t, st.Client.Message.UpdateOne(ts[1].msgs[2]).SetText("Open on Saturday?").
			Exec(auth.SystemContext(context.Background())))
		seedThreads(t, e, b.agent, base, []string{"Ada Elsewhere"}, "Do you rent e-bikes?")

		search := func(q string, extra string) idPage {
			t.Helper()
			var p idPage
			_, res := e.do(a.agent, `query($s:String){conversations(search:$s`+extra+`){`+pageFields+`}}`,
				map[string]any{"s": q})
			require.Empty(t, res.Errors, "search %q", q)
			require.NoError(t, json.Unmarshal(res.Data["conversations"], &p))
			return p
		}
		for _, tt := range []struct {
			q    string
			want []string
		}{
			{"bikes", []string{ada, grace, anon}},
			{"ada", []string{ada}},
			{"grace saturday", []string{grace}},
			{"hopper bikes", []string{grace}},
			{"lovelace saturday", []string{}},
			{`"foo`, []string{ada, anon}},
			{`AND`, []string{ada, anon}},
			{`OR`, []string{ada, anon}},
			{`NEAR/2`, []string{ada, anon}},
			{`'`, []string{ada, grace, anon}},
			{`100%`, []string{ada, anon}},
			{`\"*:&|!()`, []string{ada, grace, anon}},
			{"", []string{ada, grace, anon}},
		} {
			require.Equal(t, tt.want, search(tt.q, "").ids(), "search %q", tt.q)
		}
		require.Equal(t, []string{ada, grace, anon}, search("bikes", "").ids(), "newest first")
		p := search("bikes", ",first:1")
		require.Equal(t, 3, p.TotalCount, "totalCount counts all matches")
		require.Len(t, p.Edges, 1)
		require.Equal(t, 2, search("bikes", `,where:{hasContactWith:{nameNotNil:true}}`).TotalCount)
		require.Equal(t, 0, search("bikes", `,where:{status:CLOSED}`).TotalCount)
	})
}

// TestConversationsQueryCount proves the conversations list costs a fixed
// number of SQL queries whatever the page size: contacts, agents and each
// conversation's last message are loaded for the whole page at once.
func TestConversationsQueryCount(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		// Count the queries run for the viewer of one workspace only, so
		// background workers and authentication do not blur the figure.
		var (
			target  atomic.Int64
			count   atomic.Int64
			mu      sync.Mutex
			queries []string
		)
		drv := dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), func(ctx context.Context, args ...any) {
			if v, ok := viewer.FromContext(ctx); !ok || int64(v.WorkspaceID) != target.Load() {
				return
			}
			msg := fmt.Sprint(args...)
			if strings.Contains(msg, "Query: ") || strings.Contains(msg, "Exec: ") {
				count.Add(1)
				mu.Lock()
				queries = append(queries, msg)
				mu.Unlock()
			}
		})
		st.Client = ent.NewClient(ent.Driver(drv))
		e := newEnv(t, st)
		ws := e.newWorkspace("A")
		v, err := auth.New(st.Client, nil, time.Now).Authenticate(context.Background(), ws.agent)
		require.NoError(t, err)
		base := time.Now()
		names := make([]string, 25)
		for i := range names {
			names[i] = fmt.Sprintf("Person %d", i)
		}
		// Two agents, so agents load for several rows too.
		seedThreads(t, e, ws.agent, base, names[:12], "hi", "hello", "bye")
		seedThreads(t, e, ws.agent, base.Add(-time.Hour), names[12:], "hi", "hello", "bye")
		target.Store(int64(v.WorkspaceID))

		measure := func(query string, first int) (int64, int) {
			t.Helper()
			count.Store(0)
			mu.Lock()
			queries = nil
			mu.Unlock()
			var conn struct {
				Edges []struct {
					Node struct {
						Contact  struct{ Name string }
						Agent    struct{ Name string }
						Messages struct {
							TotalCount int
							Edges      []struct{ Node struct{ Text string } }
						}
					}
				}
			}
			e.ok(ws.agent, query, map[string]any{"first": first}, "conversations", &conn)
			require.Len(t, conn.Edges, first)
			for _, edge := range conn.Edges {
				require.NotEmpty(t, edge.Node.Contact.Name)
				require.NotEmpty(t, edge.Node.Agent.Name)
				require.Len(t, edge.Node.Messages.Edges, 1)
				require.Equal(t, "bye", edge.Node.Messages.Edges[0].Node.Text, "the last message")
			}
			return count.Load(), len(conn.Edges)
		}
		for _, tt := range []struct {
			name, query string
			want        int64
		}{
			{"list", `query($first:Int){conversations(first:$first){edges{node{contact{name} agent{name}
				messages(last:1){edges{node{text}}}}}}}`, 4},
			{"with counts", `query($first:Int){conversations(first:$first){totalCount edges{node{contact{name} agent{name}
				messages(last:1){totalCount edges{node{text}}}}}}}`, 6},
			{"with a search", `query($first:Int){conversations(first:$first,search:"bye"){totalCount edges{node{contact{name} agent{name}
				messages(last:1){totalCount edges{node{text}}}}}}}`, 6},
		} {
			var got []int64
			for _, first := range []int{1, 5, 20} {
				n, _ := measure(tt.query, first)
				got = append(got, n)
				t.Logf("%s (%s), first:%d: %d queries", tt.name, st.Dialect, first, n)
				if n != tt.want {
					mu.Lock()
					t.Logf("queries:\n%s", strings.Join(queries, "\n"))
					mu.Unlock()
				}
			}
			require.Equal(t, []int64{tt.want, tt.want, tt.want}, got, "%s: queries for pages of 1, 5 and 20", tt.name)
		}
	})
}

// TestTranscriptAndStats runs the round trip: messages arrive as
// signed webhooks, the bot answers one and not the other, a person asks for
// a human; then the transcript and the agent's figures over GraphQL.
func TestTranscriptAndStats(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws, other := e.newWorkspace("Harbor"), e.newWorkspace("Other")
		agentID, ch := connectedAgent(t, e, ws.owner)
		start := time.Now().Add(-time.Second)

		now := time.Now()
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_t1", "When are you open on Saturday?", now)))
		graph.WaitSent(t, 1, 10*time.Second)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_t2", "Do you sell pizza?", now.Add(time.Second))))
		graph.WaitSent(t, 2, 10*time.Second)
		require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_t3", "/agent", now.Add(2*time.Second))))
		graph.WaitSent(t, 3, 10*time.Second)

		var list struct {
			Edges []struct{ Node struct{ ID string } }
		}
		e.ok(ws.agent, `{conversations{edges{node{id}}}}`, nil, "conversations", &list)
		require.Len(t, list.Edges, 1)
		convID := list.Edges[0].Node.ID

		transcript := func(format string) string {
			var s string
			e.ok(ws.agent, `query($c:ID!,$f:TranscriptFormat!){transcript(conversationId:$c,format:$f)}`,
				map[string]any{"c": convID, "f": format}, "transcript", &s)
			return s
		}
		text := transcript("TEXT")
		for _, want := range []string{
			"Conversation " + convID + " with ", "Agent: Harbor Bikes | Page: Harbor Bikes | Status: HANDOFF_REQUESTED",
			"6 messages", " UTC] User (", "): When are you open on Saturday?", "] Bot: ", "9 am to 6 pm",
			"    Sources:\n    - Hours: ", "): Do you sell pizza?", "(no answer in the knowledge base)",
			"] System: Thanks! A member of our team will reply here shortly.",
		} {
			require.Contains(t, text, want)
		}
		var objs []map[string]any
		require.NoError(t, json.Unmarshal([]byte(transcript("JSON")), &objs))
		require.Len(t, objs, 6)
		require.Equal(t, "When are you open on Saturday?", objs[0]["text"])
		require.Equal(t, "BOT", objs[1]["author"])
		require.Equal(t, true, objs[1]["answered"])
		require.Equal(t, "Hours", objs[1]["citations"].([]any)[0].(map[string]any)["source"])
		rows, err := csv.NewReader(strings.NewReader(transcript("CSV"))).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 7)
		require.Equal(t, "id", rows[0][0])

		_, res := e.do(other.agent, `query($c:ID!){transcript(conversationId:$c,format:TEXT)}`, map[string]any{"c": convID})
		require.Equal(t, "NOT_FOUND", res.code(), "another workspace's conversation")
		_, res = e.do(ws.agent, `query($c:ID!){transcript(conversationId:$c,format:XML)}`, map[string]any{"c": convID})
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", res.code(), "an enum value the schema lacks")
		_, res = e.do(ws.agent, `query($c:ID!,$f:TranscriptFormat!){transcript(conversationId:$c,format:$f)}`, map[string]any{"c": convID, "f": "XML"})
		require.Equal(t, "BAD_USER_INPUT", res.code(), "a variable's value the schema lacks")

		type statsView struct {
			Agent                                                  struct{ ID string }
			Conversations, InboundMessages, BotReplies, BotAnswers int
			Unanswered, Handoffs                                   int
			MedianBotReplyMs                                       *int
			TopUnansweredQuestions                                 []string
			UnansweredQuestionGroups                               []struct {
				Question string
				Count    int
			}
		}
		const statsQuery = `query($a:ID!,$from:Time,$to:Time){agentStats(agentId:$a,from:$from,to:$to){
			agent{id} conversations inboundMessages botReplies botAnswers unanswered handoffs medianBotReplyMs
			topUnansweredQuestions unansweredQuestionGroups{question count}}}`
		var s statsView
		e.ok(ws.agent, statsQuery, map[string]any{"a": agentID}, "agentStats", &s)
		require.Equal(t, agentID, s.Agent.ID)
		require.Equal(t, 1, s.Conversations)
		require.Equal(t, 3, s.InboundMessages)
		require.Equal(t, 2, s.BotReplies)
		require.Equal(t, 1, s.BotAnswers)
		require.Equal(t, 1, s.Unanswered)
		require.Equal(t, 1, s.Handoffs)
		require.NotNil(t, s.MedianBotReplyMs)
		require.GreaterOrEqual(t, *s.MedianBotReplyMs, 0)
		require.Less(t, *s.MedianBotReplyMs, 10000)
		require.Equal(t, []string{"Do you sell pizza?"}, s.TopUnansweredQuestions)
		require.Equal(t, 1, s.UnansweredQuestionGroups[0].Count)

		var daily struct {
			Daily []struct {
				Day                     time.Time
				Conversations, Handoffs int
			}
		}
		e.ok(ws.agent, `query($a:ID!){agentStats(agentId:$a){daily{day conversations handoffs}}}`,
			map[string]any{"a": agentID}, "agentStats", &daily)
		require.Len(t, daily.Daily, 31, "an unbounded range shows the last 30 days and today")
		today := daily.Daily[len(daily.Daily)-1]
		require.Equal(t, time.Now().UTC().Truncate(24*time.Hour), today.Day.UTC())
		require.Equal(t, 1, today.Conversations)
		require.Equal(t, 1, today.Handoffs)
		for _, d := range daily.Daily[:len(daily.Daily)-1] {
			require.Zero(t, d.Conversations+d.Handoffs, "activity on a quiet day %s", d.Day)
		}

		e.ok(ws.agent, statsQuery, map[string]any{"a": agentID, "to": start.UTC().Format(time.RFC3339Nano)}, "agentStats", &s)
		require.Zero(t, s.InboundMessages+s.BotReplies+s.Handoffs)
		require.Nil(t, s.MedianBotReplyMs)
		require.Empty(t, s.TopUnansweredQuestions)

		_, res = e.do(other.agent, statsQuery, map[string]any{"a": agentID})
		require.Equal(t, "NOT_FOUND", res.code(), "another workspace's agent")
		_, res = e.do(ws.agent, statsQuery, map[string]any{"a": agentID,
			"from": time.Now().Format(time.RFC3339), "to": start.Format(time.RFC3339)})
		require.Equal(t, "BAD_USER_INPUT", res.code(), "from after to")

		// Malformed times are the caller's mistake, not an internal error.
		for _, from := range []any{"yesterday", "2026-13-01T00:00:00Z", 5} {
			_, res = e.do(ws.agent, statsQuery, map[string]any{"a": agentID, "from": from})
			require.Equal(t, "BAD_USER_INPUT", res.code(), "from %v: %+v", from, res.Errors)
			require.Contains(t, res.Errors[0].Message, "RFC 3339")
		}
		// The widest range Time allows: the last MaxDays days before its
		// end, not days of the year 292 (time.Sub saturates).
		e.ok(ws.agent, `query($a:ID!){agentStats(agentId:$a, from:"0001-01-01T00:00:00Z", to:"9999-12-31T00:00:00Z"){daily{day}}}`,
			map[string]any{"a": agentID}, "agentStats", &daily)
		require.Len(t, daily.Daily, conversation.MaxDays)
		require.Equal(t, "9999-12-30", daily.Daily[len(daily.Daily)-1].Day.UTC().Format(time.DateOnly))
	})
}

// TestBacklog: an OWNER token reads what waits in its workspace; events
// acknowledged while no worker runs are counted with their age. AGENT
// tokens are refused, and other workspaces see their own (empty) backlog.
func TestBacklog(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
		e := newIdleEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
		ws, other := e.newWorkspace("Harbor"), e.newWorkspace("Other")
		_, ch := connectedAgent(t, e, ws.owner)

		type backlog struct {
			PendingEvents, PendingReplies                        int
			OldestPendingEventSeconds, OldestPendingReplySeconds *float64
		}
		const q = `{backlog{pendingEvents oldestPendingEventSeconds pendingReplies oldestPendingReplySeconds}}`
		var b backlog
		e.ok(ws.owner, q, nil, "backlog", &b)
		require.Equal(t, backlog{}, b)

		for i := range 3 {
			require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent(fmt.Sprintf("m_b%d", i), "hello?", time.Now())))
		}
		e.ok(ws.owner, q, nil, "backlog", &b)
		require.Equal(t, 3, b.PendingEvents, "no worker runs: the events wait")
		require.NotNil(t, b.OldestPendingEventSeconds)
		require.GreaterOrEqual(t, *b.OldestPendingEventSeconds, 0.0)

		e.ok(other.owner, q, nil, "backlog", &b)
		require.Zero(t, b.PendingEvents, "another workspace's backlog")
		_, res := e.do(ws.agent, q, nil)
		require.Equal(t, "FORBIDDEN", res.code())
	})
}
