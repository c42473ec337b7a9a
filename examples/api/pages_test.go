package main

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The account-link pages (pages.go). The browser itself runs them in
// browser_test.go.

// linkFromLog returns the last link of kind ("confirmation" or "password
// reset") for email that the server's mailer wrote to its log.
func linkFromLog(t *testing.T, s *apiServer, kind, email string) string {
	t.Helper()
	s.flushMail(t)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kind+" link for "+email+": ") + `(\S+)$`)
	m := re.FindAllStringSubmatch(s.logs.String(), -1)
	require.NotEmpty(t, m, "no %s link for %s in the log:\n%s", kind, email, s.logs.String())
	return m[len(m)-1][1]
}

// registered registers email with password on s and returns the
// confirmation link from the log.
func registered(t *testing.T, s *apiServer, email, password string) string {
	t.Helper()
	r := s.do(t, request{method: "POST", path: "/register", body: map[string]string{"email": email, "password": password}})
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	return linkFromLog(t, s, "confirmation", email)
}

// tokenStatus is the status of POST /api/v1/tokens/ with login:password.
func tokenStatus(t *testing.T, s *apiServer, login, password string) int {
	t.Helper()
	return s.do(t, request{method: "POST", path: "/api/v1/tokens/", header: basicH(login, password)}).status
}

// get fetches path on s with method (GET or HEAD).
func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp, b.String()
}

// TestPagesHeadersAndContent: each page is HTML with the strict headers;
// a token-shaped token is in the form's hidden field, anything else gets
// the "invalid link" page with no form and no echo.
func TestPagesHeadersAndContent(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	tests := []struct {
		name, path string
		status     int
		contains   []string
		absent     []string
	}{
		{"confirm", "/confirm?token=k1.abc-DEF_123.xyz", 200,
			[]string{`id="confirm-button"`, `action="/confirm"`, `name="token" value="k1.abc-DEF_123.xyz"`, `<script src="/static/account.js" defer>`},
			[]string{`id="password"`, "invalid, expired"}},
		{"reset", "/password-reset?token=k1.abc", 200,
			[]string{`action="/password-reset/confirm"`, `id="password"`, `id="password2"`, `autocomplete="new-password"`, `value="k1.abc"`},
			[]string{`id="confirm-button"`, "invalid, expired"}},
		{"no token", "/confirm", 400, []string{"invalid, expired or already used"}, []string{"<form"}},
		{"empty token", "/password-reset?token=", 400, []string{"invalid, expired or already used"}, []string{"<form"}},
		{"markup in the token", "/confirm?token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", 400,
			[]string{"invalid, expired or already used"}, []string{"<form", "alert(1)", "<script>"}},
		{"overlong token", "/confirm?token=" + strings.Repeat("a", maxPageToken+1), 400,
			[]string{"invalid, expired or already used"}, []string{"<form", strings.Repeat("a", 100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				resp, body := get(t, method, s.base+tt.path)
				assert.Equal(t, tt.status, resp.StatusCode, method)
				h := resp.Header
				assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
				assert.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
					"form-action 'self'; frame-ancestors 'none'; base-uri 'none'", h.Get("Content-Security-Policy"))
				assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
				assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
				assert.Equal(t, "no-store", h.Get("Cache-Control"))
				assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
				if method == "HEAD" {
					assert.Empty(t, body)
					continue
				}
				for _, c := range tt.contains {
					assert.Contains(t, body, c)
				}
				for _, c := range tt.absent {
					assert.NotContains(t, body, c)
				}
				assert.NotContains(t, body, "<script>", "no inline script: the CSP would block it")
			}
		})
	}
}

// TestPagesEscapeTheToken: whatever reaches the template is escaped
// (html/template), should tokenShaped ever let markup through.
func TestPagesEscapeTheToken(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, token, escaped string }{
		{"attribute breakout", `"><script>alert(1)</script>`, `&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`},
		{"single quote and ampersand", `x' onfocus='alert(1)&`, `x&#39; onfocus=&#39;alert(1)&amp;`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{"confirm", "reset"} {
				var b bytes.Buffer
				require.NoError(t, pageTemplate.Execute(&b, pageData{Kind: kind, Title: "t", Token: tt.token}))
				assert.Contains(t, b.String(), `value="`+tt.escaped+`"`, kind)
				assert.NotContains(t, b.String(), tt.token, kind)
			}
		})
	}
}

// TestPagesChangeNothing: opening a link (GET or HEAD, as mail scanners
// and link previews do) neither confirms the account nor resets the
// password, nor uses the token up; the POST then does.
func TestPagesChangeNothing(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	const email, pw, newPW = "gina@example.com", "pw-gina-1", "pw-gina-2"
	confirm := registered(t, s, email, pw)
	tests := []struct {
		name   string
		link   func(t *testing.T) string
		before func(t *testing.T) // the state that opening the link must keep
		post   func(t *testing.T, link string)
		after  func(t *testing.T)
	}{
		{"confirmation link", func(*testing.T) string { return confirm },
			func(t *testing.T) { assert.Equal(t, 403, tokenStatus(t, s, email, pw), "still unconfirmed") },
			func(t *testing.T, link string) {
				r := s.do(t, request{method: "POST", path: "/confirm", body: map[string]string{"token": tokenOf(t, link)}})
				assert.Equal(t, 204, r.status, r.raw)
			},
			func(t *testing.T) { assert.Equal(t, 200, tokenStatus(t, s, email, pw)) }},
		{"reset link", func(t *testing.T) string {
			r := s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": email}})
			require.Equal(t, 202, r.status, r.raw)
			return linkFromLog(t, s, "password reset", email)
		},
			func(t *testing.T) { assert.Equal(t, 200, tokenStatus(t, s, email, pw), "the old password still works") },
			func(t *testing.T, link string) {
				r := s.do(t, request{method: "POST", path: "/password-reset/confirm", body: map[string]string{"token": tokenOf(t, link), "password": newPW}})
				assert.Equal(t, 204, r.status, r.raw)
			},
			func(t *testing.T) {
				assert.Equal(t, 401, tokenStatus(t, s, email, pw))
				assert.Equal(t, 200, tokenStatus(t, s, email, newPW))
			}},
	}
	for _, tt := range tests { // in order: the reset needs the confirmed account
		t.Run(tt.name, func(t *testing.T) {
			link := tt.link(t)
			for range 3 {
				for _, method := range []string{"GET", "HEAD"} {
					resp, _ := get(t, method, link)
					require.Equal(t, 200, resp.StatusCode, method)
				}
			}
			tt.before(t)
			tt.post(t, link)
			tt.after(t)
		})
	}
}

// tokenOf returns the token parameter of link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "?token=")
	require.True(t, ok, link)
	return tok
}

// TestPagesPOSTFromTheSameOrigin: the pages' script POSTs with a browser's
// same-origin headers, which http.CrossOriginProtection lets through to
// the JSON routes; the same POST from another site is refused.
func TestPagesPOSTFromTheSameOrigin(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		errCode          string
	}{
		{"confirm, same-origin fetch", "/confirm", `{"token":"garbage"}`,
			map[string]string{"Origin": s.base, "Sec-Fetch-Site": "same-origin"}, 400, "invalid_token"},
		{"reset, same-origin fetch", "/password-reset/confirm", `{"token":"garbage","password":"pw-x-1"}`,
			map[string]string{"Origin": s.base, "Sec-Fetch-Site": "same-origin"}, 400, "invalid_token"},
		{"confirm, cross-site", "/confirm", `{"token":"garbage"}`,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
		{"reset, cross-site", "/password-reset/confirm", `{"token":"garbage","password":"pw-x-1"}`,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{method: "POST", path: tt.path, body: tt.body, header: tt.header})
			assert.Equal(t, tt.status, r.status, r.raw)
			assert.Equal(t, tt.errCode, r.obj["error"], r.raw)
		})
	}
}

// TestPagesStaticFiles: the script and style sheet the pages load, from
// the same origin, with their types (nosniff refuses a wrong one).
func TestPagesStaticFiles(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	tests := []struct{ path, contentType, contains string }{
		{"/static/account.js", "text/javascript; charset=utf-8", `addEventListener("submit"`},
		{"/static/account.css", "text/css; charset=utf-8", "main {"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, "GET", s.base+tt.path)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Contains(t, body, tt.contains)
		})
	}
}
