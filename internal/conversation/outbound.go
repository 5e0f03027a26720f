package conversation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
)

// Reasons stored on messages that were not sent for reasons of our own.
const (
	reasonEarlierPart = "not sent: an earlier part of this reply failed"
	reasonTakenOver   = "not sent: a human took the conversation over first"
)

// Reply is the bot engine's answer to one inbound message.
type Reply struct {
	// Author is BOT (the default) for answers and fallbacks, SYSTEM for
	// canned notices such as the handoff message.
	Author message.Author
	// Text is split into several messages when longer than MaxTextLength.
	Text string
	// Answered records, on BOT answers, whether the knowledge base had the
	// answer; false marks the question as unanswered.
	Answered *bool
	// Citations are stored on the last part.
	Citations []schematype.Citation
	// OfferHandoff attaches the "Talk to a human" quick reply to the last
	// part.
	OfferHandoff bool
	// RequestHandoff moves the conversation BOT → HANDOFF_REQUESTED in the
	// transaction that stores the reply (and publishes KindHandoffRequested).
	RequestHandoff bool
}

// ReplyTo decides the answer to an inbound USER message once, however often
// it is called (Meta redelivers; the inbox retries after crashes). The first
// call marks the message handled and stores the reply PENDING (as several
// messages when long, each linked to the inbound message) in one
// transaction; later calls change nothing. It never sends: the outbox
// (RunOutbox) sends the reply, after any older reply of the conversation, so
// that recording what the person wrote never waits behind a send. The bot
// answers only in BOT conversations: if the conversation is not BOT (or,
// with RequestHandoff, is no longer BOT) when the reply would be stored, the
// message is marked handled and nothing is stored. It returns the reply's
// messages as stored by this call (none when decided before).
func (s *Service) ReplyTo(ctx context.Context, inbound *ent.Message, r Reply) (replies []*ent.Message, err error) {
	if err := checkInbound(inbound); err != nil {
		return nil, err
	}
	defer apperr.Wrap(&err, "conversation.ReplyTo(%d)", inbound.ID)
	ctx = auth.SystemContext(ctx)
	parts := Split(cleanText(r.Text), MaxTextLength)
	if len(parts) == 0 {
		return nil, apperr.Errorf(apperr.InvalidArgument, "a reply needs text")
	}
	author := r.Author
	if author == "" {
		author = message.AuthorBOT
	}
	if author != message.AuthorBOT && author != message.AuthorSYSTEM {
		return nil, apperr.Errorf(apperr.InvalidArgument, "the bot replies as BOT or SYSTEM, not %s", author)
	}
	now := s.now()
	var (
		conv    *ent.Conversation
		decided bool // by this call; otherwise before, and only what is pending is sent
	)
	err = s.inTx(ctx, func(t *txScope) (err error) {
		if conv, err = t.lock(ctx, inbound.ConversationID); err != nil {
			return err
		}
		n, err := t.client.Message.Update().
			Where(message.ID(inbound.ID), message.BotHandledAtIsNil()).
			SetBotHandledAt(now).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		decided = true
		ok := conv.Status == conversation.StatusBOT // current: we hold the row lock
		if r.RequestHandoff {
			conv, ok, err = t.transition(ctx, conv.ID, from(conversation.StatusBOT), func(u *ent.ConversationUpdate) {
				u.SetStatus(conversation.StatusHANDOFF_REQUESTED).SetHandoffRequestedAt(now)
			}, now)
			if err != nil {
				return err
			}
			if ok {
				t.publish(conversationEvent(conv, KindHandoffRequested))
			}
		}
		if !ok {
			return nil
		}
		for i, p := range parts {
			last := i == len(parts)-1
			c := t.client.Message.Create().
				SetWorkspaceID(conv.WorkspaceID).SetConversationID(conv.ID).SetChannelID(conv.ChannelID).
				SetDirection(message.DirectionOUTBOUND).SetAuthor(author).SetText(p).
				SetDeliveryStatus(message.DeliveryStatusPENDING).SetInReplyToID(inbound.ID).
				SetNillableAnswered(r.Answered).SetOfferHandoff(r.OfferHandoff && last).
				SetCreatedAt(now).SetUpdatedAt(now)
			if last && len(r.Citations) > 0 {
				c.SetCitations(r.Citations)
			}
			m, err := c.Save(ctx)
			if err != nil {
				return err
			}
			replies = append(replies, m)
		}
		return t.client.Conversation.Update().Where(conversation.ID(conv.ID)).
			SetLastMessageAt(maxTime(now, &conv.LastMessageAt)).Exec(ctx)
	})
	if err != nil || !decided || len(replies) == 0 {
		return nil, err
	}
	for i, m := range replies {
		replies[i] = detach(ctx, m)
	}
	s.outbox.Notify()
	return replies, nil
}

// MarkHandled records that the bot decided not to answer an inbound message
// (a human has the conversation, or another app owns the thread), so that a
// redelivery never answers it later.
func (s *Service) MarkHandled(ctx context.Context, inbound *ent.Message) error {
	if err := checkInbound(inbound); err != nil {
		return err
	}
	ctx = auth.SystemContext(ctx)
	err := s.db(ctx).Message.Update().
		Where(message.ID(inbound.ID), message.BotHandledAtIsNil()).
		SetBotHandledAt(s.now()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("conversation.MarkHandled(%d): %w", inbound.ID, err)
	}
	return nil
}

// SendAgentMessage sends text from the viewer (its token name becomes
// sentBy) to the person. It takes a BOT or HANDOFF_REQUESTED conversation over
// first (→ HUMAN, assigned to the viewer), so the bot and a human never both
// answer; a CLOSED one is a Conflict, and so is one assigned to another
// token unless TakeOver (claimForReply). Within 24 h of the person's last
// Messenger event it sends a RESPONSE, up to 7 days a MESSAGE_TAG with
// HUMAN_AGENT, and later it refuses with OutsideWindow and neither stores nor
// sends anything. When Meta refuses the message (window closed, person
// unavailable, …) the message is returned FAILED with the reason, not as an
// error. Long text is sent as several messages; the first that failed, or
// else the last, is returned. Text over MaxAgentMessageLength characters is
// refused with InvalidArgument before anything is stored or sent.
func (s *Service) SendAgentMessage(ctx context.Context, convID int, text string, opts ...SendOption) (m *ent.Message, err error) {
	defer apperr.Wrap(&err, "conversation.SendAgentMessage(%d)", convID)
	opt := sendOpts(opts)
	if opt.attachment != nil {
		return nil, errAttachments
	}
	text = strings.TrimSpace(cleanText(text))
	if n := utf8.RuneCountInString(text); n > MaxAgentMessageLength {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"text: a message can have at most %d characters and this one has %d; shorten it or split it into several messages",
			MaxAgentMessageLength, n)
	}
	parts := Split(text, MaxTextLength)
	if len(parts) == 0 {
		return nil, apperr.Errorf(apperr.InvalidArgument, "text: write the message to send")
	}
	name := actorName(ctx)
	now := s.now()
	var (
		conv    *ent.Conversation
		win     Window
		pending []*ent.Message
	)
	err = s.inTx(ctx, func(t *txScope) error {
		c, err := t.lock(ctx, convID)
		if err != nil {
			return err
		}
		if c, err = t.claimForReply(ctx, c, opt.takeOver, now); err != nil {
			return err
		}
		if win = ReplyWindow(c, now); win.State == WindowClosed {
			return outsideWindow(c)
		}
		for _, p := range parts {
			m, err := t.client.Message.Create().
				SetWorkspaceID(c.WorkspaceID).SetConversationID(c.ID).SetChannelID(c.ChannelID).
				SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorAGENT).SetSentBy(name).
				SetText(p).SetDeliveryStatus(message.DeliveryStatusPENDING).
				SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
			if err != nil {
				return err
			}
			pending = append(pending, m)
		}
		conv, err = t.client.Conversation.UpdateOneID(c.ID).SetLastMessageAt(maxTime(now, &c.LastMessageAt)).Save(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, m := range pending {
		pending[i] = detach(ctx, m)
	}
	err = s.sendAll(ctx, conv, pending, func(*ent.Message) messenger.SendRequest {
		if win.State == WindowHumanAgentTag {
			return messenger.SendRequest{Type: messenger.MessagingTag, Tag: messenger.TagHumanAgent}
		}
		return messenger.SendRequest{Type: messenger.MessagingResponse}
	})
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(pending, func(m *ent.Message) bool { return m.DeliveryStatus == message.DeliveryStatusFAILED })
	if i < 0 {
		i = len(pending) - 1
	}
	return pending[i], nil
}

// Recent returns up to limit messages of the conversation that came before
// the message beforeID and reached the person or came from them (RECEIVED or
// SENT), oldest first: the history a reply is built on.
func (s *Service) Recent(ctx context.Context, convID, beforeID, limit int) ([]*ent.Message, error) {
	ctx = auth.SystemContext(ctx)
	ms, err := s.db(ctx).Message.Query().
		Where(message.ConversationID(convID), message.IDLT(beforeID),
			message.DeliveryStatusIn(message.DeliveryStatusRECEIVED, message.DeliveryStatusSENT)).
		// By created_at, the (conversation_id, created_at) index's order: the
		// query then reads limit rows, not the whole conversation.
		Order(ent.Desc(message.FieldCreatedAt), ent.Desc(message.FieldID)).Limit(limit).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("conversation.Recent(%d): %w", convID, err)
	}
	slices.Reverse(ms)
	return ms, nil
}

// sendAll delivers the PENDING messages of ms in order, replacing each in
// ms with its settled state. base gives the messaging type and tag of a
// message; the rest of the request comes from the message itself.
func (s *Service) sendAll(ctx context.Context, conv *ent.Conversation, ms []*ent.Message,
	base func(*ent.Message) messenger.SendRequest,
) error {
	var psid string
	failed := false
	for i, m := range ms {
		if m.DeliveryStatus == message.DeliveryStatusFAILED {
			failed = true
		}
		if m.DeliveryStatus != message.DeliveryStatusPENDING {
			continue
		}
		if failed {
			settled, err := s.settle(ctx, conv, m, message.DeliveryStatusFAILED, "", reasonEarlierPart)
			if err != nil {
				return err
			}
			ms[i] = settled
			continue
		}
		if psid == "" {
			var err error
			if psid, err = s.psid(ctx, conv); err != nil {
				return err
			}
		}
		req := base(m)
		req.PSID, req.Text, req.Metadata = psid, m.Text, metadata(m.ID)
		if m.OfferHandoff {
			req.QuickReplies = []messenger.QuickReply{{Title: HandoffTitle, Payload: HandoffPayload}}
		}
		settled, err := s.deliver(ctx, conv, m, req, nil)
		if err != nil {
			return err
		}
		ms[i] = settled
		failed = settled.DeliveryStatus == message.DeliveryStatusFAILED
	}
	return nil
}

// psid returns the PSID of the conversation's person, from its contact edge
// when that is loaded.
func (s *Service) psid(ctx context.Context, conv *ent.Conversation) (string, error) {
	if ct := conv.Edges.Contact; ct != nil {
		return ct.Psid, nil
	}
	ct, err := s.db(ctx).Contact.Get(auth.SystemContext(ctx), conv.ContactID)
	if err != nil {
		return "", err
	}
	return ct.Psid, nil
}

// deliver sends one PENDING message and returns it settled, or, for a bot
// reply that Meta keeps refusing transiently, still PENDING with a backoff
// (send_after) for the outbox. m is updated as it goes. Each attempt is
// claimed with a guarded update that counts it and names this process
// (claimed_by), so two processes never send the same message at once; a
// claim of a dead process may be taken over (claimable). The claim of a BOT
// message also requires the conversation to be BOT: the bot never answers
// after a human took over, even with a reply it decided on before.
// Transient errors are retried a few times in place, with backoff; a
// canceled ctx releases the claim and leaves the message PENDING.
func (s *Service) deliver(ctx context.Context, conv *ent.Conversation, m *ent.Message, req messenger.SendRequest, live []string) (*ent.Message, error) {
	owner := s.claims.ID()
	for n := 1; ; n++ {
		now := s.now()
		claim := s.db(ctx).Message.Update().Where(message.ID(m.ID),
			message.DeliveryStatusEQ(message.DeliveryStatusPENDING), message.Attempts(m.Attempts), claimable(owner, live))
		if m.Author == message.AuthorBOT {
			claim.Where(message.HasConversationWith(conversation.ID(conv.ID), conversation.StatusEQ(conversation.StatusBOT)))
		}
		claimed, err := claim.AddAttempts(1).SetLastAttemptAt(now).SetClaimedBy(owner).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return nil, err
		}
		if claimed == 0 {
			return s.unclaimed(ctx, conv, m)
		}
		m.Attempts, m.LastAttemptAt, m.ClaimedBy, m.UpdatedAt = m.Attempts+1, &now, &owner, now
		res, err := s.sender.Send(auth.SystemContext(ctx), conv.ChannelID, req)
		if err == nil {
			// A crash here, after Meta took the message and before it is
			// recorded SENT, is the one case where it may go out twice: the
			// outbox that takes the claim over waits EchoGrace for Meta's
			// echo (which settles it SENT) before sending it again.
			return s.settle(ctx, conv, m, message.DeliveryStatusSENT, res.MessageID, "")
		}
		if ctx.Err() != nil {
			// Shutting down: whether Meta got it is unknown; another run
			// sends it again (an echo, if it went out, settles it first).
			s.release(context.WithoutCancel(ctx), m, nil)
			return nil, context.Cause(ctx)
		}
		transient := messenger.IsTransient(err)
		s.logger.Warn("sending message", "message_id", m.ID, "channel_id", conv.ChannelID,
			"attempt", n, "transient", transient, "error", err)
		if transient && n < s.retry.Attempts {
			if err := s.retry.Sleep(ctx, s.backoff(n)); err != nil {
				s.release(context.WithoutCancel(ctx), m, nil)
				return nil, err
			}
			continue
		}
		if transient && m.InReplyToID != nil {
			// A bot reply outlives an outage longer than these retries: it
			// stays PENDING, its claim released, and the outbox tries it
			// again after a backoff that grows with its attempts, until the
			// reply window closes. Later replies of the conversation wait
			// for it; other conversations do not.
			after := now.Add(s.sendBackoff(m.Attempts)).UTC()
			if err := s.release(ctx, m, &after); err != nil {
				return nil, err
			}
			return m, nil
		}
		reason := sendFailure(err)
		if transient {
			reason = fmt.Sprintf("gave up after %d attempts: %s", n, reason)
		}
		return s.settle(ctx, conv, m, message.DeliveryStatusFAILED, "", reason)
	}
}

// release gives up this process's claim on m, which stays PENDING, to be
// sent again no earlier than after (nil: at once).
func (s *Service) release(ctx context.Context, m *ent.Message, after *time.Time) error {
	u := s.db(ctx).Message.Update().Where(message.ID(m.ID), message.DeliveryStatusEQ(message.DeliveryStatusPENDING),
		message.Attempts(m.Attempts)).ClearClaimedBy()
	if after != nil {
		u.SetSendAfter(*after)
	}
	if err := u.Exec(ctx); err != nil {
		s.logger.Warn("releasing a send claim", "message_id", m.ID, "error", err)
		return err
	}
	m.ClaimedBy, m.SendAfter = nil, after
	return nil
}

// unclaimed handles a claim of m that matched nothing: m was settled
// elsewhere (e.g. by its echo) and is returned as it is now; or, being a
// BOT message, a human took its conversation over, and it is settled
// FAILED; or another process claimed it first, and it is returned as it is
// now, PENDING, for that process to settle.
func (s *Service) unclaimed(ctx context.Context, conv *ent.Conversation, m *ent.Message) (*ent.Message, error) {
	cur, err := s.db(ctx).Message.Get(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if cur.DeliveryStatus != message.DeliveryStatusPENDING {
		return cur, nil
	}
	if m.Author == message.AuthorBOT {
		c, err := s.db(ctx).Conversation.Get(ctx, conv.ID)
		if err != nil {
			return nil, err
		}
		if c.Status != conversation.StatusBOT {
			return s.settle(ctx, conv, cur, message.DeliveryStatusFAILED, "", reasonTakenOver)
		}
	}
	return cur, nil
}

// settle records the outcome of a message's sending, announces the message
// and returns m updated. SENT always wins (an echo proves delivery); FAILED
// applies only to a message still PENDING, else m is returned as whatever
// settled it left it.
func (s *Service) settle(ctx context.Context, conv *ent.Conversation, m *ent.Message, status message.DeliveryStatus,
	mid, reason string,
) (*ent.Message, error) {
	now := s.now()
	var (
		setMid bool
		other  *ent.Message // m as settled elsewhere, when the update matched nothing
	)
	err := s.inTx(ctx, func(t *txScope) error {
		u := t.client.Message.Update().Where(message.ID(m.ID)).SetDeliveryStatus(status).ClearClaimedBy().SetUpdatedAt(now)
		if status == message.DeliveryStatusSENT {
			u.ClearError()
			if mid != "" {
				taken, err := t.client.Message.Query().
					Where(message.ChannelID(conv.ChannelID), message.Mid(mid), message.IDNEQ(m.ID)).Exist(ctx)
				if err != nil {
					return err
				}
				if taken {
					s.logger.Warn("mid already stored on another message", "message_id", m.ID)
				} else {
					u.SetMid(mid)
					setMid = true
				}
			}
		} else {
			u.Where(message.DeliveryStatusEQ(message.DeliveryStatusPENDING)).SetError(reason)
		}
		n, err := u.Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			if other, err = t.client.Message.Get(ctx, m.ID); err != nil {
				return err
			}
		}
		t.publish(messageEvent(conv, m.ID))
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case other != nil:
		return detach(ctx, other), nil
	}
	// The update matched: m is what was stored, and needs no reading back.
	m.DeliveryStatus, m.UpdatedAt, m.ClaimedBy = status, now, nil
	if status == message.DeliveryStatusSENT {
		m.Error = nil
		if setMid {
			m.Mid = &mid
		}
	} else {
		m.Error = &reason
	}
	return m, nil
}

// sendFailure is the plain reason stored on a message Meta or the channel
// refused.
func sendFailure(err error) string {
	switch {
	case messenger.IsOutsideWindow(err):
		return "Meta refused: the messaging window has closed (a reply is allowed within 24 hours of the person's last message, or 7 days for a human agent)"
	case messenger.IsUserUnavailable(err):
		return "Meta refused: this person can't receive messages from the Page right now (they may have blocked it or left Messenger)"
	case apperr.KindOf(err) == apperr.Internal:
		return "sending failed because of an internal error"
	}
	return apperr.Message(err)
}

func outsideWindow(c *ent.Conversation) error {
	if c.LastUserMessageAt == nil {
		return apperr.Errorf(apperr.OutsideWindow,
			"the person has not written in this conversation: Messenger allows a reply only after they write")
	}
	return apperr.Errorf(apperr.OutsideWindow,
		"the person last wrote more than 7 days ago (%s): Messenger allows no reply until they write again",
		c.LastUserMessageAt.UTC().Format("2006-01-02 15:04 MST"))
}

func checkInbound(m *ent.Message) error {
	if m == nil || m.Direction != message.DirectionINBOUND {
		return apperr.Errorf(apperr.InvalidArgument, "not an inbound message")
	}
	return nil
}
