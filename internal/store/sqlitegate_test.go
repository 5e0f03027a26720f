package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waiting returns how many writers wait for the gate.
func (g *writeGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.urgent) + len(g.normal)
}

func TestWriteGateUrgentFirst(t *testing.T) {
	g := &writeGate{}
	release, err := g.acquire(context.Background())
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	enter := func(ctx context.Context, name string, queued int) {
		wg.Go(func() {
			r, err := g.acquire(ctx)
			require.NoError(t, err)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			r()
		})
		require.Eventually(t, func() bool { return g.waiting() == queued }, 5*time.Second, time.Millisecond)
	}
	enter(context.Background(), "bot 1", 1)
	enter(context.Background(), "bot 2", 2)
	enter(Urgent(context.Background()), "webhook", 3)
	release()
	wg.Wait()
	require.Equal(t, []string{"webhook", "bot 1", "bot 2"}, order)

	// Free again: taken at once.
	r, err := g.acquire(context.Background())
	require.NoError(t, err)
	r()
}

func TestWriteGateCancelledWait(t *testing.T) {
	g := &writeGate{}
	release, err := g.acquire(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = g.acquire(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, g.waiting(), "a writer that gave up still waits in line")
	release()

	r, err := g.acquire(context.Background())
	require.NoError(t, err, "the gate was not free after its holder released it")
	r()
}

// TestSQLiteConcurrentWrites writes from many goroutines at once, in
// transactions and outside them, through a real SQLite database: every
// write succeeds and none is lost.
func TestSQLiteConcurrentWrites(t *testing.T) {
	st, err := connect("sqlite://" + filepath.Join(t.TempDir(), "gate.db"))
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	_, err = st.DB.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)

	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				v := fmt.Sprint(i, "/", j)
				if j%2 == 0 {
					_, err := st.DB.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", v)
					require.NoError(t, err)
					continue
				}
				tx, err := st.DB.BeginTx(ctx, nil)
				require.NoError(t, err)
				var n int
				require.NoError(t, tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
				rows, err := tx.QueryContext(ctx, "INSERT INTO t (v) VALUES (?) RETURNING id", v)
				require.NoError(t, err)
				require.True(t, rows.Next())
				require.NoError(t, rows.Close())
				require.NoError(t, tx.Commit())
			}
		})
	}
	wg.Wait()
	var n int
	require.NoError(t, st.DB.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 16*20, n)
	require.Zero(t, st.DB.Stats().InUse)
}

// TestSQLitePreparedStatements runs one statement again while its rows are
// still open, and more distinct statements than a connection caches: the
// cache must neither hand out a statement in use nor grow without bound.
func TestSQLitePreparedStatements(t *testing.T) {
	st, err := connect("sqlite://" + filepath.Join(t.TempDir(), "stmts.db"))
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	_, err = st.DB.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)
	for i := range 3 {
		_, err := st.DB.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", fmt.Sprint("v", i))
		require.NoError(t, err)
	}

	tx, err := st.DB.BeginTx(ctx, nil) // one connection for both queries
	require.NoError(t, err)
	const q = "SELECT v FROM t WHERE id >= ? ORDER BY id"
	outer, err := tx.QueryContext(ctx, q, 1)
	require.NoError(t, err)
	var got []string
	for outer.Next() {
		var v string
		require.NoError(t, outer.Scan(&v))
		var n int
		inner, err := tx.QueryContext(ctx, q, 3)
		require.NoError(t, err)
		for inner.Next() {
			n++
		}
		require.NoError(t, inner.Close())
		require.Equal(t, 1, n)
		got = append(got, v)
	}
	require.NoError(t, outer.Close())
	require.Equal(t, []string{"v0", "v1", "v2"}, got)

	for i := range maxCachedStmts + 10 {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) + %d FROM t", i)).Scan(&n))
		require.Equal(t, 3+i, n)
	}
	require.NoError(t, tx.Commit())

	conn, err := st.DB.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Raw(func(dc any) error {
		require.LessOrEqual(t, len(dc.(*gatedConn).stmts), maxCachedStmts)
		return nil
	}))
}

func TestRebind(t *testing.T) {
	require.Equal(t, "a = $1 AND b IN ($2, $3)", Rebind("postgres", "a = ? AND b IN (?, ?)"))
	require.Equal(t, "a = ?", Rebind("sqlite3", "a = ?"))
}
