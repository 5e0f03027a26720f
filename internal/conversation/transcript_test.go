package conversation_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

func TestTranscript(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		sys, ctx := ct.Sys(), context.Background()
		source := func(title string) int {
			src, err := f.Client.KnowledgeSource.Create().SetWorkspaceID(f.Workspace.ID).SetAgentID(f.Agent.ID).
				SetKind(knowledgesource.KindTEXT).SetTitle(title).Save(sys)
			require.NoError(t, err)
			return src.ID
		}
		hours, old := source("Hours"), source("Old FAQ")

		q1 := asks(t, f, f.Channel, "7001", "m1", "When are you open?\r\nAnd on Sundays?")
		conv := q1.ConversationID
		c, err := f.Client.Conversation.Get(sys, conv)
		require.NoError(t, err)
		require.NoError(t, f.Client.Contact.UpdateOneID(c.ContactID).SetName("Ada").Exec(sys))
		f.Clock.Advance(2 * time.Second)
		yes := true
		_, err = f.Service.ReplyTo(ctx, q1, conversation.Reply{Text: "We open at 9.", Answered: &yes,
			Citations: []schematype.Citation{
				{SourceID: hours, Snippet: "open at\n9 am", Score: 0.8},
				{SourceID: old, Snippet: "old", Score: 0.1},
			}})
		require.NoError(t, err)
		_, err = f.Service.SendDue(ctx) // the outbox
		require.NoError(t, err)
		require.NoError(t, f.Client.KnowledgeSource.DeleteOneID(old).Exec(sys))

		f.Clock.Advance(time.Minute)
		q2 := asks(t, f, f.Channel, "7001", "m2", `=SUM(A1) "quoted", comma`)
		botReplies(t, f, q2, time.Second, false, "Sorry, I don't have an answer to that yet.")

		f.Clock.Advance(time.Minute)
		ev := ct.Text("7001", "m3", "", f.Clock.Now())
		ev.Attachments = []messenger.Attachment{{Type: "image", URL: "https://cdn.example/1.jpg"}}
		_, err = f.Service.RecordInbound(ctx, f.Channel, ev)
		require.NoError(t, err)

		f.Clock.Advance(time.Minute)
		q4 := asks(t, f, f.Channel, "7001", "m4", "/agent")
		_, err = f.Service.ReplyTo(ctx, q4, conversation.Reply{Author: message.AuthorSYSTEM,
			Text: "A member of our team will reply here shortly.", RequestHandoff: true})
		require.NoError(t, err)
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)

		f.Clock.Advance(time.Minute)
		dana := f.Staff("Dana")
		_, err = f.Service.SendAgentMessage(dana, conv, "Hi, Dana here.")
		require.NoError(t, err)
		_, err = f.Service.Tag(dana, conv, []string{"vip", "hours"})
		require.NoError(t, err)

		text, err := f.Service.Transcript(dana, conv, conversation.TranscriptText)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf(`Conversation %d with Ada (PSID 7001)
Agent: Harbor | Page: Harbor Bikes | Status: HUMAN | Tags: vip, hours
8 messages

[2026-03-02 09:00:00 UTC] User (Ada): When are you open?
    And on Sundays?

[2026-03-02 09:00:02 UTC] Bot: We open at 9.
    Sources:
    - Hours: open at 9 am
    - (deleted source): old

[2026-03-02 09:01:02 UTC] User (Ada): =SUM(A1) "quoted", comma

[2026-03-02 09:01:03 UTC] Bot: Sorry, I don't have an answer to that yet.
    (no answer in the knowledge base)

[2026-03-02 09:02:03 UTC] User (Ada):
    [image] https://cdn.example/1.jpg

[2026-03-02 09:03:03 UTC] User (Ada): /agent

[2026-03-02 09:03:03 UTC] System: A member of our team will reply here shortly.

[2026-03-02 09:04:03 UTC] Agent Dana: Hi, Dana here.
`, conv), text)

		raw, err := f.Service.Transcript(dana, conv, conversation.TranscriptJSON)
		require.NoError(t, err)
		var objs []map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &objs))
		require.Len(t, objs, 8)
		keys := func(m map[string]any) []string {
			var ks []string
			for k := range m {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			return ks
		}
		want := []string{"answered", "attachments", "author", "authorLabel", "citations", "createdAt", "deliveryStatus",
			"direction", "error", "id", "inReplyToId", "mid", "sentBy", "text"}
		for _, o := range objs {
			require.Equal(t, want, keys(o), "stable field names")
		}
		require.Equal(t, "USER", objs[0]["author"])
		require.Equal(t, "INBOUND", objs[0]["direction"])
		require.Equal(t, "User (Ada)", objs[0]["authorLabel"])
		require.Equal(t, "2026-03-02T09:00:00Z", objs[0]["createdAt"])
		require.Equal(t, "m1", objs[0]["mid"])
		require.Equal(t, "When are you open?\r\nAnd on Sundays?", objs[0]["text"])
		bot := objs[1]
		require.Equal(t, "Bot", bot["authorLabel"])
		require.Equal(t, true, bot["answered"])
		require.Equal(t, fmt.Sprint(q1.ID), bot["inReplyToId"])
		require.Equal(t, "SENT", bot["deliveryStatus"])
		require.Equal(t, []any{
			map[string]any{"sourceId": fmt.Sprint(hours), "source": "Hours", "snippet": "open at\n9 am", "score": 0.8},
			map[string]any{"sourceId": fmt.Sprint(old), "source": nil, "snippet": "old", "score": 0.1},
		}, bot["citations"])
		require.Equal(t, false, objs[3]["answered"])
		require.Equal(t, []any{map[string]any{"type": "image", "url": "https://cdn.example/1.jpg"}}, objs[4]["attachments"])
		require.Equal(t, []any{}, objs[0]["attachments"])
		require.Equal(t, "Agent Dana", objs[7]["authorLabel"])
		require.Equal(t, "Dana", objs[7]["sentBy"])

		raw, err = f.Service.Transcript(dana, conv, conversation.TranscriptCSV)
		require.NoError(t, err)
		rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 9)
		require.Equal(t, conversation.CSVHeader, rows[0])
		col := func(row []string, name string) string { return row[slices.Index(conversation.CSVHeader, name)] }
		require.Equal(t, "When are you open?\nAnd on Sundays?", col(rows[1], "text"), "csv.Reader drops the \\r")
		require.Equal(t, "2026-03-02T09:00:00Z", col(rows[1], "created_at"))
		require.Equal(t, "Hours: open at 9 am; (deleted source): old", col(rows[2], "citations"))
		require.Equal(t, "true", col(rows[2], "answered"))
		require.Equal(t, fmt.Sprint(q1.ID), col(rows[2], "in_reply_to_id"))
		require.Equal(t, `'=SUM(A1) "quoted", comma`, col(rows[3], "text"), "formulas are defused")
		require.Equal(t, "false", col(rows[4], "answered"))
		require.Equal(t, "image https://cdn.example/1.jpg", col(rows[5], "attachments"))
		require.Equal(t, "Agent Dana", col(rows[8], "author_label"))

		// Tenancy.
		foreign := foreignChannel(t, f)
		theirs := asks(t, f, foreign, "9001", "x1", "hi")
		_, err = f.Service.Transcript(dana, theirs.ConversationID, conversation.TranscriptText)
		require.ErrorIs(t, err, apperr.NotFound)
		_, err = f.Service.Transcript(dana, 1<<30, conversation.TranscriptJSON)
		require.ErrorIs(t, err, apperr.NotFound)
		_, err = f.Service.Transcript(dana, conv, conversation.TranscriptFormat("XML"))
		require.ErrorIs(t, err, apperr.InvalidArgument)
	})
}

func TestTranscriptFormatGQL(t *testing.T) {
	var f conversation.TranscriptFormat
	require.NoError(t, f.UnmarshalGQL("CSV"))
	require.Equal(t, conversation.TranscriptCSV, f)
	require.Error(t, f.UnmarshalGQL("csv"))
	require.Error(t, f.UnmarshalGQL(1))
	var b strings.Builder
	conversation.TranscriptJSON.MarshalGQL(&b)
	require.Equal(t, `"JSON"`, b.String())
}
