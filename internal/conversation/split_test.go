package conversation_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/conversation/conversationtest"
)

// checkParts asserts the contract of Split: parts fit, are not blank, have
// no whitespace at their ends, and give the text back.
func checkParts(t *testing.T, text string, limit int, parts []string) {
	t.Helper()
	for i, p := range parts {
		require.True(t, utf8.ValidString(p), "part %d is not valid UTF-8", i)
		require.LessOrEqual(t, utf8.RuneCountInString(p), limit, "part %d has too many runes", i)
		require.LessOrEqual(t, len(utf16.Encode([]rune(p))), limit, "part %d has too many UTF-16 units", i)
		require.NotEmpty(t, strings.TrimSpace(p), "part %d is blank", i)
		require.Equal(t, strings.TrimSpace(p), p, "part %d has whitespace at its ends", i)
	}
	require.Empty(t, conversationtest.Rejoin(text, parts))
}

func TestSplit(t *testing.T) {
	sentence := "Our shop on Harbor Street opens at nine every weekday. "
	long := strings.Repeat(sentence, 80) // 4400 characters
	for _, tt := range []struct {
		name  string
		text  string
		limit int
		want  []string // nil: see first and parts
		first string   // the first part, when set
		parts int      // the number of parts, when > 0
	}{
		{name: "empty", text: "", want: nil},
		{name: "blank", text: " \n\t ", want: nil},
		{name: "short", text: "  Hello there!  ", want: []string{"Hello there!"}},
		{name: "exactly the limit", text: strings.Repeat("a", 2000), want: []string{strings.Repeat("a", 2000)}},
		{name: "one over", text: strings.Repeat("a", 2001), parts: 2},
		{name: "sentences", text: "One two. Three four. Five six.", limit: 12,
			want: []string{"One two.", "Three four.", "Five six."}},
		{name: "prefers a sentence end", text: "Bikes are fun. We rent them daily here", limit: 26,
			want: []string{"Bikes are fun.", "We rent them daily here"}},
		{name: "words when the sentence end is too early", text: "Hi. We rent bikes and boats daily", limit: 20,
			want: []string{"Hi. We rent bikes", "and boats daily"}},
		{name: "words", text: "alpha beta gamma delta epsilon", limit: 11,
			want: []string{"alpha beta", "gamma delta", "epsilon"}},
		{name: "newline is a boundary", text: "first line\nsecond line here", limit: 20,
			want: []string{"first line", "second line here"}},
		{name: "no spaces", text: strings.Repeat("x", 25), limit: 10,
			want: []string{strings.Repeat("x", 10), strings.Repeat("x", 10), strings.Repeat("x", 5)}},
		{name: "CJK sentences", text: "自転車は毎日レンタルできます。営業時間は九時からです。", limit: 16,
			want: []string{"自転車は毎日レンタルできます。", "営業時間は九時からです。"}},
		{name: "emoji count twice", text: strings.Repeat("🚲", 6), limit: 5,
			want: []string{"🚲🚲", "🚲🚲", "🚲🚲"}},
		{name: "combining marks stay", text: "e\u0301e\u0301e\u0301e\u0301", limit: 3,
			want: []string{"e\u0301", "e\u0301", "e\u0301", "e\u0301"}},
		{name: "zwj sequence is not cut", text: "ab👩\u200d👩\u200d👧", limit: 4, first: "ab"},
		{name: "flags are not cut", text: "a🇫🇷🇩🇪", limit: 4, first: "a"},
		{name: "skin tone stays", text: "ab👍🏽", limit: 5, first: "ab"},
		{name: "long text", text: long, parts: 3},
		{name: "paragraphs stay whole", text: strings.Repeat(strings.Repeat("word ", 300)+"\n\n", 5), parts: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = conversation.MaxTextLength
			}
			got := conversation.Split(tt.text, tt.limit)
			switch {
			case tt.want != nil:
				require.Equal(t, tt.want, got)
			case tt.first != "":
				require.Equal(t, tt.first, got[0])
			case tt.parts > 0:
				require.Len(t, got, tt.parts)
			default:
				require.Empty(t, got)
			}
			checkParts(t, tt.text, limit, got)
		})
	}
}

func TestSplitLongAnswerCutsAfterSentences(t *testing.T) {
	sentence := "Our shop on Harbor Street opens at nine every weekday. "
	text := strings.Repeat(sentence, 80)
	parts := conversation.Split(text, 0)
	require.Len(t, parts, 3)
	for _, p := range parts {
		require.True(t, strings.HasSuffix(p, "weekday."), "cut inside a sentence: %q", p[len(p)-20:])
	}
	checkParts(t, text, conversation.MaxTextLength, parts)
}

// FuzzSplit checks the contract on arbitrary text and limits.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"Hello world. How are you?", "日本語のテキスト。次の文。", "👩‍👩‍👧 🇫🇷 e\u0301", "a\u00a0b\u3000c", "\xff\xfe bad utf8"} {
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if !utf8.ValidString(text) || limit < 2 || limit > 4000 {
			t.Skip()
		}
		parts := conversation.Split(text, limit)
		if strings.TrimFunc(text, unicode.IsSpace) == "" {
			require.Empty(t, parts)
			return
		}
		checkParts(t, text, limit, parts)
	})
}
