package conversation

import (
	"context"
	"math"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
)

// handoffMedians fills st's MedianHandoffAcceptMs and
// MedianFirstHumanReplyMs over the agent's conversations whose latest
// handoff request is in [from, to): the database computes one delay per
// conversation, and the medians are taken here.
func (s *Service) handoffMedians(ctx context.Context, st *AgentStats, agentID int, from, to *time.Time) error {
	inRange := func(q *sql.Selector, col string) {
		q.Where(sql.And(sql.EQ(q.C(entconv.FieldAgentID), agentID), sql.NotNull(col)))
		if from != nil {
			q.Where(sql.GTE(col, *from))
		}
		if to != nil {
			q.Where(sql.LT(col, *to))
		}
	}
	var accepts []struct {
		Delay float64 `sql:"delay"`
	}
	err := s.client.Conversation.Query().Modify(func(q *sql.Selector) {
		requested := q.C(entconv.FieldHandoffRequestedAt)
		delay := epochMs(q.Dialect(), q.C(entconv.FieldHandoffAcceptedAt)) + " - " + epochMs(q.Dialect(), requested)
		inRange(q, requested)
		q.Where(sql.And(sql.NotNull(q.C(entconv.FieldHandoffAcceptedAt)), sql.P(func(b *sql.Builder) {
			b.WriteString(delay + " >= 0")
		})))
		q.Select().AppendSelectExprAs(sql.Raw(delay), "delay")
	}).Scan(ctx, &accepts)
	if err != nil {
		return err
	}
	delays := make([]float64, len(accepts))
	for i, a := range accepts {
		delays[i] = a.Delay
	}
	st.MedianHandoffAcceptMs = median(delays)

	var replies []struct {
		Conversation int     `sql:"conversation_id"`
		Delay        float64 `sql:"delay"`
	}
	err = s.client.Message.Query().Where(message.AuthorEQ(message.AuthorAGENT)).Modify(func(q *sql.Selector) {
		conv := sql.Table(entconv.Table).As("conv")
		q.Join(conv).On(q.C(message.FieldConversationID), conv.C(entconv.FieldID))
		requested := conv.C(entconv.FieldHandoffRequestedAt)
		delay := epochMs(q.Dialect(), q.C(message.FieldCreatedAt)) + " - " + epochMs(q.Dialect(), requested)
		q.Where(sql.And(sql.EQ(conv.C(entconv.FieldAgentID), agentID), sql.NotNull(requested)))
		if from != nil {
			q.Where(sql.GTE(requested, *from))
		}
		if to != nil {
			q.Where(sql.LT(requested, *to))
		}
		q.Where(sql.P(func(b *sql.Builder) { b.WriteString(delay + " >= 0") }))
		q.Select(q.C(message.FieldConversationID)).
			AppendSelectExprAs(sql.Raw("MIN("+delay+")"), "delay").
			GroupBy(q.C(message.FieldConversationID))
	}).Scan(ctx, &replies)
	if err != nil {
		return err
	}
	delays = delays[:0]
	for _, r := range replies {
		delays = append(delays, r.Delay)
	}
	st.MedianFirstHumanReplyMs = median(delays)
	return nil
}

// median of xs in whole milliseconds; nil when xs is empty.
func median(xs []float64) *int {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	ms := int(math.Round(max(m, 0)))
	return &ms
}
