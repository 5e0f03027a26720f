package llm

import (
	"bytes"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
)

func TestFallback(t *testing.T) {
	for _, tt := range []struct {
		name         string
		status       int // of the fake Gemini; 0 answers
		want         Reply
		wantFallback bool
	}{
		{"primary answers", 0, Reply{Text: "From Gemini.", Answered: true, Used: []int{0}}, false},
		{"primary fails", http.StatusServiceUnavailable, Reply{Text: "Standard shipping takes 3–5 business days.", Answered: true, Used: []int{0}}, true},
		{"primary rejects", http.StatusForbidden, Reply{Text: "Standard shipping takes 3–5 business days.", Answered: true, Used: []int{0}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, c call, _ int) {
				if tt.status != 0 {
					writeError(w, tt.status, "UNAVAILABLE")
					return
				}
				serve(w, c, `{"answer": "From Gemini.", "answered": true, "sources": [1]}`)
			})
			g := newTestGemini(t, f)
			if tt.status == http.StatusServiceUnavailable {
				g.attempts = 1 // the SDK retries 503 itself with 1s backoff; one attempt is enough here
				g.timeout = 200 * time.Millisecond
			}
			var logs bytes.Buffer
			var fallbacks []error
			fb := &Fallback{
				Primary:    g,
				Secondary:  Offline{},
				Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
				OnFallback: func(err error) { fallbacks = append(fallbacks, err) },
			}
			got, err := fb.Respond(t.Context(), shopPrompt)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			if !tt.wantFallback {
				require.Empty(t, fallbacks)
				require.Empty(t, logs.String())
				return
			}
			require.Len(t, fallbacks, 1)
			require.ErrorIs(t, fallbacks[0], apperr.Upstream)
			require.Contains(t, logs.String(), "primary responder failed")
			require.NotContains(t, logs.String(), testKey)
		})
	}
}

func TestFallbackNilLogger(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ call, _ int) {
		writeError(w, http.StatusInternalServerError, "INTERNAL")
	})
	got, err := (&Fallback{Primary: newTestGemini(t, f), Secondary: Offline{}}).Respond(t.Context(), shopPrompt)
	require.NoError(t, err)
	require.True(t, got.Answered)
}
