// Package store opens SeaChat's database — the embedded SQLite file or
// PostgreSQL — runs the migrations, and hands out the ent client.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"modernc.org/sqlite"               // pure Go: nothing to install

	"github.com/seachat/seachat/ent"
	_ "github.com/seachat/seachat/ent/runtime" // hooks and privacy policies
)

// Store is an open, migrated database.
type Store struct {
	Client  *ent.Client
	DB      *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	URL     string // the database URL it was opened with; may hold a password

	migrated atomic.Bool
}

// Open connects to databaseURL ("postgres://…" or "sqlite://<path>") and
// applies the migrations.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	s, err := connect(databaseURL)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func connect(databaseURL string) (*Store, error) {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		// pgx rather than lib/pq: it sends a statement and its arguments in
		// one round trip and keeps statements prepared per connection, where
		// lib/pq waits for a Parse before every Bind.
		db, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("opening postgres: %w", err)
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return newStore(db, dialect.Postgres, databaseURL), nil
	}
	path, ok := strings.CutPrefix(databaseURL, "sqlite://")
	if !ok || path == "" {
		return nil, fmt.Errorf("unsupported database URL scheme (want postgres:// or sqlite://)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the database directory: %w", err)
	}
	if err := privateFiles(path); err != nil {
		return nil, err
	}
	// WAL lets readers run beside the one writer; busy_timeout makes writers
	// queue instead of failing; _txlock=immediate takes the write lock at
	// BEGIN so two transactions never deadlock upgrading their locks.
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	conn, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	db := sql.OpenDB(gatedConnector{Connector: conn, gate: &writeGate{}})
	db.SetMaxOpenConns(8)
	return newStore(db, dialect.SQLite, databaseURL), nil
}

// privateFiles creates the SQLite file at path readable by its owner only
// (0600), before the driver would create it with 0644, and tightens the
// file and its -wal and -shm companions when an older version left them
// readable: they hold every transcript and the encrypted page tokens.
// SQLite creates -wal and -shm later with the database file's mode. The
// chmod makes the mode independent of the umask.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating the database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating the database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil && fi.Mode().Perm() != 0o600 {
			err = os.Chmod(p, 0o600)
		}
		if err != nil {
			return fmt.Errorf("making %s private (mode 0600): %w; check that this user owns it", p, err)
		}
	}
	return nil
}

func newStore(db *sql.DB, d, url string) *Store {
	return &Store{Client: ent.NewClient(ent.Driver(entsql.OpenDB(d, db))), DB: db, Dialect: d, URL: url}
}

// migrating serialises migrations within a process: ent's migration
// mutates the package-level table definitions it works from.
var migrating sync.Mutex

// Migrate brings the schema up to date. It is safe to run on every start and
// from several replicas.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to the database: %w", err)
	}
	migrating.Lock()
	defer migrating.Unlock()
	if err := s.Client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	if err := s.migrateSearch(ctx); err != nil {
		return fmt.Errorf("migrating the search indexes: %w", err)
	}
	s.migrated.Store(true)
	return nil
}

// Full-text search structures that ent's schema cannot express, created
// after ent's migration. The conversation package queries them.
const (
	// MessagesFTS is the SQLite FTS5 table over messages.text (external
	// content: it stores only the index, and triggers keep it in sync).
	MessagesFTS = "messages_fts"
	// ContactsFTS is the SQLite FTS5 table over contacts.name.
	ContactsFTS = "contacts_fts"
)

// searchLockKey serialises the search migration of replicas starting
// together on one PostgreSQL database.
const searchLockKey = 0x5eac4a7_5ea2c

// migrateSearch creates the full-text indexes, idempotently. PostgreSQL: GIN
// indexes on to_tsvector('simple', …) of message texts and contact names.
// SQLite: external-content FTS5 tables kept in sync by triggers, rebuilt
// from their tables when they or a trigger were missing (a new database, or
// one whose table a migration copied, which drops its triggers).
func (s *Store) migrateSearch(ctx context.Context) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var stmts []string
	if s.Dialect == dialect.Postgres {
		stmts = []string{
			fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(searchLockKey)),
			"CREATE INDEX IF NOT EXISTS messages_text_search ON messages USING gin (to_tsvector('simple', text))",
			"CREATE INDEX IF NOT EXISTS contacts_name_search ON contacts USING gin (to_tsvector('simple', coalesce(name, '')))",
		}
	} else {
		var have int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name IN (?, ?, ?, ?, ?, ?, ?, ?)`,
			MessagesFTS, MessagesFTS+"_insert", MessagesFTS+"_delete", MessagesFTS+"_update",
			ContactsFTS, ContactsFTS+"_insert", ContactsFTS+"_delete", ContactsFTS+"_update").Scan(&have)
		if err != nil {
			return err
		}
		stmts = append(ftsTable(MessagesFTS, "messages", "text"), ftsTable(ContactsFTS, "contacts", "name")...)
		if have < 8 {
			stmts = append(stmts,
				"INSERT INTO "+MessagesFTS+"("+MessagesFTS+") VALUES ('rebuild')",
				"INSERT INTO "+ContactsFTS+"("+ContactsFTS+") VALUES ('rebuild')")
		}
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ftsTable returns the statements creating the FTS5 index fts over
// table.column and the triggers that keep it in sync. The tokenizer folds
// case but not accents, as PostgreSQL's 'simple' configuration does.
func ftsTable(fts, table, column string) []string {
	del := "INSERT INTO " + fts + "(" + fts + ", rowid, " + column + ") VALUES ('delete', old.id, old." + column + ");"
	ins := "INSERT INTO " + fts + "(rowid, " + column + ") VALUES (new.id, new." + column + ");"
	return []string{
		"CREATE VIRTUAL TABLE IF NOT EXISTS " + fts + " USING fts5(" + column + ", content='" + table +
			"', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
		"CREATE TRIGGER IF NOT EXISTS " + fts + "_insert AFTER INSERT ON " + table + " BEGIN " + ins + " END",
		"CREATE TRIGGER IF NOT EXISTS " + fts + "_delete AFTER DELETE ON " + table + " BEGIN " + del + " END",
		"CREATE TRIGGER IF NOT EXISTS " + fts + "_update AFTER UPDATE OF " + column + " ON " + table +
			" BEGIN " + del + " " + ins + " END",
	}
}

// Ready reports whether the database answers and the migrations were applied.
func (s *Store) Ready(ctx context.Context) error {
	if !s.migrated.Load() {
		return errors.New("migrations not applied")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	return s.DB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the database.
func (s *Store) Close() error { return s.Client.Close() }

// Client returns the transactional client that entgql.Transactioner put in
// ctx for the current mutation, or fallback outside one. Services write
// through it, so a mutation's work commits or rolls back as one — and on
// SQLite never waits for the write lock its own transaction holds.
func Client(ctx context.Context, fallback *ent.Client) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return fallback
}

// WithTx runs fn in a transaction: the current GraphQL mutation's one when
// ctx carries it (so the mutation still commits or rolls back as a whole),
// else a new one committed when fn returns nil.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) error {
	if tx := ent.TxFromContext(ctx); tx != nil {
		return fn(tx)
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return fmt.Errorf("%w (rolling back: %v)", err, rerr)
		}
		return err
	}
	return tx.Commit()
}

// AfterCommit runs f once the transaction of ctx, if there is one, has
// committed, and at once outside one; it does not run f on rollback. Work
// that others must see the rows for (publishing, waking workers) goes here.
func AfterCommit(ctx context.Context, f func()) {
	if tx := ent.TxFromContext(ctx); tx != nil {
		OnCommit(tx, f)
		return
	}
	f()
}

// OnCommit runs f after tx commits, and not if it rolls back.
func OnCommit(tx *ent.Tx, f func()) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				f()
			}
			return err
		})
	})
}

// Rebind turns the ? placeholders of a hand-written query into PostgreSQL's
// $1, $2, … when d is PostgreSQL; SQLite takes ? as they are.
func Rebind(d, query string) string {
	if d != dialect.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
