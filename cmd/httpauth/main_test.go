package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// buildCLI builds the command into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "httpauth")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, bin, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// check compares a run with what the case expects: the exit status, a
// pattern for stdout, and for failures one line on stderr matching errRe.
func (r result) check(t *testing.T, code int, outRe, errRe string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status = %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !regexp.MustCompile(outRe).MatchString(r.stdout) {
		t.Errorf("stdout = %q, want a match for %q", r.stdout, outRe)
	}
	if errRe == "" {
		if r.stderr != "" {
			t.Errorf("stderr = %q, want nothing", r.stderr)
		}
		return
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr = %q, want one line", r.stderr)
	}
	if !regexp.MustCompile(errRe).MatchString(r.stderr) {
		t.Errorf("stderr = %q, want a match for %q", r.stderr, errRe)
	}
}

func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	t.Run("toplevel", func(t *testing.T) { testToplevel(t, bin) })
	t.Run("keygen", func(t *testing.T) { testKeygen(t, bin) })
	t.Run("hash-password", func(t *testing.T) { testHashPassword(t, bin) })
	t.Run("inspect-token", func(t *testing.T) { testInspectToken(t, bin) })
	t.Run("terminal", func(t *testing.T) { testTerminal(t, bin) })
}

func testToplevel(t *testing.T, bin string) {
	tests := []struct {
		name   string
		args   []string
		code   int
		outRe  string
		stderr string // pattern for stderr; "" means empty
	}{
		{"help", []string{"-h"}, 0, `^Usage: httpauth <command>(.|\n)*keygen(.|\n)*hash-password(.|\n)*inspect-token`, ""},
		{"help word", []string{"help"}, 0, `^Usage: httpauth`, ""},
		{"unknown command", []string{"frobnicate"}, 2, `^$`, `^httpauth: unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCLI(t, bin, "", nil, tt.args...).check(t, tt.code, tt.outRe, tt.stderr)
		})
	}
	t.Run("no arguments", func(t *testing.T) {
		r := runCLI(t, bin, "", nil)
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Usage: httpauth") {
			t.Errorf("got %+v, want status 2 and the usage on stderr", r)
		}
	})
}

func testKeygen(t *testing.T, bin string) {
	tests := []struct {
		name   string
		args   []string
		code   int
		outRe  string
		stderr string
	}{
		{"key", []string{"keygen"}, 0, `^[0-9a-f]{64}\n$`, ""},
		{"help", []string{"keygen", "-h"}, 0, `^Usage: httpauth keygen\n(.|\n)*HTTPAUTH_SECRET`, ""},
		{"argument", []string{"keygen", "64"}, 2, `^$`, `^httpauth keygen: takes no arguments`},
		{"unknown flag", []string{"keygen", "-bits", "256"}, 2, `^$`, `^httpauth keygen: flag provided but not defined: -bits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCLI(t, bin, "", nil, tt.args...).check(t, tt.code, tt.outRe, tt.stderr)
		})
	}
	t.Run("keys are usable and fresh", func(t *testing.T) {
		seen := map[string]bool{}
		for range 3 {
			out := strings.TrimSpace(runCLI(t, bin, "", nil, "keygen").stdout)
			key, err := httpauth.KeyFromHex("k1", out)
			if err != nil || len(key.Secret) != 32 {
				t.Fatalf("KeyFromHex(%q): %d bytes, %v", out, len(key.Secret), err)
			}
			if _, err := httpauth.NewHMACSigner(key); err != nil {
				t.Errorf("NewHMACSigner refuses the key: %v", err)
			}
			if seen[out] {
				t.Errorf("key %s generated twice", out)
			}
			seen[out] = true
		}
	})
}

func testHashPassword(t *testing.T, bin string) {
	tests := []struct {
		name     string
		stdin    string
		args     []string
		password string // what the printed hash must verify; "" for failures
		code     int
		stderr   string
	}{
		{"line", "wonderland-42\n", nil, "wonderland-42", 0, ""},
		{"no newline", "wonderland-42", nil, "wonderland-42", 0, ""},
		{"crlf", "wonderland-42\r\n", nil, "wonderland-42", 0, ""},
		{"spaces kept", "  two words  \n", nil, "  two words  ", 0, ""},
		{"utf-8 and colons", "pässwörd:ü42\n", nil, "pässwörd:ü42", 0, ""},
		{"longest", strings.Repeat("a", 1024), nil, strings.Repeat("a", 1024), 0, ""},
		{"empty", "", nil, "", 2, `^httpauth hash-password: empty password\n$`},
		{"empty line", "\n", nil, "", 2, `empty password`},
		{"two lines", "one\ntwo\n", nil, "", 2, `more than one line`},
		{"too long", strings.Repeat("a", 1025), nil, "", 2, `1025 bytes; the authenticator takes at most 1024`},
		{"far too long", strings.Repeat("a", 70000), nil, "", 2, `longer than 65536 bytes`},
		{"control character", "tab\there\n", nil, "", 2, `control character`},
		{"invalid utf-8", "\xff\xfe\n", nil, "", 2, `not valid UTF-8`},
		{"argument", "", []string{"hunter2"}, "", 2, `takes no arguments`},
		{"help", "", []string{"-h"}, "", 0, ""},
	}
	hasher := httpauth.DefaultHasher()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, bin, tt.stdin, nil, append([]string{"hash-password"}, tt.args...)...)
			switch {
			case tt.code != 0:
				r.check(t, tt.code, `^$`, tt.stderr)
			case tt.password == "":
				r.check(t, 0, `^Usage: httpauth hash-password`, "")
			default:
				r.check(t, 0, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+\n$`, "")
				hash := strings.TrimSuffix(r.stdout, "\n")
				ok, err := hasher.Verify(context.Background(), hash, tt.password)
				if err != nil || !ok {
					t.Errorf("Verify(%q) = %v, %v; want true", tt.password, ok, err)
				}
				ok, err = hasher.Verify(context.Background(), hash, tt.stdin+"x")
				if err != nil || ok {
					t.Errorf("Verify(other password) = %v, %v; want false", ok, err)
				}
			}
		})
	}
}

func testInspectToken(t *testing.T, bin string) {
	secret, other := testSecret(0), testSecret(1)
	env := []string{"HTTPAUTH_SECRET=" + hex.EncodeToString(secret)}
	now := time.Now()
	fresh := testClaims(now.Add(-time.Minute), time.Hour)
	mint := func(secret []byte, kid string, c httpauth.Claims) string {
		s, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: kid, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sign(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mint(secret, "k1", fresh)
	claimsRe := `^subject: +user-7\ntoken ID: +` + hex.EncodeToString(fresh.ID[:]) + `\nissued at: +` +
		regexp.QuoteMeta(fresh.IssuedAt.UTC().Format(time.RFC3339)) + `\nexpires at: +` +
		regexp.QuoteMeta(fresh.ExpiresAt.UTC().Format(time.RFC3339)) + ` \(in [0-9]+m[0-9]+s\)\nkey ID: +%s\n$`
	claims := func(kid string) string {
		return fmt.Sprintf(claimsRe, regexp.QuoteMeta(kid))
	}

	tests := []struct {
		name   string
		env    []string
		stdin  string
		args   []string
		code   int
		outRe  string
		stderr string
	}{
		{"valid argument", env, "", []string{good}, 0, claims("k1"), ""},
		{"valid stdin", env, good + "\n", nil, 0, claims("k1"), ""},
		{"valid dash", env, good, []string{"-"}, 0, claims("k1"), ""},
		{"other kid", env, "", []string{"-kid", "2026-11", mint(secret, "2026-11", fresh)}, 0, claims("2026-11"), ""},
		{"help", nil, "", []string{"-h"}, 0, `^Usage: httpauth inspect-token \[-kid ID\] (.|\n)*-kid`, ""},
		{"no purpose flag", env, "", []string{"-purpose", "api-access", good}, 2, `^$`, `flag provided but not defined: -purpose`},

		{"expired", env, "", []string{mint(secret, "k1", testClaims(now.Add(-2*time.Hour), time.Hour))}, 1, `^$`, `^httpauth inspect-token: token expired`},
		{"wrong secret", env, "", []string{mint(other, "k1", fresh)}, 1, `^$`, `^httpauth inspect-token: invalid token: signature mismatch \(wrong HTTPAUTH_SECRET`},
		{"wrong kid", env, "", []string{"-kid", "k2", good}, 1, `^$`, `invalid token: unknown key`},
		{"tampered", env, "", []string{good[:len(good)-2] + "AA"}, 1, `^$`, `invalid token`},
		{"garbage", env, "", []string{"not-a-token"}, 1, `^$`, `^httpauth inspect-token: invalid token: malformed\n$`},
		{"future", env, "", []string{mint(secret, "k1", testClaims(now.Add(time.Hour), time.Hour))}, 1, `^$`, `invalid token: issued in the future`},

		{"no secret", nil, "", []string{good}, 2, `^$`, `HTTPAUTH_SECRET is not set`},
		{"secret not hex", []string{"HTTPAUTH_SECRET=zz"}, "", []string{good}, 2, `^$`, `^httpauth inspect-token: HTTPAUTH_SECRET: key is not valid hex\n$`},
		{"secret short", []string{"HTTPAUTH_SECRET=" + hex.EncodeToString(secret[:31])}, "", []string{good}, 2, `^$`, `HTTPAUTH_SECRET: key is 31 bytes; at least 32`},
		{"secret all zeros", []string{"HTTPAUTH_SECRET=" + strings.Repeat("00", 32)}, "", []string{good}, 2, `^$`, `HTTPAUTH_SECRET: key has 1 distinct byte values`},
		{"secret made up", []string{"HTTPAUTH_SECRET=" + strings.Repeat("42", 32)}, "", []string{good}, 2, `^$`, `HTTPAUTH_SECRET: key has 1 distinct byte values`},
		{"bad kid", env, "", []string{"-kid", "no spaces", good}, 2, `^$`, `^httpauth inspect-token: -kid "no spaces": key ID must be 1 to 16 characters`},
		{"empty stdin", env, "", nil, 2, `^$`, `empty token`},
		{"two tokens", env, "", []string{good, good}, 2, `^$`, `takes one token, got 2`},
		{"flag after token", env, "", []string{good, "-kid", "k1"}, 2, `^$`, `takes one token, got 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, bin, tt.stdin, tt.env, append([]string{"inspect-token"}, tt.args...)...)
			r.check(t, tt.code, tt.outRe, tt.stderr)
		})
	}
}

// testClaims returns claims for "user-7" issued at iat.
func testClaims(iat time.Time, ttl time.Duration) httpauth.Claims {
	c := httpauth.Claims{Subject: "user-7", IssuedAt: iat, ExpiresAt: iat.Add(ttl)}
	_, _ = rand.Read(c.ID[:])
	return c
}

// testSecret returns a fixed 32-byte secret, different for each n, with
// the variety httpauth.KeyFromHex asks of a random key.
func testSecret(n byte) []byte {
	s := sha256.Sum256([]byte{'k', n}) // random-looking, as KeyFromHex requires
	return s[:]
}
