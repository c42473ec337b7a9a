package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
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
	// MethodAPIKey is an API key, as a Bearer token or in
	// Config.TokenHeader; Identity.APIKeyID says which.
	MethodAPIKey
)

// String returns "password", "token", "api_key" or "none".
func (m Method) String() string {
	switch m {
	case MethodPassword:
		return "password"
	case MethodToken:
		return "token"
	case MethodAPIKey:
		return "api_key"
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
	// Account is this request's own copy of the account the store
	// returned (Roles copied too; User is copied shallowly), so a handler
	// that changes it changes neither the store nor other requests.
	Account *Account[U]
	// Method is how the request authenticated.
	Method Method
	// Transport is where the credentials came from.
	Transport Transport
	// Claims are the verified token's claims; zero for MethodPassword
	// and MethodAPIKey.
	Claims Claims
	// APIKeyID is the APIKey.ID of the key used, for MethodAPIKey.
	APIKeyID string

	// authTime was taken before the account was read: a token minted for
	// this request is issued at it, so a password change (or disable, or
	// "log out everywhere") that lands during the login ends that token too.
	authTime time.Time
}

type contextKey struct{ name string }

var identityKey = &contextKey{"httpauth identity"}

// authContext carries the identity and the request's copy of the account
// in one allocation: it is both the context and the value.
type authContext[U any] struct {
	context.Context
	id       Identity[U]
	acct     Account[U]
	rolesBuf [4]string // the copied roles of most accounts, without a second allocation
}

// newAuthContext returns ctx carrying an identity with a private copy of
// acct, so a handler cannot change the store's account through it.
func newAuthContext[U any](ctx context.Context, acct *Account[U], m Method, t Transport, c Claims, authTime time.Time) *authContext[U] {
	ac := &authContext[U]{Context: ctx, acct: *acct}
	if n := len(acct.Roles); n <= len(ac.rolesBuf) {
		ac.acct.Roles = ac.rolesBuf[:n:n]
		copy(ac.acct.Roles, acct.Roles)
		if acct.Roles == nil {
			ac.acct.Roles = nil
		}
	} else {
		ac.acct.Roles = slices.Clone(acct.Roles)
	}
	ac.id = Identity[U]{Account: &ac.acct, Method: m, Transport: t, Claims: c, authTime: authTime}
	return ac
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
	challenge     []string // replaces the default challenge for the status
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
			WriteJSONError(w, r, http.StatusInternalServerError, ErrInternal)
		}
	}()
	a.errorWriter(w, r, f.status, f.err)
}

func (a *Authenticator[U]) reportError(r *http.Request, err error) {
	if a.cfg.OnError != nil && a.callOnError(r, err) {
		return
	}
	a.logger.LogAttrs(r.Context(), levelError, "httpauth: internal error", errAttr(err))
}

// callOnError runs the hook. A hook that panics must not take the request
// down, but neither the error nor the panic may vanish: both are logged.
func (a *Authenticator[U]) callOnError(r *http.Request, err error) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.logger.LogAttrs(r.Context(), levelError, "httpauth: OnError panicked",
				slog.String("panic", fmt.Sprint(p)))
			ok = false
		}
	}()
	a.cfg.OnError(r, err)
	return true
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
// Middleware; a user without the roles gets a 403, and a token user's
// challenge names them as the insufficient scope. It panics when roles is
// empty: a guard naming no role is a bug that would let everyone through.
func (a *Authenticator[U]) RequireAnyRole(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, false)
}

// RequireAllRoles returns middleware that lets through users holding every
// one of roles (Flask-HTTPAuth's role=[[a, b]]). Like RequireAnyRole, it
// panics when roles is empty.
func (a *Authenticator[U]) RequireAllRoles(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, true)
}

var errInsufficientRole = &ForbiddenError{Message: "Insufficient role"}

func (a *Authenticator[U]) requireRoles(roles []string, all bool) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("httpauth: RequireAnyRole/RequireAllRoles needs at least one role")
	}
	roles = append([]string(nil), roles...)
	scopeChallenge := a.challenges.scoped(roles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := IdentityFrom[U](r.Context())
			if !ok {
				a.fail(w, r, failNoCredentials)
				return
			}
			if !hasRoles(id.Account, roles, all) {
				f := &failure{status: http.StatusForbidden, err: errInsufficientRole}
				if id.Method != MethodPassword { // tokens and API keys
					f.bearerError = "insufficient_scope"
					f.challenge = scopeChallenge
				}
				a.auditMethod(r, false, id.Account.ID, ReasonInsufficientRole, id.Method, id.Transport)
				a.fail(w, r, f)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hasRoles[U any](acct *Account[U], roles []string, all bool) bool {
	if len(roles) == 0 {
		return false // never reached: requireRoles refuses an empty list
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

// isNotFound tells an ordinary missing user from a store failure.
func isNotFound(err error) bool { return errors.Is(err, ErrUserNotFound) }
