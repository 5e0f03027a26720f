package eval

import (
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/seachat/seachat/ent"
)

// The baseline is a yardstick written for the evaluation, not SeaChat's
// retrieval: Okapi BM25 over the same passages (heading and text), words
// lowercased but not stemmed, no stop words, no FAQ matching, no
// follow-ups. It answers with the first sentence of the top passage when
// that passage's score reaches a threshold, else with the fallback; it
// hands off only on the exact handoff command.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// baselinePassages is how deep the baseline's ranking is read for
	// recall and MRR, as deep as Service.Passages by default.
	baselinePassages = 5
	// handoffCommand is the agents' default handoff command.
	handoffCommand = "/agent"
)

type bm25 struct {
	chunks []*ent.KnowledgeChunk
	terms  []map[string]int // term frequencies per chunk
	length []int
	avg    float64
	df     map[string]int
}

func newBM25(chunks []*ent.KnowledgeChunk) *bm25 {
	x := &bm25{chunks: chunks, df: map[string]int{}}
	total := 0
	for _, c := range chunks {
		tf := map[string]int{}
		words := words(c.Heading + "\n" + c.Text)
		for _, w := range words {
			tf[w]++
		}
		for w := range tf {
			x.df[w]++
		}
		x.terms = append(x.terms, tf)
		x.length = append(x.length, len(words))
		total += len(words)
	}
	if len(chunks) > 0 {
		x.avg = float64(total) / float64(len(chunks))
	}
	return x
}

// words splits text into lowercase runs of letters and digits.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// rank returns the chunk indexes by descending score, with their scores,
// leaving out chunks that share no word with the query.
func (x *bm25) rank(query string) (ids []int, scores []float64) {
	q := words(query)
	n := float64(len(x.chunks))
	score := make([]float64, len(x.chunks))
	for i, tf := range x.terms {
		for _, w := range q {
			f := float64(tf[w])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(x.df[w])+0.5)/(float64(x.df[w])+0.5))
			score[i] += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(x.length[i])/x.avg))
		}
		if score[i] > 0 {
			ids = append(ids, i)
		}
	}
	slices.SortStableFunc(ids, func(a, b int) int {
		switch {
		case score[a] > score[b]:
			return -1
		case score[a] < score[b]:
			return 1
		}
		return 0
	})
	for _, i := range ids {
		scores = append(scores, score[i])
	}
	return ids, scores
}

// Outcome0 fields the calibration needs.
type baselineState struct {
	handoff bool
	hit     bool // the top passage's first sentence holds every fact
}

// outcome scores m; decide settles it once the threshold is known.
func (x *bm25) outcome(m Message, docs map[int]string) Outcome0 {
	var o Outcome0
	if m.Event != EventQuickReply && m.Event != EventPostback && strings.EqualFold(strings.TrimSpace(m.Text), handoffCommand) {
		o.state.handoff = true
		return o
	}
	ids, scores := x.rank(m.Text)
	if len(ids) == 0 {
		return o
	}
	top := x.chunks[ids[0]]
	o.Score = scores[0]
	if s := sentences(strings.Join(strings.Fields(top.Text), " ")); len(s) > 0 {
		o.Reply = s[0]
	}
	o.state.hit = m.Label == LabelAnswer && containsAll(o.Reply, m.Facts)
	if m.Label == LabelAnswer {
		for i, id := range ids[:min(baselinePassages, len(ids))] {
			c := x.chunks[id]
			if docs[c.SourceID] == m.Source && containsAny(c.Text, m.Facts) {
				o.Rank = i + 1
				break
			}
		}
	}
	return o
}

// decide sets the baseline's outcome given the score threshold.
func (o *Outcome0) decide(m Message, threshold float64) {
	switch {
	case o.state.handoff:
		o.Got = OutcomeHandoff
	case o.Score > 0 && o.Score >= threshold:
		o.Got = OutcomeAnswer
		o.Correct = o.state.hit
	default:
		o.Got, o.Reply = OutcomeFallback, ""
	}
}

// calibrate picks the baseline's threshold on the tune split: the top
// score that best separates correct answers from questions that should
// get the fallback (most correct answers plus fallbacks, lowest threshold
// on ties).
func calibrate(outcomes []Outcome) float64 {
	var candidates []float64
	for _, o := range outcomes {
		if o.Message.Split == SplitTune && o.Baseline.Score > 0 {
			candidates = append(candidates, o.Baseline.Score)
		}
	}
	slices.Sort(candidates)
	best, bestGood := math.Inf(1), -1
	for _, t := range append(candidates, math.Inf(1)) {
		good := 0
		for _, o := range outcomes {
			if o.Message.Split != SplitTune {
				continue
			}
			answered := o.Baseline.Score > 0 && o.Baseline.Score >= t
			switch o.Message.Label {
			case LabelAnswer:
				if answered && o.Baseline.state.hit {
					good++
				}
			case LabelFallback:
				if !answered {
					good++
				}
			}
		}
		if good > bestGood {
			best, bestGood = t, good
		}
	}
	return best
}
