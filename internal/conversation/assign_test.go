package conversation_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/viewer"
)

// TestConcurrentRepliesOneWins is issue 17's collision: two agents reply
// to the same unassigned conversation at once. Exactly one reply reaches
// the person, the conversation is that agent's, and the other gets a
// Conflict that names them; with TakeOver the other may then reply.
func TestConcurrentRepliesOneWins(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "is anyone there?", ct.Start)
		staff := []context.Context{f.Staff("alice"), f.Staff("bob")}
		errs := make([]error, len(staff))
		var wg sync.WaitGroup
		for i, ctx := range staff {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.Service.SendAgentMessage(ctx, in.Conversation.ID, "I'm on it")
			}()
		}
		wg.Wait()
		winner := 0
		if errs[0] != nil {
			winner = 1
		}
		loser := 1 - winner
		require.NoError(t, errs[winner])
		require.True(t, errors.Is(errs[loser], apperr.Conflict), "%v", errs[loser])
		winnerView, _ := viewer.FromContext(staff[winner])
		require.Contains(t, errs[loser].Error(), winnerView.TokenName)
		require.Contains(t, errs[loser].Error(), "takeOver: true")
		require.Len(t, f.Graph.Sent(), 1, "both replies reached the person")
		c, err := f.Client.Conversation.Get(ct.Sys(), in.Conversation.ID)
		require.NoError(t, err)
		require.Equal(t, winnerView.TokenID, *c.AssigneeID)

		_, err = f.Service.SendAgentMessage(staff[loser], in.Conversation.ID, "Let me help", conversation.TakeOver(true))
		require.NoError(t, err)
		c, err = f.Client.Conversation.Get(ct.Sys(), in.Conversation.ID)
		require.NoError(t, err)
		loserView, _ := viewer.FromContext(staff[loser])
		require.Equal(t, loserView.TokenID, *c.AssigneeID)
		require.Equal(t, loserView.TokenName, *c.AssignedTo)
	})
}
