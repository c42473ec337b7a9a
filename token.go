package httpauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Claims are what a token says about itself.
type Claims struct {
	// Subject is the Account.ID of the user the token was issued to.
	Subject string
	// ID is the token's random 128-bit identifier, used for revocation.
	ID [16]byte
	// IssuedAt is when the token was minted.
	IssuedAt time.Time
	// ExpiresAt is when the token stops verifying. Mandatory.
	ExpiresAt time.Time
	// KeyID names the key of the ring that signed the token. Set by
	// Verify; ignored by Sign, which always uses the first key.
	KeyID string
}

// newClaims returns claims for subject issued at now that expire after ttl,
// with a fresh random ID.
func newClaims(subject string, now time.Time, ttl time.Duration) Claims {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	return Claims{Subject: subject, ID: id, IssuedAt: now, ExpiresAt: now.Add(ttl)}
}

// TokenSigner turns claims into a token string and back. Implementations
// must be safe for concurrent use.
type TokenSigner interface {
	// Sign returns a token carrying claims. Claims without a subject, an
	// ID or an expiry after IssuedAt are an error.
	Sign(ctx context.Context, c Claims) (string, error)

	// Verify checks token and returns its claims. The error wraps exactly
	// one of ErrTokenInvalid (malformed, forged, unknown key, other
	// purpose, issued in the future) or ErrTokenExpired (genuine but past
	// its expiry). Any other error is a signer failure (500).
	Verify(ctx context.Context, token string) (Claims, error)
}

// IssueToken mints a token for the account with ID subject, valid for
// Config.TokenTTL. Hosts normally mount TokenHandler instead.
func (a *Authenticator[U]) IssueToken(ctx context.Context, subject string) (token string, c Claims, err error) {
	return a.issueToken(ctx, subject, time.Now())
}

// issueToken mints a token issued at iat.
func (a *Authenticator[U]) issueToken(ctx context.Context, subject string, iat time.Time) (token string, c Claims, err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			token, err = "", fmt.Errorf("httpauth: signer panicked: %v", p)
		}
	}()
	c = newClaims(subject, iat, a.cfg.TokenTTL)
	token, err = a.cfg.Signer.Sign(ctx, c)
	return token, c, err
}

// authToken checks a token, at now, and the account it names.
func (a *Authenticator[U]) authToken(r *http.Request, creds credentials, now time.Time) (context.Context, *failure) {
	if isAPIKeyShaped(creds.Token) {
		return a.authAPIKey(r, creds) // before the signer: keys are not tokens
	}
	ctx := r.Context()
	claims, err := a.verifyToken(ctx, creds.Token, now)
	if err != nil {
		switch {
		case errors.Is(err, ErrTokenExpired):
			a.audit(r, false, "", ReasonTokenExpired, creds.Transport)
			return nil, failExpiredToken
		case errors.Is(err, ErrTokenInvalid):
			a.audit(r, false, "", ReasonTokenInvalid, creds.Transport)
			return nil, failInvalidToken
		}
		return nil, internalFailure(err)
	}
	revoked, err := a.cfg.Revocations.IsRevoked(ctx, claims.ID)
	if err != nil {
		return nil, internalFailure(err)
	}
	if revoked {
		a.audit(r, false, claims.Subject, ReasonTokenRevoked, creds.Transport)
		return nil, failInvalidToken
	}
	acct, err := a.cfg.Users.UserByID(ctx, claims.Subject)
	if err != nil {
		if !isNotFound(err) {
			return nil, internalFailure(err)
		}
		a.audit(r, false, claims.Subject, ReasonTokenUnknownUser, creds.Transport)
		return nil, failInvalidToken
	}
	if acct.Disabled || !issuedAfter(claims.IssuedAt, acct.TokensValidAfter) {
		a.audit(r, false, claims.Subject, ReasonTokenUserCutoff, creds.Transport)
		return nil, failInvalidToken
	}
	ac := newAuthContext(ctx, acct, TokenCredential, creds.Transport, claims, nil)
	if f := a.checkAccount(r, claims.Subject, ac); f != nil {
		return nil, f
	}
	a.audit(r, true, claims.Subject, ReasonToken, creds.Transport)
	return ac, nil
}

// verifyToken is Config.Signer's Verify, except that the default signer checks the
// token's times against now, the request's one clock reading, rather than
// reading the clock again (a tenth of a cached token check's time), and
// hands out the claims its cache holds rather than a copy.
func (a *Authenticator[U]) verifyToken(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if s, ok := a.cfg.Signer.(*HMACSigner); ok {
		return s.verifyRef(ctx, token, now)
	}
	c, err := a.cfg.Signer.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// issuedAfter reports whether a token issued at iat survives the cutoff: iat,
// truncated down to the microsecond, must be strictly after it. A store that
// keeps microseconds (most SQL databases) then cannot round a cutoff down
// below a token minted just before the change.
func issuedAfter(iat, cutoff time.Time) bool {
	if cutoff.IsZero() {
		return true
	}
	// iat.Truncate(time.Microsecond).After(cutoff) on the wall clock, by
	// parts: a tenth of the cost, and no overflow for far-off times.
	is, cs := iat.Unix(), cutoff.Unix()
	if is != cs {
		return is > cs
	}
	return iat.Nanosecond()/1000*1000 > cutoff.Nanosecond()
}
