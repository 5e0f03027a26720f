package knowledge

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/seachat/seachat/internal/text"
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
// Every text is read in its own language (internal/text: stop words and
// Snowball stemming), and a query in the language it is written in; a
// text or a query whose language cannot be told (a table of prices, "phone
// number?") is read in the index's dominant language, the one most of its
// texts are in. A query word the index does not know is matched to a known
// word one typo away (two for long words), see typoTerm.
//
// Texts live in dense slots and each term's postings in a slice, so that a
// search adds up scores in an array rather than a map: at 100,000 chunks
// it takes about a millisecond. Remove only marks a slot dead; dead
// postings are skipped, and dropped in one pass once they are a good share
// of the index.
type Index struct {
	mu       sync.RWMutex
	termIDs  map[string]int32      // term → term number
	postings [][]posting           // by term number; may include dead slots
	df       []int32               // live texts containing each term
	slots    map[int]int32         // id → slot
	docs     []indexedDoc          // by slot
	live     int                   // live slots
	dead     int                   // dead slots, not yet compacted
	totalLen int                   // tokens in live texts
	langs    map[text.Language]int // live texts per language
	vocab    map[typoKey][]int32   // term numbers by first byte and length, for typoTerm
	tails    map[string][]int32    // German compounds by the words they end with
	terms    []string              // by term number
	scratch  sync.Pool             // *searchScratch, for Search
}

// typoKey groups terms for the typo search: a misspelt word is looked up
// among the words of about its length that start like it.
type typoKey struct {
	first byte
	n     int // length in runes
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
	length int32         // number of tokens; -1 for a dead slot
	lang   text.Language // the language it was read in
	terms  []int32       // distinct term numbers, sorted, for Remove and Coverage
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{termIDs: map[string]int32{}, slots: map[int]int32{},
		langs: map[text.Language]int{}, vocab: map[typoKey][]int32{}, tails: map[string][]int32{}}
}

// Add indexes s under id, replacing any text already there, in the
// language text.Detect finds in it (the index's dominant language when it
// finds none).
func (x *Index) Add(id int, s string) {
	x.AddIn(id, text.Unknown, s)
}

// AddIn indexes s, written in lang, under id, replacing any text already
// there, and returns the language it was read in: an Unknown lang is
// detected as in Add.
func (x *Index) AddIn(id int, lang text.Language, s string) text.Language {
	if lang == text.Unknown {
		lang = text.Detect(s)
	}
	if lang == text.Unknown {
		lang = x.Dominant()
	}
	tokens := text.Keys(lang, s)
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
			t = strings.Clone(t) // not a window into s
			x.termIDs[t] = tid
			x.terms = append(x.terms, t)
			x.postings = append(x.postings, nil)
			x.df = append(x.df, 0)
			if k, ok := typoKeyOf(t); ok {
				x.vocab[k] = append(x.vocab[k], tid)
			}
			if lang == text.German && len(t) >= minCompound {
				for i := compoundHead; i+compoundTail <= len(t); i++ {
					if utf8.RuneStart(t[i]) {
						x.tails[t[i:]] = append(x.tails[t[i:]], tid)
					}
				}
			}
		}
		x.postings[tid] = append(x.postings[tid], posting{slot: slot, tf: n})
		x.df[tid]++
		terms = append(terms, tid)
	}
	slices.Sort(terms)
	x.docs = append(x.docs, indexedDoc{id: id, length: int32(len(tokens)), lang: lang, terms: terms})
	x.slots[id] = slot
	x.live++
	x.langs[lang]++
	x.totalLen += len(tokens)
	return lang
}

// Dominant returns the language most indexed texts are in (the first of
// text.Languages on a tie), English for an empty index.
func (x *Index) Dominant() text.Language {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dominant()
}

// dominant is Dominant; x.mu must be held.
func (x *Index) dominant() text.Language {
	best, n := text.English, 0
	for _, l := range text.Languages {
		if x.langs[l] > n {
			best, n = l, x.langs[l]
		}
	}
	return best
}

// shortQuery is the most words a query can have for its language to be
// taken from the index rather than from the query: two words say too
// little ("telefonnummer?", "precio envio").
const shortQuery = 2

// queryLanguage returns the language to read query in: the one it is
// written in when that can be told and the index holds texts in it, else
// the index's dominant language; x.mu must be held.
func (x *Index) queryLanguage(query string) text.Language {
	if len(text.Words(query)) > shortQuery {
		if l := text.Detect(query); l != text.Unknown && x.langs[l] > 0 {
			return l
		}
	}
	return x.dominant()
}

// QueryTerms returns the terms of query as the index reads it, and the
// language it reads it in.
func (x *Index) QueryTerms(query string) (text.Language, []string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	lang := x.queryLanguage(query)
	return lang, text.Keys(lang, query)
}

// QueryLanguage returns the language the index reads query in: the one it
// is written in when that can be told and the index holds texts in it,
// else the dominant one.
func (x *Index) QueryLanguage(query string) text.Language {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.queryLanguage(query)
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
	x.langs[d.lang]--
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

// typoWeight is how much a query word matched to a known word one or two
// typos away counts, against the word itself: a guess counts a little
// less than the word.
const typoWeight = 0.8

// termWeights returns, for a query's terms in lang as QueryTerms returns
// them (it sorts them), the term numbers the index matches them to (the
// term itself, a typo or longer or shorter form of it, see typoTerm, the
// two known words it is made of, or German compounds ending with it),
// with their weights (BM25 IDF, times typoWeight for a guess) and the
// query term each stands for (group), and the weights of all the query's
// terms, known or not, a term no text holds weighing the most; x.mu must
// be held.
func (x *Index) termWeights(lang text.Language, terms []string) (known []int32, weights []float64, knownWeight []float64, group []int) {
	slices.Sort(terms)
	terms = slices.Compact(terms)
	n := float64(x.live)
	idf := func(df float64) float64 { return math.Log(1 + (n-df+0.5)/(df+0.5)) }
	typos := 0
	for _, t := range terms {
		g := len(weights)
		tid, ok := x.termIDs[t]
		w := 0.0
		switch {
		case ok && x.df[tid] > 0:
			w = idf(float64(x.df[tid]))
			known = append(known, tid)
			knownWeight = append(knownWeight, w)
			group = append(group, g)
		case typos < maxTypoTerms:
			typos++
			// Two known words written as one ("paddleboard"): each counts
			// as a term of the query.
			if head, tail, ok := text.SplitCompound(lang, t, x.knows); ok {
				for _, part := range []string{head, tail} {
					pid := x.termIDs[part]
					pw := idf(float64(x.df[pid]))
					if !slices.Contains(known, pid) {
						known = append(known, pid)
						knownWeight = append(knownWeight, typoWeight*pw)
						group = append(group, len(weights))
					}
					weights = append(weights, pw)
				}
				continue
			}
			if tid = x.typoTerm(t); tid >= 0 && !slices.Contains(known, tid) {
				w = idf(float64(x.df[tid]))
				known = append(known, tid)
				knownWeight = append(knownWeight, typoWeight*w)
				group = append(group, g)
				break
			}
			fallthrough
		default:
			w = idf(0) // unknown: weighs the most
		}
		weights = append(weights, w)
		// German compounds that end with the word ("Espressomaschinen" for
		// "Maschine", "Röstereiführung" for "Führung") count as holding it.
		for i, cid := range x.tails[t] {
			if i == maxCompounds {
				break
			}
			if x.df[cid] > 0 && !slices.Contains(known, cid) {
				known = append(known, cid)
				knownWeight = append(knownWeight, typoWeight*w)
				group = append(group, g)
			}
		}
	}
	return known, weights, knownWeight, group
}

// knows reports whether a live text holds term t; x.mu must be held.
func (x *Index) knows(t string) bool {
	id, ok := x.termIDs[t]
	return ok && x.df[id] > 0
}

// Typo matching: a query word the index does not know, of at least
// typoMinRunes letters, is matched to the known word with the same first
// letter that is one edit away (an insertion, deletion or substitution;
// two for words of typoLongRunes or more), the most frequent one on a
// tie. Only words of about the same length with the same first letter are
// compared, at most maxTypoScan of them for at most maxTypoTerms words of
// a query, so the work is bounded whatever the size of the index.
const (
	typoMinRunes  = 5
	typoLongRunes = 8
	maxTypoTerms  = 4
	maxTypoScan   = 20000
)

// German compounds: a word of minCompound bytes or more is found by the
// words of compoundTail bytes or more it ends with, after a head of
// compoundHead bytes or more; at most maxCompounds per word of a query.
const (
	minCompound  = 9
	compoundHead = 4
	compoundTail = 5
	maxCompounds = 16
)

// typoKeyOf returns the typo bucket of a term; false for terms too short
// to match with a typo.
func typoKeyOf(t string) (typoKey, bool) {
	n := utf8.RuneCountInString(t)
	if n < typoMinRunes-1 { // a 4-letter word can be a 5-letter word's typo
		return typoKey{}, false
	}
	return typoKey{first: t[0], n: n}, true
}

// typoTerm returns the number of the known term closest to t within the
// typo distance, or -1; x.mu must be held.
func (x *Index) typoTerm(t string) int32 {
	n := utf8.RuneCountInString(t)
	if n < typoMinRunes-1 || !isLettersOnly(t) {
		return -1
	}
	maxDist := 1
	if n >= typoLongRunes {
		maxDist = 2
	}
	best, bestDist, bestDF, scanned := int32(-1), maxDist+1, int32(0), 0
	for l := n - maxDist; l <= n+maxDist && n >= typoMinRunes; l++ {
		for _, tid := range x.vocab[typoKey{first: t[0], n: l}] {
			if scanned++; scanned > maxTypoScan {
				return best
			}
			if x.df[tid] == 0 {
				continue
			}
			d := text.EditDistance(t, x.terms[tid], maxDist)
			if d <= maxDist && (d < bestDist || d == bestDist && x.df[tid] > bestDF) {
				best, bestDist, bestDF = tid, d, x.df[tid]
			}
		}
	}
	if best >= 0 {
		return best
	}
	// A word the stemmer left longer or shorter than the text's ("rent" and
	// "rental"), or one part of a compound ("Aufheizzeit", "Röstereiführung",
	// "paddleboard"): a known word that starts or ends with it, or that it
	// starts with, of typoMinRunes letters or more; the most frequent.
	for l := n - compoundRunes; l <= n+compoundRunes; l++ {
		if l < typoMinRunes-1 {
			continue
		}
		for _, tid := range x.vocab[typoKey{first: t[0], n: l}] {
			if scanned++; scanned > maxTypoScan {
				return best
			}
			if x.df[tid] > bestDF && text.Near(t, x.terms[tid]) {
				best, bestDF = tid, x.df[tid]
			}
		}
	}
	return best
}

// compoundRunes is how much longer or shorter than a query word a known
// word that starts with it, or that it starts with, can be.
const compoundRunes = 7

// isLettersOnly reports whether s holds letters only: numbers, codes and
// prices are never typos of one another.
func isLettersOnly(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// Search returns the k texts that best match query by BM25, best first,
// with ties broken by lower id. Texts that share no term with the query
// are not returned.
func (x *Index) Search(query string, k int) []Hit {
	lang, terms := x.QueryTerms(query)
	return x.SearchTerms(lang, terms, k)
}

// SearchTerms is Search for a query's language and terms as QueryTerms returns them,
// for a caller that needs them too. It sorts terms.
func (x *Index) SearchTerms(lang text.Language, queryTerms []string, k int) []Hit {
	if k <= 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.live == 0 {
		return nil
	}
	terms, _, idf, _ := x.termWeights(lang, queryTerms)
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
	lang, terms := x.QueryTerms(query)
	return x.CoverageTerms(lang, terms, ids)
}

// CoverageTerms is Coverage for a query's language and terms as
// QueryTerms returns them. It sorts terms.
func (x *Index) CoverageTerms(lang text.Language, queryTerms []string, ids []int) []float64 {
	out := make([]float64, len(ids))
	x.mu.RLock()
	defer x.mu.RUnlock()
	known, weights, knownWeight, group := x.termWeights(lang, queryTerms)
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
		best := make([]float64, len(weights)) // per query term: a compound and the word count once
		for i, t := range known {
			if _, found := slices.BinarySearch(x.docs[slot].terms, t); found {
				best[group[i]] = max(best[group[i]], knownWeight[i])
			}
		}
		for _, w := range best {
			got += w
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
