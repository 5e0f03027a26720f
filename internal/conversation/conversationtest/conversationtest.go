// Package conversationtest holds test support for packages conversation and
// bot: a Sender adapter over the real messenger client, and a fixture with
// a workspace, an agent, a connected channel and a conversation service on
// a real database, sending to messengertest's fake Graph API.
package conversationtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/apitoken"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/viewer"
)

// PageID is the Page of the fixture's channel.
const PageID = "1895382890692545"

// PageToken is the page access token the fake Graph API knows the Page by.
const PageToken = "EAAtestpagetoken"

// Sender adapts the real messenger client, pointed at the fake Graph API,
// to conversation.Sender and bot.Actions, as the channel service will.
type Sender struct {
	Client *messenger.Client
	Token  string

	mu sync.Mutex
	// crash, when set, is called instead of the next Send: it simulates
	// the process dying while the request is in flight.
	crash func()
}

// Send implements conversation.Sender.
func (s *Sender) Send(ctx context.Context, _ int, req messenger.SendRequest) (messenger.SendResult, error) {
	s.mu.Lock()
	crash := s.crash
	s.crash = nil
	s.mu.Unlock()
	if crash != nil {
		crash()
		return messenger.SendResult{}, context.Cause(ctx)
	}
	return s.Client.SendText(ctx, s.Token, req)
}

// Profile implements conversation.Sender.
func (s *Sender) Profile(ctx context.Context, _ int, psid string) (messenger.Profile, error) {
	return s.Client.UserProfile(ctx, s.Token, psid)
}

// SenderAction implements bot.Actions.
func (s *Sender) SenderAction(ctx context.Context, _ int, psid string, a messenger.Action) error {
	return s.Client.SenderAction(ctx, s.Token, psid, a)
}

// CrashNextSend makes the next Send call crash() (which should cancel the
// caller's context) and return without reaching Meta.
func (s *Sender) CrashNextSend(crash func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crash = crash
}

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Fixture is a workspace with an agent and a connected channel on a real
// database, and a conversation service sending to a fake Graph API.
type Fixture struct {
	T         testing.TB
	Client    *ent.Client
	Workspace *ent.Workspace
	Agent     *ent.Agent
	Channel   *ent.MessengerChannel
	Graph     *messengertest.Graph // a PSID has a profile only after Graph.SetProfile
	Sender    *Sender
	Bus       *pubsub.Memory
	Clock     *Clock
	Service   *conversation.Service

	mu     sync.Mutex
	sleeps []time.Duration
}

// Start is the fixture clock's initial time.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// NewFixture builds a fixture on st.
func NewFixture(t testing.TB, st *store.Store) *Fixture {
	t.Helper()
	ctx := auth.SystemContext(context.Background())
	f := &Fixture{T: t, Client: st.Client, Clock: &Clock{t: Start}}
	f.Graph = messengertest.New(t, messengertest.Page{ID: PageID, Name: "Harbor Bikes", Token: PageToken})
	f.Graph.Set(func(k *messengertest.Knobs) { k.NoDefaultProfile = true })
	f.Bus = pubsub.NewMemory(pubsub.WithBuffer(4096))
	t.Cleanup(func() { f.Bus.Close() })
	f.Sender = &Sender{Client: messenger.NewClient(f.Graph.Server.URL, nil), Token: PageToken}
	var err error
	if f.Workspace, err = st.Client.Workspace.Create().SetName("Harbor Bikes").Save(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Agent, err = st.Client.Agent.Create().SetWorkspaceID(f.Workspace.ID).SetName("Harbor").Save(ctx); err != nil {
		t.Fatal(err)
	}
	f.Channel, err = st.Client.MessengerChannel.Create().SetWorkspaceID(f.Workspace.ID).SetAgentID(f.Agent.ID).
		SetWebhookKey("key-" + t.Name()).SetVerifyToken("verify").SetStatus(messengerchannel.StatusCONNECTED).
		SetPageID(PageID).SetPageName("Harbor Bikes").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Service = conversation.New(conversation.Deps{
		Client: st.Client,
		Bus:    f.Bus,
		Sender: f.Sender,
		Now:    f.Clock.Now,
		Retry:  conversation.RetryPolicy{Sleep: f.sleep},
	})
	return f
}

func (f *Fixture) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	return ctx.Err()
}

// Sleeps returns the backoff waits the service asked for.
func (f *Fixture) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// Staff returns a context for a staff member of the fixture's workspace: an
// AGENT API token named name.
func (f *Fixture) Staff(name string) context.Context {
	f.T.Helper()
	tok, err := f.Client.APIToken.Create().SetWorkspaceID(f.Workspace.ID).SetName(name).
		SetRole(apitoken.RoleAGENT).SetTokenHash(auth.HashToken(auth.NewToken())).
		Save(auth.SystemContext(context.Background()))
	if err != nil {
		f.T.Fatal(err)
	}
	return viewer.NewContext(context.Background(), viewer.Viewer{
		WorkspaceID: f.Workspace.ID, TokenID: tok.ID, TokenName: name, Role: viewer.RoleAgent,
	})
}

// SetAgent updates the fixture's agent and the channel's copy of it.
func (f *Fixture) SetAgent(update func(*ent.AgentUpdateOne)) {
	f.T.Helper()
	u := f.Client.Agent.UpdateOne(f.Agent)
	update(u)
	a, err := u.Save(auth.SystemContext(context.Background()))
	if err != nil {
		f.T.Fatal(err)
	}
	f.Agent = a
}

// Sys is a context with system rights.
func Sys() context.Context { return auth.SystemContext(context.Background()) }

// Recorder collects the events published on a bus.
type Recorder struct {
	subs []*pubsub.Subscription
}

// Record subscribes to the conversation package's topics until the test
// ends.
func Record(t testing.TB, bus pubsub.Bus) *Recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &Recorder{}
	for _, topic := range []string{conversation.TopicConversation, conversation.TopicMessage} {
		s, err := bus.Subscribe(ctx, topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.subs = append(r.subs, s)
	}
	return r
}

// Drain returns the events published since the last Drain: conversation
// events first, then message events, each in order. Memory publishes
// synchronously, so the events of a call that returned are all there.
func (r *Recorder) Drain() []pubsub.Event {
	var out []pubsub.Event
	for _, s := range r.subs {
		for more := true; more; {
			select {
			case ev := <-s.Events():
				out = append(out, ev)
			default:
				more = false
			}
		}
	}
	return out
}

// Kinds renders events as "topic/kind" strings.
func Kinds(evs []pubsub.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Topic+"/"+ev.Kind)
	}
	return out
}

// Text is a person's text message.
func Text(psid, mid, text string, at time.Time) messenger.Event {
	return messenger.Event{PageID: PageID, Kind: messenger.KindMessage, SenderID: psid, RecipientID: PageID,
		Timestamp: at, MID: mid, Text: text}
}

// QuickReply is a person tapping a quick reply.
func QuickReply(psid, mid, title, payload string, at time.Time) messenger.Event {
	ev := Text(psid, mid, title, at)
	ev.QuickReplyPayload = payload
	return ev
}

// Postback is a person tapping a button.
func Postback(psid, mid, title, payload string, at time.Time) messenger.Event {
	return messenger.Event{PageID: PageID, Kind: messenger.KindPostback, SenderID: psid, RecipientID: PageID,
		Timestamp: at, MID: mid, PostbackTitle: title, PostbackPayload: payload}
}

// Echo is the echo of a message the Page sent to psid.
func Echo(psid, mid, text, appID, metadata string, at time.Time) messenger.Event {
	return messenger.Event{PageID: PageID, Kind: messenger.KindEcho, SenderID: PageID, RecipientID: psid,
		Timestamp: at, MID: mid, Text: text, AppID: appID, Metadata: metadata}
}

// Handover is a handover event about psid's thread.
func Handover(kind messenger.Kind, psid, newOwner, requestedOwner string, at time.Time) messenger.Event {
	return messenger.Event{PageID: PageID, Kind: kind, SenderID: psid, RecipientID: PageID, Timestamp: at,
		NewOwnerAppID: newOwner, RequestedOwnerAppID: requestedOwner}
}

// Rejoin checks that parts are text cut at whitespace-only gaps: it returns
// "" when joining them with the whitespace dropped between them gives the
// trimmed text back, else what went wrong.
func Rejoin(text string, parts []string) string {
	rest := strings.TrimSpace(text)
	for i, p := range parts {
		if !strings.HasPrefix(rest, p) {
			return fmt.Sprintf("part %d does not continue the text", i)
		}
		rest = rest[len(p):]
		trimmed := strings.TrimLeftFunc(rest, unicode.IsSpace)
		if i == len(parts)-1 && trimmed != "" {
			return fmt.Sprintf("%d bytes lost after the last part", len(rest))
		}
		rest = trimmed
	}
	if rest != "" {
		return "text left over"
	}
	return ""
}
