package conversation_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/budget"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// seedMessages stores n messages of varied shape after first, in its
// conversation, with bulk inserts of 500, and returns the conversation's id.
func seedMessages(t testing.TB, f *ct.Fixture, first *ent.Message, n int, text func(i int) string) int {
	t.Helper()
	sys := ct.Sys()
	src, err := f.Client.KnowledgeSource.Create().SetWorkspaceID(f.Workspace.ID).SetAgentID(f.Agent.ID).
		SetKind(knowledgesource.KindTEXT).SetTitle("Hours").Save(sys)
	require.NoError(t, err)
	at := f.Clock.Now()
	for start := 0; start < n; start += 500 {
		var bulk []*ent.MessageCreate
		for i := start; i < min(n, start+500); i++ {
			mc := f.Client.Message.Create().SetWorkspaceID(f.Workspace.ID).SetConversationID(first.ConversationID).
				SetChannelID(f.Channel.ID).SetCreatedAt(at.Add(time.Duration(i) * time.Second)).SetText(text(i))
			switch i % 4 {
			case 0:
				mc.SetDirection(message.DirectionINBOUND).SetAuthor(message.AuthorUSER).SetMid(fmt.Sprintf("m_%d_%d", first.ConversationID, i))
			case 1:
				answered := i%8 == 1
				mc.SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorBOT).SetAnswered(answered).
					SetDeliveryStatus(message.DeliveryStatusSENT).SetInReplyToID(first.ID).
					SetCitations([]schematype.Citation{{SourceID: src.ID, Snippet: "open\nat 9", Score: 0.5}, {SourceID: 999999, Snippet: "gone"}})
			case 2:
				mc.SetDirection(message.DirectionINBOUND).SetAuthor(message.AuthorUSER).
					SetAttachments([]schematype.Attachment{{Type: "image", URL: "https://cdn.example/<a>&.jpg"}})
			default:
				mc.SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorAGENT).SetSentBy("Dana").
					SetDeliveryStatus(message.DeliveryStatusFAILED).SetError("=window closed")
			}
			bulk = append(bulk, mc)
		}
		require.NoError(t, f.Client.Message.CreateBulk(bulk...).Exec(sys))
	}
	return first.ConversationID
}

// TestTranscriptLarge renders a conversation that spans several of the
// batches Transcript reads, and one that is too large to render.
func TestTranscriptLarge(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		first := asks(t, f, f.Channel, "7001", "m_first", "-first\r\nline")
		conv := seedMessages(t, f, first, 1204, func(i int) string {
			return fmt.Sprintf("message %d: \"quoted\" <b>&amp;</b>, comma\nsecond line é", i)
		})
		dana := f.Staff("Dana")
		for _, format := range []conversation.TranscriptFormat{conversation.TranscriptText, conversation.TranscriptJSON, conversation.TranscriptCSV} {
			out, err := f.Service.Transcript(dana, conv, format)
			require.NoError(t, err)
			if dir := os.Getenv("SEACHAT_TRANSCRIPT_DUMP"); dir != "" {
				name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"."+string(format))
				require.NoError(t, os.WriteFile(name, []byte(out), 0o644))
			}
			switch format {
			case conversation.TranscriptText:
				require.Contains(t, out, "\n1205 messages\n")
				require.Equal(t, 1205, strings.Count(out, "\n\n["), "one entry per message")
				require.True(t, strings.HasSuffix(out, "(not delivered: =window closed)\n"), "the last message closes the text")
			case conversation.TranscriptJSON:
				var objs []map[string]any
				require.NoError(t, json.Unmarshal([]byte(out), &objs))
				require.Len(t, objs, 1205)
				require.Equal(t, "-first\r\nline", objs[0]["text"])
				for i, o := range objs[1:] {
					require.Equal(t, fmt.Sprintf("message %d: \"quoted\" <b>&amp;</b>, comma\nsecond line é", i), o["text"], "in order")
				}
			case conversation.TranscriptCSV:
				rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				require.NoError(t, err)
				require.Len(t, rows, 1206)
			}
		}

		// A conversation over the limit fails with advice, whether the
		// transcript or the request's budget runs out first.
		big := seedMessages(t, f, asks(t, f, f.Channel, "7002", "m_big", "big"), 600, func(i int) string {
			return strings.Repeat("x", 1900) + fmt.Sprint(i)
		})
		_, err := f.Service.Transcript(dana, big, conversation.TranscriptText)
		require.NoError(t, err, "about 1.1 MB fits")
		b := budget.New(512 << 10)
		_, err = f.Service.Transcript(budget.NewContext(dana, b), big, conversation.TranscriptJSON)
		require.ErrorIs(t, err, apperr.InvalidArgument)
		require.True(t, b.Is(err), "the request's budget ran out: %v", err)
		require.Contains(t, apperr.Message(err), "larger than 512 KiB")
		require.Less(t, b.Used(), int64(512<<10+64<<10), "stopped within a chunk of the budget")
	})
}
