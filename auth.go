// Package httpauth authenticates net/http requests with HTTP Basic
// credentials and signed, expiring tokens, the way Flask-HTTPAuth and
// itsdangerous do for Flask: a client sends its login and password once,
// POSTs to a token endpoint, and sends the token on every later request.
//
// # Quick start
//
//	key, err := httpauth.KeyFromHex("k1", os.Getenv("HTTPAUTH_SECRET")) // httpauth keygen
//	if err != nil {
//		log.Fatal(err)
//	}
//	signer, err := httpauth.NewHMACSigner(key)
//	if err != nil {
//		log.Fatal(err)
//	}
//	users := httpauth.NewMemoryUserStore[MyUser](nil) // or your own UserStore
//	auth, err := httpauth.New(httpauth.Config[MyUser]{Users: users, Signer: signer, Realm: "api"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	api := http.NewServeMux()
//	api.Handle("POST /api/v1/tokens/{$}", auth.TokenHandler())
//	api.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
//		u, _ := auth.User(r) // MyUser, no type assertion
//		fmt.Fprintln(w, u.Email)
//	})
//	root := http.NewServeMux()
//	root.Handle("/api/v1/", auth.Middleware(api)) // every API route, in one place
//
// Routes inside a protected prefix that anonymous clients may also use go
// on the outer mux, wrapped in Optional, which lets a request without
// credentials through without a user (bad credentials are still a 401):
//
//	root.Handle("GET /api/v1/status", auth.Optional(statusHandler))
//
// The more specific pattern wins, so the route is served by Optional while
// the rest of /api/v1/ stays behind Middleware.
//
// # Basic
//
// The middleware accepts "Authorization: Basic base64(login:password)". The
// scheme is ASCII case-insensitive, exactly one space follows it, the base64 is
// decoded strictly (padded standard alphabet, no stray bits), and the
// password is everything after the first colon. Logins and passwords with
// control characters or invalid UTF-8 are refused; passwords are compared
// exactly as sent (no trimming, no case folding, no truncation).
//
// # Tokens
//
// Tokens are HMAC-SHA256 signed, carry a subject, a random 128-bit ID, an
// issue time and a mandatory expiry, and are bound to their purpose. They
// are accepted as "Authorization: Bearer <token>", as the Basic username
// with an empty password ("Basic base64(token:)"), and from
// Config.TokenHeader if set. TokenHandler mints them for password logins
// only; a token can never mint a token. RevokeHandler revokes the token a
// request came with. A token is refused unless issued strictly after its
// account's TokensValidAfter, and a minted token is issued when its login
// began, so a password change during a login ends it too. Minting and
// revoking are rate-limited per user (Throttle.TokensPerMinute).
//
// # Account lifecycle, API keys and events
//
// ConfirmationToken, PasswordResetToken and EmailChangeToken make tokens
// for emailed links, each with its own lifetime and bound to the account's
// state, so that Confirm, ResetPassword and ChangeLogin accept each once;
// the UserStore must be an AccountStore. API keys (CreateAPIKey,
// Config.APIKeys) are long-lived credentials for machine clients: prefixed
// "hak_" with a checksum, stored as a SHA-256, limited to their own and
// their user's roles, and never able to mint tokens or keys. Config.OnEvent
// reports every authentication outcome, for metrics.
//
// # Stores
//
// UserStore finds accounts, RevocationStore remembers revoked tokens and
// Limiter counts password attempts. Each has an in-memory default; the
// sqlstore and redisstore modules hold SQL and Redis implementations, and
// package httpauthtest has conformance suites for your own, a cheap hasher
// for tests, and a helper that makes requests the middleware accepts.
//
// # Roles
//
// RequireAnyRole and RequireAllRoles guard single routes behind the
// middleware (Flask-HTTPAuth's role=[a, b] and role=[[a, b]]). A missing
// role is a 403 (with an insufficient_scope challenge naming the roles for
// token users); a guard built with no role panics.
//
// # Errors
//
// Failures are JSON: {"error":"unauthorized","message":"Invalid credentials"}
// with a WWW-Authenticate challenge for 401s, 403 for authenticated but not
// allowed, 429 when throttled, 400 for ambiguous requests, and a generic 500
// when a store, signer, limiter or hook fails or panics. The real cause
// goes to Config.Logger, never to the client; a panic with
// http.ErrAbortHandler is passed on, not turned into a 500.
// Config.ErrorWriter replaces the body format and learns why a request
// failed (an expired token, say); ProblemWriter writes RFC 9457 problem
// details instead.
//
// # Security
//
// Unknown logins run a dummy hash so they cost what a wrong password
// costs; password guessing is throttled per login (and optionally per
// client); hashing concurrency is bounded; tokens are verified before any
// of their content is read; secrets are compared in constant time; and no
// password, token or Authorization header is ever logged. TLS is the
// host's job: Basic credentials and tokens are bearer secrets.
package httpauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"
	"unicode/utf8"
)

// Config configures an Authenticator. New copies and validates it once; a
// zero field takes the default stated in its comment.
type Config[U any] struct {
	// Users finds accounts by login and by ID. Required.
	Users UserStore[U]

	// Signer mints and verifies access tokens. Required: usually
	// [NewHMACSigner](key), with key from [KeyFromHex]. Account tokens
	// ([Authenticator.ConfirmationToken], [Authenticator.PasswordResetToken],
	// [Authenticator.EmailChangeToken]) are keyed from an *[HMACSigner]'s
	// secrets, so a custom signer leaves them off: minting one is an error
	// and every one is invalid. API keys do not use the signer at all
	// (they are random, and looked up by their SHA-256 in [Config.APIKeys]),
	// so they work with any signer.
	Signer TokenSigner

	// Realm is the protection space named in WWW-Authenticate challenges.
	// Required; it is escaped as a quoted-string.
	Realm string

	// BasicScheme is the scheme name of the Basic challenge. Default
	// "Basic". Set another name (such as "xBasic") so browsers do not pop up
	// their login dialog on API calls; requests still use "Basic".
	BasicScheme string

	// Hasher verifies stored hashes and makes new ones. Default
	// DefaultHasher(): argon2id, also verifying bcrypt. Unknown logins
	// verify against a dummy hash made by Hasher at New, so they cost what
	// a current-policy hash costs. Tests can use httpauthtest.FastHasher.
	Hasher PasswordHasher

	// TokenTTL is the lifetime of issued tokens. Default 1 hour.
	TokenTTL time.Duration

	// TokenHeader, if set, is a header (such as "X-API-Key") that may carry
	// a token instead of Authorization. Default: none.
	TokenHeader string

	// CheckAccount runs after authentication on every request, with the
	// request, so a route can admit what others refuse (say, unconfirmed
	// accounts on a "resend confirmation" route). Return Forbidden("…")
	// for a 403 with that message; any other error is a 500. Default: none.
	CheckAccount func(r *http.Request, acct *Account[U]) error

	// ErrorWriter writes error responses. It gets the status and an error
	// that says why: errors.Is(err, ErrTokenExpired) and so on (see
	// ErrorWriter). Default WriteJSONError.
	ErrorWriter ErrorWriter

	// Logger receives the audit log (auth.success at Debug for tokens and
	// Info for passwords, auth.failure at Warn; an anonymous request to an
	// Optional route is not a failure) and every internal failure that a
	// client sees only as a generic 500 (at Error, with the cause as the
	// "error" attribute). It is the one place errors go. To silence the
	// audit log but keep errors, give it a handler with
	// [slog.HandlerOptions.Level] set to [slog.LevelError]. Default
	// [slog.Default]().
	Logger *slog.Logger

	// OnEvent, if set, receives every authentication outcome (and each
	// password hash's duration) as an Event, for metrics. It runs on the
	// request's goroutine, so keep it fast (count, observe, return); a
	// panic in it is logged and ignored. Default: none.
	OnEvent func(Event)

	// Throttle limits password guessing and token minting. The zero value
	// works: see Throttle.
	Throttle Throttle

	// Revocations remembers revoked tokens. Default: in memory, for one
	// instance; several instances share one (redisstore).
	Revocations RevocationStore

	// APIKeys stores API keys (see CreateAPIKey). It is read on every
	// request with a key (there is no local cache to go stale), so a
	// deleted key is refused on every instance at once. Last-used times
	// are written behind by a goroutine; call Close to stop it. Default:
	// none, and then a key is refused like a bad token.
	APIKeys KeyStore
}

// Throttle limits password guessing and token minting. Every attempt that
// would run a password hash is reserved first, on every limiter that
// applies, so concurrent guesses cannot overrun a budget.
type Throttle struct {
	// Logins counts password attempts per login; a success resets the
	// login's count. Default NewMemoryLimiter(10, 15*time.Minute), which
	// counts per instance: several instances share one (redisstore).
	Logins Limiter

	// Clients, if set, also counts password attempts per client address
	// (per /64 for IPv6). Successes count too (they reset the login's
	// count, not the client's, so one valid account cannot refill a
	// client's budget): size it for the logins a busy NAT makes. Default:
	// none.
	Clients Limiter

	// TrustedProxies lists the proxies whose X-Forwarded-For is believed
	// when finding a client's address. Default: none, so the address is
	// always RemoteAddr's.
	TrustedProxies []netip.Prefix

	// TokensPerMinute bounds, per user, how many tokens TokenHandler mints
	// plus how many RevokeHandler revokes, after a burst of 10; past it
	// the answer is a 429 with Retry-After. It bounds the revocation state
	// one user can create. The counters live in memory, per instance, for
	// at most 65,536 users (about 4 MiB). Default 60; negative turns it
	// off.
	TokensPerMinute int
}

// options are the knobs whose defaults serve every host. Tests set them;
// New uses the defaults.
type options struct {
	maxConcurrentHashes int           // default 2×GOMAXPROCS
	cacheSize           int           // verified credentials; default 10000, negative off
	cacheTTL            time.Duration // default 5 minutes
	tokenBurst          int           // default 10
	revocationsTotal    int           // per TokenTTL, all users; default revocationsTotalPerTTL
	disableThrottling   bool          // no per-login limiter
	accountTTL          [len(purposes) + 1]time.Duration
}

// Input limits, checked before any work: a password longer than
// maxPasswordLen is never hashed, and a credential header longer than
// maxHeaderLen is never decoded.
const (
	maxPasswordLen = 1024
	maxHeaderLen   = 8192
)

// Authenticator authenticates requests. It is safe for concurrent use and
// immutable after New.
type Authenticator[U any] struct {
	cfg Config[U] // defaults applied, validated
	opt options   // defaults applied, validated

	hashSlots  chan struct{}
	dummyHash  string
	cache      *credCache // nil when off
	challenges challenges
	tokenRate  *userRate // nil when off
	revokeRate *userRate // per-token revocations per user
	// revokeTotal is the same budget for all users together (one key, ""):
	// open registration would otherwise multiply the per-user bound.
	revokeTotal *userRate
	logKey      [32]byte // keys loginRef's hashes
	life        *lifecycle
}

// New validates cfg and returns an Authenticator. A missing store, signer
// or realm is an error.
func New[U any](cfg Config[U]) (*Authenticator[U], error) {
	return build(cfg, options{})
}

// build is New with options: defaults, then validation, then construction.
func build[U any](cfg Config[U], opt options) (*Authenticator[U], error) {
	cfg, opt = withDefaults(cfg, opt)
	if err := validate(cfg, opt); err != nil {
		return nil, err
	}
	a := &Authenticator[U]{
		cfg:        cfg,
		opt:        opt,
		hashSlots:  make(chan struct{}, opt.maxConcurrentHashes),
		challenges: newChallenges(cfg.BasicScheme, cfg.Realm),
	}
	// Bound hashing by memory as well as by count (see memBoundHasher).
	a.cfg.Hasher = newMemBoundHasher(cfg.Hasher, opt.maxConcurrentHashes)
	if opt.cacheSize > 0 {
		a.cache = newCredCache(opt.cacheSize, opt.cacheTTL)
	}
	if cfg.Throttle.TokensPerMinute > 0 {
		a.tokenRate = newUserRate(cfg.Throttle.TokensPerMinute, opt.tokenBurst)
	}
	a.revokeRate = newUserRateEvery(cfg.TokenTTL/revocationsPerTTL, revocationsPerTTL)
	a.revokeTotal = newUserRateEvery(cfg.TokenTTL/time.Duration(opt.revocationsTotal), opt.revocationsTotal)
	// The dummy hash makes an unknown login cost one real hash.
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	dummy, err := cfg.Hasher.Hash(context.Background(), string(pw[:]))
	if err != nil {
		return nil, fmt.Errorf("httpauth: hasher failed to make the dummy hash: %w", err)
	}
	a.dummyHash = dummy
	_, _ = rand.Read(a.logKey[:])
	// Last: it may start the API keys' last-used writer.
	a.life = newLifecycle(cfg)
	return a, nil
}

// withDefaults fills every zero field with its default. It copies what
// the caller could change later.
func withDefaults[U any](cfg Config[U], opt options) (Config[U], options) {
	if cfg.BasicScheme == "" {
		cfg.BasicScheme = "Basic"
	}
	cfg.TokenHeader = http.CanonicalHeaderKey(cfg.TokenHeader)
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.Hasher == nil {
		cfg.Hasher = defaultHasher()
	}
	if cfg.ErrorWriter == nil {
		cfg.ErrorWriter = WriteJSONError
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// A panicking log handler must not take a request down (nor turn a
	// 401 into a dropped connection): its records are lost instead.
	cfg.Logger = slog.New(recoveringHandler{cfg.Logger.Handler()})
	if cfg.Revocations == nil {
		cfg.Revocations = newMemoryRevocationStore()
	}
	t := &cfg.Throttle
	switch {
	case opt.disableThrottling:
		t.Logins = nil
	case t.Logins == nil:
		t.Logins = newMemoryLimiter(defaultMaxFailures, defaultFailureWindow)
	}
	t.TrustedProxies = append([]netip.Prefix(nil), t.TrustedProxies...)
	if t.TokensPerMinute == 0 {
		t.TokensPerMinute = defaultTokenRate
	}
	if opt.revocationsTotal == 0 {
		opt.revocationsTotal = revocationsTotalPerTTL
	}
	if opt.tokenBurst == 0 {
		opt.tokenBurst = defaultTokenBurst
	}
	if opt.maxConcurrentHashes == 0 {
		opt.maxConcurrentHashes = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.cacheSize == 0 {
		opt.cacheSize = 10000
	}
	if opt.cacheTTL == 0 {
		opt.cacheTTL = 5 * time.Minute
	}
	for i, d := range [len(purposes) + 1]time.Duration{0, 48 * time.Hour, time.Hour, 24 * time.Hour} {
		if opt.accountTTL[i] == 0 {
			opt.accountTTL[i] = d
		}
	}
	return cfg, opt
}

// validate reports the first setting New cannot work with.
func validate[U any](cfg Config[U], opt options) error {
	switch {
	case cfg.Users == nil:
		return errors.New("httpauth: Config.Users is required")
	case cfg.Signer == nil:
		return errors.New("httpauth: Config.Signer is required (NewHMACSigner)")
	case cfg.Realm == "":
		return errors.New("httpauth: Config.Realm is required")
	case !validHeaderText(cfg.Realm):
		return errors.New("httpauth: Config.Realm must be printable UTF-8 of at most 256 bytes")
	case !isToken(cfg.BasicScheme):
		return errors.New("httpauth: Config.BasicScheme must be an HTTP token")
	case cfg.TokenHeader != "" && !isToken(cfg.TokenHeader):
		return errors.New("httpauth: Config.TokenHeader must be an HTTP header name")
	case cfg.TokenHeader == "Authorization":
		return errors.New("httpauth: Config.TokenHeader must not be Authorization")
	case cfg.TokenTTL < 0:
		return errors.New("httpauth: Config.TokenTTL must not be negative")
	case opt.maxConcurrentHashes < 0 || opt.cacheTTL < 0 || opt.tokenBurst < 0:
		return errors.New("httpauth: limits must not be negative")
	}
	for _, d := range opt.accountTTL[1:] {
		if d < 0 {
			return errors.New("httpauth: account token lifetimes must not be negative")
		}
	}
	return nil
}

// validHeaderText reports whether s can sit in a quoted-string: printable
// UTF-8, no control characters, at most 256 bytes.
func validHeaderText(s string) bool {
	if len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a scheme or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// Close stops the goroutine that writes API keys' last-used times and
// writes what it holds. Call it when the authenticator is no longer used;
// it is safe to call more than once. Without Config.APIKeys it does
// nothing.
func (a *Authenticator[U]) Close() error {
	a.life.touch.close()
	return nil
}
