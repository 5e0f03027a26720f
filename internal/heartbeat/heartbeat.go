// Package heartbeat ties claims on shared work to live processes.
//
// Each SeaChat process registers a Process row with a random ID when it
// starts and refreshes its last_seen every Interval. Work it claims (an
// inbox event being processed, a reply being sent) carries that ID. A claim
// whose process has not been seen for Stale belongs to a dead process (it
// was killed, or lost its database) and may be taken over: after a kill -9
// the work waits seconds, not the length of a lease.
//
// On SQLite there is one process: Start with Exclusive removes every other
// process's row, so the starting process owns every claim at once.
package heartbeat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/process"
	"github.com/seachat/seachat/internal/auth"
)

// Defaults of Options.
const (
	DefaultInterval = 2 * time.Second
	DefaultStale    = 6 * time.Second
	// forget is how long the row of a dead process is kept, for whoever
	// looks at the table; no claim can name it by then.
	forget = time.Hour
)

// Options tune a Process. Zero values take the defaults.
type Options struct {
	// Interval is how often last_seen is refreshed. Default: 2 seconds.
	Interval time.Duration
	// Stale is how long after its last heartbeat a process counts as dead.
	// It must be a few Intervals, so that one slow refresh is not taken for
	// a death. Default: 6 seconds.
	Stale time.Duration
	// Exclusive says that no other process shares the database (SQLite):
	// Start forgets every other process, whose claims are then taken over
	// at once.
	Exclusive bool
	Logger    *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now
}

// Process is this process's heartbeat.
type Process struct {
	client *ent.Client
	id     string
	opts   Options
}

// Start registers a new process in the database and returns it. Call Run
// to keep it alive.
func Start(ctx context.Context, client *ent.Client, opts Options) (*Process, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Stale <= 0 {
		opts.Stale = DefaultStale
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := make([]byte, 8)
	rand.Read(b)
	host, _ := os.Hostname()
	p := &Process{client: client, id: hex.EncodeToString(b), opts: opts}
	ctx = auth.SystemContext(ctx)
	now := p.now()
	if opts.Exclusive {
		n, err := client.Process.Delete().Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: forgetting earlier processes: %w", err)
		}
		if n > 0 {
			opts.Logger.Info("taking over the claims of earlier processes", "processes", n)
		}
	}
	err := client.Process.Create().SetID(p.id).SetHost(host).SetStartedAt(now).SetLastSeen(now).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: registering the process: %w", err)
	}
	return p, nil
}

// ID names this process in its claims.
func (p *Process) ID() string { return p.id }

// LiveSince returns the oldest heartbeat of a live process at now: a process
// last seen before it is dead, and its claims may be taken over.
func (p *Process) LiveSince(now time.Time) time.Time { return now.Add(-p.opts.Stale) }

// Live returns the IDs of the live processes, this one always among them.
func (p *Process) Live(ctx context.Context) ([]string, error) {
	ids, err := p.client.Process.Query().
		Where(process.LastSeenGT(p.LiveSince(p.now())), process.IDNEQ(p.id)).
		IDs(auth.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("heartbeat: listing live processes: %w", err)
	}
	return append(ids, p.id), nil
}

// Run refreshes the heartbeat every Interval until ctx is done. The row is
// left behind: work still draining after ctx is done keeps its claims for
// Stale, and after a crash others see the process dead within Stale.
func (p *Process) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := p.beat(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			p.opts.Logger.Error("refreshing the process heartbeat", "error", err)
		case err == nil && failing:
			p.opts.Logger.Info("refreshing the process heartbeat works again")
		}
		failing = err != nil
	}
}

// beat refreshes last_seen (recreating the row if it was removed) and
// forgets processes dead for long.
func (p *Process) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(auth.SystemContext(ctx), p.opts.Interval*2)
	defer cancel()
	now := p.now()
	err := p.client.Process.Create().SetID(p.id).SetStartedAt(now).SetLastSeen(now).
		OnConflictColumns(process.FieldID).UpdateLastSeen().Exec(ctx)
	if err != nil {
		return err
	}
	_, err = p.client.Process.Delete().Where(process.LastSeenLT(now.Add(-forget))).Exec(ctx)
	return err
}

func (p *Process) now() time.Time { return p.opts.Now().UTC() }
