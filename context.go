package httpauth

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
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
	// Claims are the verified token's claims; zero for PasswordCredential
	// and APIKeyCredential.
	Claims Claims
	// APIKeyID is the APIKey.ID of the key used, for APIKeyCredential.
	APIKeyID string

	// transport is where the credentials came from, for the audit log.
	transport transport

	// authTime was taken before the account was read: a token minted for
	// this request is issued at it, so a password change (or disable, or
	// "log out everywhere") that lands during the login ends that token too.
	authTime time.Time

	// secondFactor is the reason of a password login that came with a
	// valid X-OTP code, "" otherwise (second factor: secondfactor.go).
	secondFactor Reason
}

type contextKey struct{ name string }

var identityKey = &contextKey{"httpauth identity"}

// authContext is the context the middleware hands on, and what the
// checkers learned, in one small allocation. It holds the store's account
// itself, which the store promises never to mutate and which nothing here
// writes; the Identity a handler may change, with its own copy of the
// account, is built only when something asks for it (identity). A handler
// that only reads User so costs no copy.
type authContext[U any] struct {
	context.Context
	acct      *Account[U]  // as the store returned it: read, never written or handed out
	claims    *Claims      // the verified token's claims (immutable), nil without a token
	details   *authDetails // nil for a token: see authDetails
	cred      Credential
	transport transport

	public atomic.Pointer[Identity[U]] // built on first use
}

// authDetails is what a password login or an API key adds to an
// authContext. It is apart so that a token check, the request most APIs
// see most, allocates a smaller context (64 bytes rather than 112).
type authDetails struct {
	authTime     time.Time // see Identity.authTime
	secondFactor Reason    // see Identity.secondFactor
	apiKeyID     string
}

// newAuthContext returns ctx carrying what a checker learned about the
// request; claims is nil without a token, details nil for a token.
func newAuthContext[U any](ctx context.Context, acct *Account[U], m Credential, t transport, claims *Claims, details *authDetails) *authContext[U] {
	return &authContext[U]{Context: ctx, acct: acct, claims: claims, details: details, cred: m, transport: t}
}

// newPasswordContext is newAuthContext for a password login, made at
// authTime, with its details in the same allocation.
func newPasswordContext[U any](ctx context.Context, acct *Account[U], authTime time.Time) *authContext[U] {
	pc := &struct {
		ac authContext[U]
		d  authDetails
	}{ac: authContext[U]{Context: ctx, acct: acct, cred: PasswordCredential, transport: transportBasic}, d: authDetails{authTime: authTime}}
	pc.ac.details = &pc.d
	return &pc.ac
}

// identityCopy is an Identity with its private account, in one allocation.
type identityCopy[U any] struct {
	id       Identity[U]
	acct     Account[U]
	rolesBuf [1]string // the copied role of most accounts, without a second allocation
}

// identity returns the request's Identity, building it on first use with a
// private copy of the account, so that a handler that changes it changes
// neither the store nor other requests. Every call returns the same one.
func (c *authContext[U]) identity() *Identity[U] {
	if id := c.public.Load(); id != nil {
		return id
	}
	ic := &identityCopy[U]{acct: *c.acct}
	if n := len(c.acct.Roles); n <= len(ic.rolesBuf) {
		ic.acct.Roles = ic.rolesBuf[:n:n]
		copy(ic.acct.Roles, c.acct.Roles)
		if c.acct.Roles == nil {
			ic.acct.Roles = nil
		}
	} else {
		ic.acct.Roles = slices.Clone(c.acct.Roles)
	}
	ic.id = Identity[U]{Account: &ic.acct, Credential: c.cred, transport: c.transport}
	if d := c.details; d != nil {
		ic.id.APIKeyID, ic.id.authTime, ic.id.secondFactor = d.apiKeyID, d.authTime, d.secondFactor
	}
	if c.claims != nil {
		ic.id.Claims = *c.claims
	}
	if c.public.CompareAndSwap(nil, &ic.id) {
		return &ic.id
	}
	return c.public.Load() // another goroutine of the handler built it first
}

// account returns the account as the request sees it: the Identity's copy
// once a handler may have changed it, the store's account before. It is
// for reading only.
func (c *authContext[U]) account() *Account[U] {
	if id := c.public.Load(); id != nil {
		return id.Account
	}
	return c.acct
}

func (c *authContext[U]) Value(key any) any {
	if key == identityKey {
		return c
	}
	return c.Context.Value(key)
}

// authFrom returns the authContext the middleware stored in ctx.
func authFrom[U any](ctx context.Context) (*authContext[U], bool) {
	ac, ok := ctx.Value(identityKey).(*authContext[U])
	return ac, ok
}

// identityFrom returns the identity the middleware stored in ctx.
func identityFrom[U any](ctx context.Context) (*Identity[U], bool) {
	if ac, ok := authFrom[U](ctx); ok {
		return ac.identity(), true
	}
	return nil, false
}

// User returns the user value of r's authenticated account, typed, or
// false when r did not authenticate through this Authenticator (an
// Optional route's anonymous request, or a route it does not wrap).
func (a *Authenticator[U]) User(r *http.Request) (U, bool) {
	if ac, ok := authFrom[U](r.Context()); ok {
		return ac.account().User, true
	}
	var zero U
	return zero, false
}

// Identity returns what the middleware learned about r: the account, how
// it authenticated, and the token's claims. It is false like User's.
func (a *Authenticator[U]) Identity(r *http.Request) (*Identity[U], bool) {
	return identityFrom[U](r.Context())
}
