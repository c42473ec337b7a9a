package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goauth "github.com/abbot/go-http-auth"
	"github.com/go-chi/jwtauth/v5"
	"github.com/gohttpauth/httpauth"
	gojiauth "github.com/goji/httpauth"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/crypto/bcrypt"
)

// The one user every case authenticates.
const (
	benchLogin    = "alice@example.com"
	benchPassword = "wonderland-42"
	benchUserID   = "u1"
	benchPath     = "/api/v1/me"
	benchRealm    = "bench"
)

var (
	benchSecret = randomLooking("httpauth bench key") // 32 bytes, shared by every token peer
	otherSecret = randomLooking("another bench key")  // signs the forged tokens
)

// User is the host's user type for the httpauth cases.
type User struct {
	ID    string
	Email string
}

// hashSet holds the stored hashes, two of each (different salts), made
// once per process: every Basic peer checks the very same bcrypt string,
// the first; the cold httpauth case alternates between both (coldUsers).
var hashSet = sync.OnceValues(func() (map[string][2]string, error) {
	h := map[string][2]string{}
	hashers := map[string]httpauth.PasswordHasher{
		"bcrypt10": bcryptHasher{cost: 10},
		"bcrypt4":  bcryptHasher{cost: 4},
		"argon2id": httpauth.DefaultHasher(),
	}
	for name, hasher := range hashers {
		var pair [2]string
		for i := range pair {
			var err error
			if pair[i], err = hasher.Hash(context.Background(), benchPassword); err != nil {
				return nil, err
			}
		}
		h[name] = pair
	}
	return h, nil
})

func storedHashes(tb testing.TB, name string) [2]string {
	tb.Helper()
	h, err := hashSet()
	if err != nil {
		tb.Fatal(err)
	}
	if h[name][0] == "" {
		tb.Fatalf("no hash %q", name)
	}
	return h[name]
}

func storedHash(tb testing.TB, name string) string {
	tb.Helper()
	return storedHashes(tb, name)[0]
}

// bcryptHasher verifies bcrypt hashes of any cost, so that httpauth can
// check the cost-4 hash the peers check (its default hasher refuses a cost
// below 10). Benchmarks only.
type bcryptHasher struct{ cost int }

func (h bcryptHasher) Hash(_ context.Context, password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	return string(b), err
}

func (bcryptHasher) Verify(_ context.Context, hash, password string) (bool, error) {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("%w: %v", httpauth.ErrUntrustedHash, err)
}

func (bcryptHasher) NeedsRehash(context.Context, string) bool { return false }

// benchCase is one implementation under test.
type benchCase struct {
	name    string
	handler http.Handler
	// authz is the Authorization value of a good request; "" sends none.
	authz string
	// bad maps a description to an Authorization value that must get a 401.
	bad map[string]string
	// ring, if set, makes Authorization values that the benchmarks send
	// in turn instead of authz, so that no value repeats soon. It makes a
	// new ring on every call: a run makes one before timing and drops it
	// after, so that its 20 MB do not stay live under the cases that run
	// later (a larger live heap means fewer GC cycles, and would make the
	// allocations of whatever runs after it cheaper).
	ring func() []string
}

// request returns a good request for c.
func (c benchCase) request() *http.Request {
	return newRequest(c.authz)
}

func newRequest(authz string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, benchPath, nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

// serve runs one request through h and checks the status; a 200 means the
// handler saw the benchmark user (see answer).
func serve(tb testing.TB, h http.Handler, r *http.Request, want int) {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != want {
		tb.Fatalf("status %d, want %d; body %q", rec.Code, want, rec.Body.String())
	}
}

func basicAuthz(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// answer ends every handler: a bare 200 when the middleware put the
// benchmark user where the handler looked, a 500 otherwise. Writing only
// the status keeps the baseline to the recorder's own cost (no header map
// entry, no body buffer, no content sniffing), the same for every peer,
// while the status still proves the user was read.
func answer(w http.ResponseWriter, id string, ok bool) {
	if !ok || id != benchUserID {
		http.Error(w, "no user in context", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// bareHandler is the baseline: no authentication, the same body.
var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	answer(w, benchUserID, true)
})

// readOnlyUsers hides MemoryUserStore's UpdatePasswordHash, so that the
// first bcrypt login does not replace the stored hash with argon2id and
// every request keeps verifying the hash the peers verify.
type readOnlyUsers struct{ httpauth.UserStore[User] }

// coldUsers gives out the account with each of two hashes of the same
// password in turn. httpauth's credential cache is tied to the hash it
// verified, so every request misses it and pays a hash, as it would with
// no cache (which httpauth does not let a host turn off).
type coldUsers struct {
	httpauth.UserStore[User]
	hashes [2]string
	n      atomic.Uint64
}

func (s *coldUsers) UserByLogin(ctx context.Context, login string) (*httpauth.Account[User], error) {
	acct, err := s.UserStore.UserByLogin(ctx, login)
	if err != nil {
		return nil, err
	}
	c := *acct
	c.PasswordHash = s.hashes[s.n.Add(1)%2]
	return &c, nil
}

// newSigner returns the HMAC signer of secret.
func newSigner(tb testing.TB, secret []byte) *httpauth.HMACSigner {
	tb.Helper()
	s, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: "k1", Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// newHTTPAuth returns an authenticator over one user with hash, and the
// handler it guards.
func newHTTPAuth(tb testing.TB, hash string, cfg httpauth.Config[User]) (*httpauth.Authenticator[User], http.Handler) {
	tb.Helper()
	return newHTTPAuthStore(tb, hash, cfg, func(u httpauth.UserStore[User]) httpauth.UserStore[User] { return readOnlyUsers{u} })
}

// newHTTPAuthStore is newHTTPAuth with the store wrapped by wrap.
func newHTTPAuthStore(tb testing.TB, hash string, cfg httpauth.Config[User], wrap func(httpauth.UserStore[User]) httpauth.UserStore[User]) (*httpauth.Authenticator[User], http.Handler) {
	tb.Helper()
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](cfg.Hasher)
	err := users.Put(ctx, benchLogin, httpauth.Account[User]{
		ID: benchUserID, PasswordHash: hash, Roles: []string{"user"},
		User: User{ID: benchUserID, Email: benchLogin},
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Users = wrap(users)
	cfg.Signer = newSigner(tb, benchSecret)
	cfg.Realm = benchRealm
	cfg.Logger = discardLogger()
	auth, err := httpauth.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth.User(r)
		answer(w, u.ID, ok)
	}))
	return auth, h
}

// httpauthToken returns a fresh httpauth token for the benchmark user and
// an expired one, signed with benchSecret.
func httpauthTokens(tb testing.TB, auth *httpauth.Authenticator[User]) (good, expired, forged string) {
	tb.Helper()
	ctx := context.Background()
	good, _, err := auth.IssueToken(ctx, benchUserID)
	if err != nil {
		tb.Fatal(err)
	}
	sign := func(secret []byte, iat time.Time) string {
		c := httpauth.Claims{Subject: benchUserID, IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)}
		_, _ = rand.Read(c.ID[:])
		t, err := newSigner(tb, secret).Sign(ctx, c)
		if err != nil {
			tb.Fatal(err)
		}
		return t
	}
	return good, sign(benchSecret, time.Now().Add(-2*time.Hour)), sign(otherSecret, time.Now())
}

// tokenCases builds BenchmarkToken's cases.
func tokenCases(tb testing.TB) []benchCase {
	tb.Helper()
	// The baselines: the bare handler, and the bare handler behind a
	// middleware that only puts the user in the context (r.WithContext),
	// which every net/http auth middleware pays.
	cases := []benchCase{{name: "bare", handler: bareHandler}, withContextCase()}

	// httpauth: the default HMAC signer, the in-memory user and revocation
	// stores; one authenticator serves both transports.
	auth, h := newHTTPAuth(tb, storedHash(tb, "argon2id"), httpauth.Config[User]{})
	tok, expired, forged := httpauthTokens(tb, auth)
	basicTok := func(t string) string { return basicAuthz(t, "") }
	cases = append(cases,
		benchCase{name: "httpauth-bearer", handler: h, authz: "Bearer " + tok, bad: map[string]string{
			"forged": "Bearer " + forged, "expired": "Bearer " + expired,
			"tampered": "Bearer " + tamper(tok), "garbage": "Bearer not-a-token",
		}},
		benchCase{name: "httpauth-basic-token", handler: h, authz: basicTok(tok), bad: map[string]string{
			"forged": basicTok(forged), "expired": basicTok(expired),
			"tampered": basicTok(tamper(tok)), "garbage": basicTok("not-a-token"),
		}},
	)
	// The same with a token the verified-token cache does not hold: every
	// request pays the HMAC and the decoding, as a client that never
	// repeats a token would. The benchmarks send tokenRingSize tokens in
	// turn, many more than the cache's 16,384 slots, so a token's slot
	// has been taken by others by the time it comes round again.
	nocache, hn := newHTTPAuth(tb, storedHash(tb, "argon2id"), httpauth.Config[User]{})
	ntok, nexpired, nforged := httpauthTokens(tb, nocache)
	cases = append(cases, benchCase{name: "httpauth-bearer-nocache", handler: hn, authz: "Bearer " + ntok, bad: map[string]string{
		"forged": "Bearer " + nforged, "expired": "Bearer " + nexpired,
		"tampered": "Bearer " + tamper(ntok), "garbage": "Bearer not-a-token",
	}, ring: func() []string {
		ring := make([]string, tokenRingSize)
		for i := range ring {
			tok, _, err := nocache.IssueToken(context.Background(), benchUserID)
			if err != nil {
				panic(err)
			}
			ring[i] = "Bearer " + tok
		}
		return ring
	}})

	cases = append(cases, golangJWTCase(tb), jwtauthCase(tb))
	cases = append(cases, echoCases()...)
	return cases
}

// tokenRingSize is how many tokens the nocache case sends in turn: with
// 8 times as many tokens as the cache has slots, a token's slot has been
// overwritten when it comes round again in all but about e^-8 of cases.
const tokenRingSize = 1 << 17

// tamper changes one character in the middle of a token: its signature no
// longer matches.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

type subjectKey struct{}

// golangJWTMiddleware is what a careful user writes on golang-jwt/jwt/v5:
// one algorithm, a mandatory expiry, registered claims, the subject in the
// context.
func golangJWTMiddleware(key []byte, next http.Handler) http.Handler {
	parser := gjwt.NewParser(gjwt.WithValidMethods([]string{gjwt.SigningMethodHS256.Alg()}), gjwt.WithExpirationRequired())
	keyFunc := func(*gjwt.Token) (any, error) { return key, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bench"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var claims gjwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(v[7:], &claims, keyFunc); err != nil || claims.Subject == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bench", error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, claims.Subject)))
	})
}

func golangJWTCase(tb testing.TB) benchCase {
	tb.Helper()
	sign := func(key []byte, method gjwt.SigningMethod, c gjwt.RegisteredClaims) string {
		s, err := gjwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	now := time.Now()
	claims := gjwt.RegisteredClaims{Subject: benchUserID, IssuedAt: gjwt.NewNumericDate(now), ExpiresAt: gjwt.NewNumericDate(now.Add(time.Hour))}
	expired := gjwt.RegisteredClaims{Subject: benchUserID, IssuedAt: gjwt.NewNumericDate(now.Add(-2 * time.Hour)), ExpiresAt: gjwt.NewNumericDate(now.Add(-time.Hour))}
	noExp := gjwt.RegisteredClaims{Subject: benchUserID, IssuedAt: gjwt.NewNumericDate(now)}
	tok := sign(benchSecret, gjwt.SigningMethodHS256, claims)
	h := golangJWTMiddleware(benchSecret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, ok := r.Context().Value(subjectKey{}).(string)
		answer(w, sub, ok)
	}))
	return benchCase{name: "golang-jwt", handler: h, authz: "Bearer " + tok, bad: map[string]string{
		"forged":     "Bearer " + sign(otherSecret, gjwt.SigningMethodHS256, claims),
		"expired":    "Bearer " + sign(benchSecret, gjwt.SigningMethodHS256, expired),
		"no-expiry":  "Bearer " + sign(benchSecret, gjwt.SigningMethodHS256, noExp),
		"other-alg":  "Bearer " + sign(benchSecret, gjwt.SigningMethodHS384, claims),
		"alg-none":   "Bearer " + unsignedJWT(tb, claims),
		"tampered":   "Bearer " + tamper(tok),
		"garbage":    "Bearer not-a-token",
		"no-bearer":  tok,
		"basic-user": basicAuthz(tok, ""),
	}}
}

func unsignedJWT(tb testing.TB, c gjwt.RegisteredClaims) string {
	tb.Helper()
	s, err := gjwt.NewWithClaims(gjwt.SigningMethodNone, c).SignedString(gjwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// jwtauthCase is go-chi/jwtauth/v5 as its README shows it: Verifier, then
// Authenticator, and the handler calls FromContext.
func jwtauthCase(tb testing.TB) benchCase {
	tb.Helper()
	ja := jwtauth.New("HS256", benchSecret, nil, jwxjwt.WithRequiredClaim("exp"))
	forger := jwtauth.New("HS256", otherSecret, nil)
	encode := func(ja *jwtauth.JWTAuth, claims map[string]any) string {
		_, s, err := ja.Encode(claims)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := map[string]any{"sub": benchUserID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	tok := encode(ja, good)
	h := jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, claims, err := jwtauth.FromContext(r.Context())
		sub, ok := claims["sub"].(string)
		answer(w, sub, ok && err == nil)
	})))
	return benchCase{name: "jwtauth", handler: h, authz: "Bearer " + tok, bad: map[string]string{
		"forged":    "Bearer " + encode(forger, good),
		"expired":   "Bearer " + encode(ja, map[string]any{"sub": benchUserID, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}),
		"no-expiry": "Bearer " + encode(ja, map[string]any{"sub": benchUserID}),
		"tampered":  "Bearer " + tamper(tok),
		"garbage":   "Bearer not-a-token",
	}}
}

// The opaque API key of the echo KeyAuth case.
const echoKey = "k-7f3a9c2e41b84d06a5e1c9b27d3f8a60"

// echoCases are echo v4 with no authentication and with KeyAuth looking
// the key up in a map.
func echoCases() []benchCase {
	handler := func(c echo.Context) error {
		id, ok := c.Get("user").(string)
		answer(c.Response(), id, ok)
		return nil
	}
	bare := echo.New()
	bare.GET(benchPath, func(c echo.Context) error {
		answer(c.Response(), benchUserID, true)
		return nil
	})

	keys := map[string]string{echoKey: benchUserID}
	e := echo.New()
	e.GET(benchPath, handler, echomw.KeyAuth(func(key string, c echo.Context) (bool, error) {
		id, ok := keys[key]
		if ok {
			c.Set("user", id)
		}
		return ok, nil
	}))
	return []benchCase{
		{name: "echo-bare", handler: bare},
		{name: "echo-keyauth", handler: e, authz: "Bearer " + echoKey, bad: map[string]string{
			"unknown-key": "Bearer " + tamper(echoKey),
		}},
	}
}

// peerAccount is the peers' user record: the same stored hash as ours.
type peerAccount struct{ id, hash string }

// basicCases builds BenchmarkBasic's cases for one stored hash. Peers only
// run against bcrypt; httpauth runs against every hash.
func basicCases(tb testing.TB, hashName string) []benchCase {
	tb.Helper()
	hashes := storedHashes(tb, hashName)
	hash := hashes[0]
	var cfg httpauth.Config[User]
	if hashName == "bcrypt4" {
		cfg.Hasher = bcryptHasher{cost: 4}
	}
	good := basicAuthz(benchLogin, benchPassword)
	bad := map[string]string{
		"wrong-password": basicAuthz(benchLogin, benchPassword+"x"),
		"unknown-login":  basicAuthz("mallory@example.com", benchPassword),
		"empty-password": basicAuthz(benchLogin, ""), // a token to httpauth, a wrong password to the peers
	}

	_, cold := newHTTPAuthStore(tb, hash, cfg, func(u httpauth.UserStore[User]) httpauth.UserStore[User] {
		return &coldUsers{UserStore: readOnlyUsers{u}, hashes: hashes}
	})
	_, cached := newHTTPAuth(tb, hash, cfg)
	cases := []benchCase{
		{name: "httpauth-cold", handler: cold, authz: good, bad: bad},
		{name: "httpauth-cached", handler: cached, authz: good, bad: bad},
	}
	if !strings.HasPrefix(hashName, "bcrypt") {
		return cases
	}

	users := map[string]peerAccount{benchLogin: {id: benchUserID, hash: hash}}
	return append(cases,
		benchCase{name: "abbot", handler: abbotHandler(users), authz: good, bad: bad},
		benchCase{name: "goji", handler: gojiHandler(users), authz: good, bad: bad},
		benchCase{name: "echo", handler: echoBasicHandler(users), authz: good, bad: bad},
	)
}

func checkBcrypt(users map[string]peerAccount, login, password string) (peerAccount, bool) {
	acct, ok := users[login]
	if !ok {
		return peerAccount{}, false
	}
	return acct, bcrypt.CompareHashAndPassword([]byte(acct.hash), []byte(password)) == nil
}

// abbotHandler is abbot/go-http-auth's stdlib path: NewContext, then the
// handler reads FromContext. Secrets returns the stored bcrypt hash, which
// the library compares with bcrypt.
func abbotHandler(users map[string]peerAccount) http.Handler {
	a := goauth.NewBasicAuthenticator(benchRealm, func(user, _ string) string {
		return users[user].hash
	})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := goauth.FromContext(r.Context()); info != nil && info.Authenticated {
			answer(w, users[info.Username].id, true)
			return
		}
		answer(w, "", false)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := a.NewContext(r.Context(), r)
		if info := goauth.FromContext(ctx); !info.Authenticated {
			info.UpdateHeaders(w.Header())
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// gojiHandler is goji/httpauth with an AuthFunc doing the store lookup and
// bcrypt. goji puts nothing in the context, so the handler reads the login
// back from the request and looks the user up again.
func gojiHandler(users map[string]peerAccount) http.Handler {
	mw := gojiauth.BasicAuth(gojiauth.AuthOptions{
		Realm: benchRealm,
		AuthFunc: func(user, password string, _ *http.Request) bool {
			_, ok := checkBcrypt(users, user, password)
			return ok
		},
	})
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		login, _, ok := r.BasicAuth()
		acct, found := users[login]
		answer(w, acct.id, ok && found)
	}))
}

// echoBasicHandler is echo v4 BasicAuth with a validator doing the store
// lookup and bcrypt, and c.Set for the handler.
func echoBasicHandler(users map[string]peerAccount) http.Handler {
	e := echo.New()
	e.GET(benchPath, func(c echo.Context) error {
		id, ok := c.Get("user").(string)
		answer(c.Response(), id, ok)
		return nil
	}, echomw.BasicAuth(func(user, password string, c echo.Context) (bool, error) {
		acct, ok := checkBcrypt(users, user, password)
		if ok {
			c.Set("user", acct.id)
		}
		return ok, nil
	}))
	return e
}

// randomLooking is a fixed 32-byte key that looks random, as KeyFromHex
// and NewHMACSigner require: the SHA-256 of seed.
func randomLooking(seed string) []byte {
	sum := sha256.Sum256([]byte(seed))
	return sum[:]
}
