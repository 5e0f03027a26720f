package conversation_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/contact"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// thread stores a person's messages on the fixture's channel (one inbound
// message each, a minute apart) and names the contact; it returns the
// conversation.
func thread(t *testing.T, f *ct.Fixture, psid, name string, texts ...string) *ent.Conversation {
	t.Helper()
	return threadOn(t, f, f.Channel, psid, name, texts...)
}

func threadOn(t *testing.T, f *ct.Fixture, ch *ent.MessengerChannel, psid, name string, texts ...string) *ent.Conversation {
	t.Helper()
	var conv *ent.Conversation
	for i, text := range texts {
		at := ct.Start.Add(time.Duration(i) * time.Minute)
		in, err := f.Service.RecordInbound(context.Background(), ch, ct.Text(psid, fmt.Sprintf("m_%s_%d", psid, i), text, at))
		require.NoError(t, err)
		conv = in.Conversation
	}
	if name != "" {
		require.NoError(t, f.Client.Contact.UpdateOneID(conv.ContactID).SetName(name).Exec(ct.Sys()))
	}
	return conv
}

func TestSearchTerms(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n", nil},
		{`"`, nil},
		{`' \ ! ( ) * : & | - " `, nil},
		{`"foo`, []string{`"foo`}},
		{"AND", []string{"AND"}},
		{"open  saturday", []string{"open", "saturday"}},
		{"e-bikes 9.30", []string{"e-bikes", "9.30"}},
		{"bad\xffutf8\x00nul", []string{"bad\uFFFDutf8nul"}},
		{strings.Repeat("w ", 40), slices.Repeat([]string{"w"}, conversation.MaxSearchTerms)},
		{strings.Repeat("x", 300), []string{strings.Repeat("x", conversation.MaxSearchTermLength)}},
	} {
		require.Equal(t, tt.want, conversation.SearchTerms(tt.in), "%q", tt.in)
	}
}

func TestMatching(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ada := thread(t, f, "7001", "Ada Lovelace", "Do you rent e-bikes?", "What about helmets")
		grace := thread(t, f, "7002", "Grace Hopper", "When are you open on Saturday?", "AND what about Sunday")
		anon := thread(t, f, "7003", "", `He said "foo" (bar) & baz: NEAR/2 *star* OR not 9.30 100% done_deal`)

		// Another workspace, with words the viewer's conversations share.
		threadOn(t, f, foreignChannel(t, f), "8001", "Ada Other", "e-bikes on Saturday", "foo")

		viewer := f.Staff("dana")
		search := func(q string, more ...predicate.Conversation) []int {
			t.Helper()
			where := append([]predicate.Conversation{conversation.Matching(q)}, more...)
			ids, err := f.Client.Conversation.Query().Where(where...).Order(ent.Asc(entconv.FieldID)).IDs(viewer)
			require.NoError(t, err, "search %q", q)
			n, err := f.Client.Conversation.Query().Where(where...).Count(viewer)
			require.NoError(t, err, "count %q", q)
			require.Len(t, ids, n, "count %q", q)
			return ids
		}
		all := []int{ada.ID, grace.ID, anon.ID}
		for _, tt := range []struct {
			q    string
			want []int
		}{
			{"", all},
			{"bike", []int{ada.ID}},
			{"E-BIKES", []int{ada.ID}},
			{"bikes?", []int{ada.ID}},
			{"ebike", nil},
			{"ada", []int{ada.ID}},
			{"lovelace helmets", []int{ada.ID}},
			{"ada saturday", nil},
			{"open saturday", []int{grace.ID}},
			{"sat", []int{grace.ID}},
			{"urday", nil},
			{"about", []int{ada.ID, grace.ID}},
			{`"foo`, []int{anon.ID}},
			{`foo"`, []int{anon.ID}},
			{"AND", []int{grace.ID}},
			{"OR", []int{anon.ID}},
			{"NOT", []int{anon.ID}},
			{"NEAR(", []int{anon.ID}},
			{"NEAR/2", []int{anon.ID}},
			{"*star*", []int{anon.ID}},
			{"-foo", []int{anon.ID}},
			{"foo:*", []int{anon.ID}},
			{"(bar)", []int{anon.ID}},
			{"9.30", []int{anon.ID}},
			{"100%", []int{anon.ID}},
			{"done_deal", []int{anon.ID}},
			{"foo' OR 1=1 --", nil},
			{`foo\`, []int{anon.ID}},
			{`' \ ! &|`, all},
			{"héllo wörld", nil},
			{"\xff\x00", all},
		} {
			require.Equal(t, tt.want, nilIfEmpty(search(tt.q)), "search %q", tt.q)
		}

		// totalCount stays right beside other predicates.
		require.Equal(t, []int{grace.ID}, search("about", entconv.HasContactWith(contact.NameHasPrefix("Grace"))))
		require.NoError(t, f.Client.Conversation.UpdateOneID(grace.ID).SetStatus(entconv.StatusCLOSED).Exec(ct.Sys()))
		require.Equal(t, []int{ada.ID}, search("about", entconv.StatusEQ(entconv.StatusBOT)))

		// The index follows edits and deletions.
		sys := ct.Sys()
		helmets, err := f.Client.Message.Query().Where(message.Text("What about helmets")).Only(sys)
		require.NoError(t, err)
		require.NoError(t, f.Client.Message.UpdateOne(helmets).SetText("Gloves please").Exec(sys))
		require.Empty(t, search("helmets"))
		require.Equal(t, []int{ada.ID}, search("gloves"))
		require.NoError(t, f.Client.Message.DeleteOne(helmets).Exec(sys))
		require.Empty(t, search("gloves"))
		require.NoError(t, f.Client.Contact.UpdateOneID(ada.ContactID).SetName("Augusta King").Exec(sys))
		require.Empty(t, search("lovelace"))
		require.Equal(t, []int{ada.ID}, search("augusta"))
		require.NoError(t, f.Client.Contact.UpdateOneID(ada.ContactID).ClearName().Exec(sys))
		require.Empty(t, search("augusta"))

		// Migrating again keeps the index; on SQLite it is rebuilt when a
		// trigger went missing (a table copy drops them).
		if st.Dialect == dialect.SQLite {
			_, err := st.DB.Exec("DROP TRIGGER " + store.MessagesFTS + "_insert")
			require.NoError(t, err)
			thread(t, f, "7004", "", "unindexed zeppelin")
			require.Empty(t, search("zeppelin"), "inserted while the trigger was missing")
		}
		require.NoError(t, st.Migrate(context.Background()))
		require.NoError(t, st.Migrate(context.Background()))
		if st.Dialect == dialect.SQLite {
			require.Len(t, search("zeppelin"), 1, "not rebuilt")
			thread(t, f, "7005", "", "another zeppelin")
			require.Len(t, search("zeppelin"), 2)
		}
		require.Equal(t, []int{anon.ID}, search(`"foo`))
	})
}

// TestMatchingUsesIndexes: the search is served by the full-text indexes,
// not by scanning message texts.
func TestMatchingUsesIndexes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		sel := sql.Dialect(st.Dialect).Select(entconv.FieldID).From(sql.Table(entconv.Table))
		conversation.Matching(`open "saturday`)(sel)
		query, args := sel.Query()
		ctx := context.Background()
		conn, err := st.DB.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		explain := "EXPLAIN QUERY PLAN "
		if st.Dialect == dialect.Postgres {
			// The tables are tiny: make the planner show what it would do
			// with big ones.
			_, err := conn.ExecContext(ctx, "SET enable_seqscan = off")
			require.NoError(t, err)
			explain = "EXPLAIN "
		}
		rows, err := conn.QueryContext(ctx, explain+query, args...)
		require.NoError(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			fmt.Fprintln(&plan, vals...)
		}
		require.NoError(t, rows.Err())
		t.Logf("%s\n%s", query, plan.String())
		if st.Dialect == dialect.Postgres {
			require.Contains(t, plan.String(), "messages_text_search")
			require.Contains(t, plan.String(), "contacts_name_search")
		} else {
			require.Contains(t, plan.String(), "VIRTUAL TABLE INDEX", "FTS5 serves the match")
			require.NotContains(t, plan.String(), "SCAN messages\n", "messages are scanned")
		}
	})
}

// foreignChannel returns a connected channel of another workspace, with an
// agent of its own.
func foreignChannel(t *testing.T, f *ct.Fixture) *ent.MessengerChannel {
	t.Helper()
	sys := ct.Sys()
	ws, err := f.Client.Workspace.Create().SetName("Elsewhere").Save(sys)
	require.NoError(t, err)
	ag, err := f.Client.Agent.Create().SetWorkspaceID(ws.ID).SetName("Elsewhere bot").Save(sys)
	require.NoError(t, err)
	ch, err := f.Client.MessengerChannel.Create().SetWorkspaceID(ws.ID).SetAgentID(ag.ID).
		SetWebhookKey("key-elsewhere-" + t.Name()).SetVerifyToken("verify").
		SetStatus(messengerchannel.StatusCONNECTED).SetPageID("4242").SetPageName("Elsewhere").Save(sys)
	require.NoError(t, err)
	return ch
}

func nilIfEmpty(ids []int) []int {
	if len(ids) == 0 {
		return nil
	}
	return ids
}
