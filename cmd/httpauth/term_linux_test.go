package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/cmd/internal/ptytest"
)

// startOn starts bin with args and pty as its standard input and error.
// A command that hangs is killed after a minute.
func startOn(t *testing.T, pty *ptytest.PTY, stdout io.Writer, bin string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pty.TTY, stdout, pty.TTY
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
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
			pty := ptytest.Open(t)
			var stdout bytes.Buffer
			cmd := startOn(t, pty, &stdout, bin, "hash-password")

			pty.Answer(t, "Password: ", tt.first)
			pty.Answer(t, "Repeat password: ", tt.second)
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Errorf("exit status = %d, want %d", code, tt.code)
			}
			if tt.stderr != "" {
				pty.WaitFor(t, tt.stderr, 1)
			}
			if strings.Contains(pty.Screen(), "typed-secret") {
				t.Errorf("the terminal echoed the password: %q", pty.Screen())
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
			if !pty.Echo(t) {
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
			pty := ptytest.Open(t)
			t.Setenv("HTTPAUTH_SECRET", hex.EncodeToString(secret))
			var stdout bytes.Buffer
			cmd := startOn(t, pty, &stdout, bin, args...)
			pty.Answer(t, "Token: ", tok)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("inspect-token: %v; terminal: %q", err, pty.Screen())
			}
			if !regexp.MustCompile(`(?m)^token ID: +` + hex.EncodeToString(claims.ID[:]) + `$`).MatchString(stdout.String()) {
				t.Errorf("stdout = %q, want the claims", stdout.String())
			}
			if strings.Contains(pty.Screen(), tok[len(tok)-20:]) {
				t.Errorf("the terminal echoed the token: %q", pty.Screen())
			}
			if n := strings.Count(pty.Screen(), "Token: "); n != 1 {
				t.Errorf("asked %d times for the token", n)
			}
		})
	}
}

// testTerminalInterrupt stops hash-password while it waits with echo off,
// by a signal or by Ctrl-C typed (a key, not a signal, while the terminal
// is in raw mode): it must put echo back and exit as an interrupted
// command does (130).
func testTerminalInterrupt(t *testing.T, bin string) {
	for _, tt := range []struct {
		name string
		stop func(*testing.T, *ptytest.PTY, *exec.Cmd) error
	}{
		{"interrupt", func(_ *testing.T, _ *ptytest.PTY, cmd *exec.Cmd) error { return cmd.Process.Signal(os.Interrupt) }},
		{"terminated", func(_ *testing.T, _ *ptytest.PTY, cmd *exec.Cmd) error { return cmd.Process.Signal(unix.SIGTERM) }},
		{"ctrl-c typed", func(t *testing.T, pty *ptytest.PTY, _ *exec.Cmd) error { pty.Type(t, "typed\x03"); return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pty := ptytest.Open(t)
			cmd := startOn(t, pty, io.Discard, bin, "hash-password")
			pty.WaitFor(t, "Password: ", 1)
			pty.WaitEchoOff(t)
			if err := tt.stop(t, pty, cmd); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Errorf("exit = %v, want status 130", err)
			}
			if !pty.Echo(t) {
				t.Error("echo is still off after the interrupt")
			}
			if strings.Contains(pty.Screen(), "typed") {
				t.Errorf("the terminal echoed what was typed: %q", pty.Screen())
			}
		})
	}
}
