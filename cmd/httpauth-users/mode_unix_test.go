//go:build unix

package main

import (
	"bytes"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSQLiteFileMode: a new database file is 0600 whatever the umask; an
// existing one keeps its mode.
func TestSQLiteFileMode(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask; not parallel
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()

	path := filepath.Join(dir, "new.db")
	var stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"-db", "sqlite:" + path, "migrate"}, strings.NewReader(""), io.Discard, &stderr), stderr.String())
	require.Equal(t, 0, run(t.Context(), []string{"-db", "sqlite:" + path, "add", "-no-password", "erin"}, strings.NewReader(""), io.Discard, &stderr), stderr.String())
	// Hold the database open in WAL mode, so that -wal and -shm exist.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.ExecContext(t.Context(), "UPDATE httpauth_users SET confirmed = 1")
	require.NoError(t, err)
	matches, err := filepath.Glob(path + "*")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{path, path + "-wal", path + "-shm"}, matches)
	for _, m := range matches {
		fi, err := os.Stat(m)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), m)
	}

	existing := filepath.Join(dir, "existing.db")
	require.NoError(t, os.WriteFile(existing, nil, 0o640))
	require.Equal(t, 0, run(t.Context(), []string{"-db", "sqlite:" + existing, "migrate"}, strings.NewReader(""), io.Discard, &stderr), stderr.String())
	fi, err := os.Stat(existing)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "an existing file's mode was changed")
}
