package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
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

// testTerminal types passwords into hash-password on a real
// pseudo-terminal: nothing typed may be echoed, and echo must be back on
// afterwards.
func testTerminal(t *testing.T, bin string) {
	t.Run("inspect-token", func(t *testing.T) { testTerminalToken(t, bin) })
	t.Run("interrupt", func(t *testing.T) { testTerminalInterrupt(t, bin) })
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
			waitEchoOff(t, pts)
			_, _ = ptm.WriteString(tt.first + "\n")
			scr.waitFor(t, "Repeat password: ", 1)
			waitEchoOff(t, pts)
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

// testTerminalToken types a token into inspect-token on a real
// pseudo-terminal: it is asked for once, not echoed, and verified.
func testTerminalToken(t *testing.T, bin string) {
	secret := testSecret(0)
	s, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: "k1", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	claims := testClaims(time.Now().Add(-time.Minute), time.Hour)
	tok, err := s.Sign(context.Background(), claims)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"inspect-token"}, {"inspect-token", "-"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ptm, pts := openPTY(t)
			cmd := exec.Command(bin, args...)
			cmd.Env = []string{"HTTPAUTH_SECRET=" + hex.EncodeToString(secret)}
			var stdout bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &stdout, pts
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var scr screen
			go func() { _, _ = io.Copy(&scr, ptm) }()
			scr.waitFor(t, "Token: ", 1)
			waitEchoOff(t, pts)
			_, _ = ptm.WriteString(tok + "\n")
			if err := cmd.Wait(); err != nil {
				t.Fatalf("inspect-token: %v; terminal: %q", err, scr.String())
			}
			if !regexp.MustCompile(`(?m)^token ID: +` + hex.EncodeToString(claims.ID[:]) + `$`).MatchString(stdout.String()) {
				t.Errorf("stdout = %q, want the claims", stdout.String())
			}
			if strings.Contains(scr.String(), tok[len(tok)-20:]) {
				t.Errorf("the terminal echoed the token: %q", scr.String())
			}
			if n := strings.Count(scr.String(), "Token: "); n != 1 {
				t.Errorf("asked %d times for the token", n)
			}
		})
	}
}

// testTerminalInterrupt stops hash-password while it waits with echo off:
// it must put echo back and exit as an interrupted command does (130).
func testTerminalInterrupt(t *testing.T, bin string) {
	for _, sig := range []os.Signal{os.Interrupt, unix.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ptm, pts := openPTY(t)
			cmd := exec.Command(bin, "hash-password")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, io.Discard, pts
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var scr screen
			go func() { _, _ = io.Copy(&scr, ptm) }()
			scr.waitFor(t, "Password: ", 1)
			waitEchoOff(t, pts)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Errorf("exit = %v, want status 130", err)
			}
			tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("echo is still off after the interrupt")
			}
		})
	}
}
