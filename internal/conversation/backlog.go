package conversation

import (
	"context"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/viewer"
)

// Backlog is what waits in a workspace: events not handled yet and replies
// not sent yet, with the age of the oldest of each.
type Backlog struct {
	PendingEvents             int
	OldestPendingEventSeconds *float64
	PendingReplies            int
	OldestPendingReplySeconds *float64
}

// Backlog returns the viewer's workspace's backlog. Only OWNER tokens may
// read it: it says how busy the whole workspace is.
func (s *Service) Backlog(ctx context.Context) (_ *Backlog, err error) {
	defer apperr.Wrap(&err, "conversation.Backlog")
	if v, ok := viewer.FromContext(ctx); !ok || v.Role != viewer.RoleOwner {
		return nil, apperr.Errorf(apperr.PermissionDenied, "the backlog is for OWNER tokens: ask a workspace owner")
	}
	now := s.now()
	events := s.client.InboxEvent.Query().Where(inboxevent.StatusEQ(inboxevent.StatusPENDING))
	replies := s.client.Message.Query().Where(message.DirectionEQ(message.DirectionOUTBOUND),
		message.DeliveryStatusEQ(message.DeliveryStatusPENDING), message.AuthorNEQ(message.AuthorNOTE))
	b := &Backlog{}
	if b.PendingEvents, err = events.Clone().Count(ctx); err != nil {
		return nil, err
	}
	if b.PendingReplies, err = replies.Clone().Count(ctx); err != nil {
		return nil, err
	}
	if b.PendingEvents > 0 {
		e, err := events.Order(ent.Asc(inboxevent.FieldReceivedAt)).First(ctx)
		if err != nil {
			return nil, err
		}
		b.OldestPendingEventSeconds = ptr(max(now.Sub(e.ReceivedAt).Seconds(), 0))
	}
	if b.PendingReplies > 0 {
		m, err := replies.Order(ent.Asc(message.FieldCreatedAt)).First(ctx)
		if err != nil {
			return nil, err
		}
		b.OldestPendingReplySeconds = ptr(max(now.Sub(m.CreatedAt).Seconds(), 0))
	}
	return b, nil
}

func ptr[T any](v T) *T { return &v }
