package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Credentials are what a request presented, parsed but not yet checked.
type Credentials struct {
	// Transport is where the credentials came from.
	Transport Transport
	// Login and Password are set for TransportBasic.
	Login, Password string
	// Token is set for the token transports.
	Token string
}

// Errors from ParseAuthorization.
var (
	// ErrNoCredentials means the request carried no credentials.
	ErrNoCredentials = errors.New("httpauth: no credentials")
	// ErrMalformedCredentials means the credentials could not be parsed,
	// or used a scheme other than Basic and Bearer.
	ErrMalformedCredentials = errors.New("httpauth: malformed credentials")
	// ErrAmbiguousCredentials means the request carried more than one set
	// of credentials (two Authorization lines, or a header and a token
	// header). It is a 400: neither is used.
	ErrAmbiguousCredentials = errors.New("httpauth: more than one set of credentials")
)

var basicB64 = base64.StdEncoding.Strict()

// maxStackBasic is the longest decoded Basic credential that decodeBasic
// handles without a heap buffer.
const maxStackBasic = 384

// ParseAuthorization reads the credentials of r: Authorization (Basic or
// Bearer, case-insensitively, with exactly one space after the scheme) and,
// if tokenHeader is not empty, that header. maxLen caps the header before
// anything is decoded. It never authenticates anything.
func ParseAuthorization(r *http.Request, tokenHeader string, maxLen int) (Credentials, error) {
	return parseCredentials(r, tokenHeader, maxLen, true)
}

// parseCredentials is ParseAuthorization. The middleware passes
// checkBearer false: the signer's strict parse refuses every value outside
// b64token with the same 401 invalid_token, and a token already verified
// (and cached) needs no second scan.
func parseCredentials(r *http.Request, tokenHeader string, maxLen int, checkBearer bool) (Credentials, error) {
	auth := r.Header["Authorization"]
	var alt []string
	if tokenHeader != "" {
		alt = r.Header[tokenHeader]
	}
	switch {
	case len(auth)+len(alt) == 0:
		return Credentials{}, ErrNoCredentials
	case len(auth)+len(alt) > 1,
		r.URL != nil && strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token"):
		// RFC 6750 §2: one method only. The query is never read for a
		// token, but a token there beside a header is a 400.
		return Credentials{}, ErrAmbiguousCredentials
	case len(alt) == 1:
		if len(alt[0]) > maxLen || alt[0] == "" {
			return Credentials{}, ErrMalformedCredentials
		}
		return Credentials{Transport: TransportHeader, Token: alt[0]}, nil
	}
	return parseAuthorizationValue(auth[0], maxLen, checkBearer)
}

func parseAuthorizationValue(v string, maxLen int, checkBearer bool) (Credentials, error) {
	if v == "" {
		return Credentials{}, ErrNoCredentials
	}
	if len(v) > maxLen {
		if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			return Credentials{Transport: TransportBearer}, ErrMalformedCredentials
		}
		return Credentials{}, ErrMalformedCredentials
	}
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" || checkBearer && !isB64Token(rest) {
			return Credentials{Transport: TransportBearer}, ErrMalformedCredentials
		}
		return Credentials{Transport: TransportBearer, Token: rest}, nil
	case strings.EqualFold(scheme, "Basic"):
		login, password, err := decodeBasic(rest)
		if err != nil {
			return Credentials{Transport: TransportBasic}, err
		}
		if password == "" {
			// Flask-HTTPAuth's convention: the token as the username.
			return Credentials{Transport: TransportBasicToken, Token: login}, nil
		}
		return Credentials{Transport: TransportBasic, Login: login, Password: password}, nil
	}
	return Credentials{}, ErrMalformedCredentials
}

// decodeBasic decodes token68 strictly: padded standard base64 with no
// stray bits, one colon-separated login and password, valid UTF-8 and no
// control characters in either.
func decodeBasic(s string) (login, password string, err error) {
	if s == "" {
		return "", "", ErrMalformedCredentials
	}
	// The base64 decoders skip CR and LF even in Strict mode: refuse them
	// so that credentials have exactly one accepted spelling.
	if strings.ContainsAny(s, "\r\n") {
		return "", "", ErrMalformedCredentials
	}
	// Usual credentials decode on the stack; the one string made from them
	// backs both the login and the password.
	var stack [maxStackBasic]byte
	var raw []byte
	if basicB64.DecodedLen(len(s)) <= len(stack) {
		n, err := basicB64.Decode(stack[:], []byte(s))
		if err != nil {
			return "", "", ErrMalformedCredentials
		}
		raw = stack[:n]
	} else {
		raw, err = basicB64.DecodeString(s)
		if err != nil {
			return "", "", ErrMalformedCredentials
		}
	}
	login, password, ok := strings.Cut(string(raw), ":")
	if !ok || !validCredentialText(login) || !validCredentialText(password) {
		return "", "", ErrMalformedCredentials
	}
	return login, password, nil
}

// validCredentialText rejects invalid UTF-8 and control characters
// (RFC 7617: no CTLs), so that NUL can never truncate a comparison.
func validCredentialText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// b64tokenChar marks the bytes of RFC 6750's b64token, before any "=".
var b64tokenChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// isB64Token reports whether s matches RFC 6750's b64token.
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// authenticate checks r's credentials. It returns a context carrying the
// identity, or the failure to answer with. passwordOnly refuses tokens, as
// the token endpoint must.
func (a *Authenticator[U]) authenticate(r *http.Request, passwordOnly bool) (ctx context.Context, f *failure) {
	defer recoverFailure(&f)
	creds, err := parseCredentials(r, a.cfg.TokenHeader, a.cfg.MaxHeaderLen, false)
	switch {
	case errors.Is(err, ErrNoCredentials):
		a.audit(r, false, "", "no_credentials", 0)
		return nil, failNoCredentials
	case errors.Is(err, ErrAmbiguousCredentials):
		a.audit(r, false, "", "ambiguous_credentials", 0)
		return nil, failBadRequest
	case err != nil:
		a.audit(r, false, "", "malformed_credentials", creds.Transport)
		if creds.Transport == TransportBearer {
			return nil, failInvalidToken
		}
		return nil, failUnauthorized
	}
	if creds.Transport != TransportBasic {
		if passwordOnly {
			a.audit(r, false, "", "token_cannot_mint_token", creds.Transport)
			return nil, failUnauthorized
		}
		return a.authToken(r, creds)
	}
	return a.authPassword(r, creds)
}

// authPassword checks a login and password. Every path that reaches the
// store runs exactly one password hash, whether the login exists or not.
func (a *Authenticator[U]) authPassword(r *http.Request, creds Credentials) (context.Context, *failure) {
	ctx := r.Context()
	login := creds.Login
	if looksLikeToken(login) {
		// "Basic base64(token:unused)": never a login, and never to be logged.
		a.audit(r, false, "", "token_with_password", TransportBasic)
		return nil, failUnauthorized
	}
	if len(creds.Password) > a.cfg.MaxPasswordLen || len(login) > 512 {
		a.audit(r, false, login, "too_long", TransportBasic)
		return nil, failUnauthorized
	}
	loginKey := "login:" + strings.ToLower(login)
	clientKey := ""
	if a.cfg.ClientLimiter != nil {
		clientKey = "client:" + a.clientIP(r)
	}
	// Checked here so that a throttled login (cached or not) never waits
	// for a hash slot, and again inside the slot in guessWithSlot, where it
	// is what bounds concurrent guesses.
	if f := a.checkThrottle(r, login, loginKey, clientKey); f != nil {
		return nil, f
	}

	// A cached verification skips the hash, but only while the stored hash
	// is the one it was made against.
	var cacheKey credKey
	if a.cache != nil {
		cacheKey = a.cache.key(login, creds.Password)
		if e, ok := a.cache.get(cacheKey); ok {
			acct, err := a.cfg.Users.UserByLogin(ctx, login)
			if err != nil && !isNotFound(err) {
				return nil, internalFailure(err)
			}
			if err == nil && e.matches(acct.ID, acct.PasswordHash, acct.Disabled) {
				return a.finishPassword(r, login, acct, cacheKey, true)
			}
			a.cache.remove(cacheKey)
		}
	}

	acct, f := a.guessWithSlot(r, login, creds.Password, loginKey, clientKey)
	if f != nil {
		return nil, f
	}
	return a.finishPassword(r, login, acct, cacheKey, false)
}

// guessWithSlot holds a hash slot across the throttle check, the hash and
// the failure count (and a rehash), so that at most MaxConcurrentHashes
// guesses are ever between Allow and Fail: concurrency cannot multiply the
// throttle's limit, and every hash is bounded by the slots.
func (a *Authenticator[U]) guessWithSlot(r *http.Request, login, password, loginKey, clientKey string) (*Account[U], *failure) {
	ctx := r.Context()
	select {
	case a.hashSlots <- struct{}{}:
		defer func() { <-a.hashSlots }() // released even if the store or hasher panics
	case <-ctx.Done():
		return nil, failBusy
	}
	if f := a.checkThrottle(r, login, loginKey, clientKey); f != nil {
		return nil, f
	}
	acct, ok, f := a.verifyPassword(r, login, password)
	if f != nil {
		return nil, f
	}
	if !ok {
		if f := a.recordFailure(ctx, loginKey, clientKey); f != nil {
			return nil, f
		}
		return nil, failUnauthorized
	}
	if a.limiter != nil {
		if err := a.limiter.Reset(ctx, loginKey); err != nil {
			return nil, internalFailure(err)
		}
	}
	a.maybeRehash(r, acct, password)
	return acct, nil
}

// verifyPassword runs the one hash of a password check. ok is false for an
// unknown login, a wrong password, a disabled account or an untrusted
// stored hash, which all look the same to the client.
func (a *Authenticator[U]) verifyPassword(r *http.Request, login, password string) (*Account[U], bool, *failure) {
	ctx := r.Context()
	acct, err := a.cfg.Users.UserByLogin(ctx, login)
	if err != nil && !isNotFound(err) {
		return nil, false, internalFailure(err)
	}
	if err != nil {
		_, _ = a.cfg.Hasher.Verify(ctx, a.dummyHash, password)
		a.audit(r, false, login, "unknown_login", TransportBasic)
		return nil, false, nil
	}
	match, err := a.cfg.Hasher.Verify(ctx, acct.PasswordHash, password)
	switch {
	case errors.Is(err, ErrUntrustedHash):
		a.reportError(r, err)
		a.audit(r, false, login, "untrusted_hash", TransportBasic)
		return nil, false, nil
	case err != nil:
		return nil, false, internalFailure(err)
	case !match:
		a.audit(r, false, login, "wrong_password", TransportBasic)
		return nil, false, nil
	case acct.Disabled:
		a.audit(r, false, login, "disabled", TransportBasic)
		return nil, false, nil
	}
	return acct, true, nil
}

func (a *Authenticator[U]) checkThrottle(r *http.Request, login, loginKey, clientKey string) *failure {
	check := func(l Limiter, key string) *failure {
		ok, wait, err := l.Allow(r.Context(), key)
		if err != nil {
			return internalFailure(err)
		}
		if !ok {
			a.audit(r, false, login, "throttled", TransportBasic)
			return &failure{status: 429, err: &ThrottledError{RetryAfter: wait}, retryAfter: wait}
		}
		return nil
	}
	if a.limiter != nil {
		if f := check(a.limiter, loginKey); f != nil {
			return f
		}
	}
	if clientKey != "" {
		return check(a.cfg.ClientLimiter, clientKey)
	}
	return nil
}

func (a *Authenticator[U]) recordFailure(ctx context.Context, loginKey, clientKey string) *failure {
	if a.limiter != nil {
		if err := a.limiter.Fail(ctx, loginKey); err != nil {
			return internalFailure(err)
		}
	}
	if clientKey != "" {
		if err := a.cfg.ClientLimiter.Fail(ctx, clientKey); err != nil {
			return internalFailure(err)
		}
	}
	return nil
}

// finishPassword runs the account check and builds the identity.
func (a *Authenticator[U]) finishPassword(r *http.Request, login string, acct *Account[U], cacheKey credKey, cached bool) (context.Context, *failure) {
	if f := a.checkAccount(r, login, acct, TransportBasic); f != nil {
		if a.cache != nil {
			a.cache.remove(cacheKey)
		}
		return nil, f
	}
	if a.cache != nil && !cached {
		a.cache.put(cacheKey, acct.ID, acct.PasswordHash)
	}
	a.audit(r, true, login, "password", TransportBasic)
	return &authContext[U]{Context: r.Context(), id: Identity[U]{Account: acct, Method: MethodPassword, Transport: TransportBasic}}, nil
}

func (a *Authenticator[U]) checkAccount(r *http.Request, who string, acct *Account[U], t Transport) *failure {
	if a.cfg.CheckAccount == nil {
		return nil
	}
	err := a.cfg.CheckAccount(r.Context(), acct)
	if err == nil {
		return nil
	}
	var fe *ForbiddenError
	if errors.As(err, &fe) {
		a.audit(r, false, who, "account_check", t)
		return &failure{status: http.StatusForbidden, err: fe}
	}
	return internalFailure(err)
}

// maybeRehash offers a stronger hash to the store after a login with a
// hash below policy. Failures are reported, not fatal: the login stands.
func (a *Authenticator[U]) maybeRehash(r *http.Request, acct *Account[U], password string) {
	rh, ok := a.cfg.Users.(PasswordRehasher)
	if !ok || !a.cfg.Hasher.NeedsRehash(r.Context(), acct.PasswordHash) {
		return
	}
	hash, err := a.cfg.Hasher.Hash(r.Context(), password)
	if err == nil {
		err = rh.UpdatePasswordHash(r.Context(), acct.ID, acct.PasswordHash, hash)
	}
	if err != nil {
		a.reportError(r, err)
	}
}

// authToken checks a token and the account it names.
func (a *Authenticator[U]) authToken(r *http.Request, creds Credentials) (context.Context, *failure) {
	ctx := r.Context()
	claims, err := a.signer.Verify(ctx, creds.Token)
	if err != nil {
		switch {
		case errors.Is(err, ErrTokenExpired):
			a.audit(r, false, "", "token_expired", creds.Transport)
		case errors.Is(err, ErrTokenInvalid):
			a.audit(r, false, "", "token_invalid", creds.Transport)
		default:
			return nil, internalFailure(err)
		}
		return nil, failInvalidToken
	}
	revoked, err := a.cfg.Revocations.IsRevoked(ctx, claims.ID)
	if err != nil {
		return nil, internalFailure(err)
	}
	if revoked {
		a.audit(r, false, claims.Subject, "token_revoked", creds.Transport)
		return nil, failInvalidToken
	}
	acct, err := a.cfg.Users.UserByID(ctx, claims.Subject)
	if err != nil {
		if !isNotFound(err) {
			return nil, internalFailure(err)
		}
		a.audit(r, false, claims.Subject, "token_unknown_user", creds.Transport)
		return nil, failInvalidToken
	}
	if acct.Disabled || claims.IssuedAt.Before(acct.TokensValidAfter) {
		a.audit(r, false, claims.Subject, "token_user_disabled_or_cutoff", creds.Transport)
		return nil, failInvalidToken
	}
	if f := a.checkAccount(r, claims.Subject, acct, creds.Transport); f != nil {
		return nil, f
	}
	a.audit(r, true, claims.Subject, "token", creds.Transport)
	return &authContext[U]{Context: ctx, id: Identity[U]{Account: acct, Method: MethodToken, Transport: creds.Transport, Claims: claims}}, nil
}

// looksLikeToken reports whether s has the token layout kid.payload.mac,
// with a MAC-sized last segment.
func looksLikeToken(s string) bool {
	i := strings.LastIndexByte(s, '.')
	return i > 0 && len(s)-i-1 == macB64Len && strings.Count(s, ".") == 2 && isB64Token(s)
}
