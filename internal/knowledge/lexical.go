package knowledge

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
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
//
// Texts live in dense slots and each term's postings in a slice, so that a
// search adds up scores in an array rather than a map: at 100,000 chunks
// it takes about a millisecond. Remove only marks a slot dead; dead
// postings are skipped, and dropped in one pass once they are a good share
// of the index.
type Index struct {
	mu       sync.RWMutex
	termIDs  map[string]int32 // term → term number
	postings [][]posting      // by term number; may include dead slots
	df       []int32          // live texts containing each term
	slots    map[int]int32    // id → slot
	docs     []indexedDoc     // by slot
	live     int              // live slots
	dead     int              // dead slots, not yet compacted
	totalLen int              // tokens in live texts
	scratch  sync.Pool        // *searchScratch, for Search
}

// searchScratch is the memory one Search works in: a score per slot, all
// zero between searches, and the slots it touched.
type searchScratch struct {
	scores  []float64
	touched []int32
}

// posting says that the text in slot holds a term tf times.
type posting struct {
	slot int32
	tf   int32
}

// indexedDoc is what the index keeps of one text.
type indexedDoc struct {
	id     int
	length int32   // number of tokens; -1 for a dead slot
	terms  []int32 // distinct term numbers, sorted, for Remove and Coverage
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{termIDs: map[string]int32{}, slots: map[int]int32{}}
}

// Add indexes text under id, replacing any text already there.
func (x *Index) Add(id int, text string) {
	tokens := tokenize(text)
	tf := make(map[string]int32, len(tokens))
	for _, t := range tokens {
		tf[t]++
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(id)
	slot := int32(len(x.docs))
	terms := make([]int32, 0, len(tf))
	for t, n := range tf {
		tid, ok := x.termIDs[t]
		if !ok {
			tid = int32(len(x.postings))
			x.termIDs[strings.Clone(t)] = tid // not a window into text
			x.postings = append(x.postings, nil)
			x.df = append(x.df, 0)
		}
		x.postings[tid] = append(x.postings[tid], posting{slot: slot, tf: n})
		x.df[tid]++
		terms = append(terms, tid)
	}
	slices.Sort(terms)
	x.docs = append(x.docs, indexedDoc{id: id, length: int32(len(tokens)), terms: terms})
	x.slots[id] = slot
	x.live++
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
	slot, ok := x.slots[id]
	if !ok {
		return
	}
	d := &x.docs[slot]
	for _, t := range d.terms {
		x.df[t]--
	}
	x.totalLen -= int(d.length)
	*d = indexedDoc{length: -1}
	delete(x.slots, id)
	x.live--
	x.dead++
	if x.dead > 1024 && x.dead > x.live/2 {
		x.compact()
	}
}

// compact renumbers the live slots and drops dead postings; x.mu must be
// held for writing.
func (x *Index) compact() {
	renum := make([]int32, len(x.docs))
	docs := make([]indexedDoc, 0, x.live)
	for slot, d := range x.docs {
		renum[slot] = -1
		if d.length >= 0 {
			renum[slot] = int32(len(docs))
			x.slots[d.id] = int32(len(docs))
			docs = append(docs, d)
		}
	}
	for t, ps := range x.postings {
		kept := ps[:0]
		for _, p := range ps {
			if s := renum[p.slot]; s >= 0 {
				kept = append(kept, posting{slot: s, tf: p.tf})
			}
		}
		x.postings[t] = slices.Clip(kept)
	}
	x.docs = docs
	x.dead = 0
}

// Len returns how many texts are indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// queryTerms returns the distinct terms of query that the index knows, and
// the weights (BM25 IDF) of all its distinct terms, known or not;
// x.mu must be held.
func (x *Index) queryTerms(query string) (known []int32, weights []float64, knownWeight []float64) {
	terms := tokenize(query)
	slices.Sort(terms)
	terms = slices.Compact(terms)
	n := float64(x.live)
	for _, t := range terms {
		df := 0.0
		tid, ok := x.termIDs[t]
		if ok {
			df = float64(x.df[tid])
		}
		w := math.Log(1 + (n-df+0.5)/(df+0.5))
		weights = append(weights, w)
		if ok && df > 0 {
			known = append(known, tid)
			knownWeight = append(knownWeight, w)
		}
	}
	return known, weights, knownWeight
}

// Search returns the k texts that best match query by BM25, best first,
// with ties broken by lower id. Texts that share no term with the query
// are not returned.
func (x *Index) Search(query string, k int) []Hit {
	if k <= 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.live == 0 {
		return nil
	}
	terms, _, idf := x.queryTerms(query)
	if len(terms) == 0 {
		return nil
	}
	avgLen := float64(x.totalLen) / float64(x.live)

	sc, _ := x.scratch.Get().(*searchScratch)
	if sc == nil {
		sc = &searchScratch{}
	}
	if len(sc.scores) < len(x.docs) {
		sc.scores = make([]float64, len(x.docs)+len(x.docs)/4)
	}
	scores, touched := sc.scores, sc.touched[:0]
	for i, t := range terms {
		for _, p := range x.postings[t] {
			length := x.docs[p.slot].length
			if length < 0 {
				continue
			}
			f := float64(p.tf)
			norm := bm25K1 * (1 - bm25B + bm25B*float64(length)/avgLen)
			if scores[p.slot] == 0 {
				touched = append(touched, p.slot)
			}
			scores[p.slot] += idf[i] * f * (bm25K1 + 1) / (f + norm)
		}
	}

	// Keep the k best in a min-heap whose root is the worst kept.
	worse := func(a, b Hit) bool { return a.Score < b.Score || a.Score == b.Score && a.ID > b.ID }
	h := make([]Hit, 0, min(k, len(touched)))
	for _, slot := range touched {
		hit := Hit{ID: x.docs[slot].id, Score: scores[slot]}
		scores[slot] = 0
		switch {
		case len(h) < k:
			h = append(h, hit)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !worse(h[i], h[parent]) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
		case worse(h[0], hit):
			h[0] = hit
			for i := 0; ; {
				l, r, m := 2*i+1, 2*i+2, i
				if l < len(h) && worse(h[l], h[m]) {
					m = l
				}
				if r < len(h) && worse(h[r], h[m]) {
					m = r
				}
				if m == i {
					break
				}
				h[i], h[m] = h[m], h[i]
				i = m
			}
		}
	}
	sc.touched = touched
	x.scratch.Put(sc)
	sortHits(h)
	return h
}

// Coverage returns, for each of ids, how much of query the text indexed
// under it covers: the IDF-weighted share of the query's distinct terms
// that occur in the text, from 0 (none) to 1 (all). Unlike BM25 scores it
// does not depend on how long the query is or how many texts there are,
// so it can serve as a confidence threshold. A term that no indexed text
// contains weighs the most of all, so a question about something the
// knowledge base never mentions ("do you rent kayaks?") scores low even
// when its other words match. An id not in the index, or a query of
// stopwords only, scores 0.
func (x *Index) Coverage(query string, ids []int) []float64 {
	out := make([]float64, len(ids))
	x.mu.RLock()
	defer x.mu.RUnlock()
	known, weights, knownWeight := x.queryTerms(query)
	var total float64
	for _, w := range weights {
		total += w
	}
	if total == 0 {
		return out
	}
	for j, id := range ids {
		slot, ok := x.slots[id]
		if !ok {
			continue
		}
		var got float64
		for i, t := range known {
			if _, found := slices.BinarySearch(x.docs[slot].terms, t); found {
				got += knownWeight[i]
			}
		}
		out[j] = got / total
	}
	return out
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

// stopwords are words that say nothing about what a text or a question is
// about: common English function words, the pieces that splitting
// contractions leaves ("don't" → "don"), and the filler of chat messages
// ("hi, can you tell me … please"). Leaving the filler in would make a
// polite question look like one about things the knowledge base never
// mentions (see Coverage).
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about also am an and any are as at be been but by can could did do does
		doing done for from had has have how i if in into is it its just me my of on or our so some than
		that the their them then there these they this to too very was we were what whats when where
		which who why will with would you your yours
		don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn hadn ll re ve
		hi hello hey please pls plz thanks thank ok okay yes yeah want wanna need know tell like
		get got let may might must shall really much many anyone someone something thing things`) {
		m[w] = true
	}
	return m
}()

// tokenize splits text into the terms the index uses: runs of letters and
// digits, lowercased, without stopwords or single letters, and lightly
// stemmed so that "returns", "returned" and "returning" match "return".
func tokenize(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		r, size := decodeRune(text, i)
		if !isWordRune(r) {
			i += size
			continue
		}
		start, simple, runes := i, true, 0
		for i < len(text) {
			r, size = decodeRune(text, i)
			if !isWordRune(r) {
				break
			}
			if r >= utf8.RuneSelf || 'A' <= r && r <= 'Z' {
				simple = false
			}
			runes++
			i += size
		}
		w := text[start:i]
		if first, _ := decodeRune(w, 0); runes == 1 && !unicode.IsDigit(first) {
			continue // a single letter
		}
		if !simple {
			w = strings.ToLower(w)
		}
		if stopwords[w] {
			continue
		}
		if w = stem(w); stopwords[w] {
			continue // "thanks" → "thank"
		}
		out = append(out, w)
	}
	return out
}

// decodeRune returns the rune at text[i] and its size, quickly for ASCII.
func decodeRune(text string, i int) (rune, int) {
	if c := text[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(text[i:])
}

// isWordRune reports whether r is part of a word: a letter or a digit.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// stem strips common English inflections: plurals, -ing, -ed, a final y
// after a consonant and a final e. It is deliberately light; both the
// texts and the queries go through it, so it only has to be consistent,
// not linguistically right.
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
	if base, ok := strings.CutSuffix(w, "y"); ok && len(base) >= 4 && !strings.ContainsRune("aeiou", rune(base[len(base)-1])) {
		w = base // "delivery" → "deliver", to meet "deliver" and "delivered"
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
