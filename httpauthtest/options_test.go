package httpauthtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

func hostHarness(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
	s := newHostStore()
	return httpauthtest.UserStoreHarness[hostUser]{
		Store:  s,
		Add:    s.hostAdd,
		Update: s.hostUpdate,
		Delete: func(_ context.Context, id string) error { return s.delete(id) },
		CheckUser: func(t *testing.T, login string, acct *httpauth.Account[hostUser]) {
			if acct.User.Name != login {
				t.Errorf("User.Name = %q, want %q", acct.User.Name, login)
			}
		},
	}
}

// hostStoreOptions are what hostStore legitimately does differently.
var hostStoreOptions = []httpauthtest.Option{
	httpauthtest.DerivedRoles(adminRole),
	httpauthtest.IgnoresContext(),
	// A map has no connection to lose (the harness has no Break either).
	httpauthtest.Skip("BrokenStore"),
}

// A host's own store, with roles derived from an Admin flag and no
// context checks, passes TestUserStore given the options that say so.
func TestHostStore(t *testing.T) {
	httpauthtest.TestUserStore(t, hostHarness, hostStoreOptions...)
}

// childEnv names the suite run that a test re-executing this binary wants.
const childEnv = "HTTPAUTHTEST_CHILD"

// runChild runs test name of this binary again with childEnv=mode and
// returns its output and whether it passed. Suites take a *testing.T, so a
// run that must fail can only be watched from outside.
func runChild(t *testing.T, name, mode string) (string, bool) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", name, err)
	}
	return string(out), err == nil
}

// Runs of the suites that must fail, each watched from a child process.
func TestSuiteRunsThatFail(t *testing.T) {
	if mode := os.Getenv(childEnv); mode != "" {
		switch mode {
		case "misspelled-skip":
			httpauthtest.TestUserStore(t, hostHarness, httpauthtest.DerivedRoles(adminRole), httpauthtest.IgnoresContext(),
				httpauthtest.Skip("CanceledContext"))
		case "other-suite-skip":
			// EntryExpires is TestRevocationStore's.
			httpauthtest.TestKeyStore(t, func(*testing.T) httpauth.KeyStore {
				return httpauth.NewMemoryKeyStore()
			}, httpauthtest.Skip("EntryExpires"))
		case "host-without-options":
			httpauthtest.TestUserStore(t, hostHarness)
		case "ignores-context-still-catches":
			// IgnoresContext allows the live answer, not a missing user
			// for a failure.
			httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
				h := hostHarness(t)
				h.Store = notFoundWhenCancelled{h.Store}
				return h
			}, hostStoreOptions...)
		default:
			t.Fatalf("unknown %s=%q", childEnv, mode)
		}
		return
	}
	t.Parallel()
	cases := []struct {
		mode    string
		want    []string // in the output
		wantNot []string
	}{
		{
			mode:    "misspelled-skip",
			want:    []string{`Skip("CanceledContext"): no such subtest`, "FailureIsNotNotFound"},
			wantNot: []string{"RUN   TestSuiteRunsThatFail/RoundTrip"}, // nothing ran
		},
		{
			mode:    "other-suite-skip",
			want:    []string{`TestKeyStore: Skip("EntryExpires"): no such subtest`},
			wantNot: []string{"RUN   TestSuiteRunsThatFail/RoundTrip"},
		},
		{
			mode: "ignores-context-still-catches",
			want: []string{`UserByLogin("dave"): error httpauth: user not found wraps ErrUserNotFound`},
		},
		{
			// The options of TestHostStore are needed: without them the
			// derived roles and the unchecked contexts fail the suite.
			mode: "host-without-options",
			want: []string{`Roles = ["admin"], want ["admin" "ops" "read:all"]`, "want a failure"},
		},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			out, passed := runChild(t, "TestSuiteRunsThatFail", c.mode)
			if passed {
				t.Fatalf("the suite passed, want it to fail; output:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q; output:\n%s", w, out)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q; output:\n%s", w, out)
				}
			}
		})
	}
}

// Every subtest each suite's doc names can be skipped, and a skipped
// subtest shows as skipped (go test -v), not as missing.
func TestSkipEverySubtest(t *testing.T) {
	t.Parallel()
	memUsers := func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
		s := httpauth.NewMemoryUserStore[hostUser](storedAsGiven{})
		return httpauthtest.UserStoreHarness[hostUser]{
			Store: s,
			Add: func(ctx context.Context, login string, acct httpauth.Account[hostUser]) error {
				return s.Add(ctx, login, acct.PasswordHash, acct)
			},
		}
	}
	fail := func(t *testing.T) { t.Helper(); t.Fatal("a skipped suite called its constructor") }
	t.Run("TestUserStore", func(t *testing.T) {
		httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
			fail(t)
			return memUsers(t)
		}, httpauthtest.Skip("RoundTrip", "NotFound", "LoginMatching", "DuplicateLogin", "TakenIDKeepsAccount",
			"CreationSetsCutoff", "FailureIsNotNotFound", "UpdateVisible", "Delete", "Rehash", "ConcurrentReads", "BrokenStore"))
	})
	t.Run("TestLifecycleStore", func(t *testing.T) {
		httpauthtest.TestLifecycleStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
			fail(t)
			return memUsers(t)
		}, httpauthtest.Skip("MarkConfirmed", "SwapPasswordHash", "SetLogin", "SetTokensValidAfter", "CancelledContext"))
	})
	t.Run("TestRevocationStore", func(t *testing.T) {
		httpauthtest.TestRevocationStore(t, func(t *testing.T) httpauth.RevocationStore {
			fail(t)
			return nil
		}, httpauthtest.Skip("UnknownIDNotRevoked", "RevokeThenRevoked", "RevokeTwice", "OtherIDsUnaffected",
			"EntryExpires", "AlreadyExpiredIsHarmless", "Concurrent", "CancelledContext"))
	})
	t.Run("TestLimiter", func(t *testing.T) {
		httpauthtest.TestLimiter(t, func(t *testing.T, _ int, _ time.Duration) httpauth.Limiter {
			fail(t)
			return nil
		}, httpauthtest.Skip("UnknownKeyAllowed", "RefusedAfterMaxAttempts", "AllowDoesNotCount", "WindowStartsAtFirstAttempt",
			"WindowEndFreesKey", "ResetFreesKey", "KeysIndependent", "ConcurrentReservesExactlyMax", "CancelledContext"))
	})
	t.Run("TestKeyStore", func(t *testing.T) {
		httpauthtest.TestKeyStore(t, func(t *testing.T) httpauth.KeyStore {
			fail(t)
			return nil
		}, httpauthtest.Skip("RoundTrip", "NotFound", "Duplicate", "ListByUser", "DeleteOwnerOnly", "Touch",
			"CancelledContextIsNotNotFound", "Concurrent"))
	})
}

// notFoundWhenCancelled is a store with a classic bug: a failed lookup
// reported as a missing user.
type notFoundWhenCancelled struct {
	httpauth.UserStore[hostUser]
}

func (s notFoundWhenCancelled) UserByLogin(ctx context.Context, login string) (*httpauth.Account[hostUser], error) {
	if ctx.Err() != nil {
		return nil, httpauth.ErrUserNotFound
	}
	return s.UserStore.UserByLogin(ctx, login)
}
