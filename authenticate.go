package httpauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// A request's path through the package: Middleware (middleware.go) calls
// authenticate, which parses the credentials (credentials.go) and hands
// them to one checker: authPassword (basic.go), authToken (token.go) or
// authAPIKey (apikey.go). A checker ends in checkAccount, then puts the
// Identity in the context (context.go); a refusal becomes a failure that
// fail writes (errors.go). The token and revoke endpoints are in
// handlers.go.

// authenticate checks r's credentials. It returns a context carrying the
// identity, or the failure to answer with. passwordOnly refuses tokens, as
// the token endpoint must.
func (a *Authenticator[U]) authenticate(r *http.Request, passwordOnly bool) (ctx context.Context, f *failure) {
	defer recoverFailure(&f)
	// The request's one clock reading. Taken before any account is read:
	// a token minted for this request is issued at it (see
	// Identity.authTime), and the default signer checks expiry against it.
	start := time.Now()
	creds, err := parseCredentials(r, a.cfg.TokenHeader, maxHeaderLen)
	if err != nil {
		return nil, a.credentialsFailure(r, creds, err)
	}
	if creds.Transport != transportBasic {
		if passwordOnly {
			a.audit(r, false, "", ReasonTokenCannotMintToken, creds.Transport)
			if isAPIKeyShaped(creds.Token) {
				return nil, failKeyCannotMint
			}
			return nil, failTokenCannotMint
		}
		return a.authToken(r, creds, start)
	}
	return a.authPassword(r, creds, start)
}

// credentialsFailure is the answer to credentials that did not parse.
func (a *Authenticator[U]) credentialsFailure(r *http.Request, creds credentials, err error) *failure {
	switch {
	case errors.Is(err, ErrNoCredentials):
		return failNoCredentials // the caller decides whether that is a failure
	case errors.Is(err, errAmbiguousCredentials):
		a.audit(r, false, "", ReasonAmbiguousCredentials, 0)
		return failBadRequest
	}
	a.audit(r, false, "", ReasonMalformedCredentials, creds.Transport)
	if creds.Transport == transportBearer || creds.Transport == transportHeader {
		return failInvalidToken // a failed token, whatever its transport
	}
	return failUnauthorized
}

// checkAccount runs Config.CheckAccount on the request's copy of the
// account (the Identity's, built here only when there is a check to run).
func (a *Authenticator[U]) checkAccount(r *http.Request, who string, ac *authContext[U]) *failure {
	if a.cfg.CheckAccount == nil {
		return nil
	}
	t := ac.transport
	err := a.cfg.CheckAccount(r, ac.identity().Account)
	if err == nil {
		return nil
	}
	var fe *forbiddenError
	if errors.As(err, &fe) {
		a.audit(r, false, who, ReasonAccountCheck, t)
		return &failure{status: http.StatusForbidden, err: fe}
	}
	return internalFailure(err)
}

// looksLikeToken reports whether s has the token layout kid.payload.mac,
// with a MAC-sized last segment.
func looksLikeToken(s string) bool {
	i := strings.LastIndexByte(s, '.')
	return i > 0 && len(s)-i-1 == macB64Len && strings.Count(s, ".") == 2 && isB64Token(s)
}

// isNotFound tells an ordinary missing user from a store failure.
func isNotFound(err error) bool { return errors.Is(err, ErrUserNotFound) }
