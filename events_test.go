package httpauth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventLog collects events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Request = nil
	l.events = append(l.events, e)
}

func (l *eventLog) take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

func TestEventsPerOutcome(t *testing.T) {
	t.Parallel()
	// Each case gets an environment with alice's token (her password is
	// then cached) and an API key of hers.
	for _, tc := range []struct {
		name    string
		auth    func(token, key string) string
		hashed  bool
		success bool
		method  Credential
		reason  Reason
	}{
		{"none", fixed(""), false, false, 0, ReasonNoCredentials},
		{"malformed", fixed("Digest x"), false, false, 0, ReasonMalformedCredentials},
		{"password", fixed(basicHeader("admin", "admin-pw")), true, true, PasswordCredential, ReasonPassword},
		{"cached password", fixed(basicHeader("alice", alicePW)), false, true, PasswordCredential, ReasonPassword},
		{"wrong password", fixed(basicHeader("alice", "nope-nope")), true, false, PasswordCredential, ReasonBadCredentials},
		{"unknown login", fixed(basicHeader("nobody", "nope-nope")), true, false, PasswordCredential, ReasonBadCredentials},
		{"unconfirmed", fixed(basicHeader("unconfirmed", "pw-unconfirmed")), true, false, PasswordCredential, ReasonAccountCheck},
		{"token", func(token, _ string) string { return "Bearer " + token }, false, true, TokenCredential, ReasonToken},
		{"bad token", func(token, _ string) string { return "Bearer k1.AAAA." + token[len(token)-43:] }, false, false, TokenCredential, ReasonTokenInvalid},
		{"api key", func(_, key string) string { return "Bearer " + key }, false, true, APIKeyCredential, ReasonAPIKey},
		{"mistyped api key", func(_, key string) string { return "Bearer " + key[:len(key)-1] + "!" }, false, false, APIKeyCredential, ReasonAPIKeyMalformed},
		{"unknown api key", fixed("Bearer " + newAPIKey()), false, false, APIKeyCredential, ReasonAPIKeyUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var events eventLog
				f := newEnv(t, func(c *testSetup[testUser]) {
					c.OnEvent = events.add
					c.APIKeys = newMemoryKeyStore()
				})
				t.Cleanup(func() { _ = f.auth.Close() })
				// In the bubble a hash takes the time its hook sleeps.
				f.hasher.hook = func(string) { time.Sleep(time.Millisecond) }
				token := f.mint(t, "alice", alicePW)
				acct, _ := f.users.UserByID(t.Context(), "u-alice")
				key, _, err := f.auth.CreateAPIKey(t.Context(), &Identity[testUser]{Account: acct, Credential: PasswordCredential}, "ci", nil, time.Time{})
				require.NoError(t, err)
				events.take()

				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if authz := tc.auth(token, key); authz != "" {
					req.Header.Set("Authorization", authz)
				}
				f.auth.Middleware(&spy{}).ServeHTTP(httptest.NewRecorder(), req)
				got := events.take()
				if tc.hashed {
					require.Len(t, got, 2, "%+v", got)
					assert.Equal(t, ReasonPasswordHashed, got[0].Reason)
					assert.Positive(t, got[0].HashDuration)
					got = got[1:]
				}
				require.Len(t, got, 1, "%+v", got)
				e := got[0]
				assert.Equal(t, tc.success, e.Success)
				assert.Equal(t, tc.method, e.Credential)
				assert.Equal(t, tc.reason, e.Reason)
				assert.Zero(t, e.HashDuration)
				assert.False(t, e.Reason == ReasonThrottled)
				// The log lines keep their reason strings.
				if !tc.success && tc.method == PasswordCredential {
					assert.Contains(t, f.logs.String(), `"reason":"`+string(tc.reason)+`"`)
				}
			})
		})
	}
}

// TestNoSignalTellsLoginsApart: a wrong password for an existing login and
// any password for a missing one give the same event and the same log line
// at the default levels, but for the login's keyed hash, and neither shows
// the login as typed (it may be a password typed into the wrong field).
func TestNoSignalTellsLoginsApart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var events eventLog
		f := newEnv(t, func(c *testSetup[testUser]) { c.OnEvent = events.add })
		f.logs.Reset()
		refs := map[string]string{}
		var shapes []string
		for _, login := range []string{"alice", "Hunter2-Secret-pw"} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader(login, "nope-nope"))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			got := events.take()
			e := got[len(got)-1]
			assert.Equal(t, ReasonBadCredentials, e.Reason, login)
			assert.Regexp(t, `^login#[0-9a-f]{16}$`, e.Who, login)
			refs[login] = e.Who
			e.Who = ""
			shapes = append(shapes, fmt.Sprintf("%+v", e))
			line := f.logs.String() // the audit log, at Debug
			f.logs.Reset()
			assert.NotContains(t, line, login, "the login as typed is never logged before it is proven")
			assert.NotContains(t, line, strings.ToLower(login))
			assert.NotContains(t, line, "unknown_login")
			assert.NotContains(t, line, "wrong_password")
			shapes = append(shapes, strings.ReplaceAll(line, e.Who, ""))
		}
		assert.Equal(t, shapes[0], shapes[2], "the events differ")
		assert.NotEqual(t, refs["alice"], refs["Hunter2-Secret-pw"], "each login has its own reference")
		// Log lines differ only in the reference and the time.
		strip := regexp.MustCompile(`"time":"[^"]*"|login#[0-9a-f]{16}`)
		assert.Equal(t, strip.ReplaceAllString(shapes[1], ""), strip.ReplaceAllString(shapes[3], ""))
		// The same login in another case has the same reference.
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("ALICE", "nope-nope"))
		f.auth.Middleware(&spy{}).ServeHTTP(httptest.NewRecorder(), req)
		got := events.take()
		assert.Equal(t, refs["alice"], got[len(got)-1].Who)
	})
}

// panickingHandler is a slog.Handler whose Handle panics.
type panickingHandler struct{ slog.Handler }

func (panickingHandler) Handle(context.Context, slog.Record) error { panic("log handler bug") }

// TestPanickingLoggerDoesNotBreakRequests: a Logger whose handler panics
// neither drops the connection nor changes any answer, the 500 of a store
// failure included.
func TestPanickingLoggerDoesNotBreakRequests(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &faultyStore{}
		f := newEnv(t, func(c *testSetup[testUser]) {
			store.UserStore = c.Users
			c.Users = store
			c.Logger = slog.New(panickingHandler{slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})})
		})
		for _, tc := range []struct {
			name  string
			authz string
			want  int
		}{
			{"success", basicHeader("alice", alicePW), http.StatusOK},
			{"wrong password", basicHeader("alice", "nope-nope"), http.StatusUnauthorized},
			{"bad token", "Bearer k1.AAAA.AAAA", http.StatusUnauthorized},
		} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", tc.authz)
			rec := httptest.NewRecorder()
			assert.NotPanics(t, func() { f.auth.Middleware(&spy{}).ServeHTTP(rec, req) }, tc.name)
			assert.Equal(t, tc.want, rec.Code, tc.name)
		}
		store.byLogin = "error"
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("bob", "whatever-pw"))
		rec := httptest.NewRecorder()
		assert.NotPanics(t, func() { f.auth.Middleware(&spy{}).ServeHTTP(rec, req) })
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.JSONEq(t, `{"error":"internal_error","message":"Internal server error"}`, rec.Body.String())
	})
}

func fixed(authz string) func(token, key string) string {
	return func(string, string) string { return authz }
}

func TestEventThrottled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var events eventLog
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.OnEvent = events.add
			c.Throttle.Logins = newMemoryLimiter(2, time.Hour)
		})
		var code int
		for range 5 {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader("alice", "nope-nope"))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			code = rec.Code
		}
		require.Equal(t, http.StatusTooManyRequests, code)
		got := events.take()
		last := got[len(got)-1]
		assert.True(t, last.Reason == ReasonThrottled)
		assert.Equal(t, ReasonThrottled, last.Reason)
		assert.Equal(t, PasswordCredential, last.Credential)
	})
}

func TestPanickingEventHookDoesNotBreakRequests(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.OnEvent = func(Event) { panic("hook bug") }
		})
		for _, auth := range []string{basicHeader("alice", alicePW), ""} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			s := &spy{}
			f.auth.Middleware(s).ServeHTTP(rec, req)
			if auth != "" {
				assert.Equal(t, http.StatusOK, rec.Code)
				assert.EqualValues(t, 1, s.calls.Load())
			} else {
				assert.Equal(t, http.StatusUnauthorized, rec.Code)
			}
		}
	})
}

// The hook costs no allocation on the token success path.
func TestEventHookDoesNotAllocate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if raceEnabled {
			t.Skip("allocation counts differ under -race")
		}
		allocs := func(hook func(Event)) float64 {
			f := newEnv(t, func(c *testSetup[testUser]) { c.OnEvent = hook })
			token := f.mint(t, "alice", alicePW)
			h := f.auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			return testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) })
		}
		var n int
		assert.Equal(t, allocs(nil), allocs(func(e Event) { n += int(e.Credential) }))
	})
}
