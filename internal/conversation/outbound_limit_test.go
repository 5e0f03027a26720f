package conversation_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestAgentMessageLimit: text over MaxAgentMessageLength characters is
// refused before anything is stored, taken over or sent (one 896 KB paste
// once became 450 Send API calls); text at the limit is sent.
func TestAgentMessageLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "tell me everything", ct.Start)
		staff := f.Staff("alice")
		rec := ct.Record(t, f.Bus)

		sentence := "Rentals include a helmet. "
		huge := strings.Repeat(sentence, 896*1024/len(sentence))
		over := strings.Repeat("é", conversation.MaxAgentMessageLength+1) // counted in characters, not bytes
		for _, text := range []string{huge, over} {
			_, err := f.Service.SendAgentMessage(staff, in.Conversation.ID, text)
			require.ErrorIs(t, err, apperr.InvalidArgument)
			require.Contains(t, apperr.Message(err), "text:")
			require.Contains(t, apperr.Message(err), "20000 characters")
		}
		require.Empty(t, f.Graph.Sent(), "nothing sent")
		require.Len(t, messages(t, f, in.Conversation.ID), 1, "nothing stored")
		require.Empty(t, rec.Drain(), "no takeover")

		// Surrounding whitespace does not count; the limit itself is fine.
		atLimit := "  " + strings.Repeat("ab cd. ", conversation.MaxAgentMessageLength/7) + "  "
		_, err := f.Service.SendAgentMessage(staff, in.Conversation.ID, atLimit)
		require.NoError(t, err)
		// Ten full messages, a few more where cuts fall at sentence ends.
		require.LessOrEqual(t, len(f.Graph.Sent()), conversation.MaxAgentMessageLength/conversation.MaxTextLength+2)
	})
}
