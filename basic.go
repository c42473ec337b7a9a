package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// credentials are what a request presented, parsed but not yet checked.
type credentials struct {
	// Transport is where the credentials came from.
	Transport transport
	// Login and Password are set for TransportBasic.
	Login, Password string
	// Token is set for the token transports.
	Token string
}

// Errors from parseAuthorization, besides ErrNoCredentials.
var (
	// errMalformedCredentials means the credentials could not be parsed,
	// or used a scheme other than Basic and Bearer.
	errMalformedCredentials = errors.New("httpauth: malformed credentials")
	// errAmbiguousCredentials means the request carried more than one set
	// of credentials (two Authorization lines, or a header and a token
	// header). It is a 400: neither is used.
	errAmbiguousCredentials = errors.New("httpauth: more than one set of credentials")
)

var basicB64 = base64.StdEncoding.Strict()

// maxStackBasic is the longest decoded Basic credential that decodeBasic
// handles without a heap buffer.
const maxStackBasic = 384

// parseAuthorization reads the credentials of r: Authorization (Basic or
// Bearer, ASCII case-insensitively, with exactly one space after the
// scheme) and, if tokenHeader is not empty, that header (any spelling:
// "X-API-Key" finds X-Api-Key). maxLen caps the header before anything is
// decoded. It never authenticates anything.
func parseAuthorization(r *http.Request, tokenHeader string, maxLen int) (credentials, error) {
	return parseCredentials(r, http.CanonicalHeaderKey(tokenHeader), maxLen, true)
}

// parseCredentials is ParseAuthorization with tokenHeader already
// canonical. The middleware passes checkBearer false: the signer's strict
// parse refuses every value outside b64token with the same 401
// invalid_token, and a token already verified (and cached) needs no second
// scan.
func parseCredentials(r *http.Request, tokenHeader string, maxLen int, checkBearer bool) (credentials, error) {
	auth := r.Header["Authorization"]
	var alt []string
	if tokenHeader != "" {
		alt = r.Header[tokenHeader]
	}
	switch {
	case len(auth)+len(alt) == 0:
		return credentials{}, ErrNoCredentials
	case len(auth)+len(alt) > 1,
		r.URL != nil && hasAccessTokenParam(r.URL.RawQuery):
		// RFC 6750 §2: one method only. The query is never read for a
		// token, but a token there beside a header is a 400.
		return credentials{}, errAmbiguousCredentials
	case len(alt) == 1:
		if len(alt[0]) > maxLen || alt[0] == "" {
			return credentials{Transport: transportHeader}, errMalformedCredentials
		}
		return credentials{Transport: transportHeader, Token: alt[0]}, nil
	}
	return parseAuthorizationValue(auth[0], maxLen, checkBearer)
}

// hasAccessTokenParam reports whether the raw query has an access_token
// parameter under any spelling that a query parser would decode to it
// (access%5Ftoken, %61ccess_token, ...), even in a pair that url.ParseQuery
// would drop as malformed.
func hasAccessTokenParam(raw string) bool {
	if raw == "" || !strings.Contains(raw, "access_token") && !strings.Contains(raw, "%") {
		return false // the common case, without a scan
	}
	for raw != "" {
		var pair string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		key, _, _ := strings.Cut(pair, "=")
		if key == "access_token" {
			return true
		}
		if strings.Contains(key, "%") {
			if k, err := url.QueryUnescape(key); err == nil && k == "access_token" {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only: schemes are ASCII
// tokens, and Unicode folding would let "Baſic" (long s) pass as Basic.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func parseAuthorizationValue(v string, maxLen int, checkBearer bool) (credentials, error) {
	if v == "" {
		return credentials{}, ErrNoCredentials
	}
	if len(v) > maxLen {
		if len(v) > 7 && asciiEqualFold(v[:7], "Bearer ") {
			return credentials{Transport: transportBearer}, errMalformedCredentials
		}
		return credentials{}, errMalformedCredentials
	}
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case asciiEqualFold(scheme, "Bearer"):
		if rest == "" || checkBearer && !isB64Token(rest) {
			return credentials{Transport: transportBearer}, errMalformedCredentials
		}
		return credentials{Transport: transportBearer, Token: rest}, nil
	case asciiEqualFold(scheme, "Basic"):
		login, password, err := decodeBasic(rest)
		if err != nil {
			return credentials{Transport: transportBasic}, err
		}
		if password == "" {
			// Flask-HTTPAuth's convention: the token as the username.
			return credentials{Transport: transportBasicToken, Token: login}, nil
		}
		return credentials{Transport: transportBasic, Login: login, Password: password}, nil
	}
	return credentials{}, errMalformedCredentials
}

// decodeBasic decodes token68 strictly: padded standard base64 with no
// stray bits, one colon-separated login and password, valid UTF-8 and no
// control characters in either.
func decodeBasic(s string) (login, password string, err error) {
	if s == "" {
		return "", "", errMalformedCredentials
	}
	// The base64 decoders skip CR and LF even in Strict mode: refuse them
	// so that credentials have exactly one accepted spelling.
	if strings.ContainsAny(s, "\r\n") {
		return "", "", errMalformedCredentials
	}
	// Usual credentials decode on the stack; the one string made from them
	// backs both the login and the password.
	var stack [maxStackBasic]byte
	var raw []byte
	if basicB64.DecodedLen(len(s)) <= len(stack) {
		n, err := basicB64.Decode(stack[:], []byte(s))
		if err != nil {
			return "", "", errMalformedCredentials
		}
		raw = stack[:n]
	} else {
		raw, err = basicB64.DecodeString(s)
		if err != nil {
			return "", "", errMalformedCredentials
		}
	}
	login, password, ok := strings.Cut(string(raw), ":")
	if !ok || !validCredentialText(login) || !validCredentialText(password) {
		return "", "", errMalformedCredentials
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
	// Taken before any account is read: a token minted for this request
	// is issued at it (see Identity.authTime).
	start := a.opt.now()
	creds, err := parseCredentials(r, a.cfg.TokenHeader, a.opt.maxHeaderLen, false)
	switch {
	case errors.Is(err, ErrNoCredentials):
		return nil, failNoCredentials // the caller decides whether that is a failure
	case errors.Is(err, errAmbiguousCredentials):
		a.audit(r, false, "", reasonAmbiguousCredentials, 0)
		return nil, failBadRequest
	case err != nil:
		a.audit(r, false, "", reasonMalformedCredentials, creds.Transport)
		if creds.Transport == transportBearer || creds.Transport == transportHeader {
			return nil, failInvalidToken // a failed token, whatever its transport
		}
		return nil, failUnauthorized
	}
	if creds.Transport != transportBasic {
		if passwordOnly {
			a.audit(r, false, "", reasonTokenCannotMintToken, creds.Transport)
			return nil, failUnauthorized
		}
		return a.authToken(r, creds)
	}
	ctx, f = a.authPassword(r, creds)
	if ac, ok := ctx.(*authContext[U]); ok {
		ac.id.authTime = start
	}
	return ctx, f
}

// authPassword checks a login and password. Every path that reaches the
// store runs exactly one password hash, whether the login exists or not.
func (a *Authenticator[U]) authPassword(r *http.Request, creds credentials) (context.Context, *failure) {
	ctx := r.Context()
	login := creds.Login
	if looksLikeToken(login) || parseAPIKey(login) {
		// "Basic base64(token:unused)": never a login, and never to be logged.
		a.audit(r, false, "", reasonTokenWithPassword, transportBasic)
		return nil, failUnauthorized
	}
	if len(creds.Password) > a.opt.maxPasswordLen || len(login) > 512 {
		a.audit(r, false, login, reasonTooLong, transportBasic)
		return nil, failUnauthorized
	}
	loginKey := a.loginThrottleKey(login)
	clientKey := ""
	if a.cfg.Throttle.Clients != nil {
		clientKey = "client:" + a.clientIP(r)
	}

	// A cached verification skips the hash. Concurrent requests with the
	// same login and password (a client's connections after its cache entry
	// expired) wait for one verification instead of each counting an
	// attempt, so a right password is never throttled by its own burst.
	var cacheKey credKey
	if a.cache != nil {
		cacheKey = a.cache.key(login, creds.Password)
		if ctx, f, hit := a.cachedPassword(r, login, loginKey, clientKey, cacheKey); hit {
			return ctx, f
		}
		wait, release := a.cache.join(cacheKey)
		if release != nil {
			defer release()
		} else {
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, failBusy
			}
			if ctx, f, hit := a.cachedPassword(r, login, loginKey, clientKey, cacheKey); hit {
				return ctx, f
			}
		}
	}

	// Every other attempt is counted before it waits for a hash slot or
	// hashes: a refused one costs no hash and no slot, and concurrency
	// cannot get more hashes through than the limit.
	if f := a.reserveAttempt(r, login, loginKey, clientKey); f != nil {
		return nil, f
	}
	acct, f := a.guessWithSlot(r, login, creds.Password, loginKey)
	if f != nil {
		return nil, f
	}
	return a.finishPassword(r, login, acct, cacheKey, false)
}

// cachedPassword answers from the verified-credential cache, but only
// while the stored hash is the one the entry was made against. It reserves
// nothing, since it runs no hash, but a locked login is refused even with
// the right password. hit is false when the cache cannot answer.
func (a *Authenticator[U]) cachedPassword(r *http.Request, login, loginKey, clientKey string, k credKey) (ctx context.Context, f *failure, hit bool) {
	e, ok := a.cache.get(k)
	if !ok {
		return nil, nil, false
	}
	if f := a.checkThrottle(r, login, loginKey, clientKey); f != nil {
		return nil, f, true
	}
	acct, err := a.cfg.Users.UserByLogin(r.Context(), login)
	if err != nil && !isNotFound(err) {
		return nil, internalFailure(err), true
	}
	if err == nil && e.matches(acct.ID, acct.PasswordHash, acct.Disabled) {
		ctx, f = a.finishPassword(r, login, acct, k, true)
		return ctx, f, true
	}
	a.cache.remove(k)
	return nil, nil, false
}

// guessWithSlot runs one reserved guess: it holds a hash slot across the
// hash (and a rehash), so every hash is bounded by the slots, and on
// success resets the login's count. The per-client count is left as it is:
// a success must not wipe a client's budget, or one valid account would
// let its holder spray guesses at every other login.
func (a *Authenticator[U]) guessWithSlot(r *http.Request, login, password, loginKey string) (*Account[U], *failure) {
	ctx := r.Context()
	select {
	case a.hashSlots <- struct{}{}:
		defer func() { <-a.hashSlots }() // released even if the store or hasher panics
	case <-ctx.Done():
		return nil, failBusy
	}
	acct, ok, f := a.verifyPassword(r, login, password)
	if f != nil {
		return nil, f
	}
	if !ok {
		return nil, failUnauthorized
	}
	if a.cfg.Throttle.Logins != nil {
		if err := a.cfg.Throttle.Logins.Reset(ctx, loginKey); err != nil {
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
		// The dummy hash's error counts like a real one's: a failing
		// hasher is a 500 for every login, or it would tell which exist.
		hashStart := time.Now()
		_, err := a.cfg.Hasher.Verify(ctx, a.dummyHash, password)
		a.hashed(r, time.Since(hashStart))
		if err != nil {
			return nil, false, internalFailure(err)
		}
		a.audit(r, false, login, reasonUnknownLogin, transportBasic)
		return nil, false, nil
	}
	hashStart := time.Now()
	match, err := a.cfg.Hasher.Verify(ctx, acct.PasswordHash, password)
	a.hashed(r, time.Since(hashStart))
	switch {
	case errors.Is(err, ErrUntrustedHash):
		a.reportError(r, err)
		a.audit(r, false, login, reasonUntrustedHash, transportBasic)
		return nil, false, nil
	case err != nil:
		return nil, false, internalFailure(err)
	case !match:
		a.audit(r, false, login, reasonWrongPassword, transportBasic)
		return nil, false, nil
	case acct.Disabled:
		a.audit(r, false, login, reasonDisabled, transportBasic)
		return nil, false, nil
	}
	return acct, true, nil
}

// checkThrottle peeks at the limiters without counting, for a credential
// verified earlier (no hash runs): a locked login or client is a 429.
func (a *Authenticator[U]) checkThrottle(r *http.Request, login, loginKey, clientKey string) *failure {
	if a.cfg.Throttle.Logins != nil {
		if f := a.throttleVerdict(r, login, a.cfg.Throttle.Logins.Allow, loginKey); f != nil {
			return f
		}
	}
	if clientKey != "" {
		return a.throttleVerdict(r, login, a.cfg.Throttle.Clients.Allow, clientKey)
	}
	return nil
}

// reserveAttempt counts one attempt against the client (if ClientLimiter
// is set) and then the login, before any hash. The client goes first so
// that a throttled client cannot spend a login's budget. A refusal is a
// 429; a limiter error is a 500, so a limiter that cannot count (say, a
// full Redis) never lets a guess reach the hasher.
func (a *Authenticator[U]) reserveAttempt(r *http.Request, login, loginKey, clientKey string) *failure {
	if clientKey != "" {
		if f := a.throttleVerdict(r, login, a.cfg.Throttle.Clients.Reserve, clientKey); f != nil {
			return f
		}
	}
	if a.cfg.Throttle.Logins != nil {
		return a.throttleVerdict(r, login, a.cfg.Throttle.Logins.Reserve, loginKey)
	}
	return nil
}

func (a *Authenticator[U]) throttleVerdict(r *http.Request, login string, ask func(context.Context, string) (bool, time.Duration, error), key string) *failure {
	ok, wait, err := ask(r.Context(), key)
	if err != nil {
		return internalFailure(err)
	}
	if !ok {
		a.audit(r, false, login, reasonThrottled, transportBasic)
		return &failure{status: 429, err: &ThrottledError{RetryAfter: wait}, retryAfter: wait}
	}
	return nil
}

// finishPassword runs the account check and builds the identity.
func (a *Authenticator[U]) finishPassword(r *http.Request, login string, acct *Account[U], cacheKey credKey, cached bool) (context.Context, *failure) {
	// Hooks and handlers get the request's copy, never the store's account.
	ac := newAuthContext(r.Context(), acct, PasswordCredential, transportBasic, Claims{}, time.Time{})
	if f := a.checkAccount(r, login, &ac.acct, transportBasic); f != nil {
		if a.cache != nil {
			a.cache.remove(cacheKey)
		}
		return nil, f
	}
	if a.cache != nil && !cached {
		a.cache.put(cacheKey, acct.ID, acct.PasswordHash)
	}
	a.audit(r, true, login, reasonPassword, transportBasic)
	return ac, nil
}

func (a *Authenticator[U]) checkAccount(r *http.Request, who string, acct *Account[U], t transport) *failure {
	if a.cfg.CheckAccount == nil {
		return nil
	}
	err := a.cfg.CheckAccount(r, acct)
	if err == nil {
		return nil
	}
	var fe *forbiddenError
	if errors.As(err, &fe) {
		a.audit(r, false, who, reasonAccountCheck, t)
		return &failure{status: http.StatusForbidden, err: fe}
	}
	return internalFailure(err)
}

// maybeRehash offers a stronger hash to the store after a login with a
// hash below policy. Failures are reported, not fatal: the login stands.
func (a *Authenticator[U]) maybeRehash(r *http.Request, acct *Account[U], password string) {
	rh, ok := a.cfg.Users.(passwordRehasher)
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
func (a *Authenticator[U]) authToken(r *http.Request, creds credentials) (context.Context, *failure) {
	if isAPIKeyShaped(creds.Token) {
		return a.authAPIKey(r, creds) // before the signer: keys are not tokens
	}
	ctx := r.Context()
	claims, err := a.cfg.Signer.Verify(ctx, creds.Token)
	if err != nil {
		switch {
		case errors.Is(err, ErrTokenExpired):
			a.audit(r, false, "", reasonTokenExpired, creds.Transport)
			return nil, failExpiredToken
		case errors.Is(err, ErrTokenInvalid):
			a.audit(r, false, "", reasonTokenInvalid, creds.Transport)
			return nil, failInvalidToken
		}
		return nil, internalFailure(err)
	}
	revoked, err := a.cfg.Revocations.IsRevoked(ctx, claims.ID)
	if err != nil {
		return nil, internalFailure(err)
	}
	if revoked {
		a.audit(r, false, claims.Subject, reasonTokenRevoked, creds.Transport)
		return nil, failInvalidToken
	}
	acct, err := a.cfg.Users.UserByID(ctx, claims.Subject)
	if err != nil {
		if !isNotFound(err) {
			return nil, internalFailure(err)
		}
		a.audit(r, false, claims.Subject, reasonTokenUnknownUser, creds.Transport)
		return nil, failInvalidToken
	}
	if acct.Disabled || !issuedAfter(claims.IssuedAt, acct.TokensValidAfter) {
		a.audit(r, false, claims.Subject, reasonTokenUserCutoff, creds.Transport)
		return nil, failInvalidToken
	}
	ac := newAuthContext(ctx, acct, TokenCredential, creds.Transport, claims, time.Time{})
	if f := a.checkAccount(r, claims.Subject, &ac.acct, creds.Transport); f != nil {
		return nil, f
	}
	a.audit(r, true, claims.Subject, reasonToken, creds.Transport)
	return ac, nil
}

// issuedAfter reports whether a token issued at iat survives the cutoff: iat,
// truncated down to the microsecond, must be strictly after it. A store that
// keeps microseconds (most SQL databases) then cannot round a cutoff down
// below a token minted just before the change.
func issuedAfter(iat, cutoff time.Time) bool {
	if cutoff.IsZero() {
		return true
	}
	return iat.Truncate(time.Microsecond).After(cutoff)
}

// loginThrottleKey is the key the per-login limiter counts against: the
// store's canonical login if it is a loginKeyer, so every spelling the
// store matches shares one budget, and strings.ToLower(login) otherwise.
func (a *Authenticator[U]) loginThrottleKey(login string) string {
	if k, ok := a.cfg.Users.(loginKeyer); ok {
		return "login:" + k.LoginKey(login)
	}
	return "login:" + strings.ToLower(login)
}

// looksLikeToken reports whether s has the token layout kid.payload.mac,
// with a MAC-sized last segment.
func looksLikeToken(s string) bool {
	i := strings.LastIndexByte(s, '.')
	return i > 0 && len(s)-i-1 == macB64Len && strings.Count(s, ".") == 2 && isB64Token(s)
}
