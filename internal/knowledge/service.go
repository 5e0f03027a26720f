package knowledge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/wake"
)

// Defaults of Options.
const (
	DefaultMaxTextChars = 100_000
	DefaultWorkers      = 2
	// DefaultMinScore is calibrated on the tune split of bench/eval (make
	// eval; held-out messages were never looked at): the share of the
	// question's IDF-weighted terms the best passage must cover for the bot
	// to answer rather than send the fallback. A wrong answer costs more
	// than a fallback: misleading a customer is worse than handing them to
	// a person, so the cost weighed a wrong answer (to an answerable
	// question or to one the knowledge base does not answer) four times a
	// missed answer. Sweeping 0.20–0.70 in steps of 0.05 with the offline
	// responder, 0.60 cost the least (with a factor of three as well):
	// 65% correct, 3% wrong, fallback recall 91% on tune, against 69%, 6%,
	// 89% at 0.55, 72%, 7%, 85% at 0.50 and 78%, 8%, 80% at 0.45; 0.65
	// gives 60%, 3%, 93%.
	// It is also the lowest threshold that keeps wrong answers at most 3%
	// and fallback recall at least 90%.
	DefaultMinScore        = 0.6
	DefaultMinSimilarity   = 0.7
	DefaultPassages        = 5
	DefaultPollInterval    = 5 * time.Second
	DefaultLease           = 2 * time.Minute
	DefaultMaxAttempts     = 3
	DefaultMaxCachedAgents = 256
)

// Limits on what people type, in characters.
const (
	maxTitleChars    = 500
	maxFAQPairs      = 1000
	maxQuestionChars = 1000
	maxQueryChars    = 2000
)

// Options tunes a Service. The zero value of every field means its default.
type Options struct {
	// MaxUploadBytes is the largest file Upload accepts; default
	// DefaultMaxFileSize (10 MB).
	MaxUploadBytes int64
	// MaxTextChars is the most characters AddText takes, and AddFAQ over
	// all its pairs; default DefaultMaxTextChars.
	MaxTextChars int
	// Workers is how many files Run ingests at once; default 2.
	Workers int
	// MinScore is the lexical confidence threshold: a passage counts as an
	// answer only when it covers more than this share of the question's
	// IDF-weighted terms (see Index.Coverage). Default DefaultMinScore; a negative
	// value accepts any passage that shares a term with the question.
	MinScore float64
	// MinSimilarity is the same threshold for the cosine similarity of
	// embeddings, used when an Embedder is configured; default 0.7.
	MinSimilarity float64
	// Passages is how many passages the responder gets; default 5.
	Passages int
	// PollInterval is how often Run looks for work that no wake-up
	// announced: uploads on other replicas, sources a crash left behind,
	// embeddings to retry. Default 5s.
	PollInterval time.Duration
	// Lease is how long a worker owns a source it ingests before another
	// (on any replica) may take it over; it is renewed while the work
	// goes on. Default 2 minutes.
	Lease time.Duration
	// MaxAttempts is how many times a file is tried before it is given up
	// on as FAILED, for files whose ingest keeps crashing the process.
	// Default 3.
	MaxAttempts int
	// MaxCachedAgents bounds how many agents' retrieval indexes stay in
	// memory; the least recently used is dropped. Default 256.
	MaxCachedAgents int
	// Registerer, if not nil, gets the service's Prometheus metrics.
	Registerer prometheus.Registerer
	// Publisher, if not nil, is told about sources on TopicSource once
	// the change is committed; nil publishes nothing.
	Publisher Publisher
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = DefaultMaxFileSize
	}
	if o.MaxTextChars <= 0 {
		o.MaxTextChars = DefaultMaxTextChars
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MinScore == 0 {
		o.MinScore = DefaultMinScore
	}
	if o.MinSimilarity == 0 {
		o.MinSimilarity = DefaultMinSimilarity
	}
	if o.Passages <= 0 {
		o.Passages = DefaultPassages
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxCachedAgents <= 0 {
		o.MaxCachedAgents = DefaultMaxCachedAgents
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// TopicSource carries the events the Service publishes: KindCreated,
// KindReady and KindFailed, whose ID is a knowledge source ID and whose
// Extra holds the source's agent ID under ExtraAgent. Deleting a source
// publishes nothing: subscribers load what an event names, and a deleted
// source cannot be loaded.
const TopicSource = "knowledge_source"

// Kinds of the events on TopicSource.
const (
	// KindCreated: a source was stored; READY for texts and FAQs,
	// PROCESSING for uploaded files.
	KindCreated = "created"
	// KindReady: an uploaded file was ingested and is READY.
	KindReady = "ready"
	// KindFailed: an uploaded file could not be ingested and is FAILED,
	// with the reason in its error field.
	KindFailed = "failed"
)

// ExtraAgent is the Extra key of the source's agent ID, in decimal.
const ExtraAgent = "agent"

// Publisher announces changes to knowledge sources; pubsub.Bus satisfies
// it.
type Publisher interface {
	Publish(ctx context.Context, ev pubsub.Event) error
}

// Service is an agent's knowledge base: it stores what the business
// teaches its agent (texts, FAQ pairs, files), ingests files in the
// background, and answers questions from it with citations.
//
// Methods that change the knowledge base are called from GraphQL
// resolvers: they write through the mutation's transaction (store.Client)
// and leave access control to the ent privacy policy (OWNER tokens of the
// agent's workspace). Answer also works with a system context, for the bot.
type Service struct {
	client    *ent.Client
	responder llm.Responder
	embedder  llm.Embedder
	opts      Options
	log       *slog.Logger
	metrics   *metrics

	wake    wake.Signal
	indexes indexCache
}

// New returns a Service. embedder may be nil (no GEMINI_API_KEY): retrieval
// is then lexical only. logger nil discards. Call Run to ingest files.
func New(client *ent.Client, responder llm.Responder, embedder llm.Embedder, opts Options, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Service{
		client:    client,
		responder: responder,
		embedder:  embedder,
		opts:      opts,
		log:       logger,
		metrics:   newMetrics(opts.Registerer),
	}
	s.indexes.max = opts.MaxCachedAgents
	return s
}

// AddText adds a text the business typed or pasted to the agent's
// knowledge. It is chunked at once and READY when AddText returns;
// embeddings, if configured, follow in the background.
func (s *Service) AddText(ctx context.Context, agentID int, title, text string) (_ *ent.KnowledgeSource, err error) {
	defer apperr.Wrap(&err, "knowledge.AddText(agent %d)", agentID)
	title, err = checkTitle(title)
	if err != nil {
		return nil, err
	}
	text = cleanText(text)
	if text == "" {
		return nil, apperr.Errorf(apperr.InvalidArgument, "text: the text is empty; paste the information the agent should know")
	}
	if n := utf8.RuneCountInString(text); n > s.opts.MaxTextChars {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"text: the text has %d characters, more than the limit of %d; split it into several texts or upload it as a file",
			n, s.opts.MaxTextChars)
	}
	chunks := ChunkDocument(extractPlain(text), ChunkOptions{})
	return s.addChunked(ctx, agentID, knowledgesource.KindTEXT, title, len(text), chunks)
}

// AddFAQ adds question and answer pairs to the agent's knowledge, one
// chunk per pair. Like AddText it is READY when it returns.
func (s *Service) AddFAQ(ctx context.Context, agentID int, title string, pairs []FAQPair) (_ *ent.KnowledgeSource, err error) {
	defer apperr.Wrap(&err, "knowledge.AddFAQ(agent %d)", agentID)
	title, err = checkTitle(title)
	if err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, apperr.Errorf(apperr.InvalidArgument, "pairs: add at least one question with its answer")
	}
	if len(pairs) > maxFAQPairs {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"pairs: %d pairs are more than the limit of %d; split them into several FAQs", len(pairs), maxFAQPairs)
	}
	clean := make([]FAQPair, len(pairs))
	total := 0
	for i, p := range pairs {
		q, a := cleanText(p.Question), cleanText(p.Answer)
		switch {
		case q == "" && a == "":
			return nil, apperr.Errorf(apperr.InvalidArgument, "pairs: pair %d is empty; remove it or fill in its question and answer", i+1)
		case q == "":
			return nil, apperr.Errorf(apperr.InvalidArgument, "pairs: pair %d has no question", i+1)
		case a == "":
			return nil, apperr.Errorf(apperr.InvalidArgument, "pairs: pair %d (%q) has no answer", i+1, truncateRunes(q, 60))
		case utf8.RuneCountInString(q) > maxQuestionChars:
			return nil, apperr.Errorf(apperr.InvalidArgument,
				"pairs: the question of pair %d is longer than %d characters; shorten it", i+1, maxQuestionChars)
		}
		clean[i] = FAQPair{Question: q, Answer: a}
		total += utf8.RuneCountInString(q) + utf8.RuneCountInString(a)
	}
	if total > s.opts.MaxTextChars {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"pairs: the pairs have %d characters, more than the limit of %d; split them into several FAQs", total, s.opts.MaxTextChars)
	}
	return s.addChunked(ctx, agentID, knowledgesource.KindFAQ, title, total, ChunkFAQ(clean))
}

// addChunked stores a READY source and its chunks in one transaction.
func (s *Service) addChunked(ctx context.Context, agentID int, kind knowledgesource.Kind, title string, size int, chunks []Chunk) (*ent.KnowledgeSource, error) {
	var src *ent.KnowledgeSource
	err := s.withTx(ctx, func(c *ent.Client) error {
		ag, err := c.Agent.Get(ctx, agentID)
		if err != nil {
			return s.entError(err, "agent")
		}
		src, err = c.KnowledgeSource.Create().
			SetWorkspaceID(ag.WorkspaceID).SetAgentID(ag.ID).SetKind(kind).SetTitle(title).
			SetBytes(size).SetStatus(knowledgesource.StatusREADY).SetChunkCount(len(chunks)).
			SetRevision(1).SetNeedsEmbedding(len(chunks) > 0).
			Save(ctx)
		if err != nil {
			return s.entError(err, "knowledge source")
		}
		return s.entError(insertChunks(ctx, c, src, chunks, nil), "knowledge source")
	})
	if err != nil {
		return nil, err
	}
	store.AfterCommit(ctx, func() {
		if s.embedder != nil {
			s.wake.Notify()
		}
		s.publish(ctx, KindCreated, src)
	})
	return src, nil
}

// Upload stores a file for the agent's knowledge and returns its source,
// PROCESSING: Run reads it in the background, and the source becomes READY,
// or FAILED with a plain reason in its error field (damaged,
// password-protected, no text, unsupported type). A file over
// Options.MaxUploadBytes, or an empty one, is refused at once with
// apperr.InvalidArgument. title may be empty: the document's own title is
// then used, or the file name.
func (s *Service) Upload(ctx context.Context, agentID int, filename, contentType string, r io.Reader, title string) (_ *ent.KnowledgeSource, err error) {
	defer apperr.Wrap(&err, "knowledge.Upload(agent %d)", agentID)
	if strings.TrimSpace(filename) == "" {
		filename = "upload" // the content decides the format
	}
	name := displayName(filename)
	if strings.TrimSpace(title) == "" {
		title = name
	}
	title, err = checkTitle(title)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, s.opts.MaxUploadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the upload: %w", err)
	}
	if int64(len(data)) > s.opts.MaxUploadBytes {
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"%s is larger than the %s limit; split it into smaller files", name, formatSize(s.opts.MaxUploadBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, apperr.Errorf(apperr.InvalidArgument, "%s is empty", name)
	}
	contentType = truncateRunes(strings.TrimSpace(strings.ToValidUTF8(contentType, "")), 200)

	var src *ent.KnowledgeSource
	err = s.withTx(ctx, func(c *ent.Client) error {
		ag, err := c.Agent.Get(ctx, agentID)
		if err != nil {
			return s.entError(err, "agent")
		}
		create := c.KnowledgeSource.Create().
			SetWorkspaceID(ag.WorkspaceID).SetAgentID(ag.ID).SetKind(knowledgesource.KindFILE).
			SetTitle(title).SetFilename(name).SetBytes(len(data)).SetContent(data).
			SetStatus(knowledgesource.StatusPROCESSING)
		if contentType != "" {
			create.SetContentType(contentType)
		}
		src, err = create.Save(ctx)
		return s.entError(err, "knowledge source")
	})
	if err != nil {
		return nil, err
	}
	store.AfterCommit(ctx, func() {
		s.wake.Notify()
		s.publish(ctx, KindCreated, src)
	})
	return src, nil
}

// Source returns a knowledge source visible to the viewer of ctx, without
// the uploaded file it may still hold: subscriptions load a source for every
// subscriber, and the file can be as large as the upload limit.
func (s *Service) Source(ctx context.Context, id int) (*ent.KnowledgeSource, error) {
	return s.client.KnowledgeSource.Query().Where(knowledgesource.ID(id)).Select(sourceColumns...).Only(ctx)
}

// sourceColumns are the columns of a knowledge source but its content.
var sourceColumns = slices.DeleteFunc(slices.Clone(knowledgesource.Columns), func(c string) bool {
	return c == knowledgesource.FieldContent
})

// Delete removes a source and its chunks. It is gone from the answers of
// every replica as soon as the transaction commits: retrieval checks the
// agent's sources before each search.
func (s *Service) Delete(ctx context.Context, sourceID int) (err error) {
	defer apperr.Wrap(&err, "knowledge.Delete(%d)", sourceID)
	return s.withTx(ctx, func(c *ent.Client) error {
		if _, err := c.KnowledgeSource.Get(ctx, sourceID); err != nil {
			return s.entError(err, "knowledge source")
		}
		// The foreign key cascades too; deleting explicitly keeps the
		// privacy policy in charge of the chunks as well.
		if _, err := c.KnowledgeChunk.Delete().Where(knowledgechunk.SourceID(sourceID)).Exec(ctx); err != nil {
			return s.entError(err, "knowledge source")
		}
		return s.entError(c.KnowledgeSource.DeleteOneID(sourceID).Exec(ctx), "knowledge source")
	})
}

// insertChunks stores chunks of src, with their embeddings when vecs has
// one per chunk.
func insertChunks(ctx context.Context, c *ent.Client, src *ent.KnowledgeSource, chunks []Chunk, vecs [][]float32) error {
	const batch = 500 // well under the bound parameters SQLite and Postgres allow
	for start := 0; start < len(chunks); start += batch {
		end := min(start+batch, len(chunks))
		creates := make([]*ent.KnowledgeChunkCreate, 0, end-start)
		for i := start; i < end; i++ {
			ch := chunks[i]
			cc := c.KnowledgeChunk.Create().
				SetWorkspaceID(src.WorkspaceID).SetAgentID(src.AgentID).SetSourceID(src.ID).
				SetPosition(ch.Position).SetHeading(ch.Heading).SetText(ch.Text)
			if i < len(vecs) && len(vecs[i]) > 0 {
				cc.SetEmbedding(encodeVector(vecs[i]))
			}
			creates = append(creates, cc)
		}
		if err := c.KnowledgeChunk.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("storing chunks: %w", err)
		}
	}
	return nil
}

// withTx runs f with the transaction of the current GraphQL mutation, or,
// outside one, with a transaction of its own, so that a source and its
// chunks are stored together or not at all.
func (s *Service) withTx(ctx context.Context, f func(c *ent.Client) error) error {
	if c := ent.FromContext(ctx); c != nil {
		return f(c)
	}
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("starting a transaction: %w", err)
	}
	if err := f(tx.Client()); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// rollback rolls tx back, ignoring the error of a transaction that is
// already done.
func rollback(tx *ent.Tx) error {
	if err := tx.Rollback(); err != nil && !strings.Contains(err.Error(), "already") {
		return fmt.Errorf("rolling back: %w", err)
	}
	return nil
}

// publish announces src on TopicSource. The change is already committed,
// so a bus that fails only costs subscribers an event: it is logged, not
// returned.
func (s *Service) publish(ctx context.Context, kind string, src *ent.KnowledgeSource) {
	if s.opts.Publisher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	ev := pubsub.Event{Topic: TopicSource, WorkspaceID: src.WorkspaceID, Kind: kind, ID: src.ID,
		Extra: map[string]string{ExtraAgent: strconv.Itoa(src.AgentID)}}
	if err := s.opts.Publisher.Publish(ctx, ev); err != nil {
		s.log.WarnContext(ctx, "publishing event", "topic", ev.Topic, "kind", ev.Kind, "id", ev.ID, "error", err)
	}
}

// entError gives ent's not-found and privacy errors their apperr kinds.
func (s *Service) entError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apperr.KindOf(err) != apperr.Internal:
		return err
	case ent.IsNotFound(err):
		return apperr.Wrapf(err, apperr.NotFound, "%s not found in your workspace", what)
	case errors.Is(err, privacy.Deny):
		return apperr.Wrapf(err, apperr.PermissionDenied,
			"changing the knowledge base needs an OWNER token of the workspace")
	case ent.IsValidationError(err):
		return apperr.Wrapf(err, apperr.InvalidArgument, "the %s is not valid", what)
	}
	return err
}

// checkTitle returns title cleaned up, or an InvalidArgument error.
func checkTitle(title string) (string, error) {
	title = cleanLine(title)
	if title == "" {
		return "", apperr.Errorf(apperr.InvalidArgument, "title: give it a title, e.g. \"Opening hours\" or \"Returns policy\"")
	}
	if len(title) > maxTitleChars { // the column's limit is in bytes
		return "", apperr.Errorf(apperr.InvalidArgument, "title: the title is longer than %d characters; shorten it", maxTitleChars)
	}
	return title, nil
}

// truncateRunes shortens s to at most n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
