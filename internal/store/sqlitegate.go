package store

import (
	"context"
	"database/sql/driver"
	"slices"
	"strings"
	"sync"
	"time"
)

// SQLite has one writer at a time. A writer that finds the lock taken
// sleeps in SQLite's busy handler on a fixed schedule (1, 2, 5, 10, 15 …
// ms), so under concurrent writes — webhooks acknowledged while the bot
// stores its replies — a write waiting behind a 1 ms transaction often
// slept 8 ms or more. The gate makes this process's writers take turns in
// Go instead: a waiting writer starts the moment the previous one is done.
// SQLite's own locking still guards the file against other processes.
//
// A write is a transaction (BEGIN takes the lock: _txlock=immediate) or a
// statement outside one that is not a plain SELECT. Writes whose context
// is marked Urgent (acknowledging a webhook: Meta is waiting) go before
// waiting background writes (the bot's).
type writeGate struct {
	mu     sync.Mutex
	held   bool
	urgent []chan struct{} // waiting writers, first come first served
	normal []chan struct{}
}

// gateWait bounds the wait for the gate. A writer that waited this long
// goes ahead without it, to SQLite's busy handling, as it did before the
// gate: a goroutine holding a transaction while it writes outside it would
// otherwise wait for itself forever instead of failing.
const gateWait = 10 * time.Second

type urgentKey struct{}

// Urgent marks ctx's writes as ones someone is waiting for, so that on
// SQLite they take the write lock before waiting background work.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// acquire waits for the gate and returns the function that releases it.
func (g *writeGate) acquire(ctx context.Context) (release func(), err error) {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return g.release, nil
	}
	turn := make(chan struct{})
	queue := &g.normal
	if ctx.Value(urgentKey{}) != nil {
		queue = &g.urgent
	}
	*queue = append(*queue, turn)
	g.mu.Unlock()

	t := time.NewTimer(gateWait)
	defer t.Stop()
	select {
	case <-turn:
		return g.release, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	g.mu.Lock()
	if i := slices.Index(*queue, turn); i >= 0 {
		*queue = slices.Delete(*queue, i, i+1)
		g.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return func() {}, nil // waited gateWait: go ahead without the gate
	}
	g.mu.Unlock()
	// The turn came as the wait ended: it is ours to use or pass on.
	if err != nil {
		g.release()
		return nil, err
	}
	return g.release, nil
}

// release hands the gate to the next waiting writer, urgent ones first.
func (g *writeGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range []*[]chan struct{}{&g.urgent, &g.normal} {
		if len(*q) > 0 {
			next := (*q)[0]
			*q = (*q)[1:]
			close(next)
			return
		}
	}
	g.held = false
}

// gatedConnector opens SQLite connections whose writes pass the gate.
type gatedConnector struct {
	driver.Connector
	gate *writeGate
}

func (c gatedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &gatedConn{sqliteConn: conn.(sqliteConn), gate: c.gate}, nil
}

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// gatedConn is used by one goroutine at a time, as database/sql promises.
type gatedConn struct {
	sqliteConn
	gate    *writeGate
	release func() // set while a write transaction holds the gate
	stmts   map[string]*cachedStmt
}

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		return c.sqliteConn.BeginTx(ctx, opts)
	}
	release, err := c.gate.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.sqliteConn.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	c.release = release
	return &gatedTx{Tx: tx, conn: c}, nil
}

// writeOutsideTx reports whether a statement must pass the gate: it writes
// and no transaction of this connection holds the gate already.
func (c *gatedConn) writeOutsideTx(query string) bool {
	return c.release == nil && !isSelect(query)
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !c.writeOutsideTx(query) {
		return c.exec(ctx, query, args)
	}
	release, err := c.gate.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.exec(ctx, query, args)
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !c.writeOutsideTx(query) {
		return c.query(ctx, query, args)
	}
	// INSERT … RETURNING: the statement writes until its rows are closed.
	release, err := c.gate.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, query, args)
	if err != nil {
		release()
		return nil, err
	}
	return &gatedRows{Rows: rows, release: release}, nil
}

// Prepare and PrepareContext are not gated: database/sql prepares only
// when asked to (db.Prepare), which nothing in SeaChat does.

type gatedTx struct {
	driver.Tx
	conn *gatedConn
}

func (t *gatedTx) Commit() error {
	defer t.done()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.done()
	return t.Tx.Rollback()
}

func (t *gatedTx) done() {
	if r := t.conn.release; r != nil {
		t.conn.release = nil
		r()
	}
}

type gatedRows struct {
	driver.Rows
	release func()
}

func (r *gatedRows) Close() error {
	defer func() {
		if r.release != nil {
			r.release()
			r.release = nil
		}
	}()
	return r.Rows.Close()
}

// isSelect reports whether query is a plain SELECT, which never writes.
func isSelect(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}
