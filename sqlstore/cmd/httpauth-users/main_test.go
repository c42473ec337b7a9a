package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{args: []string{"-db", dsn, "show", "alice@example.com"}, out: "roles:\tadmin,ops\ndisabled:\tfalse\nhas password:\ttrue\ntokens valid after:\tnone"},
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

func TestReadPassword(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"pw\n", "pw", true},
		{"pw\r\n", "pw", true},
		{"pw", "pw", true},
		{" pw \n", " pw ", true},
		{"first\nsecond\n", "first", true},
		{"", "", false},
		{"\n", "", false},
	} {
		got, err := readPassword(strings.NewReader(c.in))
		if !c.ok {
			assert.Error(t, err, "%q", c.in)
			continue
		}
		require.NoError(t, err, "%q", c.in)
		assert.Equal(t, c.want, got, "%q", c.in)
	}
}
