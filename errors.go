package httpauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Test for them with errors.Is; the errors the library
// returns may wrap them with more detail.
var (
	// ErrUserNotFound is what a UserStore returns for a user that does not
	// exist. Every other store error is a failure (500).
	ErrUserNotFound = errors.New("httpauth: user not found")
	// ErrAccountExists is what a store returns for a login or ID another
	// account holds.
	ErrAccountExists = errors.New("httpauth: account exists")
	// ErrKeyNotFound is what a KeyStore returns for a key that does not
	// exist (or, from DeleteKey, belongs to another user).
	ErrKeyNotFound = errors.New("httpauth: API key not found")
	// ErrUnauthorized matches the error of every 401.
	ErrUnauthorized = errors.New("httpauth: unauthorized")
	// ErrNoCredentials matches a 401 for a request that sent no
	// credentials at all.
	ErrNoCredentials = errors.New("httpauth: no credentials")
	// ErrTokenInvalid means a token is malformed, forged, signed with an
	// unknown key, minted for another purpose, revoked, or issued in the
	// future, or names an account that is gone or has ended its tokens.
	// It is never returned together with ErrTokenExpired: a token must
	// verify before its expiry is read.
	ErrTokenInvalid = errors.New("httpauth: invalid token")
	// ErrTokenExpired means a token (or API key) verified but its expiry
	// has passed.
	ErrTokenExpired = errors.New("httpauth: token expired")
	// ErrForbidden matches the error of every 403; Forbidden makes one
	// with a message.
	ErrForbidden = errors.New("httpauth: forbidden")
	// ErrUntrustedHash means a stored password hash is malformed, uses an
	// unknown scheme, or has parameters outside the accepted bounds. A
	// PasswordHasher returns it so that such a hash is never verified
	// with a weaker fallback.
	ErrUntrustedHash = errors.New("httpauth: untrusted password hash")
	// ErrBadRequest matches errors caused by the client's input: the 400
	// for a request with two sets of credentials, a revoke request that
	// did not use a token, and the input errors of CreateAPIKey and
	// ResetPassword, which a handler answers with a 400.
	ErrBadRequest = errors.New("httpauth: bad request")
	// ErrPasswordTooLong means a password is longer than the hashing scheme
	// takes without truncating it (72 bytes for bcrypt) or than the 1024
	// bytes the library hashes at most.
	ErrPasswordTooLong = errors.New("httpauth: password too long")
)

// Errors given to an ErrorWriter for the statuses that say it all.
var (
	errTooManyRequests  = errors.New("httpauth: too many failed attempts")
	errMethodNotAllowed = errors.New("httpauth: method not allowed")
	errInternal         = errors.New("httpauth: internal error")
	errUnavailable      = errors.New("httpauth: busy") // no hashing slot in time
)

// forbiddenError is a 403 whose message is meant for the client.
type forbiddenError struct {
	Message string
}

// Forbidden returns an error that makes a 403 with message, such as
// "Unconfirmed account", for Config.CheckAccount to return.
// errors.Is(err, ErrForbidden) holds, and err.Error() is message, which
// the default writers send to the client.
func Forbidden(message string) error { return &forbiddenError{Message: message} }

func (e *forbiddenError) Error() string { return e.Message }

func (e *forbiddenError) Is(target error) bool { return target == ErrForbidden }

// ThrottledError is a 429 carrying how long the client should wait.
type ThrottledError struct {
	RetryAfter time.Duration

	tokenRate bool // the user's token rate, not failed logins
}

// Error says what was refused and how long to wait.
func (e *ThrottledError) Error() string {
	if e.tokenRate {
		return "httpauth: too many tokens requested; retry after " + e.RetryAfter.String()
	}
	return "httpauth: too many failed attempts; retry after " + e.RetryAfter.String()
}

// Is reports whether target is the 429's sentinel.
func (e *ThrottledError) Is(target error) bool { return target == errTooManyRequests }

// ErrorWriter writes an error response. Headers such as WWW-Authenticate,
// Retry-After and Cache-Control are already set. status is the HTTP status
// and err says why, for errors.Is and errors.As:
//
//   - 401: ErrUnauthorized, and also ErrNoCredentials (nothing sent),
//     ErrTokenExpired (a genuine token, or API key, past its expiry) or
//     ErrTokenInvalid (any other failed token or key). A wrong password
//     and an unknown login are both plain ErrUnauthorized, on purpose.
//   - 403: ErrForbidden; err.Error() is the message for the client.
//   - 429: a *ThrottledError, with how long to wait.
//   - 400, 405, 500 and 503: the status says it all. For a 500 the cause
//     has gone to Config.Logger, and err carries none of it.
//
// An ErrorWriter must not write err.Error() to the client except for a
// 403's.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, err error)

// errorBody is the default JSON error shape.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// errorCode returns the short machine-readable code the default writers use
// for status: "unauthorized", "forbidden" and so on.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusServiceUnavailable:
		return "unavailable"
	default:
		return "internal_error"
	}
}

// errorMessage returns the client-safe message for status and err: the
// message of a *forbiddenError, or a fixed text per status. It never
// returns err.Error().
func errorMessage(status int, err error) string {
	switch status {
	case http.StatusBadRequest:
		if errors.Is(err, errNoToken) {
			return "Request did not authenticate with a token"
		}
		return "Malformed authentication request"
	case http.StatusUnauthorized:
		return "Invalid credentials"
	case http.StatusForbidden:
		var fe *forbiddenError
		if errors.As(err, &fe) && fe.Message != "" {
			return fe.Message
		}
		return "Forbidden"
	case http.StatusMethodNotAllowed:
		return "Method not allowed"
	case http.StatusTooManyRequests:
		var te *ThrottledError
		if errors.As(err, &te) && te.tokenRate {
			return "Too many tokens requested; try again later"
		}
		return "Too many failed attempts; try again later"
	case http.StatusServiceUnavailable:
		return "Service busy; try again later"
	default:
		return "Internal server error"
	}
}

// Pre-encoded bodies for the statuses whose message never varies (not 400
// or 403), so the hot failure paths do not run the JSON encoder.
var fixedBodies = func() map[int][]byte {
	m := map[int][]byte{}
	for _, s := range []int{401, 405, 429, 500, 503} {
		b, _ := json.Marshal(errorBody{errorCode(s), errorMessage(s, nil)})
		m[s] = append(b, '\n')
	}
	return m
}()

// jsonContentType labels every JSON body the package writes. JSON is UTF-8
// by definition (RFC 8259), but some clients guess otherwise without the
// parameter.
const jsonContentType = "application/json; charset=utf-8"

// WriteJSONError is the default ErrorWriter. It writes
// {"error":"<code>","message":"<message>"} with Content-Type
// application/json; charset=utf-8.
func WriteJSONError(w http.ResponseWriter, r *http.Request, status int, err error) {
	body, ok := fixedBodies[status]
	if te := (*ThrottledError)(nil); errors.As(err, &te) && te.tokenRate {
		ok = false // not the fixed "failed attempts" body
	}
	if !ok {
		b, _ := json.Marshal(errorBody{errorCode(status), errorMessage(status, err)})
		body = append(b, '\n')
	}
	h := w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// failure is a refused request: what the client sees, and what the host's
// error hook learns.
type failure struct {
	status        int
	err           error // sent to the ErrorWriter
	cause         error // internal, for the Logger; nil for ordinary refusals
	bearerError   string
	challenge     []string // replaces the default challenge for the status
	retryAfter    time.Duration
	noCredentials bool
}

// The errors of 401s match ErrUnauthorized and, with errors.Is, the reason.
var (
	errNoCredentials401 = fmt.Errorf("%w: %w", ErrUnauthorized, ErrNoCredentials)
	errInvalidToken401  = fmt.Errorf("%w: %w", ErrUnauthorized, ErrTokenInvalid)
	errExpiredToken401  = fmt.Errorf("%w: %w", ErrUnauthorized, ErrTokenExpired)
)

var (
	failNoCredentials = &failure{status: http.StatusUnauthorized, err: errNoCredentials401, noCredentials: true}
	failUnauthorized  = &failure{status: http.StatusUnauthorized, err: ErrUnauthorized}
	failInvalidToken  = &failure{status: http.StatusUnauthorized, err: errInvalidToken401, bearerError: "invalid_token"}
	failExpiredToken  = &failure{status: http.StatusUnauthorized, err: errExpiredToken401, bearerError: "invalid_token"}
	failBadRequest    = &failure{status: http.StatusBadRequest, err: ErrBadRequest, bearerError: "invalid_request"}
	failBusy          = &failure{status: http.StatusServiceUnavailable, err: errUnavailable}
)

func internalFailure(cause error) *failure {
	return &failure{status: http.StatusInternalServerError, err: errInternal, cause: cause}
}

// fail writes f. Headers are set here so that a custom ErrorWriter gets
// them for free.
func (a *Authenticator[U]) fail(w http.ResponseWriter, r *http.Request, f *failure) {
	if f.noCredentials {
		a.audit(r, false, "", reasonNoCredentials, 0)
	}
	if f.cause != nil {
		a.reportError(r, f.cause)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	// Each response gets its own copy of the challenge, so an ErrorWriter
	// that edits it in place cannot change any other response.
	switch {
	case f.challenge != nil:
		h["Www-Authenticate"] = slices.Clip(slices.Clone(f.challenge))
	case f.status == http.StatusUnauthorized && f.bearerError == "invalid_token":
		h["Www-Authenticate"] = slices.Clip(slices.Clone(a.challenges.invalidToken))
	case f.status == http.StatusUnauthorized:
		h["Www-Authenticate"] = slices.Clip(slices.Clone(a.challenges.plain))
	case f.status == http.StatusBadRequest && f.bearerError != "":
		h["Www-Authenticate"] = slices.Clip(slices.Clone(a.challenges.invalidRequest))
	case f.status == http.StatusForbidden && f.bearerError == "insufficient_scope":
		h["Www-Authenticate"] = slices.Clip(slices.Clone(a.challenges.insufficientScope))
	}
	switch f.status {
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.FormatInt(int64(retryAfter(f.retryAfter)/time.Second), 10))
	}
	a.safeWriteError(w, r, f)
}

// safeWriteError runs the ErrorWriter, falling back to the default if a
// custom one panics before writing anything useful.
func (a *Authenticator[U]) safeWriteError(w http.ResponseWriter, r *http.Request, f *failure) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.reportError(r, fmt.Errorf("httpauth: ErrorWriter panicked: %v", p))
			WriteJSONError(w, r, http.StatusInternalServerError, errInternal)
		}
	}()
	a.cfg.ErrorWriter(w, r, f.status, f.err)
}

func (a *Authenticator[U]) reportError(r *http.Request, err error) {
	a.cfg.Logger.LogAttrs(r.Context(), levelError, "httpauth: internal error", errAttr(err))
}

// challenges are the precomputed WWW-Authenticate values; fail hands each
// response a copy.
type challenges struct {
	plain, invalidToken, invalidRequest, insufficientScope []string
	bearer                                                 string // Bearer realm="…"
}

// scoped returns the insufficient_scope challenge naming roles as the
// scope needed (RFC 6750 §3). Roles that are not scope-tokens (a space,
// a quote, a backslash, non-ASCII) cannot be named and are left out.
func (c challenges) scoped(roles []string) []string {
	var names []string
	for _, r := range roles {
		if isScopeToken(r) {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return c.insufficientScope
	}
	return []string{c.bearer + `, error="insufficient_scope", scope="` + strings.Join(names, " ") + `"`}
}

// isScopeToken reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func newChallenges(basicScheme, realm string) challenges {
	q := quoteString(realm)
	basic := basicScheme + " realm=" + q + `, charset="UTF-8"`
	bearer := "Bearer realm=" + q
	full := func(v ...string) []string { return v[:len(v):len(v)] }
	return challenges{
		plain:             full(basic, bearer),
		invalidToken:      full(basic, bearer+`, error="invalid_token"`),
		invalidRequest:    full(bearer + `, error="invalid_request"`),
		insufficientScope: full(bearer + `, error="insufficient_scope"`),
		bearer:            bearer,
	}
}

// quoteString writes s as an RFC 9110 quoted-string.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// recoverFailure turns a panic in a store, signer, limiter or hook into a
// 500 instead of a crashed request; fail reports it. http.ErrAbortHandler
// is the deliberate way to abort a request, so it is panicked again.
func recoverFailure(f **failure) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		err, ok := p.(error)
		if !ok {
			err = fmt.Errorf("%v", p)
		}
		*f = internalFailure(fmt.Errorf("httpauth: recovered panic: %w", err))
	}
}

// problemContentType is the media type of RFC 9457 problem details. The
// writers send it with "; charset=utf-8".
const problemContentType = "application/problem+json"

// problem is an RFC 9457 problem details object, as writeProblem and
// ProblemWriter send it.
type problem struct {
	// Type is a URI naming the kind of problem; "about:blank" means the
	// HTTP status says it all.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem: the HTTP status
	// text, such as "Unauthorized".
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail is the client-safe message of errorMessage, such as
	// "Invalid credentials". It never carries internal error text.
	Detail string `json:"detail"`
	// Code is an extension member: the machine-readable code of
	// errorCode, such as "unauthorized", the same as the "error" member
	// of WriteJSONError's body.
	Code string `json:"code"`
}

// newProblem returns the problem details for status and err, with type
// "about:blank". Like errorMessage, it never uses err.Error().
func newProblem(status int, err error) problem {
	title := http.StatusText(status)
	if title == "" {
		title = http.StatusText(http.StatusInternalServerError)
	}
	return problem{
		Type:   "about:blank",
		Title:  title,
		Status: status,
		Detail: errorMessage(status, err),
		Code:   errorCode(status),
	}
}

// writeProblem is ProblemWriter("").
func writeProblem(w http.ResponseWriter, r *http.Request, status int, err error) {
	writeProblemBody(w, newProblem(status, err))
}

// ProblemWriter returns an ErrorWriter that answers RFC 9457 problem
// details instead of the default JSON, with Content-Type
// application/problem+json; charset=utf-8:
//
//	{"type":"about:blank","title":"Unauthorized","status":401,
//	 "detail":"Invalid credentials","code":"unauthorized"}
//
// The type member is typeBase followed by the error code, so each kind of
// failure has a stable URI: with typeBase "https://example.com/problems/",
// a 401 has the type "https://example.com/problems/unauthorized". An empty
// typeBase gives "about:blank". The detail is a fixed client-safe text (a
// 403's is its Forbidden message), so no internal error reaches the
// client.
func ProblemWriter(typeBase string) ErrorWriter {
	if typeBase == "" {
		return writeProblem
	}
	return func(w http.ResponseWriter, r *http.Request, status int, err error) {
		p := newProblem(status, err)
		p.Type = typeBase + p.Code
		writeProblemBody(w, p)
	}
}

func writeProblemBody(w http.ResponseWriter, p problem) {
	b, _ := json.Marshal(p) // a Problem of strings and an int always encodes
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", problemContentType+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}
