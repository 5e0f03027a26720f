package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"time"
)

// CommitLatency is the floor that every stored webhook pays: the time of
// one single-row INSERT transaction on the same database, with the same
// settings as SeaChat's store.
type CommitLatency struct {
	DB       string  `json:"db"`
	Commits  int     `json:"commits"`
	Latency  Latency `json:"latency"`
	Settings string  `json:"settings"`
}

// measureCommits times n sequential one-row transactions. For SQLite it
// uses a scratch file in dir with the store's pragmas; for PostgreSQL a
// scratch table in the benchmark database, dropped afterwards.
func measureCommits(ctx context.Context, db, databaseURL, dir string, n int) (CommitLatency, error) {
	out := CommitLatency{DB: db, Commits: n}
	var conn *sql.DB
	var err error
	switch db {
	case "sqlite":
		dsn := "file:" + filepath.Join(dir, "commit-probe.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
			"&_pragma=busy_timeout(10000)&_txlock=immediate"
		conn, err = sql.Open("sqlite", dsn)
		out.Settings = "WAL, synchronous=NORMAL (as internal/store)"
	default:
		conn, err = sql.Open("postgres", databaseURL)
		if err == nil {
			var sc, fs string
			conn.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&sc)
			conn.QueryRowContext(ctx, "SHOW fsync").Scan(&fs)
			out.Settings = fmt.Sprintf("synchronous_commit=%s, fsync=%s", sc, fs)
		}
	}
	if err != nil {
		return out, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if _, err := conn.ExecContext(ctx, "CREATE TABLE commit_probe (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		return out, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE commit_probe")
	insert := "INSERT INTO commit_probe (id, v) VALUES (?, ?)"
	if db != "sqlite" {
		insert = "INSERT INTO commit_probe (id, v) VALUES ($1, $2)"
	}
	rec := newRecorder()
	for i := range n {
		t0 := time.Now()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return out, err
		}
		if _, err := tx.ExecContext(ctx, insert, i+1, "x"); err != nil {
			tx.Rollback()
			return out, err
		}
		if err := tx.Commit(); err != nil {
			return out, err
		}
		rec.record(time.Since(t0))
	}
	out.Latency = rec.latency()
	return out, nil
}
