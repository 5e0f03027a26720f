package inbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
)

// A webhook is acknowledged only once its events are committed, and the
// commit is most of an ack's cost: a flushed WAL write on PostgreSQL, the
// one write lock on SQLite. So concurrent webhook requests share commits
// ("group commit"): while one batch commits, the requests that arrive queue
// up, and the first of them then stores the whole queue in one
// transaction. A lone request stores its events at once and waits for
// nobody; under load, one commit acknowledges many requests.
type committer struct {
	in *Inbox

	mu      sync.Mutex
	queue   []*storeRequest
	leading bool // a request is storing a batch now

	// eventMarks is when this process last moved each channel's
	// last_event_at (guarded by mu). It is moved at most once per
	// eventMarkEvery: every webhook of a Page would otherwise update the
	// same row, and concurrent commits would queue on its lock.
	eventMarks map[int]time.Time
}

// eventMarkEvery is how stale a channel's last_event_at may get while its
// webhooks are arriving. Only the EVENTS_RECEIVED health check reads it.
const eventMarkEvery = time.Second

// maxBatchRequests bounds the requests stored in one transaction, so that
// one batch's statements stay small and its commit short.
const maxBatchRequests = 256

// storeRequest is one webhook request's events, waiting to be stored.
type storeRequest struct {
	events   []channelEvent
	deadline time.Time

	err  error
	done chan struct{} // closed once err is set: the events are stored, or not
	lead chan struct{} // closed when this request is to store the next batch
}

// channelEvent is an event and the channel it is stored for.
type channelEvent struct {
	ch *ent.MessengerChannel
	ev messenger.Event
}

// store stores the events of one webhook request, with those of concurrent
// requests, and returns once they are committed (nil) or could not be. It
// gives up at ctx's deadline; events stored after that are only duplicates
// to Meta's retry.
func (c *committer) store(ctx context.Context, events []channelEvent) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.in.opts.StoreTimeout)
	}
	req := &storeRequest{events: events, deadline: deadline,
		done: make(chan struct{}), lead: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, req)
	if c.leading {
		c.mu.Unlock()
		// Not on ctx: a request told to lead must lead, or the queue stalls.
		// Every batch is bounded by its requests' deadlines.
		select {
		case <-req.done:
			return req.err
		case <-req.lead:
		}
		c.mu.Lock()
	}
	c.leading = true
	n := min(len(c.queue), maxBatchRequests)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.storeBatch(batch) // holds req: only a leader takes requests off the queue

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].lead)
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	return req.err
}

// storeBatch stores the requests' events in one transaction. When that
// fails, each request is tried alone, so that one request the database
// refuses cannot fail the others.
func (c *committer) storeBatch(batch []*storeRequest) {
	live := batch[:0:0]
	var deadline time.Time
	for _, r := range batch {
		if !time.Now().Before(r.deadline) {
			r.finish(fmt.Errorf("waiting to store events: %w", context.DeadlineExceeded))
			continue
		}
		if deadline.IsZero() || r.deadline.Before(deadline) {
			deadline = r.deadline
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := c.write(deadline, live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			r.finish(c.write(r.deadline, []*storeRequest{r}))
		}
		return
	}
	for _, r := range live {
		r.finish(err)
	}
}

func (r *storeRequest) finish(err error) {
	r.err = err
	close(r.done)
}

// write inserts the requests' events as PENDING InboxEvent rows, skipping
// those already stored, and moves last_event_at of channels not marked
// within eventMarkEvery, all in one transaction — or in a single statement
// when that is all there is to do.
func (c *committer) write(deadline time.Time, reqs []*storeRequest) (err error) {
	in := c.in
	// Urgent: Meta is waiting for the 200, the bot's writes can wait.
	ctx, cancel := context.WithDeadline(store.Urgent(auth.SystemContext(context.Background())), deadline)
	defer cancel()
	now := in.now()

	var rows []channelEvent
	for _, r := range reqs {
		rows = append(rows, r.events...)
	}
	var inserts []*entsql.InsertBuilder
	for start := 0; start < len(rows); start += insertBatch {
		ins := entsql.Dialect(in.st.Dialect).Insert(inboxevent.Table).Columns(
			inboxevent.FieldWorkspaceID, inboxevent.FieldChannelID, inboxevent.FieldDedupKey,
			inboxevent.FieldPsid, inboxevent.FieldPayload, inboxevent.FieldStatus,
			inboxevent.FieldAttempts, inboxevent.FieldAvailableAt, inboxevent.FieldEventTime,
			inboxevent.FieldReceivedAt)
		for _, r := range rows[start:min(start+insertBatch, len(rows))] {
			payload, err := EncodeEvent(r.ev)
			if err != nil {
				return err
			}
			eventTime := r.ev.Timestamp.UTC()
			if r.ev.Timestamp.IsZero() || eventTime.After(now) {
				// A timestamp in the future (a bug, a replayed test
				// payload) would order the event after every real one
				// and stretch its transient retries until that date: it
				// counts as received now. The worker hands the event on
				// with this time (see process).
				eventTime = now
			}
			ins.Values(r.ch.WorkspaceID, r.ch.ID, indexable(r.ev.DedupKey()), indexable(lane(r.ev)), payload,
				inboxevent.StatusPENDING.String(), 0, now, eventTime, now)
		}
		ins.OnConflict(entsql.ConflictColumns(inboxevent.FieldChannelID, inboxevent.FieldDedupKey), entsql.DoNothing())
		inserts = append(inserts, ins)
	}
	marks := c.marksDue(rows, now)

	var stored int64
	if len(inserts) == 1 && len(marks) == 0 {
		// One statement is atomic by itself: no BEGIN and COMMIT round trips.
		query, args := inserts[0].Query()
		res, err := in.st.DB.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("inserting events: %w", err)
		}
		if stored, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("counting inserted events: %w", err)
		}
	} else {
		if stored, err = c.writeTx(ctx, inserts, marks, now); err != nil {
			return err
		}
		c.mu.Lock()
		for _, id := range marks {
			c.eventMarks[id] = now
		}
		c.mu.Unlock()
	}
	in.m.stored(int(stored), len(rows)-int(stored))
	if stored > 0 {
		in.Notify()
	}
	return nil
}

// marksDue returns the channels of rows whose last_event_at is due for a
// move.
func (c *committer) marksDue(rows []channelEvent, now time.Time) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due []int
	for _, r := range rows {
		if now.Sub(c.eventMarks[r.ch.ID]) >= eventMarkEvery && !slices.Contains(due, r.ch.ID) {
			due = append(due, r.ch.ID)
		}
	}
	return due
}

func (c *committer) writeTx(ctx context.Context, inserts []*entsql.InsertBuilder, marks []int, now time.Time) (stored int64, err error) {
	tx, err := c.in.st.Client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, ins := range inserts {
		query, args := ins.Query()
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, fmt.Errorf("inserting events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("counting inserted events: %w", err)
		}
		stored += n
	}
	if len(marks) > 0 {
		// Last, so the channel rows are locked for as short a time as possible.
		err = tx.MessengerChannel.Update().
			Where(messengerchannel.IDIn(marks...),
				messengerchannel.Or(messengerchannel.LastEventAtIsNil(), messengerchannel.LastEventAtLT(now))).
			SetLastEventAt(now).Exec(ctx)
		if err != nil {
			return 0, fmt.Errorf("updating the channels' last event time: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing events: %w", err)
	}
	return stored, nil
}
