package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gohttpauth/httpauth"
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

// waitFor waits until the screen shows want n times.
func (s *screen) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q %d times; it shows %q", want, n, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testTerminal types passwords into hash-password on a real
// pseudo-terminal: nothing typed may be echoed, and echo must be back on
// afterwards.
func testTerminal(t *testing.T, bin string) {
	tests := []struct {
		name          string
		first, second string
		code          int
		stderr        string
	}{
		{"matching entries", "typed-secret-1", "typed-secret-1", 0, ""},
		{"entries differ", "typed-secret-1", "typed-secret-2", 2, "httpauth hash-password: the entries do not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptm, pts := openPTY(t)
			cmd := exec.Command(bin, "hash-password")
			var stdout bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &stdout, pts
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var scr screen
			go func() { _, _ = io.Copy(&scr, ptm) }()

			scr.waitFor(t, "Password: ", 1)
			_, _ = ptm.WriteString(tt.first + "\n")
			scr.waitFor(t, "Repeat password: ", 1)
			_, _ = ptm.WriteString(tt.second + "\n")
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Errorf("exit status = %d, want %d", code, tt.code)
			}
			if tt.stderr != "" {
				scr.waitFor(t, tt.stderr, 1)
			}
			if strings.Contains(scr.String(), "typed-secret") {
				t.Errorf("the terminal echoed the password: %q", scr.String())
			}
			if tt.code == 0 {
				hash := strings.TrimSpace(stdout.String())
				ok, err := httpauth.DefaultHasher().Verify(context.Background(), hash, tt.first)
				if err != nil || !ok {
					t.Errorf("Verify(%q, typed password) = %v, %v", hash, ok, err)
				}
			} else if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("echo is still off after the command exited")
			}
		})
	}
}
