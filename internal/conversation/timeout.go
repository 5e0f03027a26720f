package conversation

import (
	"context"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/agent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
)

// HandoffTimeoutMessage tells the person that nobody took their handoff
// request in time and the bot answers again.
const HandoffTimeoutMessage = "Sorry, nobody from our team could reply in time. I'm back to help: " +
	"ask me anything, or ask for a person again later."

// ExpireHandoffs returns to the bot every HANDOFF_REQUESTED conversation
// whose agent's handoffTimeoutSeconds has passed since the request, and tells
// the person so. Safe to run from several replicas at once: the guarded
// transition lets one of them act on each conversation. It returns how many
// conversations it returned to the bot.
func (s *Service) ExpireHandoffs(ctx context.Context) (n int, err error) {
	defer apperr.Wrap(&err, "conversation.ExpireHandoffs")
	ctx = auth.SystemContext(ctx)
	now := s.now()
	waiting, err := s.client.Conversation.Query().
		Where(conversation.StatusEQ(conversation.StatusHANDOFF_REQUESTED),
			conversation.HasAgentWith(agent.HandoffTimeoutSecondsGT(0))).
		WithAgent().All(ctx)
	if err != nil {
		return 0, err
	}
	for _, c := range waiting {
		timeout := time.Duration(*c.Edges.Agent.HandoffTimeoutSeconds) * time.Second
		if c.HandoffRequestedAt == nil || now.Before(c.HandoffRequestedAt.Add(timeout)) {
			continue
		}
		var (
			cur    *ent.Conversation
			notice *ent.Message
		)
		err := s.inTx(ctx, func(t *txScope) error {
			var ok bool
			cur, ok, err = t.transition(ctx, c.ID, from(conversation.StatusHANDOFF_REQUESTED),
				func(u *ent.ConversationUpdate) { u.SetStatus(conversation.StatusBOT) }, now)
			if err != nil || !ok {
				return err
			}
			t.publish(conversationEvent(cur, KindUpdated))
			notice, err = t.client.Message.Create().
				SetWorkspaceID(cur.WorkspaceID).SetConversationID(cur.ID).SetChannelID(cur.ChannelID).
				SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorSYSTEM).
				SetText(HandoffTimeoutMessage).SetDeliveryStatus(message.DeliveryStatusPENDING).
				SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
			if err != nil {
				return err
			}
			return t.client.Conversation.UpdateOneID(cur.ID).SetLastMessageAt(maxTime(now, &cur.LastMessageAt)).Exec(ctx)
		})
		if err != nil {
			return n, err
		}
		if notice == nil {
			continue // another replica, or the person's staff, got there first
		}
		n++
		err = s.sendAll(ctx, cur, []*ent.Message{notice}, func(*ent.Message) messenger.SendRequest {
			return messenger.SendRequest{Type: messenger.MessagingResponse}
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// RunHandoffTimeouts calls ExpireHandoffs every interval until ctx is done.
func (s *Service) RunHandoffTimeouts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.ExpireHandoffs(ctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("returning timed-out handoffs to the bot", "error", err)
			}
		}
	}
}
