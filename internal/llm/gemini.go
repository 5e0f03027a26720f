package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/generative-ai-go/genai"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/seachat/seachat/internal/apperr"
)

// GeminiConfig configures a Gemini client.
type GeminiConfig struct {
	APIKey         string        // required
	BaseURL        string        // API endpoint; empty means Google's. Tests point it at a fake.
	Model          string        // generation model; empty means "gemini-2.5-flash"
	EmbeddingModel string        // empty means "gemini-embedding-001"
	Timeout        time.Duration // per attempt; empty means 20s. The caller's ctx bounds all attempts.
}

// Gemini answers from passages and computes embeddings with Google's Gemini
// API. It implements Responder and Embedder and is safe for concurrent use.
//
// It uses github.com/google/generative-ai-go, which is deprecated; this file
// is the only one that knows about it.
type Gemini struct {
	client     *genai.Client
	model      *genai.GenerativeModel // configured once, then only read
	embedModel string
	timeout    time.Duration

	attempts  int           // calls per request, including the first
	retryBase time.Duration // first backoff; doubles after each retry
}

// maxOutputTokens bounds one answer. The prompt asks for under 600
// characters; the bound leaves room for a longer answer (sent whole, split
// into several messages) and for a thinking model's thoughts, which count
// against it.
const maxOutputTokens = 4096

// replySchema constrains the model's output to the JSON BuildPrompt asks
// for: whether the knowledge answered, the answer, the passages used.
var replySchema = &genai.Schema{
	Type: genai.TypeObject,
	Properties: map[string]*genai.Schema{
		"answer":   {Type: genai.TypeString},
		"answered": {Type: genai.TypeBoolean},
		"sources":  {Type: genai.TypeArray, Items: &genai.Schema{Type: genai.TypeInteger}},
	},
	Required: []string{"answer", "answered", "sources"},
}

// maxBatch is the most texts the API embeds in one batchEmbedContents call.
const maxBatch = 100

// NewGemini returns a Gemini client. It does not contact the API.
func NewGemini(ctx context.Context, cfg GeminiConfig) (*Gemini, error) {
	if cfg.APIKey == "" {
		return nil, apperr.Errorf(apperr.InvalidArgument, "gemini: api key is required")
	}
	// Never option.WithHTTPClient: the SDK then stops sending the key.
	opts := []option.ClientOption{option.WithAPIKey(cfg.APIKey)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithEndpoint(cfg.BaseURL))
	}
	c, err := genai.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gemini: new client: %w", redact(err))
	}
	m := c.GenerativeModel(cmp.Or(cfg.Model, "gemini-2.5-flash"))
	m.SetTemperature(0.2)
	m.SetMaxOutputTokens(maxOutputTokens)
	m.ResponseMIMEType = "application/json"
	m.ResponseSchema = replySchema
	return &Gemini{
		client:     c,
		model:      m,
		embedModel: cmp.Or(cfg.EmbeddingModel, "gemini-embedding-001"),
		timeout:    cmp.Or(cfg.Timeout, 20*time.Second),
		attempts:   3,
		retryBase:  300 * time.Millisecond,
	}, nil
}

// Close releases the client's connections.
func (g *Gemini) Close() error {
	return redact(g.client.Close())
}

// Respond asks the model to answer p.Question from p.Passages. Without
// passages or a question it does not call the model and returns a reply
// that is not Answered. A reply the API blocks for safety is not Answered
// either. Failures after retries are apperr.Upstream.
func (g *Gemini) Respond(ctx context.Context, p Prompt) (Reply, error) {
	if len(p.Passages) == 0 || strings.TrimSpace(p.Question) == "" {
		return Reply{}, nil
	}
	prompt := genai.Text(BuildPrompt(p))
	var (
		res     *genai.GenerateContentResponse
		blocked bool
	)
	err := g.retry(ctx, func(ctx context.Context) (err error) {
		res, err = g.model.GenerateContent(ctx, prompt)
		if _, ok := errors.AsType[*genai.BlockedError](err); ok {
			blocked = true
			return nil
		}
		return err
	})
	if blocked {
		return Reply{}, nil
	}
	if err != nil {
		return Reply{}, apperr.Wrapf(err, apperr.Upstream, "gemini: generate content")
	}
	var out strings.Builder
	if len(res.Candidates) > 0 && res.Candidates[0].Content != nil {
		for _, part := range res.Candidates[0].Content.Parts {
			if t, ok := part.(genai.Text); ok {
				out.WriteString(string(t))
			}
		}
	}
	if out.Len() == 0 {
		reason := "no candidates"
		if len(res.Candidates) > 0 {
			reason = "finish reason " + res.Candidates[0].FinishReason.String()
		}
		return Reply{}, apperr.Errorf(apperr.Upstream, "gemini: empty response (%s)", reason)
	}
	if res.Candidates[0].FinishReason == genai.FinishReasonMaxTokens {
		return parseCutReply(out.String(), len(p.Passages)), nil
	}
	return parseReply(out.String(), len(p.Passages)), nil
}

// Embed returns one vector per text, in order, batching large inputs.
// Failures after retries are apperr.Upstream.
func (g *Gemini) Embed(ctx context.Context, texts []string, task EmbedTask) ([][]float32, error) {
	em := g.client.EmbeddingModel(g.embedModel)
	switch task {
	case EmbedDocument:
		em.TaskType = genai.TaskTypeRetrievalDocument
	case EmbedQuery:
		em.TaskType = genai.TaskTypeRetrievalQuery
	default:
		return nil, apperr.Errorf(apperr.InvalidArgument, "gemini: unknown embed task %d", task)
	}
	if len(texts) == 1 { // the common case: a question
		var res *genai.EmbedContentResponse
		err := g.retry(ctx, func(ctx context.Context) (err error) {
			res, err = em.EmbedContent(ctx, genai.Text(texts[0]))
			return err
		})
		if err != nil {
			return nil, apperr.Wrapf(err, apperr.Upstream, "gemini: embed content")
		}
		if res.Embedding == nil {
			return nil, apperr.Errorf(apperr.Upstream, "gemini: embed content: no embedding")
		}
		return [][]float32{res.Embedding.Values}, nil
	}
	vecs := make([][]float32, 0, len(texts))
	for chunk := range slices.Chunk(texts, maxBatch) {
		b := em.NewBatch()
		for _, t := range chunk {
			b.AddContent(genai.Text(t))
		}
		var res *genai.BatchEmbedContentsResponse
		err := g.retry(ctx, func(ctx context.Context) (err error) {
			res, err = em.BatchEmbedContents(ctx, b)
			return err
		})
		if err != nil {
			return nil, apperr.Wrapf(err, apperr.Upstream, "gemini: batch embed contents")
		}
		if len(res.Embeddings) != len(chunk) {
			return nil, apperr.Errorf(apperr.Upstream, "gemini: batch embed contents: got %d embeddings for %d texts", len(res.Embeddings), len(chunk))
		}
		for _, e := range res.Embeddings {
			if e == nil {
				return nil, apperr.Errorf(apperr.Upstream, "gemini: batch embed contents: missing embedding")
			}
			vecs = append(vecs, e.Values)
		}
	}
	return vecs, nil
}

// retry calls f up to g.attempts times, each with g.timeout, while the error
// is transient (429, 5xx, a timeout or a broken connection) and the backoff
// fits before ctx's deadline. The error it returns is redacted.
//
// The SDK itself also retries 503 inside one attempt (gax, starting at 1s).
func (g *Gemini) retry(ctx context.Context, f func(context.Context) error) error {
	wait := g.retryBase
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, g.timeout)
		err := f(actx)
		cancel()
		if err == nil || attempt == g.attempts || ctx.Err() != nil || !transient(err) {
			return redact(err)
		}
		d := wait/2 + rand.N(wait/2+1) // jitter, so replicas don't retry in step
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return redact(err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return redact(err)
		case <-t.C:
		}
		wait *= 2
	}
}

// transient reports whether a failed call may succeed if repeated.
func transient(err error) bool {
	if gerr, ok := errors.AsType[*googleapi.Error](err); ok {
		return gerr.Code == http.StatusTooManyRequests || gerr.Code >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) { // this attempt's timeout
		return true
	}
	_, ok := errors.AsType[*url.Error](err) // connection refused, reset, EOF
	return ok
}

// apiKey matches an API key in a query string ("key=…", also URL-escaped)
// and anything shaped like a Google API key.
var apiKey = regexp.MustCompile(`(?i)(key(?:=|%3D))[^&\s"'#]+|AIza[0-9A-Za-z_\-]{35}`)

// redact returns err with API keys removed from its message. The SDK's
// transport errors quote the request URL, key included. The result still
// matches what err matched with errors.Is (context.DeadlineExceeded, say),
// but it does not unwrap to err, so nothing can reach the unredacted text.
func redact(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: apiKey.ReplaceAllString(err.Error(), "${1}REDACTED"), cause: err}
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }
