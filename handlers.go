package httpauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

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

// tokenReply is the body of a successful token request.
type tokenReply struct {
	Token      string `json:"token"`
	Expiration int64  `json:"expiration"`
}

// TokenHandler returns the handler that mints tokens: POST with password
// credentials answers 200 {"token":"…","expiration":<seconds>} with
// Cache-Control: no-store. Other methods get a 405; a token never mints a
// token (401). Mount it behind Middleware or on its own: it authenticates
// the request itself when no middleware did.
//
// The token is issued at the time the request started to authenticate,
// before the account was read, and the account is read again after
// minting: a password change, disable or "log out everywhere" that lands
// during the login ends the token too (the client gets a 401). Minting
// counts against the user's token rate (Throttle.TokensPerMinute); past it the
// answer is a 429 with Retry-After.
func (a *Authenticator[U]) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.endpointIdentity(w, r, http.MethodPost, true)
		if !ok {
			return
		}
		if id.Credential != PasswordCredential {
			a.audit(r, false, id.Account.ID, ReasonTokenCannotMintToken, id.transport)
			if id.Credential == APIKeyCredential {
				a.fail(w, r, failKeyCannotMint)
			} else {
				a.fail(w, r, failTokenCannotMint)
			}
			return
		}
		if f := a.checkTokenRate(r, id); f != nil {
			a.fail(w, r, f)
			return
		}
		iat := id.authTime
		if iat.IsZero() {
			iat = time.Now()
		}
		token, c, err := a.issueToken(r.Context(), id.Account.ID, iat)
		if err != nil {
			a.fail(w, r, internalFailure(err))
			return
		}
		if f := a.recheckMinted(r, id, c); f != nil {
			a.fail(w, r, f)
			return
		}
		body, _ := json.Marshal(tokenReply{Token: token, Expiration: int64(a.cfg.TokenTTL / time.Second)})
		h := w.Header()
		h.Set("Content-Type", jsonContentType)
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
}

// recheckMinted reads the account again after minting and refuses to hand
// out a token that its current state would refuse: one more lookup per
// login, so a change that landed while the password was being hashed never
// yields a live token.
func (a *Authenticator[U]) recheckMinted(r *http.Request, id *Identity[U], c Claims) (f *failure) {
	defer recoverFailure(&f)
	acct, err := a.cfg.Users.UserByID(r.Context(), id.Account.ID)
	if err != nil {
		if !isNotFound(err) {
			return internalFailure(err)
		}
		a.audit(r, false, id.Account.ID, ReasonTokenDeletedUser, id.transport)
		return failUnauthorized
	}
	if acct.Disabled || !issuedAfter(c.IssuedAt, acct.TokensValidAfter) {
		a.audit(r, false, id.Account.ID, ReasonAccountChanged, id.transport)
		return failUnauthorized
	}
	return nil
}

// errNoToken is the error given to an ErrorWriter when RevokeHandler gets
// a request that did not authenticate with a token (a 400).
var errNoToken = fmt.Errorf("%w: request did not authenticate with a token", ErrBadRequest)

// RevokeHandler returns the handler that revokes the token a DELETE
// request authenticated with, answering 204. Only that token is revoked;
// the user's other tokens keep working. A request that authenticated with a
// password gets a 400; other methods get a 405. Use Account.TokensValidAfter
// to revoke all of a user's tokens.
//
// A revocation is never refused, and never counts against the token
// rate. A user may revoke 10 tokens one by one per TokenTTL (a burst of
// 10, refilled evenly over a TokenTTL), and all users together 10,000 per
// TokenTTL on each instance; past either, when the UserStore is an
// AccountStore (the memory store and sqlstore are), the revocation is
// folded into the user's cutoff instead: every token of the user issued
// until now ends, and the revocation store gains no entry. Entries live
// until their token expires, at most a TokenTTL, so one user holds at
// most 20 entries at once and an instance adds at most 20,000 at once,
// whatever the number of accounts: under 3 MB in the memory store (140
// bytes an entry, TestMemoryRevocationBytesPerEntry), and instances ×
// 20,000 entries in a shared store (about 3.2 MB an instance in Redis).
func (a *Authenticator[U]) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.endpointIdentity(w, r, http.MethodDelete, false)
		if !ok {
			return
		}
		if id.Credential != TokenCredential {
			a.fail(w, r, &failure{status: http.StatusBadRequest, err: errNoToken})
			return
		}
		reason := ReasonTokenRevokedBy
		var err error
		if cs, ok := a.cfg.Users.(AccountStore[U]); ok && (!a.revokeRate.allow(id.Account.ID) || !a.revokeTotal.allow("")) {
			reason = ReasonTokensCutOffBy
			err = a.foldIntoCutoff(r.Context(), cs, id.Account.ID)
		} else {
			err = a.revoke(r.Context(), id.Claims)
		}
		if err != nil {
			a.fail(w, r, internalFailure(err))
			return
		}
		a.audit(r, true, id.Account.ID, reason, id.transport)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// revocationsPerTTL is how many tokens a user may revoke one by one per
// TokenTTL before RevokeHandler folds revocations into the cutoff.
const revocationsPerTTL = 10

// revocationsTotalPerTTL is the same for all users together, per instance.
const revocationsTotalPerTTL = 10_000

func (a *Authenticator[U]) foldIntoCutoff(ctx context.Context, cs AccountStore[U], userID string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = fmt.Errorf("httpauth: SetTokensValidAfter panicked: %v", p)
		}
	}()
	return cs.SetTokensValidAfter(ctx, userID, time.Now())
}

func (a *Authenticator[U]) revoke(ctx context.Context, c Claims) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = fmt.Errorf("httpauth: revocation store panicked: %v", p)
		}
	}()
	return a.cfg.Revocations.Revoke(ctx, c.ID, c.ExpiresAt)
}

// checkTokenRate spends one unit of the user's token rate for a mint, or
// returns the 429 to answer with.
func (a *Authenticator[U]) checkTokenRate(r *http.Request, id *Identity[U]) *failure {
	if a.tokenRate == nil {
		return nil
	}
	ok, wait := a.tokenRate.take(id.Account.ID)
	if ok {
		return nil
	}
	a.audit(r, false, id.Account.ID, ReasonTokenRateExceeded, id.transport)
	wait = retryAfter(wait)
	return &failure{status: http.StatusTooManyRequests, err: &ThrottledError{RetryAfter: wait, tokenRate: true}, retryAfter: wait}
}
