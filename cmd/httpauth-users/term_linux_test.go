package main

import (
	"bytes"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/cmd/internal/ptytest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestTerminalPassword types passwords into add and passwd on a real
// pseudo-terminal: nothing typed may be echoed, the two entries must
// match, and echo must be back on afterwards.
func TestTerminalPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		cmd           []string
		first, second string
		code          int
		stderr        string
	}{
		{"add, matching entries", []string{"add", "-id", "t1", "tina"}, "typed-secret-1", "typed-secret-1", 0, ""},
		{"add, entries differ", []string{"add", "tom"}, "typed-secret-1", "typed-secret-2", 1, "the entries do not match"},
		{"add, control character", []string{"add", "tim"}, "typed\x01secret", "typed\x01secret", 1, "control character"},
		{"passwd, matching entries", []string{"passwd", "carol"}, "typed-secret-3", "typed-secret-3", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "users.db")
			for _, args := range [][]string{{"migrate"}, {"add", "-no-password", "carol"}} {
				var stderr bytes.Buffer
				if code := run(t.Context(), append([]string{"-db", dsn}, args...), strings.NewReader(""), io.Discard, &stderr); code != 0 {
					t.Fatalf("%s: %d %s", args, code, stderr.String())
				}
			}

			pty := ptytest.Open(t)
			var stdout bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(t.Context(), append([]string{"-db", dsn}, tt.cmd...), pty.TTY, &stdout, pty.TTY) }()

			pty.Answer(t, "Password: ", tt.first)
			pty.Answer(t, "Repeat password: ", tt.second)
			if code := ptytest.Receive(t, done); code != tt.code {
				t.Errorf("exit status = %d, want %d; terminal: %q", code, tt.code, pty.Screen())
			}
			if tt.stderr != "" {
				pty.WaitFor(t, tt.stderr, 1)
			}
			if strings.Contains(pty.Screen(), "typed") {
				t.Errorf("the terminal echoed the password: %q", pty.Screen())
			}
			if !pty.Echo(t) {
				t.Error("echo is still off after the command returned")
			}

			// The stored hash is of the password typed.
			login := tt.cmd[len(tt.cmd)-1]
			db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store, err := sqlstore.New(t.Context(), db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			acct, err := store.UserByLogin(t.Context(), login)
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("UserByLogin(%s): %v", login, err)
			case tt.code == 0:
				ok, err := httpauth.DefaultHasher().Verify(t.Context(), acct.PasswordHash, tt.first)
				if err != nil || !ok {
					t.Errorf("Verify(stored hash, typed password) = %v, %v", ok, err)
				}
			case tt.cmd[0] == "add" && !errors.Is(err, httpauth.ErrUserNotFound):
				t.Errorf("%s was created although the password was refused (err %v)", login, err)
			}
		})
	}
}
