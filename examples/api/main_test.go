package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// testSecret is a fixed random key, so tests' tokens are reproducible.
const testSecret = "a8926682ba18e2904bedafebc17ffcbd833db2ba973759f9a297d5df021d3357"

// testKey is testSecret as a signing key.
func testKey(t *testing.T) httpauth.SigningKey {
	t.Helper()
	key, err := httpauth.KeyFromHex("k1", testSecret)
	require.NoError(t, err)
	return key
}

func env(secret string) func(string) string {
	return func(k string) string {
		if k == "HTTPAUTH_SECRET" {
			return secret
		}
		return ""
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		secret    string
		wantErr   string
		generated bool
		ttl       time.Duration
	}{
		{name: "defaults, no secret", generated: true, ttl: time.Hour},
		{name: "secret and ttl", args: []string{"-token-ttl", "90s"}, secret: testSecret, ttl: 90 * time.Second},
		{name: "malformed secret", secret: "zz", wantErr: "HTTPAUTH_SECRET"},
		{name: "short secret", secret: testSecret[:62], wantErr: "HTTPAUTH_SECRET"},
		{name: "all-zero secret", secret: strings.Repeat("00", 32), wantErr: "HTTPAUTH_SECRET"},
		{name: "typed, not generated, secret", secret: strings.Repeat("ab", 32), wantErr: "HTTPAUTH_SECRET"},
		{name: "bad ttl", args: []string{"-token-ttl", "soon"}, wantErr: "token-ttl"},
		{name: "zero ttl", args: []string{"-token-ttl", "0s"}, wantErr: "token-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, generated, err := parseOptions(tt.args, env(tt.secret), io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.generated, generated)
			assert.Equal(t, tt.ttl, o.tokenTTL)
			assert.Equal(t, "127.0.0.1:8080", o.addr)
			require.Len(t, o.keys, 1)
			assert.Len(t, o.keys[0].Secret, 32)
		})
	}
}

func newTestServer(t *testing.T, ttl time.Duration) *httptest.Server {
	t.Helper()
	a, err := newServer(context.Background(), options{tokenTTL: ttl, keys: []httpauth.SigningKey{testKey(t)}}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.close() })
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, method, url, authz string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.body), string(raw))
	}
	return r
}

func basic(login, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pw))
}

func TestExampleContract(t *testing.T) {
	srv := newTestServer(t, 2*time.Hour)
	tokenOf := func(login, pw string) string {
		r := call(t, http.MethodPost, srv.URL+"/api/v1/tokens/", basic(login, pw))
		require.Equal(t, 200, r.status, r.body)
		assert.Equal(t, float64(7200), r.body["expiration"])
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
		return r.body["token"].(string)
	}
	alice := tokenOf("alice@example.com", "wonderland-42")
	carol := tokenOf("carol@example.com", "pässwörd-ü42")
	admin := tokenOf("admin@example.com", "s3cret:with:colons")

	unauthorized := map[string]any{"error": "unauthorized", "message": "Invalid credentials"}
	noCredentials := map[string]any{"error": "unauthorized", "message": "Credentials required"}
	tokenForToken := map[string]any{"error": "unauthorized", "message": "A token cannot be used to get a token"}
	tests := []struct {
		name, method, path, authz string
		status                    int
		body                      map[string]any
	}{
		{"healthz", "GET", "/healthz", "", 200, map[string]any{"status": "ok"}},
		{"me without credentials", "GET", "/api/v1/me", "", 401, noCredentials},
		{"me with password", "GET", "/api/v1/me", basic("alice@example.com", "wonderland-42"), 200, map[string]any{"id": "1", "email": "alice@example.com"}},
		{"me with bearer", "GET", "/api/v1/me", "Bearer " + alice, 200, map[string]any{"id": "1", "email": "alice@example.com"}},
		{"me with token as username", "GET", "/api/v1/me", basic(alice, ""), 200, map[string]any{"id": "1", "email": "alice@example.com"}},
		{"me with UTF-8 password", "GET", "/api/v1/me", basic("carol@example.com", "pässwörd-ü42"), 200, map[string]any{"id": "3", "email": "carol@example.com"}},
		{"me with carol's token", "GET", "/api/v1/me", "Bearer " + carol, 200, map[string]any{"id": "3", "email": "carol@example.com"}},
		{"me with wrong password", "GET", "/api/v1/me", basic("alice@example.com", "nope"), 401, unauthorized},
		{"me with unknown user", "GET", "/api/v1/me", basic("mallory@example.com", "nope"), 401, unauthorized},
		{"bob is unconfirmed", "GET", "/api/v1/me", basic("bob@example.com", "builder-42"), 403, map[string]any{"error": "forbidden", "message": "Unconfirmed account"}},
		{"bob cannot get a token", "POST", "/api/v1/tokens/", basic("bob@example.com", "builder-42"), 403, map[string]any{"error": "forbidden", "message": "Unconfirmed account"}},
		{"admin as admin", "GET", "/api/v1/admin", "Bearer " + admin, 200, map[string]any{"id": "4", "email": "admin@example.com", "role": "admin"}},
		{"admin as alice", "GET", "/api/v1/admin", "Bearer " + alice, 403, map[string]any{"error": "forbidden", "message": "Insufficient role"}},
		{"token cannot mint a token", "POST", "/api/v1/tokens/", "Bearer " + alice, 401, tokenForToken},
		{"GET on the token endpoint", "GET", "/api/v1/tokens/", basic("alice@example.com", "wonderland-42"), 405, map[string]any{"error": "method_not_allowed", "message": "Method not allowed"}},
		{"unknown API path", "GET", "/api/v1/nope", "Bearer " + alice, 404, map[string]any{"error": "not_found", "message": "Not found"}},
		{"unknown API path needs auth first", "GET", "/api/v1/nope", "", 401, noCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, srv.URL+tt.path, tt.authz)
			assert.Equal(t, tt.status, r.status)
			assert.Equal(t, tt.body, r.body)
			if tt.status >= 400 || tt.path != "/healthz" {
				ct, _, _ := strings.Cut(r.header.Get("Content-Type"), ";") // the library adds charset=utf-8
				assert.Equal(t, "application/json", ct)
			}
			if tt.status == 401 {
				assert.Len(t, r.header.Values("Www-Authenticate"), 2)
			}
		})
	}

	t.Run("revoke", func(t *testing.T) {
		tok := tokenOf("alice@example.com", "wonderland-42")
		r := call(t, http.MethodDelete, srv.URL+"/api/v1/tokens/", "Bearer "+tok)
		require.Equal(t, 204, r.status)
		assert.Equal(t, 401, call(t, "GET", srv.URL+"/api/v1/me", "Bearer "+tok).status)
		assert.Equal(t, 401, call(t, "GET", srv.URL+"/api/v1/me", basic(tok, "")).status)
		assert.Equal(t, 200, call(t, "GET", srv.URL+"/api/v1/me", "Bearer "+alice).status)
	})
}

func TestTokensSurviveARestartWithTheSameKey(t *testing.T) {
	a := newTestServer(t, time.Hour)
	r := call(t, http.MethodPost, a.URL+"/api/v1/tokens/", basic("alice@example.com", "wonderland-42"))
	require.Equal(t, 200, r.status)
	b := newTestServer(t, time.Hour)
	assert.Equal(t, 200, call(t, "GET", b.URL+"/api/v1/me", "Bearer "+r.body["token"].(string)).status)
}

// syncBuffer is a bytes.Buffer safe for the server goroutine's logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunListensAndLogs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env(""), &logs) }()

	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(logs.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, logs.String(), "HTTPAUTH_SECRET is not set")
	assert.Equal(t, 200, call(t, "GET", base+"/healthz", "").status)
	cancel()
	require.NoError(t, <-done)

	err := run(context.Background(), nil, env("not-hex"), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTPAUTH_SECRET")
}
