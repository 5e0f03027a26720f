package server_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestChannelSetupSecretsOwnerOnly: a channel's callbackUrl and verifyToken
// are what set up its webhook, so only OWNER tokens read them. An AGENT
// token asking for either gets FORBIDDEN (the fields are non-null, so there
// is no null to give), by every path to the channel, and cannot test
// guesses of the verify token through a filter either. Everything else about
// the channel stays readable, and the health details name no callback URL.
func TestChannelSetupSecretsOwnerOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ws := e.newWorkspace("Harbor")
		agentID := e.createAgent(ws.owner, "Harbor Bikes")
		var ch channelView
		e.ok(ws.owner, `mutation($a:ID!){setupMessengerChannel(agentId:$a){`+channelFields+`}}`,
			map[string]any{"a": agentID}, "setupMessengerChannel", &ch)
		require.NotEmpty(t, ch.VerifyToken)
		require.NotEmpty(t, ch.CallbackURL)

		node := `query($id:ID!){node(id:$id){... on MessengerChannel{id %s}}}`
		agents := `{agents{id messengerChannels{id %s}}}`
		for _, field := range []string{"verifyToken", "callbackUrl"} {
			for _, q := range []string{node, agents} {
				query := strings.Replace(q, "%s", field, 1)
				vars := map[string]any{"id": ch.ID}
				_, res := e.do(ws.agent, query, vars)
				require.Equal(t, "FORBIDDEN", res.code(), "AGENT read %s: %s", field, query)
				require.Contains(t, res.Errors[0].Message, "OWNER", "the error says who may read it")
				_, res = e.do(ws.owner, query, vars)
				require.Empty(t, res.Errors, "OWNER reading %s: %s", field, query)
			}
		}
		var owned struct {
			VerifyToken string
			CallbackURL string `json:"callbackUrl"`
		}
		e.ok(ws.owner, `query($id:ID!){node(id:$id){... on MessengerChannel{verifyToken callbackUrl}}}`,
			map[string]any{"id": ch.ID}, "node", &owned)
		require.Equal(t, ch.VerifyToken, owned.VerifyToken)
		require.Equal(t, ch.CallbackURL, owned.CallbackURL)

		// The rest of the channel is the AGENT's to read; its health does
		// not spell out the callback URL.
		var seen struct {
			Status string
			Health struct{ Checks []struct{ Detail string } }
		}
		e.ok(ws.agent, `query($id:ID!){node(id:$id){... on MessengerChannel{status health{checks{detail}}}}}`,
			map[string]any{"id": ch.ID}, "node", &seen)
		require.Equal(t, "AWAITING_VERIFICATION", seen.Status)
		for _, c := range seen.Health.Checks {
			require.NotContains(t, c.Detail, ch.CallbackURL)
		}

		// No filter on the verify token to test guesses against.
		_, res := e.do(ws.agent, `{conversations(where:{hasChannelWith:{verifyTokenHasPrefix:"a"}}){totalCount}}`, nil)
		require.NotEmpty(t, res.Errors)
		require.Contains(t, res.Errors[0].Message, "verifyTokenHasPrefix", "the filter does not exist")
	})
}
