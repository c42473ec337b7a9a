package httpauth

// The one set of test fixtures of the package: an environment (env) with
// its accounts, built in a testing/synctest bubble, a spy handler, a cheap
// counting hasher, a log sink, token crafting, and faulty wrappers of
// every store the Authenticator calls.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// testUser is the host's user type in the tests.
type testUser struct {
	Name string
}

const (
	testKID = "k1"
	alicePW = "correct horse battery"
	bobPW   = "bob-builder-42"
)

var (
	// t0 is the time an environment is ready at: the start of a synctest
	// bubble's clock (2000-01-01 UTC) plus the day newEnv sleeps.
	t0 = time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)

	testKey1 = testSecret(1) // the environment's signing key
	testKey2 = testSecret(2) // an older key, for rotation
	testKey3 = testSecret(3) // another deployment's key

	// cheapHasher keeps tests fast; the real parameters are tested in
	// password_test.go.
	cheapHasher = &argon2idHasher{Memory: 64, Time: 1}

	// longPW is 64 four-byte characters: 256 bytes, beyond bcrypt.
	longPW = strings.Repeat("\U0001D11E", 64)
	// pw72 is exactly bcrypt's 72-byte limit.
	pw72 = strings.Repeat("0123456789ab", 6)
)

// Expected bodies and challenges, byte for byte.
const (
	body400 = `{"error":"bad_request","message":"Malformed authentication request"}` + "\n"
	body401 = `{"error":"unauthorized","message":"Invalid credentials"}` + "\n"

	body401NoCredentials = `{"error":"unauthorized","message":"Credentials required"}` + "\n"
	body401Token         = `{"error":"unauthorized","message":"Invalid token"}` + "\n"
	body401Expired       = `{"error":"unauthorized","message":"Token expired"}` + "\n"
	body401TokenForToken = `{"error":"unauthorized","message":"A token cannot be used to get a token"}` + "\n"
	body403              = `{"error":"forbidden","message":"Insufficient role"}` + "\n"
	body405              = `{"error":"method_not_allowed","message":"Method not allowed"}` + "\n"
	body429              = `{"error":"too_many_requests","message":"Too many failed attempts; try again later"}` + "\n"
	body500              = `{"error":"internal_error","message":"Internal server error"}` + "\n"
	body503              = `{"error":"unavailable","message":"Service busy; try again later"}` + "\n"

	bodyUnconfirmed = `{"error":"forbidden","message":"Unconfirmed account"}` + "\n"
)

var (
	chPlain   = []string{`Basic realm="api", charset="UTF-8"`, `Bearer realm="api"`}
	chToken   = []string{`Basic realm="api", charset="UTF-8"`, `Bearer realm="api", error="invalid_token"`}
	chRequest = []string{`Bearer realm="api", error="invalid_request"`}
	chScope   = []string{`Bearer realm="api", error="insufficient_scope"`}
)

// countingHasher wraps a PasswordHasher, counting calls and the peak number
// of hashes (Verify and Hash) running at once. hook, if set, runs inside
// each call while it is counted as in flight. Without inner, Verify
// refuses every password without hashing.
type countingHasher struct {
	inner    PasswordHasher
	verifies atomic.Int64
	hashes   atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
	hook     func(op string)
}

func (h *countingHasher) enter(op string) {
	n := h.inflight.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if h.hook != nil {
		h.hook(op)
	}
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.hashes.Add(1)
	h.enter("hash")
	defer h.inflight.Add(-1)
	return h.inner.Hash(ctx, pw)
}

func (h *countingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	h.verifies.Add(1)
	h.enter("verify")
	defer h.inflight.Add(-1)
	if h.inner == nil {
		return false, nil
	}
	return h.inner.Verify(ctx, hash, pw)
}

func (h *countingHasher) NeedsRehash(ctx context.Context, hash string) bool {
	return h.inner.NeedsRehash(ctx, hash)
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// spy is the protected handler: it records that it ran and who it saw.
type spy struct {
	calls atomic.Int64
	mu    sync.Mutex
	last  *Identity[testUser]
}

func (s *spy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	id, _ := identityFrom[testUser](r.Context())
	s.mu.Lock()
	s.last = id
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok\n")
}

func (s *spy) lastID() *Identity[testUser] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// storedHashes are the accounts' hashes, computed once per test binary.
var storedHashes = sync.OnceValue(func() map[string]string {
	ctx := context.Background()
	m := map[string]string{}
	for _, pw := range []string{alicePW, bobPW, "pa:ss", "pw-disabled", "caf\u00e9", longPW, "", "password", "admin-pw", "??>>??", "pw-unconfirmed", "ops-pw"} {
		h, err := cheapHasher.Hash(ctx, pw)
		if err != nil {
			panic(err)
		}
		m[pw] = h
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw72), 10)
	if err != nil {
		panic(err)
	}
	m["bcrypt72"] = string(b)
	return m
})

// untrustedHashes are stored hashes that must never verify; each account
// "untrusted-<name>" has one, and the password presented is "password".
var untrustedHashes = sync.OnceValue(func() map[string]string {
	good := storedHashes()["password"] // $argon2id$v=19$m=64,t=1,p=1$…
	sha := sha1.Sum([]byte("password"))
	bc := storedHashes()["bcrypt72"]
	return map[string]string{
		"plaintext": "password",
		"sha":       "{SHA}" + base64.StdEncoding.EncodeToString(sha[:]),
		"md5crypt":  "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"apr1":      "$apr1$saltsalt$9Pn9mWCsu4A2TlhwRGMG9.",
		"unknown":   "$scrypt$ln=16,r=8,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
		"argon2i":   strings.Replace(good, "$argon2id$", "$argon2i$", 1),
		"t0":        strings.Replace(good, "t=1,", "t=0,", 1),
		"p0":        strings.Replace(good, "p=1$", "p=0$", 1),
		"m4g":       strings.Replace(good, "m=64,", "m=4194304,", 1),
		"bcrypt31":  strings.Replace(bc, "$10$", "$31$", 1),
		"empty":     "",
	}
})

// env is an Authenticator with its accounts and fakes. Realm "api", token
// header X-API-Key, CheckAccount refusing unconfirmed accounts with a 403,
// the audit log at Debug as JSON in logs, and reported errors in errs.
//
// The accounts (login / password / ID):
//
//	alice / alicePW / u-alice, role user
//	bob / bobPW / u-bob, role user
//	admin / admin-pw / u-admin, roles user and admin
//	ops / ops-pw / u-ops, role ops
//	colon / pa:ss / u-colon: a password with a colon
//	disabled / pw-disabled / u-disabled: disabled
//	unconfirmed / pw-unconfirmed / u-unconfirmed: refused by CheckAccount
//	nfc / café (NFC) / u-nfc
//	long / longPW / u-long: 256 bytes
//	empty / "" / u-empty
//	urlsafe / ??>>?? / u-urlsafe: base64 with + and /
//	bc72 / pw72 / u-bc72: a bcrypt hash of 72 bytes
//	untrusted-<name> / password: see untrustedHashes
//
// See newEnv for the times.
type env struct {
	auth   *Authenticator[testUser]
	users  *MemoryUserStore[testUser]
	hasher *countingHasher
	logs   *logBuffer
	errs   *errorLog
	next   *spy
	token  string // alice's token, issued a minute before t0
	bobTok string
}

// seedAccounts adds the environment's accounts to users.
func seedAccounts(t testing.TB, users *MemoryUserStore[testUser]) {
	t.Helper()
	ctx := context.Background()
	hs := storedHashes()
	put := func(id, login, hash string, disabled bool, roles ...string) {
		require.NoError(t, users.Put(ctx, login, Account[testUser]{
			ID: id, PasswordHash: hash, Disabled: disabled, Roles: roles,
			Confirmed: id != "u-unconfirmed", // refused by the environment's CheckAccount
			User:      testUser{Name: login},
		}))
	}
	put("u-alice", "alice", hs[alicePW], false, "user")
	put("u-bob", "bob", hs[bobPW], false, "user")
	put("u-admin", "admin", hs["admin-pw"], false, "user", "admin")
	put("u-ops", "ops", hs["ops-pw"], false, "ops")
	put("u-colon", "colon", hs["pa:ss"], false)
	put("u-disabled", "disabled", hs["pw-disabled"], true, "user")
	put("u-unconfirmed", "unconfirmed", hs["pw-unconfirmed"], false, "user")
	put("u-nfc", "nfc", hs["caf\u00e9"], false)
	put("u-long", "long", hs[longPW], false)
	put("u-empty", "empty", hs[""], false)
	put("u-urlsafe", "urlsafe", hs["??>>??"], false)
	put("u-bc72", "bc72", hs["bcrypt72"], false)
	for name, h := range untrustedHashes() {
		put("u-untrusted-"+name, "untrusted-"+name, h, false)
	}
}

// envOpt changes an environment's setup before it is built.
type envOpt = func(*testSetup[testUser])

// newEnv builds an environment in a synctest bubble (synctest.Test), whose
// clock starts at 2000-01-01 UTC and moves only when every goroutine in it
// is blocked, so that time.Sleep(d) moves it by d at once. The accounts are
// created a day before newEnv returns, alice's and bob's tokens a minute
// before; a bubble's first environment is ready at t0.
func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	if time.Now().Year() >= 2020 {
		t.Fatal("newEnv must run in a synctest bubble")
	}
	ctx := context.Background()
	e := &env{
		users:  NewMemoryUserStore[testUser](cheapHasher),
		hasher: &countingHasher{inner: cheapHasher},
		logs:   &logBuffer{},
		next:   &spy{},
	}
	seedAccounts(t, e.users)
	time.Sleep(24*time.Hour - time.Minute)

	e.errs = newErrorLog(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := testSetup[testUser]{Config: Config[testUser]{
		Users:       e.users,
		Signer:      mustSigner(SigningKey{ID: testKID, Secret: testKey1}),
		Realm:       "api",
		TokenHeader: "X-API-Key",
		Hasher:      e.hasher,
		Logger:      slog.New(e.errs),
		CheckAccount: func(_ *http.Request, a *Account[testUser]) error {
			if !a.Confirmed {
				return Forbidden("Unconfirmed account")
			}
			return nil
		},
	}}
	for _, o := range opts {
		o(&s)
	}
	a := s.build(t)
	e.auth = a

	// Tokens issued a minute before ready. A deliberately broken signer
	// cannot mint, so craft them then.
	var err error
	if e.token, _, err = a.IssueToken(ctx, "u-alice"); err != nil {
		e.token = craftToken(time.Now(), time.Now().Add(time.Hour), "u-alice")
	}
	if e.bobTok, _, err = a.IssueToken(ctx, "u-bob"); err != nil {
		e.bobTok = craftToken(time.Now(), time.Now().Add(time.Hour), "u-bob")
	}
	e.hasher.verifies.Store(0)
	e.hasher.hashes.Store(0)
	time.Sleep(time.Minute)
	return e
}

func basicHeader(login, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pw))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// newReq builds a request and sets header pairs raw (no validation), so
// that NUL, CR, LF and duplicate lines reach the handler as given.
func newReq(method, target string, kv ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header = http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := http.CanonicalHeaderKey(kv[i])
		r.Header[k] = append(r.Header[k], kv[i+1])
	}
	return r
}

// getReq is a GET of a protected resource with header pairs.
func getReq(kv ...string) *http.Request { return newReq(http.MethodGet, "/api/things", kv...) }

func (e *env) serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// status serves a GET with Authorization value authz (none if empty)
// through Middleware and returns the status.
func (e *env) status(authz string) int {
	r := getReq()
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return e.serve(e.auth.Middleware(&spy{}), r).Code
}

// mintReply POSTs login and password to h, a token endpoint.
func (e *env) mintReply(h http.Handler, login, pw string) *httptest.ResponseRecorder {
	return e.serve(h, newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader(login, pw)))
}

// mint gets a token from TokenHandler for login and password.
func (e *env) mint(t *testing.T, login, pw string) string {
	t.Helper()
	return tokenOf(t, e.mintReply(e.auth.TokenHandler(), login, pw))
}

// tokenOf returns the token of a 200 token reply.
func tokenOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var reply tokenReply
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &reply))
	require.NotEmpty(t, reply.Token)
	return reply.Token
}

// newTestSigner is a signer of purpose ("" for access tokens) with keys
// (testKey1 as k1 if none), on the real clock (a synctest bubble's, in
// one).
func newTestSigner(t *testing.T, purpose string, keys ...SigningKey) *HMACSigner {
	t.Helper()
	if len(keys) == 0 {
		keys = []SigningKey{{ID: testKID, Secret: testKey1}}
	}
	if purpose == "" {
		purpose = defaultPurpose
	}
	s, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: purpose})
	require.NoError(t, err)
	return s
}

// ---------------------------------------------------------------------------
// Token crafting: an independent implementation of token.go's layout and key
// derivation, so tests can sign arbitrary payload bytes, including values
// Sign refuses to make.

func craftKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("httpauth-token-v1\x00" + purpose))
	return m.Sum(nil)
}

func signRaw(kid string, secret []byte, purpose string, payload []byte) string {
	signed := kid + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, craftKey(secret, purpose))
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// testJTI is the token ID of crafted tokens.
var testJTI = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func tokenPayload(version byte, iat, exp int64, jti [16]byte, sub string) []byte {
	p := make([]byte, 33, 33+len(sub))
	p[0] = version
	binary.BigEndian.PutUint64(p[1:], uint64(iat))
	binary.BigEndian.PutUint64(p[9:], uint64(exp))
	copy(p[17:], jti[:])
	return append(p, sub...)
}

// craftToken signs a version-1 access token for sub with the
// environment's key.
func craftToken(iat, exp time.Time, sub string) string {
	return signRaw(testKID, testKey1, defaultPurpose, tokenPayload(tokenVersion, iat.UnixNano(), exp.UnixNano(), testJTI, sub))
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flipPadBits changes the last base64url character of s so that only its
// unused low bits differ (43-char MAC: the last char carries 4 data bits).
func flipPadBits(s string) string {
	i := strings.IndexByte(base64URLAlphabet, s[len(s)-1])
	return s[:len(s)-1] + string(base64URLAlphabet[i^1])
}

// flipChar changes the character at i of s.
func flipChar(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func tokenParts(tok string) (kid, payload, mac string) {
	p := strings.SplitN(tok, ".", 3)
	return p[0], p[1], p[2]
}

// ---------------------------------------------------------------------------
// Faulty wrappers. A mode is "" (pass through), "error", "panic", and for
// stores also "panic-error" (panic with an error) and "nil" (nil, nil).

// errFault is the cause every faulty wrapper reports. It holds what must
// never reach a client.
var errFault = errors.New("db down: password=hunter2 at 10.9.8.7")

type faultyStore struct {
	UserStore[testUser]
	byLogin, byID string
}

func fault(mode string) (*Account[testUser], error) {
	switch mode {
	case "error":
		return nil, errFault
	case "panic":
		panic("store exploded: " + errFault.Error())
	case "panic-error":
		panic(errFault)
	}
	return nil, nil
}

func (s *faultyStore) UserByLogin(ctx context.Context, login string) (*Account[testUser], error) {
	if s.byLogin != "" {
		return fault(s.byLogin)
	}
	return s.UserStore.UserByLogin(ctx, login)
}

func (s *faultyStore) UserByID(ctx context.Context, id string) (*Account[testUser], error) {
	if s.byID != "" {
		return fault(s.byID)
	}
	return s.UserStore.UserByID(ctx, id)
}

// swapStore picks the store per call, so a test can swap it.
type swapStore func() UserStore[testUser]

func (f swapStore) UserByLogin(ctx context.Context, login string) (*Account[testUser], error) {
	return f().UserByLogin(ctx, login)
}

func (f swapStore) UserByID(ctx context.Context, id string) (*Account[testUser], error) {
	return f().UserByID(ctx, id)
}

type faultySigner struct {
	TokenSigner
	sign, verify string
}

func (s *faultySigner) Sign(ctx context.Context, c Claims) (string, error) {
	switch s.sign {
	case "error":
		return "", errFault
	case "panic":
		panic(errFault)
	}
	return s.TokenSigner.Sign(ctx, c)
}

func (s *faultySigner) Verify(ctx context.Context, tok string) (Claims, error) {
	switch s.verify {
	case "error":
		return Claims{}, errFault
	case "panic":
		panic(errFault)
	}
	return s.TokenSigner.Verify(ctx, tok)
}

type faultyRevocations struct {
	RevocationStore
	revoke, check string
}

func (s *faultyRevocations) Revoke(ctx context.Context, id [16]byte, exp time.Time) error {
	switch s.revoke {
	case "error":
		return errFault
	case "panic":
		panic(errFault)
	}
	return s.RevocationStore.Revoke(ctx, id, exp)
}

func (s *faultyRevocations) IsRevoked(ctx context.Context, id [16]byte) (bool, error) {
	switch s.check {
	case "error":
		return false, errFault
	case "panic":
		panic(errFault)
	}
	return s.RevocationStore.IsRevoked(ctx, id)
}

// testLimiter wraps a Limiter: it counts Reserve calls and fails on
// demand.
type testLimiter struct {
	Limiter
	reserves              atomic.Int64
	allow, reserve, reset string
}

func (l *testLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	switch l.allow {
	case "error":
		return true, 0, errFault // ok=true with an error must still fail closed
	case "panic":
		panic(errFault)
	}
	return l.Limiter.Allow(ctx, key)
}

func (l *testLimiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	defer l.reserves.Add(1)
	switch l.reserve {
	case "error":
		return true, 0, errFault // ok=true with an error must still fail closed
	case "panic":
		panic(errFault)
	}
	return l.Limiter.Reserve(ctx, key)
}

func (l *testLimiter) Reset(ctx context.Context, key string) error {
	switch l.reset {
	case "error":
		return errFault
	case "panic":
		panic(errFault)
	}
	return l.Limiter.Reset(ctx, key)
}

type faultyHasher struct {
	PasswordHasher
	verify string
}

func (h *faultyHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	switch h.verify {
	case "error":
		return true, errFault // a "match" with an error must still fail closed
	case "panic":
		panic(errFault)
	}
	return h.PasswordHasher.Verify(ctx, hash, pw)
}

// testSetup is what a test builds an Authenticator from: the public Config
// and the internal options (cache sizes, limits, …) that New leaves at their
// defaults.
type testSetup[U any] struct {
	Config[U]
	options
}

// build is New with the options.
func (s *testSetup[U]) build(t testing.TB) *Authenticator[U] {
	t.Helper()
	a, err := build(s.Config, s.options)
	require.NoError(t, err)
	return a
}

// mustSigner returns the default signer for keys. It panics on bad keys,
// so tables can call it.
func mustSigner(keys ...SigningKey) *HMACSigner {
	s, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: defaultPurpose})
	if err != nil {
		panic(err)
	}
	return s
}

// errorLog is a slog.Handler that keeps the "error" attribute of every
// record, the causes the Authenticator reports, and passes records on.
type errorLog struct {
	next slog.Handler
	mu   *sync.Mutex
	errs *[]error
}

func newErrorLog(next slog.Handler) *errorLog {
	return &errorLog{next: next, mu: &sync.Mutex{}, errs: new([]error)}
}

func (h *errorLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *errorLog) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "error" {
			h.mu.Lock()
			*h.errs = append(*h.errs, err)
			h.mu.Unlock()
		}
		return true
	})
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *errorLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *errorLog) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// list returns the errors reported so far.
func (h *errorLog) list() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), *h.errs...)
}

// testSecret returns a 32-byte secret of 32 distinct bytes, so that the
// key checks accept it; seed tells secrets apart.
func testSecret(seed byte) []byte {
	sum := sha256.Sum256([]byte{'k', seed}) // random-looking, as KeyFromHex wants
	return sum[:]
}
