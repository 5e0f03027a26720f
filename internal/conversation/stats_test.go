package conversation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// asks records a person's question at the fixture clock's time.
func asks(t *testing.T, f *ct.Fixture, ch *ent.MessengerChannel, psid, mid, text string) *ent.Message {
	t.Helper()
	in, err := f.Service.RecordInbound(context.Background(), ch, ct.Text(psid, mid, text, f.Clock.Now()))
	require.NoError(t, err)
	return in.Message
}

// botReplies answers q after delay, from the knowledge base or not.
func botReplies(t *testing.T, f *ct.Fixture, q *ent.Message, delay time.Duration, answered bool, text string) {
	t.Helper()
	f.Clock.Advance(delay)
	r := conversation.Reply{Text: text, Answered: &answered, OfferHandoff: !answered}
	_, err := f.Service.ReplyTo(context.Background(), q, r)
	require.NoError(t, err)
	_, err = f.Service.SendDue(context.Background()) // the outbox
	require.NoError(t, err)
}

func TestAgentStats(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		f := ct.NewFixture(t, st)
		ch := f.Channel
		fallback := "Sorry, I don't have an answer to that yet."

		// Day 1.
		q1 := asks(t, f, ch, "7001", "m1", "When are you open?")
		botReplies(t, f, q1, 2*time.Second, true, "We open at 9.")
		f.Clock.Advance(time.Minute)
		q2 := asks(t, f, ch, "7001", "m2", "Do you sell pizza?")
		botReplies(t, f, q2, 4*time.Second, false, fallback)
		f.Clock.Advance(time.Minute)
		q3 := asks(t, f, ch, "7002", "m3", "When are you open on Sunday?")
		botReplies(t, f, q3, time.Second, false, fallback)
		f.Clock.Advance(time.Minute)
		q4 := asks(t, f, ch, "7002", "m4", "/agent")
		_, err := f.Service.ReplyTo(context.Background(), q4, conversation.Reply{
			Author: message.AuthorSYSTEM, Text: "A human will reply.", RequestHandoff: true})
		require.NoError(t, err)
		q5 := asks(t, f, ch, "7002", "m5", "hello?") // during the handoff: no reply
		require.NoError(t, f.Service.MarkHandled(context.Background(), q5))
		f.Clock.Advance(time.Minute)
		q6 := asks(t, f, ch, "7003", "m6", "when r u open sunday??")
		botReplies(t, f, q6, 3*time.Second, false, fallback)
		f.Clock.Advance(time.Minute)
		q7 := asks(t, f, ch, "7003", "m7", "Tell me everything about your bikes")
		long := strings.Repeat("Our bikes are great. ", 220) // three messages
		botReplies(t, f, q7, 5*time.Second, true, long)
		n, err := f.Client.Message.Query().Where(message.InReplyToID(q7.ID)).Count(ct.Sys())
		require.NoError(t, err)
		require.Equal(t, 3, n, "the long answer is split")

		// Day 2.
		day2 := ct.Start.Add(24 * time.Hour)
		f.Clock.Set(day2)
		q8 := asks(t, f, ch, "7001", "m8", "Are you open on Sundays?")
		botReplies(t, f, q8, 6*time.Second, false, fallback)

		// Another agent of the workspace, and another workspace: not counted.
		sys := ct.Sys()
		other, err := f.Client.Agent.Create().SetWorkspaceID(f.Workspace.ID).SetName("Other").Save(sys)
		require.NoError(t, err)
		otherCh, err := f.Client.MessengerChannel.Create().SetWorkspaceID(f.Workspace.ID).SetAgentID(other.ID).
			SetWebhookKey("key-other-" + t.Name()).SetVerifyToken("v").SetPageID("555").Save(sys)
		require.NoError(t, err)
		x := asks(t, f, otherCh, "9001", "x1", "Do you sell pizza?")
		botReplies(t, f, x, time.Hour, false, fallback)
		foreign := foreignChannel(t, f)
		y := asks(t, f, foreign, "9002", "y1", "Do you sell pizza?")
		botReplies(t, f, y, time.Hour, false, fallback)

		viewer := f.Staff("dana")
		stats := func(from, to *time.Time) *conversation.AgentStats {
			t.Helper()
			s, err := f.Service.AgentStats(viewer, f.Agent.ID, from, to)
			require.NoError(t, err)
			require.Equal(t, f.Agent.ID, s.Agent.ID)
			return s
		}
		ms := func(n int) *int { return &n }
		at := func(tm time.Time) *time.Time { return &tm }

		all := stats(nil, nil)
		require.Equal(t, 3, all.Conversations)
		require.Equal(t, 8, all.InboundMessages)
		require.Equal(t, 6, all.BotReplies, "a reply in three parts counts once; the handoff notice not at all")
		require.Equal(t, 2, all.BotAnswers)
		require.Equal(t, 4, all.Unanswered)
		require.Equal(t, 1, all.Handoffs)
		require.Equal(t, ms(3500), all.MedianBotReplyMs, "median of 1, 2, 3, 4, 5 and 6 s")
		require.Equal(t, []string{"Are you open on Sundays?", "Do you sell pizza?"}, all.TopUnansweredQuestions)
		require.Equal(t, []conversation.QuestionGroup{{Question: "Are you open on Sundays?", Count: 3},
			{Question: "Do you sell pizza?", Count: 1}}, all.UnansweredQuestionGroups)

		day1 := stats(at(ct.Start), at(day2))
		require.Equal(t, 3, day1.Conversations)
		require.Equal(t, 7, day1.InboundMessages)
		require.Equal(t, 5, day1.BotReplies)
		require.Equal(t, 2, day1.BotAnswers)
		require.Equal(t, 3, day1.Unanswered)
		require.Equal(t, 1, day1.Handoffs)
		require.Equal(t, ms(3000), day1.MedianBotReplyMs, "median of 1, 2, 3, 4 and 5 s")
		require.Equal(t, []string{"when r u open sunday??", "Do you sell pizza?"}, day1.TopUnansweredQuestions)

		// The same range written in another zone.
		india := time.FixedZone("IST", 5*3600+1800)
		require.Equal(t, day1.InboundMessages, stats(at(ct.Start.In(india)), at(day2.In(india))).InboundMessages)

		later := stats(at(day2), nil)
		require.Equal(t, 1, later.Conversations)
		require.Equal(t, 1, later.InboundMessages)
		require.Equal(t, 1, later.BotReplies)
		require.Equal(t, 0, later.BotAnswers)
		require.Equal(t, 1, later.Unanswered)
		require.Equal(t, 0, later.Handoffs)
		require.Equal(t, ms(6000), later.MedianBotReplyMs)
		require.Equal(t, []string{"Are you open on Sundays?"}, later.TopUnansweredQuestions)

		none := stats(nil, at(ct.Start))
		require.Zero(t, none.Conversations+none.InboundMessages+none.BotReplies+none.Handoffs)
		require.Nil(t, none.MedianBotReplyMs)
		require.NotNil(t, none.TopUnansweredQuestions)
		require.Empty(t, none.TopUnansweredQuestions)

		_, err = f.Service.AgentStats(viewer, f.Agent.ID, at(day2), at(ct.Start))
		require.ErrorIs(t, err, apperr.InvalidArgument)
		_, err = f.Service.AgentStats(viewer, foreign.AgentID, nil, nil)
		require.ErrorIs(t, err, apperr.NotFound, "another workspace's agent")
		_, err = f.Service.AgentStats(viewer, 1<<30, nil, nil)
		require.ErrorIs(t, err, apperr.NotFound)
	})
}

func TestGroupQuestions(t *testing.T) {
	for _, tt := range []struct {
		name      string
		questions []string // most recent first
		limit     int
		want      []conversation.QuestionGroup
	}{
		{name: "none", want: []conversation.QuestionGroup{}},
		{
			name: "near duplicates",
			questions: []string{
				"Do you ship to France?", "When are you open on Sunday?", "when r u open sunday",
				"Are you open on Sundays??", "  Do you ship   to France? ", "Where's your shop?",
			},
			limit: 10,
			want: []conversation.QuestionGroup{
				{Question: "When are you open on Sunday?", Count: 3},
				{Question: "Do you ship to France?", Count: 2},
				{Question: "Where's your shop?", Count: 1},
			},
		},
		{
			name:      "different topics stay apart",
			questions: []string{"Do you ship to France?", "Do you ship to Germany?", "Open on Saturday?", "Open on Sunday?"},
			limit:     10,
			want: []conversation.QuestionGroup{
				{Question: "Do you ship to France?", Count: 1}, {Question: "Do you ship to Germany?", Count: 1},
				{Question: "Open on Saturday?", Count: 1}, {Question: "Open on Sunday?", Count: 1},
			},
		},
		{
			name:      "most frequent wording wins, then the most recent",
			questions: []string{"price of a city bike?", "City bike price", "city bike price", "City bike prices?"},
			limit:     10,
			want:      []conversation.QuestionGroup{{Question: "City bike price", Count: 4}},
		},
		{
			name:      "german",
			questions: []string{"Wann habt ihr sonntags offen?", "sonntag offen?", "Versand nach Österreich?"},
			limit:     10,
			want: []conversation.QuestionGroup{
				{Question: "Wann habt ihr sonntags offen?", Count: 2}, {Question: "Versand nach Österreich?", Count: 1},
			},
		},
		{
			name:      "spanish without accents",
			questions: []string{"¿Hacéis envíos a Canarias?", "hay envios a canarias"},
			limit:     10,
			want:      []conversation.QuestionGroup{{Question: "¿Hacéis envíos a Canarias?", Count: 2}},
		},
		{
			name:      "curly apostrophes and contractions",
			questions: []string{"Don’t you deliver?", "don't you deliver"},
			limit:     10,
			want:      []conversation.QuestionGroup{{Question: "Don’t you deliver?", Count: 2}},
		},
		{
			name:      "stopwords only and punctuation match exactly",
			questions: []string{"What?", "what?", "??", "Why?", "?? "},
			limit:     10,
			want: []conversation.QuestionGroup{
				{Question: "What?", Count: 2}, {Question: "??", Count: 2}, {Question: "Why?", Count: 1},
			},
		},
		{
			name:      "limit",
			questions: []string{"a1", "b2", "b2", "c3", "c3", "c3"},
			limit:     2,
			want:      []conversation.QuestionGroup{{Question: "c3", Count: 3}, {Question: "b2", Count: 2}},
		},
		{name: "blank", questions: []string{"", "  "}, limit: 3, want: []conversation.QuestionGroup{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, conversation.GroupQuestions(tt.questions, tt.limit))
		})
	}
}
