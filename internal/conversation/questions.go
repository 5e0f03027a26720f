package conversation

import (
	"slices"
	"strings"

	"github.com/seachat/seachat/internal/text"
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
// terms as internal/text reads them in their language (without punctuation
// and stop words such as "when", "are", "you", stemmed): "When are you open
// on Sunday?", "when r u open sunday" and "Are you open on Sundays??" are
// one group, and so are "Wann habt ihr sonntags offen?" and "sonntag
// offen?". A question joins the first group whose leading wording shares
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
	lang := dominantLanguage(questions)
	for i, q := range questions {
		text := oneLine(q)
		if text == "" {
			continue
		}
		words := questionWords(text, lang)
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

// questionWords returns the distinct terms of a question read in its
// language (text.Terms: no stop words, stemmed), or in lang when it does
// not tell, sorted; only stop words and punctuation gives none.
func questionWords(q string, lang text.Language) []string {
	if l := text.Detect(q); l != text.Unknown {
		lang = l
	}
	words := text.Terms(lang, q)
	slices.Sort(words)
	return slices.Compact(words)
}

// dominantLanguage returns the language most of questions are in, English
// when none tells.
func dominantLanguage(questions []string) text.Language {
	count := map[text.Language]int{}
	best := text.English
	for _, q := range questions {
		if l := text.Detect(q); l != text.Unknown {
			count[l]++
			if count[l] > count[best] {
				best = l
			}
		}
	}
	return best
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
