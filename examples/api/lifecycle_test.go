package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// apiServer is a real examples/api server started through run, with its
// stderr captured: the account links are read from there.
type apiServer struct {
	base    string
	metrics string // http://ADDR of -metrics-addr, if given
	logs    *syncBuffer
	st      *started
	stop    func() error
}

// startAPI runs the server with args (plus -addr 127.0.0.1:0) and the
// test key, until the test ends or stop is called.
func startAPI(t *testing.T, args ...string) *apiServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	ready := make(chan *started, 1)
	go func() {
		done <- serve(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), env(testSecret), logs,
			func(st *started) { ready <- st })
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
			return true
		}
		return false
	}, 30*time.Second, 10*time.Millisecond)
	require.NotEmpty(t, base, "server did not start: %s", logs.String())
	st := <-ready
	stopped := false
	s := &apiServer{base: base, logs: logs, st: st, stop: func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}}
	if st.metrics != nil {
		s.metrics = "http://" + st.metAddr
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// flushMail waits until the mail queue has run every job queued so far,
// so that a test reads the links of the requests it made.
func (s *apiServer) flushMail(t *testing.T) {
	t.Helper()
	if q := s.st.app.mail; q != nil {
		require.NoError(t, q.flush(t.Context()))
	}
}

type request struct {
	method, path string
	body         any               // JSON-encoded unless nil or a string
	header       map[string]string // e.g. Authorization, X-API-Key
}

type response struct {
	status int
	header http.Header
	raw    string
	obj    map[string]any
	list   []map[string]any
}

func (s *apiServer) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(r.method, s.base+r.path, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if raw[0] == '[' {
			require.NoError(t, json.Unmarshal(raw, &out.list), string(raw))
		} else {
			require.NoError(t, json.Unmarshal(raw, &out.obj), string(raw))
		}
	}
	return out
}

// links returns the tokens of the link lines of kind ("confirmation" or
// "password reset") for email, checking each line's exact form.
func (s *apiServer) links(t *testing.T, kind, email string) []string {
	t.Helper()
	s.flushMail(t)
	path := map[string]string{"confirmation": "/confirm", "password reset": "/password-reset"}[kind]
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kind+" link for "+email+": "+s.base+path+"?token=") + `([A-Za-z0-9_.\-]+)$`)
	var tokens []string
	for _, m := range re.FindAllStringSubmatch(s.logs.String(), -1) {
		tokens = append(tokens, m[1])
	}
	return tokens
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
func basicH(login, pw string) map[string]string {
	return map[string]string{"Authorization": basic(login, pw)}
}

// lifecycleModes are the store set-ups the HTTP tests run on.
func lifecycleModes(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"memory": func(*testing.T) []string { return nil },
		"sqlite": func(t *testing.T) []string {
			return []string{"-db", "sqlite:" + filepath.Join(t.TempDir(), "users.db"), "-migrate", "-demo-users", "-log-links"}
		},
		"postgres and redis": func(t *testing.T) []string {
			dsn, schema := pgTestSchema(t)
			redisURL := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_TEST_URL", "source .ci/services.sh")
			return []string{"-db", dsn, "-migrate", "-demo-users", "-log-links", "-redis", redisURL, "-redis-prefix", "test:" + schema + ":"}
		},
	}
}

// pgTestSchema returns HTTPAUTH_POSTGRES_TEST_DSN on a schema of the
// test's own, dropped when it ends.
func pgTestSchema(t *testing.T) (string, string) {
	t.Helper()
	pgDSN := httpauthtest.RequireEnv(t, "HTTPAUTH_POSTGRES_TEST_DSN", "source .ci/services.sh")
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "lifecycle_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(pgDSN)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// TestAccountFlowsHTTP drives registration, confirmation and password
// reset over HTTP, reading the links from stderr, in every store mode.
func TestAccountFlowsHTTP(t *testing.T) {
	t.Parallel()
	for name, mode := range lifecycleModes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startAPI(t, mode(t)...)
			const email, pw = "dora@example.com", "explorer-42"
			pending := map[string]any{"status": "pending"}

			t.Run("register refuses malformed input", func(t *testing.T) {
				for _, body := range []any{
					map[string]string{"email": "not-an-email", "password": pw},
					map[string]string{"email": "Dora <dora@example.com>", "password": pw},
					map[string]string{"email": "", "password": pw},
					map[string]string{"email": email, "password": ""},
					map[string]string{"email": email},
					"{not json",
				} {
					r := s.do(t, request{method: "POST", path: "/register", body: body})
					assert.Equal(t, 400, r.status, "%v", body)
					assert.Equal(t, "bad_request", r.obj["error"], "%v", body)
				}
				assert.Empty(t, s.links(t, "confirmation", email))
			})

			r := s.do(t, request{method: "POST", path: "/register", body: map[string]string{"email": email, "password": pw}})
			require.Equal(t, 202, r.status, r.raw)
			assert.Equal(t, pending, r.obj)
			confirm := s.links(t, "confirmation", email)
			require.Len(t, confirm, 1, "one confirmation line: %s", s.logs.String())

			t.Run("register reveals nothing about taken emails", func(t *testing.T) {
				for _, taken := range []string{email, "alice@example.com", "ALICE@example.com"} {
					r := s.do(t, request{method: "POST", path: "/register", body: map[string]string{"email": taken, "password": "whatever-1"}})
					assert.Equal(t, 202, r.status)
					assert.Equal(t, pending, r.obj)
				}
				assert.Len(t, s.links(t, "confirmation", email), 1, "no second link")
				assert.Empty(t, s.links(t, "confirmation", "alice@example.com"))
				assert.Empty(t, s.links(t, "confirmation", "ALICE@example.com"))
				assert.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH("alice@example.com", "wonderland-42")}).status,
					"alice keeps her password")
			})

			r = s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, pw)})
			assert.Equal(t, 403, r.status)
			assert.Equal(t, map[string]any{"error": "forbidden", "message": "Unconfirmed account"}, r.obj)

			// The one route open to an unconfirmed account sends a new link;
			// everything else stays closed to it.
			var resent string
			t.Run("resend confirmation", func(t *testing.T) {
				unconfirmed := map[string]any{"error": "forbidden", "message": "Unconfirmed account"}
				for _, req := range []request{
					{method: "GET", path: "/api/v1/me", header: basicH(email, pw)},
					{method: "POST", path: "/api/v1/tokens/", header: basicH(email, pw)},
					{method: "GET", path: resendConfirmationPath, header: basicH(email, pw)},
					{method: "POST", path: "/api/v1/keys", header: basicH(email, pw), body: map[string]any{"name": "x", "roles": []string{"user"}}},
				} {
					r := s.do(t, req)
					assert.Equal(t, 403, r.status, "%s %s", req.method, req.path)
					assert.Equal(t, unconfirmed, r.obj, "%s %s", req.method, req.path)
				}
				r := s.do(t, request{method: "POST", path: resendConfirmationPath})
				assert.Equal(t, 401, r.status, "no credentials")
				r = s.do(t, request{method: "POST", path: resendConfirmationPath, header: basicH(email, "wrong-password")})
				assert.Equal(t, 401, r.status, "wrong password")

				r = s.do(t, request{method: "POST", path: resendConfirmationPath, header: basicH(email, pw)})
				require.Equal(t, 202, r.status, r.raw)
				assert.Equal(t, pending, r.obj)
				links := s.links(t, "confirmation", email)
				require.Len(t, links, 2, "a second confirmation line: %s", s.logs.String())
				resent = links[1]
				assert.Equal(t, 403, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, pw)}).status,
					"asking for a link confirms nothing")
			})

			// A reset link asked for before confirming: another purpose.
			r = s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": email}})
			require.Equal(t, 202, r.status)
			early := s.links(t, "password reset", email)
			require.Len(t, early, 1)

			invalid := func(t *testing.T, path string, body any) {
				t.Helper()
				r := s.do(t, request{method: "POST", path: path, body: body})
				assert.Equal(t, 400, r.status, r.raw)
				assert.Equal(t, "invalid_token", r.obj["error"], r.raw)
				assert.NotEmpty(t, r.obj["message"])
			}
			t.Run("confirm refuses bad tokens", func(t *testing.T) {
				invalid(t, "/confirm", map[string]string{"token": "garbage"})
				invalid(t, "/confirm", map[string]string{"token": ""})
				invalid(t, "/confirm", map[string]string{"token": early[0]})
				invalid(t, "/confirm", map[string]string{"token": confirm[0][:len(confirm[0])-2] + "AA"})
			})

			r = s.do(t, request{method: "POST", path: "/confirm", body: map[string]string{"token": confirm[0]}})
			require.Equal(t, 204, r.status, r.raw)
			assert.Empty(t, r.raw)
			r = s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, pw)})
			require.Equal(t, 200, r.status, r.raw)
			assert.Equal(t, email, r.obj["email"])
			invalid(t, "/confirm", map[string]string{"token": confirm[0]})
			if resent != "" {
				invalid(t, "/confirm", map[string]string{"token": resent}) // dies with the confirmation too
			}
			t.Run("resend refused once confirmed", func(t *testing.T) {
				for _, who := range []map[string]string{basicH(email, pw), basicH("alice@example.com", "wonderland-42")} {
					r := s.do(t, request{method: "POST", path: resendConfirmationPath, header: who})
					assert.Equal(t, 409, r.status, r.raw)
					assert.Equal(t, "already_confirmed", r.obj["error"], r.raw)
				}
				assert.Len(t, s.links(t, "confirmation", email), 2, "no third link")
			})

			t.Run("password reset", func(t *testing.T) {
				r := s.do(t, request{method: "POST", path: "/api/v1/tokens/", header: basicH(email, pw)})
				require.Equal(t, 200, r.status, r.raw)
				access := r.obj["token"].(string)

				r = s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": "nobody@example.com"}})
				assert.Equal(t, 202, r.status)
				assert.Equal(t, pending, r.obj)
				assert.Empty(t, s.links(t, "password reset", "nobody@example.com"))
				r = s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": email}})
				assert.Equal(t, 202, r.status)
				assert.Equal(t, pending, r.obj)
				links := s.links(t, "password reset", email)
				require.Len(t, links, 2)
				reset := links[1]

				invalid(t, "/password-reset/confirm", map[string]string{"token": early[0], "password": "x-new-1"})
				invalid(t, "/password-reset/confirm", map[string]string{"token": confirm[0], "password": "x-new-1"})
				for _, tc := range []struct{ name, password, message string }{
					{"empty password", "", "The password must be 1 to 1024 bytes"},
					{"password over 1 KiB", strings.Repeat("p", 1025), "The password must be 1 to 1024 bytes"},
				} {
					r = s.do(t, request{method: "POST", path: "/password-reset/confirm", body: map[string]string{"token": reset, "password": tc.password}})
					assert.Equal(t, 400, r.status, tc.name)
					assert.Contains(t, r.raw, `"error":"bad_request"`, tc.name)
					assert.Contains(t, r.raw, tc.message, tc.name)
				}

				const newPW = "looking-glass-7"
				r = s.do(t, request{method: "POST", path: "/password-reset/confirm", body: map[string]string{"token": reset, "password": newPW}})
				require.Equal(t, 204, r.status, r.raw)
				assert.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, pw)}).status, "old password")
				assert.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, newPW)}).status, "new password")
				assert.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me", header: bearer(access)}).status, "token issued before")
				invalid(t, "/password-reset/confirm", map[string]string{"token": reset, "password": "third-one-3"})
				assert.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH(email, newPW)}).status, "still the new password")
			})

			t.Run("wrong methods", func(t *testing.T) {
				for _, p := range []string{"/register", "/password-reset/confirm"} {
					r := s.do(t, request{method: "GET", path: p})
					assert.Equal(t, 405, r.status, p)
					assert.Equal(t, "POST", r.header.Get("Allow"), p)
				}
				// GET on the links' paths serves their pages (pages_test.go).
				for _, p := range []string{"/confirm", "/password-reset"} {
					r := s.do(t, request{method: "DELETE", path: p})
					assert.Equal(t, 405, r.status, p)
					assert.Equal(t, "GET, POST", r.header.Get("Allow"), p)
				}
			})
		})
	}
}

// TestAPIKeysHTTP drives the key routes over HTTP.
func TestAPIKeysHTTP(t *testing.T) {
	t.Parallel()
	for name, mode := range lifecycleModes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startAPI(t, mode(t)...)
			admin := basicH("admin@example.com", "s3cret:with:colons")
			alice := basicH("alice@example.com", "wonderland-42")
			create := func(t *testing.T, who map[string]string, name string, roles []string) response {
				t.Helper()
				return s.do(t, request{method: "POST", path: "/api/v1/keys", header: who, body: map[string]any{"name": name, "roles": roles}})
			}

			r := create(t, admin, "ci", []string{"user"})
			require.Equal(t, 201, r.status, r.raw)
			userKey, userKeyID := r.obj["key"].(string), r.obj["id"].(string)
			assert.True(t, strings.HasPrefix(userKey, "hak_"), userKey)
			assert.Equal(t, "ci", r.obj["name"])
			assert.Equal(t, []any{"user"}, r.obj["roles"])
			_, err := time.Parse(time.RFC3339Nano, r.obj["created"].(string))
			assert.NoError(t, err)
			assert.ElementsMatch(t, []string{"id", "name", "key", "roles", "created"}, keys(r.obj))
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))

			r = create(t, admin, "deploy", []string{"user", "admin"})
			require.Equal(t, 201, r.status, r.raw)
			adminKey, adminKeyID := r.obj["key"].(string), r.obj["id"].(string)

			r = s.do(t, request{method: "POST", path: "/api/v1/tokens/", header: alice})
			require.Equal(t, 200, r.status)
			aliceToken := r.obj["token"].(string)

			tests := []struct {
				name   string
				req    request
				status int
			}{
				{"user key as Bearer on me", request{method: "GET", path: "/api/v1/me", header: bearer(userKey)}, 200},
				{"user key as X-API-Key on me", request{method: "GET", path: "/api/v1/me", header: map[string]string{"X-API-Key": userKey}}, 200},
				{"user key on admin", request{method: "GET", path: "/api/v1/admin", header: bearer(userKey)}, 403},
				{"admin key as Bearer on admin", request{method: "GET", path: "/api/v1/admin", header: bearer(adminKey)}, 200},
				{"admin key as X-API-Key on admin", request{method: "GET", path: "/api/v1/admin", header: map[string]string{"X-API-Key": adminKey}}, 200},
				{"mistyped key", request{method: "GET", path: "/api/v1/me", header: bearer(mistype(userKey))}, 401},
				{"key cannot mint a token", request{method: "POST", path: "/api/v1/tokens/", header: bearer(adminKey)}, 401},
				{"key cannot make a key", request{method: "POST", path: "/api/v1/keys", header: bearer(adminKey), body: map[string]any{"name": "x", "roles": []string{"user"}}}, 403},
				{"roles beyond one's own", request{method: "POST", path: "/api/v1/keys", header: alice, body: map[string]any{"name": "x", "roles": []string{"admin"}}}, 403},
				{"token may make a key", request{method: "POST", path: "/api/v1/keys", header: bearer(aliceToken), body: map[string]any{"name": "alice ci", "roles": []string{"user"}}}, 201},
				{"no name", request{method: "POST", path: "/api/v1/keys", header: alice, body: map[string]any{"roles": []string{"user"}}}, 400},
				{"keys need authentication", request{method: "GET", path: "/api/v1/keys"}, 401},
				{"a key cannot list keys", request{method: "GET", path: "/api/v1/keys", header: bearer(adminKey)}, 403},
				{"a key cannot delete keys", request{method: "DELETE", path: "/api/v1/keys/" + userKeyID, header: bearer(adminKey)}, 403},
				{"another user's key", request{method: "DELETE", path: "/api/v1/keys/" + userKeyID, header: alice}, 404},
				{"unknown key ID", request{method: "DELETE", path: "/api/v1/keys/nope", header: admin}, 404},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := s.do(t, tt.req)
					assert.Equal(t, tt.status, r.status, r.raw)
				})
			}

			r = s.do(t, request{method: "GET", path: "/api/v1/keys", header: admin})
			require.Equal(t, 200, r.status, r.raw)
			require.Len(t, r.list, 2)
			assert.NotContains(t, r.raw, userKey)
			assert.NotContains(t, r.raw, adminKey)
			assert.NotContains(t, r.raw, "hak_")
			for _, k := range r.list {
				assert.ElementsMatch(t, []string{"id", "name", "roles", "created", "last_used"}, keys(k))
			}
			assert.Equal(t, userKeyID, r.list[0]["id"], "oldest first")

			r = s.do(t, request{method: "DELETE", path: "/api/v1/keys/" + userKeyID, header: admin})
			require.Equal(t, 204, r.status, r.raw)
			assert.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me", header: bearer(userKey)}).status)
			assert.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me", header: map[string]string{"X-API-Key": userKey}}).status)
			assert.Equal(t, 404, s.do(t, request{method: "DELETE", path: "/api/v1/keys/" + userKeyID, header: admin}).status, "deleted twice")
			assert.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/admin", header: bearer(adminKey)}).status, "the other key lives")
			_ = adminKeyID
		})
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestKeyLastUsedWrittenAtShutdown: last-used times are written behind,
// and the shutdown writes what is pending (auth.Close), so a restarted
// server lists them.
func TestKeyLastUsedWrittenAtShutdown(t *testing.T) {
	t.Parallel()
	args := []string{"-db", "sqlite:" + filepath.Join(t.TempDir(), "users.db"), "-migrate", "-demo-users"}
	admin := basicH("admin@example.com", "s3cret:with:colons")
	s := startAPI(t, args...)
	r := s.do(t, request{method: "POST", path: "/api/v1/keys", header: admin, body: map[string]any{"name": "ci", "roles": []string{"user"}}})
	require.Equal(t, 201, r.status, r.raw)
	require.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: bearer(r.obj["key"].(string))}).status)
	require.NoError(t, s.stop())

	s = startAPI(t, args...)
	r = s.do(t, request{method: "GET", path: "/api/v1/keys", header: admin})
	require.Equal(t, 200, r.status, r.raw)
	require.Len(t, r.list, 1)
	assert.NotNil(t, r.list[0]["last_used"], "written at shutdown: %s", r.raw)
}

// TestMetricsHTTP checks GET /metrics: the Prometheus text format with
// outcomes by method and reason, the hash histogram and throttled logins.
func TestMetricsHTTP(t *testing.T) {
	t.Parallel()
	s := startAPI(t, "-metrics-addr", "127.0.0.1:0")
	admin := basicH("admin@example.com", "s3cret:with:colons")
	require.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: admin}).status)
	require.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH("admin@example.com", "wrong")}).status)
	r := s.do(t, request{method: "POST", path: "/api/v1/keys", header: admin, body: map[string]any{"name": "m", "roles": []string{"user"}}})
	require.Equal(t, 201, r.status)
	require.Equal(t, 200, s.do(t, request{method: "GET", path: "/api/v1/me", header: bearer(r.obj["key"].(string))}).status)
	require.Equal(t, 401, s.do(t, request{method: "GET", path: "/api/v1/me"}).status)
	throttled := false
	for range 2 * 10 { // the default limiter allows 10 attempts
		if s.do(t, request{method: "GET", path: "/api/v1/me", header: basicH("mallory@example.com", "guess")}).status == 429 {
			throttled = true
			break
		}
	}
	require.True(t, throttled, "a login is throttled")

	assert.Equal(t, 404, s.do(t, request{method: "GET", path: "/metrics"}).status, "not on the public port")
	m := &apiServer{base: s.metrics}
	r = m.do(t, request{method: "GET", path: "/metrics"})
	require.Equal(t, 200, r.status)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), r.header.Get("Content-Type"))
	for _, want := range []string{
		`# TYPE httpauth_auth_outcomes_total counter`,
		`httpauth_auth_outcomes_total{credential="password",reason="password",result="success"} `,
		`httpauth_auth_outcomes_total{credential="password",reason="bad_credentials",result="failure"} 11`, // 1 wrong password, 10 unknown logins
		`httpauth_auth_outcomes_total{credential="api_key",reason="api_key",result="success"} 1`,
		`httpauth_auth_outcomes_total{credential="none",reason="no_credentials",result="failure"} 1`,
		`httpauth_auth_outcomes_total{credential="password",reason="throttled",result="failure"} 1`,
		`# TYPE httpauth_password_hash_duration_seconds histogram`,
		`httpauth_password_hash_duration_seconds_bucket{le="+Inf"} `,
		`httpauth_password_hash_duration_seconds_count `,
		`# TYPE httpauth_throttled_logins_total counter`,
		"\nhttpauth_throttled_logins_total 1\n",
	} {
		assert.Contains(t, r.raw, want)
	}
	assert.NotContains(t, r.raw, "mallory", "no client-chosen label")
	assert.NotContains(t, r.raw, "wrong_password")
	assert.NotContains(t, r.raw, "unknown_login")
	assert.Equal(t, 405, m.do(t, request{method: "POST", path: "/metrics"}).status)
	assert.Equal(t, 404, m.do(t, request{method: "GET", path: "/api/v1/me", header: admin}).status, "only /metrics there")
}

// countingHasher counts the hashes it makes.
type countingHasher struct {
	httpauth.PasswordHasher
	n atomic.Int32
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.n.Add(1)
	return h.PasswordHasher.Hash(ctx, pw)
}

// TestRegisterTakenEmailDoesTheSameWork: a taken email is hashed like a
// new one (so timing does not tell them apart), answered the same, and
// gets no link; a store failure is a 500, never a 202.
func TestRegisterTakenEmailDoesTheSameWork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		regErr error
		status int
		links  int
	}{
		{"new", nil, 202, 1},
		{"taken", fmt.Errorf("wrapped: %w", httpauth.ErrAccountExists), 202, 0},
		{"store failure", errors.New("database is down"), 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			users := httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})
			require.NoError(t, users.Put(t.Context(), "dora@example.com", httpauth.Account[User]{ID: "d", User: User{ID: "d", Login: "dora@example.com"}}))
			signer, err := httpauth.NewHMACSigner(testKey(t))
			require.NoError(t, err)
			auth, err := httpauth.New(httpauth.Config[User]{
				Users: users, Signer: signer, Realm: "t", Hasher: httpauthtest.FastHasher{},
				Logger: slog.New(slog.DiscardHandler),
			})
			require.NoError(t, err)
			h := &countingHasher{PasswordHasher: httpauthtest.FastHasher{}}
			var out syncBuffer
			reg := func(context.Context, string, string) (string, error) { return "d", tt.regErr }
			q := newMailQueue(mailQueueSize, slog.New(slog.DiscardHandler))
			q.start()
			a := newAccounts(auth, users, reg, h, newMailer(&out), q, memoryMailLimits(), slog.New(slog.DiscardHandler))
			root := http.NewServeMux()
			a.routes(root, http.NewServeMux())
			req := httptest.NewRequest("POST", "/register", strings.NewReader(`{"email":"dora@example.com","password":"pw-1"}`))
			rec := httptest.NewRecorder()
			root.ServeHTTP(rec, req)
			q.close()
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, int32(1), h.n.Load(), "one hash, taken or not")
			assert.Equal(t, tt.links, strings.Count(out.String(), "confirmation link for dora@example.com: http://127.0.0.1:8080/confirm?token="))
			if tt.status == 202 {
				assert.JSONEq(t, `{"status":"pending"}`, rec.Body.String())
			}
		})
	}
}

// mistype changes the key's last character to a different one, so the
// checksum no longer matches (the key's own last character may be "x").
func mistype(key string) string {
	c := byte('x')
	if key[len(key)-1] == c {
		c = 'y'
	}
	return key[:len(key)-1] + string(c)
}

// TestAccountLinkEndedRequest: a request that ends (the client left, the
// server is shutting down) before its link is used, say while it waits for
// a hashing slot, is a 503 and changes nothing; it is not logged as an
// internal error.
func TestAccountLinkEndedRequest(t *testing.T) {
	t.Parallel()
	users := httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})
	require.NoError(t, users.Add(t.Context(), "dora@example.com", "explorer-42", httpauth.Account[User]{ID: "d"}))
	signer, err := httpauth.NewHMACSigner(testKey(t))
	require.NoError(t, err)
	auth, err := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "t", Hasher: httpauthtest.FastHasher{},
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	a := newAccounts(auth, users, nil, httpauthtest.FastHasher{}, newMailer(nil), newMailQueue(1, logger), memoryMailLimits(), logger)
	root := http.NewServeMux()
	a.routes(root, http.NewServeMux())

	confirm, err := auth.ConfirmationToken(t.Context(), "d")
	require.NoError(t, err)
	reset, err := auth.PasswordResetToken(t.Context(), "d")
	require.NoError(t, err)
	tests := []struct{ name, path, body string }{
		{"confirm", "/confirm", `{"token":"` + confirm + `"}`},
		{"password reset", "/password-reset/confirm", `{"token":"` + reset + `","password":"looking-glass-7"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			req := httptest.NewRequestWithContext(ctx, "POST", tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			root.ServeHTTP(rec, req)
			assert.Equal(t, 503, rec.Code, rec.Body.String())
			assert.JSONEq(t, `{"error":"unavailable","message":"Service busy; try again later"}`, rec.Body.String())
		})
	}
	assert.Empty(t, logs.String(), "logged as an internal error")
	acct, err := users.UserByID(t.Context(), "d")
	require.NoError(t, err)
	assert.False(t, acct.Confirmed, "confirmed by an ended request")
	ok, err := httpauthtest.FastHasher{}.Verify(t.Context(), acct.PasswordHash, "explorer-42")
	require.NoError(t, err)
	assert.True(t, ok, "password changed by an ended request")
}
