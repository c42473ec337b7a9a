package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// The tests of the example-server findings of the third security review
// (issue 16).

// spyUsers is a memory user store that counts its lookups.
type spyUsers struct {
	*httpauth.MemoryUserStore[User]
	lookups atomic.Int32
}

func (s *spyUsers) UserByLogin(ctx context.Context, login string) (*httpauth.Account[User], error) {
	s.lookups.Add(1)
	return s.MemoryUserStore.UserByLogin(ctx, login)
}

func (s *spyUsers) UserByID(ctx context.Context, id string) (*httpauth.Account[User], error) {
	s.lookups.Add(1)
	return s.MemoryUserStore.UserByID(ctx, id)
}

// accountsEnv is the account routes on a memory store with a fast hasher,
// served by routes (so the authenticator guards the resend route), with
// the links written to out and a mail queue whose worker the test starts.
type accountsEnv struct {
	users   *spyUsers
	handler http.Handler
	queue   *mailQueue
	out     *syncBuffer // the mailed links
	logs    *syncBuffer // the log, at Info
}

func newAccountsEnv(t *testing.T, queueSize int, limits mailLimits) *accountsEnv {
	t.Helper()
	ctx := t.Context()
	users := &spyUsers{MemoryUserStore: httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})}
	for _, u := range []struct {
		id, login string
		confirmed bool
	}{{"k", "kate@example.com", true}, {"u", "una@example.com", false}} {
		require.NoError(t, users.Add(ctx, u.login, "password-1", httpauth.Account[User]{
			ID: u.id, Roles: []string{"user"}, User: User{ID: u.id, Login: u.login, Confirmed: u.confirmed},
		}))
	}
	signer, err := httpauth.NewHMACSigner(testKey(t))
	require.NoError(t, err)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	auth, err := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "t", Hasher: httpauthtest.FastHasher{},
		CheckAccount: checkAccount, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	reg := func(ctx context.Context, email, hash string) (string, error) {
		id := newID()
		login := strings.ToLower(email)
		return id, users.Put(ctx, email, httpauth.Account[User]{ID: id, PasswordHash: hash, User: User{ID: id, Login: login}})
	}
	e := &accountsEnv{users: users, queue: newMailQueue(queueSize, logger), out: &syncBuffer{}, logs: logs}
	acc := newAccounts(auth, users, reg, httpauthtest.FastHasher{}, newMailer(e.out), e.queue, limits, logger)
	e.handler = routes(auth, nil, &lifecycle{auth: auth, accounts: acc, logger: logger}, &readiness{}, newMetrics(nil))
	t.Cleanup(e.queue.close)
	return e
}

// post sends a JSON POST from client (an IP address) to the handler.
func (e *accountsEnv) post(path, body, client string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.RemoteAddr = client + ":40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// drain runs the queued jobs to the end.
func (e *accountsEnv) drain() { e.queue.start(); e.queue.close() }

// TestAccountMailWorkIsQueued: a password-reset request does the same
// work before its answer for a known, an unknown and a disabled address
// (no store lookup, no minting: one queued job), and so does registration
// for a new and a taken address; the links are mailed afterwards, by the
// worker. (Counts of work, not timings.)
func TestAccountMailWorkIsQueued(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
		links            int // links mailed once the queue has run
	}{
		{"reset, known address", "/password-reset", `{"email":"kate@example.com"}`, 1},
		{"reset, unknown address", "/password-reset", `{"email":"nobody@example.com"}`, 0},
		{"reset, unconfirmed account", "/password-reset", `{"email":"una@example.com"}`, 1},
		{"register, new address", "/register", `{"email":"new@example.com","password":"pw-1"}`, 1},
		{"register, taken address", "/register", `{"email":"kate@example.com","password":"pw-1"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAccountsEnv(t, mailQueueSize, memoryMailLimits())
			rec := e.post(tt.path, tt.body, "192.0.2.1", nil)
			assert.Equal(t, 202, rec.Code, rec.Body.String())
			assert.JSONEq(t, `{"status":"pending"}`, rec.Body.String())
			assert.Zero(t, e.users.lookups.Load(), "store lookups (and minting, which reads the account) before the answer")
			assert.Len(t, e.queue.jobs, 1, "one queued job, whatever the address")
			assert.Empty(t, e.out.String(), "mailed before the answer")
			e.drain()
			assert.Equal(t, tt.links, strings.Count(e.out.String(), " link for "), e.out.String())
		})
	}
}

// TestMailQueueFullDrops: past its size the queue drops an e-mail with a
// warning that names no address, and the request is answered the same.
func TestMailQueueFullDrops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		requests int
		dropped  int
	}{
		{"within the size", 2, 0},
		{"one past the size", 3, 1},
		{"three past the size", 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAccountsEnv(t, 2, memoryMailLimits())
			for i := range tt.requests {
				rec := e.post("/password-reset", `{"email":"kate@example.com"}`, fmt.Sprintf("192.0.2.%d", i+1), nil)
				require.Equal(t, 202, rec.Code, rec.Body.String())
			}
			logs := e.logs.String()
			assert.Equal(t, tt.dropped, strings.Count(logs, "level=WARN msg=\"account e-mail dropped: the mail queue is full\""), logs)
			assert.NotContains(t, logs, "kate")
			e.drain()
			assert.Equal(t, min(tt.requests, 2), strings.Count(e.out.String(), "password reset link for kate@example.com: "))
		})
	}
}

// TestMailGoesToTheStoredAddress: a reset link goes to the address the
// store holds, not to the spelling the client typed that the lookup
// matched; a look-alike spelling (the Kelvin sign K) matches no account
// and cannot register.
func TestMailGoesToTheStoredAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body, typed string
		status                  int
		links                   int // to the stored address
	}{
		{"reset, as stored", "/password-reset", `{"email":"kate@example.com"}`, "kate@example.com", 202, 1},
		{"reset, upper case", "/password-reset", `{"email":"KATE@EXAMPLE.COM"}`, "KATE@EXAMPLE.COM", 202, 1},
		{"reset, Kelvin sign", "/password-reset", `{"email":"\u212Aate@example.com"}`, "\u212Aate@example.com", 202, 0},
		{"register, Kelvin sign", "/register", `{"email":"\u212Aate@example.com","password":"pw-1"}`, "\u212Aate@example.com", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAccountsEnv(t, mailQueueSize, memoryMailLimits())
			rec := e.post(tt.path, tt.body, "192.0.2.1", nil)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			e.drain()
			out := e.out.String()
			assert.Equal(t, tt.links, strings.Count(out, " link for kate@example.com: "), out)
			if tt.typed != "kate@example.com" {
				assert.NotContains(t, out, " link for "+tt.typed+": ")
			}
			assert.Equal(t, tt.links, strings.Count(out, "\n"), "no other line: %s", out)
		})
	}
}

// TestMailRateLimits: 50 reset requests for one address, from 50
// clients, mail it at most mailsPerAddress links, with the same 202 each;
// one client gets mailRequestsPerClient requests to each e-mail route and
// then a 429 with Retry-After and a JSON "rate_limited". With -redis the
// counts are shared: two instances together mail the limit, not twice it.
func TestMailRateLimits(t *testing.T) {
	t.Parallel()
	modes := map[string]func(t *testing.T) (a, b mailLimits){
		"memory": func(*testing.T) (mailLimits, mailLimits) {
			l := memoryMailLimits()
			return l, l // one instance
		},
		"redis, two instances": func(t *testing.T) (mailLimits, mailLimits) {
			url := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_TEST_URL", "source .ci/services.sh")
			prefix := "test:mail:" + newID() + ":"
			open := func() mailLimits {
				s := &stores{}
				require.NoError(t, s.openRedis(t.Context(), options{redis: url, redisPrefix: prefix}, slog.New(slog.DiscardHandler)))
				t.Cleanup(func() { _ = s.Close() })
				return s.mail
			}
			return open(), open()
		},
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			la, lb := mode(t)
			t.Run("one address", func(t *testing.T) {
				a, b := newAccountsEnv(t, 64, la), newAccountsEnv(t, 64, lb)
				a.queue.start()
				b.queue.start()
				for i := range 50 {
					e := []*accountsEnv{a, b}[i%2]
					rec := e.post("/password-reset", `{"email":"kate@example.com"}`, fmt.Sprintf("198.51.100.%d", i+1), nil)
					require.Equal(t, 202, rec.Code, rec.Body.String())
					assert.JSONEq(t, `{"status":"pending"}`, rec.Body.String())
					require.NoError(t, e.queue.flush(t.Context())) // so that the queue never fills
				}
				a.queue.close()
				b.queue.close()
				sent := strings.Count(a.out.String()+b.out.String(), "password reset link for kate@example.com: ")
				assert.Equal(t, mailsPerAddress, sent)
				assert.NotContains(t, a.logs.String()+b.logs.String(), "kate", "the log names no address")
			})
			routes := []struct {
				name, path, body string
				header           map[string]string
				client           string
			}{
				{"password reset", "/password-reset", `{"email":"nobody@example.com"}`, nil, "203.0.113.1"},
				{"register", "/register", `{"email":"new@example.com","password":"pw-1"}`, nil, "203.0.113.2"},
				{"resend confirmation", resendConfirmationPath, "", map[string]string{"Authorization": basic("una@example.com", "password-1")}, "203.0.113.3"},
			}
			for _, rt := range routes {
				t.Run("one client, "+rt.name, func(t *testing.T) {
					a, b := newAccountsEnv(t, 64, la), newAccountsEnv(t, 64, lb)
					a.queue.start()
					b.queue.start()
					for i := range mailRequestsPerClient {
						e := []*accountsEnv{a, b}[i%2]
						rec := e.post(rt.path, rt.body, rt.client, rt.header)
						require.Equal(t, 202, rec.Code, "request %d: %s", i, rec.Body.String())
					}
					rec := a.post(rt.path, rt.body, rt.client, rt.header)
					require.Equal(t, 429, rec.Code, rec.Body.String())
					assert.JSONEq(t, `{"error":"rate_limited","message":"Too many requests; try again later"}`, rec.Body.String())
					retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
					require.NoError(t, err, rec.Header().Get("Retry-After"))
					assert.Positive(t, retry)
					assert.LessOrEqual(t, retry, int(mailLimitWindow.Seconds()))
					assert.Equal(t, 202, a.post(rt.path, rt.body, "203.0.113.99", rt.header).Code, "another client")
				})
			}
		})
	}
}

// scrapeAuth returns the httpauth_ series of a /metrics scrape and their
// values, but for the hash histogram's buckets and sum, whose values are
// durations (they follow the machine's speed, and no test may).
func scrapeAuth(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "httpauth_") ||
			strings.HasPrefix(line, "httpauth_password_hash_duration_seconds_bucket") ||
			strings.HasPrefix(line, "httpauth_password_hash_duration_seconds_sum") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

// delta is what changed from before to after.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// TestMetricsDoNotTellLoginsApart: a failed login for an existing account
// and one for a missing account change the same series by the same
// amounts, and the public port serves no /metrics.
func TestMetricsDoNotTellLoginsApart(t *testing.T) {
	t.Parallel()
	a, err := newServer(context.Background(), options{tokenTTL: time.Hour, keys: []httpauth.SigningKey{testKey(t)}}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.close() })
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path string
		existing, missing  string // Authorization headers
	}{
		{"Basic on a route", "GET", "/api/v1/me", basic("alice@example.com", "wrong-1"), basic("mallory@example.com", "wrong-1")},
		{"token request", "POST", "/api/v1/tokens/", basic("carol@example.com", "wrong-2"), basic("trudy@example.com", "wrong-2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s0 := scrapeAuth(t, a.metrics)
			require.Equal(t, 401, call(t, tt.method, srv.URL+tt.path, tt.existing).status)
			s1 := scrapeAuth(t, a.metrics)
			require.Equal(t, 401, call(t, tt.method, srv.URL+tt.path, tt.missing).status)
			s2 := scrapeAuth(t, a.metrics)
			existing, missing := delta(s0, s1), delta(s1, s2)
			assert.NotEmpty(t, existing, "a failed login is counted")
			assert.Equal(t, existing, missing, "the metrics tell an existing login from a missing one")
		})
	}

	t.Run("no /metrics on the public port", func(t *testing.T) {
		for _, method := range []string{"GET", "POST"} {
			r := call(t, method, srv.URL+"/metrics", "")
			assert.Equal(t, 404, r.status, method)
			assert.Equal(t, map[string]any{"error": "not_found", "message": "Not found"}, r.body, method)
		}
	})
}

// TestAccountLinkRoutesOnlyWhereLinksMayBeLogged: in memory (a demo) the
// account-link routes serve and log their links; with -db they are 404s,
// with one startup line saying why, unless -log-links is given.
func TestAccountLinkRoutesOnlyWhereLinksMayBeLogged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    func(t *testing.T) []string
		mounted bool
	}{
		{"memory", func(*testing.T) []string { return nil }, true},
		{"-db", func(t *testing.T) []string {
			return []string{"-db", "sqlite:" + filepath.Join(t.TempDir(), "users.db"), "-migrate", "-demo-users"}
		}, false},
		{"-db -log-links", func(t *testing.T) []string {
			return []string{"-db", "sqlite:" + filepath.Join(t.TempDir(), "users.db"), "-migrate", "-demo-users", "-log-links"}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startAPI(t, tt.args(t)...)
			bob := basicH("bob@example.com", "builder-42") // unconfirmed
			routes := []request{
				{method: "POST", path: "/register", body: map[string]string{"email": "erin@example.com", "password": "pw-erin-1"}},
				{method: "POST", path: "/password-reset", body: map[string]string{"email": "alice@example.com"}},
				{method: "POST", path: resendConfirmationPath, header: bob},
				{method: "POST", path: "/confirm", body: map[string]string{"token": "x"}},
				{method: "POST", path: "/password-reset/confirm", body: map[string]string{"token": "x", "password": "pw-new-1"}},
			}
			want := map[string]int{"/register": 202, "/password-reset": 202, resendConfirmationPath: 202, "/confirm": 400, "/password-reset/confirm": 400}
			for _, req := range routes {
				r := s.do(t, req)
				if tt.mounted {
					assert.Equal(t, want[req.path], r.status, "%s: %s", req.path, r.raw)
				} else {
					assert.Equal(t, 404, r.status, "%s: %s", req.path, r.raw)
					assert.Equal(t, "not_found", r.obj["error"], req.path)
				}
			}
			sent := len(s.links(t, "confirmation", "erin@example.com")) + len(s.links(t, "password reset", "alice@example.com")) +
				len(s.links(t, "confirmation", "bob@example.com"))
			if tt.mounted {
				assert.Equal(t, 3, sent, s.logs.String())
				assert.NotContains(t, s.logs.String(), "account-link routes are off")
			} else {
				assert.Zero(t, sent)
				assert.NotContains(t, s.logs.String(), "?token=")
				assert.Equal(t, 1, strings.Count(s.logs.String(), "account-link routes are off"), s.logs.String())
				assert.Contains(t, s.logs.String(), "-log-links")
			}
		})
	}
}

// TestSQLiteDatabaseFileMode: -db sqlite:PATH creates a new database file
// 0600 (it holds password and key hashes); an existing file keeps its
// mode, with a warning when others may read it.
func TestSQLiteDatabaseFileMode(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which the driver would apply to 0644; not parallel
	t.Cleanup(func() { syscall.Umask(old) })
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file
		want     os.FileMode
		warned   bool
	}{
		{"new file", 0, 0o600, false},
		{"existing 0600", 0o600, 0o600, false},
		{"existing 0644", 0o644, 0o644, true},
		{"existing 0660", 0o660, 0o660, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.db")
			if tt.existing != 0 {
				require.NoError(t, os.WriteFile(path, nil, tt.existing))
				require.NoError(t, os.Chmod(path, tt.existing))
			}
			var logs syncBuffer
			o := options{db: "sqlite:" + path, migrate: true}
			st, err := openStores(t.Context(), o, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			require.NoError(t, st.Close())
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.want, fi.Mode().Perm())
			assert.Equal(t, tt.warned, strings.Contains(logs.String(), "level=WARN msg=\"the SQLite database file is readable or writable by other users"), logs.String())
		})
	}
}

// TestCrossOriginProtection: a cross-site browser request that changes
// state (minting a token, creating a key) is a JSON 403; same-origin
// browser requests, non-browser clients and safe methods pass.
func TestCrossOriginProtection(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, time.Hour)
	alice := basic("alice@example.com", "wonderland-42")
	key := `{"name":"ci","roles":["user"]}`
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}{
		{"token, no browser headers (curl)", "POST", "/api/v1/tokens/", "", nil, 200},
		{"token, same-origin", "POST", "/api/v1/tokens/", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"token, typed into the browser", "POST", "/api/v1/tokens/", "", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"token, Origin of the host", "POST", "/api/v1/tokens/", "", map[string]string{"Origin": srv.URL}, 200},
		{"token, cross-site", "POST", "/api/v1/tokens/", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"token, same-site other origin", "POST", "/api/v1/tokens/", "", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"token, foreign Origin", "POST", "/api/v1/tokens/", "", map[string]string{"Origin": "https://evil.example"}, 403},
		{"key, no browser headers", "POST", "/api/v1/keys", key, nil, 201},
		{"key, cross-site text/plain", "POST", "/api/v1/keys", key, map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, 403},
		{"key, foreign Origin", "POST", "/api/v1/keys", key, map[string]string{"Origin": "http://evil.example"}, 403},
		{"me, cross-site GET", "GET", "/api/v1/me", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", alice)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tt.status, resp.StatusCode, "%v", body)
			if tt.status == 403 {
				assert.Equal(t, map[string]any{"error": "cross_origin", "message": "Cross-origin request refused"}, body)
				assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
			}
		})
	}
}

// TestServerTimeouts: run serves the API and the metrics with read,
// header, write and idle timeouts.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	s := startAPI(t, "-metrics-addr", "127.0.0.1:0")
	require.NotNil(t, s.st.metrics, "a metrics server")
	for name, srv := range map[string]*http.Server{"api": s.st.api, "metrics": s.st.metrics} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, 10*time.Second, srv.ReadHeaderTimeout)
			assert.Equal(t, 30*time.Second, srv.ReadTimeout)
			assert.Equal(t, 30*time.Second, srv.WriteTimeout)
			assert.Equal(t, 120*time.Second, srv.IdleTimeout)
		})
	}
	t.Run("no metrics listener by default", func(t *testing.T) {
		s := startAPI(t)
		assert.Nil(t, s.st.metrics)
		assert.NotContains(t, s.logs.String(), "metrics at")
	})
}
