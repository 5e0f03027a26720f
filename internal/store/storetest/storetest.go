// Package storetest opens real, throwaway databases for tests: a SQLite file
// in a temporary directory, and a fresh PostgreSQL database per test.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seachat/seachat/internal/store"
)

// DefaultPostgresURL is used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects are the stores every store test runs against.
var Dialects = []string{"sqlite", "postgres"}

// Run runs f once per dialect, each as a parallel subtest with its own
// freshly migrated database.
func Run(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, Open(t, d))
		})
	}
}

// Open returns a migrated store of dialect ("sqlite" or "postgres"), closed
// and deleted when the test ends.
func Open(t testing.TB, dialect string) *store.Store {
	t.Helper()
	u := URL(t, dialect)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, u)
	if err != nil {
		t.Fatalf("opening %s store: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL returns the DATABASE_URL of a new, empty database of dialect.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "seachat.db")
	}
	return newPostgresDatabase(t)
}

// PostgresURL is the server tests create their databases on.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

func newPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL()) // registered by package store
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v", err)
		}
		t.Skipf("skipping: PostgreSQL is unreachable (%v); start it or set TEST_DATABASE_URL", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "seachat_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
