package store

import (
	"context"
	"database/sql/driver"
)

// modernc.org/sqlite parses every statement on every call unless it is
// prepared: a fifth of the CPU of a bot reply went to parsing the same few
// dozen statements again. Each connection therefore keeps its statements
// prepared, keyed by their text. database/sql never prepares by itself,
// and ent does not ask it to.

// maxCachedStmts bounds a connection's cache. SeaChat's statements number
// in the low hundreds; texts that vary (IN lists, multi-row INSERTs) would
// otherwise grow it without end.
const maxCachedStmts = 256

type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool // its rows are open: a second use must prepare its own
}

// prepared returns the connection's prepared statement for query, or nil
// when it cannot be used now (its rows are still open, or preparing
// failed: the caller then runs the query unprepared, which reports the
// error).
func (c *gatedConn) prepared(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil
		}
		return s
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s, ok := st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		st.Close()
		return nil
	}
	if len(c.stmts) >= maxCachedStmts {
		c.evict()
	}
	if c.stmts == nil {
		c.stmts = map[string]*cachedStmt{}
	}
	cs := &cachedStmt{stmt: s}
	c.stmts[query] = cs
	return cs
}

// evict closes the statements not in use: the cache starts over.
func (c *gatedConn) evict() {
	for q, s := range c.stmts {
		if !s.busy {
			s.stmt.Close()
			delete(c.stmts, q)
		}
	}
}

func (c *gatedConn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if s := c.prepared(ctx, query); s != nil {
		return s.stmt.ExecContext(ctx, args)
	}
	return c.sqliteConn.ExecContext(ctx, query, args)
}

func (c *gatedConn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.prepared(ctx, query)
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &stmtRows{Rows: rows, stmt: s}, nil
}

// stmtRows frees its statement for the next use when closed.
type stmtRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *stmtRows) Close() error {
	r.stmt.busy = false
	return r.Rows.Close()
}

// Close closes the connection's statements, then the connection.
func (c *gatedConn) Close() error {
	for _, s := range c.stmts {
		s.stmt.Close()
	}
	c.stmts = nil
	return c.sqliteConn.Close()
}
