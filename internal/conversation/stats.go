package conversation

import (
	"context"
	"math"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/agent"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/apperr"
)

// Limits of AgentStats.
const (
	// TopQuestions is how many groups of unanswered questions AgentStats
	// returns.
	TopQuestions = 10
	// MaxGroupedQuestions is how many unanswered questions, the most recent
	// of the range, AgentStats groups.
	MaxGroupedQuestions = 5000
)

// AgentStats are an agent's figures over a time range. Messages count when
// they were stored in the range; a bot reply split into several messages
// counts once.
type AgentStats struct {
	Agent *ent.Agent
	// From and To are the range: From inclusive, To exclusive; nil is
	// unbounded.
	From, To *time.Time
	// Conversations is the number of conversations with a message in the
	// range.
	Conversations int
	// InboundMessages is the number of messages people sent.
	InboundMessages int
	// BotReplies is the number of inbound messages the bot replied to (as
	// BOT, not with handoff notices), answered or not.
	BotReplies int
	// BotAnswers is the number of bot replies that answered from the
	// knowledge base.
	BotAnswers int
	// Unanswered is the number of bot replies that had no answer (the
	// fallback message).
	Unanswered int
	// Handoffs is the number of conversations whose latest handoff request
	// falls in the range.
	Handoffs int
	// MedianHandoffAcceptMs is the median time from a handoff request to
	// a human taking the conversation over, over the conversations whose
	// latest request is in the range and was taken over; nil without any.
	MedianHandoffAcceptMs *int
	// MedianFirstHumanReplyMs is the median time from a handoff request to
	// the first AGENT message after it, over the same conversations; nil
	// without any.
	MedianFirstHumanReplyMs *int
	// MedianBotReplyMs is the median time from an inbound message being
	// stored to the bot's reply being stored, in milliseconds; nil without
	// bot replies.
	MedianBotReplyMs *int
	// UnansweredQuestionGroups are the questions of Unanswered grouped
	// with their near-duplicates, most frequent first, at most TopQuestions.
	UnansweredQuestionGroups []QuestionGroup
	// TopUnansweredQuestions is the representative question of each group.
	TopUnansweredQuestions []string
}

// AgentStats computes the agent's figures over [from, to) with a handful of
// aggregate queries; only the texts of unanswered questions (at most
// MaxGroupedQuestions) are loaded, to be grouped. An agent outside the
// viewer's workspace is NotFound; from after to is InvalidArgument.
func (s *Service) AgentStats(ctx context.Context, agentID int, from, to *time.Time) (st *AgentStats, err error) {
	defer apperr.Wrap(&err, "conversation.AgentStats(%d)", agentID)
	if from != nil && to != nil && from.After(*to) {
		return nil, apperr.Errorf(apperr.InvalidArgument, "from must not be after to")
	}
	ag, err := s.client.Agent.Query().Where(agent.ID(agentID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.NotFound, "agent %d not found", agentID)
	}
	if err != nil {
		return nil, err
	}
	// Bounds in the zone timestamps are written in: SQLite compares them
	// as text.
	loc := s.now().Location()
	if from != nil {
		f := from.In(loc)
		from = &f
	}
	if to != nil {
		t := to.In(loc)
		to = &t
	}
	st = &AgentStats{Agent: ag, From: from, To: to}
	inRange := createdIn(from, to)
	// Internal notes are staff's, not part of any exchange with the person.
	ofAgent := message.And(message.HasConversationWith(entconv.AgentID(agentID)), message.AuthorNEQ(message.AuthorNOTE))

	var counts []struct {
		Conversations int `sql:"conversations"`
		Inbound       int `sql:"inbound"`
		Replies       int `sql:"replies"`
		Answered      int `sql:"answered"`
		Unanswered    int `sql:"unanswered"`
	}
	err = s.client.Message.Query().Where(ofAgent, inRange).Modify(func(q *sql.Selector) {
		bot := sql.EQ(q.C(message.FieldAuthor), message.AuthorBOT)
		replyTo := q.C(message.FieldInReplyToID)
		q.Select().
			AppendSelectExprAs(sql.Raw("COUNT(DISTINCT "+q.C(message.FieldConversationID)+")"), "conversations").
			AppendSelectExprAs(countWhen(sql.EQ(q.C(message.FieldDirection), message.DirectionINBOUND)), "inbound").
			AppendSelectExprAs(countDistinctWhen(replyTo, bot), "replies").
			AppendSelectExprAs(countDistinctWhen(replyTo, sql.And(bot, sql.EQ(q.C(message.FieldAnswered), true))), "answered").
			AppendSelectExprAs(countDistinctWhen(replyTo, sql.And(bot, sql.EQ(q.C(message.FieldAnswered), false))), "unanswered")
	}).Scan(ctx, &counts)
	if err != nil {
		return nil, err
	}
	if len(counts) == 1 {
		c := counts[0]
		st.Conversations, st.InboundMessages = c.Conversations, c.Inbound
		st.BotReplies, st.BotAnswers, st.Unanswered = c.Replies, c.Answered, c.Unanswered
	}

	handoffs := []predicate.Conversation{entconv.AgentID(agentID), entconv.HandoffRequestedAtNotNil()}
	if from != nil {
		handoffs = append(handoffs, entconv.HandoffRequestedAtGTE(*from))
	}
	if to != nil {
		handoffs = append(handoffs, entconv.HandoffRequestedAtLT(*to))
	}
	if st.Handoffs, err = s.client.Conversation.Query().Where(handoffs...).Count(ctx); err != nil {
		return nil, err
	}

	if st.MedianBotReplyMs, err = s.medianReplyMs(ctx, ofAgent, inRange, st.BotReplies); err != nil {
		return nil, err
	}
	if err := s.handoffMedians(ctx, st, agentID, from, to); err != nil {
		return nil, err
	}

	questions, err := s.client.Message.Query().
		Where(unansweredQuestions(agentID, from, to)).
		Order(ent.Desc(message.FieldID)).Limit(MaxGroupedQuestions).
		Select(message.FieldText).Strings(ctx)
	if err != nil {
		return nil, err
	}
	st.UnansweredQuestionGroups = GroupQuestions(questions, TopQuestions)
	st.TopUnansweredQuestions = make([]string, len(st.UnansweredQuestionGroups))
	for i, g := range st.UnansweredQuestionGroups {
		st.TopUnansweredQuestions[i] = g.Question
	}
	return st, nil
}

// medianReplyMs is the median delay of the agent's n bot replies in the
// range (per question: the first part of a split reply): the database
// orders the delays and returns only the middle one or two.
func (s *Service) medianReplyMs(ctx context.Context, ofAgent, inRange predicate.Message, n int) (*int, error) {
	if n == 0 {
		return nil, nil
	}
	var rows []struct {
		Question int     `sql:"in_reply_to_id"`
		Delay    float64 `sql:"delay"`
	}
	limit := 1 + (1 - n%2) // the two middle values when n is even
	err := s.client.Message.Query().
		Where(ofAgent, inRange, message.AuthorEQ(message.AuthorBOT), message.InReplyToIDNotNil()).
		Modify(func(q *sql.Selector) {
			question := sql.Table(message.Table).As("question")
			q.Join(question).On(q.C(message.FieldInReplyToID), question.C(message.FieldID))
			delay := epochMs(q.Dialect(), q.C(message.FieldCreatedAt)) + " - " +
				epochMs(q.Dialect(), question.C(message.FieldCreatedAt))
			q.Select(q.C(message.FieldInReplyToID)).
				AppendSelectExprAs(sql.Raw("MIN("+delay+")"), "delay").
				GroupBy(q.C(message.FieldInReplyToID)).
				OrderExpr(sql.Expr("delay")).
				Limit(limit).Offset((n - 1) / 2)
		}).Scan(ctx, &rows)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	var sum float64
	for _, r := range rows {
		sum += r.Delay
	}
	ms := int(math.Round(max(sum/float64(len(rows)), 0)))
	return &ms, nil
}

// createdIn matches messages stored in [from, to).
func createdIn(from, to *time.Time) predicate.Message {
	var ps []predicate.Message
	if from != nil {
		ps = append(ps, message.CreatedAtGTE(*from))
	}
	if to != nil {
		ps = append(ps, message.CreatedAtLT(*to))
	}
	return message.And(ps...)
}

// unansweredQuestions matches the inbound messages of the agent that a BOT
// reply stored in [from, to) could not answer.
func unansweredQuestions(agentID int, from, to *time.Time) predicate.Message {
	return func(s *sql.Selector) {
		replies := sql.Dialect(s.Dialect()).Select(message.FieldInReplyToID).From(sql.Table(message.Table))
		conds := []*sql.Predicate{
			sql.EQ(message.FieldAuthor, message.AuthorBOT),
			sql.EQ(message.FieldAnswered, false),
			sql.In(message.FieldConversationID, sql.Dialect(s.Dialect()).Select(entconv.FieldID).
				From(sql.Table(entconv.Table)).Where(sql.EQ(entconv.FieldAgentID, agentID))),
		}
		if from != nil {
			conds = append(conds, sql.GTE(message.FieldCreatedAt, *from))
		}
		if to != nil {
			conds = append(conds, sql.LT(message.FieldCreatedAt, *to))
		}
		s.Where(sql.In(s.C(message.FieldID), replies.Where(sql.And(conds...))))
	}
}

func countWhen(cond *sql.Predicate) sql.Querier {
	return sql.ExprFunc(func(b *sql.Builder) {
		b.WriteString("COUNT(CASE WHEN ").Join(cond).WriteString(" THEN 1 END)")
	})
}

func countDistinctWhen(column string, cond *sql.Predicate) sql.Querier {
	return sql.ExprFunc(func(b *sql.Builder) {
		b.WriteString("COUNT(DISTINCT CASE WHEN ").Join(cond).WriteString(" THEN ").
			WriteString(column).WriteString(" END)")
	})
}

// epochMs is the SQL expression of the Unix time of the timestamp column
// col in milliseconds. PostgreSQL stores timestamptz. SQLite stores the text
// modernc.org/sqlite writes by default, Go's time.String(): "2006-01-02
// 15:04:05.999999999 -0700 MST" and possibly " m=±…", which SQLite's date
// functions cannot read; the expression takes it apart (and reads ISO 8601
// text, should the format ever change).
func epochMs(d, col string) string {
	if d == dialect.Postgres {
		return "(EXTRACT(EPOCH FROM " + col + ") * 1000)"
	}
	// p is where the zone offset starts: after the space that follows the
	// seconds and their optional fraction.
	p := "(19 + instr(substr(" + col + ", 20), ' '))"
	return "(CASE WHEN unixepoch(" + col + ", 'subsec') IS NOT NULL THEN unixepoch(" + col + ", 'subsec') * 1000.0" +
		" ELSE unixepoch(substr(" + col + ", 1, 19)) * 1000.0" +
		" + CASE WHEN substr(" + col + ", 20, 1) = '.' THEN CAST('0' || substr(" + col + ", 20, " + p + " - 20) AS REAL) * 1000.0 ELSE 0 END" +
		" - CASE substr(" + col + ", " + p + " + 1, 1) WHEN '-' THEN -1 ELSE 1 END" +
		" * (CAST(substr(" + col + ", " + p + " + 2, 2) AS INTEGER) * 60 + CAST(substr(" + col + ", " + p + " + 4, 2) AS INTEGER)) * 60000.0" +
		" END)"
}
