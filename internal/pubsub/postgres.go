package pubsub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Reconnect backoff of the listener connection. The maximum also bounds how
// long Close may wait for a listener that is between connection attempts.
const (
	minReconnect = 100 * time.Millisecond
	maxReconnect = 5 * time.Second
)

// maxChannelLen is the longest channel name Postgres accepts (NAMEDATALEN-1).
// LISTEN would silently truncate a longer one while pg_notify rejects it.
const maxChannelLen = 63

// Execer runs a statement. *sql.DB, *sql.Tx and *sql.Conn implement it.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Postgres is a Bus shared by all replicas that use the same database and
// channel. Publish sends a NOTIFY; one pq.Listener per bus receives the
// notifications, including its own, and fans them out in process, so local
// and remote subscribers see events in the same (commit) order.
//
// When the listener loses its connection, notifications sent until it
// reconnects are lost. On reconnect, every subscription then active is ended
// with ErrDisconnected, so subscribers refetch state and subscribe again;
// new subscriptions work as usual.
type Postgres struct {
	mem      *Memory
	db       *sql.DB
	channel  string
	listener *pq.Listener
	logger   *slog.Logger

	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	connErr error // the last failed connection attempt, for NewPostgres's error
}

var _ Bus = (*Postgres)(nil)

// NewPostgres starts listening on the bus's channel through a dedicated
// connection to dsn, and publishes through db. It returns once the listener is
// connected, or with an error when ctx is done first. It honours all options.
// A nil logger discards logs.
func NewPostgres(ctx context.Context, dsn string, db *sql.DB, logger *slog.Logger, opts ...Option) (*Postgres, error) {
	o := newOptions(opts)
	if o.channel == "" || len(o.channel) > maxChannelLen {
		return nil, fmt.Errorf("pubsub: channel name %q must be 1 to %d bytes", o.channel, maxChannelLen)
	}
	if db == nil {
		return nil, errors.New("pubsub: NewPostgres needs a *sql.DB to publish through")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Postgres{
		mem:     NewMemory(opts...),
		db:      db,
		channel: o.channel,
		logger:  logger.With("channel", o.channel),
		stop:    make(chan struct{}),
	}
	p.listener = pq.NewListener(dsn, minReconnect, maxReconnect, p.onListenerEvent)

	// Listen blocks until the listener has connected, however long that takes.
	listened := make(chan error, 1)
	go func() { listened <- p.listener.Listen(p.channel) }()
	var err error
	select {
	case err = <-listened:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		if p.connErr != nil {
			err = fmt.Errorf("%w (last connection error: %w)", err, p.connErr)
		}
		p.mu.Unlock()
	}
	if err != nil {
		// Closing can wait for a connection attempt in progress; finish it in
		// the background rather than hold the caller past its deadline.
		go func() {
			_ = p.listener.Close()
			<-listened
			for range p.listener.Notify {
			}
		}()
		return nil, fmt.Errorf("pubsub: listen on %q: %w", p.channel, err)
	}

	p.wg.Add(2)
	go p.receive()
	go p.ping(o.ping)
	return p, nil
}

// Publish sends ev to the subscribers of all replicas, including this one.
func (p *Postgres) Publish(ctx context.Context, ev Event) error {
	return p.PublishTx(ctx, p.db, ev)
}

// PublishTx sends ev through tx. When tx is a transaction, Postgres delivers
// the event only if and when it commits, so a mutation can publish inside its
// own transaction.
func (p *Postgres) PublishTx(ctx context.Context, tx Execer, ev Event) error {
	if p.closed.Load() {
		return ErrClosed
	}
	payload, err := encode(ev)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, p.channel, string(payload)); err != nil {
		return fmt.Errorf("pubsub: notify %s event: %w", ev.Topic, err)
	}
	return nil
}

// Subscribe implements Bus.
func (p *Postgres) Subscribe(ctx context.Context, topic string, filter func(Event) bool) (*Subscription, error) {
	return p.mem.Subscribe(ctx, topic, filter)
}

// Close stops the listener, waits for the bus's goroutines and ends every
// subscription with ErrClosed. It does not close the *sql.DB. Later calls do
// nothing.
func (p *Postgres) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.stop)
	err := p.listener.Close()
	p.wg.Wait()
	p.mem.Close()
	if err != nil {
		return fmt.Errorf("pubsub: closing listener: %w", err)
	}
	return nil
}

// receive fans notifications out until the listener is closed. It must keep
// reading: pq blocks its connection (and Ping) while Notify is full.
func (p *Postgres) receive() {
	defer p.wg.Done()
	for n := range p.listener.Notify {
		if n == nil { // reconnected; anything sent meanwhile is lost
			p.mem.endAll(ErrDisconnected, reasonDisconnected)
			continue
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Extra), &ev); err != nil || ev.Topic == "" {
			p.logger.Warn("pubsub ignoring malformed notification", "bytes", len(n.Extra), "error", err)
			continue
		}
		_ = p.mem.fanOut(ev) // fails only once closed
	}
}

// ping makes a dead listener connection fail, and so reconnect, instead of
// waiting silently for notifications that will never come.
func (p *Postgres) ping(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if err := p.listener.Ping(); err != nil && !errors.Is(err, net.ErrClosed) {
				p.logger.Warn("pubsub listener ping", "error", err)
			}
		}
	}
}

// onListenerEvent runs on pq's goroutine; it must not block.
func (p *Postgres) onListenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnected:
		p.logger.Info("pubsub listener connected")
	case pq.ListenerEventReconnected:
		p.logger.Warn("pubsub listener reconnected, ending subscriptions")
	case pq.ListenerEventDisconnected:
		p.logger.Warn("pubsub listener disconnected", "error", err)
	case pq.ListenerEventConnectionAttemptFailed:
		p.mu.Lock()
		p.connErr = err
		p.mu.Unlock()
		p.logger.Warn("pubsub listener connection attempt failed", "error", err)
	}
}
