package conversation

import (
	"context"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/conversationread"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/apperr"
)

// UnreadCounts returns, for each of the conversations convIDs, how many
// messages the person (USER) wrote since the viewer's token last read it
// (MarkRead); all of them when it never did. It makes two queries however
// many conversations it is given (the read markers, then one grouped
// count), so a page of conversations costs the same as one. Conversations
// without unread messages, or that the viewer cannot see, are missing
// from the map (zero). The system, having no token, has nothing unread.
func (s *Service) UnreadCounts(ctx context.Context, convIDs []int) (counts map[int]int, err error) {
	defer apperr.Wrap(&err, "conversation.UnreadCounts")
	counts = make(map[int]int, len(convIDs))
	token := actorToken(ctx)
	if token == nil || len(convIDs) == 0 {
		return counts, nil
	}
	db := s.db(ctx)
	reads, err := db.ConversationRead.Query().
		Where(conversationread.TokenID(*token), conversationread.ConversationIDIn(convIDs...)).
		All(ctx)
	if err != nil {
		return nil, err
	}
	readUpTo := make(map[int]int, len(reads))
	for _, r := range reads {
		readUpTo[r.ConversationID] = r.LastReadMessageID
	}
	var never []int
	since := make([]predicate.Message, 0, len(reads)+1)
	for _, id := range convIDs {
		if last, ok := readUpTo[id]; ok {
			since = append(since, message.And(message.ConversationID(id), message.IDGT(last)))
		} else {
			never = append(never, id)
		}
	}
	if len(never) > 0 {
		since = append(since, message.ConversationIDIn(never...))
	}
	var rows []struct {
		ConversationID int `json:"conversation_id"`
		Count          int `json:"count"`
	}
	err = db.Message.Query().
		Where(message.AuthorEQ(message.AuthorUSER), message.Or(since...)).
		GroupBy(message.FieldConversationID).
		Aggregate(ent.Count()).
		Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		counts[r.ConversationID] = r.Count
	}
	return counts, nil
}

// MarkRead records that the viewer's token has read the conversation up
// to its newest message: its unread count becomes zero until the person
// writes again. A conversation the viewer cannot see is NotFound.
func (s *Service) MarkRead(ctx context.Context, convID int) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.MarkRead(%d)", convID)
	token := actorToken(ctx)
	if token == nil {
		return nil, apperr.Errorf(apperr.Unauthenticated, "marking read needs an API token")
	}
	db := s.db(ctx)
	c, err = db.Conversation.Query().Where(conversation.ID(convID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound(convID)
	}
	if err != nil {
		return nil, err
	}
	last, err := db.Message.Query().Where(message.ConversationID(convID)).
		Order(ent.Desc(message.FieldID)).FirstID(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	// Message ids only grow, so the newest mark is the furthest.
	err = db.ConversationRead.Create().
		SetWorkspaceID(c.WorkspaceID).SetTokenID(*token).SetConversationID(convID).
		SetLastReadMessageID(last).SetReadAt(s.now()).
		OnConflictColumns(conversationread.FieldTokenID, conversationread.FieldConversationID).
		UpdateLastReadMessageID().UpdateReadAt().
		Exec(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}
