package knowledge

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/text"
)

const (
	// candidates is how many hits each ranked list (lexical, vector)
	// contributes to the fusion.
	candidates = 20
	// followUpTerms: a question with at most this many terms may be a
	// follow-up ("and on Sundays?"), so the previous question is searched
	// with it too.
	followUpTerms = 3
	// embedQueryTimeout bounds embedding a question: past it, the answer
	// goes on lexical only rather than keeping the customer waiting.
	embedQueryTimeout = 5 * time.Second
	// snippetChars is the length of a citation's snippet.
	snippetChars = 240
)

// Answer is what the bot would reply to a question from an agent's
// knowledge base.
type Answer struct {
	// Text is the reply; empty when Answered is false.
	Text string
	// Answered is false when the knowledge base has no answer: the caller
	// sends the agent's fallback message instead.
	Answered bool
	// Citations are the passages the reply drew on, best first.
	Citations []schematype.Citation
}

// Answer returns what the bot would reply to question, asked of agent
// agentID after history (oldest first, without question). It sends
// nothing. The agent is loaded with ctx, so a viewer of another workspace
// gets apperr.NotFound; the bot calls it with a system context.
//
// When no passage passes the confidence thresholds (Options.MinScore,
// Options.MinSimilarity) the responder is not asked and the Answer is not
// Answered. A failing embedder only makes retrieval lexical; a failing
// responder is an error.
func (s *Service) Answer(ctx context.Context, agentID int, question string, history []llm.Turn) (_ Answer, err error) {
	defer apperr.Wrap(&err, "knowledge.Answer(agent %d)", agentID)
	question = strings.TrimSpace(question)
	if question == "" {
		return Answer{}, apperr.Errorf(apperr.InvalidArgument, "question: type a question")
	}
	question = truncateRunes(question, maxQueryChars)
	client := store.Client(ctx, s.client)
	ag, err := client.Agent.Get(ctx, agentID)
	if err != nil {
		return Answer{}, s.entError(err, "agent")
	}

	start := time.Now()
	results, err := s.retrieve(ctx, client, agentID, question, history)
	s.metrics.retrieved(time.Since(start))
	if err != nil {
		return Answer{}, err
	}
	if !slices.ContainsFunc(results, func(r result) bool { return r.confident }) {
		return Answer{}, nil
	}

	prompt := llm.Prompt{Instructions: ag.Instructions, Question: question, History: history}
	for _, r := range results {
		prompt.Passages = append(prompt.Passages, llm.Passage{
			SourceID: r.chunk.sourceID, Title: passageTitle(r.chunk), Text: r.chunk.text, Score: r.score,
		})
	}
	reply, err := s.responder.Respond(ctx, prompt)
	if err != nil {
		return Answer{}, fmt.Errorf("asking the responder: %w", err)
	}
	if !reply.Answered || strings.TrimSpace(reply.Text) == "" {
		return Answer{}, nil
	}
	used := slices.DeleteFunc(slices.Clone(reply.Used), func(i int) bool { return i < 0 || i >= len(results) })
	if len(used) == 0 {
		used = []int{0} // the model answered without naming its sources: cite the best passage
	}
	ans := Answer{Text: reply.Text, Answered: true}
	for _, i := range used {
		r := results[i]
		ans.Citations = append(ans.Citations, schematype.Citation{
			SourceID: r.chunk.sourceID, Snippet: snippet(r.chunk.text, question, r.chunk.lang), Score: r.score,
		})
	}
	slices.SortStableFunc(ans.Citations, func(a, b schematype.Citation) int { return cmp.Compare(b.Score, a.Score) })
	return ans, nil
}

// retrieve returns the passages of the agent's knowledge that best answer
// question, best first.
func (s *Service) retrieve(ctx context.Context, client *ent.Client, agentID int, question string, history []llm.Turn) ([]result, error) {
	x := s.indexes.get(agentID)
	if err := x.refresh(ctx, client, agentID); err != nil {
		return nil, err
	}
	q := query{text: question}
	if _, terms := x.lex.QueryTerms(question); len(terms) <= followUpTerms {
		for i := len(history) - 1; i >= 0; i-- {
			if history[i].Role == "user" && strings.TrimSpace(history[i].Text) != "" {
				q.context = truncateRunes(history[i].Text, maxQueryChars) + "\n" + question
				break
			}
		}
	}
	if s.embedder != nil && x.hasVectors() {
		ectx, cancel := context.WithTimeout(ctx, embedQueryTimeout)
		vecs, err := s.embedder.Embed(ectx, []string{question}, llm.EmbedQuery)
		cancel()
		switch {
		case err != nil:
			s.metrics.embedFailed()
			s.log.WarnContext(ctx, "embedding a question; answering from lexical search only", "agent_id", agentID, "error", err)
		case len(vecs) == 1:
			q.vec = normalize(vecs[0])
		}
	}
	return x.search(q, s.opts.Passages, s.opts.MinScore, s.opts.MinSimilarity), nil
}

// query is what one search looks for.
type query struct {
	text    string    // the question
	context string    // the previous question and this one, for a follow-up; may be empty
	vec     []float32 // the question's embedding, unit length; nil for lexical only
}

// result is a passage found for a query.
type result struct {
	id         int
	chunk      *indexedChunk
	coverage   float64 // Index.Coverage of the question
	similarity float64 // cosine similarity to the question; 0 without embeddings
	score      float64 // the larger of the two: the citation's score
	confident  bool    // above the thresholds: this passage may answer the question
}

// indexedChunk is what an agent's index keeps of a chunk.
type indexedChunk struct {
	sourceID int
	title    string // of the source
	heading  string
	text     string
	lang     text.Language // what it is written in; Unknown: detect when indexing
	vec      []float32     // unit length; nil without an embedding
}

// indexedSource is what an agent's index knows of a source, to tell when
// it must be reloaded.
type indexedSource struct {
	revision int
	title    string
	chunkIDs []int
}

// agentIndex is the in-memory retrieval index of one agent: BM25 over its
// chunks, and their embeddings. It is a cache of the database, brought up
// to date by refresh before every search.
type agentIndex struct {
	refreshMu sync.Mutex // serialises refreshes

	mu      sync.RWMutex // guards the fields below; lex has its own lock
	lex     *Index
	chunks  map[int]*indexedChunk
	sources map[int]indexedSource
	vectors int // chunks with an embedding

	used int64 // last use, for eviction; guarded by indexCache.mu
}

func newAgentIndex() *agentIndex {
	return &agentIndex{lex: NewIndex(), chunks: map[int]*indexedChunk{}, sources: map[int]indexedSource{}}
}

// add indexes a chunk; x.mu must be held for writing.
func (x *agentIndex) add(id int, c *indexedChunk) {
	if old := x.chunks[id]; old != nil && old.vec != nil {
		x.vectors--
	}
	x.chunks[id] = c
	if c.vec != nil {
		x.vectors++
	}
	c.lang = x.lex.AddIn(id, c.lang, indexText(c.title, c.heading, c.text))
}

// remove drops a chunk; x.mu must be held for writing.
func (x *agentIndex) remove(id int) {
	if c := x.chunks[id]; c != nil && c.vec != nil {
		x.vectors--
	}
	delete(x.chunks, id)
	x.lex.Remove(id)
}

func (x *agentIndex) hasVectors() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.vectors > 0
}

// refresh brings the index up to date with the database. It lists the
// agent's READY sources with their revisions — one small query, which is
// what makes a change on any replica visible here at once — and reloads
// only the chunks of sources that are new or changed, and drops those of
// sources that are gone.
func (x *agentIndex) refresh(ctx context.Context, client *ent.Client, agentID int) error {
	rows, err := client.KnowledgeSource.Query().
		Where(knowledgesource.AgentID(agentID), knowledgesource.StatusEQ(knowledgesource.StatusREADY)).
		Select(knowledgesource.FieldID, knowledgesource.FieldRevision, knowledgesource.FieldTitle).
		All(ctx)
	if err != nil {
		return fmt.Errorf("listing knowledge sources: %w", err)
	}
	want := make(map[int]*ent.KnowledgeSource, len(rows))
	for _, r := range rows {
		want[r.ID] = r
	}
	stale := func() (changed []int, removed []int) {
		x.mu.RLock()
		defer x.mu.RUnlock()
		for id, r := range want {
			if have, ok := x.sources[id]; !ok || have.revision != r.Revision || have.title != r.Title {
				changed = append(changed, id)
			}
		}
		for id := range x.sources {
			if want[id] == nil {
				removed = append(removed, id)
			}
		}
		return changed, removed
	}
	if changed, removed := stale(); len(changed) == 0 && len(removed) == 0 {
		return nil
	}

	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	changed, removed := stale() // another refresh may have done the work
	if len(changed) == 0 && len(removed) == 0 {
		return nil
	}
	slices.Sort(changed)
	loaded := map[int][]*ent.KnowledgeChunk{}
	for ids := range slices.Chunk(changed, 500) {
		chunks, err := client.KnowledgeChunk.Query().
			Where(knowledgechunk.SourceIDIn(ids...)).
			Select(knowledgechunk.FieldID, knowledgechunk.FieldSourceID, knowledgechunk.FieldHeading,
				knowledgechunk.FieldText, knowledgechunk.FieldEmbedding).
			All(ctx)
		if err != nil {
			return fmt.Errorf("loading knowledge chunks: %w", err)
		}
		for _, c := range chunks {
			loaded[c.SourceID] = append(loaded[c.SourceID], c)
		}
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range append(removed, changed...) {
		for _, cid := range x.sources[id].chunkIDs {
			x.remove(cid)
		}
		delete(x.sources, id)
	}
	for _, id := range changed {
		src := want[id]
		is := indexedSource{revision: src.Revision, title: src.Title}
		srcLang := sourceLanguage(src.Title, loaded[id])
		for _, c := range loaded[id] {
			// A chunk is read in its own language; one too short or too
			// plain to tell (a table, a list of names) in its source's,
			// and failing that in the agent's dominant language (AddIn).
			lang := text.Detect(c.Heading + "\n" + c.Text)
			if lang == text.Unknown {
				lang = srcLang
			}
			x.add(c.ID, &indexedChunk{
				sourceID: id, title: src.Title, heading: c.Heading, text: c.Text, lang: lang,
				vec: normalize(decodeVector(c.Embedding)),
			})
			is.chunkIDs = append(is.chunkIDs, c.ID)
		}
		x.sources[id] = is
	}
	return nil
}

// sourceLanguage returns the language a source is written in, judged on
// its title and the start of its chunks; Unknown when that does not tell.
func sourceLanguage(title string, chunks []*ent.KnowledgeChunk) text.Language {
	var b strings.Builder
	b.WriteString(title)
	for _, c := range chunks {
		if b.Len() > 8000 {
			break
		}
		b.WriteString("\n")
		b.WriteString(c.Heading)
		b.WriteString("\n")
		b.WriteString(c.Text)
	}
	return text.Detect(b.String())
}

// search returns the best n passages for q: BM25 hits (for the question,
// and for a follow-up also with the previous question) and, with an
// embedding, the most similar chunks, merged by reciprocal rank fusion.
func (x *agentIndex) search(q query, n int, minScore, minSimilarity float64) []result {
	x.mu.RLock()
	defer x.mu.RUnlock()
	lang, terms := x.lex.QueryTerms(q.text) // read once: detecting and stemming is most of a search
	lists := [][]Hit{x.lex.SearchTerms(lang, slices.Clone(terms), candidates)}
	if q.context != "" {
		lists = append(lists, x.lex.Search(q.context, candidates))
	}
	if q.vec != nil && x.vectors > 0 {
		lists = append(lists, x.nearest(q.vec, candidates))
	}
	fused := FuseRRF(lists...)
	fused = fused[:min(n, len(fused))]
	if len(fused) == 0 {
		return nil
	}

	ids := make([]int, len(fused))
	for i, h := range fused {
		ids[i] = h.ID
	}
	// Confidence is judged on the question itself; a follow-up with no
	// words of its own ("how much is it?") borrows its context's.
	var coverage []float64
	if len(terms) == 0 && q.context != "" {
		coverage = x.lex.Coverage(q.context, ids)
	} else {
		coverage = x.lex.CoverageTerms(lang, terms, ids)
	}
	out := make([]result, len(fused))
	for i, id := range ids {
		c := x.chunks[id]
		r := result{id: id, chunk: c, coverage: coverage[i]}
		if q.vec != nil && len(c.vec) == len(q.vec) {
			r.similarity = max(0, dot(q.vec, c.vec))
		}
		r.score = max(r.coverage, r.similarity)
		r.confident = r.coverage > minScore || q.vec != nil && c.vec != nil && r.similarity > minSimilarity
		out[i] = r
	}
	return out
}

// nearest returns the k chunks whose embeddings are most similar to vec,
// best first; x.mu must be held.
func (x *agentIndex) nearest(vec []float32, k int) []Hit {
	hits := make([]Hit, 0, k+1)
	for id, c := range x.chunks {
		if len(c.vec) != len(vec) {
			continue
		}
		h := Hit{ID: id, Score: dot(vec, c.vec)}
		if len(hits) == k && !better(h, hits[k-1]) {
			continue
		}
		// Insert in order; k is small.
		i, _ := slices.BinarySearchFunc(hits, h, func(a, b Hit) int {
			if better(a, b) {
				return -1
			}
			return 1
		})
		hits = slices.Insert(hits, i, h)
		if len(hits) > k {
			hits = hits[:k]
		}
	}
	return hits
}

// better orders hits by score, then by lower id.
func better(a, b Hit) bool {
	return a.Score > b.Score || a.Score == b.Score && a.ID < b.ID
}

// indexText is what is indexed and embedded for a chunk: its source's
// title and its heading go with its text, so that a question naming them
// finds it.
func indexText(title, heading, text string) string {
	return title + "\n" + heading + "\n" + text
}

// passageTitle names a chunk for the responder: the source title, and the
// section heading unless the text repeats it (as FAQ chunks do).
func passageTitle(c *indexedChunk) string {
	if c.heading == "" || c.heading == c.title || strings.Contains(c.text, c.heading) {
		return c.title
	}
	return c.title + " — " + c.heading
}

// snippet returns about snippetChars characters of text for a citation,
// starting at the sentence that shares the most terms with question, both
// read in lang.
func snippet(passage, question string, lang text.Language) string {
	passage = strings.Join(strings.Fields(passage), " ")
	if utf8.RuneCountInString(passage) <= snippetChars {
		return passage
	}
	want := map[string]bool{}
	for _, t := range text.Keys(lang, question) {
		want[t] = true
	}
	// Walk the sentences with their byte offsets: sep+text of every piece
	// gives back text.
	best, bestHits, offset := 0, 0, 0
	for _, p := range splitSentences(passage) {
		offset += len(p.sep)
		hits := 0
		for _, t := range text.Keys(lang, p.text) {
			if want[t] {
				hits++
			}
		}
		if hits > bestHits {
			best, bestHits = offset, hits
		}
		offset += len(p.text)
	}
	out := passage[best:]
	prefix := ""
	if best > 0 {
		prefix = "…"
	}
	if utf8.RuneCountInString(out) <= snippetChars {
		return prefix + out
	}
	cut := string([]rune(out)[:snippetChars-1])
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return prefix + strings.TrimRight(cut, " ,;:") + "…"
}

// indexCache holds the indexes of the agents searched most recently.
type indexCache struct {
	mu    sync.Mutex
	max   int
	clock int64
	m     map[int]*agentIndex
}

// get returns the agent's index, empty when it was not cached, making room
// by dropping the least recently used one.
func (c *indexCache) get(agentID int) *agentIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	if x := c.m[agentID]; x != nil {
		x.used = c.clock
		return x
	}
	if c.m == nil {
		c.m = map[int]*agentIndex{}
	}
	if len(c.m) >= max(c.max, 1) {
		oldest, at := 0, int64(0)
		for id, x := range c.m {
			if at == 0 || x.used < at {
				oldest, at = id, x.used
			}
		}
		delete(c.m, oldest)
	}
	x := newAgentIndex()
	x.used = c.clock
	c.m[agentID] = x
	return x
}
