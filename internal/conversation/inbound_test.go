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
	"github.com/seachat/seachat/internal/messenger"
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

// TestAttachmentURLs: only http(s) attachment URLs from webhooks are kept;
// any other (javascript:, data:, relative) is dropped and the attachment
// stored without a link, so no reader of the API gets a script to click.
func TestAttachmentURLs(t *testing.T) {
	cases := []struct{ url, want string }{
		{"https://scontent.xx.fbcdn.net/v/1.jpg?a=b", "https://scontent.xx.fbcdn.net/v/1.jpg?a=b"},
		{"http://cdn.example/2.png", "http://cdn.example/2.png"},
		{"HTTPS://CDN.example/3.png", "HTTPS://CDN.example/3.png"},
		{"javascript:alert(document.domain)", ""},
		{"JavaScript:alert(1)", ""},
		{" javascript:alert(1)", ""},
		{"java\tscript:alert(1)", ""},
		{"data:text/html;base64,PHNjcmlwdD4=", ""},
		{"vbscript:msgbox(1)", ""},
		{"//evil.example/x", ""},
		{"/relative/path", ""},
		{"https:///no-host", ""},
		{"", ""},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ev := ct.Text("7001", "m_att", "", ct.Start)
		echo := ct.Echo("7001", "m_att_echo", "", "263902037430900", "", ct.Start)
		for _, c := range cases {
			ev.Attachments = append(ev.Attachments, messenger.Attachment{Type: "file", URL: c.url})
			echo.Attachments = append(echo.Attachments, messenger.Attachment{Type: "file", URL: c.url})
		}
		in, err := f.Service.RecordInbound(context.Background(), f.Channel, ev)
		require.NoError(t, err)
		require.NoError(t, f.Service.RecordEcho(context.Background(), f.Channel, echo))
		ms := messages(t, f, in.Conversation.ID)
		require.Len(t, ms, 2)
		for _, m := range ms {
			require.Len(t, m.Attachments, len(cases), "an attachment without a usable link is kept, unlinked")
			for i, c := range cases {
				require.Equal(t, "file", m.Attachments[i].Type)
				require.Equal(t, c.want, m.Attachments[i].URL, "url %q", c.url)
			}
		}
	})
}
