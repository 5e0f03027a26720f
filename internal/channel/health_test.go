package channel_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/messenger"
	mt "github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// checks returns a Health's checks by name, and asserts their order.
func checks(t *testing.T, h channel.Health) map[string]channel.HealthCheck {
	t.Helper()
	want := []string{channel.CheckWebhookVerified, channel.CheckPageTokenValid, channel.CheckPageSubscribed,
		channel.CheckEventsReceived, channel.CheckSendAPIOK, channel.CheckMessengerProfile}
	require.Len(t, h.Checks, len(want))
	m := map[string]channel.HealthCheck{}
	ok := true
	for i, c := range h.Checks {
		require.Equal(t, want[i], c.Name)
		require.NotEmpty(t, c.Detail, c.Name)
		m[c.Name] = c
		ok = ok && c.OK
	}
	require.Equal(t, ok, h.OK)
	return m
}

// received records a webhook event on the channel, as the intake does.
func (e *env) received(ch *ent.MessengerChannel) {
	e.t.Helper()
	require.NoError(e.t, e.st.Client.MessengerChannel.UpdateOneID(ch.ID).SetLastEventAt(time.Now()).Exec(e.sys))
}

func TestHealthOfNewChannel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch, err := e.svc.Setup(e.ownerA, e.agentA)
		require.NoError(t, err)
		h := e.svc.Health(ch)
		c := checks(t, h)
		require.False(t, h.OK)
		for _, name := range []string{channel.CheckWebhookVerified, channel.CheckPageTokenValid, channel.CheckPageSubscribed,
			channel.CheckEventsReceived, channel.CheckSendAPIOK, channel.CheckMessengerProfile} {
			require.False(t, c[name].OK, name)
		}
		require.Contains(t, c[channel.CheckWebhookVerified].Detail, "Callback URL")
		require.NotContains(t, c[channel.CheckWebhookVerified].Detail, e.svc.CallbackURL(ch), "AGENT tokens read health")
		require.Contains(t, c[channel.CheckWebhookVerified].Detail, "Verify token")
		require.Contains(t, c[channel.CheckWebhookVerified].Detail, "messages")
		require.Contains(t, c[channel.CheckPageTokenValid].Detail, "Step 2")
		require.Contains(t, c[channel.CheckEventsReceived].Detail, "Development mode")
		require.Contains(t, c[channel.CheckEventsReceived].Detail, "App Review")

		// Checking a channel without a token asks Meta nothing.
		h, err = e.svc.Check(e.ownerA, ch.ID)
		require.NoError(t, err)
		require.False(t, h.OK)
		require.Empty(t, e.meta.Requests())

		// Another Page of an app whose callback URL is another channel's:
		// Meta never verifies this channel's URL, but its events arrive.
		now := time.Now()
		ch.LastEventAt = &now
		c = checks(t, e.svc.Health(ch))
		require.True(t, c[channel.CheckWebhookVerified].OK)
		require.Contains(t, c[channel.CheckWebhookVerified].Detail, "same app")
	})
}

func TestCheck(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch := e.connected(harbor)
		e.received(ch)

		t.Run("healthy", func(t *testing.T) {
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			c := checks(t, h)
			require.True(t, h.OK, "%+v", h)
			require.Contains(t, c[channel.CheckPageSubscribed].Detail, "messages")
			require.Equal(t, h, e.svc.Health(e.reload(ch)), "Check and the stored health disagree")
		})

		t.Run("dead token", func(t *testing.T) {
			e.meta.Revoke(harbor.Token)
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			c := checks(t, h)
			require.False(t, h.OK)
			require.False(t, c[channel.CheckPageTokenValid].OK)
			require.Contains(t, c[channel.CheckPageTokenValid].Detail, "expired or was revoked")
			require.Contains(t, c[channel.CheckPageTokenValid].Detail, "paste a new Page Access Token")
			require.False(t, c[channel.CheckSendAPIOK].OK)

			got := e.reload(ch)
			require.Equal(t, messengerchannel.StatusERROR, got.Status)
			require.NotNil(t, got.LastError)
			require.Contains(t, *got.LastError, "paste a new Page Access Token")
			require.Equal(t, h, e.svc.Health(got))
		})

		t.Run("token works again", func(t *testing.T) {
			e.meta.Restore(harbor.Token)
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			require.True(t, h.OK, "%+v", h)
			got := e.reload(ch)
			require.Equal(t, messengerchannel.StatusCONNECTED, got.Status)
			require.Nil(t, got.LastError)
		})

		t.Run("app not live", func(t *testing.T) {
			e.meta.Set(func(k *mt.Knobs) { k.SendErr = mt.FailAppNotLive })
			_, err := e.svc.Send(context.Background(), ch.ID, messenger.SendRequest{PSID: "1254459154682919", Text: "Hi"})
			requireKind(t, err, apperr.Upstream)
			require.True(t, messenger.IsAppNotLive(err))

			for _, h := range []func() (channel.Health, error){
				func() (channel.Health, error) { return e.svc.Health(e.reload(ch)), nil },
				func() (channel.Health, error) { return e.svc.Check(e.ownerA, ch.ID) },
			} {
				h, err := h()
				require.NoError(t, err)
				c := checks(t, h)
				require.False(t, h.OK)
				require.True(t, c[channel.CheckPageTokenValid].OK)
				require.False(t, c[channel.CheckSendAPIOK].OK)
				require.Contains(t, c[channel.CheckSendAPIOK].Detail, "2018028")
				require.Contains(t, c[channel.CheckSendAPIOK].Detail, "Live")
				require.Contains(t, c[channel.CheckSendAPIOK].Detail, "App Review")
			}
			got := e.reload(ch)
			require.Equal(t, messengerchannel.StatusCONNECTED, got.Status, "an app in Development mode can still message its testers")
			require.Contains(t, *got.LastError, "Live")

			e.meta.Set(func(k *mt.Knobs) { k.SendErr = mt.Failure{} })
			_, err = e.svc.Send(context.Background(), ch.ID, messenger.SendRequest{PSID: "1254459154682919", Text: "Hi"})
			require.NoError(t, err)
			got = e.reload(ch)
			require.True(t, e.svc.Health(got).OK)
			require.Nil(t, got.LastError)
		})

		t.Run("page lost its subscription", func(t *testing.T) {
			e.meta.DropSubscription(harbor.ID)
			e.meta.ResetRequests()
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			require.True(t, h.OK, "%+v", h)
			require.Equal(t, 1, e.meta.Count("POST", "/subscribed_apps"), "the page was not subscribed again")
		})

		t.Run("page cannot be subscribed again", func(t *testing.T) {
			e.meta.DropSubscription(harbor.ID)
			e.meta.Set(func(k *mt.Knobs) { k.DropMessages = true })
			defer e.meta.Set(func(k *mt.Knobs) { k.DropMessages = false })
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			c := checks(t, h)
			require.False(t, c[channel.CheckPageSubscribed].OK)
			require.Contains(t, c[channel.CheckPageSubscribed].Detail, "Webhooks")
			got := e.reload(ch)
			require.Equal(t, messengerchannel.StatusCONNECTED, got.Status)
			require.Equal(t, c[channel.CheckPageSubscribed].Detail, *got.LastError)
		})

		t.Run("Meta unreachable", func(t *testing.T) {
			e.meta.Set(func(k *mt.Knobs) { k.Outage = true })
			defer e.meta.Set(func(k *mt.Knobs) { k.Outage = false })
			before := e.reload(ch)
			h, err := e.svc.Check(e.ownerA, ch.ID)
			require.NoError(t, err)
			c := checks(t, h)
			require.False(t, c[channel.CheckPageTokenValid].OK)
			require.Contains(t, c[channel.CheckPageTokenValid].Detail, "could not be reached")
			got := e.reload(ch)
			require.Equal(t, before.Status, got.Status, "an outage changed the channel")
			require.Equal(t, before.TokenError, got.TokenError)
		})

		t.Run("refused", func(t *testing.T) {
			for _, tt := range []struct {
				name string
				ctx  context.Context
				want *apperr.Kind
			}{
				{"AGENT-role token", e.staffA, apperr.PermissionDenied},
				{"another workspace", e.ownerB, apperr.NotFound},
			} {
				_, err := e.svc.Check(tt.ctx, ch.ID)
				requireKind(t, err, tt.want)
			}
		})
	})
}

func TestSend(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		psid := "1254459154682919"
		ch := e.connected(harbor)
		e.meta.SetProfile(psid, messenger.Profile{FirstName: "Peter", LastName: "Chang", ProfilePic: "https://example.com/p.jpg"})

		res, err := e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: psid, Text: "Hello from the bot"})
		require.NoError(t, err)
		require.Equal(t, messenger.SendResult{RecipientID: psid, MessageID: "m_fake_1"}, res)
		require.Equal(t, []mt.Sent{{PageID: harbor.ID, PSID: psid, Text: "Hello from the bot", MessagingType: "RESPONSE",
			MID: "m_fake_1"}}, e.meta.Sent())
		require.NoError(t, e.svc.SenderAction(ctx, ch.ID, psid, messenger.ActionTypingOn))
		p, err := e.svc.Profile(ctx, ch.ID, psid)
		require.NoError(t, err)
		require.Equal(t, "Peter", p.FirstName)
		for _, r := range e.meta.Requests() {
			require.True(t, r.Proof, "%s %s without appsecret_proof", r.Method, r.Path)
		}

		// A transient failure is the caller's to retry, and changes nothing.
		e.meta.Set(func(k *mt.Knobs) { k.Outage = true })
		e.meta.ResetRequests()
		_, err = e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: psid, Text: "Hi"})
		require.True(t, messenger.IsTransient(err), "%v", err)
		requireKind(t, err, apperr.Upstream)
		e.meta.Set(func(k *mt.Knobs) { k.Outage = false })
		require.Len(t, e.meta.Requests(), 1, "Send retried")
		require.Equal(t, messengerchannel.StatusCONNECTED, e.reload(ch).Status)
		require.Nil(t, e.reload(ch).LastSendError)

		// A dead token stops sending until the page is connected again.
		e.meta.Revoke(harbor.Token)
		_, err = e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: psid, Text: "Hi"})
		requireKind(t, err, apperr.InvalidPageToken)
		got := e.reload(ch)
		require.Equal(t, messengerchannel.StatusERROR, got.Status)
		require.Contains(t, *got.LastError, "paste a new Page Access Token")
		require.NotContains(t, err.Error(), harbor.Token)

		e.meta.Restore(harbor.Token)
		e.meta.ResetRequests()
		_, err = e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: psid, Text: "Hi"})
		requireKind(t, err, apperr.Conflict)
		require.Contains(t, apperr.Message(err), "Step 2")
		require.ErrorIs(t, e.svc.SenderAction(ctx, ch.ID, psid, messenger.ActionTypingOn), apperr.Conflict)
		_, err = e.svc.Profile(ctx, ch.ID, psid)
		require.ErrorIs(t, err, apperr.Conflict)
		require.Empty(t, e.meta.Requests(), "an ERROR channel called Meta")

		// Reconnecting restores sending.
		_, err = e.svc.Connect(e.ownerA, ch.ID, harbor.Token, harbor.Secret)
		require.NoError(t, err)
		_, err = e.svc.Send(ctx, ch.ID, messenger.SendRequest{PSID: psid, Text: "Back"})
		require.NoError(t, err)
	})
}

func TestSendRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, tt := range []struct {
			name    string
			channel func() int
			want    *apperr.Kind
			wantMsg string
		}{
			{"awaiting verification", func() int {
				ch, err := e.svc.Setup(e.ownerA, e.agentA)
				require.NoError(t, err)
				return ch.ID
			}, apperr.Conflict, "connect the page first (Step 2)"},
			{"awaiting page token", func() int { return e.setup().ID }, apperr.Conflict, "connect the page first (Step 2)"},
			{"removed", func() int {
				ch, err := e.svc.Remove(e.ownerA, e.connected(corals).ID)
				require.NoError(t, err)
				return ch.ID
			}, apperr.Conflict, "removed"},
			{"unknown", func() int { return 1 << 30 }, apperr.NotFound, "not found"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := tt.channel()
				e.meta.ResetRequests()
				_, err := e.svc.Send(context.Background(), id, messenger.SendRequest{PSID: "1", Text: "Hi"})
				requireKind(t, err, tt.want)
				require.Contains(t, apperr.Message(err), tt.wantMsg)
				require.Empty(t, e.meta.Requests())
			})
		}
	})
}

func TestRemove(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch := e.connected(harbor)
		contact, err := st.Client.Contact.Create().SetWorkspaceID(e.wsA).SetChannelID(ch.ID).SetPsid("1254459154682919").Save(e.sys)
		require.NoError(t, err)

		_, err = e.svc.Remove(e.staffA, ch.ID)
		requireKind(t, err, apperr.PermissionDenied)
		_, err = e.svc.Remove(e.ownerB, ch.ID)
		requireKind(t, err, apperr.NotFound)
		require.Zero(t, e.meta.Count("DELETE", "/subscribed_apps"))

		for range 2 { // idempotent
			got, err := e.svc.Remove(e.ownerA, ch.ID)
			require.NoError(t, err)
			require.Equal(t, messengerchannel.StatusREMOVED, got.Status)
			require.NotNil(t, got.RemovedAt)
			require.Empty(t, *got.PageTokenEnc)
			require.Empty(t, *got.AppSecretEnc)
		}
		require.Equal(t, 1, e.meta.Count("DELETE", "/v25.0/"+harbor.ID+"/subscribed_apps"))
		rawToken, rawSecret := e.rawSecrets(ch.ID)
		require.Nil(t, rawToken)
		require.Nil(t, rawSecret)

		_, err = e.svc.ByWebhookKey(context.Background(), ch.WebhookKey)
		requireKind(t, err, apperr.NotFound)
		_, err = e.svc.AppSecret(context.Background(), e.reload(ch))
		requireKind(t, err, apperr.Conflict)
		_, err = e.svc.Check(e.ownerA, ch.ID)
		requireKind(t, err, apperr.Conflict)
		require.False(t, e.svc.Health(e.reload(ch)).OK)

		_, err = st.Client.Contact.Get(e.sys, contact.ID)
		require.NoError(t, err, "removing the channel lost its contacts")
	})
}

func TestRemoveWhenMetaFails(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch := e.connected(harbor)
		e.meta.Set(func(k *mt.Knobs) { k.UnsubscribeErr = true })
		got, err := e.svc.Remove(e.ownerA, ch.ID)
		require.NoError(t, err, "Remove must not depend on Meta")
		require.Equal(t, messengerchannel.StatusREMOVED, got.Status)
		require.Contains(t, e.logs.String(), "unsubscribing the page")

		// A channel that never got a token is removed without asking Meta.
		e.meta.ResetRequests()
		_, err = e.svc.Remove(e.ownerA, e.setup().ID)
		require.NoError(t, err)
		require.Empty(t, e.meta.Requests())
	})
}

func TestByWebhookKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch := e.connected(harbor)
		got, err := e.svc.ByWebhookKey(context.Background(), ch.WebhookKey)
		require.NoError(t, err)
		require.Equal(t, ch.ID, got.ID)
		sec, err := e.svc.AppSecret(context.Background(), got)
		require.NoError(t, err)
		require.Equal(t, harbor.Secret, string(sec))
		for _, key := range []string{"", "nope", ch.WebhookKey + "x"} {
			_, err := e.svc.ByWebhookKey(context.Background(), key)
			requireKind(t, err, apperr.NotFound)
		}
		_, err = e.svc.AppSecret(context.Background(), e.setup())
		requireKind(t, err, apperr.Conflict)

		got, err = e.svc.ByPageID(context.Background(), harbor.ID)
		require.NoError(t, err)
		require.Equal(t, ch.ID, got.ID)
		_, err = e.svc.ByPageID(context.Background(), dunes.ID)
		requireKind(t, err, apperr.NotFound)
		_, err = e.svc.Remove(e.ownerA, ch.ID)
		require.NoError(t, err)
		_, err = e.svc.ByPageID(context.Background(), harbor.ID)
		requireKind(t, err, apperr.NotFound)
	})
}

func TestRecheckTokens(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		chans := []*ent.MessengerChannel{e.connected(harbor), e.connected(dunes), e.connected(corals)}
		pending, err := e.svc.Setup(e.ownerA, e.agentA) // no token: never checked
		require.NoError(t, err)
		e.meta.Revoke(dunes.Token)
		e.meta.ResetRequests()

		// Two replicas, tokens checked two hours ago, one check per hour:
		// each token is checked once, by one of them.
		old := time.Now().UTC().Add(-2 * time.Hour)
		_, err = st.Client.MessengerChannel.Update().Where(messengerchannel.PageTokenEncNotNil()).SetTokenCheckedAt(old).Save(e.sys)
		require.NoError(t, err)
		run := func(svc *channel.Service, every time.Duration) (stop func()) {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { svc.RecheckTokens(ctx, every) })
			return func() { cancel(); wg.Wait() }
		}
		stop1, stop2 := run(e.svc, time.Hour), run(e.newService(), time.Hour)
		require.Eventually(t, func() bool {
			for _, ch := range chans {
				if got := e.reload(ch); got.TokenCheckedAt == nil || !got.TokenCheckedAt.After(old) {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // let a duplicate check show up, if any
		stop1()
		stop2()
		for _, p := range []mt.Page{harbor, dunes, corals} {
			n := 0
			for _, r := range e.meta.Requests() {
				if r.Path == "/v25.0/me" && r.Page == p.ID {
					n++
				}
			}
			require.Equal(t, 1, n, "GET /me for %s", p.Name)
		}
		require.Equal(t, messengerchannel.StatusCONNECTED, e.reload(chans[0]).Status)
		dead := e.reload(chans[1])
		require.Equal(t, messengerchannel.StatusERROR, dead.Status)
		require.Contains(t, *dead.LastError, "paste a new Page Access Token")
		require.Nil(t, e.reload(pending).TokenCheckedAt)

		// A short interval checks again and again; a restored token brings
		// its channel back.
		e.meta.ResetRequests()
		start := time.Now()
		stop := run(e.svc, 50*time.Millisecond)
		time.Sleep(300 * time.Millisecond)
		e.meta.Restore(dunes.Token)
		require.Eventually(t, func() bool {
			return e.reload(chans[1]).Status == messengerchannel.StatusCONNECTED
		}, 10*time.Second, 10*time.Millisecond)
		stop()
		elapsed := time.Since(start)
		n := e.meta.Count("GET", "/v25.0/me")
		require.GreaterOrEqual(t, n, 3*2, "tokens were not re-checked")
		require.LessOrEqual(t, n, 3*int(elapsed/(50*time.Millisecond)+1), "tokens were checked more often than every 50ms")
		require.Nil(t, e.reload(chans[1]).LastError)
	})
}

// TestBadSignatureInHealth: with a wrong App Secret, events arrive and are
// refused; health says the secret does not match instead of "no event has
// arrived yet", until a well-signed event arrives.
func TestBadSignatureInHealth(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ch, err := e.svc.Connect(e.ownerA, e.setup().ID, harbor.Token, harbor.Secret)
		require.NoError(t, err)
		e.svc.RefusedSignature(context.Background(), ch)
		e.svc.RefusedSignature(context.Background(), ch) // within the minute: no second write
		ch, err = e.st.Client.MessengerChannel.Get(e.sys, ch.ID)
		require.NoError(t, err)
		c := checks(t, e.svc.Health(ch))[channel.CheckEventsReceived]
		require.False(t, c.OK)
		require.Contains(t, c.Detail, "App Secret does not match")

		e.received(ch)
		ch, err = e.st.Client.MessengerChannel.Get(e.sys, ch.ID)
		require.NoError(t, err)
		require.True(t, checks(t, e.svc.Health(ch))[channel.CheckEventsReceived].OK, "a well-signed event since")
	})
}

func TestPublicURLWarning(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://seachat.example", ""},
		{"http://127.0.0.1:8080", "cannot reach"},
		{"http://localhost:8080", "cannot reach"},
		{"https://192.168.1.5", "cannot reach"},
		{"http://seachat.example", "only https"},
	} {
		got := channel.PublicURLWarning(tt.url)
		if tt.want == "" {
			require.Empty(t, got, tt.url)
		} else {
			require.Contains(t, got, tt.want, tt.url)
		}
	}
}
