// Package demotest drives one scenario through every router example: the
// same requests, the same answers, whatever the router.
package demotest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/examples/routers/internal/demo"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// NewAuth returns the demo authenticator with a random key, a cheap test
// hasher and no logging.
func NewAuth(t *testing.T) *httpauth.Authenticator[demo.User] {
	t.Helper()
	key, err := demo.Key("")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := demo.NewAuth(t.Context(), key, httpauthtest.FastHasher{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// Run serves h and checks the routes every example has: GET /healthz in
// the open; POST and DELETE /api/v1/tokens/, GET /api/v1/me and GET
// /api/v1/admin (role admin) behind the middleware.
func Run(t *testing.T, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	do := func(t *testing.T, method, path string, auth func(*http.Request)) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != nil {
			auth(req)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, strings.TrimSpace(string(body))
	}
	basic := func(login, password string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(login, password) }
	}
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	token := func(login, password string) string {
		t.Helper()
		code, hdr, body := do(t, http.MethodPost, "/api/v1/tokens/", basic(login, password))
		var reply struct {
			Token      string `json:"token"`
			Expiration int64  `json:"expiration"`
		}
		if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil || reply.Token == "" || reply.Expiration != 3600 {
			t.Fatalf("POST /api/v1/tokens/ with Basic = %d %s", code, body)
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("token reply Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
		}
		return reply.Token
	}
	alice := token("alice@example.com", "wonderland-42")
	admin := token("admin@example.com", "s3cret:with:colons")
	revoked := token("alice@example.com", "wonderland-42")

	const (
		unauthorized  = `{"error":"unauthorized","message":"Invalid credentials"}`
		noCredentials = `{"error":"unauthorized","message":"Credentials required"}`
		invalidToken  = `{"error":"unauthorized","message":"Invalid token"}`
		tokenForToken = `{"error":"unauthorized","message":"A token cannot be used to get a token"}`
		forbidden     = `{"error":"forbidden","message":"Insufficient role"}`
		aliceJSON     = `{"id":"1","name":"Alice"}`
	)
	tests := []struct {
		name         string
		method, path string
		auth         func(*http.Request)
		code         int
		body         string
	}{
		{"open route", "GET", "/healthz", nil, 200, `{"status":"ok"}`},
		{"no credentials", "GET", "/api/v1/me", nil, 401, noCredentials},
		{"wrong password", "GET", "/api/v1/me", basic("alice@example.com", "wrong"), 401, unauthorized},
		{"no credentials for a token", "POST", "/api/v1/tokens/", nil, 401, noCredentials},
		{"password", "GET", "/api/v1/me", basic("alice@example.com", "wonderland-42"), 200, aliceJSON},
		{"bearer", "GET", "/api/v1/me", bearer(alice), 200, aliceJSON},
		{"token as basic username", "GET", "/api/v1/me", basic(alice, ""), 200, aliceJSON},
		{"forged token", "GET", "/api/v1/me", bearer(alice[:len(alice)-2] + "AA"), 401, invalidToken},
		{"token cannot mint token", "POST", "/api/v1/tokens/", bearer(alice), 401, tokenForToken},
		{"role missing", "GET", "/api/v1/admin", bearer(alice), 403, forbidden},
		{"role held", "GET", "/api/v1/admin", bearer(admin), 200, `{"admin":"Admin"}`},
		{"revoke", "DELETE", "/api/v1/tokens/", bearer(revoked), 204, ``},
		{"revoked token", "GET", "/api/v1/me", bearer(revoked), 401, invalidToken},
		{"other token still good", "GET", "/api/v1/me", bearer(alice), 200, aliceJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, tt.method, tt.path, tt.auth)
			if code != tt.code || body != tt.body {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, code, body, tt.code, tt.body)
			}
			if code == 401 && len(hdr.Values("WWW-Authenticate")) == 0 {
				t.Error("401 without WWW-Authenticate")
			}
			if ct, _, _ := strings.Cut(hdr.Get("Content-Type"), ";"); code >= 400 && ct != "application/json" {
				t.Errorf("error Content-Type = %q, want application/json", hdr.Get("Content-Type"))
			}
		})
	}
}
