package main

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"
)

// The pages behind the links the example mails: GET /confirm?token=… and
// GET /password-reset?token=… answer a small HTML page whose button (or
// form) POSTs the token to the JSON route, /confirm or
// /password-reset/confirm, from a same-origin script. A GET changes
// nothing, since mail scanners and link previews fetch links; only the
// person's press of the button does.

//go:embed pages
var pageFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/account.html"))

// pageCSP allows the page its own script, style and JSON calls, and
// nothing else: no inline script, no framing, no form sent elsewhere.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxPageToken bounds the token a page is rendered with; account tokens
// are far shorter.
const maxPageToken = 2048

// pageData is what the template renders. Kind is "confirm", "reset" or
// "invalid" (no usable token in the link: no form).
type pageData struct {
	Kind, Title, Token string
}

// tokenShaped reports whether tok could be an account token: base64url
// and dots, within maxPageToken. The page's POST checks it for real.
func tokenShaped(tok string) bool {
	if tok == "" || len(tok) > maxPageToken {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// pageHandler serves the page of kind ("confirm" or "reset") for the
// link's token.
func pageHandler(kind, title string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := pageData{Kind: kind, Title: title, Token: r.URL.Query().Get("token")}
		status := http.StatusOK
		if !tokenShaped(d.Token) {
			d.Kind, d.Token, status = "invalid", "", http.StatusBadRequest
		}
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, d); err != nil {
			http.Error(w, "Internal server error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		pageHeaders(h)
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	})
}

// pageHeaders are the security headers of the pages. The token is in the
// page's URL: no-referrer keeps it from other sites, no-store from caches.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// staticFile serves one embedded file of the pages.
func staticFile(name, contentType string) http.Handler {
	body, err := pageFiles.ReadFile("pages/" + name)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return methods{http.MethodGet: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})}
}

// confirmPage and resetPage are the GET handlers of /confirm and
// /password-reset.
var (
	confirmPage = pageHandler("confirm", "Confirm your account")
	resetPage   = pageHandler("reset", "Choose a new password")
)

// pageRoutes adds the pages' script and style sheet to root.
func pageRoutes(root *http.ServeMux) {
	root.Handle("/static/account.js", staticFile("account.js", "text/javascript; charset=utf-8"))
	root.Handle("/static/account.css", staticFile("account.css", "text/css; charset=utf-8"))
}
