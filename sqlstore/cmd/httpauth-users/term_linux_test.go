package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	return ptm, pts
}

// screen collects what the terminal shows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor polls until the screen shows want n times (generous deadline:
// only a hang fails it).
func (s *screen) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q %d times; it shows %q", want, n, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEchoOff polls until terminal f has echo off. The command prints its
// prompt before it turns echo off, so text typed at once could be echoed
// by the terminal itself; a command that never turns echo off fails here.
func waitEchoOff(t *testing.T, f *os.File) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal's echo never went off")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

			ptm, pts := openPTY(t)
			var scr screen
			go func() { _, _ = io.Copy(&scr, ptm) }()
			var stdout bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(t.Context(), append([]string{"-db", dsn}, tt.cmd...), pts, &stdout, pts) }()

			scr.waitFor(t, "Password: ", 1)
			waitEchoOff(t, pts)
			_, _ = ptm.WriteString(tt.first + "\n")
			scr.waitFor(t, "Repeat password: ", 1)
			waitEchoOff(t, pts)
			_, _ = ptm.WriteString(tt.second + "\n")
			if code := <-done; code != tt.code {
				t.Errorf("exit status = %d, want %d; terminal: %q", code, tt.code, scr.String())
			}
			if tt.stderr != "" {
				scr.waitFor(t, tt.stderr, 1)
			}
			if strings.Contains(scr.String(), "typed") {
				t.Errorf("the terminal echoed the password: %q", scr.String())
			}
			tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
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
