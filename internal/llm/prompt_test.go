package llm

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestBuildPrompt(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Prompt
	}{
		{"full", Prompt{
			Instructions: "You are the assistant of Acme Shoes. Sign off as \"Acme team\".",
			Question:     "  Can I send back sale items?  ",
			Passages: []Passage{
				{SourceID: 3, Title: "Returns", Text: "You can return unworn items within 30 days of delivery.\nSale items are final sale.", Score: 0.92},
				{SourceID: 7, Text: "Q: How do I start a return?\nA: Email support@acme.example with your order number.", Score: 0.71},
			},
			History: []Turn{
				{Role: "user", Text: "turn 1 (dropped: only the last 6 are kept)"},
				{Role: "user", Text: "Hi"},
				{Role: "assistant", Text: "Hello! How can I help?"},
				{Role: "user", Text: "I bought   shoes\nlast week."},
				{Role: "agent", Text: "Hi, this is Ana from the store."},
				{Role: "user", Text: "Thanks Ana"},
				{Role: "assistant", Text: "You're welcome."},
			},
		}},
		{"minimal", Prompt{
			Question: "Are you open on Sunday?",
			Passages: []Passage{{Title: "Hours", Text: "Open Monday to Saturday, 9 a.m. to 6 p.m."}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildPrompt(tt.p)
			path := filepath.Join("testdata", "prompt_"+tt.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			require.Equal(t, string(want), got)
		})
	}
}

func TestParseReply(t *testing.T) {
	for _, tt := range []struct {
		name string
		out  string
		want Reply
	}{
		{"json", `{"answer": "We open at 9.", "answered": true, "sources": [2, 1, 2]}`,
			Reply{Text: "We open at 9.", Answered: true, Used: []int{0, 1}}},
		{"fenced json", "```json\n{\"answer\": \"We open at 9.\", \"answered\": true, \"sources\": [\"1\"]}\n```",
			Reply{Text: "We open at 9.", Answered: true, Used: []int{0}}},
		{"answered false", `{"answer": "", "answered": false, "sources": []}`, Reply{}},
		{"sentinel with answered true", `{"answer": "NO_ANSWER", "answered": true}`, Reply{}},
		{"no answered field", `{"answer": "We open at 9.", "sources": [3]}`,
			Reply{Text: "We open at 9.", Answered: true}},
		{"plain text", "We open at 9 [2].", Reply{Text: "We open at 9 [2].", Answered: true, Used: []int{1}}},
		{"plain sentinel", " NO_ANSWER\n", Reply{}},
		{"empty", "", Reply{}},
		{"other json", `{"text": "We open at 9."}`, Reply{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, parseReply(tt.out, 2))
		})
	}
}

// TestParseReplyKeepsLongAnswers: a long answer comes back whole; the
// conversation package splits it into Messenger-sized messages (API.md:
// Gemini's answer is sent whole, never cut off).
func TestParseReplyKeepsLongAnswers(t *testing.T) {
	long := strings.Repeat("Our e-bikes come with a two-year warranty on the battery. ", 80)
	got := parseReply(`{"answer": "`+long+`", "answered": true, "sources": [1]}`, 1)
	require.True(t, got.Answered)
	require.Equal(t, strings.TrimSpace(long), got.Text)
	require.Greater(t, len(got.Text), 4500)
}

func TestParseCutReply(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		want      Reply
	}{
		{"cut inside the answer", `{"answer": "The battery has a two-year warranty. Repairs take two days. We also off`,
			Reply{Text: "The battery has a two-year warranty. Repairs take two days.", Answered: true}},
		{"cut in an escape", `{"answer": "It costs \"49 EUR\". Bring it \`,
			Reply{Text: `It costs "49 EUR".`, Answered: true}},
		{"no whole sentence", `{"answer": "The battery has a two-ye`, Reply{}},
		{"cut after the answer", `{"answer": "Two years.", "answered": true, "sour`, Reply{Text: "Two years.", Answered: true}},
		{"whole JSON", `{"answer": "Two years.", "answered": true, "sources": [1]}`, Reply{Text: "Two years.", Answered: true, Used: []int{0}}},
		{"no answer", `{"answer": "NO_ANSWER. Sorr`, Reply{}},
		{"other JSON cut", `{"text": "We open at 9.`, Reply{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, parseCutReply(tt.out, 1))
		})
	}
}
