// Package conversation is the one place where SeaChat's conversations change
// state and where their messages are stored and sent.
//
// A conversation moves BOT → HANDOFF_REQUESTED → HUMAN → BOT or CLOSED, and a
// new message from the person reopens a CLOSED one in BOT. Every transition
// is one database transaction around a guarded update (UPDATE … WHERE status
// IN (…)), so of two staff members accepting the same handoff exactly one
// wins and the other gets apperr.Conflict naming the state it found.
//
// Code called from a GraphQL mutation writes through the mutation's
// transaction (entgql.Transactioner puts it in the context); everything else
// opens its own. Either way, events are published on the bus only after the
// transaction commits, never for work that was rolled back.
//
// Outbound messages (bot replies and staff messages) go through one
// pipeline: each is stored PENDING before it is sent, then marked SENT with
// Meta's message id (so its echo is recognised) or FAILED with a plain
// reason; transient Send API errors are retried with exponential backoff and
// jitter, and every attempt is counted on the message. Staff messages are
// sent as they are stored; bot replies go out through the outbox (see
// RunOutbox), per conversation in order.
package conversation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/backoff"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/viewer"
	"github.com/seachat/seachat/internal/wake"
)

// Topics of the events this package publishes. Every event carries the
// workspace and, in Extra, "agent", "channel" and "conversation" IDs as
// decimal strings.
const (
	// TopicMessage carries KindAdded events whose ID is a message ID.
	TopicMessage = "message"
	// TopicConversation carries KindCreated, KindUpdated and
	// KindHandoffRequested events whose ID is a conversation ID.
	TopicConversation = "conversation"
)

// Event kinds.
const (
	// KindAdded: a message was stored. Outbound messages are announced once
	// the send attempt is settled (SENT or FAILED), inbound ones at once.
	KindAdded = "added"
	// KindCreated: a conversation was started by a person's first message.
	KindCreated = "created"
	// KindUpdated: status, assignment or tags changed.
	KindUpdated = "updated"
	// KindHandoffRequested: the conversation moved to HANDOFF_REQUESTED.
	// It is a status change too, so conversationUpdated should show it.
	KindHandoffRequested = "handoff_requested"
)

// Extra keys of published events.
const (
	ExtraAgent        = "agent"
	ExtraChannel      = "channel"
	ExtraConversation = "conversation"
)

// PageInboxAppID is the app ID of Meta's Page Inbox (Business Suite): echoes
// and handovers carrying it come from a human working in Meta's own tools.
const PageInboxAppID = "263902037430900"

// HandoffPayload is the payload of the "Talk to a human" quick reply and
// of the persistent menu's postback.
const HandoffPayload = "SEACHAT_HANDOFF"

// GetStartedPayload is the payload of the Get Started button that SeaChat
// sets on the Page's Messenger profile.
const GetStartedPayload = "GET_STARTED"

// HandoffTitle is the title of the quick reply that asks for a human.
const HandoffTitle = "Talk to a human"

// PageInboxSender is the sentBy of messages a human sent from Meta's tools.
const PageInboxSender = "Page Inbox"

// Limits of Tag.
const (
	MaxTags      = 20
	MaxTagLength = 50
)

// Sender is what this package needs from the Messenger channel: sending on a
// channel and, best effort, a person's profile. The channel service
// implements it; it refuses channels that cannot send.
type Sender interface {
	Send(ctx context.Context, channelID int, req messenger.SendRequest) (messenger.SendResult, error)
	Profile(ctx context.Context, channelID int, psid string) (messenger.Profile, error)
}

// RetryPolicy bounds the retries of transient Send API errors.
type RetryPolicy struct {
	// Attempts is the number of send attempts of one message in one run,
	// the first included (default 4).
	Attempts int
	// Base is the wait before the second attempt; each later wait doubles
	// (default 500 ms), up to Max (default 8 s). Each wait is jittered to a
	// random value between half and all of it.
	Base, Max time.Duration
	// Sleep waits d or until ctx is done; tests replace it. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the policy used when Deps.Retry is the zero value.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 500 * time.Millisecond, Max: 8 * time.Second}

// Deps are the Service's dependencies.
type Deps struct {
	Client *ent.Client
	Bus    pubsub.Bus // nil: events are not published
	Sender Sender
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	Retry  RetryPolicy      // zero fields take DefaultRetry's
	// Claims names this process in send claims (package heartbeat). nil:
	// claims of any other process are taken over, as on SQLite.
	Claims Claims
}

// Service runs conversations: the state machine, message storage and the
// outbound pipeline.
type Service struct {
	client *ent.Client
	bus    pubsub.Bus
	sender Sender
	logger *slog.Logger
	now    func() time.Time
	retry  RetryPolicy
	claims Claims
	outbox wake.Signal // replies were stored
}

// New returns the service.
func New(d Deps) *Service {
	s := &Service{client: d.Client, bus: d.Bus, sender: d.Sender, logger: d.Logger, now: d.Now, retry: d.Retry, claims: d.Claims}
	if s.claims == nil {
		s.claims = newLocalClaims()
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retry.Attempts < 1 {
		s.retry.Attempts = DefaultRetry.Attempts
	}
	if s.retry.Base <= 0 {
		s.retry.Base = DefaultRetry.Base
	}
	if s.retry.Max <= 0 {
		s.retry.Max = DefaultRetry.Max
	}
	if s.retry.Sleep == nil {
		s.retry.Sleep = sleep
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// backoff is the jittered wait after the n-th failed attempt (n ≥ 1).
func (s *Service) backoff(n int) time.Duration {
	return backoff.Delay(n, s.retry.Base, s.retry.Max)
}

// RequestHandoff moves a BOT conversation to HANDOFF_REQUESTED. changed is
// false, without error, when a handoff was already requested or a human has
// the conversation; a CLOSED conversation is a Conflict.
func (s *Service) RequestHandoff(ctx context.Context, convID int) (changed bool, err error) {
	defer apperr.Wrap(&err, "conversation.RequestHandoff(%d)", convID)
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		c, ok, err := t.transition(ctx, convID, from(conversation.StatusBOT), func(u *ent.ConversationUpdate) {
			u.SetStatus(conversation.StatusHANDOFF_REQUESTED).SetHandoffRequestedAt(now)
		}, now)
		if err != nil {
			return err
		}
		if !ok {
			if c.Status == conversation.StatusCLOSED {
				return conflict(c, "a handoff needs an open conversation")
			}
			return nil
		}
		changed = true
		t.publish(conversationEvent(c, KindHandoffRequested))
		return nil
	})
	return changed, err
}

// Accept gives a BOT or HANDOFF_REQUESTED conversation to the viewer: it
// becomes HUMAN, assigned to the viewer's token (assignee and name), and
// the bot stops answering in it.
func (s *Service) Accept(ctx context.Context, convID int) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.Accept(%d)", convID)
	now := s.now()
	name := actorName(ctx)
	err = s.inTx(ctx, func(t *txScope) error {
		var ok bool
		c, ok, err = t.transition(ctx, convID, from(conversation.StatusBOT, conversation.StatusHANDOFF_REQUESTED),
			func(u *ent.ConversationUpdate) {
				u.SetStatus(conversation.StatusHUMAN).SetAssignedTo(name).SetHandoffAcceptedAt(now)
				if token := actorToken(ctx); token != nil {
					u.SetAssigneeID(*token)
				}
			}, now)
		if err != nil {
			return err
		}
		if !ok {
			switch c.Status {
			case conversation.StatusHUMAN:
				return conflict(c, fmt.Sprintf("%s already took it over", deref(c.AssignedTo, "someone")))
			default:
				return conflict(c, "it reopens when the person writes again")
			}
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
	return detach(ctx, c), err
}

// ReturnToBot hands a HUMAN or HANDOFF_REQUESTED conversation back to the
// bot, unassigned.
func (s *Service) ReturnToBot(ctx context.Context, convID int) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.ReturnToBot(%d)", convID)
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		var ok bool
		c, ok, err = t.transition(ctx, convID, from(conversation.StatusHUMAN, conversation.StatusHANDOFF_REQUESTED),
			func(u *ent.ConversationUpdate) {
				u.SetStatus(conversation.StatusBOT).ClearAssignedTo().ClearAssigneeID()
			}, now)
		if err != nil {
			return err
		}
		if !ok {
			switch c.Status {
			case conversation.StatusBOT:
				return conflict(c, "the bot already answers it")
			default:
				return conflict(c, "it reopens with the bot when the person writes again")
			}
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
	return detach(ctx, c), err
}

// Close closes an open conversation. The person's next message reopens it
// with the bot.
func (s *Service) Close(ctx context.Context, convID int) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.Close(%d)", convID)
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		var ok bool
		c, ok, err = t.transition(ctx, convID,
			from(conversation.StatusBOT, conversation.StatusHANDOFF_REQUESTED, conversation.StatusHUMAN),
			func(u *ent.ConversationUpdate) { u.SetStatus(conversation.StatusCLOSED) }, now)
		if err != nil {
			return err
		}
		if !ok {
			return conflict(c, "it is already closed")
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
	return detach(ctx, c), err
}

// Tag replaces the conversation's tags. Tags are trimmed, empty ones dropped
// and duplicates removed (first spelling wins); more than MaxTags tags or a
// tag longer than MaxTagLength characters is InvalidArgument.
func (s *Service) Tag(ctx context.Context, convID int, tags []string) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.Tag(%d)", convID)
	clean, err := NormalizeTags(tags)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		n, err := t.client.Conversation.Update().Where(conversation.ID(convID)).
			SetTags(clean).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound(convID)
		}
		if c, err = t.client.Conversation.Get(ctx, convID); err != nil {
			return err
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
	return detach(ctx, c), err
}

// NormalizeTags returns tags trimmed, without empty ones and duplicates, in
// their first order, or InvalidArgument when they break the limits.
func NormalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, tag := range tags {
		tag = strings.TrimSpace(cleanText(tag))
		if tag == "" || seen[tag] {
			continue
		}
		if utf8.RuneCountInString(tag) > MaxTagLength {
			return nil, apperr.Errorf(apperr.InvalidArgument,
				"tags: %q is longer than %d characters: shorten it", truncate(tag, 20), MaxTagLength)
		}
		seen[tag] = true
		out = append(out, tag)
	}
	if len(out) > MaxTags {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"tags: a conversation can have at most %d tags, got %d", MaxTags, len(out))
	}
	return out, nil
}

// txScope is one transaction, the caller's or the service's own, and the
// events to publish once it commits.
type txScope struct {
	client *ent.Client
	events []pubsub.Event
}

func (t *txScope) publish(ev pubsub.Event) { t.events = append(t.events, ev) }

// inTx runs fn in the transaction of ctx (a GraphQL mutation's) or, when
// there is none, in a new one (store.WithTx). The events fn queued are
// published after that transaction commits, and dropped on rollback.
func (s *Service) inTx(ctx context.Context, fn func(t *txScope) error) error {
	pctx := context.WithoutCancel(ctx)
	return store.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		t := &txScope{client: tx.Client()}
		if err := fn(t); err != nil {
			return err
		}
		if events := t.events; len(events) > 0 {
			store.OnCommit(tx, func() { s.publish(pctx, events) })
		}
		return nil
	})
}

// db is the client for single statements outside inTx: the mutation's
// transaction when there is one.
func (s *Service) db(ctx context.Context) *ent.Client { return store.Client(ctx, s.client) }

func (s *Service) publish(ctx context.Context, events []pubsub.Event) {
	if s.bus == nil {
		return
	}
	for _, ev := range events {
		if err := s.bus.Publish(ctx, ev); err != nil {
			s.logger.Warn("publishing event", "topic", ev.Topic, "kind", ev.Kind, "id", ev.ID, "error", err)
		}
	}
}

// transition is the guarded update behind every state change: it applies
// set to the conversation only if its status is one of from, and returns the
// conversation as it is afterwards and whether it matched. A conversation
// the viewer cannot see is NotFound.
func (t *txScope) transition(ctx context.Context, id int, from []conversation.Status,
	set func(*ent.ConversationUpdate), now time.Time,
) (*ent.Conversation, bool, error) {
	u := t.client.Conversation.Update().
		Where(conversation.ID(id), conversation.StatusIn(from...)).
		SetUpdatedAt(now)
	if set != nil {
		set(u)
	}
	n, err := u.Save(ctx)
	if err != nil {
		return nil, false, err
	}
	c, err := t.client.Conversation.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, false, notFound(id)
	}
	if err != nil {
		return nil, false, err
	}
	return c, n > 0, nil
}

// lock reads the conversation and takes its row lock for the rest of the
// transaction, so that work on one conversation is serialised: what a
// transaction decides from the row (its status, its last message time)
// still holds when it commits.
func (t *txScope) lock(ctx context.Context, id int) (*ent.Conversation, error) {
	c, err := t.client.Conversation.Query().Where(conversation.ID(id), forUpdate).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound(id)
	}
	return c, err
}

// forUpdate is a predicate of any query that locks the rows it reads for
// the rest of the transaction on PostgreSQL (SELECT … FOR UPDATE). SQLite
// has no row locks and needs none: its transactions take the database's
// write lock at BEGIN (store opens it with _txlock=immediate). The query
// builders' own ForUpdate cannot tell the dialects apart.
func forUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

func from(st ...conversation.Status) []conversation.Status { return st }

func conflict(c *ent.Conversation, hint string) error {
	return apperr.Errorf(apperr.Conflict, "conversation is %s; %s", c.Status, hint)
}

func notFound(id int) error {
	return apperr.Errorf(apperr.NotFound, "conversation %d not found", id)
}

func conversationEvent(c *ent.Conversation, kind string) pubsub.Event {
	return pubsub.Event{Topic: TopicConversation, WorkspaceID: c.WorkspaceID, Kind: kind, ID: c.ID, Extra: extra(c)}
}

func messageEvent(c *ent.Conversation, messageID int) pubsub.Event {
	return pubsub.Event{Topic: TopicMessage, WorkspaceID: c.WorkspaceID, Kind: KindAdded, ID: messageID, Extra: extra(c)}
}

func extra(c *ent.Conversation) map[string]string {
	return map[string]string{
		ExtraAgent:        strconv.Itoa(c.AgentID),
		ExtraChannel:      strconv.Itoa(c.ChannelID),
		ExtraConversation: strconv.Itoa(c.ID),
	}
}

// detach returns an entity loaded in the service's own, now committed,
// transaction bound to the root client, so that its edges still load.
// Entities of the caller's transaction stay bound to it.
func detach[T interface{ Unwrap() T }](ctx context.Context, e T) T {
	var zero T
	if any(e) == any(zero) || ent.TxFromContext(ctx) != nil {
		return e
	}
	return e.Unwrap()
}

// actorName is who acts: the viewer's token name, or "SeaChat" for the
// system.
func actorName(ctx context.Context) string {
	if v, ok := viewer.FromContext(ctx); ok && v.TokenName != "" {
		return v.TokenName
	}
	return "SeaChat"
}

func deref(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

// cleanText makes text storable in both databases: valid UTF-8 without NUL
// bytes (PostgreSQL rejects them in text columns).
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func maxTime(a time.Time, b *time.Time) time.Time {
	if b != nil && b.After(a) {
		return *b
	}
	return a
}
