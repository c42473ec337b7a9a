package httpauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ProblemContentType is the media type of RFC 9457 problem details. The
// writers send it with "; charset=utf-8".
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object, as WriteProblem and
// ProblemWriter send it.
type Problem struct {
	// Type is a URI naming the kind of problem; "about:blank" means the
	// HTTP status says it all.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem: the HTTP status
	// text, such as "Unauthorized".
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail is the client-safe message of ErrorMessage, such as
	// "Invalid credentials". It never carries internal error text.
	Detail string `json:"detail"`
	// Code is an extension member: the machine-readable code of
	// ErrorCode, such as "unauthorized", the same as the "error" member
	// of WriteJSONError's body.
	Code string `json:"code"`
}

// NewProblem returns the problem details for status and err, with type
// "about:blank". Like ErrorMessage, it never uses err.Error().
func NewProblem(status int, err error) Problem {
	title := http.StatusText(status)
	if title == "" {
		title = http.StatusText(http.StatusInternalServerError)
	}
	return Problem{
		Type:   "about:blank",
		Title:  title,
		Status: status,
		Detail: ErrorMessage(status, err),
		Code:   ErrorCode(status),
	}
}

// WriteProblem is an ErrorWriter that answers RFC 9457 problem details:
//
//	{"type":"about:blank","title":"Unauthorized","status":401,
//	 "detail":"Invalid credentials","code":"unauthorized"}
//
// with Content-Type application/problem+json; charset=utf-8. Set it as Config.ErrorWriter
// instead of the default WriteJSONError. The detail is ErrorMessage's
// client-safe text, so no internal error ever reaches the client.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, err error) {
	writeProblem(w, NewProblem(status, err))
}

// ProblemWriter returns an ErrorWriter like WriteProblem whose type member
// is typeBase followed by the error code, so each kind of failure has a
// stable URI: with typeBase "https://example.com/problems/", a 401 has the
// type "https://example.com/problems/unauthorized". An empty typeBase
// gives WriteProblem's "about:blank".
func ProblemWriter(typeBase string) ErrorWriter {
	if typeBase == "" {
		return WriteProblem
	}
	return func(w http.ResponseWriter, r *http.Request, status int, err error) {
		p := NewProblem(status, err)
		p.Type = typeBase + p.Code
		writeProblem(w, p)
	}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	b, _ := json.Marshal(p) // a Problem of strings and an int always encodes
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", ProblemContentType+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}
