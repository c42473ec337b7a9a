package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gohttpauth/httpauth/httpauthtest"
)

func TestServer(t *testing.T) {
	key, err := keyFromEnv("") // a random key
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(t.Context(), key, httpauthtest.FastHasher{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	do := func(t *testing.T, method, path string, auth func(*http.Request)) (int, string) {
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
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	basic := func(login, password string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(login, password) }
	}
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	token := func(t *testing.T, login, password string) string {
		t.Helper()
		code, body := do(t, http.MethodPost, "/api/v1/tokens/", basic(login, password))
		var reply struct {
			Token      string `json:"token"`
			Expiration int64  `json:"expiration"`
		}
		if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil || reply.Token == "" || reply.Expiration != 3600 {
			t.Fatalf("POST /api/v1/tokens/ = %d %s", code, body)
		}
		return reply.Token
	}
	alice := token(t, "alice@example.com", "wonderland-42")
	admin := token(t, "admin@example.com", "s3cret:with:colons")
	revoked := token(t, "alice@example.com", "wonderland-42")

	tests := []struct {
		name         string
		method, path string
		auth         func(*http.Request)
		code         int
		body         string
	}{
		{"open route", "GET", "/healthz", nil, 200, `{"status":"ok"}`},
		{"no credentials", "GET", "/api/v1/me", nil, 401, `{"error":"unauthorized","message":"Credentials required"}`},
		{"wrong password", "GET", "/api/v1/me", basic("alice@example.com", "wrong"), 401, `{"error":"unauthorized","message":"Invalid credentials"}`},
		{"unknown route needs credentials", "GET", "/api/v1/nope", nil, 401, `{"error":"unauthorized","message":"Credentials required"}`},
		{"password", "GET", "/api/v1/me", basic("alice@example.com", "wonderland-42"), 200, `{"id":"1","name":"Alice"}`},
		{"bearer", "GET", "/api/v1/me", bearer(alice), 200, `{"id":"1","name":"Alice"}`},
		{"token as basic username", "GET", "/api/v1/me", basic(alice, ""), 200, `{"id":"1","name":"Alice"}`},
		{"token cannot mint token", "POST", "/api/v1/tokens/", bearer(alice), 401, `{"error":"unauthorized","message":"A token cannot be used to get a token"}`},
		{"role missing", "GET", "/api/v1/admin", bearer(alice), 403, `{"error":"forbidden","message":"Insufficient role"}`},
		{"role held", "GET", "/api/v1/admin", bearer(admin), 200, `{"admin":"Admin"}`},
		{"wildcard with role", "GET", "/api/v1/users/42", bearer(admin), 200, `{"id":"42"}`},
		{"wildcard without role", "GET", "/api/v1/users/42", bearer(alice), 403, `{"error":"forbidden","message":"Insufficient role"}`},
		{"revoke", "DELETE", "/api/v1/tokens/", bearer(revoked), 204, ``},
		{"revoked token", "GET", "/api/v1/me", bearer(revoked), 401, `{"error":"unauthorized","message":"Invalid token"}`},
		{"other token still good", "GET", "/api/v1/me", bearer(alice), 200, `{"id":"1","name":"Alice"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, tt.method, tt.path, tt.auth)
			if code != tt.code || body != tt.body {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, code, body, tt.code, tt.body)
			}
		})
	}
}

func TestKeyFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		wantLen     int
		wantErr     bool
	}{
		{"unset makes a random key", "", 32, false},
		{"hex key", "a8926682ba18e2904bedafebc17ffcbd833db2ba973759f9a297d5df021d3357", 32, false},
		{"not hex", "zz", 0, true},
		{"too short", "abcd", 0, true},
		{"all zeros", strings.Repeat("00", 32), 0, true},
		{"typed, not generated", strings.Repeat("ab", 32), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := keyFromEnv(tt.value)
			if (err != nil) != tt.wantErr || len(key.Secret) != tt.wantLen {
				t.Errorf("keyFromEnv(%q) = %d bytes, %v", tt.value, len(key.Secret), err)
			}
		})
	}
	a, _ := keyFromEnv("")
	b, _ := keyFromEnv("")
	if string(a.Secret) == string(b.Secret) {
		t.Error("two random keys are equal")
	}
}
