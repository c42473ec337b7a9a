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
	// ErrAccountExists is what a store returns for a login or ID another
	// account holds.
	ErrAccountExists = errors.New("httpauth: account exists")
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
	// ErrPasswordTooLong means a password is longer than the hashing scheme
	// takes without truncating it (72 bytes for bcrypt) or than the 1024
	// bytes the library hashes at most.
	ErrPasswordTooLong = errors.New("httpauth: password too long")
)

// Errors given to an ErrorWriter for the statuses that say it all.
var (
	errTooManyRequests  = errors.New("httpauth: too many failed attempts")
	errBadRequest       = errors.New("httpauth: bad request")
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
}

// Error says how long to wait.
func (e *ThrottledError) Error() string {
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
