// Package httpauth authenticates net/http requests with HTTP Basic
// credentials and signed, expiring tokens, the way Flask-HTTPAuth and
// itsdangerous do for Flask: a client sends its login and password once,
// POSTs to a token endpoint, and sends the token on every later request.
//
// # Quick start
//
//	users := httpauth.NewMemoryUserStore[MyUser](nil)
//	_ = users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[MyUser]{
//		ID: "u1", Roles: []string{"user"}, User: MyUser{Email: "alice@example.com"},
//	})
//	auth, err := httpauth.New(httpauth.Config[MyUser]{
//		Users: users,
//		Keys:  []httpauth.SigningKey{{ID: "k1", Secret: secret}}, // 32+ random bytes
//		Realm: "api",
//	})
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
// issue time and a mandatory expiry, and are bound to a purpose. They are
// accepted as "Authorization: Bearer <token>", as the Basic username with
// an empty password ("Basic base64(token:)"), and from Config.TokenHeader if
// set. TokenHandler mints them for password logins only; a token can never
// mint a token. RevokeHandler revokes the token a request came with. A token
// is refused unless issued strictly after its account's TokensValidAfter,
// and a minted token is issued when its login began, so a password change
// during a login ends it too. Minting and revoking are rate-limited per
// user (Config.TokenRate).
//
// # Account lifecycle, API keys and events
//
// AccountToken makes purpose-bound tokens for emailed links (confirmation,
// password reset, email change), each with its own lifetime and bound to
// the account's state, so that Confirm, ResetPassword and ChangeLogin
// accept each once; the UserStore must be an AccountStore. API keys
// (CreateAPIKey, Config.APIKeys) are long-lived credentials for machine
// clients: prefixed "hak_" with a checksum, stored as a SHA-256, limited to
// their own and their user's roles, and never able to mint tokens or keys.
// Config.OnEvent reports every authentication outcome with its Method and
// Reason, for metrics.
//
// # Stores
//
// UserStore finds accounts, RevocationStore remembers revoked tokens and
// Limiter counts failed passwords. Each has an in-memory default; the
// sqlstore and redisstore modules hold SQL and Redis implementations, and
// package httpauthtest has conformance suites for your own.
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
// goes to Config.OnError (or the log), never to the client; a panic with
// http.ErrAbortHandler is passed on, not turned into a 500. Config.ErrorWriter replaces
// the body format; WriteProblem writes RFC 9457 problem details instead.
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

	// Keys is the HMAC key ring for the default signer: Keys[0] signs,
	// all verify. Required unless Signer is set.
	Keys []SigningKey

	// Signer replaces the default HMAC signer built from Keys.
	Signer TokenSigner

	// Realm is the protection space named in WWW-Authenticate challenges.
	// Required; it is escaped as a quoted-string.
	Realm string

	// BasicScheme is the scheme name of the Basic challenge. Default
	// "Basic". Set another name (such as "xBasic") so browsers do not pop up
	// their login dialog on API calls; requests still use "Basic".
	BasicScheme string

	// TokenTTL is the lifetime of issued tokens. Default 1 hour.
	TokenTTL time.Duration

	// TokenRate bounds, per user, how many tokens TokenHandler mints plus
	// how many RevokeHandler revokes, per minute, after a burst of
	// TokenBurst; past it the answer is a 429 with Retry-After. It bounds
	// the revocation state any one user can create. The counters live in
	// memory, per instance, and hold at most 65,536 users (about 4 MiB).
	// Default DefaultTokenRate (60); negative turns it off.
	TokenRate int

	// TokenBurst is how many tokens a user may mint or revoke at once
	// before TokenRate applies. Default DefaultTokenBurst (10).
	TokenBurst int

	// TokenHeader, if set, is a header (such as "X-API-Key") that may carry
	// a token instead of Authorization. Default: none.
	TokenHeader string

	// CheckAccount runs after authentication on every request. Return
	// Forbidden("…") for a 403 with that message (say, an unconfirmed
	// account); any other error is a 500. Default: none.
	CheckAccount func(ctx context.Context, acct *Account[U]) error

	// ErrorWriter writes error responses. Default WriteJSONError.
	ErrorWriter ErrorWriter

	// Logger receives audit events (auth.success, auth.failure) and, unless
	// OnError is set, internal errors. Token successes log at Debug,
	// password successes at Info, failures at Warn. Default slog.Default().
	Logger *slog.Logger

	// OnError receives every internal failure (store, signer, limiter or
	// hook error or panic, untrusted stored hash) that the client sees only
	// as a generic 500 or 401. Default: log it to Logger at Error.
	OnError func(r *http.Request, err error)

	// OnEvent, if set, receives every authentication outcome (and each
	// password hash's duration) as an Event, for metrics. It runs on the
	// request's goroutine, so keep it fast (count, observe, return); a
	// panic in it is logged and ignored. Default: none.
	OnEvent func(Event)

	// APIKeys stores API keys (see CreateAPIKey). It is read on every
	// request with a key (there is no local cache to go stale), so a
	// deleted key is refused on every instance at once. Last-used times
	// are written behind by a goroutine; call Close to stop it. Default:
	// none, and then a key is refused like a bad token.
	APIKeys KeyStore

	// AccountTokens configures the confirmation, password-reset and
	// email-change tokens (see AccountToken). The zero value works.
	AccountTokens AccountTokenOptions[U]

	// Hasher verifies stored hashes and makes rehashes. Default
	// DefaultHasher(): argon2id, also verifying bcrypt. Unknown logins
	// verify against a dummy hash made by Hasher at New, so they cost what
	// a current-policy hash costs; while many users still have bcrypt
	// hashes (until rehash-on-login moves them), the two costs differ.
	Hasher PasswordHasher

	// Limiter throttles password attempts per login: each attempt that
	// would run a hash is reserved first, and a success resets the count.
	// Default NewMemoryLimiter(10, 15*time.Minute, Now).
	Limiter Limiter

	// DisableThrottling turns the per-login Limiter off. Default false.
	DisableThrottling bool

	// ClientLimiter, if set, also throttles password attempts per client
	// address. Default: off. Every attempt that would run a hash is
	// counted, successes included (a success resets the login's count, not
	// the client's, so one valid account cannot refill a client's budget):
	// size its limit for the logins a busy NAT legitimately makes.
	ClientLimiter Limiter

	// TrustedProxies lists the proxies whose X-Forwarded-For is believed
	// when finding a client's address. Default: none, so the address is
	// always RemoteAddr's.
	TrustedProxies []netip.Prefix

	// Revocations remembers revoked tokens. Default
	// NewMemoryRevocationStore(Now).
	Revocations RevocationStore

	// MaxConcurrentHashes bounds password hashes running at once (argon2id
	// takes 19 MiB each); extra requests wait as long as their context
	// lets them. Default 2×GOMAXPROCS. Their memory is bounded too, to
	// MaxConcurrentHashes × the hasher's policy memory (19 MiB unless
	// Hasher is an Argon2idHasher with another Memory): a stored argon2id
	// hash takes the memory it declares (up to 256 MiB) from that budget,
	// and one larger than the whole budget runs alone.
	MaxConcurrentHashes int

	// MaxPasswordLen caps passwords, in bytes, before hashing. Default 1024.
	MaxPasswordLen int

	// MaxHeaderLen caps the credential header, in bytes, before decoding.
	// Default 8192.
	MaxHeaderLen int

	// CacheSize bounds the verified-credential cache, which spares clients
	// that send Basic on every request a hash each time. Default 10000;
	// negative turns the cache off.
	CacheSize int

	// CacheTTL bounds how long a verified credential is trusted without
	// hashing again. Default 5 minutes.
	CacheTTL time.Duration

	// TokenCacheSize bounds the default signer's verified-token cache
	// (see HMACSignerConfig.CacheSize). Default 10000; negative turns it
	// off. Ignored when Signer is set.
	TokenCacheSize int

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Authenticator authenticates requests. It is safe for concurrent use and
// immutable after New.
type Authenticator[U any] struct {
	cfg         Config[U]
	signer      TokenSigner
	limiter     Limiter // nil when throttling is off
	errorWriter ErrorWriter
	logger      *slog.Logger
	hashSlots   chan struct{}
	dummyHash   string
	cache       *credCache
	challenges  challenges
	trusted     []netip.Prefix
	tokenRate   *userRate // nil when off
	life        *lifecycle
}

// New validates cfg and returns an Authenticator. A missing store, a
// missing or short key, or an empty realm is an error.
func New[U any](cfg Config[U]) (*Authenticator[U], error) {
	if cfg.Users == nil {
		return nil, errors.New("httpauth: Config.Users is required")
	}
	if cfg.Realm == "" {
		return nil, errors.New("httpauth: Config.Realm is required")
	}
	if !validHeaderText(cfg.Realm) {
		return nil, errors.New("httpauth: Config.Realm must be printable UTF-8 of at most 256 bytes")
	}
	if cfg.BasicScheme == "" {
		cfg.BasicScheme = "Basic"
	}
	if !isToken(cfg.BasicScheme) {
		return nil, errors.New("httpauth: Config.BasicScheme must be an HTTP token")
	}
	if cfg.TokenHeader != "" && !isToken(cfg.TokenHeader) {
		return nil, errors.New("httpauth: Config.TokenHeader must be an HTTP header name")
	}
	if http.CanonicalHeaderKey(cfg.TokenHeader) == "Authorization" {
		return nil, errors.New("httpauth: Config.TokenHeader must not be Authorization")
	}
	cfg.TokenHeader = http.CanonicalHeaderKey(cfg.TokenHeader)
	if cfg.TokenTTL < 0 {
		return nil, errors.New("httpauth: Config.TokenTTL must not be negative")
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPasswordLen == 0 {
		cfg.MaxPasswordLen = 1024
	}
	if cfg.MaxHeaderLen == 0 {
		cfg.MaxHeaderLen = 8192
	}
	if cfg.MaxPasswordLen < 0 || cfg.MaxHeaderLen < 0 {
		return nil, errors.New("httpauth: Config.MaxPasswordLen and MaxHeaderLen must not be negative")
	}
	if cfg.MaxConcurrentHashes < 0 {
		return nil, errors.New("httpauth: Config.MaxConcurrentHashes must not be negative")
	}
	if cfg.MaxConcurrentHashes == 0 {
		cfg.MaxConcurrentHashes = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("httpauth: Config.CacheTTL must not be negative")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.Hasher == nil {
		cfg.Hasher = DefaultHasher()
	}
	// Bound hashing by memory as well as by count (see memBoundHasher).
	cfg.Hasher = newMemBoundHasher(cfg.Hasher, cfg.MaxConcurrentHashes)
	if cfg.Revocations == nil {
		cfg.Revocations = NewMemoryRevocationStore(cfg.Now)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	a := &Authenticator[U]{
		cfg:         cfg,
		signer:      cfg.Signer,
		errorWriter: cfg.ErrorWriter,
		logger:      cfg.Logger,
		hashSlots:   make(chan struct{}, cfg.MaxConcurrentHashes),
		challenges:  newChallenges(cfg.BasicScheme, cfg.Realm),
		trusted:     append([]netip.Prefix(nil), cfg.TrustedProxies...),
	}
	if a.signer == nil {
		if len(cfg.Keys) == 0 {
			return nil, errors.New("httpauth: Config.Keys (or Config.Signer) is required")
		}
		signer, err := NewHMACSigner(HMACSignerConfig{Keys: cfg.Keys, Purpose: DefaultPurpose, Now: cfg.Now, CacheSize: cfg.TokenCacheSize})
		if err != nil {
			return nil, err
		}
		a.signer = signer
	}
	a.cfg.Keys = nil // the signer holds its own copy; keep secrets in one place
	if a.errorWriter == nil {
		a.errorWriter = WriteJSONError
	}
	if !cfg.DisableThrottling {
		a.limiter = cfg.Limiter
		if a.limiter == nil {
			a.limiter = NewMemoryLimiter(DefaultMaxFailures, DefaultFailureWindow, cfg.Now)
		}
	}
	if cfg.CacheSize > 0 {
		a.cache = newCredCache(cfg.CacheSize, cfg.CacheTTL, cfg.Now)
	}
	if cfg.TokenRate >= 0 {
		if cfg.TokenRate == 0 {
			cfg.TokenRate = DefaultTokenRate
		}
		if cfg.TokenBurst <= 0 {
			cfg.TokenBurst = DefaultTokenBurst
		}
		a.tokenRate = newUserRate(cfg.TokenRate, cfg.TokenBurst, cfg.Now)
	}
	// The dummy hash makes an unknown login cost one real hash.
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	dummy, err := cfg.Hasher.Hash(context.Background(), string(pw[:]))
	if err != nil {
		return nil, fmt.Errorf("httpauth: hasher failed to make the dummy hash: %w", err)
	}
	a.dummyHash = dummy
	// Last: it may start the API keys' last-used writer.
	if a.life, err = newLifecycle(cfg); err != nil {
		return nil, err
	}
	return a, nil
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
