package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/backoff"
	"github.com/seachat/seachat/internal/messenger"
)

// The outbox sends the bot's replies. ReplyTo only stores a reply PENDING;
// RunOutbox (in every process) sends PENDING replies, per conversation
// oldest first and one at a time, so replies reach the person in the order
// they were decided, while conversations are served concurrently and a
// failing one holds back no other. A reply Meta refuses transiently is
// retried with backoff (send_after) for as long as the 24-hour window is
// open, then settled FAILED with a plain reason; a permanent refusal
// settles it FAILED at once, and the later parts of that reply with it.
//
// A send claim names the claiming process (Claims). A claim held by a
// process that is no longer live (its heartbeat is stale, or on SQLite any
// earlier process) is taken over. Whether Meta took a reply whose sender
// died mid-send is unknown; the echo Meta posts for every message sent
// settles it SENT, so the new owner waits EchoGrace for it before sending
// again. Only when the echo comes later than that (or never) can the
// person get the reply twice: the window is between Meta accepting the
// message and SeaChat recording it SENT.

// Reasons stored on replies the outbox gave up on.
const reasonWindowClosed = "not sent: the 24-hour reply window closed before Meta accepted the reply; the person got no answer"

// EchoGrace is how long a reply whose sender died mid-send waits for Meta's
// echo (which proves it went out) before it is sent again.
const EchoGrace = 4 * time.Second

// Claims names this process in send claims and lists the live processes
// (package heartbeat implements it).
type Claims interface {
	ID() string
	// Live returns the IDs of the processes whose claims hold, this one
	// among them.
	Live(ctx context.Context) ([]string, error)
}

// localClaims is the Claims of a process with no heartbeat: only its own
// claims hold.
type localClaims string

func newLocalClaims() localClaims {
	b := make([]byte, 8)
	rand.Read(b)
	return localClaims("local-" + hex.EncodeToString(b))
}

func (c localClaims) ID() string                             { return string(c) }
func (c localClaims) Live(context.Context) ([]string, error) { return []string{string(c)}, nil }

// OutboxOptions tune RunOutbox. Zero values take the defaults.
type OutboxOptions struct {
	// Workers is how many conversations' replies are sent at once by this
	// process. Default: 8.
	Workers int
	// PollInterval is how often an idle outbox looks for replies stored by
	// other replicas or due after a backoff; replies stored by this process
	// wake it at once. Default: 1 second.
	PollInterval time.Duration
}

// outboxBackoff bounds the wait between the outbox's tries of a reply that
// Meta refuses transiently.
const (
	outboxBaseBackoff = 2 * time.Second
	outboxMaxBackoff  = 5 * time.Minute
)

// sendBackoff is the wait before the outbox tries again a reply attempted
// attempts times.
func (s *Service) sendBackoff(attempts int) time.Duration {
	return backoff.Delay(max(attempts/s.retry.Attempts, 1), outboxBaseBackoff, outboxMaxBackoff)
}

// RunOutbox sends PENDING replies until ctx is done, then waits for the
// sends in flight (a canceled send releases its claim) and returns.
func (s *Service) RunOutbox(ctx context.Context, opts OutboxOptions) {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight = map[int]bool{} // message IDs being sent by this process
	)
	defer wg.Wait()
	failing := false
	for ctx.Err() == nil {
		wake := s.outbox.Wait()
		mu.Lock()
		free, busy := opts.Workers-len(inFlight), len(inFlight)
		mu.Unlock()
		started := 0
		if free > 0 {
			due, live, err := s.dueReplies(ctx, free+busy)
			if err != nil && !failing && ctx.Err() == nil {
				s.logger.Error("looking for replies to send", "error", err)
			} else if err == nil && failing {
				s.logger.Info("looking for replies to send works again")
			}
			failing = err != nil
			for _, m := range due {
				mu.Lock()
				skip := inFlight[m.ID] || len(inFlight) >= opts.Workers
				if !skip {
					inFlight[m.ID] = true
				}
				mu.Unlock()
				if skip {
					continue
				}
				started++
				wg.Go(func() {
					if err := s.sendReply(ctx, m, live); err != nil && ctx.Err() == nil {
						s.logger.Error("sending a reply", "message_id", m.ID, "error", err)
					}
					mu.Lock()
					delete(inFlight, m.ID)
					mu.Unlock()
					s.outbox.Notify() // the conversation's next reply may be due
				})
			}
		}
		if started > 0 && started == free {
			continue
		}
		t := time.NewTimer(opts.PollInterval)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// SendDue sends, in this goroutine, every reply that is due now, until none
// is: the outbox's work done synchronously, for tests and tools. It returns
// how many replies it handled.
func (s *Service) SendDue(ctx context.Context) (n int, err error) {
	for range 1000 {
		due, live, err := s.dueReplies(ctx, 100)
		if err != nil || len(due) == 0 {
			return n, err
		}
		for _, m := range due {
			if err := s.sendReply(ctx, m, live); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// dueReplies returns up to limit replies to send now: of each conversation
// the oldest PENDING reply, when it is not backing off and no live process
// holds it. It also returns the live processes.
func (s *Service) dueReplies(ctx context.Context, limit int) ([]*ent.Message, []string, error) {
	ctx = auth.SystemContext(ctx)
	live, err := s.claims.Live(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	ms, err := s.client.Message.Query().Where(
		message.DeliveryStatusEQ(message.DeliveryStatusPENDING), message.InReplyToIDNotNil(),
		message.Or(message.SendAfterIsNil(), message.SendAfterLTE(now)),
		claimable(s.claims.ID(), live),
		oldestPendingReply(),
	).Order(ent.Asc(message.FieldID)).Limit(limit).All(ctx)
	return ms, live, err
}

// claimable matches messages that no live process other than owner holds.
func claimable(owner string, live []string) predicate.Message {
	ps := []predicate.Message{message.ClaimedByIsNil(), message.ClaimedBy(owner)}
	if len(live) > 0 {
		ps = append(ps, message.ClaimedByNotIn(live...))
	}
	return message.Or(ps...)
}

// oldestPendingReply matches replies with no older PENDING reply in their
// conversation.
func oldestPendingReply() predicate.Message {
	return func(sel *sql.Selector) {
		sel.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("NOT EXISTS (SELECT 1 FROM " + message.Table + " AS older WHERE older." + message.FieldConversationID + " = ").
				WriteString(sel.C(message.FieldConversationID)).
				WriteString(" AND older." + message.FieldID + " < ").WriteString(sel.C(message.FieldID)).
				WriteString(" AND older." + message.FieldDeliveryStatus + " = 'PENDING' AND older." + message.FieldInReplyToID + " IS NOT NULL)")
		}))
	}
}

// sendReply sends the reply m (read by dueReplies) or settles it FAILED
// when a human took a BOT conversation over or the reply window closed.
// When it fails, the later parts of the same reply fail with it.
func (s *Service) sendReply(ctx context.Context, m *ent.Message, live []string) error {
	ctx = auth.SystemContext(ctx)
	conv, err := s.client.Conversation.Query().Where(conversation.ID(m.ConversationID)).WithContact().Only(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	// A claim left on a due reply ended without being settled or released:
	// its sender died (or, if it is this process's, lost the database)
	// after claiming it, maybe after Meta took it. The outbox never picks
	// a reply it is sending right now.
	held := m.ClaimedBy != nil
	switch {
	case m.Author == message.AuthorBOT && conv.Status != conversation.StatusBOT:
		_, err = s.settle(ctx, conv, m, message.DeliveryStatusFAILED, "", reasonTakenOver)
		return err
	case ReplyWindow(conv, now).State != WindowStandard:
		_, err = s.settle(ctx, conv, m, message.DeliveryStatusFAILED, "", reasonWindowClosed)
		return err
	case held && m.Attempts > 0:
		// Give Meta's echo time to tell whether it went out before
		// sending it again.
		after := now.Add(EchoGrace).UTC()
		return s.db(ctx).Message.Update().Where(message.ID(m.ID), message.DeliveryStatusEQ(message.DeliveryStatusPENDING),
			message.Attempts(m.Attempts), message.ClaimedBy(*m.ClaimedBy)).
			ClearClaimedBy().SetSendAfter(after).Exec(ctx)
	}
	req := messenger.SendRequest{Type: messenger.MessagingResponse, PSID: conv.Edges.Contact.Psid, Text: m.Text, Metadata: metadata(m.ID)}
	if m.OfferHandoff {
		req.QuickReplies = []messenger.QuickReply{{Title: HandoffTitle, Payload: HandoffPayload}}
	}
	settled, err := s.deliver(ctx, conv, m, req, live)
	if err != nil || settled.DeliveryStatus != message.DeliveryStatusFAILED {
		return err
	}
	return s.failLaterParts(ctx, conv, settled)
}

// failLaterParts settles FAILED the PENDING parts of a reply after its part
// m, which failed: the person would read them out of context.
func (s *Service) failLaterParts(ctx context.Context, conv *ent.Conversation, m *ent.Message) error {
	later, err := s.client.Message.Query().Where(message.InReplyToID(*m.InReplyToID), message.IDGT(m.ID),
		message.DeliveryStatusEQ(message.DeliveryStatusPENDING)).Order(ent.Asc(message.FieldID)).All(ctx)
	if err != nil {
		return err
	}
	for _, p := range later {
		if _, err := s.settle(ctx, conv, p, message.DeliveryStatusFAILED, "", reasonEarlierPart); err != nil {
			return err
		}
	}
	return nil
}
