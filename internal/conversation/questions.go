package conversation

import (
	"slices"
	"strings"
	"unicode"
)

// QuestionGroup is a question people asked and its near-duplicates.
type QuestionGroup struct {
	// Question is the group's most frequent wording, ignoring case (the
	// most recent of equally frequent ones), with white space collapsed.
	Question string
	// Count is how many times a question of the group was asked.
	Count int
}

// SimilarQuestions is the least token overlap (Jaccard index of the
// normalised words) at which two questions are grouped.
const SimilarQuestions = 0.6

// GroupQuestions groups near-duplicate questions and returns the limit
// largest groups, largest first (ties: the group asked most recently
// first). questions come most recent first. Questions are compared by their
// normalised words (lower case, without punctuation and common English
// words such as "when", "are", "you", plural s removed): "When are you open
// on Sunday?", "when r u open sunday" and "Are you open on Sundays??" are
// one group. A question joins the first group whose leading wording shares
// at least SimilarQuestions of their words, so groups do not drift.
func GroupQuestions(questions []string, limit int) []QuestionGroup {
	type variant struct {
		key      string
		words    []string
		count    int
		first    int // index of its most recent question
		wordings map[string]*wording
	}
	variants := map[string]*variant{}
	var order []*variant
	for i, q := range questions {
		text := oneLine(q)
		if text == "" {
			continue
		}
		words := questionWords(text)
		key := strings.Join(words, " ")
		if key == "" {
			key = "\x00" + strings.ToLower(text) // nothing to compare: exact matches only
		}
		v := variants[key]
		if v == nil {
			v = &variant{key: key, words: words, first: i, wordings: map[string]*wording{}}
			variants[key] = v
			order = append(order, v)
		}
		v.count++
		lower := strings.ToLower(text)
		w := v.wordings[lower]
		if w == nil {
			w = &wording{text: text, first: i}
			v.wordings[lower] = w
		}
		w.count++
	}
	// The most frequent variants lead the groups they start.
	slices.SortStableFunc(order, func(a, b *variant) int { return b.count - a.count })

	type group struct {
		words    []string
		count    int
		first    int
		wordings map[string]*wording
	}
	var groups []*group
	for _, v := range order {
		var g *group
		for _, cand := range groups {
			if len(v.words) > 0 && jaccard(cand.words, v.words) >= SimilarQuestions {
				g = cand
				break
			}
		}
		if g == nil {
			g = &group{words: v.words, first: v.first, wordings: map[string]*wording{}}
			groups = append(groups, g)
		}
		g.count += v.count
		g.first = min(g.first, v.first)
		for text, w := range v.wordings {
			if have := g.wordings[text]; have != nil {
				have.count += w.count
				have.first = min(have.first, w.first)
			} else {
				g.wordings[text] = &wording{text: w.text, count: w.count, first: w.first}
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		if a.count != b.count {
			return b.count - a.count
		}
		return a.first - b.first
	})
	out := []QuestionGroup{}
	for _, g := range groups {
		if len(out) == limit {
			break
		}
		var best *wording
		for _, w := range g.wordings {
			if best == nil || w.count > best.count || (w.count == best.count && w.first < best.first) {
				best = w
			}
		}
		out = append(out, QuestionGroup{Question: best.text, Count: g.count})
	}
	return out
}

type wording struct {
	text  string
	count int
	first int
}

// questionWords returns the distinct normalised words of a question,
// sorted; only stopwords and punctuation gives none.
func questionWords(q string) []string {
	q = strings.NewReplacer("\u2019", "'", "\u2018", "'").Replace(strings.ToLower(q))
	fields := strings.FieldsFunc(q, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\''
	})
	var words []string
	for _, f := range fields {
		f = strings.Trim(f, "'")
		f, _ = strings.CutSuffix(f, "'s")
		f = strings.ReplaceAll(f, "'", "") // don't → dont
		if f == "" || stopwords[f] {
			continue
		}
		words = append(words, singular(f))
	}
	slices.Sort(words)
	return slices.Compact(words)
}

// singular strips a plural s: "sundays" → "sunday", "deliveries" →
// "delivery"; short words and "ss", "us", "is" endings stay.
func singular(w string) string {
	switch {
	case len(w) <= 3:
		return w
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") &&
		!strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

func jaccard(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inter := 0
	for _, w := range a {
		if _, ok := slices.BinarySearch(b, w); ok {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// stopwords are common English words that carry little of a question's
// topic, chat shorthand included.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		a an the and or but if so than then too very just also
		i me my mine we us our ours you your yours u ur r ya he she it its they them their
		am is are was were be been being do does did doing done have has had having
		can could would will shall should may might must
		to of in on at by for with from about into onto over under up down out off as
		this that these those there here
		what whats when where which who whom whose why how
		any some much many more most such
		please pls plz thanks thank thx hi hello hey ok okay
		tell know want like get got let lets im ive id dont
	`) {
		m[w] = true
	}
	return m
}()
