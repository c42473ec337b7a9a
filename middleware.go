package httpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Method says how a request authenticated.
type Method uint8

// Authentication methods.
const (
	// MethodPassword is a login and password sent with Basic.
	MethodPassword Method = iota + 1
	// MethodToken is a token, in any transport.
	MethodToken
)

// String returns "password", "token" or "none".
func (m Method) String() string {
	switch m {
	case MethodPassword:
		return "password"
	case MethodToken:
		return "token"
	}
	return "none"
}

// Transport says where the credentials came from.
type Transport uint8

// Credential transports.
const (
	// TransportBasic is Authorization: Basic with a login and password.
	TransportBasic Transport = iota + 1
	// TransportBasicToken is Authorization: Basic with the token as the
	// username and an empty password.
	TransportBasicToken
	// TransportBearer is Authorization: Bearer.
	TransportBearer
	// TransportHeader is Config.TokenHeader.
	TransportHeader
)

// String returns "basic", "basic-token", "bearer", "header" or "none".
func (t Transport) String() string {
	switch t {
	case TransportBasic:
		return "basic"
	case TransportBasicToken:
		return "basic-token"
	case TransportBearer:
		return "bearer"
	case TransportHeader:
		return "header"
	}
	return "none"
}

// Identity is what the middleware learned about an authenticated request.
type Identity[U any] struct {
	// Account is the user's account as the store returned it.
	Account *Account[U]
	// Method is how the request authenticated.
	Method Method
	// Transport is where the credentials came from.
	Transport Transport
	// Claims are the verified token's claims; zero for MethodPassword.
	Claims Claims
}

type contextKey struct{ name string }

var identityKey = &contextKey{"httpauth identity"}

// authContext carries the identity in one allocation: it is both the
// context and the value.
type authContext[U any] struct {
	context.Context
	id Identity[U]
}

func (c *authContext[U]) Value(key any) any {
	if key == identityKey {
		return &c.id
	}
	return c.Context.Value(key)
}

// IdentityFrom returns the identity the middleware stored in ctx, or false
// when the request is not authenticated (or U is not the authenticator's
// user type).
func IdentityFrom[U any](ctx context.Context) (*Identity[U], bool) {
	id, ok := ctx.Value(identityKey).(*Identity[U])
	return id, ok
}

// UserFrom returns the host's user value for an authenticated request.
func UserFrom[U any](ctx context.Context) (U, bool) {
	if id, ok := IdentityFrom[U](ctx); ok {
		return id.Account.User, true
	}
	var zero U
	return zero, false
}

// User returns the authenticated user of r, typed, with no assertion.
func (a *Authenticator[U]) User(r *http.Request) (U, bool) { return UserFrom[U](r.Context()) }

// Identity returns the identity of r's authenticated user.
func (a *Authenticator[U]) Identity(r *http.Request) (*Identity[U], bool) {
	return IdentityFrom[U](r.Context())
}

// Middleware requires every request to authenticate, with a password or a
// token, before it reaches next. It wraps single handlers and whole muxes,
// and fits r.Use(auth.Middleware). OPTIONS requests are not exempt: put a
// CORS handler in front of it.
func (a *Authenticator[U]) Middleware(next http.Handler) http.Handler {
	return a.wrap(next, false)
}

// Optional lets requests without any credentials through without a user;
// bad credentials are still a 401.
func (a *Authenticator[U]) Optional(next http.Handler) http.Handler {
	return a.wrap(next, true)
}

func (a *Authenticator[U]) wrap(next http.Handler, optional bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, f := a.authenticate(r, false)
		if f != nil {
			if f.noCredentials && optional {
				next.ServeHTTP(w, r)
				return
			}
			a.fail(w, r, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// failure is a refused request: what the client sees, and what the host's
// error hook learns.
type failure struct {
	status        int
	err           error // sent to the ErrorWriter
	cause         error // internal, for OnError; nil for ordinary refusals
	bearerError   string
	retryAfter    time.Duration
	noCredentials bool
}

var (
	failNoCredentials = &failure{status: http.StatusUnauthorized, err: ErrUnauthorized, noCredentials: true}
	failUnauthorized  = &failure{status: http.StatusUnauthorized, err: ErrUnauthorized}
	failInvalidToken  = &failure{status: http.StatusUnauthorized, err: ErrUnauthorized, bearerError: "invalid_token"}
	failBadRequest    = &failure{status: http.StatusBadRequest, err: ErrBadRequest, bearerError: "invalid_request"}
	failBusy          = &failure{status: http.StatusServiceUnavailable, err: ErrUnavailable}
)

func internalFailure(cause error) *failure {
	return &failure{status: http.StatusInternalServerError, err: ErrInternal, cause: cause}
}

// fail writes f. Headers are set here so that a custom ErrorWriter gets
// them for free.
func (a *Authenticator[U]) fail(w http.ResponseWriter, r *http.Request, f *failure) {
	if f.cause != nil {
		a.reportError(r, f.cause)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch f.status {
	case http.StatusUnauthorized:
		if f.bearerError == "invalid_token" {
			h["Www-Authenticate"] = a.challenges.invalidToken
		} else {
			h["Www-Authenticate"] = a.challenges.plain
		}
	case http.StatusBadRequest:
		if f.bearerError != "" {
			h["Www-Authenticate"] = a.challenges.invalidRequest
		}
	case http.StatusForbidden:
		if f.bearerError == "insufficient_scope" {
			h["Www-Authenticate"] = a.challenges.insufficientScope
		}
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
			a.reportError(r, fmt.Errorf("httpauth: ErrorWriter panicked: %v", p))
			WriteJSONError(w, r, http.StatusInternalServerError, ErrInternal)
		}
	}()
	a.errorWriter(w, r, f.status, f.err)
}

func (a *Authenticator[U]) reportError(r *http.Request, err error) {
	if a.cfg.OnError != nil {
		func() {
			defer func() { _ = recover() }() // a broken hook must not take the request down
			a.cfg.OnError(r, err)
		}()
		return
	}
	a.logger.LogAttrs(r.Context(), levelError, "httpauth: internal error", errAttr(err))
}

// challenges are the precomputed WWW-Authenticate values. Each slice is
// full (len == cap) so that a handler appending to the header copies it.
type challenges struct {
	plain, invalidToken, invalidRequest, insufficientScope []string
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

// endpointIdentity serves the token and revoke handlers: it answers a
// method other than method with a 405, and returns the identity the
// middleware stored, or authenticates the request itself when the handler
// is mounted on its own. On false, the response has been written.
func (a *Authenticator[U]) endpointIdentity(w http.ResponseWriter, r *http.Request, method string, passwordOnly bool) (*Identity[U], bool) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		a.fail(w, r, &failure{status: http.StatusMethodNotAllowed, err: ErrMethodNotAllowed})
		return nil, false
	}
	if id, ok := IdentityFrom[U](r.Context()); ok {
		return id, true
	}
	ctx, f := a.authenticate(r, passwordOnly)
	if f != nil {
		a.fail(w, r, f)
		return nil, false
	}
	id, _ := IdentityFrom[U](ctx)
	return id, true
}

// RequireAnyRole returns middleware that lets through users holding at
// least one of roles (Flask-HTTPAuth's role=[a, b]). Put it behind
// Middleware; a user without the roles gets a 403.
func (a *Authenticator[U]) RequireAnyRole(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, false)
}

// RequireAllRoles returns middleware that lets through users holding every
// one of roles (Flask-HTTPAuth's role=[[a, b]]).
func (a *Authenticator[U]) RequireAllRoles(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, true)
}

var errInsufficientRole = &ForbiddenError{Message: "Insufficient role"}

func (a *Authenticator[U]) requireRoles(roles []string, all bool) func(http.Handler) http.Handler {
	roles = append([]string(nil), roles...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := IdentityFrom[U](r.Context())
			if !ok {
				a.fail(w, r, failNoCredentials)
				return
			}
			if !hasRoles(id.Account, roles, all) {
				f := &failure{status: http.StatusForbidden, err: errInsufficientRole}
				if id.Method == MethodToken {
					f.bearerError = "insufficient_scope"
				}
				a.audit(r, false, id.Account.ID, "insufficient_role", id.Transport)
				a.fail(w, r, f)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hasRoles[U any](acct *Account[U], roles []string, all bool) bool {
	if len(roles) == 0 {
		return true
	}
	for _, role := range roles {
		has := acct.HasRole(role)
		if has && !all {
			return true
		}
		if !has && all {
			return false
		}
	}
	return all
}

// recoverFailure turns a panic in a store, signer, limiter or hook into a
// 500 instead of a crashed request.
func recoverFailure(f **failure) {
	if p := recover(); p != nil {
		err, ok := p.(error)
		if !ok {
			err = fmt.Errorf("%v", p)
		}
		*f = internalFailure(fmt.Errorf("httpauth: recovered panic: %w", err))
	}
}

// isNotFound tells an ordinary missing user from a store failure.
func isNotFound(err error) bool { return errors.Is(err, ErrUserNotFound) }
