package knowledge

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

func TestPassages(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		_, err := e.svc.AddText(e.owner, e.agent, "Spoke Café menu", cafeMenu)
		require.NoError(t, err)
		_, err = e.svc.AddFAQ(e.owner, e.agent, "Harbor Club membership", clubFAQ)
		require.NoError(t, err)

		const question = "How much is a cappuccino?"
		ps, err := e.svc.Passages(e.sys, e.agent, question)
		require.NoError(t, err)
		require.NotEmpty(t, ps)
		require.LessOrEqual(t, len(ps), DefaultPassages)
		require.True(t, ps[0].Confident)
		require.Contains(t, ps[0].Text, "cappuccino")
		ans, err := e.svc.Answer(e.sys, e.agent, question, nil)
		require.NoError(t, err)
		require.True(t, ans.Answered)
		require.Equal(t, ps[0].SourceID, ans.Citations[0].SourceID, "Passages ranks what Answer cites")

		// Passages that answer nothing are returned too, and say so.
		ps, err = e.svc.Passages(e.sys, e.agent, "Who won the football match last night?")
		require.NoError(t, err)
		for _, p := range ps {
			require.False(t, p.Confident, "%+v", p)
		}

		_, err = e.svc.Passages(e.ownerB, e.agent, question)
		require.Equal(t, apperr.NotFound, apperr.KindOf(err))
	})
}
