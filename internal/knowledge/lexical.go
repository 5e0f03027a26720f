package knowledge

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// BM25 parameters: the usual defaults, which suit passages of a few
// hundred words.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Hit is a search result: the id a text was added under and its score.
// Higher scores are better; scores from different searches are not
// comparable.
type Hit struct {
	ID    int
	Score float64
}

// Index is an in-memory BM25 index over short texts such as chunks. It is
// a cache: rebuild it from the database after a restart. It is safe for
// concurrent use.
type Index struct {
	mu       sync.RWMutex
	postings map[string]map[int]int // term → id → term frequency
	docs     map[int]indexedDoc
	totalLen int
}

// indexedDoc is what the index keeps of one text.
type indexedDoc struct {
	terms  []string // distinct terms, for Remove
	length int      // number of tokens
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{postings: map[string]map[int]int{}, docs: map[int]indexedDoc{}}
}

// Add indexes text under id, replacing any text already there.
func (x *Index) Add(id int, text string) {
	tokens := tokenize(text)
	tf := map[string]int{}
	for _, t := range tokens {
		tf[t]++
	}
	terms := make([]string, 0, len(tf))
	for t := range tf {
		terms = append(terms, t)
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(id)
	for t, n := range tf {
		p := x.postings[t]
		if p == nil {
			p = map[int]int{}
			x.postings[t] = p
		}
		p[id] = n
	}
	x.docs[id] = indexedDoc{terms: terms, length: len(tokens)}
	x.totalLen += len(tokens)
}

// Remove drops the text indexed under id, if any.
func (x *Index) Remove(id int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(id)
}

// remove drops id; x.mu must be held for writing.
func (x *Index) remove(id int) {
	d, ok := x.docs[id]
	if !ok {
		return
	}
	for _, t := range d.terms {
		p := x.postings[t]
		delete(p, id)
		if len(p) == 0 {
			delete(x.postings, t)
		}
	}
	x.totalLen -= d.length
	delete(x.docs, id)
}

// Len returns how many texts are indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.docs)
}

// Search returns the k texts that best match query by BM25, best first,
// with ties broken by lower id. Texts that share no term with the query
// are not returned.
func (x *Index) Search(query string, k int) []Hit {
	if k <= 0 {
		return nil
	}
	terms := tokenize(query)
	slices.Sort(terms)
	terms = slices.Compact(terms)

	x.mu.RLock()
	defer x.mu.RUnlock()
	n := float64(len(x.docs))
	if n == 0 {
		return nil
	}
	avgLen := float64(x.totalLen) / n
	scores := map[int]float64{}
	for _, t := range terms {
		p := x.postings[t]
		if len(p) == 0 {
			continue
		}
		df := float64(len(p))
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for id, tf := range p {
			f := float64(tf)
			norm := bm25K1 * (1 - bm25B + bm25B*float64(x.docs[id].length)/avgLen)
			scores[id] += idf * f * (bm25K1 + 1) / (f + norm)
		}
	}
	hits := make([]Hit, 0, len(scores))
	for id, s := range scores {
		hits = append(hits, Hit{ID: id, Score: s})
	}
	sortHits(hits)
	return hits[:min(k, len(hits))]
}

// sortHits orders hits by score, best first, then by id.
func sortHits(hits []Hit) {
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// stopwords are common English words that carry no meaning for search.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about an and are as at be been but by can could did do does
		for from had has have how i if in into is it its me my of on or our so than that the their
		them then there these they this to was we were what when where which who why will with would
		you your`) {
		m[w] = true
	}
	return m
}()

// tokenize splits text into the terms the index uses: runs of letters and
// digits, lowercased, without stopwords or single letters, and lightly
// stemmed so that "returns", "returned" and "returning" match "return".
func tokenize(text string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		f = strings.ToLower(f)
		if stopwords[f] || len([]rune(f)) == 1 && !unicode.IsDigit([]rune(f)[0]) {
			continue
		}
		out = append(out, stem(f))
	}
	return out
}

// stem strips common English inflections: plurals, -ing, -ed and a final
// e. It is deliberately light; both the texts and the queries go through
// it, so it only has to be consistent, not linguistically right.
func stem(w string) string {
	if len(w) <= 3 || !isASCIILetters(w) {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zes"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	for _, suf := range []string{"ing", "ed"} {
		if strings.HasSuffix(w, suf) && len(w)-len(suf) >= 3 {
			w = w[:len(w)-len(suf)]
			// shipping → shipp → ship
			if n := len(w); w[n-1] == w[n-2] && !strings.ContainsRune("aeiouls", rune(w[n-1])) {
				w = w[:n-1]
			}
			break
		}
	}
	if strings.HasSuffix(w, "e") && len(w) > 3 {
		w = w[:len(w)-1]
	}
	return w
}

// isASCIILetters reports whether w is made of a–z only.
func isASCIILetters(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}
