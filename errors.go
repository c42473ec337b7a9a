package httpauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Sentinel errors. Test for them with errors.Is; the errors the library
// returns may wrap them with more detail.
var (
	// ErrUserNotFound is what a UserStore returns for a user that does not
	// exist. Every other store error is a failure (500).
	ErrUserNotFound = errors.New("httpauth: user not found")

	// ErrTokenInvalid means a token is malformed, forged, signed with an
	// unknown key, minted for another purpose, revoked, or issued in the
	// future. It is never returned together with ErrTokenExpired: a token
	// must verify before its expiry is read.
	ErrTokenInvalid = errors.New("httpauth: invalid token")

	// ErrTokenExpired means a token verified but its expiry has passed.
	ErrTokenExpired = errors.New("httpauth: token expired")

	// ErrUnauthorized is the error given to an ErrorWriter for a 401: no
	// credentials, or credentials that do not authenticate.
	ErrUnauthorized = errors.New("httpauth: unauthorized")

	// ErrForbidden is the error given to an ErrorWriter for a 403. A
	// *ForbiddenError carries the message to show.
	ErrForbidden = errors.New("httpauth: forbidden")

	// ErrTooManyRequests is the error given to an ErrorWriter for a 429. A
	// *ThrottledError carries the retry delay.
	ErrTooManyRequests = errors.New("httpauth: too many failed attempts")

	// ErrBadRequest is the error given to an ErrorWriter for a 400, such
	// as a request with two Authorization header lines.
	ErrBadRequest = errors.New("httpauth: bad request")

	// ErrMethodNotAllowed is the error given to an ErrorWriter for a 405.
	ErrMethodNotAllowed = errors.New("httpauth: method not allowed")

	// ErrInternal is the error given to an ErrorWriter for a 500. The
	// underlying failure goes to Config.OnError, never to the client.
	ErrInternal = errors.New("httpauth: internal error")

	// ErrUnavailable is the error given to an ErrorWriter for a 503: the
	// request gave up waiting for a password-hashing slot.
	ErrUnavailable = errors.New("httpauth: busy")

	// ErrUntrustedHash means a stored password hash is malformed, uses an
	// unknown scheme, or has parameters outside the accepted bounds. It is
	// never verified with a weaker fallback.
	ErrUntrustedHash = errors.New("httpauth: untrusted password hash")

	// ErrPasswordTooLong means a password is longer than the hashing scheme
	// takes without truncating it (72 bytes for bcrypt) or than the
	// configured cap.
	ErrPasswordTooLong = errors.New("httpauth: password too long")
)

// ForbiddenError is a 403 with a message meant for the client, such as
// "Unconfirmed account". Return one from Config.CheckAccount.
type ForbiddenError struct {
	Message string
}

// Forbidden returns a *ForbiddenError with message.
func Forbidden(message string) error { return &ForbiddenError{Message: message} }

// Error returns the message with the package prefix.
func (e *ForbiddenError) Error() string { return "httpauth: forbidden: " + e.Message }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// ThrottledError is a 429 carrying how long the client should wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Error says how long to wait.
func (e *ThrottledError) Error() string {
	return "httpauth: too many failed attempts; retry after " + e.RetryAfter.String()
}

// Is makes errors.Is(err, ErrTooManyRequests) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrTooManyRequests }

// ErrorWriter writes an error response. status is the HTTP status and err
// one of the sentinels above (or a typed error wrapping one). Headers such
// as WWW-Authenticate, Retry-After and Cache-Control are already set. An
// ErrorWriter must not write internal detail to the client: for a 500, err
// is ErrInternal, and the real cause has gone to Config.OnError.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, err error)

// errorBody is the default JSON error shape.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// ErrorCode returns the short machine-readable code the default writers use
// for status: "unauthorized", "forbidden" and so on.
func ErrorCode(status int) string {
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

// ErrorMessage returns the client-safe message for status and err: the
// message of a *ForbiddenError, or a fixed text per status. It never
// returns err.Error().
func ErrorMessage(status int, err error) string {
	switch status {
	case http.StatusBadRequest:
		if errors.Is(err, ErrNoToken) {
			return "Request did not authenticate with a token"
		}
		return "Malformed authentication request"
	case http.StatusUnauthorized:
		return "Invalid credentials"
	case http.StatusForbidden:
		var fe *ForbiddenError
		if errors.As(err, &fe) && fe.Message != "" {
			return fe.Message
		}
		return "Forbidden"
	case http.StatusMethodNotAllowed:
		return "Method not allowed"
	case http.StatusTooManyRequests:
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
		b, _ := json.Marshal(errorBody{ErrorCode(s), ErrorMessage(s, nil)})
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
	if !ok {
		b, _ := json.Marshal(errorBody{ErrorCode(status), ErrorMessage(status, err)})
		body = append(b, '\n')
	}
	h := w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
