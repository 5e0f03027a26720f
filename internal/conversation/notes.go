package conversation

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/apperr"
)

// AddNote stores an internal note from the viewer (its token name becomes
// sentBy) in the conversation: author NOTE, OUTBOUND, RECEIVED, because
// there is nothing to deliver. A note is never sent to Meta, does not
// move lastUserMessageAt or the messaging window, counts in no statistic
// of replies and is left out of the bot's history; it is published like
// any message and shown in transcripts. It works in any status, CLOSED
// included. Text over MaxAgentMessageLength characters, or blank, is
// InvalidArgument.
func (s *Service) AddNote(ctx context.Context, convID int, text string) (m *ent.Message, err error) {
	defer apperr.Wrap(&err, "conversation.AddNote(%d)", convID)
	text = strings.TrimSpace(cleanText(text))
	if text == "" {
		return nil, apperr.Errorf(apperr.InvalidArgument, "text: write the note")
	}
	if n := utf8.RuneCountInString(text); n > MaxAgentMessageLength {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"text: a note can have at most %d characters and this one has %d; shorten it", MaxAgentMessageLength, n)
	}
	name := actorName(ctx)
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		c, err := t.lock(ctx, convID)
		if err != nil {
			return err
		}
		m, err = t.client.Message.Create().
			SetWorkspaceID(c.WorkspaceID).SetConversationID(c.ID).SetChannelID(c.ChannelID).
			SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorNOTE).SetSentBy(name).
			SetText(text).SetDeliveryStatus(message.DeliveryStatusRECEIVED).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		if err := t.client.Conversation.Update().Where(conversation.ID(c.ID)).
			SetLastMessageAt(maxTime(now, &c.LastMessageAt)).Exec(ctx); err != nil {
			return err
		}
		t.publish(messageEvent(c, m.ID))
		return nil
	})
	return detach(ctx, m), err
}
