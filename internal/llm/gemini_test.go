package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
)

// testKey is shaped like a real key so that redaction of key-shaped strings
// is exercised too.
const testKey = "AIzaSyFAKE-test-key-0123456789abcdefghi"

// call is one request the fake Gemini API received.
type call struct {
	Method string // generateContent, embedContent, batchEmbedContents
	Model  string
	Key    string
	Body   map[string]any
}

// fakeGemini speaks the Gemini REST API that generative-ai-go uses (STACK.md §5).
type fakeGemini struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
}

// newFake starts a fake whose handler gets each call and how many calls
// came before it.
func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, c call, n int)) *fakeGemini {
	t.Helper()
	f := &fakeGemini{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/models/")
		model, method, ok2 := strings.Cut(rest, ":")
		if r.Method != http.MethodPost || !ok || !ok2 {
			writeError(w, http.StatusNotFound, "NOT_FOUND")
			return
		}
		c := call{Method: method, Model: model, Key: r.URL.Query().Get("key")}
		if err := json.NewDecoder(r.Body).Decode(&c.Body); err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
			return
		}
		if c.Key != testKey {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
			return
		}
		f.mu.Lock()
		n := len(f.calls)
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		handle(w, r, c, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGemini) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// serve answers c as the real API would, with text as the model's output.
func serve(w http.ResponseWriter, c call, text string) {
	switch c.Method {
	case "generateContent":
		writeJSON(w, map[string]any{"candidates": []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}},
			"finishReason": "STOP",
		}}})
	case "embedContent":
		writeJSON(w, map[string]any{"embedding": map[string]any{"values": fakeVector(contentText(c.Body))}})
	case "batchEmbedContents":
		var embs []any
		for _, req := range c.Body["requests"].([]any) {
			embs = append(embs, map[string]any{"values": fakeVector(contentText(req.(map[string]any)))})
		}
		writeJSON(w, map[string]any{"embeddings": embs})
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND")
	}
}

func contentText(req map[string]any) string {
	parts := req["content"].(map[string]any)["parts"].([]any)
	return parts[0].(map[string]any)["text"].(string)
}

// fakeVector derives an 8-dimensional vector from text, so tests can tell
// which text a vector belongs to.
func fakeVector(text string) []float32 {
	v := make([]float32, 8)
	v[0] = float32(len(text))
	for i := 0; i < len(text) && i < 7; i++ {
		v[i+1] = float32(text[i])
	}
	return v
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes Google's error JSON.
func writeError(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"fake %s","status":%q}}`, code, status, status)
}

func newTestGemini(t *testing.T, f *fakeGemini) *Gemini {
	t.Helper()
	g, err := NewGemini(t.Context(), GeminiConfig{APIKey: testKey, BaseURL: f.URL})
	require.NoError(t, err)
	g.retryBase = time.Millisecond
	t.Cleanup(func() { _ = g.Close() })
	return g
}

var shopPrompt = Prompt{
	Question: "How long does shipping take?",
	Passages: []Passage{
		{SourceID: 1, Title: "Shipping", Text: "Standard shipping takes 3–5 business days."},
		{SourceID: 2, Title: "Returns", Text: "You can return items within 30 days."},
	},
}

func TestGeminiRespond(t *testing.T) {
	for _, tt := range []struct {
		name   string
		output string
		want   Reply
	}{
		{"json", `{"answer": "Standard shipping takes 3–5 business days.", "answered": true, "sources": [1]}`,
			Reply{Text: "Standard shipping takes 3–5 business days.", Answered: true, Used: []int{0}}},
		{"no answer", `{"answer": "NO_ANSWER", "answered": false, "sources": []}`, Reply{}},
		{"sources out of range", `{"answer": "3–5 days.", "answered": true, "sources": [2, 9, 0]}`,
			Reply{Text: "3–5 days.", Answered: true, Used: []int{1}}},
		{"plain text", "It takes 3–5 business days [1].", Reply{Text: "It takes 3–5 business days [1].", Answered: true, Used: []int{0}}},
		{"plain no answer", "NO_ANSWER", Reply{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, c call, _ int) { serve(w, c, tt.output) })
			got, err := newTestGemini(t, f).Respond(t.Context(), shopPrompt)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)

			calls := f.Calls()
			require.Len(t, calls, 1)
			c := calls[0]
			require.Equal(t, "generateContent", c.Method)
			require.Equal(t, "gemini-2.5-flash", c.Model)
			cfg := c.Body["generationConfig"].(map[string]any)
			require.Equal(t, "application/json", cfg["responseMimeType"])
			require.InDelta(t, 0.2, cfg["temperature"], 1e-6)
			require.EqualValues(t, maxOutputTokens, cfg["maxOutputTokens"])
			schema := cfg["responseSchema"].(map[string]any)
			require.ElementsMatch(t, []any{"answer", "answered", "sources"}, schema["required"])
			parts := c.Body["contents"].([]any)[0].(map[string]any)["parts"].([]any)
			require.Equal(t, BuildPrompt(shopPrompt), parts[0].(map[string]any)["text"])
		})
	}
}

// TestGeminiRespondLong: an answer longer than one Messenger message comes
// back whole, and one the model stopped at its token limit keeps its whole
// sentences instead of reaching the customer as broken JSON.
func TestGeminiRespondLong(t *testing.T) {
	long := strings.Repeat("The battery has a two-year warranty. ", 125)
	for _, tt := range []struct {
		name, output, finish string
		want                 Reply
	}{
		{"long", `{"answer": "` + long + `", "answered": true, "sources": [1]}`, "STOP",
			Reply{Text: strings.TrimSpace(long), Answered: true, Used: []int{0}}},
		{"cut at the token limit", `{"answer": "` + long + `The charger is cov`, "MAX_TOKENS",
			Reply{Text: strings.TrimSpace(long), Answered: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
				writeJSON(w, map[string]any{"candidates": []any{map[string]any{
					"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": tt.output}}},
					"finishReason": tt.finish,
				}}})
			})
			got, err := newTestGemini(t, f).Respond(t.Context(), shopPrompt)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Greater(t, len(got.Text), 4500)
		})
	}
}

func TestGeminiRespondWithoutCall(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, c call, _ int) { serve(w, c, "{}") })
	g := newTestGemini(t, f)
	for _, p := range []Prompt{{Question: "hi"}, {Passages: shopPrompt.Passages}} {
		got, err := g.Respond(t.Context(), p)
		require.NoError(t, err)
		require.False(t, got.Answered)
	}
	require.Empty(t, f.Calls())
}

func TestGeminiRespondBlocked(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
		writeJSON(w, map[string]any{"candidates": []any{map[string]any{"finishReason": "SAFETY"}}})
	})
	got, err := newTestGemini(t, f).Respond(t.Context(), shopPrompt)
	require.NoError(t, err)
	require.Equal(t, Reply{}, got)
	require.Len(t, f.Calls(), 1, "a blocked reply is not retried")
}

func TestGeminiRespondEmpty(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
		writeJSON(w, map[string]any{"candidates": []any{map[string]any{"finishReason": "MAX_TOKENS"}}})
	})
	_, err := newTestGemini(t, f).Respond(t.Context(), shopPrompt)
	require.ErrorIs(t, err, apperr.Upstream)
	require.ErrorContains(t, err, "MaxTokens")
}

func TestGeminiEmbed(t *testing.T) {
	many := make([]string, 205) // three batches: 100, 100, 5
	for i := range many {
		many[i] = fmt.Sprintf("chunk %03d", i)
	}
	for _, tt := range []struct {
		name      string
		texts     []string
		task      EmbedTask
		wantCalls []string
		wantTask  float64
	}{
		{"query", []string{"when do you open?"}, EmbedQuery, []string{"embedContent"}, 1},
		{"documents", []string{"a", "bb", "ccc"}, EmbedDocument, []string{"batchEmbedContents"}, 2},
		{"many documents", many, EmbedDocument, []string{"batchEmbedContents", "batchEmbedContents", "batchEmbedContents"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, c call, _ int) { serve(w, c, "") })
			got, err := newTestGemini(t, f).Embed(t.Context(), tt.texts, tt.task)
			require.NoError(t, err)
			require.Len(t, got, len(tt.texts))
			for i, text := range tt.texts {
				require.Equal(t, fakeVector(text), got[i], "vector %d", i)
			}
			var methods []string
			for _, c := range f.Calls() {
				methods = append(methods, c.Method)
				require.Equal(t, "gemini-embedding-001", c.Model)
				reqs := []any{c.Body}
				if c.Method == "batchEmbedContents" {
					reqs = c.Body["requests"].([]any)
				}
				for _, r := range reqs {
					require.Equal(t, tt.wantTask, r.(map[string]any)["taskType"])
				}
			}
			require.Equal(t, tt.wantCalls, methods)
		})
	}
}

func TestGeminiEmbedEmptyAndBadTask(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, c call, _ int) { serve(w, c, "") })
	g := newTestGemini(t, f)
	got, err := g.Embed(t.Context(), nil, EmbedQuery)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = g.Embed(t.Context(), []string{"x"}, 0)
	require.ErrorIs(t, err, apperr.InvalidArgument)
	require.Empty(t, f.Calls())
}

func TestGeminiErrors(t *testing.T) {
	answer := `{"answer": "3–5 days.", "answered": true, "sources": [1]}`
	for _, tt := range []struct {
		name      string
		handle    func(w http.ResponseWriter, r *http.Request, c call, n int)
		wantCalls int
		wantErr   bool
	}{
		{"429 then success", func(w http.ResponseWriter, _ *http.Request, c call, n int) {
			if n == 0 {
				writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
				return
			}
			serve(w, c, answer)
		}, 2, false},
		{"500 persistently", func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
			writeError(w, http.StatusInternalServerError, "INTERNAL")
		}, 3, true},
		{"400 is not retried", func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
		}, 1, true},
		{"dropped connection", func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.handle)
			got, err := newTestGemini(t, f).Respond(t.Context(), shopPrompt)
			require.Len(t, f.Calls(), tt.wantCalls)
			if !tt.wantErr {
				require.NoError(t, err)
				require.True(t, got.Answered)
				return
			}
			require.ErrorIs(t, err, apperr.Upstream)
			require.NotContains(t, err.Error(), testKey)
			require.NotContains(t, err.Error(), "SyFAKE")
		})
	}
}

func TestGeminiDroppedConnectionRedactsKey(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	g := newTestGemini(t, f)
	_, err := g.Respond(t.Context(), shopPrompt)
	require.ErrorIs(t, err, apperr.Upstream)
	require.Contains(t, err.Error(), "key=REDACTED", "the transport error quotes the URL")
	require.NotContains(t, err.Error(), testKey)
	var uerr *url.Error
	require.False(t, errors.As(err, &uerr), "the unredacted cause must not be reachable")

	_, err = g.Embed(t.Context(), []string{"a", "b"}, EmbedDocument)
	require.ErrorIs(t, err, apperr.Upstream)
	require.NotContains(t, err.Error(), testKey)
}

func TestGeminiSlowServer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, c call, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			serve(w, c, "{}")
		}
	})
	g := newTestGemini(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Respond(ctx, shopPrompt)
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, apperr.Upstream)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), testKey)
	require.Len(t, f.Calls(), 1, "no retry once the caller's deadline has passed")
}

func TestGeminiAttemptTimeoutIsRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, c call, n int) {
		if n == 0 {
			<-r.Context().Done() // the first attempt hangs
			return
		}
		serve(w, c, `{"answer": "3–5 days.", "answered": true, "sources": [1]}`)
	})
	g := newTestGemini(t, f)
	g.timeout = 50 * time.Millisecond
	got, err := g.Respond(t.Context(), shopPrompt)
	require.NoError(t, err)
	require.True(t, got.Answered)
	require.Len(t, f.Calls(), 2)
}

func TestNewGeminiRequiresKey(t *testing.T) {
	_, err := NewGemini(t.Context(), GeminiConfig{})
	require.ErrorIs(t, err, apperr.InvalidArgument)
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"transport error", &url.Error{Op: "Post", URL: "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?%24alt=json%3Benum-encoding%3Dint&key=" + testKey, Err: io.EOF},
			`Post "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?%24alt=json%3Benum-encoding%3Dint&key=REDACTED": EOF`},
		{"key in the middle", errors.New("GET /x?key=s3cr3t&alt=json failed"), "GET /x?key=REDACTED&alt=json failed"},
		{"escaped key", errors.New("next=%2Fx%3Fkey%3Ds3cr3t end"), "next=%2Fx%3Fkey%3DREDACTED end"},
		{"bare google key", errors.New("invalid key " + testKey + "."), "invalid key REDACTED."},
		{"nothing to redact", errors.New("googleapi: Error 500: fake INTERNAL"), "googleapi: Error 500: fake INTERNAL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(tt.err)
			if tt.err == nil {
				require.NoError(t, got)
				return
			}
			require.Equal(t, tt.want, got.Error())
		})
	}

	wrapped := redact(fmt.Errorf("post: %w", context.DeadlineExceeded))
	require.ErrorIs(t, wrapped, context.DeadlineExceeded, "redact keeps errors.Is")
}
