package knowledge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Benchmarks report each figure beside a baseline measured in the same run
// (DESIGN.md, quality bars): compare the ratio, not the absolute numbers.
//
//	go test -run '^$' -bench . -benchmem ./internal/knowledge/

// benchCorpus is a synthetic knowledge base: chunks of words drawn from a
// Zipf distribution over a made-up vocabulary, like the long tail of real
// text, and questions made of words of random chunks.
type benchCorpus struct {
	texts   []string
	lower   []string // texts lowercased, for the baseline
	queries []string
}

const benchWordsPerChunk = 120 // about 800 characters, a typical chunk

var (
	benchMu      sync.Mutex
	benchCorpora = map[int]*benchCorpus{}
)

// newBenchCorpus returns n chunks, made once per size and process.
func newBenchCorpus(n int) *benchCorpus {
	benchMu.Lock()
	defer benchMu.Unlock()
	if c := benchCorpora[n]; c != nil {
		return c
	}
	r := rand.New(rand.NewPCG(1, uint64(n)))
	vocab := benchVocabulary(r, 20000)
	zipf := rand.NewZipf(rand.New(rand.NewPCG(2, uint64(n))), 1.1, 2, uint64(len(vocab)-1))
	c := &benchCorpus{}
	var b strings.Builder
	for range n {
		b.Reset()
		for w := range benchWordsPerChunk {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[zipf.Uint64()])
			if w%15 == 14 {
				b.WriteByte('.')
			}
		}
		c.texts = append(c.texts, b.String())
		c.lower = append(c.lower, strings.ToLower(b.String()))
	}
	for range 64 {
		words := strings.Fields(c.texts[r.IntN(n)])
		var q []string
		for range 3 {
			q = append(q, strings.Trim(words[r.IntN(len(words))], "."))
		}
		c.queries = append(c.queries, "How about the "+strings.Join(q, " ")+"?")
	}
	benchCorpora[n] = c
	return c
}

// benchVocabulary makes n distinct pronounceable words.
func benchVocabulary(r *rand.Rand, n int) []string {
	const consonants, vowels = "bcdfgklmnprstvz", "aeiou"
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteByte(consonants[r.IntN(len(consonants))])
			b.WriteByte(vowels[r.IntN(len(vowels))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// benchIndex builds an agent's index from the corpus directly, as refresh
// would from the database.
func benchIndex(c *benchCorpus) *agentIndex {
	x := newAgentIndex()
	for i, text := range c.texts {
		x.add(i+1, &indexedChunk{sourceID: 1 + i/100, title: "Handbook", heading: "Section", text: text})
	}
	return x
}

// BenchmarkRetrieve measures finding the passages for a question among n
// chunks of one agent (BM25, coverage, fusion: the in-memory part of
// Answer), beside a baseline that only counts the question's words in
// every chunk.
func BenchmarkRetrieve(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		c := newBenchCorpus(n)
		b.Run(fmt.Sprintf("chunks=%d/index", n), func(b *testing.B) {
			x := benchIndex(c)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				rs := x.search(query{text: c.queries[i%len(c.queries)]}, DefaultPassages, DefaultMinScore, DefaultMinSimilarity)
				if len(rs) == 0 {
					b.Fatal("no results")
				}
				i++
			}
		})
		if n <= 10_000 { // 100k vectors of 768 dimensions take 300 MB
			b.Run(fmt.Sprintf("chunks=%d/index+vectors", n), func(b *testing.B) {
				x := benchIndex(c)
				r := rand.New(rand.NewPCG(3, 3))
				for _, ch := range x.chunks {
					ch.vec = benchVector(r)
				}
				x.vectors = len(x.chunks)
				qvec := benchVector(r)
				b.ResetTimer()
				i := 0
				for b.Loop() {
					q := query{text: c.queries[i%len(c.queries)], vec: qvec}
					if len(x.search(q, DefaultPassages, DefaultMinScore, DefaultMinSimilarity)) == 0 {
						b.Fatal("no results")
					}
					i++
				}
			})
		}
		b.Run(fmt.Sprintf("chunks=%d/baseline-scan", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if len(naiveSearch(c, c.queries[i%len(c.queries)], DefaultPassages)) == 0 {
					b.Fatal("no results")
				}
				i++
			}
		})
	}
}

// benchVector returns a random unit vector of 768 dimensions, the size
// text-embedding-004 returns and gemini-embedding-001 can be asked for.
func benchVector(r *rand.Rand) []float32 {
	v := make([]float32, 768)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return normalize(v)
}

// naiveSearch is the simplest retrieval there is: count occurrences of
// the question's words in every chunk and keep the k best.
func naiveSearch(c *benchCorpus, question string, k int) []Hit {
	terms := strings.Fields(strings.ToLower(strings.Trim(question, "?")))
	var hits []Hit
	for id, text := range c.lower {
		n := 0
		for _, t := range terms {
			n += strings.Count(text, t)
		}
		if n > 0 {
			hits = append(hits, Hit{ID: id, Score: float64(n)})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return hits[:min(k, len(hits))]
}

// BenchmarkIngest measures turning a text document into indexed chunks
// (extract, chunk, BM25 indexing: the CPU part of ingest; storing and
// embedding are I/O), in bytes of text per second, beside a baseline that
// only splits the same text into words.
func BenchmarkIngest(b *testing.B) {
	c := newBenchCorpus(1_000)
	var doc strings.Builder
	for i, text := range c.texts {
		if i%10 == 0 {
			fmt.Fprintf(&doc, "# Section %d\n\n", i/10)
		}
		doc.WriteString(text)
		doc.WriteString("\n\n")
	}
	data := []byte(doc.String())

	b.Run("ingest", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d, err := Extract("handbook.md", "text/markdown", strings.NewReader(doc.String()), 0)
			if err != nil {
				b.Fatal(err)
			}
			x := newAgentIndex()
			for i, ch := range ChunkDocument(d, ChunkOptions{}) {
				x.add(i+1, &indexedChunk{sourceID: 1, title: "Handbook", heading: ch.Heading, text: ch.Text})
			}
		}
	})
	b.Run("baseline-fields", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if len(strings.Fields(string(data))) == 0 {
				b.Fatal("no words")
			}
		}
	})
}
