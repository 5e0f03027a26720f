package conversation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestFutureDatedEvent: a signed event whose timestamp lies in the future
// is stored at the time it is recorded, so it cannot pin its conversation
// to the top of the list or stretch the reply window; a past timestamp is
// still kept as Meta sent it.
func TestFutureDatedEvent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		future := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		received := f.Clock.Now()
		require.True(t, future.After(received))

		pinned := receive(t, f, "7001", "m_future", "first!", future)
		c := reload(t, f, pinned.Conversation.ID)
		require.True(t, received.Equal(c.LastMessageAt), "lastMessageAt %s", c.LastMessageAt)
		require.True(t, received.Equal(*c.LastUserMessageAt), "lastUserMessageAt %s", c.LastUserMessageAt)
		require.True(t, received.Equal(*pinned.Message.EventTime))
		require.True(t, received.Equal(pinned.Contact.LastSeenAt))

		// A later, honest message elsewhere now comes first in the list.
		f.Clock.Advance(time.Minute)
		honest := receive(t, f, "7002", "m_honest", "hello", received.Add(30*time.Second))
		newest, err := f.Client.Conversation.Query().
			Order(ent.Desc(entconv.FieldLastMessageAt)).First(ct.Sys())
		require.NoError(t, err)
		require.Equal(t, honest.Conversation.ID, newest.ID)

		// A future echo does not move lastMessageAt past the present either.
		require.NoError(t, f.Service.RecordEcho(context.Background(), f.Channel,
			ct.Echo("7001", "m_echo_future", "from the Page Inbox", "263902037430900", "", future)))
		c = reload(t, f, pinned.Conversation.ID)
		require.True(t, f.Clock.Now().Equal(c.LastMessageAt), "lastMessageAt %s", c.LastMessageAt)

		// The window runs from when the future event was recorded: a day
		// later only a human may answer, tagged.
		f.Clock.Set(received.Add(conversation.StandardWindow))
		require.Equal(t, conversation.WindowHumanAgentTag, conversation.ReplyWindow(c, f.Clock.Now()).State)
	})
}
