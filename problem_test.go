package httpauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// secretCause is internal text that must never reach a client.
const secretCause = "dial tcp 10.1.2.3:5432: password authentication failed for hunter2"

func TestWriteProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		err    error
		title  string
		detail string
		code   string
	}{
		{"bad request", 400, ErrBadRequest, "Bad Request", "Malformed authentication request", "bad_request"},
		{"bad request no token", 400, errNoToken, "Bad Request", "Request did not authenticate with a token", "bad_request"},
		{"unauthorized", 401, ErrUnauthorized, "Unauthorized", "Invalid credentials", "unauthorized"},
		{"unauthorized hides cause", 401, fmt.Errorf("%w: %s", ErrUnauthorized, secretCause), "Unauthorized", "Invalid credentials", "unauthorized"},
		{"forbidden message", 403, Forbidden("Unconfirmed account"), "Forbidden", "Unconfirmed account", "forbidden"},
		{"forbidden plain", 403, ErrForbidden, "Forbidden", "Forbidden", "forbidden"},
		{"method not allowed", 405, errMethodNotAllowed, "Method Not Allowed", "Method not allowed", "method_not_allowed"},
		{"too many requests", 429, &ThrottledError{RetryAfter: time.Minute}, "Too Many Requests", "Too many failed attempts; try again later", "too_many_requests"},
		{"internal", 500, errInternal, "Internal Server Error", "Internal server error", "internal_error"},
		{"internal hides cause", 500, errors.New(secretCause), "Internal Server Error", "Internal server error", "internal_error"},
		{"unavailable", 503, errUnavailable, "Service Unavailable", "Service busy; try again later", "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			writeProblem(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.status, tt.err)

			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want application/problem+json; charset=utf-8", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
				t.Errorf("Content-Length = %q, want %q", got, want)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "httpauth:") {
				t.Errorf("body leaks internal error text: %s", rec.Body)
			}
			p := decodeProblem(t, rec.Body.Bytes())
			want := problem{Type: "about:blank", Title: tt.title, Status: tt.status, Detail: tt.detail, Code: tt.code}
			if p != want {
				t.Errorf("problem = %+v, want %+v", p, want)
			}
		})
	}
}

// decodeProblem decodes exactly the RFC 9457 members writeProblem sends,
// refusing unknown ones.
func decodeProblem(t *testing.T, body []byte) problem {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p problem
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("member %q missing from %s", k, body)
		}
	}
	if _, ok := raw["status"].(float64); !ok {
		t.Errorf("status is %T, want a JSON number", raw["status"])
	}
	return p
}

func TestNewProblemUnknownStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		title  string
	}{
		{"known status without a code", http.StatusTeapot, "I'm a teapot"},
		{"status without a text", 599, "Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProblem(tt.status, errors.New(secretCause))
			if p.Status != tt.status || p.Title != tt.title || p.Detail != "Internal server error" || p.Code != "internal_error" {
				t.Errorf("NewProblem(%d) = %+v", tt.status, p)
			}
		})
	}
}

func TestProblemWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		typeBase string
		status   int
		err      error
		wantType string
	}{
		{"empty base is about:blank", "", 401, ErrUnauthorized, "about:blank"},
		{"unauthorized", "https://example.com/problems/", 401, ErrUnauthorized, "https://example.com/problems/unauthorized"},
		{"forbidden", "https://example.com/problems/", 403, Forbidden("No"), "https://example.com/problems/forbidden"},
		{"throttled", "urn:example:auth:", 429, &ThrottledError{RetryAfter: time.Second}, "urn:example:auth:too_many_requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			ProblemWriter(tt.typeBase)(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.status, tt.err)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); got != problemContentType+"; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			p := decodeProblem(t, rec.Body.Bytes())
			if p.Type != tt.wantType {
				t.Errorf("type = %q, want %q", p.Type, tt.wantType)
			}
			if want := newProblem(tt.status, tt.err); p.Title != want.Title || p.Detail != want.Detail || p.Status != tt.status {
				t.Errorf("problem = %+v, want the members of %+v", p, want)
			}
		})
	}
}

// TestWriteProblemAsErrorWriter checks that the authenticator's headers
// (challenges, Retry-After, no-store) survive with writeProblem in place
// and that an internal failure's cause stays out of the body.
func TestWriteProblemAsErrorWriter(t *testing.T) {
	t.Parallel()
	problems := func(c *testSetup[testUser]) { c.ErrorWriter = writeProblem }
	broken := func(c *testSetup[testUser]) { c.Users = &faultyStore{UserStore: c.Users, byLogin: "error"} }
	tests := []struct {
		name      string
		opts      []envOpt
		login     string
		status    int
		challenge bool
		detail    string
	}{
		{"no credentials", []envOpt{problems}, "", 401, true, "Credentials required"},
		{"wrong password", []envOpt{problems}, "alice", 401, true, "Invalid credentials"},
		{"store failure", []envOpt{problems, broken}, "alice", 500, false, "Internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tt.opts...)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if tt.login != "" {
					req.SetBasicAuth(tt.login, "wrong")
				}
				rec := e.serve(e.auth.Middleware(e.next), req)
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d", rec.Code, tt.status)
				}
				if got := rec.Header().Get("Content-Type"); got != problemContentType+"; charset=utf-8" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := rec.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if got := len(rec.Header().Values("WWW-Authenticate")) > 0; got != tt.challenge {
					t.Errorf("WWW-Authenticate present = %v, want %v", got, tt.challenge)
				}
				p := decodeProblem(t, rec.Body.Bytes())
				if p.Status != tt.status || p.Detail != tt.detail {
					t.Errorf("problem = %+v", p)
				}
				if tt.status == 500 {
					if reported := e.errs.list(); len(reported) != 1 || !errors.Is(reported[0], errFault) {
						t.Errorf("Logger got %v, want the store's error", reported)
					}
					if strings.Contains(rec.Body.String(), "hunter2") {
						t.Errorf("body leaks the cause: %s", rec.Body)
					}
				}
			})
		})
	}
}
