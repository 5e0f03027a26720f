package inbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/ent/process"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/backoff"
	"github.com/seachat/seachat/internal/store"
)

// job is a claimed event.
type job struct {
	id        int
	channelID int
	psid      string
	payload   []byte
	attempts  int       // including this claim; fences every later update
	eventTime time.Time // Meta's timestamp of the event, or when it was received if that is earlier: how old the person's message is
}

// dbTimeout bounds the queue's own statements (claims, outcomes, lease
// extensions). They use contexts of their own so that a shutdown never
// strands a claim half made.
const dbTimeout = 10 * time.Second

// Run processes stored events until ctx is done, then waits for the events
// in flight (at most Options.DrainTimeout, after which their Process
// contexts are cancelled and the events released for another worker) and
// returns. Events left PENDING by an earlier process are picked up like new
// ones. Run returns nil after a clean drain. Several Runs, in one process or
// in replicas sharing a PostgreSQL database, share the queue.
func (in *Inbox) Run(ctx context.Context) error {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	var (
		wg        sync.WaitGroup
		depthDone = make(chan struct{})
		sem       = make(chan struct{}, in.opts.Workers) // one token per event in flight
	)
	go func() {
		defer close(depthDone)
		in.refreshDepth(ctx)
	}()
	purgeDone := make(chan struct{})
	go func() {
		defer close(purgeDone)
		in.purge(ctx)
	}()
	in.log.InfoContext(ctx, "inbox workers started", "workers", in.opts.Workers, "dialect", in.st.Dialect)

	failing := false
claiming:
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break claiming
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		// Claim for every idle worker at once: one claim transaction then
		// feeds several workers.
		slots := 1
	more:
		for slots < in.opts.Workers {
			select {
			case sem <- struct{}{}:
				slots++
			default:
				break more
			}
		}
		wake := in.wake.Wait()
		jobs, err := in.claim(ctx, slots)
		if err != nil && !failing {
			in.log.ErrorContext(ctx, "claiming inbox events", "error", err)
		} else if err == nil && failing {
			in.log.InfoContext(ctx, "claiming inbox events works again")
		}
		failing = err != nil
		for range slots - len(jobs) {
			<-sem
		}
		for _, j := range jobs {
			wg.Go(func() {
				in.handle(hard, j)
				<-sem
				// The next event of this user may be due now.
				in.wake.Notify()
			})
		}
		if len(jobs) == slots {
			continue
		}
		// Nothing more is due: sleep until woken or the next poll.
		t := time.NewTimer(in.opts.PollInterval)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}

	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	var err error
	t := time.NewTimer(in.opts.DrainTimeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		n := len(sem)
		in.log.Warn("inbox drain timed out: interrupting events in flight", "events", n)
		cancelHard()
		// A Processor that ignores its context cannot hold shutdown forever;
		// its event is fenced off and will be claimed again.
		t.Reset(min(in.opts.DrainTimeout, 5*time.Second))
		select {
		case <-drained:
		case <-t.C:
		}
		err = fmt.Errorf("inbox: drain timed out after %s with %d events in flight; they will be processed again", in.opts.DrainTimeout, n)
	}
	<-depthDone
	<-purgeDone
	in.log.Info("inbox workers stopped")
	return err
}

// claimQuery leases the oldest available PENDING events (LIMIT ?) whose user
// has no other PENDING event that is older or held (leased or backing off),
// so one user's events are handled one at a time and in event_time order.
//
// A claim names the claiming process (claimed_by, Options.Process) and is
// held while that process is alive: an event claimed by a process whose
// heartbeat is stale (it was killed) is available again at once, not when
// its lease runs out, and no longer holds its user's lane. A claim without
// a process (no heartbeat configured) is held until its lease runs out.
//
// Of one user's events, only the oldest can qualify: a batch holds at most
// one event per user. attempts counts claims and fences later updates: a
// worker whose claim was lost and taken over no longer matches. %s is the
// row lock clause.
var claimQuery = `UPDATE ` + inboxevent.Table + ` SET attempts = attempts + 1, available_at = ?, claimed_by = ?
WHERE id IN (
	SELECT e.id FROM ` + inboxevent.Table + ` AS e
	WHERE e.status = 'PENDING' AND (e.available_at <= ? OR ` + deadClaim("e") + `)
	AND NOT EXISTS (
		SELECT 1 FROM ` + inboxevent.Table + ` AS o
		WHERE o.channel_id = e.channel_id AND o.psid = e.psid AND o.status = 'PENDING' AND o.id <> e.id
		AND ((o.available_at > ? AND NOT ` + deadClaim("o") + `) OR o.event_time < e.event_time OR (o.event_time = e.event_time AND o.id < e.id))
	)
	ORDER BY e.event_time, e.id
	LIMIT ? %s
)
RETURNING id, channel_id, psid, payload, attempts, event_time`

// deadClaim matches events of table alias t claimed by a process whose
// heartbeat is older than its one argument.
func deadClaim(t string) string {
	return `(` + t + `.claimed_by IS NOT NULL AND ` + t + `.claimed_by NOT IN (SELECT p.id FROM ` + process.Table +
		` AS p WHERE p.last_seen > ?))`
}

// claimLockKey is the PostgreSQL advisory lock that serializes claims across
// replicas. SKIP LOCKED alone lets two concurrent claims, each blind to the
// other's uncommitted lease, pick two events of one user (when an older
// event arrives late); claims are short, so taking turns costs little.
const claimLockKey = 0x5eac4a7_1b0c

// claim leases up to limit events; none when none is due.
func (in *Inbox) claim(ctx context.Context, limit int) ([]*job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	now := in.now()
	lock := ""
	if in.st.Dialect == dialect.Postgres {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	query := store.Rebind(in.st.Dialect, fmt.Sprintf(claimQuery, lock))

	// On SQLite, BeginTx takes the write lock at once (_txlock=immediate).
	tx, err := in.st.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if in.st.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(claimLockKey)); err != nil {
			return nil, err
		}
	}
	var owner any // NULL: a claim held by its lease alone
	liveSince := now
	if p := in.opts.Process; p != nil {
		owner, liveSince = p.ID(), p.LiveSince(now)
	}
	rows, err := tx.QueryContext(ctx, query, now.Add(in.opts.Lease), owner, now, liveSince,
		now, liveSince, limit)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	for rows.Next() {
		j := &job{}
		var eventTime sql.NullTime
		if err := rows.Scan(&j.id, &j.channelID, &j.psid, &j.payload, &j.attempts, &eventTime); err != nil {
			rows.Close()
			return nil, err
		}
		// The Handler always sets event_time; a row without one would be
		// treated as old, tried MaxAttempts times.
		j.eventTime = eventTime.Time
		jobs = append(jobs, j)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return jobs, nil
}

// errPermanent marks failures that no retry can fix.
var errPermanent = errors.New("permanent")

// handle processes a claimed event and records the outcome.
func (in *Inbox) handle(hard context.Context, j *job) {
	stop := in.keepLease(j)
	start := time.Now()
	err := in.process(hard, j)
	in.m.processed(time.Since(start).Seconds())
	stop()
	in.finish(hard, j, err)
}

// process hands the event to the Processor. A panic is an error.
func (in *Inbox) process(hard context.Context, j *job) (err error) {
	ev, err := DecodeEvent(j.payload)
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	if !j.eventTime.IsZero() && ev.Timestamp.After(j.eventTime) {
		// Dated after it was received: the Processor gets the receive
		// time, so a future date cannot pin the conversation to the top.
		ev.Timestamp = j.eventTime
	}
	ctx := auth.SystemContext(hard)
	ch, err := in.channels.Get(ctx, j.channelID)
	if errors.Is(err, apperr.NotFound) {
		return fmt.Errorf("%w: channel %d no longer exists", errPermanent, j.channelID)
	}
	if err != nil {
		return fmt.Errorf("loading channel %d: %w", j.channelID, err)
	}
	pctx, cancel := context.WithTimeout(ctx, in.opts.ProcessTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			in.log.Error("inbox processor panicked", "event_id", j.id, "channel_id", j.channelID,
				"panic", redact(fmt.Sprint(p)), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	err = in.proc.Process(pctx, ch, ev)
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) && hard.Err() == nil {
		err = fmt.Errorf("processing timed out after %s: %w", in.opts.ProcessTimeout, err)
	}
	return err
}

// finish records the outcome of a claim: DONE, a retry with backoff, FAILED,
// or (when shutdown interrupted the Processor) a release for another
// worker. Every update is fenced by the claim's attempts.
func (in *Inbox) finish(hard context.Context, j *job, procErr error) {
	ctx, cancel := context.WithTimeout(auth.SystemContext(context.WithoutCancel(hard)), dbTimeout)
	defer cancel()
	log := in.log.With("event_id", j.id, "channel_id", j.channelID, "attempt", j.attempts)
	now := in.now()
	upd := in.st.Client.InboxEvent.Update().Where(
		inboxevent.ID(j.id), inboxevent.StatusEQ(inboxevent.StatusPENDING), inboxevent.Attempts(j.attempts)).
		ClearClaimedBy()
	var (
		n       int
		err     error
		outcome string
	)
	switch {
	case procErr == nil:
		outcome = "done"
		n, err = upd.SetStatus(inboxevent.StatusDONE).SetProcessedAt(now).ClearLastError().Save(ctx)
		if err == nil && n == 1 {
			in.m.done()
		}
	case hard.Err() != nil:
		outcome = "released"
		n, err = upd.AddAttempts(-1).SetAvailableAt(now).Save(ctx)
		log.Info("released inbox event interrupted by shutdown")
	case in.givesUp(j, procErr):
		outcome = "failed"
		msg := errorText(procErr)
		n, err = upd.SetStatus(inboxevent.StatusFAILED).SetProcessedAt(now).SetLastError(msg).Save(ctx)
		log.Error("inbox event failed for good", "psid", j.psid, "error", msg)
		if err == nil && n == 1 {
			in.m.failed()
		}
	default:
		outcome = "retry"
		msg := errorText(procErr)
		delay := in.backoff(j.attempts)
		n, err = upd.SetAvailableAt(now.Add(delay)).SetLastError(msg).Save(ctx)
		if err == nil && n == 1 {
			in.m.retried()
		}
		log.Warn("inbox event failed, will retry", "retry_in", delay, "error", msg)
	}
	switch {
	case err != nil:
		// The lease runs out and the event is claimed again: at least once.
		log.Error("recording inbox event outcome", "outcome", outcome, "error", err)
	case n == 0:
		log.Warn("inbox event lease was lost: another worker took it over", "outcome", outcome)
	}
}

// givesUp reports whether a failed event is marked FAILED rather than
// retried: it failed for good, or MaxAttempts times. (A reply that Meta
// refuses transiently is no longer the event's failure: the outbox retries
// it, for as long as the 24-hour window is open.)
func (in *Inbox) givesUp(j *job, procErr error) bool {
	return errors.Is(procErr, errPermanent) || j.attempts >= in.opts.MaxAttempts
}

// keepLease extends the claim's lease while the Processor runs, so that a
// slow event is not handed to a second worker. stop ends it.
func (in *Inbox) keepLease(j *job) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(in.opts.Lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(auth.SystemContext(context.Background()), dbTimeout)
			n, err := in.st.Client.InboxEvent.Update().
				Where(inboxevent.ID(j.id), inboxevent.StatusEQ(inboxevent.StatusPENDING), inboxevent.Attempts(j.attempts)).
				SetAvailableAt(in.now().Add(in.opts.Lease)).Save(ctx)
			cancel()
			switch {
			case err != nil:
				in.log.Warn("extending inbox lease", "event_id", j.id, "error", err)
			case n == 0:
				in.log.Warn("inbox event lease was lost: another worker took it over", "event_id", j.id)
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// backoff returns the delay after the attempt-th failed attempt:
// BaseBackoff doubled per earlier attempt, at most MaxBackoff, with "equal
// jitter" (half fixed, half random) so that retries of many events spread.
func (in *Inbox) backoff(attempt int) time.Duration {
	return backoff.Delay(attempt, in.opts.BaseBackoff, in.opts.MaxBackoff)
}

// refreshDepth keeps Metrics.QueueDepth and OldestPendingSeconds current
// until ctx is done.
func (in *Inbox) refreshDepth(ctx context.Context) {
	if in.m == nil {
		return
	}
	t := time.NewTicker(in.opts.DepthInterval)
	defer t.Stop()
	for {
		n, err := in.Depth(ctx)
		var oldest time.Duration
		if err == nil {
			oldest, err = in.OldestPending(ctx)
		}
		if err == nil {
			in.m.backlog(n, oldest)
		} else if ctx.Err() == nil {
			in.log.Warn("counting pending inbox events", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Depth returns the number of PENDING events: waiting, leased or backing
// off.
func (in *Inbox) Depth(ctx context.Context) (int, error) {
	return in.st.Client.InboxEvent.Query().
		Where(inboxevent.StatusEQ(inboxevent.StatusPENDING)).Count(auth.SystemContext(ctx))
}

// OldestPending returns how long ago the oldest PENDING event was received,
// or 0 when none is pending.
func (in *Inbox) OldestPending(ctx context.Context) (time.Duration, error) {
	e, err := in.st.Client.InboxEvent.Query().
		Where(inboxevent.StatusEQ(inboxevent.StatusPENDING)).
		Order(ent.Asc(inboxevent.FieldReceivedAt)).First(auth.SystemContext(ctx))
	switch {
	case ent.IsNotFound(err):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return max(in.now().Sub(e.ReceivedAt), 0), nil
}
