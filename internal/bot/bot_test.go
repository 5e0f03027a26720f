package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/contact"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/bot"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/messenger"
	mt "github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

var citation = schematype.Citation{SourceID: 42, Snippet: "E-bikes: 25 EUR a day", Score: 0.91}

// knowledge is an in-test knowledge base: it knows about rentals.
type knowledge struct {
	mu     sync.Mutex
	calls  []string
	turns  [][]llm.Turn
	answer func(ctx context.Context, question string) (bot.Answer, error)
}

func (k *knowledge) Answer(ctx context.Context, _ int, question string, history []llm.Turn) (bot.Answer, error) {
	k.mu.Lock()
	k.calls = append(k.calls, question)
	k.turns = append(k.turns, history)
	answer := k.answer
	k.mu.Unlock()
	if answer != nil {
		return answer(ctx, question)
	}
	if strings.Contains(strings.ToLower(question), "rent") {
		return bot.Answer{Text: "Yes: e-bikes are 25 EUR a day.", Answered: true, Citations: []schematype.Citation{citation}}, nil
	}
	return bot.Answer{}, nil
}

func (k *knowledge) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}

type env struct {
	*ct.Fixture
	k   *knowledge
	bot *bot.Engine
}

func newEnv(t *testing.T, st *store.Store) *env {
	f := ct.NewFixture(t, st)
	k := &knowledge{}
	return &env{Fixture: f, k: k, bot: bot.New(f.Service, k, f.Sender, nil)}
}

// process hands ev to the bot, as the inbox does, then lets the outbox send
// what is due.
func (e *env) process(t *testing.T, ev messenger.Event) {
	t.Helper()
	require.NoError(t, e.bot.Process(context.Background(), e.Channel, ev))
	e.flush(t)
}

// flush sends the replies that are due, as the outbox does.
func (e *env) flush(t *testing.T) {
	t.Helper()
	_, err := e.Service.SendDue(context.Background())
	require.NoError(t, err)
}

func (e *env) conv(t *testing.T, psid string) *ent.Conversation {
	t.Helper()
	c, err := e.Client.Conversation.Query().Where(entconv.HasContactWith(contact.Psid(psid))).Only(ct.Sys())
	require.NoError(t, err)
	return c
}

func (e *env) messages(t *testing.T) []*ent.Message {
	t.Helper()
	ms, err := e.Client.Message.Query().Order(ent.Asc(message.FieldID)).All(ct.Sys())
	require.NoError(t, err)
	return ms
}

func (e *env) sentTexts() []string {
	var out []string
	for _, s := range e.Graph.Sent() {
		out = append(out, s.Text)
	}
	return out
}

// replies returns the messages that answer inbound.
func (e *env) replies(t *testing.T, inbound *ent.Message) []*ent.Message {
	t.Helper()
	ms, err := e.Client.Message.Query().Where(message.InReplyToID(inbound.ID)).
		Order(ent.Asc(message.FieldID)).All(ct.Sys())
	require.NoError(t, err)
	return ms
}

func (e *env) inbound(t *testing.T, mid string) *ent.Message {
	t.Helper()
	m, err := e.Client.Message.Query().Where(message.Mid(mid)).Only(ct.Sys())
	require.NoError(t, err)
	return m
}

// TestFullPath follows one conversation: the bot answers, the person asks
// for a human, the bot goes silent, staff accept and reply, hand back, and
// the bot answers again.
func TestFullPath(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		rec := ct.Record(t, e.Bus)
		at := ct.Start

		// 1. The bot answers from the knowledge base.
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", at))
		sent := e.Graph.Sent()
		require.Len(t, sent, 1)
		require.Equal(t, "Yes: e-bikes are 25 EUR a day.", sent[0].Text)
		require.Equal(t, "RESPONSE", sent[0].MessagingType)
		require.Empty(t, sent[0].Tag, "the bot never uses HUMAN_AGENT")
		require.Empty(t, sent[0].QuickReplies)
		require.Equal(t, []messenger.Action{messenger.ActionMarkSeen, messenger.ActionTypingOn}, e.Graph.Actions())
		q1 := e.inbound(t, "m1")
		rs := e.replies(t, q1)
		require.Len(t, rs, 1)
		require.Equal(t, message.AuthorBOT, rs[0].Author)
		require.Equal(t, message.DeliveryStatusSENT, rs[0].DeliveryStatus)
		require.Equal(t, sent[0].MID, *rs[0].Mid)
		require.True(t, *rs[0].Answered)
		require.Equal(t, []schematype.Citation{citation}, rs[0].Citations)
		require.NotNil(t, q1.BotHandledAt)
		evs := rec.Drain()
		require.Equal(t, []string{"conversation/created", "message/added", "message/added"}, ct.Kinds(evs))
		require.Equal(t, q1.ID, evs[1].ID)
		require.Equal(t, rs[0].ID, evs[2].ID)

		// 2. The handoff command: HANDOFF_REQUESTED and the handoff message.
		at = at.Add(time.Minute)
		e.process(t, ct.Text("u1", "m2", "/agent", at))
		c := e.conv(t, "u1")
		require.Equal(t, entconv.StatusHANDOFF_REQUESTED, c.Status)
		require.True(t, e.Clock.Now().Equal(*c.HandoffRequestedAt))
		require.Equal(t, []string{"Yes: e-bikes are 25 EUR a day.", e.Agent.HandoffMessage}, e.sentTexts())
		hm := e.replies(t, e.inbound(t, "m2"))
		require.Len(t, hm, 1)
		require.Equal(t, message.AuthorSYSTEM, hm[0].Author)
		require.Equal(t, []string{"conversation/handoff_requested", "message/added", "message/added"}, ct.Kinds(rec.Drain()))

		// 3. Repeating the command does not send it again; the bot is silent
		// but the messages are stored and published.
		for i, text := range []string{" /AGENT ", "Are you there?", "Do you rent boats?"} {
			at = at.Add(time.Minute)
			e.process(t, ct.Text("u1", fmt.Sprintf("m3_%d", i), text, at))
		}
		require.Len(t, e.Graph.Sent(), 2)
		require.Equal(t, []string{"message/added", "message/added", "message/added"}, ct.Kinds(rec.Drain()))
		require.Equal(t, []string{"Do you rent e-bikes?"}, e.k.Calls())
		require.Equal(t, entconv.StatusHANDOFF_REQUESTED, e.conv(t, "u1").Status)

		// 4. Staff accept and reply as RESPONSE.
		staff := e.Staff("alice")
		_, err := e.Service.Accept(staff, c.ID)
		require.NoError(t, err)
		m, err := e.Service.SendAgentMessage(staff, c.ID, "Hi, Alice here. Boats are on the way!")
		require.NoError(t, err)
		require.Equal(t, message.DeliveryStatusSENT, m.DeliveryStatus)
		sent = e.Graph.Sent()
		require.Len(t, sent, 3)
		require.Equal(t, "RESPONSE", sent[2].MessagingType)
		e.process(t, ct.Text("u1", "m4", "thanks!", at.Add(time.Minute)))
		require.Len(t, e.Graph.Sent(), 3, "the bot stays silent while a human has the conversation")

		// 5. Back to the bot: it answers again, with the history.
		_, err = e.Service.ReturnToBot(staff, c.ID)
		require.NoError(t, err)
		e.process(t, ct.Text("u1", "m5", "Can I rent one tomorrow?", at.Add(2*time.Minute)))
		require.Len(t, e.Graph.Sent(), 4)
		require.Equal(t, "Yes: e-bikes are 25 EUR a day.", e.Graph.Sent()[3].Text)
		require.Len(t, e.k.Calls(), 2)
		history := e.k.turns[1]
		require.NotEmpty(t, history)
		roles := map[string]bool{}
		for _, h := range history {
			roles[h.Role] = true
		}
		require.True(t, roles["user"] && roles["assistant"] && roles["agent"], "history: %v", history)
		require.Equal(t, "thanks!", history[len(history)-1].Text)
	})
}

func TestHandoffCommandMatching(t *testing.T) {
	for _, tt := range []struct {
		name    string
		command string
		ev      messenger.Event
		want    bool
	}{
		{"exact", "/agent", ct.Text("p", "m", "/agent", ct.Start), true},
		{"upper case", "/agent", ct.Text("p", "m", "/AGENT", ct.Start), true},
		{"surrounding spaces", "/agent", ct.Text("p", "m", "  /Agent \n", ct.Start), true},
		{"inside a sentence", "/agent", ct.Text("p", "m", "please /agent", ct.Start), false},
		{"followed by words", "/agent", ct.Text("p", "m", "/agent now", ct.Start), false},
		{"split", "/agent", ct.Text("p", "m", "/ agent", ct.Start), false},
		{"other text", "/agent", ct.Text("p", "m", "agent", ct.Start), false},
		{"quick reply", "/agent", ct.QuickReply("p", "m", conversation.HandoffTitle, conversation.HandoffPayload, ct.Start), true},
		{"other quick reply", "/agent", ct.QuickReply("p", "m", "Green", "PICK_GREEN", ct.Start), false},
		{"postback", "/agent", ct.Postback("p", "m", "Talk to a human", conversation.HandoffPayload, ct.Start), true},
		{"get started", "/agent", ct.Postback("p", "m", "Get Started", "GET_STARTED", ct.Start), false},
		{"postback titled like the command", "/agent", ct.Postback("p", "m", "/agent", "X", ct.Start), true},
		{"words", "talk to a human", ct.Text("p", "m", "Talk  to A\thuman", ct.Start), true},
		{"words in a sentence", "talk to a human", ct.Text("p", "m", "I want to talk to a human", ct.Start), false},
		{"unicode case", "/ÄGENT", ct.Text("p", "m", "/ägent", ct.Start), true},
		{"empty command never matches", " ", ct.Text("p", "m", " ", ct.Start), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, bot.IsHandoff(tt.command, tt.ev))
		})
	}

	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.SetAgent(func(u *ent.AgentUpdateOne) { u.SetHandoffCommand("#staff") })
		for i, text := range []string{"is #staff a command?", "  #STAFF  "} {
			e.process(t, ct.Text(fmt.Sprintf("p%d", i), fmt.Sprintf("m%d", i), text, ct.Start))
		}
		require.Equal(t, entconv.StatusBOT, e.conv(t, "p0").Status)
		require.Equal(t, entconv.StatusHANDOFF_REQUESTED, e.conv(t, "p1").Status)
		require.Equal(t, []string{e.Agent.FallbackMessage, e.Agent.HandoffMessage}, e.sentTexts())
	})
}

// TestSmallTalkWelcomeAndPlainHandoff: greetings, thanks and goodbyes get
// a short reply in their language without asking the knowledge base, the
// Get Started button gets the agent's welcome, and asking for a person in
// plain words hands off, while a question that mentions people is answered
// as a question (API.md, "Answering").
func TestSmallTalkWelcomeAndPlainHandoff(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		at := ct.Start
		for i, tt := range []struct{ text, want string }{
			{"Hi!", "Hi! How can I help you today?"},
			{"thanks a lot", "You're welcome! Is there anything else I can help you with?"},
			{"Danke schön!", "Gern geschehen! Kann ich sonst noch etwas für Sie tun?"},
			{"¡Hola!", "¡Hola! ¿En qué puedo ayudarte?"},
		} {
			e.process(t, ct.Text("u1", fmt.Sprintf("s%d", i), tt.text, at.Add(time.Duration(i)*time.Second)))
			sent := e.Graph.Sent()
			require.Equal(t, tt.want, sent[len(sent)-1].Text, tt.text)
			rs := e.replies(t, e.inbound(t, fmt.Sprintf("s%d", i)))
			require.Len(t, rs, 1)
			require.Nil(t, rs[0].Answered, "small talk is no question, answered or not")
		}
		require.Empty(t, e.k.Calls(), "small talk went to the knowledge base")

		// A question that mentions people is a question.
		e.process(t, ct.Text("u1", "q1", "how many people work in the workshop?", at.Add(time.Minute)))
		require.Equal(t, []string{"how many people work in the workshop?"}, e.k.Calls())
		require.Equal(t, entconv.StatusBOT, e.conv(t, "u1").Status)

		// Get Started gets the welcome, with the agent's name by default.
		e.process(t, ct.Postback("u2", "g1", "Get Started", conversation.GetStartedPayload, at))
		last := e.Graph.Sent()[len(e.Graph.Sent())-1]
		require.Equal(t, fmt.Sprintf("Hi! I'm the assistant of %s. Ask me anything, or tap \"Talk to a human\".", e.Agent.Name), last.Text)
		require.Equal(t, []messenger.QuickReply{{Title: "Talk to a human", Payload: "SEACHAT_HANDOFF"}}, last.QuickReplies)
		e.SetAgent(func(u *ent.AgentUpdateOne) { u.SetWelcomeMessage("Welcome to Harbor Bikes!") })
		e.process(t, ct.Postback("u3", "g2", "Get Started", conversation.GetStartedPayload, at))
		require.Equal(t, "Welcome to Harbor Bikes!", e.Graph.Sent()[len(e.Graph.Sent())-1].Text)

		// Plain words in several languages hand off.
		for i, text := range []string{"can i talk to a real person?", "Ich möchte mit einem Menschen sprechen",
			"quiero hablar con una persona", "je voudrais parler à un conseiller", "vorrei parlare con un operatore",
			"quero falar com um atendente"} {
			psid := fmt.Sprintf("h%d", i)
			e.process(t, ct.Text(psid, "hm"+psid, text, at))
			require.Equal(t, entconv.StatusHANDOFF_REQUESTED, e.conv(t, psid).Status, text)
			require.Equal(t, e.Agent.HandoffMessage, e.Graph.Sent()[len(e.Graph.Sent())-1].Text)
		}
		require.Len(t, e.k.Calls(), 1, "a handoff request went to the knowledge base")
	})
}

func TestFallback(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.process(t, ct.Text("u1", "m1", "Where is the moon?", ct.Start))
		sent := e.Graph.Sent()
		require.Len(t, sent, 1)
		require.Equal(t, e.Agent.FallbackMessage, sent[0].Text)
		require.Equal(t, []messenger.QuickReply{{Title: "Talk to a human", Payload: "SEACHAT_HANDOFF"}}, sent[0].QuickReplies)
		q := e.inbound(t, "m1")
		rs := e.replies(t, q)
		require.Len(t, rs, 1)
		require.False(t, *rs[0].Answered, "the question is recorded as unanswered")
		require.True(t, rs[0].OfferHandoff)
		require.Equal(t, q.ID, *rs[0].InReplyToID)

		// Tapping the quick reply asks for a human.
		e.process(t, ct.QuickReply("u1", "m2", "Talk to a human", "SEACHAT_HANDOFF", ct.Start.Add(time.Minute)))
		require.Equal(t, entconv.StatusHANDOFF_REQUESTED, e.conv(t, "u1").Status)
		require.Equal(t, e.Agent.HandoffMessage, e.Graph.Sent()[1].Text)
		require.Equal(t, []string{"Where is the moon?"}, e.k.Calls())
	})
}

func TestLongAnswerIsSplit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		long := strings.Repeat("Our e-bikes come with a helmet, a lock and a trail map. ", 80)
		e.k.answer = func(context.Context, string) (bot.Answer, error) {
			return bot.Answer{Text: long, Answered: true, Citations: []schematype.Citation{citation}}, nil
		}
		e.process(t, ct.Text("u1", "m1", "Tell me about e-bikes", ct.Start))
		parts := e.sentTexts()
		require.Len(t, parts, 3)
		require.Empty(t, ct.Rejoin(long, parts))
		rs := e.replies(t, e.inbound(t, "m1"))
		require.Len(t, rs, 3)
		for i, r := range rs {
			require.LessOrEqual(t, len([]rune(r.Text)), conversation.MaxTextLength)
			require.Equal(t, i == 2, len(r.Citations) > 0, "citations go on the last part")
			require.True(t, *r.Answered)
		}
	})
}

func TestNoText(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ev := ct.Text("u1", "m1", "", ct.Start)
		ev.Attachments = []messenger.Attachment{{Type: "image", URL: "https://cdn.example/p.jpg"}}
		e.process(t, ev)
		e.process(t, ct.Text("u1", "m2", "   ", ct.Start.Add(time.Second)))
		require.Equal(t, []string{bot.NoTextReply, bot.NoTextReply}, e.sentTexts())
		require.Equal(t, conversation.HandoffPayload, e.Graph.Sent()[0].QuickReplies[0].Payload)
		require.Empty(t, e.k.Calls())
		q := e.inbound(t, "m1")
		require.Equal(t, "image", q.Attachments[0].Type)
		require.Nil(t, e.replies(t, q)[0].Answered, "a photo is not an unanswered question")
	})
}

func TestRedeliveryAnswersOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ev := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		for range 3 {
			e.process(t, ev)
		}
		require.Len(t, e.Graph.Sent(), 1)
		require.Len(t, e.k.Calls(), 1)
		require.Len(t, e.messages(t), 2)

		// Concurrent deliveries of one event, as two replicas could see it,
		// and concurrent outboxes.
		ev2 := ct.Text("u1", "m2", "Can I rent a kid's bike?", ct.Start.Add(time.Minute))
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				if errs[i] = e.bot.Process(context.Background(), e.Channel, ev2); errs[i] == nil {
					_, errs[i] = e.Service.SendDue(context.Background())
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, e.Graph.Sent(), 2, "answered once")
		require.Len(t, e.replies(t, e.inbound(t, "m2")), 1)
	})
}

// TestRecordFirst: Process records the message and stores the decided
// reply without sending it, so the inbox event is done however the send
// goes; the outbox sends it.
func TestRecordFirst(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.Graph.FailNext(mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary)
		ev := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		require.NoError(t, e.bot.Process(context.Background(), e.Channel, ev))
		rs := e.replies(t, e.inbound(t, "m1"))
		require.Len(t, rs, 1)
		require.Equal(t, message.DeliveryStatusPENDING, rs[0].DeliveryStatus)
		require.Zero(t, rs[0].Attempts, "Process sends nothing")
		require.Empty(t, e.Graph.Sent())
	})
}

func TestCrashResume(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)

		// Crash after the message was stored, before the bot decided.
		ev := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		_, err := e.Service.RecordInbound(context.Background(), e.Channel, ev)
		require.NoError(t, err)
		e.process(t, ev)
		require.Len(t, e.Graph.Sent(), 1)
		require.Len(t, e.replies(t, e.inbound(t, "m1")), 1)

		// Shut down while the reply was being sent: it was stored, never
		// sent, and its claim released.
		ev2 := ct.Text("u1", "m2", "Can I rent one tomorrow?", ct.Start.Add(time.Minute))
		require.NoError(t, e.bot.Process(context.Background(), e.Channel, ev2))
		ctx, cancel := context.WithCancel(context.Background())
		e.Sender.CrashNextSend(cancel)
		_, err = e.Service.SendDue(ctx)
		require.ErrorIs(t, err, context.Canceled)
		rs := e.replies(t, e.inbound(t, "m2"))
		require.Len(t, rs, 1)
		require.Equal(t, message.DeliveryStatusPENDING, rs[0].DeliveryStatus)
		require.Equal(t, 1, rs[0].Attempts)
		require.Nil(t, rs[0].ClaimedBy)
		require.Len(t, e.Graph.Sent(), 1)

		// Redelivered, and the outbox runs again: sent exactly once,
		// without asking again.
		e.process(t, ev2)
		e.process(t, ev2)
		require.Len(t, e.Graph.Sent(), 2)
		rs = e.replies(t, e.inbound(t, "m2"))
		require.Len(t, rs, 1)
		require.Equal(t, message.DeliveryStatusSENT, rs[0].DeliveryStatus)
		require.Equal(t, 2, rs[0].Attempts)
		require.Len(t, e.k.Calls(), 2)
	})
}

func TestTransientSendErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.Graph.FailNext(mt.FailTemporary, mt.FailTemporary)
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		rs := e.replies(t, e.inbound(t, "m1"))
		require.Equal(t, message.DeliveryStatusSENT, rs[0].DeliveryStatus)
		require.Equal(t, 3, rs[0].Attempts)
		require.Len(t, e.Sleeps(), 2)

		e.Graph.FailNext(mt.FailUnavailable)
		e.process(t, ct.Text("u1", "m2", "Do you rent boats?", ct.Start.Add(time.Minute)))
		rs = e.replies(t, e.inbound(t, "m2"))
		require.Equal(t, message.DeliveryStatusFAILED, rs[0].DeliveryStatus)
		require.Contains(t, *rs[0].Error, "can't receive messages")
		require.Equal(t, 1, rs[0].Attempts)
		require.Len(t, e.Sleeps(), 2, "permanent errors are not retried")
	})
}

// TestOutageLongerThanRetries: a bot reply whose every in-place attempt
// failed transiently stays PENDING with a backoff, and the outbox sends it
// exactly once after that.
func TestOutageLongerThanRetries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		down := []mt.Failure{mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary}
		e.Graph.FailNext(down...)
		ev := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		e.process(t, ev)
		rs := e.replies(t, e.inbound(t, "m1"))
		require.Len(t, rs, 1)
		require.Equal(t, message.DeliveryStatusPENDING, rs[0].DeliveryStatus)
		require.Nil(t, rs[0].Error)
		require.NotNil(t, rs[0].SendAfter)
		require.Empty(t, e.Graph.Sent())

		e.Clock.Advance(10 * time.Minute) // past the backoff; Meta recovered
		e.flush(t)
		e.process(t, ev) // and a redelivery: nothing more is sent
		rs = e.replies(t, e.inbound(t, "m1"))
		require.Len(t, rs, 1)
		require.Equal(t, message.DeliveryStatusSENT, rs[0].DeliveryStatus)
		require.Equal(t, 5, rs[0].Attempts)
		require.Len(t, e.Graph.Sent(), 1)
		require.Len(t, e.k.Calls(), 1, "the question was answered once")
	})
}

// TestRepliesInOrder: while a reply waits PENDING through a Meta outage,
// the person's next message is recorded and answered, but its reply is held
// back until the older one is sent, so both reach the person in order.
// Another person's replies are not held back.
func TestRepliesInOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.Graph.FailNext(mt.FailTemporary, mt.FailTemporary, mt.FailTemporary, mt.FailTemporary)
		first := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		e.process(t, first)

		// Meta is back, but the first reply is backing off: the second
		// waits for it, however often its event is redelivered.
		second := ct.Text("u1", "m2", "Where is the harbour?", ct.Start.Add(time.Minute))
		for range 2 {
			e.process(t, second)
		}
		r2 := e.replies(t, e.inbound(t, "m2"))
		require.Len(t, r2, 1)
		require.Equal(t, message.DeliveryStatusPENDING, r2[0].DeliveryStatus)
		require.Zero(t, r2[0].Attempts, "never tried")
		require.Nil(t, r2[0].LastAttemptAt)
		require.Empty(t, e.Graph.Sent())
		require.Equal(t, []string{"Do you rent e-bikes?", "Where is the harbour?"}, e.k.Calls(), "each answered once")

		e.process(t, ct.Text("u2", "m3", "Do you rent kayaks?", ct.Start))
		require.Len(t, e.Graph.Sent(), 1, "another person's reply goes out")

		e.Clock.Advance(10 * time.Minute) // past the first reply's backoff
		e.flush(t)
		e.process(t, second) // a redelivery: nothing more is sent
		sent := e.Graph.Sent()
		require.Len(t, sent, 3)
		r1 := e.replies(t, e.inbound(t, "m1"))
		r2 = e.replies(t, e.inbound(t, "m2"))
		for _, r := range []*ent.Message{r1[0], r2[0]} {
			require.Equal(t, message.DeliveryStatusSENT, r.DeliveryStatus)
		}
		require.Equal(t, []string{*r1[0].Mid, *r2[0].Mid}, []string{sent[1].MID, sent[2].MID}, "in order")
		require.Equal(t, []string{"Yes: e-bikes are 25 EUR a day.", e.Agent.FallbackMessage}, []string{sent[1].Text, sent[2].Text})
	})
}

func TestEchoes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		own := e.Graph.Sent()[0]
		// Meta echoes the bot's own reply: ignored.
		e.process(t, ct.Echo("u1", own.MID, own.Text, "1517776481860111", own.Metadata, ct.Start))
		require.Equal(t, entconv.StatusBOT, e.conv(t, "u1").Status)
		e.process(t, ct.Text("u1", "m2", "And a helmet to rent?", ct.Start.Add(time.Minute)))
		require.Len(t, e.Graph.Sent(), 2)

		// A human answers from the Page Inbox: the bot stops.
		e.process(t, ct.Echo("u1", "m_inbox", "I'll help you", conversation.PageInboxAppID, "", ct.Start.Add(2*time.Minute)))
		c := e.conv(t, "u1")
		require.Equal(t, entconv.StatusHUMAN, c.Status)
		e.process(t, ct.Text("u1", "m3", "Do you rent kayaks?", ct.Start.Add(3*time.Minute)))
		require.Len(t, e.Graph.Sent(), 2)
		require.Len(t, e.messages(t), 6, "2 questions, 2 answers, the human's echo, the last question")

		// take_thread_control for another person: also silent afterwards.
		e.process(t, ct.Text("u2", "m4", "hi", ct.Start))
		e.process(t, ct.Handover(messenger.KindTakeThreadControl, "u2", conversation.PageInboxAppID, "", ct.Start))
		require.Equal(t, entconv.StatusHUMAN, e.conv(t, "u2").Status)
	})
}

func TestNothingToAnswer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		standby := ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start)
		standby.Standby = true
		e.process(t, standby)
		require.Len(t, e.messages(t), 1, "stored")
		require.Empty(t, e.Graph.Sent(), "another app owns the thread")
		require.NotNil(t, e.inbound(t, "m1").BotHandledAt)

		for _, ev := range []messenger.Event{
			{Kind: messenger.KindDelivery, SenderID: "u1", PageID: ct.PageID, Watermark: ct.Start},
			{Kind: messenger.KindRead, SenderID: "u1", PageID: ct.PageID, Watermark: ct.Start},
			{Kind: messenger.KindReaction, SenderID: "u1", PageID: ct.PageID, Reaction: messenger.Reaction{Reaction: "love", Action: "react", MID: "m1"}},
			{Kind: messenger.KindMessageEdit, SenderID: "u1", PageID: ct.PageID, MID: "m1", Text: "edited"},
			{Kind: messenger.KindReferral, SenderID: "u1", PageID: ct.PageID},
			{Kind: messenger.KindOptin, SenderID: "u1", PageID: ct.PageID},
			{Kind: messenger.KindPolicyEnforcement, PageID: ct.PageID},
			{Kind: messenger.KindUnknown},
			{Kind: messenger.KindMessage, PageID: ct.PageID, SenderID: ct.PageID, Text: "no person"},
			{Kind: messenger.KindEcho, PageID: ct.PageID, SenderID: ct.PageID, Text: "no person"},
		} {
			require.NoError(t, e.bot.Process(context.Background(), e.Channel, ev), "%s", ev.Kind)
		}
		require.Len(t, e.messages(t), 1)
		require.Empty(t, e.Graph.Sent())
		require.Empty(t, e.k.Calls())
		require.Error(t, e.bot.Process(context.Background(), nil, standby))
	})
}

func TestHumanTakesOverWhileBotThinks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		staff := e.Staff("alice")
		e.k.answer = func(ctx context.Context, q string) (bot.Answer, error) {
			c, err := e.Client.Conversation.Query().Only(ct.Sys())
			require.NoError(t, err)
			_, err = e.Service.Accept(staff, c.ID)
			require.NoError(t, err)
			return bot.Answer{Text: "Too late", Answered: true}, nil
		}
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		require.Empty(t, e.Graph.Sent(), "the bot and a human never both answer")
		q := e.inbound(t, "m1")
		require.NotNil(t, q.BotHandledAt)
		require.Empty(t, e.replies(t, q))
		require.Equal(t, entconv.StatusHUMAN, e.conv(t, "u1").Status)
		// Redelivery later does not answer it either.
		_, err := e.Service.ReturnToBot(staff, e.conv(t, "u1").ID)
		require.NoError(t, err)
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		require.Empty(t, e.Graph.Sent())
	})
}

func TestKnowledgeFailure(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.k.answer = func(context.Context, string) (bot.Answer, error) {
			return bot.Answer{}, errors.New("index unavailable")
		}
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		require.Equal(t, []string{e.Agent.FallbackMessage}, e.sentTexts())
		rs := e.replies(t, e.inbound(t, "m1"))
		require.Nil(t, rs[0].Answered, "our failure is not an unanswered question")

		// A canceled context is returned for the inbox to retry.
		ctx, cancel := context.WithCancel(context.Background())
		e.k.answer = func(context.Context, string) (bot.Answer, error) {
			cancel()
			return bot.Answer{}, context.Canceled
		}
		err := e.bot.Process(ctx, e.Channel, ct.Text("u1", "m2", "Do you rent boats?", ct.Start))
		require.ErrorIs(t, err, context.Canceled)
		require.Nil(t, e.inbound(t, "m2").BotHandledAt, "undecided: the retry answers it")
		e.k.answer = nil
		e.process(t, ct.Text("u1", "m2", "Do you rent boats?", ct.Start))
		require.Len(t, e.Graph.Sent(), 2)
	})
}

// gatedActions holds the typing indicator until the gate opens, and records
// the sender actions that completed.
type gatedActions struct {
	gate chan struct{}
	mu   sync.Mutex
	done []messenger.Action
}

func (a *gatedActions) SenderAction(ctx context.Context, _ int, _ string, act messenger.Action) error {
	if act == messenger.ActionTypingOn {
		select {
		case <-a.gate:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			return errors.New("the answer was not worked out meanwhile")
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = append(a.done, act)
	return nil
}

func (a *gatedActions) Done() []messenger.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.done)
}

// TestActionsOverlapTheAnswer proves the read receipt and typing indicator
// are sent while the answer is worked out, not before, and have finished,
// in order, when the reply is sent.
func TestActionsOverlapTheAnswer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		actions := &gatedActions{gate: make(chan struct{})}
		e.bot = bot.New(e.Service, e.k, actions, nil)
		e.k.answer = func(context.Context, string) (bot.Answer, error) {
			close(actions.gate) // the typing indicator is still in flight
			return bot.Answer{Text: "Yes.", Answered: true}, nil
		}
		atSend := make(chan []messenger.Action, 1)
		e.Graph.OnSend(func(mt.Sent) { atSend <- actions.Done() })
		e.process(t, ct.Text("u1", "m1", "Do you rent e-bikes?", ct.Start))
		require.Equal(t, []string{"Yes."}, e.sentTexts())
		require.Equal(t, []messenger.Action{messenger.ActionMarkSeen, messenger.ActionTypingOn}, <-atSend)
	})
}

func TestKnowledgeFunc(t *testing.T) {
	var k bot.Knowledge = bot.KnowledgeFunc(func(_ context.Context, agentID int, q string, _ []llm.Turn) (bot.Answer, error) {
		return bot.Answer{Text: fmt.Sprint(agentID, q), Answered: true}, nil
	})
	a, err := k.Answer(context.Background(), 7, "q", nil)
	require.NoError(t, err)
	require.Equal(t, "7q", a.Text)
}
