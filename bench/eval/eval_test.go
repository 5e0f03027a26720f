package eval_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/bench/eval"
)

// TestDataset checks the evaluation set's own integrity, not SeaChat's
// quality: enough messages, valid labels, facts that are really in their
// source documents as SeaChat reads them, about a third held out, and the
// formats a shop uploads.
func TestDataset(t *testing.T) {
	sets, err := eval.Load(".")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(sets), 3)
	total := 0
	for _, s := range sets {
		t.Run(s.Language, func(t *testing.T) {
			require.NoError(t, s.Validate())
			labels := map[string]int{}
			held := 0
			for _, m := range s.Messages {
				labels[m.Label]++
				if m.Split == eval.SplitHeldOut {
					held++
				}
			}
			n := float64(len(s.Messages))
			require.InDelta(t, 1.0/3, float64(held)/n, 0.05, "held-out share")
			require.InDelta(t, 0.6, float64(labels[eval.LabelAnswer])/n, 0.1, "answer share")
			require.InDelta(t, 0.2, float64(labels[eval.LabelFallback])/n, 0.07, "fallback share")
			require.InDelta(t, 0.1, float64(labels[eval.LabelHandoff])/n, 0.05, "handoff share")
			require.InDelta(t, 0.1, float64(labels[eval.LabelSmallTalk])/n, 0.05, "small talk share")

			formats := map[string]bool{}
			for name := range s.Docs {
				formats[strings.TrimPrefix(filepath.Ext(name), ".")] = true
			}
			for _, f := range []string{"md", "html", "txt", "csv"} {
				require.True(t, formats[f], "%s has no .%s document", s.Business, f)
			}
			require.True(t, formats["pdf"] || formats["docx"], "%s has no PDF or DOCX", s.Business)
		})
		total += len(s.Messages)
	}
	require.GreaterOrEqual(t, total, 250)
}

// TestRunSubset runs a few messages of every language end to end, so that
// a change that breaks the runner fails CI. It asserts how outcomes are
// classified, never how good they are.
func TestRunSubset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	picked := map[string]int{}
	res, err := eval.Run(ctx, eval.Options{Dir: ".", Keep: func(s *eval.Set, m eval.Message) bool {
		key := s.Language + "/" + m.Label + "/" + m.Event
		if m.Text == "/agent" {
			key += "/command"
		}
		picked[key]++
		return picked[key] <= 2
	}})
	require.NoError(t, err)
	require.NotEmpty(t, res.Outcomes)
	require.Greater(t, res.Chunks, 0)
	for _, o := range res.Outcomes {
		m := o.Message
		require.Contains(t, []string{eval.OutcomeAnswer, eval.OutcomeFallback, eval.OutcomeHandoff}, o.Got, m.ID)
		if m.Event == eval.EventQuickReply || m.Event == eval.EventPostback || m.Text == "/agent" {
			require.Equal(t, eval.OutcomeHandoff, o.Got, "%s: the handoff command and button always hand off", m.ID)
		}
		if o.Got == eval.OutcomeAnswer && m.Label == eval.LabelAnswer {
			require.Equal(t, eval.Contains(o.Reply, m.Facts[0]) && (len(m.Facts) == 1 || eval.Contains(o.Reply, m.Facts[1])), o.Correct, m.ID)
		}
		require.NotEmpty(t, o.Baseline.Got, m.ID)
	}
	require.True(t, slices.ContainsFunc(res.Outcomes, func(o eval.Outcome) bool { return o.Rank > 0 }),
		"knowledge.Service.Passages found no expected passage at all")
	report := eval.Report(res)
	require.Contains(t, report, "## Held out")
	require.Contains(t, report, "| **all** | SeaChat |")
}
