package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

var basicB64 = base64.StdEncoding.Strict()

// maxStackBasic is the longest decoded Basic credential that decodeBasic
// handles without a heap buffer.
const maxStackBasic = 384

// decodeBasic decodes token68 strictly: padded standard base64 with no
// stray bits, one colon-separated login and password, and no control
// characters in either. Credentials are UTF-8 (RFC 7617's charset); bytes
// that are not valid UTF-8 are read as ISO-8859-1, which Python's requests
// and browsers' btoa send, and which no valid UTF-8 can be mistaken for,
// so "pässwörd" is the same password whichever of the two a client sent.
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
	text := string(raw)
	if !utf8.ValidString(text) {
		if text, err = latin1(raw); err != nil {
			return "", "", err
		}
	}
	login, password, ok := strings.Cut(text, ":")
	if !ok || !validCredentialText(login) || !validCredentialText(password) {
		return "", "", errMalformedCredentials
	}
	return login, password, nil
}

// latin1 reads b as ISO-8859-1. Its C1 controls (0x80–0x9F) are
// refused, as the C0 ones are.
func latin1(b []byte) (string, error) {
	r := make([]rune, len(b))
	for i, c := range b {
		if c >= 0x80 && c < 0xa0 {
			return "", errMalformedCredentials
		}
		r[i] = rune(c)
	}
	return string(r), nil
}

// authPassword checks a login and password. Every path that reaches the
// store runs exactly one password hash, whether the login exists or not.
// passwordAttempt is one password check, built once: the request, the
// credentials, and the keys the limiters and the cache count them under.
type passwordAttempt struct {
	r         *http.Request
	login     string
	password  string
	loginKey  string    // the per-login limiter's key
	clientKey string    // the per-client limiter's key; "" without Throttle.Clients
	cacheKey  credKey   // the verified-password cache's key; zero without a cache
	start     time.Time // when authentication began: a minted token's issue time
}

func (a *Authenticator[U]) authPassword(r *http.Request, creds credentials, start time.Time) (context.Context, *failure) {
	ctx := r.Context()
	login := creds.Login
	if looksLikeToken(login) || parseAPIKey(login) {
		// "Basic base64(token:unused)": never a login, and never to be logged.
		a.audit(r, false, "", ReasonTokenWithPassword, transportBasic)
		return nil, failUnauthorized
	}
	if len(creds.Password) > maxPasswordLen || len(login) > 512 {
		a.audit(r, false, a.loginRef(login), ReasonTooLong, transportBasic)
		return nil, failUnauthorized
	}
	at := &passwordAttempt{r: r, login: login, password: creds.Password, loginKey: a.loginThrottleKey(login), start: start}
	if a.cfg.Throttle.Clients != nil {
		at.clientKey = "client:" + a.clientIP(r)
	}

	// A cached verification skips the hash. Concurrent requests with the
	// same login and password (a client's connections after its cache entry
	// expired) wait for one verification instead of each counting an
	// attempt, so a right password is never throttled by its own burst.
	if a.cache != nil {
		// The canonical login: every spelling the store matches to one
		// account shares one entry, as it shares one throttle budget.
		at.cacheKey = a.cache.key(at.loginKey, at.password)
		if ctx, f, hit := a.cachedPassword(at); hit {
			return ctx, f
		}
		wait, release := a.cache.join(at.cacheKey)
		if release != nil {
			defer release()
		} else {
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, failBusy
			}
			if ctx, f, hit := a.cachedPassword(at); hit {
				return ctx, f
			}
		}
	}

	// Every other attempt is counted before it waits for a hash slot or
	// hashes: a refused one costs no hash and no slot, and concurrency
	// cannot get more hashes through than the limit.
	if f := a.reserveAttempt(at); f != nil {
		return nil, f
	}
	acct, f := a.guessWithSlot(at)
	if f != nil {
		return nil, f
	}
	return a.finishPassword(at, acct, false)
}

// cachedPassword answers from the verified-credential cache, but only
// while the stored hash is the one the entry was made against. It reserves
// nothing, since it runs no hash, but a locked login is refused even with
// the right password. hit is false when the cache cannot answer.
func (a *Authenticator[U]) cachedPassword(at *passwordAttempt) (ctx context.Context, f *failure, hit bool) {
	e, ok := a.cache.get(at.cacheKey)
	if !ok {
		return nil, nil, false
	}
	if f := a.checkThrottle(at); f != nil {
		return nil, f, true
	}
	acct, err := a.cfg.Users.UserByLogin(at.r.Context(), at.login)
	if err != nil && !isNotFound(err) {
		return nil, internalFailure(err), true
	}
	if err == nil && e.matches(acct.ID, acct.PasswordHash, acct.Disabled) {
		ctx, f = a.finishPassword(at, acct, true)
		return ctx, f, true
	}
	a.cache.remove(at.cacheKey)
	return nil, nil, false
}

// guessWithSlot runs one reserved guess: it holds a hash slot across the
// hash (and a rehash), so every hash is bounded by the slots, and on
// success resets the login's count. The per-client count is left as it is:
// a success must not wipe a client's budget, or one valid account would
// let its holder spray guesses at every other login.
func (a *Authenticator[U]) guessWithSlot(at *passwordAttempt) (*Account[U], *failure) {
	ctx := at.r.Context()
	release, err := a.acquireHashSlot(ctx)
	if err != nil {
		return nil, failBusy
	}
	defer release() // even if the store or hasher panics
	acct, ok, f := a.verifyPassword(at)
	if f != nil {
		return nil, f
	}
	if !ok {
		return nil, failUnauthorized
	}
	if a.cfg.Throttle.Logins != nil {
		if err := a.cfg.Throttle.Logins.Reset(ctx, at.loginKey); err != nil {
			return nil, internalFailure(err)
		}
	}
	a.maybeRehash(at.r, acct, at.password)
	return acct, nil
}

// verifyPassword runs the one hash of a password check. ok is false for an
// unknown login, a wrong password, a disabled account or an untrusted
// stored hash, which all look the same to the client.
func (a *Authenticator[U]) verifyPassword(at *passwordAttempt) (*Account[U], bool, *failure) {
	r, login, password := at.r, at.login, at.password
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
		a.badCredentials(r, login)
		return nil, false, nil
	}
	hashStart := time.Now()
	match, err := a.cfg.Hasher.Verify(ctx, acct.PasswordHash, password)
	a.hashed(r, time.Since(hashStart))
	switch {
	case errors.Is(err, ErrUntrustedHash):
		a.reportError(r, err)
		a.badCredentials(r, login)
		return nil, false, nil
	case err != nil:
		return nil, false, internalFailure(err)
	case !match:
		a.badCredentials(r, login)
		return nil, false, nil
	case acct.Disabled:
		a.audit(r, false, login, ReasonDisabled, transportBasic)
		return nil, false, nil
	}
	return acct, true, nil
}

// checkThrottle peeks at the limiters without counting, for a credential
// verified earlier (no hash runs): a locked login or client is a 429.
func (a *Authenticator[U]) checkThrottle(at *passwordAttempt) *failure {
	if a.cfg.Throttle.Logins != nil {
		if f := a.throttleVerdict(at, a.cfg.Throttle.Logins.Allow, at.loginKey); f != nil {
			return f
		}
	}
	if at.clientKey != "" {
		return a.throttleVerdict(at, a.cfg.Throttle.Clients.Allow, at.clientKey)
	}
	return nil
}

// reserveAttempt counts one attempt against the client (if
// Throttle.Clients is set) and then the login, before any hash. The client goes first so
// that a throttled client cannot spend a login's budget. A refusal is a
// 429; a limiter error is a 500, so a limiter that cannot count (say, a
// full Redis) never lets a guess reach the hasher.
func (a *Authenticator[U]) reserveAttempt(at *passwordAttempt) *failure {
	if at.clientKey != "" {
		if f := a.throttleVerdict(at, a.cfg.Throttle.Clients.Reserve, at.clientKey); f != nil {
			return f
		}
	}
	if a.cfg.Throttle.Logins != nil {
		return a.throttleVerdict(at, a.cfg.Throttle.Logins.Reserve, at.loginKey)
	}
	return nil
}

func (a *Authenticator[U]) throttleVerdict(at *passwordAttempt, ask func(context.Context, string) (bool, time.Duration, error), key string) *failure {
	ok, wait, err := ask(at.r.Context(), key)
	if err != nil {
		return internalFailure(err)
	}
	if !ok {
		a.audit(at.r, false, a.loginRef(at.login), ReasonThrottled, transportBasic)
		return &failure{status: 429, err: &ThrottledError{RetryAfter: wait}, retryAfter: wait}
	}
	return nil
}

// finishPassword runs the account check and builds the identity.
func (a *Authenticator[U]) finishPassword(at *passwordAttempt, acct *Account[U], cached bool) (context.Context, *failure) {
	// Hooks and handlers get the request's copy, never the store's account.
	ac := newPasswordContext(at.r.Context(), acct, at.start)
	// Second factor (secondfactor.go): an account with it on needs X-OTP.
	if f := a.checkSecondFactor(at, ac); f != nil {
		return nil, f
	}
	if f := a.checkAccount(at.r, at.login, ac); f != nil {
		if a.cache != nil {
			a.cache.remove(at.cacheKey)
		}
		return nil, f
	}
	if a.cache != nil && !cached {
		a.cache.put(at.cacheKey, acct.ID, acct.PasswordHash)
	}
	a.audit(at.r, true, at.login, passwordReason(ac), transportBasic) // second factor: secondfactor.go
	return ac, nil
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

// loginThrottleKey is the key the per-login limiter counts against: the
// store's canonical login if it is a LoginKeyer, so every spelling the
// store matches shares one budget, and strings.ToLower(login) otherwise.
func (a *Authenticator[U]) loginThrottleKey(login string) string {
	if k, ok := a.cfg.Users.(LoginKeyer); ok {
		return "login:" + k.LoginKey(login)
	}
	return "login:" + strings.ToLower(login)
}
