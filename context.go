package httpauth

import (
	"context"
	"net/http"
	"slices"
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
