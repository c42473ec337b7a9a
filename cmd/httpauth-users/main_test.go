package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/httpauthtest"
)

func TestRun(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "users.db")
	type step struct {
		args    []string
		stdin   string
		code    int
		out     string // substring of stdout
		errText string // substring of stderr
	}
	steps := []step{
		{args: nil, code: 2, errText: "usage:"},
		{args: []string{"-db", "mysql://x", "migrate"}, code: 2, errText: "sqlite:PATH or postgres"},
		{args: []string{"-db", "sqlite:", "migrate"}, code: 2, errText: "empty sqlite path"},
		{args: []string{"-db", dsn, "migrate"}},
		{args: []string{"-db", dsn, "migrate", "extra"}, code: 2},
		{args: []string{"-db", dsn, "migrate"}}, // idempotent
		{args: []string{"-db", dsn, "add", "-id", "u1", "-roles", "admin,ops", "Alice@Example.com"}, stdin: "pw with spaces \r\n", out: "u1"},
		{args: []string{"-db", dsn, "add", "bob"}, stdin: "", code: 1, errText: "no password"},
		{args: []string{"-db", dsn, "add", "bob"}, stdin: "\n", code: 1, errText: "empty password"},
		{args: []string{"-db", dsn, "add", "ALICE@example.com"}, stdin: "x\n", code: 1},
		{args: []string{"-db", dsn, "add", "-no-password", "-confirmed", "carol"}},
		{args: []string{"-db", dsn, "show", "alice@example.com"}, out: "roles:\tadmin,ops\ndisabled:\tfalse\nhas password:\ttrue\ntokens valid after:\t2"}, // set at creation,
		{args: []string{"-db", dsn, "show", "carol"}, out: "confirmed:\ttrue\nroles:\t\ndisabled:\tfalse\nhas password:\tfalse"},
		{args: []string{"-db", dsn, "disable", "alice@example.com"}},
		{args: []string{"-db", dsn, "show", "alice@example.com"}, out: "disabled:\ttrue"},
		{args: []string{"-db", dsn, "enable", "alice@example.com"}},
		{args: []string{"-db", dsn, "roles", "alice@example.com", "viewer"}},
		{args: []string{"-db", dsn, "show", "alice@example.com"}, out: "roles:\tviewer\ndisabled:\tfalse"},
		{args: []string{"-db", dsn, "roles", "alice@example.com"}},
		{args: []string{"-db", dsn, "show", "alice@example.com"}, out: "roles:\t\n"},
		{args: []string{"-db", dsn, "passwd", "carol"}, stdin: "secret"},
		{args: []string{"-db", dsn, "show", "carol"}, out: "has password:\ttrue"},
		{args: []string{"-db", dsn, "unconfirm", "carol"}},
		{args: []string{"-db", dsn, "show", "carol"}, out: "confirmed:\tfalse"},
		{args: []string{"-db", dsn, "logout", "carol"}},
		{args: []string{"-db", dsn, "show", "nobody"}, code: 1, errText: "user not found"},
		{args: []string{"-db", dsn, "frobnicate", "carol"}, code: 2, errText: "unknown command"},
		{args: []string{"-db", dsn, "disable"}, code: 2},
		{args: []string{"-db", dsn, "delete", "carol"}},
		{args: []string{"-db", dsn, "show", "carol"}, code: 1, errText: "user not found"},
	}
	for i, s := range steps {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), s.args, strings.NewReader(s.stdin), &stdout, &stderr)
		require.Equal(t, s.code, code, "step %d %q: stderr %s", i, s.args, stderr.String())
		assert.Contains(t, stdout.String(), s.out, "step %d %q", i, s.args)
		assert.Contains(t, stderr.String(), s.errText, "step %d %q", i, s.args)
		assert.NotContains(t, stdout.String()+stderr.String(), "$argon2id$", "step %d: never print a hash", i)
	}
}

// TestRefusedPasswordsStoreNothing: add and passwd refuse a password that
// could never log in, and store nothing.
func TestRefusedPasswordsStoreNothing(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "users.db")
	do := func(stdin string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"-db", dsn}, args...), strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, _, errText := do("", "migrate")
	require.Equal(t, 0, code, errText)
	code, _, errText = do("", "add", "-no-password", "carol")
	require.Equal(t, 0, code, errText)
	for _, c := range []struct{ name, stdin string }{
		{"empty", "\n"},
		{"tab", "SeCrEt\tx\n"},
		{"NUL", "SeCrEt\x00\n"},
		{"invalid UTF-8", "SeCrEt\xff\n"},
		{"1025 bytes", "SeCrEt" + strings.Repeat("x", 1019) + "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errText := do(c.stdin, "add", "dave")
			assert.Equal(t, 1, code)
			assert.Contains(t, errText, "password refused")
			assert.NotContains(t, errText, "SeCrEt", "the password is echoed in the error")
			code, _, _ = do("", "show", "dave")
			assert.Equal(t, 1, code, "dave was created with a refused password")

			code, _, errText = do(c.stdin, "passwd", "carol")
			assert.Equal(t, 1, code)
			assert.Contains(t, errText, "password refused")
			_, out, _ := do("", "show", "carol")
			assert.Contains(t, out, "has password:\tfalse")
		})
	}
	code, _, errText = do("a:b:c\n", "passwd", "carol")
	require.Equal(t, 0, code, "a colon is fine in a password: %s", errText)
}

// TestDSNPasswordNotInArgv: a -db URL with a password is refused, without
// repeating it; the same URL from $HTTPAUTH_USERS_DB is not argv.
func TestDSNPasswordNotInArgv(t *testing.T) {
	for _, c := range []struct {
		dsn     string
		refused bool
	}{
		{"postgres://u:hunter2@127.0.0.1:1/db", true},
		{"postgresql://u:hunter2@127.0.0.1:1/db?sslmode=disable", true},
		{"postgres://u:@127.0.0.1:1/db", true},
		{"postgres://u@127.0.0.1:1/db?password=hunter2", true},
		{"postgres://u@127.0.0.1:1/db?sslmode=disable", false},
		{"postgres://127.0.0.1:1/db", false},
		{"sqlite:/nonexistent-dir/users.db", false},
	} {
		t.Run(c.dsn, func(t *testing.T) {
			t.Setenv("HTTPAUTH_USERS_DB", "")
			var stderr bytes.Buffer
			code := run(t.Context(), []string{"-db", c.dsn, "show", "x"}, strings.NewReader(""), io.Discard, &stderr)
			if c.refused {
				assert.Equal(t, 2, code)
				assert.Contains(t, stderr.String(), "PGPASSWORD")
			} else {
				assert.Equal(t, 1, code, "cannot connect, but not refused: %s", stderr.String())
				assert.NotContains(t, stderr.String(), "PGPASSWORD")
			}
			assert.NotContains(t, stderr.String(), "hunter2")

			// From the environment it is not refused (the connection fails).
			t.Setenv("HTTPAUTH_USERS_DB", c.dsn)
			stderr.Reset()
			code = run(t.Context(), []string{"show", "x"}, strings.NewReader(""), io.Discard, &stderr)
			assert.Equal(t, 1, code, stderr.String())
			assert.NotContains(t, stderr.String(), "hunter2")
		})
	}
}

// TestPostgresPasswordFromEnv runs against the real PostgreSQL with the
// password only in $PGPASSWORD, and with the whole DSN in
// $HTTPAUTH_USERS_DB.
func TestPostgresPasswordFromEnv(t *testing.T) {
	full := httpauthtest.RequireEnv(t, "HTTPAUTH_POSTGRES_TEST_DSN", "source .ci/services.sh")
	u, err := url.Parse(full)
	require.NoError(t, err)
	pw, ok := u.User.Password()
	require.True(t, ok, "HTTPAUTH_POSTGRES_TEST_DSN has no password")

	// A schema of its own, first on the search_path.
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "users_cli_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", full)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.ExecContext(t.Context(), `CREATE SCHEMA "`+schema+`"`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`) })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	withPW := u.String()
	u.User = url.User(u.User.Username())
	noPW := u.String()

	do := func(stdin string, args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	t.Setenv("HTTPAUTH_USERS_DB", "")
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
	code, out := do("", "-db", noPW, "migrate")
	require.Equal(t, 1, code, "connected without a password: %s", out)

	t.Setenv("PGPASSWORD", pw)
	code, out = do("", "-db", noPW, "migrate")
	require.Equal(t, 0, code, out)
	code, out = do("pw-1\n", "-db", noPW, "add", "-id", "p1", "pat")
	require.Equal(t, 0, code, out)

	t.Setenv("PGPASSWORD", "")
	t.Setenv("HTTPAUTH_USERS_DB", withPW)
	code, out = do("", "show", "pat")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "id:\tp1")
	assert.NotContains(t, out, pw)
}
