package store_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store"
)

// TestSQLiteFileModes: the database holds transcripts and encrypted
// secrets, so its directory (when Open creates it) is 0700 and the file
// and its -wal and -shm companions are 0600 under the usual umask 022;
// a file an older version left 0644 is tightened on open.
func TestSQLiteFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // process-wide: this test is not parallel
	t.Cleanup(func() { syscall.Umask(old) })

	mode := func(p string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	open := func(path string) {
		t.Helper()
		s, err := store.Open(context.Background(), "sqlite://"+path)
		require.NoError(t, err)
		defer s.Close()
		// A write, so that the WAL and shared-memory files exist.
		_, err = s.DB.ExecContext(context.Background(), "CREATE TABLE IF NOT EXISTS probe (x int)")
		require.NoError(t, err)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			require.Equal(t, fs.FileMode(0o600), mode(p), "%s", filepath.Base(p))
		}
	}

	dir := filepath.Join(t.TempDir(), "data", "seachat")
	path := filepath.Join(dir, "seachat.db")
	open(path)
	require.Equal(t, fs.FileMode(0o700), mode(dir))
	require.Equal(t, fs.FileMode(0o700), mode(filepath.Dir(dir)))

	// Left readable by an older version: tightened.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			require.NoError(t, os.Chmod(p, 0o644))
		}
	}
	open(path)
}
