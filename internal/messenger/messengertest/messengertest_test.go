package messengertest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger"
	mt "github.com/seachat/seachat/internal/messenger/messengertest"
)

// code is the Graph API error code of err, 0 if none.
func code(t *testing.T, err error) int {
	t.Helper()
	var ge *messenger.GraphError
	if err == nil {
		return 0
	}
	require.ErrorAs(t, err, &ge)
	return ge.Code
}

// TestFake checks the behaviour the channel, conversation and bot tests
// rely on: the fake is their Meta.
func TestFake(t *testing.T) {
	ctx := context.Background()
	harbor := mt.Page{ID: "1895382890692545", Name: "Harbor Bikes", Token: "EAAB-harbor", Secret: "harbor-secret"}
	plain := mt.Page{ID: "682498171943165", Name: "Dunes Cafe", Token: "EAAB-dunes"}
	g := mt.New(t, harbor, plain)
	c := messenger.NewClient(g.URL, nil)
	signed := c.WithAppSecret([]byte(harbor.Secret))

	_, err := signed.Me(ctx, harbor.Token)
	require.NoError(t, err)
	_, err = c.Me(ctx, harbor.Token)
	require.Equal(t, 100, code(t, err), "a page with a secret needs appsecret_proof")
	_, err = c.WithAppSecret([]byte("wrong")).Me(ctx, harbor.Token)
	require.ErrorContains(t, err, "Invalid appsecret_proof")
	_, err = c.Me(ctx, plain.Token)
	require.NoError(t, err, "a page without a secret needs no proof")
	g.Revoke(plain.Token)
	_, err = c.Me(ctx, plain.Token)
	require.Equal(t, 190, code(t, err))
	g.Restore(plain.Token)
	_, err = c.Me(ctx, plain.Token)
	require.NoError(t, err)
	require.Equal(t, 6, g.Count("GET", "/me"))
	reqs := g.Requests()
	require.Equal(t, mt.Request{Method: "GET", Path: "/v25.0/me", Page: harbor.ID, Proof: true}, reqs[0])
	require.Equal(t, mt.Request{Method: "GET", Path: "/v25.0/me", Page: harbor.ID}, reqs[1])
	g.ResetRequests()

	require.Equal(t, 210, code(t, c.Subscribe(ctx, plain.Token, harbor.ID, []string{"messages"})), "another page's token")
	g.Set(func(k *mt.Knobs) { k.RefuseOptional, k.DropMessages, k.OtherApps = true, true, true })
	require.Equal(t, 100, code(t, c.Subscribe(ctx, plain.Token, plain.ID, []string{"messages", "standby"})))
	require.NoError(t, c.Subscribe(ctx, plain.Token, plain.ID, []string{"messages", "message_echoes"}))
	apps, err := c.SubscribedApps(ctx, plain.Token, plain.ID)
	require.NoError(t, err)
	require.Len(t, apps, 2)
	require.Equal(t, mt.OtherAppID, apps[0].ID)
	require.Equal(t, []string{"message_echoes"}, g.Subscribed(plain.ID))

	p, err := c.UserProfile(ctx, plain.Token, "7001")
	require.NoError(t, err)
	require.Equal(t, "Ada", p.FirstName)
	g.Set(func(k *mt.Knobs) { k.NoDefaultProfile = true })
	_, err = c.UserProfile(ctx, plain.Token, "7001")
	require.Equal(t, 100, code(t, err))
	g.SetProfile("7001", messenger.Profile{FirstName: "Ana"})
	p, err = c.UserProfile(ctx, plain.Token, "7001")
	require.NoError(t, err)
	require.Equal(t, "Ana", p.FirstName)
	require.Equal(t, 3, g.ProfileCalls())

	var mu sync.Mutex
	var hooked []mt.Sent
	g.OnSend(func(s mt.Sent) { mu.Lock(); hooked = append(hooked, s); mu.Unlock() })
	g.FailNext(mt.FailTemporary)
	_, err = c.SendText(ctx, plain.Token, messenger.SendRequest{PSID: "7001", Text: "Hi"})
	require.True(t, messenger.IsTransient(err))
	require.NoError(t, c.SenderAction(ctx, plain.Token, "7001", messenger.ActionTypingOn), "sender actions take no queued failure")
	res, err := c.SendText(ctx, plain.Token, messenger.SendRequest{PSID: "7001", Text: "Hi"})
	require.NoError(t, err)
	require.Equal(t, "m_fake_1", res.MessageID)
	require.Equal(t, []mt.Sent{{PageID: plain.ID, PSID: "7001", Text: "Hi", MessagingType: "RESPONSE", MID: "m_fake_1"}}, g.Sent())
	mu.Lock()
	require.Equal(t, g.Sent(), hooked)
	mu.Unlock()
	g.Set(func(k *mt.Knobs) { k.SendErr = mt.FailAppNotLive })
	require.True(t, messenger.IsAppNotLive(c.SenderAction(ctx, plain.Token, "7001", messenger.ActionMarkSeen)))
	require.Equal(t, 4, g.Calls())
	require.Equal(t, []messenger.Action{messenger.ActionTypingOn}, g.Actions())

	g.Set(func(k *mt.Knobs) { k.Outage = true })
	_, err = c.Me(ctx, plain.Token)
	require.True(t, messenger.IsTransient(err))

	unknown := func() int {
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/v25.0/"+plain.ID+"/feed", nil)
		req.Header.Set("Authorization", "Bearer "+plain.Token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var body struct{ Error struct{ Code int } }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return body.Error.Code
	}
	require.Equal(t, 2, unknown(), "the outage comes first")
	g.Set(func(k *mt.Knobs) { k.Outage = false })
	require.Equal(t, 2500, unknown())
	reqs = g.Requests()
	require.Equal(t, mt.Request{Method: "GET", Path: "/v25.0/" + plain.ID + "/feed", Page: plain.ID}, reqs[len(reqs)-1])
}
