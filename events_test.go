package httpauth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
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
	var events eventLog
	var logs bytes.Buffer
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.OnEvent = events.add
		c.APIKeys = newMemoryKeyStore()
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	t.Cleanup(func() { _ = f.auth.Close() })
	token := f.token(t, "alice@example.com", "wonderland-42")
	acct, _ := f.users.UserByID(t.Context(), "1")
	key, _, err := f.auth.CreateAPIKey(t.Context(), &Identity[testUser]{Account: acct, Credential: PasswordCredential}, "ci", nil, time.Time{})
	require.NoError(t, err)
	events.take()

	for _, tc := range []struct {
		name    string
		auth    string
		hashed  bool
		success bool
		method  Credential
		reason  string
	}{
		{"none", "", false, false, 0, reasonNoCredentials},
		{"malformed", "Digest x", false, false, 0, reasonMalformedCredentials},
		{"password", basicHeader("admin@example.com", "s3cret:with:colons"), true, true, PasswordCredential, reasonPassword},
		{"cached password", basicHeader("alice@example.com", "wonderland-42"), false, true, PasswordCredential, reasonPassword},
		{"wrong password", basicHeader("alice@example.com", "nope-nope"), true, false, PasswordCredential, reasonWrongPassword},
		{"unknown login", basicHeader("nobody@example.com", "nope-nope"), true, false, PasswordCredential, reasonUnknownLogin},
		{"unconfirmed", basicHeader("bob@example.com", "builder-42"), true, false, PasswordCredential, reasonAccountCheck},
		{"token", "Bearer " + token, false, true, TokenCredential, reasonToken},
		{"bad token", "Bearer k1.AAAA." + token[len(token)-43:], false, false, TokenCredential, reasonTokenInvalid},
		{"api key", "Bearer " + key, false, true, APIKeyCredential, reasonAPIKey},
		{"mistyped api key", "Bearer " + key[:len(key)-1] + "!", false, false, APIKeyCredential, reasonAPIKeyMalformed},
		{"unknown api key", "Bearer " + newAPIKey(), false, false, APIKeyCredential, reasonAPIKeyUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			f.auth.Middleware(&spy{}).ServeHTTP(httptest.NewRecorder(), req)
			got := events.take()
			if tc.hashed {
				require.Len(t, got, 2, "%+v", got)
				assert.Equal(t, reasonPasswordHashed, got[0].Reason)
				assert.Positive(t, got[0].HashDuration)
				got = got[1:]
			}
			require.Len(t, got, 1, "%+v", got)
			e := got[0]
			assert.Equal(t, tc.success, e.Success)
			assert.Equal(t, tc.method, e.Credential)
			assert.Equal(t, tc.reason, e.Reason)
			assert.Zero(t, e.HashDuration)
			assert.False(t, e.Throttled())
		})
	}
	// The log lines keep their reason strings.
	assert.Contains(t, logs.String(), "reason=wrong_password")
	assert.Contains(t, logs.String(), "reason=unknown_login")
}

func TestEventThrottled(t *testing.T) {
	t.Parallel()
	var events eventLog
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.OnEvent = events.add
		c.Throttle.Logins = newMemoryLimiter(2, time.Hour, nil)
	})
	var code int
	for range 5 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("alice@example.com", "nope-nope"))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		code = rec.Code
	}
	require.Equal(t, http.StatusTooManyRequests, code)
	got := events.take()
	last := got[len(got)-1]
	assert.True(t, last.Throttled())
	assert.Equal(t, reasonThrottled, last.Reason)
	assert.Equal(t, PasswordCredential, last.Credential)
}

func TestPanickingEventHookDoesNotBreakRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.OnEvent = func(Event) { panic("hook bug") }
	})
	for _, auth := range []string{basicHeader("alice@example.com", "wonderland-42"), ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s := &spy{}
		f.auth.Middleware(s).ServeHTTP(rec, req)
		if auth != "" {
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, 1, s.called)
		} else {
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
		}
	}
}

// The hook costs no allocation on the token success path.
func TestEventHookDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	allocs := func(hook func(Event)) float64 {
		f := newFixture(t, func(c *testSetup[testUser]) { c.OnEvent = hook })
		token := f.token(t, "alice@example.com", "wonderland-42")
		h := f.auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		return testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) })
	}
	var n int
	assert.Equal(t, allocs(nil), allocs(func(e Event) { n += int(e.Credential) }))
}
