package conversation_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/heartbeat"
	"github.com/seachat/seachat/internal/messenger"
	mt "github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/viewer"
)

// receive records a person's text message sent at at.
func receive(t *testing.T, f *ct.Fixture, psid, mid, text string, at time.Time) conversation.Inbound {
	t.Helper()
	in, err := f.Service.RecordInbound(context.Background(), f.Channel, ct.Text(psid, mid, text, at))
	require.NoError(t, err)
	return in
}

func reload(t *testing.T, f *ct.Fixture, id int) *ent.Conversation {
	t.Helper()
	c, err := f.Client.Conversation.Get(ct.Sys(), id)
	require.NoError(t, err)
	return c
}

func setStatus(t *testing.T, f *ct.Fixture, id int, s entconv.Status) {
	t.Helper()
	require.NoError(t, f.Client.Conversation.UpdateOneID(id).SetStatus(s).Exec(ct.Sys()))
}

func messages(t *testing.T, f *ct.Fixture, convID int) []*ent.Message {
	t.Helper()
	ms, err := f.Client.Message.Query().Where(message.ConversationID(convID)).
		Order(ent.Asc(message.FieldID)).All(ct.Sys())
	require.NoError(t, err)
	return ms
}

func TestRecordInbound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		rec := ct.Record(t, f.Bus)
		f.Graph.SetProfile("7001", messenger.Profile{FirstName: "Ana", LastName: "Silva"})

		sentAt := ct.Start.Add(-2 * time.Hour) // Meta's timestamp; it arrives later
		ev := ct.Text("7001", "m_1", "Do you rent e-bikes?", sentAt)
		ev.Attachments = []messenger.Attachment{{Type: "image", URL: "https://cdn.example/1.jpg"}}
		in, err := f.Service.RecordInbound(context.Background(), f.Channel, ev)
		require.NoError(t, err)
		require.False(t, in.Duplicate)
		require.Equal(t, "Ana Silva", *in.Contact.Name)
		require.Equal(t, "7001", in.Contact.Psid)
		require.Equal(t, f.Agent.ID, in.Agent.ID)
		require.Equal(t, f.Agent.ID, in.Conversation.AgentID)
		require.Equal(t, entconv.StatusBOT, in.Conversation.Status)
		require.True(t, sentAt.Equal(*in.Conversation.LastUserMessageAt), "lastUserMessageAt is the event timestamp")
		require.True(t, sentAt.Equal(in.Conversation.LastMessageAt))
		m := in.Message
		require.Equal(t, message.DirectionINBOUND, m.Direction)
		require.Equal(t, message.AuthorUSER, m.Author)
		require.Equal(t, message.DeliveryStatusRECEIVED, m.DeliveryStatus)
		require.Equal(t, "m_1", *m.Mid)
		require.Equal(t, "Do you rent e-bikes?", m.Text)
		require.Equal(t, "image", m.Attachments[0].Type)
		require.Equal(t, "https://cdn.example/1.jpg", m.Attachments[0].URL)
		require.True(t, sentAt.Equal(*m.EventTime))

		evs := rec.Drain()
		require.Equal(t, []string{"conversation/created", "message/added"}, ct.Kinds(evs))
		for _, e := range evs {
			require.Equal(t, f.Workspace.ID, e.WorkspaceID)
			require.Equal(t, strconv.Itoa(f.Agent.ID), e.Extra[conversation.ExtraAgent])
			require.Equal(t, strconv.Itoa(in.Conversation.ID), e.Extra[conversation.ExtraConversation])
		}
		require.Equal(t, in.Conversation.ID, evs[0].ID)
		require.Equal(t, m.ID, evs[1].ID)

		// Entities outlive the service's transaction.
		n, err := in.Conversation.QueryMessages().Count(ct.Sys())
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// Meta redelivers: nothing changes.
		f.Clock.Advance(time.Minute)
		again, err := f.Service.RecordInbound(context.Background(), f.Channel, ev)
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, m.ID, again.Message.ID)
		require.Equal(t, in.Conversation.ID, again.Conversation.ID)
		require.Empty(t, rec.Drain())
		require.Len(t, messages(t, f, in.Conversation.ID), 1)
		require.True(t, in.Conversation.UpdatedAt.Equal(reload(t, f, in.Conversation.ID).UpdatedAt))

		// An older message arriving late does not move the window back.
		late := receive(t, f, "7001", "m_0", "hello", sentAt.Add(-time.Minute))
		require.False(t, late.Duplicate)
		require.True(t, sentAt.Equal(*late.Conversation.LastUserMessageAt))
		require.Equal(t, 1, f.Graph.ProfileCalls(), "the profile is fetched only for new contacts")
		require.Equal(t, []string{"message/added"}, ct.Kinds(rec.Drain()))

		// A person without a profile is stored without a name.
		anon := receive(t, f, "7002", "m_2", "hi", ct.Start)
		require.Nil(t, anon.Contact.Name)
		require.NotEqual(t, in.Conversation.ID, anon.Conversation.ID)

		// A postback is stored with its title as text.
		pb, err := f.Service.RecordInbound(context.Background(), f.Channel,
			ct.Postback("7002", "m_pb", "Get Started", "GET_STARTED", ct.Start))
		require.NoError(t, err)
		require.Equal(t, "Get Started", pb.Message.Text)

		// Unusable events are refused, not stored.
		_, err = f.Service.RecordInbound(context.Background(), f.Channel, ct.Text("", "m_x", "x", ct.Start))
		require.ErrorIs(t, err, apperr.InvalidArgument)
		_, err = f.Service.RecordInbound(context.Background(), f.Channel,
			messenger.Event{Kind: messenger.KindRead, SenderID: "7001", PageID: ct.PageID})
		require.ErrorIs(t, err, apperr.InvalidArgument)

		// Text PostgreSQL would reject is cleaned.
		nul := receive(t, f, "7001", "m_nul", "a\x00b", ct.Start)
		require.Equal(t, "ab", nul.Message.Text)
	})
}

func TestRecordInboundConcurrentRedelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		const n = 8
		var wg sync.WaitGroup
		results := make([]conversation.Inbound, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				// Half the same mid, half distinct mids of the same new person.
				mid := "m_same"
				if i%2 == 1 {
					mid = fmt.Sprintf("m_%d", i)
				}
				results[i], errs[i] = f.Service.RecordInbound(context.Background(), f.Channel,
					ct.Text("8001", mid, "hello", ct.Start))
			})
		}
		close(start)
		wg.Wait()
		fresh := 0
		convs := map[int]bool{}
		for i := range n {
			require.NoError(t, errs[i])
			convs[results[i].Conversation.ID] = true
			if i%2 == 0 && !results[i].Duplicate {
				fresh++
			}
		}
		require.Equal(t, 1, fresh, "exactly one copy of the same mid is new")
		require.Len(t, convs, 1, "one conversation per person")
		contacts, err := f.Client.Contact.Query().Count(ct.Sys())
		require.NoError(t, err)
		require.Equal(t, 1, contacts)
		for id := range convs {
			require.Len(t, messages(t, f, id), 1+n/2)
		}
	})
}

func TestTransitions(t *testing.T) {
	type action func(ctx context.Context, s *conversation.Service, id int) error
	accept := func(ctx context.Context, s *conversation.Service, id int) error {
		_, err := s.Accept(ctx, id)
		return err
	}
	back := func(ctx context.Context, s *conversation.Service, id int) error {
		_, err := s.ReturnToBot(ctx, id)
		return err
	}
	closeIt := func(ctx context.Context, s *conversation.Service, id int) error {
		_, err := s.Close(ctx, id)
		return err
	}
	handoff := func(ctx context.Context, s *conversation.Service, id int) error {
		_, err := s.RequestHandoff(ctx, id)
		return err
	}
	const (
		bot     = entconv.StatusBOT
		req     = entconv.StatusHANDOFF_REQUESTED
		human   = entconv.StatusHUMAN
		closed  = entconv.StatusCLOSED
		updated = "conversation/" + conversation.KindUpdated
	)
	type row struct {
		name     string
		from     entconv.Status
		do       action
		want     entconv.Status
		event    string
		conflict string // the start of the Conflict message
	}
	rows := []row{
		{"accept BOT", bot, accept, human, updated, ""},
		{"accept HANDOFF_REQUESTED", req, accept, human, updated, ""},
		{"accept HUMAN", human, accept, human, "", "conversation is HUMAN; bob already took it over"},
		{"accept CLOSED", closed, accept, closed, "", "conversation is CLOSED;"},
		{"return HUMAN", human, back, bot, updated, ""},
		{"return HANDOFF_REQUESTED", req, back, bot, updated, ""},
		{"return BOT", bot, back, bot, "", "conversation is BOT;"},
		{"return CLOSED", closed, back, closed, "", "conversation is CLOSED;"},
		{"close BOT", bot, closeIt, closed, updated, ""},
		{"close HANDOFF_REQUESTED", req, closeIt, closed, updated, ""},
		{"close HUMAN", human, closeIt, closed, updated, ""},
		{"close CLOSED", closed, closeIt, closed, "", "conversation is CLOSED; it is already closed"},
		{"handoff BOT", bot, handoff, req, "conversation/" + conversation.KindHandoffRequested, ""},
		{"handoff HANDOFF_REQUESTED", req, handoff, req, "", ""},
		{"handoff HUMAN", human, handoff, human, "", ""},
		{"handoff CLOSED", closed, handoff, closed, "", "conversation is CLOSED;"},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		for i, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				in := receive(t, f, fmt.Sprint(9000+i), fmt.Sprint("m_", i), "hi", ct.Start)
				id := in.Conversation.ID
				setStatus(t, f, id, tt.from)
				if tt.from == human {
					require.NoError(t, f.Client.Conversation.UpdateOneID(id).SetAssignedTo("bob").Exec(ct.Sys()))
				}
				rec := ct.Record(t, f.Bus)
				err := tt.do(f.Staff("alice"), f.Service, id)
				if tt.conflict != "" {
					require.ErrorIs(t, err, apperr.Conflict)
					require.True(t, strings.HasPrefix(apperr.Message(err), tt.conflict), apperr.Message(err))
				} else {
					require.NoError(t, err)
				}
				c := reload(t, f, id)
				require.Equal(t, tt.want, c.Status)
				switch {
				case tt.want == human && tt.from != human:
					require.Equal(t, "alice", *c.AssignedTo)
				case tt.want == bot:
					require.Nil(t, c.AssignedTo)
				case tt.want == req && tt.from == bot:
					require.True(t, ct.Start.Equal(*c.HandoffRequestedAt))
				}
				evs := rec.Drain()
				if tt.event == "" {
					require.Empty(t, evs)
				} else {
					require.Equal(t, []string{tt.event}, ct.Kinds(evs))
					require.Equal(t, id, evs[0].ID)
				}
			})
		}
	})
}

func TestTransitionNotFound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "hi", ct.Start)
		_, err := f.Service.Accept(f.Staff("alice"), in.Conversation.ID+1000)
		require.ErrorIs(t, err, apperr.NotFound)

		// Another workspace's staff cannot see it.
		other, err := f.Client.Workspace.Create().SetName("Other").Save(ct.Sys())
		require.NoError(t, err)
		octx := viewer.NewContext(context.Background(), viewer.Viewer{WorkspaceID: other.ID, TokenName: "eve", Role: viewer.RoleOwner})
		for _, do := range []func() error{
			func() error { _, err := f.Service.Accept(octx, in.Conversation.ID); return err },
			func() error { _, err := f.Service.Close(octx, in.Conversation.ID); return err },
			func() error { _, err := f.Service.Tag(octx, in.Conversation.ID, []string{"x"}); return err },
			func() error { _, err := f.Service.SendAgentMessage(octx, in.Conversation.ID, "hi"); return err },
		} {
			require.ErrorIs(t, do(), apperr.NotFound)
		}
		require.Equal(t, entconv.StatusBOT, reload(t, f, in.Conversation.ID).Status)
		require.Empty(t, f.Graph.Sent())
	})
}

func TestConcurrentAccept(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "/agent", ct.Start)
		changed, err := f.Service.RequestHandoff(ct.Sys(), in.Conversation.ID)
		require.NoError(t, err)
		require.True(t, changed)
		rec := ct.Record(t, f.Bus)

		const n = 10
		ctxs := make([]context.Context, n)
		for i := range n {
			ctxs[i] = f.Staff(fmt.Sprintf("staff-%d", i))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = f.Service.Accept(ctxs[i], in.Conversation.ID)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "two staff members won")
				winner = i
				continue
			}
			require.ErrorIs(t, err, apperr.Conflict)
			require.Contains(t, apperr.Message(err), "conversation is HUMAN;")
		}
		require.NotEqual(t, -1, winner, "nobody won")
		c := reload(t, f, in.Conversation.ID)
		require.Equal(t, entconv.StatusHUMAN, c.Status)
		require.Equal(t, fmt.Sprintf("staff-%d", winner), *c.AssignedTo)
		require.Equal(t, []string{"conversation/updated"}, ct.Kinds(rec.Drain()))
	})
}

func TestReopenAndTag(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		staff := f.Staff("alice")
		in := receive(t, f, "9001", "m_1", "hi", ct.Start)
		_, err := f.Service.Accept(staff, in.Conversation.ID)
		require.NoError(t, err)
		_, err = f.Service.Close(staff, in.Conversation.ID)
		require.NoError(t, err)

		rec := ct.Record(t, f.Bus)
		again := receive(t, f, "9001", "m_2", "me again", ct.Start.Add(time.Hour))
		require.Equal(t, in.Conversation.ID, again.Conversation.ID)
		require.Equal(t, entconv.StatusBOT, again.Conversation.Status)
		require.Nil(t, again.Conversation.AssignedTo)
		require.Equal(t, []string{"conversation/updated", "message/added"}, ct.Kinds(rec.Drain()))

		c, err := f.Service.Tag(staff, in.Conversation.ID, []string{" vip ", "vip", "", "refund"})
		require.NoError(t, err)
		require.Equal(t, []string{"vip", "refund"}, c.Tags)
		require.Equal(t, []string{"conversation/updated"}, ct.Kinds(rec.Drain()))
		_, err = f.Service.Tag(staff, in.Conversation.ID, []string{strings.Repeat("x", 51)})
		require.ErrorIs(t, err, apperr.InvalidArgument)
		require.Equal(t, []string{"vip", "refund"}, reload(t, f, in.Conversation.ID).Tags)
		c, err = f.Service.Tag(staff, in.Conversation.ID, nil)
		require.NoError(t, err)
		require.Empty(t, c.Tags)
	})
}

func TestSendAgentMessageWindow(t *testing.T) {
	day, week := 24*time.Hour, 7*24*time.Hour
	type row struct {
		name    string
		age     time.Duration // since the event's timestamp
		late    time.Duration // how long after its timestamp the event arrived
		wantTyp string
		wantTag string
	}
	rows := []row{
		{name: "fresh", age: time.Hour, wantTyp: "RESPONSE"},
		{name: "24h less 1ms", age: day - time.Millisecond, wantTyp: "RESPONSE"},
		{name: "24h", age: day, wantTyp: "MESSAGE_TAG", wantTag: "HUMAN_AGENT"},
		{name: "6 days", age: 6 * day, wantTyp: "MESSAGE_TAG", wantTag: "HUMAN_AGENT"},
		{name: "7d less 1ms", age: week - time.Millisecond, wantTyp: "MESSAGE_TAG", wantTag: "HUMAN_AGENT"},
		{name: "7d", age: week},
		{name: "a month", age: 30 * day},
		// Sent 23 h before it arrived: 2 h after arrival the window is 25 h old.
		{name: "event time, not receive time", age: 25 * time.Hour, late: 23 * time.Hour,
			wantTyp: "MESSAGE_TAG", wantTag: "HUMAN_AGENT"},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		for i, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				psid := fmt.Sprint(9000 + i)
				before := len(f.Graph.Sent())
				sentAt := ct.Start.Add(time.Duration(i) * time.Hour)
				f.Clock.Set(sentAt.Add(tt.late))
				in := receive(t, f, psid, "m_"+psid, "hello?", sentAt)
				f.Clock.Set(sentAt.Add(tt.age))
				rec := ct.Record(t, f.Bus)

				m, err := f.Service.SendAgentMessage(f.Staff("alice"), in.Conversation.ID, "  Hi, Alice here.  ")
				if tt.wantTyp == "" {
					require.ErrorIs(t, err, apperr.OutsideWindow)
					require.Contains(t, apperr.Message(err), "7 days")
					require.Len(t, f.Graph.Sent(), before, "nothing sent")
					require.Len(t, messages(t, f, in.Conversation.ID), 1, "nothing stored")
					require.Equal(t, entconv.StatusBOT, reload(t, f, in.Conversation.ID).Status, "no takeover")
					require.Empty(t, rec.Drain())
					return
				}
				require.NoError(t, err)
				sent := f.Graph.Sent()[before:]
				require.Len(t, sent, 1)
				require.Equal(t, tt.wantTyp, sent[0].MessagingType)
				require.Equal(t, tt.wantTag, sent[0].Tag)
				require.Equal(t, psid, sent[0].PSID)
				require.Equal(t, "Hi, Alice here.", sent[0].Text)
				require.Equal(t, fmt.Sprintf("seachat:%d", m.ID), sent[0].Metadata)

				require.Equal(t, message.AuthorAGENT, m.Author)
				require.Equal(t, message.DirectionOUTBOUND, m.Direction)
				require.Equal(t, "alice", *m.SentBy)
				require.Equal(t, message.DeliveryStatusSENT, m.DeliveryStatus)
				require.Equal(t, sent[0].MID, *m.Mid)
				require.Equal(t, 1, m.Attempts)
				// The agent took the BOT conversation over first.
				c := reload(t, f, in.Conversation.ID)
				require.Equal(t, entconv.StatusHUMAN, c.Status)
				require.Equal(t, "alice", *c.AssignedTo)
				require.True(t, f.Clock.Now().Equal(c.LastMessageAt))
				require.True(t, sentAt.Equal(*c.LastUserMessageAt))
				require.Equal(t, []string{"conversation/updated", "message/added"}, ct.Kinds(rec.Drain()))
				// The message's edges load after the service's transaction.
				owner, err := m.QueryConversation().Only(ct.Sys())
				require.NoError(t, err)
				require.Equal(t, c.ID, owner.ID)
			})
		}
	})
}

func TestSendAgentMessageRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		staff := f.Staff("alice")
		in := receive(t, f, "9001", "m_1", "hello?", ct.Start)
		for _, text := range []string{"", "   \n\t", "\x00"} {
			_, err := f.Service.SendAgentMessage(staff, in.Conversation.ID, text)
			require.ErrorIs(t, err, apperr.InvalidArgument)
		}
		_, err := f.Service.Close(staff, in.Conversation.ID)
		require.NoError(t, err)
		_, err = f.Service.SendAgentMessage(staff, in.Conversation.ID, "hello")
		require.ErrorIs(t, err, apperr.Conflict)
		require.Contains(t, apperr.Message(err), "conversation is CLOSED;")
		require.Empty(t, f.Graph.Sent())
		require.Len(t, messages(t, f, in.Conversation.ID), 1)
	})
}

func TestSendFailuresAndRetries(t *testing.T) {
	type row struct {
		name       string
		failures   []mt.Failure
		want       message.DeliveryStatus
		reason     string
		attempts   int
		sleeps     int
		calls      int
		acceptedBy int // accepted sends
	}
	rows := []row{
		{name: "outside window", failures: []mt.Failure{mt.FailOutsideWindow},
			want: message.DeliveryStatusFAILED, reason: "messaging window has closed", attempts: 1, calls: 1},
		{name: "person unavailable", failures: []mt.Failure{mt.FailUnavailable},
			want: message.DeliveryStatusFAILED, reason: "can't receive messages", attempts: 1, calls: 1},
		{name: "permanent", failures: []mt.Failure{mt.FailInvalidParam},
			want: message.DeliveryStatusFAILED, reason: "Meta rejected the request (code 100)", attempts: 1, calls: 1},
		{name: "transient then sent", failures: []mt.Failure{mt.FailTemporary, mt.FailTemporary},
			want: message.DeliveryStatusSENT, attempts: 3, sleeps: 2, calls: 3, acceptedBy: 1},
		{name: "transient until giving up", failures: []mt.Failure{mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary},
			want: message.DeliveryStatusFAILED, reason: "gave up after 4 attempts", attempts: 4, sleeps: 3, calls: 4},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		for i, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				calls, accepted, slept := f.Graph.Calls(), len(f.Graph.Sent()), len(f.Sleeps())
				psid := fmt.Sprint(9000 + i)
				in := receive(t, f, psid, "m_"+psid, "hello?", ct.Start)
				f.Graph.FailNext(tt.failures[:min(len(tt.failures), 4)]...)
				rec := ct.Record(t, f.Bus)
				m, err := f.Service.SendAgentMessage(f.Staff("alice"), in.Conversation.ID, "Let me check.")
				require.NoError(t, err, "Meta refusing is a FAILED message, not an error")
				require.Equal(t, tt.want, m.DeliveryStatus)
				require.Equal(t, tt.attempts, m.Attempts)
				if tt.reason != "" {
					require.NotNil(t, m.Error)
					require.Contains(t, *m.Error, tt.reason)
					require.Nil(t, m.Mid)
				} else {
					require.Nil(t, m.Error)
				}
				require.Equal(t, tt.calls, f.Graph.Calls()-calls)
				require.Len(t, f.Graph.Sent(), accepted+tt.acceptedBy)
				sleeps := f.Sleeps()[slept:]
				require.Len(t, sleeps, tt.sleeps)
				for i, d := range sleeps {
					base := conversation.DefaultRetry.Base << i
					require.GreaterOrEqual(t, d, base/2, "backoff %d", i)
					require.LessOrEqual(t, d, base, "backoff %d", i)
				}
				require.Len(t, messages(t, f, in.Conversation.ID), 2, "one message however many attempts")
				require.Equal(t, entconv.StatusHUMAN, reload(t, f, in.Conversation.ID).Status)
				require.Equal(t, []string{"conversation/updated", "message/added"}, ct.Kinds(rec.Drain()))
			})
		}
	})
}

func TestLongAgentMessage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "tell me everything", ct.Start)
		text := strings.Repeat("Rentals include a helmet, a lock and a map of the harbour trails. ", 70)
		rec := ct.Record(t, f.Bus)
		alice := f.Staff("alice")
		m, err := f.Service.SendAgentMessage(alice, in.Conversation.ID, text)
		require.NoError(t, err)
		sent := f.Graph.Sent()
		require.Len(t, sent, 3)
		var parts []string
		for _, s := range sent {
			require.LessOrEqual(t, len([]rune(s.Text)), conversation.MaxTextLength)
			parts = append(parts, s.Text)
		}
		require.Empty(t, ct.Rejoin(text, parts))
		ms := messages(t, f, in.Conversation.ID)
		require.Len(t, ms, 4)
		for i, p := range ms[1:] {
			require.Equal(t, parts[i], p.Text)
			require.Equal(t, message.DeliveryStatusSENT, p.DeliveryStatus)
			require.Equal(t, sent[i].MID, *p.Mid)
		}
		require.Equal(t, ms[3].ID, m.ID, "the last part is returned")
		require.Equal(t, []string{"conversation/updated", "message/added", "message/added", "message/added"},
			ct.Kinds(rec.Drain()))

		// A part that fails stops the rest.
		f.Graph.FailNext(mt.FailUnavailable)
		m, err = f.Service.SendAgentMessage(alice, in.Conversation.ID, text)
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusFAILED, m.DeliveryStatus)
		ms = messages(t, f, in.Conversation.ID)
		require.Len(t, ms, 7)
		require.Equal(t, m.ID, ms[4].ID, "the failed part is returned")
		for _, p := range ms[5:] {
			require.Equal(t, message.DeliveryStatusFAILED, p.DeliveryStatus)
			require.Contains(t, *p.Error, "an earlier part")
			require.Zero(t, p.Attempts)
		}
		require.Len(t, f.Graph.Sent(), 3)
	})
}

func TestEchoes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ctx := context.Background()
		staff := f.Staff("alice")
		in := receive(t, f, "9001", "m_1", "hello?", ct.Start)
		convID := in.Conversation.ID

		// The echo of a message SeaChat sent: recognised by its metadata.
		m, err := f.Service.SendAgentMessage(staff, convID, "Hi!")
		require.NoError(t, err)
		_, err = f.Service.ReturnToBot(staff, convID)
		require.NoError(t, err)
		rec := ct.Record(t, f.Bus)
		sent := f.Graph.Sent()[0]
		require.NoError(t, f.Service.RecordEcho(ctx, f.Channel, ct.Echo("9001", sent.MID, "Hi!", "1517776481860111", sent.Metadata, ct.Start)))
		// … or by its mid when Meta drops the metadata.
		require.NoError(t, f.Service.RecordEcho(ctx, f.Channel, ct.Echo("9001", sent.MID, "Hi!", "1517776481860111", "", ct.Start)))
		require.Len(t, messages(t, f, convID), 2)
		require.Equal(t, entconv.StatusBOT, reload(t, f, convID).Status, "our own echo does not pause the bot")
		require.Empty(t, rec.Drain())
		require.Equal(t, m.ID, messages(t, f, convID)[1].ID)

		// A human replying from the Page Inbox takes the conversation over.
		inboxAt := ct.Start.Add(time.Minute)
		f.Clock.Set(inboxAt) // a timestamp later than the clock would count as now
		echo := ct.Echo("9001", "m_inbox_1", "Hello from the shop", conversation.PageInboxAppID, "", inboxAt)
		require.NoError(t, f.Service.RecordEcho(ctx, f.Channel, echo))
		ms := messages(t, f, convID)
		require.Len(t, ms, 3)
		got := ms[2]
		require.Equal(t, message.AuthorAGENT, got.Author)
		require.Equal(t, message.DirectionOUTBOUND, got.Direction)
		require.Equal(t, conversation.PageInboxSender, *got.SentBy)
		require.Equal(t, message.DeliveryStatusSENT, got.DeliveryStatus)
		require.Equal(t, "m_inbox_1", *got.Mid)
		require.Equal(t, "Hello from the shop", got.Text)
		c := reload(t, f, convID)
		require.Equal(t, entconv.StatusHUMAN, c.Status)
		require.Equal(t, conversation.PageInboxSender, *c.AssignedTo)
		require.True(t, inboxAt.Equal(c.LastMessageAt))
		require.Equal(t, []string{"conversation/updated", "message/added"}, ct.Kinds(rec.Drain()))

		// Redelivered: stored once.
		require.NoError(t, f.Service.RecordEcho(ctx, f.Channel, echo))
		require.Len(t, messages(t, f, convID), 3)
		require.Empty(t, rec.Drain())

		// With pauseBotOnEcho off the echo is stored but the bot keeps the
		// conversation.
		f.SetAgent(func(u *ent.AgentUpdateOne) { u.SetPauseBotOnEcho(false) })
		_, err = f.Service.ReturnToBot(staff, convID)
		require.NoError(t, err)
		require.NoError(t, f.Service.RecordEcho(ctx, f.Channel,
			ct.Echo("9001", "m_inbox_2", "One more thing", conversation.PageInboxAppID, "", inboxAt)))
		require.Len(t, messages(t, f, convID), 4)
		require.Equal(t, entconv.StatusBOT, reload(t, f, convID).Status)
	})
}

func TestEchoRacesSendResponse(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "hello?", ct.Start)
		// Meta's echo arrives before the Send API call has returned.
		f.Graph.OnSend(func(s mt.Sent) {
			err := f.Service.RecordEcho(context.Background(), f.Channel,
				ct.Echo("9001", s.MID, s.Text, "1517776481860111", s.Metadata, ct.Start))
			require.NoError(t, err)
		})
		m, err := f.Service.SendAgentMessage(f.Staff("alice"), in.Conversation.ID, "Hi!")
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusSENT, m.DeliveryStatus)
		require.Equal(t, f.Graph.Sent()[0].MID, *m.Mid)
		require.Len(t, messages(t, f, in.Conversation.ID), 2, "the echo was not stored as someone else's message")
		c := reload(t, f, in.Conversation.ID)
		require.Equal(t, "alice", *c.AssignedTo)
	})
}

func TestHandovers(t *testing.T) {
	const ourApp = "1517776481860111"
	type row struct {
		name string
		ev   messenger.Event
		want entconv.Status
	}
	rows := []row{
		{"take_thread_control", ct.Handover(messenger.KindTakeThreadControl, "9001", conversation.PageInboxAppID, "", ct.Start), entconv.StatusHUMAN},
		{"passed to the Page Inbox", ct.Handover(messenger.KindPassThreadControl, "9001", conversation.PageInboxAppID, "", ct.Start), entconv.StatusHUMAN},
		{"passed to us", ct.Handover(messenger.KindPassThreadControl, "9001", ourApp, "", ct.Start), entconv.StatusBOT},
		{"requested by the Page Inbox", ct.Handover(messenger.KindRequestThreadControl, "9001", "", conversation.PageInboxAppID, ct.Start), entconv.StatusHUMAN},
		{"requested by another app", ct.Handover(messenger.KindRequestThreadControl, "9001", "", "42", ct.Start), entconv.StatusBOT},
	}
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		// pauseBotOnEcho concerns echoes; a handover is explicit.
		f.SetAgent(func(u *ent.AgentUpdateOne) { u.SetPauseBotOnEcho(false) })
		for i, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				psid := fmt.Sprint(9000 + i)
				in := receive(t, f, psid, "m_"+psid, "hello?", ct.Start)
				ev := tt.ev
				ev.SenderID = psid
				require.NoError(t, f.Service.RecordEcho(context.Background(), f.Channel, ev))
				require.Equal(t, tt.want, reload(t, f, in.Conversation.ID).Status)
				// A handover about a stranger starts nothing.
				ev.SenderID = "5555"
				require.NoError(t, f.Service.RecordEcho(context.Background(), f.Channel, ev))
				n, err := f.Client.Conversation.Query().Count(ct.Sys())
				require.NoError(t, err)
				require.Equal(t, i+1, n)
			})
		}
	})
}

func TestPublishAfterCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		in := receive(t, f, "9001", "m_1", "hello?", ct.Start)
		convID := in.Conversation.ID
		rec := ct.Record(t, f.Bus)
		staff := f.Staff("alice")

		// A mutation's transaction, as entgql.Transactioner opens it.
		txCtx, tx, err := f.Client.OpenTx(staff)
		require.NoError(t, err)
		m, err := f.Service.SendAgentMessage(txCtx, convID, "Hi from a mutation")
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusSENT, m.DeliveryStatus)
		require.Empty(t, rec.Drain(), "nothing is published before the commit")
		require.NoError(t, tx.Commit())
		require.Equal(t, []string{"conversation/updated", "message/added"}, ct.Kinds(rec.Drain()))
		require.Equal(t, entconv.StatusHUMAN, reload(t, f, convID).Status)

		// Rolled back: nothing published, nothing changed.
		txCtx, tx, err = f.Client.OpenTx(staff)
		require.NoError(t, err)
		c, err := f.Service.ReturnToBot(txCtx, convID)
		require.NoError(t, err)
		require.Equal(t, entconv.StatusBOT, c.Status)
		require.NoError(t, tx.Rollback())
		require.Empty(t, rec.Drain())
		require.Equal(t, entconv.StatusHUMAN, reload(t, f, convID).Status)

		// A failing mutation rolls back what the service did in it.
		txCtx, tx, err = f.Client.OpenTx(staff)
		require.NoError(t, err)
		_, err = f.Service.Close(txCtx, convID)
		require.NoError(t, err)
		_, err = f.Service.Close(txCtx, convID)
		require.ErrorIs(t, err, apperr.Conflict)
		require.NoError(t, tx.Rollback())
		require.Empty(t, rec.Drain())
	})
}

func TestReplyTo(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ctx := context.Background()
		in := receive(t, f, "9001", "m_1", "Tell me everything", ct.Start)
		rec := ct.Record(t, f.Bus)
		yes := true
		long := strings.Repeat("Helmets, locks and maps are included with every rental. ", 80)
		reply := conversation.Reply{
			Text: long, Answered: &yes, OfferHandoff: true,
			Citations: []schematype.Citation{{SourceID: 1, Snippet: "helmets", Score: 0.5}},
		}
		rs, err := f.Service.ReplyTo(ctx, in.Message, reply)
		require.NoError(t, err)
		require.Len(t, rs, 3)
		for _, r := range rs {
			require.Equal(t, message.DeliveryStatusPENDING, r.DeliveryStatus, "stored, for the outbox to send")
		}
		require.Empty(t, f.Graph.Sent())
		n, err := f.Service.SendDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		sent := f.Graph.Sent()
		require.Len(t, sent, 3)
		for i, r := range rs {
			r, err := f.Client.Message.Get(ct.Sys(), r.ID)
			require.NoError(t, err)
			last := i == len(rs)-1
			require.Equal(t, message.AuthorBOT, r.Author)
			require.Equal(t, message.DeliveryStatusSENT, r.DeliveryStatus)
			require.Equal(t, in.Message.ID, *r.InReplyToID)
			require.True(t, *r.Answered)
			require.Equal(t, last, r.OfferHandoff)
			require.Equal(t, last, len(r.Citations) == 1)
			require.Equal(t, last, len(sent[i].QuickReplies) == 1, "quick replies go on the last part")
			require.Equal(t, "RESPONSE", sent[i].MessagingType)
		}
		require.Equal(t, []messenger.QuickReply{{Title: conversation.HandoffTitle, Payload: conversation.HandoffPayload}}, sent[2].QuickReplies)
		require.Len(t, rec.Drain(), 3)

		// Once only.
		again, err := f.Service.ReplyTo(ctx, in.Message, conversation.Reply{Text: "something else"})
		require.NoError(t, err)
		require.Empty(t, again)
		n, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Len(t, f.Graph.Sent(), 3)
		require.Empty(t, rec.Drain())

		// Bad calls.
		_, err = f.Service.ReplyTo(ctx, rs[0], conversation.Reply{Text: "x"})
		require.ErrorIs(t, err, apperr.InvalidArgument)
		in2 := receive(t, f, "9001", "m_2", "and?", ct.Start)
		_, err = f.Service.ReplyTo(ctx, in2.Message, conversation.Reply{Text: " "})
		require.ErrorIs(t, err, apperr.InvalidArgument)
		_, err = f.Service.ReplyTo(ctx, in2.Message, conversation.Reply{Text: "x", Author: message.AuthorAGENT})
		require.ErrorIs(t, err, apperr.InvalidArgument)

		// A reply decided while BOT but interrupted is not sent after a human
		// took over; the handoff notice is.
		rs, err = f.Service.ReplyTo(ctx, in2.Message, conversation.Reply{Text: "The bot's answer"})
		require.NoError(t, err)
		cctx, cancel := context.WithCancel(ctx)
		f.Sender.CrashNextSend(cancel)
		_, err = f.Service.SendDue(cctx)
		require.ErrorIs(t, err, context.Canceled)
		_, err = f.Service.Accept(f.Staff("alice"), in2.Conversation.ID)
		require.NoError(t, err)
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		m2, err := f.Client.Message.Get(ct.Sys(), rs[0].ID)
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusFAILED, m2.DeliveryStatus)
		require.Contains(t, *m2.Error, "a human took the conversation over")
		require.Len(t, f.Graph.Sent(), 3)

		// Not BOT: claimed, nothing stored or sent.
		in3 := receive(t, f, "9001", "m_3", "hello?", ct.Start)
		rs, err = f.Service.ReplyTo(ctx, in3.Message, conversation.Reply{Text: "x"})
		require.NoError(t, err)
		require.Empty(t, rs)
		m, err := f.Client.Message.Get(ct.Sys(), in3.Message.ID)
		require.NoError(t, err)
		require.NotNil(t, m.BotHandledAt)

		// A handoff request when a human already has it sends nothing.
		in4 := receive(t, f, "9001", "m_4", "/agent", ct.Start)
		rs, err = f.Service.ReplyTo(ctx, in4.Message, conversation.Reply{
			Author: message.AuthorSYSTEM, Text: "Someone will answer", RequestHandoff: true,
		})
		require.NoError(t, err)
		require.Empty(t, rs)
		require.Equal(t, entconv.StatusHUMAN, reload(t, f, in4.Conversation.ID).Status)
		require.Len(t, f.Graph.Sent(), 3)
	})
}

// TestOutboxDeadClaim: a reply claimed by a live process is left to it; one
// claimed by a dead process is taken over, after EchoGrace when its sender
// may have reached Meta: an echo in the meantime settles it SENT, and it is
// not sent again.
func TestOutboxDeadClaim(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ctx := context.Background()
		hb := heartbeat.Options{Now: f.Clock.Now}
		self, err := heartbeat.Start(ctx, f.Client, hb)
		require.NoError(t, err)
		other, err := heartbeat.Start(ctx, f.Client, hb)
		require.NoError(t, err)
		svc := conversation.New(conversation.Deps{Client: f.Client, Bus: f.Bus, Sender: f.Sender, Now: f.Clock.Now,
			Retry: conversation.RetryPolicy{Sleep: func(context.Context, time.Duration) error { return nil }}, Claims: self})

		// Two replies the other process claimed, one of them sent (its
		// echo comes late).
		reply := func(psid, mid string) *ent.Message {
			in := receive(t, f, psid, mid, "Hi", f.Clock.Now())
			rs, err := svc.ReplyTo(ctx, in.Message, conversation.Reply{Text: "Hello " + psid})
			require.NoError(t, err)
			require.NoError(t, f.Client.Message.UpdateOne(rs[0]).SetClaimedBy(other.ID()).SetAttempts(1).Exec(ct.Sys()))
			return rs[0]
		}
		echoed, lost := reply("9001", "m_1"), reply("9002", "m_2")
		get := func(m *ent.Message) *ent.Message {
			m, err := f.Client.Message.Get(ct.Sys(), m.ID)
			require.NoError(t, err)
			return m
		}

		n, err := svc.SendDue(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "the other process is alive: its claims hold")

		f.Clock.Advance(heartbeat.DefaultStale + time.Second) // it stopped beating; self has no Run either, but is self
		n, err = svc.SendDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Empty(t, f.Graph.Sent(), "taken over, but waiting for an echo first")
		for _, m := range []*ent.Message{echoed, lost} {
			m = get(m)
			require.Equal(t, message.DeliveryStatusPENDING, m.DeliveryStatus)
			require.Nil(t, m.ClaimedBy)
		}

		// The echo of the one Meta took arrives.
		require.NoError(t, svc.RecordEcho(ctx, f.Channel, ct.Echo("9001", "m_echo", "Hello 9001", "1517776481860111", fmt.Sprintf("seachat:%d", echoed.ID), f.Clock.Now())))
		f.Clock.Advance(conversation.EchoGrace)
		_, err = svc.SendDue(ctx)
		require.NoError(t, err)
		sent := f.Graph.Sent()
		require.Len(t, sent, 1, "only the reply with no echo is sent again")
		require.Equal(t, "Hello 9002", sent[0].Text)
		require.Equal(t, message.DeliveryStatusSENT, get(echoed).DeliveryStatus)
		m := get(lost)
		require.Equal(t, message.DeliveryStatusSENT, m.DeliveryStatus)
		require.Equal(t, 2, m.Attempts)
		require.Nil(t, m.ClaimedBy)
	})
}

// TestOutboxOrderBackoffWindow: while Meta refuses a reply transiently, it
// stays PENDING with a backoff and the conversation's later replies wait
// behind it, while other conversations' replies go out; once Meta is back
// they go out in order. A reply that outlives the 24-hour window is
// settled FAILED with a plain reason, and staff messages are never held
// back.
func TestOutboxOrderBackoffWindow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ctx := context.Background()
		down := []mt.Failure{mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary}
		texts := func() []string {
			var out []string
			for _, s := range f.Graph.Sent() {
				out = append(out, s.Text)
			}
			return out
		}
		reply := func(psid, mid, text string) *ent.Message {
			t.Helper()
			in := receive(t, f, psid, mid, "Hi", f.Clock.Now())
			rs, err := f.Service.ReplyTo(ctx, in.Message, conversation.Reply{Text: text})
			require.NoError(t, err)
			require.Len(t, rs, 1)
			return rs[0]
		}
		get := func(m *ent.Message) *ent.Message {
			m, err := f.Client.Message.Get(ct.Sys(), m.ID)
			require.NoError(t, err)
			return m
		}

		first := reply("9001", "m_1", "First")
		f.Graph.FailNext(down...)
		_, err := f.Service.SendDue(ctx)
		require.NoError(t, err)
		m := get(first)
		require.Equal(t, message.DeliveryStatusPENDING, m.DeliveryStatus)
		require.Nil(t, m.Error)
		require.Nil(t, m.ClaimedBy)
		require.Equal(t, 4, m.Attempts)
		require.True(t, m.SendAfter.After(f.Clock.Now()), "backing off")

		second := reply("9001", "m_2", "Second")
		other := reply("9002", "m_3", "Other")
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"Other"}, texts(), "another conversation is not held back")
		require.Zero(t, get(second).Attempts, "waits behind the first")

		// Staff messages go out at once.
		am, err := f.Service.SendAgentMessage(f.Staff("alice"), get(other).ConversationID, "Alice here")
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusSENT, am.DeliveryStatus)

		f.Clock.Advance(10 * time.Minute)
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"Other", "Alice here", "First", "Second"}, texts(), "in order")

		// Meta stays down until the window closes.
		late := reply("9003", "m_4", "Late")
		later := reply("9003", "m_5", "Later")
		f.Graph.FailNext(down...)
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		f.Clock.Advance(conversation.StandardWindow)
		_, err = f.Service.SendDue(ctx)
		require.NoError(t, err)
		for _, m := range []*ent.Message{late, later} {
			m = get(m)
			require.Equal(t, message.DeliveryStatusFAILED, m.DeliveryStatus)
			require.Contains(t, *m.Error, "24-hour reply window closed")
		}
		require.Len(t, f.Graph.Sent(), 4)
	})
}
