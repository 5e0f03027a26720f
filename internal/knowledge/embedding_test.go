package knowledge

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/text"
)

const fakeKey = "test-gemini-key"

// fakeDims is the size of the fake embeddings.
const fakeDims = 64

// fakeGemini speaks the part of the Gemini REST API that
// generative-ai-go uses (STACK.md §5): embeddings that know a few
// synonyms, so that vector search finds what lexical search cannot, and a
// model that answers from passage [1].
type fakeGemini struct {
	*httptest.Server
	failEmbed  atomic.Bool  // embedding requests fail with a 400
	embedDelay atomic.Int64 // nanoseconds each batch embedding takes

	mu      sync.Mutex
	calls   map[string]int // by method
	tasks   map[float64]int
	prompts []string
}

func newFakeGemini(t *testing.T) *fakeGemini {
	t.Helper()
	f := &fakeGemini{calls: map[string]int{}, tasks: map[float64]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGemini) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/models/")
	_, method, ok2 := strings.Cut(rest, ":")
	if r.Method != http.MethodPost || !ok || !ok2 || r.URL.Query().Get("key") != fakeKey {
		geminiError(w, http.StatusNotFound, "NOT_FOUND")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
		return
	}
	f.mu.Lock()
	f.calls[method]++
	f.mu.Unlock()

	switch method {
	case "embedContent":
		if f.failEmbed.Load() {
			geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
			return
		}
		f.task(body)
		geminiJSON(w, map[string]any{"embedding": map[string]any{"values": fakeEmbedding(partText(body))}})
	case "batchEmbedContents":
		time.Sleep(time.Duration(f.embedDelay.Load()))
		if f.failEmbed.Load() {
			geminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
			return
		}
		var embs []any
		for _, req := range body["requests"].([]any) {
			f.task(req.(map[string]any))
			embs = append(embs, map[string]any{"values": fakeEmbedding(partText(req.(map[string]any)))})
		}
		geminiJSON(w, map[string]any{"embeddings": embs})
	case "generateContent":
		prompt := partText(body["contents"].([]any)[0].(map[string]any))
		f.mu.Lock()
		f.prompts = append(f.prompts, prompt)
		f.mu.Unlock()
		// Answer with the first line of passage [1].
		_, p1, _ := strings.Cut(prompt, "\n[1]")
		lines := strings.Split(strings.TrimSpace(p1), "\n")
		answer, _ := json.Marshal(map[string]any{"answer": "From the passages: " + lines[min(1, len(lines)-1)], "answered": true, "sources": []int{1}})
		geminiJSON(w, map[string]any{"candidates": []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": string(answer)}}},
			"finishReason": "STOP",
		}}})
	default:
		geminiError(w, http.StatusNotFound, "NOT_FOUND")
	}
}

func (f *fakeGemini) task(req map[string]any) {
	t, _ := req["taskType"].(float64)
	f.mu.Lock()
	f.tasks[t]++
	f.mu.Unlock()
}

func (f *fakeGemini) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeGemini) lastPrompt() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.prompts) == 0 {
		return ""
	}
	return f.prompts[len(f.prompts)-1]
}

func partText(req map[string]any) string {
	parts := req["content"]
	if parts == nil {
		parts = req // a Content itself, as in generateContent's contents
	}
	var b strings.Builder
	for _, p := range parts.(map[string]any)["parts"].([]any) {
		b.WriteString(p.(map[string]any)["text"].(string))
	}
	return b.String()
}

// synonyms make the fake embeddings a little semantic: terms (as
// text.Terms makes them in English) that mean the same thing.
var synonyms = func() map[string]string {
	m := map[string]string{}
	for word, concept := range map[string]string{"hire": "rent", "rental": "rent", "canoes": "boat", "kayaks": "boat"} {
		m[text.Terms(text.English, word)[0]] = concept
	}
	return m
}()

// fakeEmbedding hashes the terms of text, synonyms merged, into fakeDims
// dimensions.
func fakeEmbedding(s string) []float32 {
	v := make([]float32, fakeDims)
	for _, t := range text.Terms(text.English, s) {
		if s, ok := synonyms[t]; ok {
			t = s
		}
		h := fnv.New32a()
		h.Write([]byte(t))
		v[h.Sum32()%fakeDims]++
	}
	return v
}

func geminiJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func geminiError(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"fake %s","status":%q}}`, code, status, status)
}

// TestEmbeddings runs the service as production wires it with a Gemini
// key: Gemini embeds and answers, behind a fake API.
func TestEmbeddings(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		fake := newFakeGemini(t)
		g, err := llm.NewGemini(t.Context(), llm.GeminiConfig{APIKey: fakeKey, BaseURL: fake.URL, Timeout: 5 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = g.Close() })

		e := newEnv(t, st, g, Options{})
		logger := slog.New(slog.NewTextHandler(e.logs, nil))
		e.svc = New(st.Client, &llm.Fallback{Primary: g, Secondary: llm.Offline{}, Logger: logger}, g,
			Options{PollInterval: 50 * time.Millisecond}, logger)
		e.run(e.svc)

		// A text is READY at once and embedded in the background.
		boats, err := e.svc.AddText(e.owner, e.agent, "On the water", "We rent canoes and kayaks by the hour.")
		require.NoError(t, err)
		require.Equal(t, knowledgesource.StatusREADY, boats.Status)
		require.Eventually(t, func() bool {
			src, err := st.Client.KnowledgeSource.Get(e.sys, boats.ID)
			require.NoError(t, err)
			return !src.NeedsEmbedding
		}, 10*time.Second, 10*time.Millisecond)
		for _, c := range e.chunks(boats.ID) {
			require.Len(t, c.Embedding, 4*fakeDims, "float32 little-endian")
			require.Equal(t, fakeEmbedding(indexText(boats.Title, c.Heading, c.Text)), decodeVector(c.Embedding))
		}

		// A file is embedded while it is ingested.
		md := e.wait(e.upload(e.agent, "harbor-bikes.md").ID)
		require.Equal(t, knowledgesource.StatusREADY, md.Status)
		require.False(t, md.NeedsEmbedding)
		for _, c := range e.chunks(md.ID) {
			require.Len(t, c.Embedding, 4*fakeDims)
		}
		require.Positive(t, fake.count("batchEmbedContents"))

		// No word in common with the text: only the vectors find it.
		const boatQuestion = "Can I hire a boat?"
		lexical, err := e.svc.retrieve(e.sys, st.Client, e.agent, boatQuestion, nil)
		require.NoError(t, err)
		require.NotEmpty(t, lexical)
		require.Equal(t, boats.ID, lexical[0].chunk.sourceID)
		require.Zero(t, lexical[0].coverage, "lexical search found it by itself")
		require.Greater(t, lexical[0].similarity, DefaultMinSimilarity)
		ans, err := e.svc.Answer(e.sys, e.agent, boatQuestion, nil)
		require.NoError(t, err)
		require.True(t, ans.Answered)
		require.Contains(t, ans.Text, "We rent canoes and kayaks by the hour.")
		require.Equal(t, boats.ID, ans.Citations[0].SourceID)
		require.InDelta(t, lexical[0].similarity, ans.Citations[0].Score, 1e-9)
		require.Contains(t, fake.lastPrompt(), "[1] On the water\nWe rent canoes and kayaks by the hour.")
		fake.mu.Lock()
		require.Positive(t, fake.tasks[1], "questions are embedded as RETRIEVAL_QUERY")
		require.Positive(t, fake.tasks[2], "chunks are embedded as RETRIEVAL_DOCUMENT")
		fake.mu.Unlock()

		// Both lists count: a question both find ranks its chunk first.
		ans, err = e.svc.Answer(e.sys, e.agent, "How much is the deposit for a rental?", nil)
		require.NoError(t, err)
		require.True(t, ans.Answered)
		require.Equal(t, md.ID, ans.Citations[0].SourceID)

		// Gemini's embeddings fail: questions are answered lexically.
		fake.failEmbed.Store(true)
		generated := fake.count("generateContent")
		ans, err = e.svc.Answer(e.sys, e.agent, "How much is the deposit for a rental?", nil)
		require.NoError(t, err)
		require.True(t, ans.Answered, "an embedding failure failed the answer")
		require.Equal(t, md.ID, ans.Citations[0].SourceID)
		require.Contains(t, e.logs.String(), "answering from lexical search only")
		ans, err = e.svc.Answer(e.sys, e.agent, boatQuestion, nil)
		require.NoError(t, err)
		require.False(t, ans.Answered, "nothing lexical matches")
		require.Equal(t, generated+1, fake.count("generateContent"), "the model was asked without a confident passage")

		// A file ingested meanwhile is READY without embeddings, and gets
		// them once Gemini is back.
		html := e.wait(e.upload(e.agent, "harbor-bikes.html").ID)
		require.Equal(t, knowledgesource.StatusREADY, html.Status)
		require.True(t, html.NeedsEmbedding)
		n, err := st.Client.KnowledgeChunk.Query().
			Where(knowledgechunk.SourceID(html.ID), knowledgechunk.EmbeddingNotNil()).Count(e.sys)
		require.NoError(t, err)
		require.Zero(t, n)
		fake.failEmbed.Store(false)
		require.Eventually(t, func() bool {
			n, err := st.Client.KnowledgeChunk.Query().
				Where(knowledgechunk.SourceID(html.ID), knowledgechunk.EmbeddingIsNil()).Count(e.sys)
			require.NoError(t, err)
			return n == 0
		}, 20*time.Second, 20*time.Millisecond, "the chunks were never embedded")
	})
}

// TestLeaseAcrossReplicas ingests a file that takes several lease periods
// (Gemini is slow) with two replicas running: the worker that has it keeps
// renewing its lease, so the other never takes it over.
func TestLeaseAcrossReplicas(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		fake := newFakeGemini(t)
		// Several lease periods, with leases long enough that a renewal
		// delayed by a loaded machine (and SQLite's one writer) still lands.
		fake.embedDelay.Store(int64(4 * time.Second))
		g, err := llm.NewGemini(t.Context(), llm.GeminiConfig{APIKey: fakeKey, BaseURL: fake.URL, Timeout: 10 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = g.Close() })

		opts := Options{Lease: 1200 * time.Millisecond, PollInterval: 20 * time.Millisecond}
		e := newEnv(t, st, g, opts)
		e.run(e.svc)
		e.run(e.newService(g, opts))
		src := e.wait(e.upload(e.agent, "harbor-bikes.pdf").ID)
		require.Equal(t, knowledgesource.StatusREADY, src.Status)
		require.Equal(t, 1, src.Attempts, "another worker took the file over")
		require.Equal(t, 1, fake.count("batchEmbedContents"), "the file was embedded twice")
		require.False(t, src.NeedsEmbedding)
	})
}
