package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"entgo.io/ent/dialect"
	_ "github.com/lib/pq"  // the "postgres" driver
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/seachat/seachat/internal/store"
)

// DB reads a SeaChat database directly, to check what the server stored
// without trusting the server's own answers.
type DB struct {
	*sql.DB
	postgres bool
}

// OpenDB opens the database of a DATABASE_URL (sqlite://path or
// postgres://…) for reading beside a running server.
func OpenDB(databaseURL string) (*DB, error) {
	if path, ok := strings.CutPrefix(databaseURL, "sqlite://"); ok {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		return &DB{DB: db}, nil
	}
	db, err := sql.Open("postgres", databaseURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return &DB{DB: db, postgres: true}, nil
}

// Count runs a SELECT count(*) … query.
func (d *DB) Count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := d.QueryRowContext(ctx, d.rebind(query), args...).Scan(&n)
	return n, err
}

// Strings runs a query of one text column.
func (d *DB) Strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := d.QueryContext(ctx, d.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s.String)
	}
	return out, rows.Err()
}

// PendingEvents is how many inbox events wait to be processed.
func (d *DB) PendingEvents(ctx context.Context) (int, error) {
	return d.Count(ctx, `SELECT count(*) FROM inbox_events WHERE status = 'PENDING'`)
}

// Commits returns PostgreSQL's count of committed transactions in this
// database (pg_stat_database.xact_commit), or -1 on SQLite or on error.
// PostgreSQL publishes the count with a delay of up to a second.
func (d *DB) Commits(ctx context.Context) int64 {
	if !d.postgres {
		return -1
	}
	var n int64
	if err := d.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (d *DB) rebind(q string) string {
	if d.postgres {
		return store.Rebind(dialect.Postgres, q)
	}
	return q
}

// PostgresDatabase is a fresh database on a PostgreSQL server, dropped by
// Drop.
type PostgresDatabase struct {
	Name  string
	URL   string // DATABASE_URL of the new database
	admin *sql.DB
}

// CreatePostgresDatabase creates a database named prefix_<random> on the
// server that serverURL (any database on it) reaches.
func CreatePostgresDatabase(ctx context.Context, serverURL, prefix string) (*PostgresDatabase, error) {
	admin, err := sql.Open("postgres", serverURL)
	if err != nil {
		return nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", redactURL(serverURL), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return nil, err
	}
	u.Path = "/" + name
	return &PostgresDatabase{Name: name, URL: u.String(), admin: admin}, nil
}

// Admin is a connection to the server outside the database, for
// ALTER DATABASE and pg_terminate_backend.
func (p *PostgresDatabase) Admin() *sql.DB { return p.admin }

// Drop drops the database, closing its connections first.
func (p *PostgresDatabase) Drop(ctx context.Context) error {
	defer p.admin.Close()
	_, err := p.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+p.Name+" WITH (FORCE)")
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
