package httpauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

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
	if m := clientMessage(err); m != "" {
		return m
	}
	switch status {
	case http.StatusBadRequest:
		if errors.Is(err, errNoToken) {
			return "Request did not authenticate with a token"
		}
		return "Malformed authentication request"
	case http.StatusUnauthorized:
		// Why, as far as it tells nothing about which logins exist: a
		// wrong password and an unknown login are both "Invalid
		// credentials".
		switch {
		case errors.Is(err, ErrNoCredentials):
			return "Credentials required"
		case errors.Is(err, ErrTokenExpired):
			return "Token expired"
		case errors.Is(err, errKeyCannotMint):
			return "An API key cannot be used to get a token"
		case errors.Is(err, errTokenCannotMint):
			return "A token cannot be used to get a token"
		case errors.Is(err, ErrTokenInvalid):
			return "Invalid token"
		}
		return "Invalid credentials"
	case http.StatusForbidden:
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

// clientMessage returns the message of the first error in err's tree that
// has a ClientMessage() string method (as Forbidden's errors do): a text
// the caller meant for the client, which the default writers send for any
// status. It walks the tree itself, so the hot paths allocate nothing.
func clientMessage(err error) string {
	for err != nil {
		if cm, ok := err.(interface{ ClientMessage() string }); ok {
			if m := cm.ClientMessage(); m != "" {
				return m
			}
		}
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if m := clientMessage(inner); m != "" {
					return m
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// fixedBodies are the pre-encoded bodies of the package's own refusals,
// by status and message, so the hot failure paths do not run the JSON
// encoder.
var fixedBodies = func() map[int]map[string][]byte {
	m := map[int]map[string][]byte{}
	for _, e := range []struct {
		status int
		err    error
	}{
		{401, ErrUnauthorized}, {401, errNoCredentials401}, {401, errExpiredToken401},
		{401, errInvalidToken401}, {401, errTokenCannotMint}, {401, errKeyCannotMint},
		{405, nil}, {429, &ThrottledError{}}, {429, &ThrottledError{tokenRate: true}},
		{500, nil}, {503, nil},
	} {
		msg := errorMessage(e.status, e.err)
		b, _ := json.Marshal(errorBody{errorCode(e.status), msg})
		if m[e.status] == nil {
			m[e.status] = map[string][]byte{}
		}
		m[e.status][msg] = append(b, '\n')
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
	msg := errorMessage(status, err)
	body, ok := fixedBodies[status][msg]
	if !ok {
		b, _ := json.Marshal(errorBody{errorCode(status), msg})
		body = append(b, '\n')
	}
	h := w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
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
	b, _ := json.Marshal(p) // a problem of strings and an int always encodes
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", problemContentType+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}
