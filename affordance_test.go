package httpauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostUser is the host's user type in these tests.
type hostUser struct{ Confirmed bool }

// newHostAuth builds an authenticator as a host would, with the cheap test
// hasher: alice (id 1, confirmed) and bob (id 2, unconfirmed), both with
// password "pw-right". mutate may change the config before New.
func newHostAuth(t *testing.T, mutate func(*httpauth.Config[hostUser])) *httpauth.Authenticator[hostUser] {
	t.Helper()
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[hostUser](httpauthtest.FastHasher{})
	require.NoError(t, users.Add(ctx, "alice", "pw-right", httpauth.Account[hostUser]{ID: "1", User: hostUser{Confirmed: true}}))
	require.NoError(t, users.Add(ctx, "bob", "pw-right", httpauth.Account[hostUser]{ID: "2"}))
	time.Sleep(time.Millisecond) // tokens are issued strictly after the accounts exist
	cfg := httpauth.Config[hostUser]{
		Users: users, Signer: signer, Realm: "api",
		Hasher: httpauthtest.FastHasher{},
		Logger: slog.New(slog.DiscardHandler),
		CheckAccount: func(r *http.Request, a *httpauth.Account[hostUser]) error {
			if !a.User.Confirmed && r.URL.Path != "/resend-confirmation" {
				return httpauth.Forbidden("Unconfirmed account")
			}
			return nil
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	auth, err := httpauth.New(cfg)
	require.NoError(t, err)
	return auth
}

// TestErrorWriterLearnsTheReason checks that a custom ErrorWriter can tell
// every kind of refusal apart with errors.Is and errors.As, and that a
// wrong password and an unknown login look the same.
func TestErrorWriterLearnsTheReason(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got error
		auth := newHostAuth(t, func(c *httpauth.Config[hostUser]) {
			c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, status int, err error) {
				got = err
				w.WriteHeader(status)
			}
			c.Throttle.Logins = httpauth.NewMemoryLimiter(3, time.Hour)
		})
		old, _, err := auth.IssueToken(context.Background(), "1")
		require.NoError(t, err)
		time.Sleep(2 * time.Hour) // old expires (tokens live an hour)
		fresh, _, err := auth.IssueToken(context.Background(), "1")
		require.NoError(t, err)

		h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		send := func(authz string) int {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			rec := httptest.NewRecorder()
			got = nil
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		basic := func(login, pw string) string {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.SetBasicAuth(login, pw)
			return r.Header.Get("Authorization")
		}
		sentinels := []error{httpauth.ErrUnauthorized, httpauth.ErrNoCredentials, httpauth.ErrTokenExpired, httpauth.ErrTokenInvalid, httpauth.ErrForbidden}
		tests := []struct {
			name   string
			authz  string
			status int
			is     []error // every sentinel err matches; it matches no other
		}{
			{"no credentials", "", 401, []error{httpauth.ErrUnauthorized, httpauth.ErrNoCredentials}},
			{"expired token", "Bearer " + old, 401, []error{httpauth.ErrUnauthorized, httpauth.ErrTokenExpired}},
			{"forged token", "Bearer " + fresh[:len(fresh)-2] + "xx", 401, []error{httpauth.ErrUnauthorized, httpauth.ErrTokenInvalid}},
			{"malformed bearer", "Bearer ???", 401, []error{httpauth.ErrUnauthorized, httpauth.ErrTokenInvalid}},
			{"wrong password", basic("alice", "pw-wrong"), 401, []error{httpauth.ErrUnauthorized}},
			{"unknown login", basic("nobody", "pw-wrong"), 401, []error{httpauth.ErrUnauthorized}},
			{"unconfirmed account", basic("bob", "pw-right"), 403, []error{httpauth.ErrForbidden}},
		}
		for _, tt := range tests {
			require.Equal(t, tt.status, send(tt.authz), tt.name)
			require.Error(t, got, tt.name)
			for _, s := range sentinels {
				want := false
				for _, w := range tt.is {
					want = want || w == s
				}
				assert.Equal(t, want, errors.Is(got, s), "%s: errors.Is(err, %v)", tt.name, s)
			}
		}
		// The 403's message is the one meant for the client.
		send(basic("bob", "pw-right"))
		assert.Equal(t, "Unconfirmed account", got.Error())

		// Throttled: the third wrong password spends the budget of 3.
		for range 3 {
			send(basic("alice", "pw-wrong"))
		}
		require.Equal(t, 429, send(basic("alice", "pw-wrong")))
		var throttled *httpauth.ThrottledError
		require.ErrorAs(t, got, &throttled)
		assert.Greater(t, throttled.RetryAfter, time.Duration(0))
	})
}

// TestCheckAccountSeesTheRequest checks that CheckAccount can admit on one
// route an account it refuses on the others.
func TestCheckAccountSeesTheRequest(t *testing.T) {
	t.Parallel()
	auth := newHostAuth(t, nil)
	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tt := range []struct {
		path   string
		status int
	}{{"/resend-confirmation", 200}, {"/orders", 403}} {
		req := httptest.NewRequest(http.MethodPost, tt.path, nil)
		req.SetBasicAuth("bob", "pw-right")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, tt.status, rec.Code, tt.path)
	}
}

// TestOptionalAnonymousIsNotAFailure checks that a public route's anonymous
// visitors leave no auth.failure line (they are counted as "anonymous"
// events), while bad credentials there, and no credentials elsewhere, are
// logged as failures.
func TestOptionalAnonymousIsNotAFailure(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	var reasons []httpauth.Reason
	auth := newHostAuth(t, func(c *httpauth.Config[hostUser]) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.OnEvent = func(e httpauth.Event) {
			mu.Lock()
			reasons = append(reasons, e.Reason)
			mu.Unlock()
		}
	})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name    string
		h       http.Handler
		login   string
		failure bool
		reason  string
	}{
		{"anonymous on an Optional route", auth.Optional(next), "", false, "anonymous"},
		{"bad password on an Optional route", auth.Optional(next), "alice", true, "bad_credentials"},
		{"anonymous on a protected route", auth.Middleware(next), "", true, "no_credentials"},
	}
	for _, tt := range tests {
		logs.Reset()
		reasons = nil
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.login != "" {
			req.SetBasicAuth(tt.login, "pw-wrong")
		}
		tt.h.ServeHTTP(httptest.NewRecorder(), req)
		assert.Equal(t, tt.failure, strings.Contains(logs.String(), "auth.failure"), "%s: log %q", tt.name, logs.String())
		assert.Contains(t, reasons, httpauth.Reason(tt.reason), tt.name)
	}
}

// TestSilencingTheAuditLogKeepsErrors checks the documented way to turn the
// audit log off: a handler at LevelError drops auth.success and
// auth.failure but still gets a store failure's cause.
func TestSilencingTheAuditLogKeepsErrors(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	broken := true
	auth := newHostAuth(t, func(c *httpauth.Config[hostUser]) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
		c.Users = failingUsers{UserStore: c.Users, broken: &broken}
	})
	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	serve := func(login string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(login, "pw-right")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, 500, serve("alice"))
	assert.Contains(t, logs.String(), "database is down")
	broken = false
	logs.Reset()
	require.Equal(t, 200, serve("alice"))
	require.Equal(t, 401, serve("nobody"))
	assert.Empty(t, logs.String(), "no audit lines at LevelError")
}

// failingUsers fails every lookup while *broken.
type failingUsers struct {
	httpauth.UserStore[hostUser]
	broken *bool
}

func (s failingUsers) UserByLogin(ctx context.Context, login string) (*httpauth.Account[hostUser], error) {
	if *s.broken {
		return nil, errors.New("database is down")
	}
	return s.UserStore.UserByLogin(ctx, login)
}
