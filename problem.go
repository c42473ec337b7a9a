package httpauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

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

// writeProblem is an ErrorWriter that answers RFC 9457 problem details:
//
//	{"type":"about:blank","title":"Unauthorized","status":401,
//	 "detail":"Invalid credentials","code":"unauthorized"}
//
// with Content-Type application/problem+json; charset=utf-8. Set it as Config.ErrorWriter
// instead of the default WriteJSONError. The detail is errorMessage's
// client-safe text, so no internal error ever reaches the client.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, err error) {
	writeProblemBody(w, newProblem(status, err))
}

// ProblemWriter returns an ErrorWriter like writeProblem whose type member
// is typeBase followed by the error code, so each kind of failure has a
// stable URI: with typeBase "https://example.com/problems/", a 401 has the
// type "https://example.com/problems/unauthorized". An empty typeBase
// gives writeProblem's "about:blank".
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
