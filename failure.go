package httpauth

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

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
	otpRequired   bool // second factor (secondfactor.go): send "X-OTP: required"
}

// The 401s of a token or API key sent to the token endpoint.
var (
	errTokenCannotMint = fmt.Errorf("%w: a token cannot be used to get a token", ErrUnauthorized)
	errKeyCannotMint   = fmt.Errorf("%w: an API key cannot be used to get a token", ErrUnauthorized)
)

var (
	failTokenCannotMint = &failure{status: http.StatusUnauthorized, err: errTokenCannotMint}
	failKeyCannotMint   = &failure{status: http.StatusUnauthorized, err: errKeyCannotMint}
	failNoCredentials   = &failure{status: http.StatusUnauthorized, err: errNoCredentials401, noCredentials: true}
	failUnauthorized    = &failure{status: http.StatusUnauthorized, err: ErrUnauthorized}
	failInvalidToken    = &failure{status: http.StatusUnauthorized, err: errInvalidToken401, bearerError: "invalid_token"}
	failExpiredToken    = &failure{status: http.StatusUnauthorized, err: errExpiredToken401, bearerError: "invalid_token"}
	failBadRequest      = &failure{status: http.StatusBadRequest, err: ErrBadRequest, bearerError: "invalid_request"}
	failBusy            = &failure{status: http.StatusServiceUnavailable, err: errUnavailable}
)

func internalFailure(cause error) *failure {
	return &failure{status: http.StatusInternalServerError, err: errInternal, cause: cause}
}

// fail writes f. Headers are set here so that a custom ErrorWriter gets
// them for free.
func (a *Authenticator[U]) fail(w http.ResponseWriter, r *http.Request, f *failure) {
	if f.noCredentials {
		a.audit(r, false, "", ReasonNoCredentials, 0)
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
	if f.otpRequired { // second factor (secondfactor.go)
		h.Set(otpHeader, "required")
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

// The errors of 401s match ErrUnauthorized and, with errors.Is, the reason.
var (
	errNoCredentials401 = fmt.Errorf("%w: %w", ErrUnauthorized, ErrNoCredentials)
	errInvalidToken401  = fmt.Errorf("%w: %w", ErrUnauthorized, ErrTokenInvalid)
	errExpiredToken401  = fmt.Errorf("%w: %w", ErrUnauthorized, ErrTokenExpired)
)
