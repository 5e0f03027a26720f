package inbox

import (
	"context"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent/inboxevent"
)

// purgeBatch bounds the rows one purge statement deletes, so that it never
// holds SQLite's write lock for long.
const purgeBatch = 1000

// purge deletes settled events past their retention (Options.KeepDone,
// Options.KeepFailed) every Options.PurgeInterval until ctx is done.
// Redelivery dedup needs an event's row only for as long as Meta may
// redeliver it (36 hours at most), and a message stored from it stays
// unique by its mid anyway; FAILED rows are kept longer, for whoever looks
// into why.
func (in *Inbox) purge(ctx context.Context) {
	t := time.NewTicker(in.opts.PurgeInterval)
	defer t.Stop()
	for {
		n, err := in.Purge(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			in.log.Warn("purging old inbox events", "error", err)
		case n > 0:
			in.log.Info("purged old inbox events", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes the DONE events older than Options.KeepDone and the FAILED
// ones older than Options.KeepFailed, and returns how many it deleted. Run
// calls it periodically.
func (in *Inbox) Purge(ctx context.Context) (int, error) {
	now := in.now()
	total := 0
	for _, p := range []struct {
		status inboxevent.Status
		keep   time.Duration
	}{{inboxevent.StatusDONE, in.opts.KeepDone}, {inboxevent.StatusFAILED, in.opts.KeepFailed}} {
		for {
			n, err := in.purgeBatch(ctx, p.status, now.Add(-p.keep))
			total += n
			if err != nil {
				return total, err
			}
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}

// purgeBatch deletes up to purgeBatch events of the status whose last
// claim was before cutoff. A settled event's available_at is its last
// claim plus the lease: it uses the (status, available_at) index.
func (in *Inbox) purgeBatch(ctx context.Context, status inboxevent.Status, cutoff time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	d := entsql.Dialect(in.st.Dialect)
	ids := d.Select(inboxevent.FieldID).From(d.Table(inboxevent.Table)).
		Where(entsql.And(entsql.EQ(inboxevent.FieldStatus, status.String()), entsql.LT(inboxevent.FieldAvailableAt, cutoff))).
		Limit(purgeBatch)
	query, args := d.Delete(inboxevent.Table).Where(entsql.In(inboxevent.FieldID, ids)).Query()
	res, err := in.st.DB.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
