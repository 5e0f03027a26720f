package conversation_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestHandoffMedians: the time to take a handoff over (acceptHandoff or a
// reply) and to the first human reply, median over the conversations whose
// latest request is in the range; requests nobody took count in neither.
func TestHandoffMedians(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		alice, bob := f.Staff("alice"), f.Staff("bob")
		request := func(psid string) int {
			t.Helper()
			in := receive(t, f, psid, "m_"+psid, "a human please", f.Clock.Now())
			_, err := f.Service.RequestHandoff(ct.Sys(), in.Conversation.ID)
			require.NoError(t, err)
			return in.Conversation.ID
		}

		// Accepted after 30 s, answered 30 s later.
		c1 := request("1")
		f.Clock.Advance(30 * time.Second)
		_, err := f.Service.Accept(alice, c1)
		require.NoError(t, err)
		f.Clock.Advance(30 * time.Second)
		_, err = f.Service.SendAgentMessage(alice, c1, "Alice here")
		require.NoError(t, err)
		f.Clock.Advance(time.Minute)
		_, err = f.Service.SendAgentMessage(alice, c1, "a second reply does not count")
		require.NoError(t, err)

		// Answered, and so taken over, after 10 s.
		c2 := request("2")
		f.Clock.Advance(10 * time.Second)
		_, err = f.Service.SendAgentMessage(bob, c2, "Bob here")
		require.NoError(t, err)

		// Nobody took it.
		request("3")
		f.Clock.Advance(time.Hour)

		stats, err := f.Service.AgentStats(alice, f.Agent.ID, nil, nil)
		require.NoError(t, err)
		require.NotNil(t, stats.MedianHandoffAcceptMs)
		require.Equal(t, 20000, *stats.MedianHandoffAcceptMs, "median of 30 s and 10 s")
		require.NotNil(t, stats.MedianFirstHumanReplyMs)
		require.Equal(t, 35000, *stats.MedianFirstHumanReplyMs, "median of 60 s and 10 s")

		later := f.Clock.Now()
		stats, err = f.Service.AgentStats(alice, f.Agent.ID, &later, nil)
		require.NoError(t, err)
		require.Nil(t, stats.MedianHandoffAcceptMs, "no request in the range")
		require.Nil(t, stats.MedianFirstHumanReplyMs)
	})
}
