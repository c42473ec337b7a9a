package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// guideBlocks returns the fenced blocks of docs/flask-migration.md that
// follow a <!-- test: NAME --> marker, by NAME.
func guideBlocks(t *testing.T) map[string]string {
	t.Helper()
	md, err := os.ReadFile("../../docs/flask-migration.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- test: ([^ ]+) -->\n```[a-z]*\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(md), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// werkzeugPython finds a Python that imports Werkzeug: Debian's first
// (python3-werkzeug), then python3 on PATH.
func werkzeugPython() (string, bool) {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import werkzeug.security").Run() == nil {
			return path, true
		}
	}
	return "", false
}

// TestFlaskGuide runs the migration of docs/flask-migration.md as
// written: a users table made by the real Werkzeug, the guide's export
// script, and its httpauth-users commands (run in-process, with the
// guide's relative paths in a temporary directory); then each Flask user
// logs in with the old password and is rehashed to argon2id.
func TestFlaskGuide(t *testing.T) {
	t.Parallel()
	py, ok := werkzeugPython()
	if !ok {
		t.Skip("skipping: no python3 with Werkzeug (apt-get install python3-werkzeug)")
	}
	blocks := guideBlocks(t)
	for _, name := range []string{"make_flask_db.py", "export_users.py", "import.sh"} {
		require.NotEmpty(t, blocks[name], "the guide lost its %s block", name)
	}
	dir := t.TempDir()
	for _, name := range []string{"make_flask_db.py", "export_users.py"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(blocks[name]), 0o600))
		cmd := exec.Command(py, name)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(blocks["import.sh"]), "\n") {
		args := strings.Fields(line)
		require.Equal(t, "httpauth-users", args[0], line)
		for i, a := range args {
			switch {
			case strings.HasPrefix(a, "sqlite:"):
				args[i] = "sqlite:" + filepath.Join(dir, strings.TrimPrefix(a, "sqlite:"))
			case strings.HasSuffix(a, ".jsonl"):
				args[i] = filepath.Join(dir, a)
			}
		}
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args[1:], strings.NewReader(""), &stdout, &stderr)
		require.Equal(t, 0, code, "%s: %s%s", line, stdout.String(), stderr.String())
		t.Logf("%s\n%s", line, stdout.String())
		if strings.Contains(line, " import ") {
			assert.Regexp(t, `total\s+3\s+0\s+0\n`, stdout.String())
		}
	}

	ctx := t.Context()
	store, login := loginThrough(t, filepath.Join(dir, "users.db"))
	// The passwords of the guide's make_flask_db.py.
	for user, pw := range map[string]string{
		"alice@example.com":  "correct horse battery staple",
		"jürgen@example.com": "pässwörd",
		"bob@example.com":    "hunter2 hunter2",
	} {
		before, err := store.UserByLogin(ctx, user)
		require.NoError(t, err, user)
		scheme, err := httpauth.CheckPasswordHash(before.PasswordHash)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(scheme, "werkzeug-"), "%s: %s", user, scheme)
		assert.Equal(t, http.StatusUnauthorized, login(user, pw+"!"))
		assert.Equal(t, http.StatusOK, login(user, pw), user)
		after, err := store.UserByLogin(ctx, user)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(after.PasswordHash, "$argon2id$"), "%s rehashed", user)
		assert.Equal(t, http.StatusOK, login(user, pw), user)
	}
	alice, err := store.UserByLogin(ctx, "alice@example.com")
	require.NoError(t, err)
	assert.Equal(t, []string{"admin"}, alice.Roles)
	assert.True(t, alice.User.Confirmed)
	bob, err := store.UserByLogin(ctx, "bob@example.com")
	require.NoError(t, err)
	assert.False(t, bob.User.Confirmed)
}
