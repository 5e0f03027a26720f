package knowledge

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/llm"
)

const (
	// drainTimeout is how long Run lets ingests in flight finish after its
	// ctx is done; unfinished ones are released for the next process.
	drainTimeout = 15 * time.Second
	// dbTimeout bounds the bookkeeping statements that must run even while
	// shutting down (releasing a claim).
	dbTimeout = 10 * time.Second
	// embedBatch is how many chunks are embedded per request and stored per
	// transaction by the background embedder.
	embedBatch = 100
	// maxEmbedBackoff caps the wait between retries when Gemini fails.
	maxEmbedBackoff = 10 * time.Minute
)

// failedMessage is the reason shown for a file that could not be ingested
// for a reason of ours rather than of the file.
const failedMessage = "we could not process this file; upload it again, and if that fails too, paste its text instead"

// Run ingests uploaded files until ctx is done: Options.Workers at a time,
// in this and every other replica sharing the database (each file is
// claimed with a lease, so exactly one worker has it). Files left
// PROCESSING by a process that crashed are picked up once their lease
// runs out; those are new leases on start. With an Embedder it also embeds
// chunks stored without embeddings (texts, FAQs, and files whose
// embedding failed), retrying with backoff while Gemini fails.
//
// When ctx is done Run gives ingests in flight a few seconds to finish,
// releases the rest for the next process, and returns.
func (s *Service) Run(ctx context.Context) {
	s.log.InfoContext(ctx, "knowledge workers started", "workers", s.opts.Workers, "embeddings", s.embedder != nil)
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() { s.ingestLoop(ctx) })
	}
	if s.embedder != nil {
		wg.Go(func() { s.embedLoop(ctx) })
	}
	wg.Wait()
	s.log.Info("knowledge workers stopped")
}

// ingestLoop claims and ingests files until ctx is done.
func (s *Service) ingestLoop(ctx context.Context) {
	failing := false
	for ctx.Err() == nil {
		wake := s.wake.Wait() // before looking, so that no wake-up is missed
		src, err := s.claim(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.ErrorContext(ctx, "claiming knowledge sources to ingest", "error", err)
		case err == nil && failing:
			s.log.InfoContext(ctx, "claiming knowledge sources works again")
		}
		failing = err != nil
		if src != nil {
			s.ingest(ctx, src)
			continue
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claim takes a PROCESSING source whose lease is free, for this worker,
// or returns nil when there is none. It is fair across workspaces: it takes
// the oldest waiting source of the workspace served least recently (see
// queueHeads), so one workspace's fifty queued uploads hold back another
// workspace's single upload by one ingest at most, not fifty. The
// conditional update makes the claim atomic across workers and replicas;
// attempts, incremented by it, fences every later write of this attempt.
func (s *Service) claim(ctx context.Context) (*ent.KnowledgeSource, error) {
	sys := auth.SystemContext(ctx)
	now := s.now()
	free := knowledgesource.Or(knowledgesource.LeaseUntilIsNil(), knowledgesource.LeaseUntilLT(now))
	ids, err := s.queueHeads(sys, free)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		n, err := s.client.KnowledgeSource.Update().
			Where(knowledgesource.ID(id), knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING), free).
			SetLeaseUntil(now.Add(s.opts.Lease)).SetClaimedAt(now).AddAttempts(1).Save(sys)
		if err != nil {
			return nil, fmt.Errorf("claiming source %d: %w", id, err)
		}
		if n == 0 {
			continue // another worker was faster; try the next workspace
		}
		src, err := s.client.KnowledgeSource.Get(sys, id)
		if ent.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("loading source %d: %w", id, err)
		}
		return src, nil
	}
	return nil, nil
}

// queueHeads returns the oldest waiting (PROCESSING, lease free) source of
// each workspace that has one, the workspace served least recently first:
// one never served, then the one whose latest claim is oldest. Ties go to
// the older source. Serving a workspace moves it to the back, so busy
// workspaces take turns and a newcomer is next.
func (s *Service) queueHeads(sys context.Context, free predicate.KnowledgeSource) ([]int, error) {
	var heads []struct {
		WorkspaceID int `json:"workspace_id"`
		Min         int `json:"min"`
	}
	err := s.client.KnowledgeSource.Query().
		Where(knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING), free).
		GroupBy(knowledgesource.FieldWorkspaceID).Aggregate(ent.Min(knowledgesource.FieldID)).Scan(sys, &heads)
	if err != nil {
		return nil, fmt.Errorf("listing sources to ingest: %w", err)
	}
	type head struct {
		id     int
		served time.Time // zero: never
	}
	hs := make([]head, 0, len(heads))
	for _, h := range heads {
		last, err := s.client.KnowledgeSource.Query().
			Where(knowledgesource.WorkspaceID(h.WorkspaceID), knowledgesource.ClaimedAtNotNil()).
			Order(knowledgesource.ByClaimedAt(sql.OrderDesc())).
			Select(knowledgesource.FieldClaimedAt).First(sys)
		switch {
		case ent.IsNotFound(err):
			hs = append(hs, head{id: h.Min})
		case err != nil:
			return nil, fmt.Errorf("finding when workspace %d was last served: %w", h.WorkspaceID, err)
		default:
			hs = append(hs, head{id: h.Min, served: *last.ClaimedAt})
		}
	}
	slices.SortFunc(hs, func(a, b head) int {
		if c := a.served.Compare(b.served); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	ids := make([]int, len(hs))
	for i, h := range hs {
		ids[i] = h.id
	}
	return ids, nil
}

// ingest reads, chunks and embeds a claimed source and stores the result:
// READY with its chunks, or FAILED with a reason for the person who
// uploaded it. A failure of ours (the database) leaves the source
// PROCESSING, to be retried when the lease runs out.
func (s *Service) ingest(ctx context.Context, src *ent.KnowledgeSource) {
	start := time.Now()
	log := s.log.With("source_id", src.ID, "agent_id", src.AgentID, "attempt", src.Attempts)
	work, cancel := drainContext(ctx, drainTimeout)
	defer cancel()
	stopHeartbeat := s.heartbeat(work, src)
	defer stopHeartbeat()

	result, err := s.ingestOnce(work, src, log)
	stopHeartbeat()
	switch {
	case err == nil:
		s.metrics.ingested(result, time.Since(start))
		log.InfoContext(ctx, "ingested knowledge source", "result", result, "seconds", time.Since(start).Seconds())
	case work.Err() != nil:
		// Shutting down: let the next process have it, without counting
		// this attempt against the file.
		rctx, rcancel := context.WithTimeout(auth.SystemContext(context.WithoutCancel(ctx)), dbTimeout)
		defer rcancel()
		err := s.client.KnowledgeSource.Update().
			Where(knowledgesource.ID(src.ID), knowledgesource.Attempts(src.Attempts),
				knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING)).
			ClearLeaseUntil().AddAttempts(-1).Exec(rctx)
		log.WarnContext(ctx, "ingest interrupted by shutdown; released for the next process", "release_error", err)
	default:
		log.ErrorContext(ctx, "ingesting knowledge source; retrying when the lease runs out", "error", err)
	}
}

// ingestOnce does the work of ingest and returns "ready", "failed" or
// "lost" (the claim was taken over, or the source deleted, meanwhile).
func (s *Service) ingestOnce(ctx context.Context, src *ent.KnowledgeSource, log *slog.Logger) (result string, err error) {
	sys := auth.SystemContext(ctx)
	if src.Attempts > s.opts.MaxAttempts {
		log.ErrorContext(ctx, "giving up on a knowledge source that failed every attempt")
		return s.fail(sys, src, failedMessage)
	}
	filename, contentType := "", ""
	if src.Filename != nil {
		filename = *src.Filename
	}
	if src.ContentType != nil {
		contentType = *src.ContentType
	}

	var (
		doc    Document
		chunks []Chunk
	)
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		doc, err = Extract(filename, contentType, bytes.NewReader(src.Content), s.opts.MaxUploadBytes)
		if err == nil {
			chunks = ChunkDocument(doc, ChunkOptions{})
		}
		return err
	}()
	if err != nil {
		if apperr.KindOf(err) == apperr.InvalidArgument {
			log.WarnContext(ctx, "uploaded file cannot be read", "error", err)
			return s.fail(sys, src, apperr.Message(err))
		}
		log.ErrorContext(ctx, "reading uploaded file", "error", err)
		return s.fail(sys, src, failedMessage)
	}
	if len(chunks) == 0 {
		return s.fail(sys, src, displayName(filename)+" has no text in it")
	}

	title := src.Title
	if src.Filename != nil && title == *src.Filename && doc.Title != "" {
		// No title was given: the document's own is better than its file name.
		if t, err := checkTitle(doc.Title); err == nil {
			title = t
		}
	}
	vecs := s.embedChunks(ctx, title, chunks, log)

	tx, err := s.client.Tx(sys)
	if err != nil {
		return "", fmt.Errorf("starting a transaction: %w", err)
	}
	c := tx.Client()
	// A crashed attempt stored nothing (chunks and READY commit together),
	// but be sure no chunk of this source is left over.
	if _, err := c.KnowledgeChunk.Delete().Where(knowledgechunk.SourceID(src.ID)).Exec(sys); err != nil {
		return "", errors.Join(fmt.Errorf("clearing old chunks: %w", err), rollback(tx))
	}
	n, err := c.KnowledgeSource.Update().
		Where(knowledgesource.ID(src.ID), knowledgesource.Attempts(src.Attempts),
			knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING)).
		SetStatus(knowledgesource.StatusREADY).SetTitle(title).SetChunkCount(len(chunks)).
		ClearContent().ClearError().ClearLeaseUntil().AddRevision(1).
		SetNeedsEmbedding(vecs == nil).
		Save(sys)
	if err != nil {
		return "", errors.Join(fmt.Errorf("marking the source ready: %w", err), rollback(tx))
	}
	if n == 0 {
		return "lost", rollback(tx)
	}
	if err := insertChunks(sys, c, src, chunks, vecs); err != nil {
		return "", errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("committing the chunks: %w", err)
	}
	s.publish(ctx, KindReady, src)
	return "ready", nil
}

// fail marks a claimed source FAILED with reason, shown to its uploader,
// and drops its content.
func (s *Service) fail(ctx context.Context, src *ent.KnowledgeSource, reason string) (string, error) {
	n, err := s.client.KnowledgeSource.Update().
		Where(knowledgesource.ID(src.ID), knowledgesource.Attempts(src.Attempts),
			knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING)).
		SetStatus(knowledgesource.StatusFAILED).SetError(reason).
		ClearContent().ClearLeaseUntil().
		Save(ctx)
	if err != nil {
		return "", fmt.Errorf("marking the source failed: %w", err)
	}
	if n == 0 {
		return "lost", nil
	}
	s.publish(ctx, KindFailed, src)
	return "failed", nil
}

// heartbeat renews the lease on src while its ingest runs, so that a
// large file is not taken over by another worker. The returned function
// stops it and may be called more than once.
func (s *Service) heartbeat(ctx context.Context, src *ent.KnowledgeSource) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := s.client.KnowledgeSource.Update().
				Where(knowledgesource.ID(src.ID), knowledgesource.Attempts(src.Attempts),
					knowledgesource.StatusEQ(knowledgesource.StatusPROCESSING)).
				SetLeaseUntil(s.now().Add(s.opts.Lease)).Exec(auth.SystemContext(ctx))
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "renewing the lease of a knowledge source", "source_id", src.ID, "error", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// embedChunks returns one embedding per chunk, or nil when there is no
// embedder or it fails: the chunks are then stored without embeddings and
// embedded later by the background embedder.
func (s *Service) embedChunks(ctx context.Context, title string, chunks []Chunk, log *slog.Logger) [][]float32 {
	if s.embedder == nil {
		return nil
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = indexText(title, c.Heading, c.Text)
	}
	vecs, err := s.embedder.Embed(ctx, texts, llm.EmbedDocument)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("got %d embeddings for %d chunks", len(vecs), len(texts))
	}
	if err != nil {
		log.WarnContext(ctx, "embedding chunks; storing them without embeddings for now", "error", err)
		s.metrics.embedFailed()
		return nil
	}
	return vecs
}

// embedLoop embeds chunks stored without embeddings until ctx is done.
// A source whose chunks fail to embed is retried with its own backoff, so
// that one bad source does not hold up the others.
func (s *Service) embedLoop(ctx context.Context) {
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	retries := map[int]retry{}
	for ctx.Err() == nil {
		wake := s.wake.Wait()
		now := time.Now()
		var skip []int
		for id, r := range retries {
			if now.Before(r.at) {
				skip = append(skip, id)
			}
		}
		did, sourceID, err := s.embedPending(ctx, skip)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && sourceID != 0:
			r := retries[sourceID]
			r.wait = min(max(2*r.wait, s.opts.PollInterval), maxEmbedBackoff)
			r.at = now.Add(r.wait)
			retries[sourceID] = r
			s.log.WarnContext(ctx, "embedding stored chunks; retrying later",
				"source_id", sourceID, "retry_in", r.wait, "error", err)
			continue
		case err != nil:
			s.log.ErrorContext(ctx, "finding chunks to embed", "error", err)
		case did:
			delete(retries, sourceID)
			continue
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-wake:
		}
		t.Stop()
	}
}

// embedPending embeds one batch of chunks that have no embedding yet, of a
// source not in skip. It reports whether there was anything to do, and
// the source it worked on.
func (s *Service) embedPending(ctx context.Context, skip []int) (did bool, sourceID int, err error) {
	sys := auth.SystemContext(ctx)
	src, err := s.client.KnowledgeSource.Query().
		Where(knowledgesource.NeedsEmbedding(true), knowledgesource.StatusEQ(knowledgesource.StatusREADY),
			knowledgesource.IDNotIn(skip...)).
		Order(knowledgesource.ByID()).First(sys)
	if ent.IsNotFound(err) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("finding sources to embed: %w", err)
	}
	chunks, err := s.client.KnowledgeChunk.Query().
		Where(knowledgechunk.SourceID(src.ID), knowledgechunk.EmbeddingIsNil()).
		Order(knowledgechunk.ByPosition()).Limit(embedBatch).All(sys)
	if err != nil {
		return false, src.ID, fmt.Errorf("loading chunks to embed: %w", err)
	}
	var vecs [][]float32
	if len(chunks) > 0 {
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = indexText(src.Title, c.Heading, c.Text)
		}
		vecs, err = s.embedder.Embed(ctx, texts, llm.EmbedDocument)
		if err == nil && len(vecs) != len(texts) {
			err = fmt.Errorf("got %d embeddings for %d chunks", len(vecs), len(texts))
		}
		if err != nil {
			s.metrics.embedFailed()
			return false, src.ID, fmt.Errorf("embedding chunks of source %d: %w", src.ID, err)
		}
	}

	tx, err := s.client.Tx(sys)
	if err != nil {
		return false, src.ID, fmt.Errorf("starting a transaction: %w", err)
	}
	c := tx.Client()
	for i, ch := range chunks {
		if len(vecs[i]) == 0 {
			continue
		}
		err := c.KnowledgeChunk.Update().
			Where(knowledgechunk.ID(ch.ID), knowledgechunk.EmbeddingIsNil()).
			SetEmbedding(encodeVector(vecs[i])).Exec(sys)
		if err != nil {
			return false, src.ID, errors.Join(fmt.Errorf("storing embeddings: %w", err), rollback(tx))
		}
	}
	upd := c.KnowledgeSource.Update().Where(knowledgesource.ID(src.ID))
	if len(chunks) > 0 {
		upd.AddRevision(1) // caches reload the source with its new vectors
	}
	if len(chunks) < embedBatch {
		upd.SetNeedsEmbedding(false)
	}
	if err := upd.Exec(sys); err != nil {
		return false, src.ID, errors.Join(fmt.Errorf("updating the source: %w", err), rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return false, src.ID, fmt.Errorf("committing embeddings: %w", err)
	}
	return true, src.ID, nil
}

// now is the current time in UTC: SQLite compares times as text, so every
// stored time must use the same zone.
func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// drainContext returns a context that is not cancelled with parent but d
// after it.
func drainContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(d, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() {
		stop()
		cancel()
	}
}
