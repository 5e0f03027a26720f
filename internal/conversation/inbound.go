package conversation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/contact"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
)

// profileTimeout bounds the best-effort profile lookup of a new contact.
const profileTimeout = 5 * time.Second

// metadataPrefix starts the Send API metadata of every message SeaChat
// sends; Meta returns it in the echo, which is how an echo is recognised as
// ours even before the send call has returned its message id.
const metadataPrefix = "seachat:"

// Inbound is a person's message as RecordInbound stored it.
type Inbound struct {
	Conversation *ent.Conversation
	Agent        *ent.Agent
	Contact      *ent.Contact
	Message      *ent.Message
	// Duplicate is true when the message's mid was already stored (Meta
	// redelivered it); nothing was changed.
	Duplicate bool
}

// errDuplicate rolls back a transaction that found its mid already stored.
var errDuplicate = errors.New("duplicate mid")

// RecordInbound stores a person's message or postback. It creates the
// contact (named from the profile, best effort, only when first seen) and
// the one conversation per channel and contact (with the channel's agent),
// stores the USER message once per (channel, mid), moves lastMessageAt and
// lastUserMessageAt to the event's Messenger timestamp (never the receive
// time, unless the timestamp lies in the future: see eventTime), reopens a CLOSED conversation in BOT, and publishes. A mid that is
// already stored returns Duplicate with the stored message and changes
// nothing. The returned message carries its conversation, and that its
// contact, as loaded edges, which ReplyTo sends with instead of reading them
// again. It runs with system rights: no API token is involved.
func (s *Service) RecordInbound(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) (in Inbound, err error) {
	defer apperr.Wrap(&err, "conversation.RecordInbound(%s)", ev.MID)
	ctx = auth.SystemContext(ctx)
	if ch == nil {
		return in, apperr.Errorf(apperr.InvalidArgument, "no channel")
	}
	if ev.Kind != messenger.KindMessage && ev.Kind != messenger.KindPostback {
		return in, apperr.Errorf(apperr.InvalidArgument, "a %s event is not a message", ev.Kind)
	}
	psid := ev.PSID()
	if psid == "" {
		return in, apperr.Errorf(apperr.InvalidArgument, "the event names no person")
	}
	now := s.now()
	at := eventTime(ev, now)
	text := ev.Text
	if ev.Kind == messenger.KindPostback {
		text = ev.PostbackTitle
	}
	// A redelivered mid is found by the insert (errDuplicate) rather than
	// by a query before it: redeliveries are rare, new messages are not.
	err = s.inThread(ctx, ch, psid, at, now, func(t *txScope, ct *ent.Contact, conv *ent.Conversation, created bool) error {
		create := t.client.Message.Create().
			SetWorkspaceID(conv.WorkspaceID).SetConversationID(conv.ID).SetChannelID(ch.ID).
			SetDirection(message.DirectionINBOUND).SetAuthor(message.AuthorUSER).
			SetText(cleanText(text)).SetDeliveryStatus(message.DeliveryStatusRECEIVED).
			SetEventTime(at).SetCreatedAt(now).SetUpdatedAt(now)
		if atts := attachments(ev.Attachments); len(atts) > 0 {
			create.SetAttachments(atts)
		}
		m, err := insertOnce(ctx, create, ev.MID)
		if err != nil {
			return err // errDuplicate: stored before; rolled back below
		}
		// The row is locked, so conv is current: the update is applied to
		// it in memory instead of being read back.
		lastMessageAt, lastUserMessageAt := maxTime(at, &conv.LastMessageAt), maxTime(at, conv.LastUserMessageAt)
		u := t.client.Conversation.Update().Where(conversation.ID(conv.ID)).
			SetLastMessageAt(lastMessageAt).SetLastUserMessageAt(lastUserMessageAt).SetUpdatedAt(now)
		reopened := conv.Status == conversation.StatusCLOSED
		if reopened {
			u.SetStatus(conversation.StatusBOT).ClearAssignedTo()
		}
		if err := u.Exec(ctx); err != nil {
			return err
		}
		conv.LastMessageAt, conv.LastUserMessageAt, conv.UpdatedAt = lastMessageAt, &lastUserMessageAt, now
		if reopened {
			conv.Status, conv.AssignedTo = conversation.StatusBOT, nil
		}
		if at.After(ct.LastSeenAt) {
			// The contact was read before the conversation's lock was
			// taken: the guard keeps a concurrent later message's time.
			n, err := t.client.Contact.Update().Where(contact.ID(ct.ID), contact.LastSeenAtLT(at)).
				SetLastSeenAt(at).Save(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				ct.LastSeenAt = at
			}
		}
		ag, err := t.client.Agent.Get(ctx, conv.AgentID)
		if err != nil {
			return err
		}
		switch {
		case created:
			t.publish(conversationEvent(conv, KindCreated))
		case reopened:
			t.publish(conversationEvent(conv, KindUpdated))
		}
		t.publish(messageEvent(conv, m.ID))
		in = Inbound{Conversation: conv, Agent: ag, Contact: ct, Message: m}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		// Meta redelivered, or the first copy was stored concurrently.
		in, ok, serr := s.stored(ctx, s.db(ctx), ch.ID, ev.MID)
		if serr == nil && !ok {
			serr = fmt.Errorf("a duplicate mid was not found: %w", err)
		}
		return in, serr
	}
	if err != nil {
		return Inbound{}, err
	}
	in.Conversation, in.Agent, in.Contact, in.Message =
		detach(ctx, in.Conversation), detach(ctx, in.Agent), detach(ctx, in.Contact), detach(ctx, in.Message)
	in.Message.Edges.Conversation, in.Conversation.Edges.Contact = in.Conversation, in.Contact
	return in, nil
}

// stored returns the stored message of (channel, mid) with its thread.
func (s *Service) stored(ctx context.Context, c *ent.Client, channelID int, mid string) (Inbound, bool, error) {
	m, err := c.Message.Query().Where(message.ChannelID(channelID), message.Mid(mid)).Only(ctx)
	if ent.IsNotFound(err) {
		return Inbound{}, false, nil
	}
	if err != nil {
		return Inbound{}, false, err
	}
	conv, err := c.Conversation.Get(ctx, m.ConversationID)
	if err != nil {
		return Inbound{}, false, err
	}
	ct, err := c.Contact.Get(ctx, conv.ContactID)
	if err != nil {
		return Inbound{}, false, err
	}
	ag, err := c.Agent.Get(ctx, conv.AgentID)
	if err != nil {
		return Inbound{}, false, err
	}
	m.Edges.Conversation, conv.Edges.Contact = conv, ct
	return Inbound{Conversation: conv, Agent: ag, Contact: ct, Message: m, Duplicate: true}, true, nil
}

// errNewContact rolls back a transaction that found a person the channel has
// not seen yet, to look their profile up outside it.
var errNewContact = errors.New("new contact")

// inThread runs fn in a transaction with the contact and conversation of
// (channel, psid), creating them when needed, and the conversation's row
// locked. created says whether the conversation was created. A new contact
// is named from their profile: that Graph API call is made between two
// tries of the transaction, never inside one.
func (s *Service) inThread(ctx context.Context, ch *ent.MessengerChannel, psid string, at, now time.Time,
	fn func(t *txScope, ct *ent.Contact, conv *ent.Conversation, created bool) error,
) error {
	var name *string
	create := s.sender == nil // no profile to look up
	for {
		err := s.inTx(ctx, func(t *txScope) error {
			ct, conv, created, err := t.thread(ctx, ch, psid, create, name, at, now)
			if err != nil {
				return err
			}
			return fn(t, ct, conv, created)
		})
		if create || !errors.Is(err, errNewContact) {
			return err
		}
		name, create = s.profileName(ctx, ch, psid), true
	}
}

// profileName returns a person's profile name, or nil when it is
// unavailable (it needs an App Review feature, so failures are expected and
// only logged).
func (s *Service) profileName(ctx context.Context, ch *ent.MessengerChannel, psid string) *string {
	pctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	p, err := s.sender.Profile(pctx, ch.ID, psid)
	if err != nil {
		s.logger.Debug("fetching profile", "channel_id", ch.ID, "error", err)
		return nil
	}
	name := strings.TrimSpace(cleanText(strings.TrimSpace(p.FirstName) + " " + strings.TrimSpace(p.LastName)))
	if name == "" {
		return nil
	}
	return &name
}

// thread returns the contact and conversation of (channel, psid) with the
// conversation's row locked. The common case, both exist, takes two reads.
// Otherwise it creates what is missing, the contact with name, unless
// create is false and the contact is missing: then it returns
// errNewContact.
func (t *txScope) thread(ctx context.Context, ch *ent.MessengerChannel, psid string, create bool, name *string,
	at, now time.Time,
) (ct *ent.Contact, conv *ent.Conversation, created bool, err error) {
	ct, err = t.client.Contact.Query().Where(contact.ChannelID(ch.ID), contact.Psid(psid)).Only(ctx)
	switch {
	case err == nil:
		conv, err = t.client.Conversation.Query().
			Where(conversation.ChannelID(ch.ID), conversation.ContactID(ct.ID), forUpdate).Only(ctx)
		if !ent.IsNotFound(err) {
			return ct, conv, false, err
		}
	case !ent.IsNotFound(err):
		return nil, nil, false, err
	case !create:
		return nil, nil, false, errNewContact
	}
	return t.upsertThread(ctx, ch, psid, name, at, now)
}

// upsertThread creates the contact and conversation of (channel, psid)
// unless they exist (a concurrent first message may have created them), and
// returns them with the conversation's row locked. created says whether this
// call created the conversation.
func (t *txScope) upsertThread(ctx context.Context, ch *ent.MessengerChannel, psid string, name *string,
	at, now time.Time,
) (ct *ent.Contact, conv *ent.Conversation, created bool, err error) {
	err = t.client.Contact.Create().
		SetWorkspaceID(ch.WorkspaceID).SetChannelID(ch.ID).SetPsid(psid).SetNillableName(name).
		SetFirstSeenAt(at).SetLastSeenAt(at).
		OnConflictColumns(contact.FieldChannelID, contact.FieldPsid).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, false, err
	}
	ct, err = t.client.Contact.Query().Where(contact.ChannelID(ch.ID), contact.Psid(psid)).Only(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	err = t.client.Conversation.Create().
		SetWorkspaceID(ch.WorkspaceID).SetAgentID(ch.AgentID).SetChannelID(ch.ID).SetContactID(ct.ID).
		SetLastMessageAt(at).SetCreatedAt(now).SetUpdatedAt(now).
		OnConflictColumns(conversation.FieldChannelID, conversation.FieldContactID).DoNothing().Exec(ctx)
	switch {
	case err == nil:
		created = true
	case !errors.Is(err, sql.ErrNoRows):
		return nil, nil, false, err
	}
	conv, err = t.client.Conversation.Query().
		Where(conversation.ChannelID(ch.ID), conversation.ContactID(ct.ID), forUpdate).Only(ctx)
	return ct, conv, created, err
}

// insertOnce inserts a message unless its mid is already stored for the
// channel, in which case it returns errDuplicate and the caller rolls the
// transaction back. A constraint error means the mid is taken: the
// conversation and channel the message references were read, locked, in the
// same transaction, and (channel, mid) is the table's only unique key. A
// plain insert, unlike ON CONFLICT DO NOTHING, returns the new message
// without reading it back.
func insertOnce(ctx context.Context, create *ent.MessageCreate, mid string) (*ent.Message, error) {
	if mid == "" {
		return create.Save(ctx)
	}
	m, err := create.SetMid(mid).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fmt.Errorf("%w: %w", errDuplicate, err)
	}
	return m, err
}

// RecordEcho handles what the Page sent and who holds the thread:
//
//   - an echo of a message SeaChat sent (its metadata or mid is ours) marks
//     that message SENT if it was not yet, and is otherwise ignored;
//   - any other echo, such as a human replying from Meta's Page Inbox, is
//     stored as an OUTBOUND AGENT message and, when the agent's
//     pauseBotOnEcho is on, takes a BOT or HANDOFF_REQUESTED conversation
//     over (→ HUMAN), so the bot stops answering there;
//   - a handover that gives the thread to the Page Inbox (take_thread_control,
//     or pass/request_thread_control naming the Page Inbox app) takes it over
//     likewise, whatever pauseBotOnEcho says: the Page Inbox owns the thread.
//
// Other handovers change nothing. It runs with system rights.
func (s *Service) RecordEcho(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) (err error) {
	defer apperr.Wrap(&err, "conversation.RecordEcho(%s %s)", ev.Kind, ev.MID)
	ctx = auth.SystemContext(ctx)
	if ch == nil {
		return apperr.Errorf(apperr.InvalidArgument, "no channel")
	}
	psid := ev.PSID()
	if psid == "" {
		return apperr.Errorf(apperr.InvalidArgument, "the event names no person")
	}
	switch ev.Kind {
	case messenger.KindEcho:
		return s.recordEcho(ctx, ch, psid, ev)
	case messenger.KindTakeThreadControl:
		return s.takeOver(ctx, ch, psid)
	case messenger.KindPassThreadControl:
		if ev.NewOwnerAppID == PageInboxAppID {
			return s.takeOver(ctx, ch, psid)
		}
		return nil
	case messenger.KindRequestThreadControl:
		if ev.RequestedOwnerAppID == PageInboxAppID {
			return s.takeOver(ctx, ch, psid)
		}
		return nil
	}
	return apperr.Errorf(apperr.InvalidArgument, "a %s event is not an echo or a handover", ev.Kind)
}

func (s *Service) recordEcho(ctx context.Context, ch *ent.MessengerChannel, psid string, ev messenger.Event) error {
	now := s.now()
	if id, ok := parseMetadata(ev.Metadata); ok {
		return s.confirmSent(ctx, ch.ID, id, ev.MID, now)
	}
	if ev.MID != "" {
		exists, err := s.db(ctx).Message.Query().Where(message.ChannelID(ch.ID), message.Mid(ev.MID)).Exist(ctx)
		if err != nil || exists {
			return err // our own send, or a redelivered echo
		}
	}
	sentBy := PageInboxSender
	if ev.AppID != "" && ev.AppID != PageInboxAppID {
		sentBy = "Meta app " + ev.AppID
	}
	at := eventTime(ev, now)
	err := s.inThread(ctx, ch, psid, at, now, func(t *txScope, _ *ent.Contact, conv *ent.Conversation, created bool) error {
		create := t.client.Message.Create().
			SetWorkspaceID(conv.WorkspaceID).SetConversationID(conv.ID).SetChannelID(ch.ID).
			SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorAGENT).SetSentBy(sentBy).
			SetText(cleanText(ev.Text)).SetDeliveryStatus(message.DeliveryStatusSENT).
			SetEventTime(at).SetCreatedAt(now).SetUpdatedAt(now)
		if atts := attachments(ev.Attachments); len(atts) > 0 {
			create.SetAttachments(atts)
		}
		m, err := insertOnce(ctx, create, ev.MID)
		if err != nil {
			return err // errDuplicate rolls back: a redelivered echo
		}
		ag, err := t.client.Agent.Get(ctx, conv.AgentID)
		if err != nil {
			return err
		}
		u := t.client.Conversation.UpdateOneID(conv.ID).SetLastMessageAt(maxTime(at, &conv.LastMessageAt))
		tookOver := ag.PauseBotOnEcho &&
			(conv.Status == conversation.StatusBOT || conv.Status == conversation.StatusHANDOFF_REQUESTED)
		if tookOver {
			u.SetStatus(conversation.StatusHUMAN).SetAssignedTo(sentBy)
		}
		if conv, err = u.Save(ctx); err != nil {
			return err
		}
		switch {
		case created:
			t.publish(conversationEvent(conv, KindCreated))
		case tookOver:
			t.publish(conversationEvent(conv, KindUpdated))
		}
		t.publish(messageEvent(conv, m.ID))
		return nil
	})
	if errors.Is(err, errDuplicate) {
		return nil
	}
	return err
}

// confirmSent applies the echo of a message SeaChat sent: Meta delivered it,
// even if our send call failed or has not returned yet.
func (s *Service) confirmSent(ctx context.Context, channelID, messageID int, mid string, now time.Time) error {
	u := s.db(ctx).Message.Update().
		Where(message.ID(messageID), message.ChannelID(channelID),
			message.Or(message.DeliveryStatusNEQ(message.DeliveryStatusSENT), message.MidIsNil())).
		SetDeliveryStatus(message.DeliveryStatusSENT).ClearError().SetUpdatedAt(now)
	if mid != "" {
		taken, err := s.db(ctx).Message.Query().
			Where(message.ChannelID(channelID), message.Mid(mid), message.IDNEQ(messageID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !taken {
			u.SetMid(mid)
		}
	}
	_, err := u.Save(ctx)
	return err
}

// takeOver moves the person's conversation, if there is one, to HUMAN for
// the Page Inbox.
func (s *Service) takeOver(ctx context.Context, ch *ent.MessengerChannel, psid string) error {
	convID, err := s.db(ctx).Conversation.Query().
		Where(conversation.ChannelID(ch.ID), conversation.HasContactWith(contact.ChannelID(ch.ID), contact.Psid(psid))).
		OnlyID(ctx)
	if ent.IsNotFound(err) {
		return nil // the bot never starts a conversation, nor does a handover
	}
	if err != nil {
		return err
	}
	now := s.now()
	return s.inTx(ctx, func(t *txScope) error {
		c, ok, err := t.transition(ctx, convID, from(conversation.StatusBOT, conversation.StatusHANDOFF_REQUESTED),
			func(u *ent.ConversationUpdate) {
				u.SetStatus(conversation.StatusHUMAN).SetAssignedTo(PageInboxSender)
			}, now)
		if err != nil || !ok {
			return err
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
}

func metadata(messageID int) string { return metadataPrefix + strconv.Itoa(messageID) }

func parseMetadata(md string) (int, bool) {
	rest, ok := strings.CutPrefix(md, metadataPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(rest)
	return id, err == nil && id > 0
}

// eventTime is the Messenger timestamp of ev, or now when Meta sent none
// or sent one later than now. A signed event may still carry any timestamp
// (a bug, a clock far off, a replayed test payload); one in the future would
// sort its conversation above every other until that date and stretch the
// reply window past what Meta allows, so it counts as recorded now. Past
// timestamps are kept: the reply window runs from Meta's time, not ours.
// now is when the event is recorded, just after it was received.
func eventTime(ev messenger.Event, now time.Time) time.Time {
	if ev.Timestamp.IsZero() || ev.Timestamp.After(now) {
		return now
	}
	return ev.Timestamp
}

// attachments converts a webhook's attachments for storage, keeping only
// http(s) links (see webURL).
func attachments(in []messenger.Attachment) []schematype.Attachment {
	var out []schematype.Attachment
	for _, a := range in {
		t := cleanText(strings.TrimSpace(a.Type))
		if t == "" {
			t = "unknown"
		}
		out = append(out, schematype.Attachment{Type: t, URL: webURL(cleanText(a.URL))})
	}
	return out
}

// webURL returns raw when it is an absolute http or https URL with a host,
// else "". Attachment URLs come from webhook bodies, which anyone holding
// the app secret can write, and every client renders them as links: a
// javascript: or data: URL would run script in the console's origin when
// clicked. The attachment is still stored, without its link.
func webURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return raw
	}
	return ""
}
