// Package bot decides what SeaChat answers to one inbound Messenger event:
// the handoff command, the quick reply or a request for a person in plain
// words asks for a human; a greeting, thanks or goodbye gets a short
// friendly reply; the Get Started button gets the agent's welcome; a
// question in a BOT conversation gets an answer from the agent's knowledge
// base (or the agent's fallback message with a "Talk to a human" quick
// reply); and conversations a human has, or has been asked for, get no
// reply at all. Outside the agent's business hours a handoff gets its
// afterHoursMessage instead of its handoffMessage.
//
// The bot only ever replies to an inbound event; it never starts a
// conversation. Storing, state changes and sending belong to package
// conversation, which makes Process safe to run again for the same event.
package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	conv "github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/text"
)

// HistoryTurns is how many earlier messages go with a question to the
// knowledge base.
const HistoryTurns = 10

// actionTimeout bounds the read receipt and typing indicator of one reply,
// which waits for them (the Graph API answers each in 100–300 ms).
const actionTimeout = 3 * time.Second

// NoTextReply answers a message without text (a photo, a sticker, an empty
// message): the bot reads text only.
const NoTextReply = "Thanks! I can only read text messages for now. Please type your question, or tap \"Talk to a human\"."

// Answer is the knowledge base's answer to a question.
type Answer struct {
	Text      string
	Answered  bool // false: the knowledge base has no answer; Text is then ignored
	Citations []schematype.Citation
}

// Knowledge answers a customer's question from an agent's knowledge base.
// The knowledge service provides it (wrap it with KnowledgeFunc when its
// answer type differs).
type Knowledge interface {
	Answer(ctx context.Context, agentID int, question string, history []llm.Turn) (Answer, error)
}

// KnowledgeFunc adapts a function to Knowledge.
type KnowledgeFunc func(ctx context.Context, agentID int, question string, history []llm.Turn) (Answer, error)

// Answer calls f.
func (f KnowledgeFunc) Answer(ctx context.Context, agentID int, question string, history []llm.Turn) (Answer, error) {
	return f(ctx, agentID, question, history)
}

// Actions shows the person that the Page read their message and is typing.
// The channel service provides it.
type Actions interface {
	SenderAction(ctx context.Context, channelID int, psid string, a messenger.Action) error
}

// Engine is the bot.
type Engine struct {
	conv      *conv.Service
	knowledge Knowledge
	actions   Actions
	logger    *slog.Logger
}

// New returns an engine. actions may be nil (no read receipts or typing
// indicators); logger nil discards.
func New(conversations *conv.Service, knowledge Knowledge, actions Actions, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Engine{conv: conversations, knowledge: knowledge, actions: actions, logger: logger}
}

// Process handles one webhook event of channel ch. It is safe to call again
// for the same event (Meta redelivers; the inbox retries after a crash): a
// message is stored and answered once, and a reply that was stored but not
// sent is left to the outbox. Process never sends a reply itself: it
// records the message and stores the decided reply PENDING, and the
// conversation service's outbox sends it, so a slow or failing send never
// keeps the person's next message from being recorded. Errors are worth
// retrying later.
//
// Messages and postbacks are recorded and answered; echoes and handovers go
// to conversation.RecordEcho; deliveries, reads, reactions, edits,
// referrals, opt-ins and unknown events need no answer and are ignored.
func (e *Engine) Process(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) (err error) {
	if ch == nil {
		return apperr.Errorf(apperr.InvalidArgument, "bot.Process: no channel")
	}
	defer apperr.Wrap(&err, "bot.Process(channel %d, %s %s)", ch.ID, ev.Kind, ev.MID)
	ctx = auth.SystemContext(ctx)
	switch ev.Kind {
	case messenger.KindMessage, messenger.KindPostback:
		if ev.PSID() == "" {
			e.logger.Warn("ignoring a message that names no person", "channel_id", ch.ID, "kind", ev.Kind)
			return nil
		}
		return e.inbound(ctx, ch, ev)
	case messenger.KindEcho, messenger.KindTakeThreadControl, messenger.KindPassThreadControl,
		messenger.KindRequestThreadControl:
		if ev.PSID() == "" {
			return nil
		}
		return e.conv.RecordEcho(ctx, ch, ev)
	}
	return nil
}

func (e *Engine) inbound(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) error {
	in, err := e.conv.RecordInbound(ctx, ch, ev)
	if err != nil {
		return err
	}
	if in.Message.BotHandledAt != nil {
		// Decided before: the outbox sends whatever of that reply is
		// still pending.
		return nil
	}
	if ev.Standby {
		// Another app owns the thread: the bot may not answer.
		return e.conv.MarkHandled(ctx, in.Message)
	}
	ag := in.Agent
	intent, lang := IntentQuestion, text.Unknown
	if ev.Kind == messenger.KindMessage && ev.QuickReplyPayload == "" {
		intent, lang = Classify(ev.Text)
	}
	if IsHandoff(ag.HandoffCommand, ev) || intent == IntentHandoff {
		if in.Conversation.Status != conversation.StatusBOT {
			// Already asked for, or a human has it: no second notice.
			return e.conv.MarkHandled(ctx, in.Message)
		}
		notice := ag.HandoffMessage
		if !InBusinessHours(ag, e.conv.Now()) {
			notice = ag.AfterHoursMessage
		}
		return e.reply(ctx, in.Message, conv.Reply{
			Author: message.AuthorSYSTEM, Text: notice, RequestHandoff: true,
		})
	}
	if in.Conversation.Status != conversation.StatusBOT {
		return e.conv.MarkHandled(ctx, in.Message)
	}
	switch {
	case ev.Kind == messenger.KindPostback && ev.PostbackPayload == conv.GetStartedPayload:
		return e.reply(ctx, in.Message, conv.Reply{Text: WelcomeMessage(ag), OfferHandoff: true})
	case intent == IntentGreeting, intent == IntentThanks, intent == IntentGoodbye:
		return e.reply(ctx, in.Message, conv.Reply{Text: SmallTalkReply(intent, lang)})
	}

	// The read receipt and typing indicator go out while the answer is
	// worked out, and the reply waits for them: a typing indicator that
	// arrived after the reply would show the person a bot still typing.
	wait := e.showTyping(ctx, ch.ID, in.Contact.Psid)
	r, err := e.answer(ctx, ag, in.Message)
	wait()
	if err != nil {
		return err
	}
	return e.reply(ctx, in.Message, r)
}

// answer works out the reply to a question in a BOT conversation.
func (e *Engine) answer(ctx context.Context, ag *ent.Agent, m *ent.Message) (conv.Reply, error) {
	question := strings.TrimSpace(m.Text)
	if question == "" {
		return conv.Reply{Text: NoTextReply, OfferHandoff: true}, nil
	}
	history, err := e.history(ctx, m)
	if err != nil {
		return conv.Reply{}, err
	}
	ans, err := e.knowledge.Answer(ctx, ag.ID, question, history)
	if err != nil {
		if ctx.Err() != nil {
			return conv.Reply{}, err
		}
		// The person gets the fallback rather than silence; the failure is
		// ours, so it is logged and the question is not marked unanswered.
		e.logger.Error("answering a question", "agent_id", ag.ID, "message_id", m.ID, "error", err)
		return conv.Reply{Text: ag.FallbackMessage, OfferHandoff: true}, nil
	}
	answered := ans.Answered && strings.TrimSpace(ans.Text) != ""
	if !answered {
		return conv.Reply{Text: ag.FallbackMessage, Answered: &answered, OfferHandoff: true}, nil
	}
	return conv.Reply{Text: ans.Text, Answered: &answered, Citations: ans.Citations}, nil
}

func (e *Engine) reply(ctx context.Context, inbound *ent.Message, r conv.Reply) error {
	_, err := e.conv.ReplyTo(ctx, inbound, r)
	return err
}

// showTyping marks the person's message seen and shows the typing
// indicator, in the background. The returned wait blocks until both have
// been sent or given up on, after at most actionTimeout. They only decorate
// the reply, so they are best effort, and one after the other: the receipt
// comes before the indicator.
func (e *Engine) showTyping(ctx context.Context, channelID int, psid string) (wait func()) {
	if e.actions == nil {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.action(ctx, channelID, psid, messenger.ActionMarkSeen)
		e.action(ctx, channelID, psid, messenger.ActionTypingOn)
	}()
	return func() {
		<-done
		cancel()
	}
}

// action sends a sender action, best effort: it only decorates the reply.
func (e *Engine) action(ctx context.Context, channelID int, psid string, a messenger.Action) {
	if err := e.actions.SenderAction(ctx, channelID, psid, a); err != nil && !errors.Is(err, context.Canceled) {
		e.logger.Debug("sending sender action", "channel_id", channelID, "action", a, "error", err)
	}
}

// history returns the conversation before m as turns for the knowledge
// base.
func (e *Engine) history(ctx context.Context, m *ent.Message) ([]llm.Turn, error) {
	ms, err := e.conv.Recent(ctx, m.ConversationID, m.ID, HistoryTurns)
	if err != nil {
		return nil, err
	}
	turns := make([]llm.Turn, 0, len(ms))
	for _, h := range ms {
		if strings.TrimSpace(h.Text) == "" || h.Author == message.AuthorNOTE {
			continue // staff's internal notes are not for the person's answers
		}
		role := "user"
		switch h.Author {
		case message.AuthorBOT, message.AuthorSYSTEM:
			role = "assistant"
		case message.AuthorAGENT:
			role = "agent"
		}
		turns = append(turns, llm.Turn{Role: role, Text: h.Text})
	}
	return turns, nil
}

// IsHandoff reports whether ev asks for a human: the "Talk to a human" quick
// reply or postback (payload conversation.HandoffPayload), or text that is
// exactly the agent's handoff command, ignoring case and surrounding and
// repeated spaces. The command inside a longer sentence does not count.
func IsHandoff(command string, ev messenger.Event) bool {
	if ev.QuickReplyPayload == conv.HandoffPayload || ev.PostbackPayload == conv.HandoffPayload {
		return true
	}
	text := ev.Text
	if ev.Kind == messenger.KindPostback {
		text = ev.PostbackTitle
	}
	cmd := normalize(command)
	return cmd != "" && strings.EqualFold(normalize(text), cmd)
}

// WelcomeMessage is the agent's answer to the Get Started button: its
// welcomeMessage, or the default one with its name.
func WelcomeMessage(ag *ent.Agent) string {
	if strings.TrimSpace(ag.WelcomeMessage) != "" {
		return ag.WelcomeMessage
	}
	return fmt.Sprintf(schema.DefaultWelcomeMessage, ag.Name)
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// InBusinessHours reports whether t falls in the agent's business hours,
// read in its timezone (UTC when unknown). An agent without business hours
// is always open.
func InBusinessHours(ag *ent.Agent, t time.Time) bool {
	loc, err := time.LoadLocation(ag.Timezone)
	if err != nil || ag.Timezone == "" {
		loc = time.UTC
	}
	return schematype.IsOpen(ag.BusinessHours, loc, t)
}
