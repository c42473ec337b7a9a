package httpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credential says how a request authenticated.
type Credential uint8

// Authentication methods.
const (
	// PasswordCredential is a login and password sent with Basic.
	PasswordCredential Credential = iota + 1
	// TokenCredential is a token, in any transport.
	TokenCredential
	// APIKeyCredential is an API key, as a Bearer token or in
	// Config.TokenHeader; Identity.APIKeyID says which.
	APIKeyCredential
)

// String returns "password", "token", "api_key" or "none".
func (m Credential) String() string {
	switch m {
	case PasswordCredential:
		return "password"
	case TokenCredential:
		return "token"
	case APIKeyCredential:
		return "api_key"
	}
	return "none"
}

// transport says where the credentials came from.
type transport uint8

// Credential transports.
const (
	// transportBasic is Authorization: Basic with a login and password.
	transportBasic transport = iota + 1
	// transportBasicToken is Authorization: Basic with the token as the
	// username and an empty password.
	transportBasicToken
	// transportBearer is Authorization: Bearer.
	transportBearer
	// transportHeader is Config.TokenHeader.
	transportHeader
)

// String returns "basic", "basic-token", "bearer", "header" or "none".
func (t transport) String() string {
	switch t {
	case transportBasic:
		return "basic"
	case transportBasicToken:
		return "basic-token"
	case transportBearer:
		return "bearer"
	case transportHeader:
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
	// Credential is how the request authenticated.
	Credential Credential
	// transport is where the credentials came from.
	transport transport
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
func newAuthContext[U any](ctx context.Context, acct *Account[U], m Credential, t transport, c Claims, authTime time.Time) *authContext[U] {
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
	ac.id = Identity[U]{Account: &ac.acct, Credential: m, transport: t, Claims: c, authTime: authTime}
	return ac
}

func (c *authContext[U]) Value(key any) any {
	if key == identityKey {
		return &c.id
	}
	return c.Context.Value(key)
}

// identityFrom returns the identity the middleware stored in ctx.
func identityFrom[U any](ctx context.Context) (*Identity[U], bool) {
	id, ok := ctx.Value(identityKey).(*Identity[U])
	return id, ok
}

// User returns the user value of r's authenticated account, typed, or
// false when r did not authenticate through this Authenticator (an
// Optional route's anonymous request, or a route it does not wrap).
func (a *Authenticator[U]) User(r *http.Request) (U, bool) {
	if id, ok := identityFrom[U](r.Context()); ok {
		return id.Account.User, true
	}
	var zero U
	return zero, false
}

// Identity returns what the middleware learned about r: the account, how
// it authenticated, and the token's claims. It is false like User's.
func (a *Authenticator[U]) Identity(r *http.Request) (*Identity[U], bool) {
	return identityFrom[U](r.Context())
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
				a.anonymous(r) // a public route's visitor, not a failure
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
	failBadRequest    = &failure{status: http.StatusBadRequest, err: errBadRequest, bearerError: "invalid_request"}
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

// endpointIdentity serves the token and revoke handlers: it answers a
// method other than method with a 405, and returns the identity the
// middleware stored, or authenticates the request itself when the handler
// is mounted on its own. On false, the response has been written.
func (a *Authenticator[U]) endpointIdentity(w http.ResponseWriter, r *http.Request, method string, passwordOnly bool) (*Identity[U], bool) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		a.fail(w, r, &failure{status: http.StatusMethodNotAllowed, err: errMethodNotAllowed})
		return nil, false
	}
	if id, ok := identityFrom[U](r.Context()); ok {
		return id, true
	}
	ctx, f := a.authenticate(r, passwordOnly)
	if f != nil {
		a.fail(w, r, f)
		return nil, false
	}
	id, _ := identityFrom[U](ctx)
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

var errInsufficientRole = &forbiddenError{Message: "Insufficient role"}

func (a *Authenticator[U]) requireRoles(roles []string, all bool) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("httpauth: RequireAnyRole/RequireAllRoles needs at least one role")
	}
	roles = append([]string(nil), roles...)
	scopeChallenge := a.challenges.scoped(roles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := identityFrom[U](r.Context())
			if !ok {
				a.fail(w, r, failNoCredentials)
				return
			}
			if !hasRoles(id.Account, roles, all) {
				f := &failure{status: http.StatusForbidden, err: errInsufficientRole}
				if id.Credential != PasswordCredential { // tokens and API keys
					f.bearerError = "insufficient_scope"
					f.challenge = scopeChallenge
				}
				a.auditMethod(r, false, id.Account.ID, reasonInsufficientRole, id.Credential, id.transport)
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
