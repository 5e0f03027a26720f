package conversation_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/internal/conversation"
)

func TestReplyWindow(t *testing.T) {
	last := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day, week := 24*time.Hour, 7*24*time.Hour
	for _, tt := range []struct {
		name  string
		last  *time.Time
		age   time.Duration
		want  conversation.WindowState
		endAt time.Time
	}{
		{name: "never wrote", want: conversation.WindowClosed},
		{name: "just now", last: &last, age: 0, want: conversation.WindowStandard, endAt: last.Add(day)},
		{name: "clock skew", last: &last, age: -time.Minute, want: conversation.WindowStandard, endAt: last.Add(day)},
		{name: "24h less 1ms", last: &last, age: day - time.Millisecond, want: conversation.WindowStandard, endAt: last.Add(day)},
		{name: "24h exactly", last: &last, age: day, want: conversation.WindowHumanAgentTag, endAt: last.Add(week)},
		{name: "3 days", last: &last, age: 3 * day, want: conversation.WindowHumanAgentTag, endAt: last.Add(week)},
		{name: "7d less 1ms", last: &last, age: week - time.Millisecond, want: conversation.WindowHumanAgentTag, endAt: last.Add(week)},
		{name: "7d exactly", last: &last, age: week, want: conversation.WindowClosed},
		{name: "a month", last: &last, age: 30 * day, want: conversation.WindowClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := conversation.ReplyWindow(&ent.Conversation{LastUserMessageAt: tt.last}, last.Add(tt.age))
			require.Equal(t, tt.want, w.State)
			if tt.endAt.IsZero() {
				require.Nil(t, w.EndsAt)
			} else {
				require.NotNil(t, w.EndsAt)
				require.True(t, tt.endAt.Equal(*w.EndsAt), "endsAt %v, want %v", *w.EndsAt, tt.endAt)
			}
		})
	}
	require.Equal(t, conversation.WindowClosed, conversation.ReplyWindow(nil, last).State)
}

func TestWindowStateGQL(t *testing.T) {
	var b bytes.Buffer
	conversation.WindowHumanAgentTag.MarshalGQL(&b)
	require.Equal(t, `"HUMAN_AGENT_TAG"`, b.String())
	var s conversation.WindowState
	require.NoError(t, s.UnmarshalGQL("STANDARD"))
	require.Equal(t, conversation.WindowStandard, s)
	require.Error(t, s.UnmarshalGQL("OPEN"))
	require.Error(t, s.UnmarshalGQL(3))
}

func TestNormalizeTags(t *testing.T) {
	many := make([]string, 21)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	for _, tt := range []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{name: "nil", in: nil, want: []string{}},
		{name: "trim, dedupe, drop empty", in: []string{" vip ", "", "vip", "  ", "refund", "VIP"}, want: []string{"vip", "refund", "VIP"}},
		{name: "50 characters", in: []string{string(bytes.Repeat([]byte("é"), 25)) + string(bytes.Repeat([]byte("x"), 25))}, want: []string{string(bytes.Repeat([]byte("é"), 25)) + string(bytes.Repeat([]byte("x"), 25))}},
		{name: "51 characters", in: []string{string(bytes.Repeat([]byte("x"), 51))}, wantErr: true},
		{name: "20 tags", in: many[:20], want: many[:20]},
		{name: "21 tags", in: many, wantErr: true},
		{name: "21 with a duplicate", in: append(append([]string{}, many[:20]...), "a"), want: many[:20]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := conversation.NormalizeTags(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
