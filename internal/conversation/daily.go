package conversation

import (
	"context"
	"time"

	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/apperr"
)

// MaxDays bounds the days Daily returns.
const MaxDays = 366

// DayCount is one day (UTC) of an agent's activity.
type DayCount struct {
	// Day is the day's start, UTC midnight.
	Day time.Time
	// Conversations is the number of conversations in which people wrote
	// that day.
	Conversations int
	// Handoffs is the number of conversations whose latest handoff request
	// was that day.
	Handoffs int
}

// Daily returns one DayCount per UTC day of the stats' range, oldest first,
// days without activity included. An unbounded range is cut to the MaxDays
// days before its end (or now).
func (s *Service) Daily(ctx context.Context, st *AgentStats) (days []*DayCount, err error) {
	defer apperr.Wrap(&err, "conversation.Daily(%d)", st.Agent.ID)
	end := s.now()
	if st.To != nil {
		end = *st.To
	}
	start := end.AddDate(0, 0, -30)
	if st.From != nil {
		start = *st.From
	}
	first := start.UTC().Truncate(24 * time.Hour)
	last := end.UTC().Truncate(24 * time.Hour) // the day of end, included
	if last.Equal(end.UTC()) {
		last = last.AddDate(0, 0, -1) // an exclusive end at midnight adds no day
	}
	// Cut by dates before subtracting: time.Sub saturates at 292 years,
	// so a range such as 0001 to 9999 would otherwise count wrong days.
	if earliest := last.AddDate(0, 0, 1-MaxDays); first.Before(earliest) {
		first = earliest
	}
	n := int(last.Sub(first).Hours()/24) + 1
	if n < 1 {
		return []*DayCount{}, nil
	}
	days = make([]*DayCount, n)
	for i := range days {
		days[i] = &DayCount{Day: first.AddDate(0, 0, i)}
	}
	index := func(t time.Time) (int, bool) {
		i := int(t.UTC().Sub(first).Hours() / 24)
		return i, i >= 0 && i < n && t.Before(end)
	}

	// Loaded in the zone timestamps are written in: SQLite compares them as text.
	loc := s.now().Location()
	lo, hi := first.In(loc), end.In(loc)
	var inbound []struct {
		ConversationID int       `sql:"conversation_id"`
		CreatedAt      time.Time `sql:"created_at"`
	}
	err = s.client.Message.Query().
		Where(message.HasConversationWith(conversation.AgentID(st.Agent.ID)),
			message.DirectionEQ(message.DirectionINBOUND),
			message.CreatedAtGTE(lo), message.CreatedAtLT(hi)).
		Select(message.FieldConversationID, message.FieldCreatedAt).Scan(ctx, &inbound)
	if err != nil {
		return nil, err
	}
	seen := map[[2]int]bool{}
	for _, m := range inbound {
		if i, ok := index(m.CreatedAt); ok && !seen[[2]int{i, m.ConversationID}] {
			seen[[2]int{i, m.ConversationID}] = true
			days[i].Conversations++
		}
	}
	var requested []struct {
		At time.Time `sql:"handoff_requested_at"`
	}
	err = s.client.Conversation.Query().
		Where(conversation.AgentID(st.Agent.ID), conversation.HandoffRequestedAtGTE(lo), conversation.HandoffRequestedAtLT(hi)).
		Select(conversation.FieldHandoffRequestedAt).Scan(ctx, &requested)
	if err != nil {
		return nil, err
	}
	for _, r := range requested {
		if i, ok := index(r.At); ok {
			days[i].Handoffs++
		}
	}
	return days, nil
}
