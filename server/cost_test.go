package server_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// aliases repeats field n times under the aliases a0, a1, …
func aliases(n int, field string) string {
	var b strings.Builder
	b.WriteString("query($c:ID!){")
	for i := range n {
		fmt.Fprintf(&b, "a%d:%s ", i, field)
	}
	b.WriteString("}")
	return b.String()
}

// refused asserts that res is one BAD_USER_INPUT error saying want, and
// that nothing ran.
func refused(t *testing.T, res gqlResponse, want string) {
	t.Helper()
	require.Len(t, res.Errors, 1, "one error")
	require.Equal(t, "BAD_USER_INPUT", res.code())
	require.Contains(t, res.Errors[0].Message, want)
	require.Nil(t, res.Data, "a refused operation returns no data")
}

// TestCostLimits is issue 13's second finding: one small query could ask
// for gigabytes. Operations asking for too much are refused before any
// resolver runs, with advice.
func TestCostLimits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Costly")
		conv, _ := seedConversation(t, e, ws.owner, "p1", nil, time.Now())
		vars := map[string]any{"c": conv.ID}

		for _, tt := range []struct {
			name, query string
			vars        map[string]any
			want        string // "" when the operation runs
		}{
			{"150 transcripts", aliases(150, `transcript(conversationId:$c,format:TEXT)`), vars, "more than the limit of 20000"},
			{"6 transcripts", aliases(6, `transcript(conversationId:$c,format:JSON)`), vars, "more than the limit of 20000"},
			{"5 transcripts", aliases(5, `transcript(conversationId:$c,format:JSON)`), vars, ""},
			{"150 answers", aliases(150, `answer(agentId:$c,question:"hi"){text}`), vars, "more than the limit of 20000"},
			{"100 agentStats", aliases(100, `agentStats(agentId:$c){conversations daily{day}}`), vars, "more than the limit of 20000"},
			{"first: 2147483647", `{conversations(first:2147483647){totalCount}}`, nil, "first: at most 100 per page; page with after/before"},
			{"last: 101", `{conversations(last:101){totalCount}}`, nil, "last: at most 100 per page"},
			{"first in a variable", `query($n:Int){conversations(first:$n){totalCount}}`, map[string]any{"n": 2147483647}, "first: at most 100"},
			{"nested messages", `query($c:ID!){node(id:$c){...on Conversation{messages(first:1000){totalCount}}}}`, vars, "first: at most 100"},
			{"in a fragment", `query{...Q} fragment Q on Query{conversations{edges{node{messages(last:500){totalCount}}}}}`, nil, "last: at most 100"},
			{"first: 100", `{conversations(first:100){totalCount}}`, nil, ""},
			{"100 conversations of 20 messages", `{conversations(first:100){edges{node{status contact{psid}
				messages(first:20){totalCount edges{node{author text deliveryStatus}}}}}}}`, nil, ""},
			{"100 conversations of 100 messages", `{conversations(first:100){edges{node{
				messages(first:100){edges{node{text}}}}}}}`, nil, "more than the limit of 20000"},
			{"the console's inbox list", consoleList, map[string]any{"first": 100}, ""},
			{"the console's conversation", consoleConversation, map[string]any{"id": conv.ID}, ""},
			{"nodes of 5000 ids", `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": ids(5000, conv.ID)}, "ids: at most 100 per nodes query"},
			{"nodes of 5000 literal ids", `{nodes(ids:[` + strings.Repeat(fmt.Sprint(conv.ID)+",", 5000) + `]){id}}`, nil, "ids: at most 100 per nodes query"},
			{"nodes of 100 ids", `query($ids:[ID!]!){nodes(ids:$ids){id}}`, map[string]any{"ids": ids(100, conv.ID)}, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, res := e.do(ws.agent, tt.query, tt.vars)
				if tt.want != "" {
					refused(t, res, tt.want)
					return
				}
				require.Empty(t, res.Errors)
			})
		}
	})
}

// The console's queries (console/static/js/inbox.js) at their largest.
const (
	consoleFields = `id status tags handoffRequestedAt assignedTo lastMessageAt lastUserMessageAt
		contact { id psid name } agent { id name } replyWindow { state endsAt }`
	consoleMessageFields = `id direction author text deliveryStatus error sentBy answered createdAt
		attachments { type url } citations { snippet score source { id title } }`
	consoleList = `query($where: ConversationWhereInput, $first: Int, $after: Cursor, $search: String) {
		conversations(first: $first, after: $after, where: $where, search: $search) {
			totalCount pageInfo { hasNextPage endCursor }
			edges { node { ` + consoleFields + ` messages(last: 1) { edges { node { author text } } } } }
		}
		agents { id name }
	}`
	consoleConversation = `query($id: ID!, $before: Cursor) {
		node(id: $id) { ... on Conversation { ` + consoleFields + `
			messages(last: 50, before: $before) { pageInfo { hasPreviousPage startCursor } edges { node { ` + consoleMessageFields + ` } } } } }
	}`
)

func ids(n, id int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = id
	}
	return out
}

// TestDefaultPageSize: a connection asked for without first or last returns
// its first 100 items, not all of them.
func TestDefaultPageSize(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Busy")
		conv, _ := seedConversation(t, e, ws.owner, "p1", nil, time.Now())
		seedLongMessages(t, e, conv, 103, 10)

		type page struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
			PageInfo   struct{ HasNextPage, HasPreviousPage bool }
		}
		for _, tt := range []struct {
			name, query string
			vars        map[string]any
		}{
			{"no first or last", `query($c:ID!){node(id:$c){...on Conversation{messages{totalCount edges{node{id}} pageInfo{hasNextPage hasPreviousPage}}}}}`, nil},
			{"null literals", `query($c:ID!){node(id:$c){...on Conversation{messages(first:null,last:null){totalCount edges{node{id}} pageInfo{hasNextPage hasPreviousPage}}}}}`, nil},
			{"null variables", `query($c:ID!,$f:Int,$l:Int){node(id:$c){...on Conversation{messages(first:$f,last:$l){totalCount edges{node{id}} pageInfo{hasNextPage hasPreviousPage}}}}}`, map[string]any{"f": nil}},
			{"in a fragment", `query($c:ID!){node(id:$c){...C}} fragment C on Conversation{messages{totalCount edges{node{id}} pageInfo{hasNextPage hasPreviousPage}}}`, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				vars := map[string]any{"c": conv.ID}
				for k, v := range tt.vars {
					vars[k] = v
				}
				var got struct{ Messages page }
				e.ok(ws.agent, tt.query, vars, "node", &got)
				require.Equal(t, 105, got.Messages.TotalCount)
				require.Len(t, got.Messages.Edges, 100)
				require.True(t, got.Messages.PageInfo.HasNextPage)
			})
		}
		// Nested under a list, where entgql loads the messages of every
		// conversation of the page in one query.
		var list struct {
			Edges []struct{ Node struct{ Messages page } }
		}
		e.ok(ws.agent, `{conversations(first:2){edges{node{messages{totalCount edges{node{id}}}}}}}`, nil, "conversations", &list)
		require.Len(t, list.Edges, 1)
		require.Len(t, list.Edges[0].Node.Messages.Edges, 100)

		var before struct {
			Messages struct {
				Edges    []struct{ Cursor string }
				PageInfo struct{ EndCursor string }
			}
		}
		e.ok(ws.agent, `query($c:ID!){node(id:$c){...on Conversation{messages(first:5){edges{cursor} pageInfo{endCursor}}}}}`,
			map[string]any{"c": conv.ID}, "node", &before)
		// before alone pages backwards: the 100 before the cursor, here the 4 there are.
		var back struct{ Messages page }
		e.ok(ws.agent, `query($c:ID!,$b:Cursor){node(id:$c){...on Conversation{messages(before:$b){totalCount edges{node{id}} pageInfo{hasNextPage hasPreviousPage}}}}}`,
			map[string]any{"c": conv.ID, "b": before.Messages.PageInfo.EndCursor}, "node", &back)
		require.Len(t, back.Messages.Edges, 4)
		require.False(t, back.Messages.PageInfo.HasPreviousPage)
	})
}

// seedLongMessages adds n messages of size bytes each to conv, in bulk.
func seedLongMessages(t testing.TB, e *env, conv *ent.Conversation, n, size int) {
	t.Helper()
	ctx := auth.SystemContext(t.Context())
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", size/44+1)[:size]
	for start := 0; start < n; start += 500 {
		var bulk []*ent.MessageCreate
		for i := start; i < min(n, start+500); i++ {
			bulk = append(bulk, e.st.Client.Message.Create().SetWorkspaceID(conv.WorkspaceID).
				SetConversationID(conv.ID).SetChannelID(conv.ChannelID).
				SetDirection(message.DirectionINBOUND).SetAuthor(message.AuthorUSER).SetText(text))
		}
		require.NoError(t, e.st.Client.Message.CreateBulk(bulk...).Exec(ctx))
	}
}

// TestResponseSizeBudget: a response over 16 MiB fails with one error
// instead of being built, and the memory the request takes stays bounded;
// a transcript of 8 MB, under the budget, works. The dialects run one
// after the other, not in parallel as storetest.Run would: the heap is the
// process's, and the other dialect's work would show in it.
func TestResponseSizeBudget(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) { testResponseSizeBudget(t, storetest.Open(t, dialect)) })
	}
}

func testResponseSizeBudget(t *testing.T, st *store.Store) {
	e := newIdleEnv(t, st)
	ws := e.newWorkspace("Chatty")
	conv, _ := seedConversation(t, e, ws.owner, "p1", nil, time.Now())
	seedLongMessages(t, e, conv, 4000, 2000) // about 8 MB of text
	vars := map[string]any{"c": conv.ID}

	var text string
	peak := peakHeap(t, func() {
		e.ok(ws.agent, `query($c:ID!){transcript(conversationId:$c,format:TEXT)}`, vars, "transcript", &text)
	})
	require.Greater(t, len(text), 8_000_000)
	require.Contains(t, text, "\n4002 messages\n")
	t.Logf("%s: one transcript of %.1f MB: heap peaked %.0f MB above the start", st.Dialect, float64(len(text))/1e6, float64(peak)/1e6)

	var res gqlResponse
	peak = peakHeap(t, func() {
		_, res = e.do(ws.agent, aliases(3, `transcript(conversationId:$c,format:JSON)`), vars)
	})
	t.Logf("%s: three transcripts, refused: heap peaked %.0f MB above the start", st.Dialect, float64(peak)/1e6)
	refused(t, res, "the response would be larger than 16 MiB")
	require.Less(t, peak, int64(80<<20), "the request stopped near its budget instead of building three transcripts and their JSON")
}

// peakHeap runs f and returns how far the live heap rose above where it
// was when f started, sampled every millisecond. The GC runs more often
// than usual meanwhile, so the heap tracks live memory.
func peakHeap(t *testing.T, f func()) int64 {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	var (
		peak int64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, int64(ms.HeapAlloc)-base)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak
}

// TestResponseSizeBudgetFields: the budget counts every field's value, not
// only transcripts, so many ordinary fields cannot add up to a response
// over SEACHAT_MAX_RESPONSE_BYTES either.
func TestResponseSizeBudgetFields(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, "SEACHAT_MAX_RESPONSE_BYTES", "50000")
		ws := e.newWorkspace("Wordy")
		conv, _ := seedConversation(t, e, ws.owner, "p1", nil, time.Now())
		seedLongMessages(t, e, conv, 100, 2000) // 200 KB of text
		messages := func(n int) string {
			return fmt.Sprintf(`query($c:ID!){node(id:$c){...on Conversation{messages(first:%d){edges{node{id text}}}}}}`, n)
		}
		vars := map[string]any{"c": conv.ID}

		var ok struct {
			Messages struct {
				Edges []struct{ Node struct{ Text string } }
			}
		}
		e.ok(ws.agent, messages(20), vars, "node", &ok)
		require.Len(t, ok.Messages.Edges, 20, "about 40 KB fits")

		for _, tt := range []struct{ name, query string }{
			{"a page of long messages", messages(100)},
			{"the same page under aliases", `query($c:ID!){a:node(id:$c){...M} b:node(id:$c){...M} c:node(id:$c){...M}}
				fragment M on Conversation{messages(first:20){edges{node{id text}}}}`},
			{"a transcript", `query($c:ID!){transcript(conversationId:$c,format:CSV)}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, res := e.do(ws.agent, tt.query, vars)
				refused(t, res, "the response would be larger than 50000 bytes: ask for fewer fields")
			})
		}
	})
}
