package httpauth

// Hostile-input tests: the cases of security.md section 4 run through the
// real middleware, token handler and parser, plus the hasher-call counter,
// brute force under concurrency, fail-closed faults, allocation bounds and
// audit-log hygiene.
//
// Every helper here is prefixed hx so it cannot collide with the other test
// files of the package. Each bug these tests found has been fixed; the
// cases stay as regression tests.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// ---------------------------------------------------------------------------
// Fixtures

type hxUser struct{ Name string }

const (
	hxRealm   = "api"
	hxKID     = "k1"
	hxPurpose = defaultPurpose

	hxAlicePW = "correct horse battery"
	hxBobPW   = "bob-builder-42"
)

var (
	hxT0          = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hxSecret      = testSecret(0x5a)
	hxOldSecret   = testSecret(0x3c)
	hxOtherSecret = testSecret(0xa5)

	hxCheapHasher = &argon2idHasher{Memory: 64, Time: 1}

	// hxLongPW is 64 four-byte characters: 256 bytes, beyond bcrypt.
	hxLongPW = strings.Repeat("\U0001D11E", 64)
	// hxP72 is exactly bcrypt's 72-byte limit.
	hxP72 = strings.Repeat("0123456789ab", 6)
)

// Expected bodies and challenges, byte for byte.
const (
	hxBody400 = `{"error":"bad_request","message":"Malformed authentication request"}` + "\n"
	hxBody401 = `{"error":"unauthorized","message":"Invalid credentials"}` + "\n"
	hxBody403 = `{"error":"forbidden","message":"Insufficient role"}` + "\n"
	hxBody405 = `{"error":"method_not_allowed","message":"Method not allowed"}` + "\n"
	hxBody429 = `{"error":"too_many_requests","message":"Too many failed attempts; try again later"}` + "\n"
	hxBody500 = `{"error":"internal_error","message":"Internal server error"}` + "\n"
	hxBody503 = `{"error":"unavailable","message":"Service busy; try again later"}` + "\n"
)

var (
	hxChPlain   = []string{`Basic realm="api", charset="UTF-8"`, `Bearer realm="api"`}
	hxChToken   = []string{`Basic realm="api", charset="UTF-8"`, `Bearer realm="api", error="invalid_token"`}
	hxChRequest = []string{`Bearer realm="api", error="invalid_request"`}
	hxChScope   = []string{`Bearer realm="api", error="insufficient_scope"`}
)

// hxWant is an expected response. challenge nil means no WWW-Authenticate.
type hxWant struct {
	status    int
	challenge []string
	body      string
}

var (
	hxU   = hxWant{http.StatusUnauthorized, hxChPlain, hxBody401} // bare challenges
	hxTok = hxWant{http.StatusUnauthorized, hxChToken, hxBody401} // invalid_token
	hxR   = hxWant{http.StatusBadRequest, hxChRequest, hxBody400} // invalid_request
	hxOK  = hxWant{status: http.StatusOK}                         // next handler ran
	hx429 = hxWant{status: http.StatusTooManyRequests, body: hxBody429}
)

type hxClock struct{ ns atomic.Int64 }

func hxNewClock(t time.Time) *hxClock {
	c := &hxClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *hxClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *hxClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *hxClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }

// hxHasher wraps a PasswordHasher, counting calls and the peak number of
// hashes (Verify and Hash) running at once. hook, if set, runs inside
// Verify while the call is counted as in flight.
type hxHasher struct {
	inner    PasswordHasher
	verifies atomic.Int64
	hashes   atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
	hook     func(op string)
}

func (h *hxHasher) enter(op string) {
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

func (h *hxHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.hashes.Add(1)
	h.enter("hash")
	defer h.inflight.Add(-1)
	return h.inner.Hash(ctx, pw)
}

func (h *hxHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	h.verifies.Add(1)
	h.enter("verify")
	defer h.inflight.Add(-1)
	return h.inner.Verify(ctx, hash, pw)
}

func (h *hxHasher) NeedsRehash(ctx context.Context, hash string) bool {
	return h.inner.NeedsRehash(ctx, hash)
}

// hxLog is a goroutine-safe log sink.
type hxLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *hxLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *hxLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// hxSpy is the next handler: it records that it ran and who it saw.
type hxSpy struct {
	calls atomic.Int64
	mu    sync.Mutex
	last  *Identity[hxUser]
}

func (s *hxSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	id, _ := identityFrom[hxUser](r.Context())
	s.mu.Lock()
	s.last = id
	s.mu.Unlock()
	_, _ = io.WriteString(w, "ok\n")
}

func (s *hxSpy) lastID() *Identity[hxUser] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Stored hashes are computed once per test binary.
var hxHashes = sync.OnceValue(func() map[string]string {
	ctx := context.Background()
	m := map[string]string{}
	for _, pw := range []string{hxAlicePW, hxBobPW, "pa:ss", "pw-disabled", "caf\u00e9", hxLongPW, "", "password", "admin-pw", "??>>??", "pw-unconfirmed"} {
		h, err := hxCheapHasher.Hash(ctx, pw)
		if err != nil {
			panic(err)
		}
		m[pw] = h
	}
	b, err := bcrypt.GenerateFromPassword([]byte(hxP72), 10)
	if err != nil {
		panic(err)
	}
	m["bcrypt72"] = string(b)
	return m
})

// hxUntrusted are stored hashes that must never verify; each user
// "untrusted-<name>" has one, and the password presented is "password".
var hxUntrusted = sync.OnceValue(func() map[string]string {
	good := hxHashes()["password"] // $argon2id$v=19$m=64,t=1,p=1$…
	sha := sha1.Sum([]byte("password"))
	bc := hxHashes()["bcrypt72"]
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

type hxEnv struct {
	auth   *Authenticator[hxUser]
	users  *MemoryUserStore[hxUser]
	clock  *hxClock
	hasher *hxHasher
	logs   *hxLog
	errs   *errorLog
	next   *hxSpy
	token  string // alice's token, minted at clock time − 1 minute
	bobTok string
}

type hxOpt func(*testSetup[hxUser])

func hxNew(t testing.TB, opts ...hxOpt) *hxEnv {
	t.Helper()
	ctx := context.Background()
	e := &hxEnv{
		users:  NewMemoryUserStore[hxUser](hxCheapHasher),
		clock:  hxNewClock(hxT0),
		hasher: &hxHasher{inner: hxCheapHasher},
		logs:   &hxLog{},
		next:   &hxSpy{},
	}
	hs := hxHashes()
	put := func(id, login, hash string, disabled bool, roles ...string) {
		require.NoError(t, e.users.Put(ctx, login, Account[hxUser]{
			ID: id, PasswordHash: hash, Disabled: disabled, Roles: roles, User: hxUser{Name: login},
		}))
	}
	put("u-alice", "alice", hs[hxAlicePW], false, "user")
	put("u-bob", "bob", hs[hxBobPW], false, "user")
	put("u-admin", "admin", hs["admin-pw"], false, "user", "admin")
	put("u-colon", "colon", hs["pa:ss"], false)
	put("u-disabled", "disabled", hs["pw-disabled"], true, "user")
	put("u-unconfirmed", "unconfirmed", hs["pw-unconfirmed"], false, "user")
	put("u-nfc", "nfc", hs["caf\u00e9"], false)
	put("u-long", "long", hs[hxLongPW], false)
	put("u-empty", "empty", hs[""], false)
	put("u-urlsafe", "urlsafe", hs["??>>??"], false)
	put("u-bc72", "bc72", hs["bcrypt72"], false)
	for name, h := range hxUntrusted() {
		put("u-untrusted-"+name, "untrusted-"+name, h, false)
	}

	e.errs = newErrorLog(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testSetup[hxUser]{Config: Config[hxUser]{
		Users:       e.users,
		Signer:      mustSigner(e.clock.Now, SigningKey{ID: hxKID, Secret: hxSecret}),
		Realm:       hxRealm,
		TokenHeader: "X-API-Key",
		Hasher:      e.hasher,
		Logger:      slog.New(e.errs),
		CheckAccount: func(_ *http.Request, a *Account[hxUser]) error {
			if a.ID == "u-unconfirmed" {
				return Forbidden("Unconfirmed account")
			}
			return nil
		},
	}, options: options[hxUser]{now: e.clock.Now}}
	for _, o := range opts {
		o(&cfg)
	}
	a := cfg.build(t)
	var err error
	e.auth = a
	e.hasher.verifies.Store(0)
	e.hasher.hashes.Store(0)

	// Tokens issued a minute ago. A deliberately broken signer cannot
	// mint, so craft them then.
	e.clock.Add(-time.Minute)
	if e.token, _, err = a.IssueToken(ctx, "u-alice"); err != nil {
		e.token = hxCraft(e.clock.Now(), e.clock.Now().Add(time.Hour), "u-alice")
	}
	if e.bobTok, _, err = a.IssueToken(ctx, "u-bob"); err != nil {
		e.bobTok = hxCraft(e.clock.Now(), e.clock.Now().Add(time.Hour), "u-bob")
	}
	e.clock.Add(time.Minute)
	return e
}

func hxBasic(login, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pw))
}

func hxB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// hxReq builds a request and sets header pairs raw (no validation), so
// that NUL, CR, LF and duplicate lines reach the handler as given.
func hxReq(method, target string, kv ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header = http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := http.CanonicalHeaderKey(kv[i])
		r.Header[k] = append(r.Header[k], kv[i+1])
	}
	return r
}

func hxGet(kv ...string) *http.Request { return hxReq(http.MethodGet, "/api/things", kv...) }

func (e *hxEnv) serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// ---------------------------------------------------------------------------
// Token crafting: an independent implementation of token.go's layout and key
// derivation, so tests can sign arbitrary payload bytes.

func hxDeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("httpauth-token-v1\x00" + purpose))
	return m.Sum(nil)
}

func hxSignRaw(kid string, secret []byte, purpose string, payload []byte) string {
	signed := kid + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, hxDeriveKey(secret, purpose))
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var hxJTI = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func hxPayload(version byte, iat, exp int64, jti [16]byte, sub string) []byte {
	p := make([]byte, 33, 33+len(sub))
	p[0] = version
	binary.BigEndian.PutUint64(p[1:], uint64(iat))
	binary.BigEndian.PutUint64(p[9:], uint64(exp))
	copy(p[17:], jti[:])
	return append(p, sub...)
}

// hxCraft signs a version-1 payload for sub with the default key.
func hxCraft(iat, exp time.Time, sub string) string {
	return hxSignRaw(hxKID, hxSecret, hxPurpose, hxPayload(tokenVersion, iat.UnixNano(), exp.UnixNano(), hxJTI, sub))
}

func TestHostileTokenHelperMatchesSigner(t *testing.T) {
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: hxKID, Secret: hxSecret}}, Now: func() time.Time { return hxT0 }})
	require.NoError(t, err)
	c := Claims{Subject: "u-alice", ID: hxJTI, IssuedAt: hxT0.Add(-time.Minute), ExpiresAt: hxT0.Add(time.Hour)}
	tok, err := s.Sign(context.Background(), c)
	require.NoError(t, err)
	require.Equal(t, tok, hxCraft(c.IssuedAt, c.ExpiresAt, c.Subject), "test helper must reproduce the signer byte for byte")
	got, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, c.Subject, got.Subject)
}

// ---------------------------------------------------------------------------
// The big table.

type hxCase struct {
	name     string
	req      func(e *hxEnv) *http.Request
	handler  func(e *hxEnv) http.Handler // default: Middleware(spy)
	opts     []hxOpt
	setup    func(t *testing.T, e *hxEnv)
	want     hxWant
	wantUser string // for 200 through the middleware: the account the next handler saw
	verifies int    // exact Verify calls; -1 = not checked
	secrets  func(e *hxEnv) []string
	check    func(t *testing.T, e *hxEnv, w *httptest.ResponseRecorder)
}

// hdr returns a request builder with static header pairs.
func hdr(kv ...string) func(*hxEnv) *http.Request {
	return func(*hxEnv) *http.Request { return hxGet(kv...) }
}

func authz(v string) func(*hxEnv) *http.Request { return hdr("Authorization", v) }

func withTok(f func(tok string) []string) func(*hxEnv) *http.Request {
	return func(e *hxEnv) *http.Request { return hxGet(f(e.token)...) }
}

func bearer(f func(tok string) string) func(*hxEnv) *http.Request {
	return withTok(func(tok string) []string { return []string{"Authorization", "Bearer " + f(tok)} })
}

func hxTokenHandler(e *hxEnv) http.Handler { return e.auth.TokenHandler() }

// hxFlipLast changes the last base64url character of s so that only its
// unused low bits differ (43-char MAC: the last char carries 4 data bits).
func hxFlipPadBits(s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, s[len(s)-1])
	return s[:len(s)-1] + string(alpha[i^1])
}

func hxFlipChar(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func hxParts(tok string) (kid, payload, mac string) {
	p := strings.SplitN(tok, ".", 3)
	return p[0], p[1], p[2]
}

func hostileCases() []hxCase {
	alice := hxBasic("alice", hxAlicePW)
	aliceB64 := hxB64("alice:" + hxAlicePW)
	now := hxT0
	craft := func(iat, exp time.Time, sub string) func(*hxEnv) *http.Request {
		return authz("Bearer " + hxCraft(iat, exp, sub))
	}
	raw := func(payload []byte) func(*hxEnv) *http.Request {
		return authz("Bearer " + hxSignRaw(hxKID, hxSecret, hxPurpose, payload))
	}
	iat, exp := now.Add(-time.Minute).UnixNano(), now.Add(time.Hour).UnixNano()

	return []hxCase{
		// --- 1-15: header shape ---------------------------------------------
		{name: "01/no header", req: hdr(), want: hxU},
		{name: "02/empty Authorization", req: authz(""), want: hxU},
		{name: "03/Digest", req: authz(`Digest username="alice", realm="api", nonce="x", uri="/", response="0"`), want: hxU},
		{name: "03/Token", req: authz("Token abcdefabcdef"), want: hxU},
		{name: "03/Negotiate", req: authz("Negotiate YIIabcdefgh"), want: hxU},
		{name: "04/bAsIc accepted", req: authz("bAsIc " + aliceB64), want: hxOK, wantUser: "u-alice", verifies: 1},
		{name: "04/BASIC accepted", req: authz("BASIC " + aliceB64), want: hxOK, wantUser: "u-alice", verifies: 1},
		{name: "04/BEARER accepted", req: withTok(func(tok string) []string { return []string{"Authorization", "BEARER " + tok} }), want: hxOK, wantUser: "u-alice"},
		{name: "04/bearer accepted", req: withTok(func(tok string) []string { return []string{"Authorization", "bearer " + tok} }), want: hxOK, wantUser: "u-alice"},
		{name: "05/bare Basic", req: authz("Basic"), want: hxU},
		{name: "05/bare Bearer", req: authz("Bearer"), want: hxTok},
		{name: "06/Basic space nothing", req: authz("Basic "), want: hxU},
		{name: "06/Bearer space nothing", req: authz("Bearer "), want: hxTok},
		{name: "07/Basicxxx", req: authz("Basic" + aliceB64), want: hxU},
		{name: "07/Bearerabc", req: withTok(func(tok string) []string { return []string{"Authorization", "Bearer" + tok} }), want: hxU},
		{name: "08/Basic two spaces rejected", req: authz("Basic  " + aliceB64), want: hxU},
		{name: "08/Bearer two spaces rejected", req: bearer(func(tok string) string { return " " + tok }), want: hxTok},
		{name: "08/Basic tab", req: authz("Basic\t" + aliceB64), want: hxU},
		{name: "08/Bearer tab", req: withTok(func(tok string) []string { return []string{"Authorization", "Bearer\t" + tok} }), want: hxU},
		{name: "08/Basic trailing space", req: authz(alice + " "), want: hxU},
		{name: "08/Bearer trailing space", req: bearer(func(tok string) string { return tok + " " }), want: hxTok},
		{name: "09/two valid Basic lines", req: hdr("Authorization", alice, "Authorization", hxBasic("bob", hxBobPW)), want: hxR},
		{name: "09/valid then garbage", req: hdr("Authorization", alice, "Authorization", "Basic zzz"), want: hxR},
		{name: "09/garbage then valid", req: hdr("Authorization", "Basic zzz", "Authorization", alice), want: hxR},
		{name: "09/Basic and Bearer lines", req: withTok(func(tok string) []string {
			return []string{"Authorization", "Bearer " + tok, "Authorization", alice}
		}), want: hxR},
		{name: "09/Authorization and token header", req: withTok(func(tok string) []string {
			return []string{"Authorization", alice, "X-API-Key", tok}
		}), want: hxR},
		{name: "09/two token header lines", req: withTok(func(tok string) []string {
			return []string{"X-API-Key", tok, "X-API-Key", tok}
		}), want: hxR},
		{name: "10/Basic x, Bearer y", req: withTok(func(tok string) []string {
			return []string{"Authorization", alice + ", Bearer " + tok}
		}), want: hxU},
		{name: "10/Bearer y, Basic x", req: withTok(func(tok string) []string {
			return []string{"Authorization", "Bearer " + tok + ", " + alice}
		}), want: hxTok},
		{name: "11/query token only", req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodGet, "/api/things?access_token="+url.QueryEscape(e.token))
		}, want: hxU, secrets: func(e *hxEnv) []string { return []string{e.token} }},
		{name: "11/query token plus header", req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodGet, "/api/things?access_token="+url.QueryEscape(e.bobTok), "Authorization", "Bearer "+e.token)
		}, want: hxR, secrets: func(e *hxEnv) []string { return []string{e.bobTok} }},
		{name: "12/900KiB Basic", req: authz("Basic " + strings.Repeat("QUFB", 900*256)), want: hxU},
		{name: "12/900KiB Bearer", req: authz("Bearer " + strings.Repeat("a", 900<<10)), want: hxTok},
		// Issue 9 #8: a failed token gets invalid_token in every transport.
		{name: "12/900KiB token header", req: hdr("X-API-Key", strings.Repeat("a", 900<<10)), want: hxTok},
		{name: "13/Bearer 100k dots", req: authz("Bearer " + strings.Repeat(".", 100_000)), want: hxTok},
		{name: "13/Bearer 8000 dots (under the cap)", req: authz("Bearer " + strings.Repeat(".", 8000)), want: hxTok},
		{name: "14/NUL after Basic value", req: authz(alice + "\x00"), want: hxU},
		{name: "14/NUL inside Basic value", req: authz("Basic " + aliceB64[:4] + "\x00" + aliceB64[4:]), want: hxU},
		{name: "14/NUL after Bearer token", req: bearer(func(tok string) string { return tok + "\x00" }), want: hxTok},
		{name: "14/LF inside Bearer token", req: bearer(func(tok string) string { return tok[:10] + "\n" + tok[10:] }), want: hxTok},
		{name: "14/CRLF after Bearer token", req: bearer(func(tok string) string { return tok + "\r\n" }), want: hxTok},
		{name: "14/LF inside token header", req: withTok(func(tok string) []string { return []string{"X-API-Key", tok[:10] + "\n" + tok[10:]} }), want: hxTok},
		{name: "14/CRLF after Basic value", req: authz(alice + "\r\n"), want: hxU, verifies: 0},
		{name: "14/LF inside Basic value", req: authz("Basic " + aliceB64[:8] + "\n" + aliceB64[8:]), want: hxU, verifies: 0},
		{name: "14/CR inside Basic token-as-username", req: withTok(func(tok string) []string {
			b := hxB64(tok + ":")
			return []string{"Authorization", "Basic " + b[:8] + "\r" + b[8:]}
		}), want: hxU},
		{name: "15/high bytes Basic", req: authz("Basic \xff\xfe\x80\x81"), want: hxU},
		{name: "15/high bytes after Basic value", req: authz(alice + "\x80"), want: hxU},
		{name: "15/high bytes Bearer", req: authz("Bearer \xff\xfe\x80\x81"), want: hxTok},

		// --- 16-33: Basic payload --------------------------------------------
		{name: "16/NOT_VALID_BASE64", req: authz("Basic NOT_VALID_BASE64"), want: hxU},
		{name: "16/=a=", req: authz("Basic =a="), want: hxU},
		{name: "16/Basic foo bar", req: authz("Basic foo bar"), want: hxU},
		{name: "17/unpadded", req: authz("Basic " + strings.TrimRight(hxB64("alice:pw-x"), "=")), want: hxU},
		{name: "17/extra padding", req: authz("Basic " + hxB64("alice:"+hxAlicePW) + "=="), want: hxU},
		{name: "17/url-safe alphabet", req: func(*hxEnv) *http.Request {
			std := hxB64("urlsafe:??>>??")
			if !strings.ContainsAny(std, "+/") {
				panic("fixture: urlsafe credentials must encode with + or /")
			}
			u := strings.NewReplacer("+", "-", "/", "_").Replace(std)
			return hxGet("Authorization", "Basic "+u)
		}, want: hxU},
		{name: "17/std alphabet control for url-safe user", req: authz(hxBasic("urlsafe", "??>>??")), want: hxOK, wantUser: "u-urlsafe", verifies: 1},
		{name: "17/non-zero pad bits", req: func(*hxEnv) *http.Request {
			b := hxB64("alice:" + hxAlicePW + "x") // 1 trailing byte: 4 pad bits
			if !strings.HasSuffix(b, "==") {
				panic("fixture: want two pad chars")
			}
			return hxGet("Authorization", "Basic "+hxFlipPadBits(b[:len(b)-2])+"==")
		}, want: hxU},
		{name: "18/no colon", req: authz("Basic " + hxB64("alice"+hxAlicePW)), want: hxU},
		{name: "19/colon in password", req: authz(hxBasic("colon", "pa:ss")), want: hxOK, wantUser: "u-colon", verifies: 1},
		{name: "19/split at first colon only", req: authz(hxBasic("colon", "pa")), want: hxU, verifies: 1},
		{name: "20/empty login with password", req: authz(hxBasic("", "pw-x")), want: hxU, verifies: 1},
		// Og== is ":" — an empty username and password, i.e. an empty token
		// in the token-as-username transport: refused like a bare Bearer.
		{name: "20/Og==", req: authz("Basic Og=="), want: hxTok},
		// "alice:" is the token transport with token "alice": never a
		// password check, even though user "empty" has the hash of "".
		{name: "21/login with empty password", req: authz(hxBasic("empty", "")), want: hxTok},
		{name: "21/alice with empty password", req: authz(hxBasic("alice", "")), want: hxTok},
		{name: "22/NUL in login", req: authz(hxBasic("ali\x00ce", hxAlicePW)), want: hxU},
		{name: "22/NUL truncating password", req: authz(hxBasic("alice", hxAlicePW+"\x00junk")), want: hxU},
		{name: "22/NUL in password", req: authz(hxBasic("alice", "\x00")), want: hxU},
		{name: "22/0x1f in password", req: authz(hxBasic("alice", hxAlicePW+"\x1f")), want: hxU},
		{name: "22/DEL in login", req: authz(hxBasic("alice\x7f", hxAlicePW)), want: hxU},
		{name: "22/CRLF in password", req: authz(hxBasic("alice", hxAlicePW+"\r\n")), want: hxU},
		{name: "22/LF in login", req: authz(hxBasic("alice\n", hxAlicePW)), want: hxU},
		{name: "23/invalid UTF-8 password", req: authz(hxBasic("alice", "\xff\xfe")), want: hxU},
		{name: "23/invalid UTF-8 login", req: authz(hxBasic("\xc3(", "pw")), want: hxU},
		{name: "23/no Latin-1 fallback", req: authz(hxBasic("nfc", "caf\xe9")), want: hxU},
		{name: "24/NFC control", req: authz(hxBasic("nfc", "caf\u00e9")), want: hxOK, wantUser: "u-nfc", verifies: 1},
		{name: "24/NFD differs", req: authz(hxBasic("nfc", "cafe\u0301")), want: hxU, verifies: 1},
		{name: "25/256-byte password with argon2id", req: authz(hxBasic("long", hxLongPW)), want: hxOK, wantUser: "u-long", verifies: 1},
		{name: "26/bcrypt 72 bytes exact", req: authz(hxBasic("bc72", hxP72)), want: hxOK, wantUser: "u-bc72", verifies: 1},
		{name: "26/bcrypt 72 bytes plus x", req: authz(hxBasic("bc72", hxP72+"x")), want: hxU, verifies: 1},
		{name: "26/bcrypt 71-byte prefix", req: authz(hxBasic("bc72", hxP72[:71])), want: hxU, verifies: 1},
		{name: "27/100KiB password", req: authz(hxBasic("alice", strings.Repeat("p", 100<<10))), want: hxU},
		{name: "27/password over MaxPasswordLen", req: authz(hxBasic("alice", strings.Repeat("p", 1025))), want: hxU},
		{name: "27/password at MaxPasswordLen is hashed", req: authz(hxBasic("alice", strings.Repeat("p", 1024))), want: hxU, verifies: 1},
		{name: "27/login over 512 bytes", req: authz(hxBasic(strings.Repeat("l", 513), "pw")), want: hxU},
		{name: "28/unknown login", req: authz(hxBasic("nobody", "pw-x")), want: hxU, verifies: 1},
		{name: "28/wrong password", req: authz(hxBasic("alice", "pw-x")), want: hxU, verifies: 1},
		{name: "28/disabled, right password", req: authz(hxBasic("disabled", "pw-disabled")), want: hxU, verifies: 1},
		{name: "33/CRLF log injection in login", req: authz(hxBasic("admin\r\n[INFO] ok", "pw")), want: hxU},
		{name: "33/ANSI escape in login", req: authz(hxBasic("\x1b[31madmin\x1b[0m", "pw")), want: hxU},

		// --- 34-49: tokens ----------------------------------------------------
		{name: "34/Bearer", req: bearer(func(tok string) string { return tok }), want: hxOK, wantUser: "u-alice"},
		{name: "34/Basic token as username", req: withTok(func(tok string) []string {
			return []string{"Authorization", hxBasic(tok, "")}
		}), want: hxOK, wantUser: "u-alice"},
		{name: "34/Basic token with password", req: withTok(func(tok string) []string {
			return []string{"Authorization", hxBasic(tok, "unused")}
		}), want: hxU, verifies: -1, secrets: func(e *hxEnv) []string { return []string{e.token} }},
		{name: "34/token header", req: withTok(func(tok string) []string { return []string{"X-API-Key", tok} }), want: hxOK, wantUser: "u-alice"},
		{name: "35/flipped kid", req: bearer(func(tok string) string { return "k2" + tok[2:] }), want: hxTok},
		{name: "35/flipped payload", req: bearer(func(tok string) string { return hxFlipChar(tok, 5) }), want: hxTok},
		{name: "35/flipped MAC", req: bearer(func(tok string) string { return hxFlipChar(tok, len(tok)-10) }), want: hxTok},
		{name: "36/truncated", req: bearer(func(tok string) string { return tok[:len(tok)-1] }), want: hxTok},
		{name: "36/missing MAC", req: bearer(func(tok string) string { k, p, _ := hxParts(tok); return k + "." + p }), want: hxTok},
		{name: "36/empty MAC", req: bearer(func(tok string) string { k, p, _ := hxParts(tok); return k + "." + p + "." }), want: hxTok},
		{name: "36/a.b.c.d", req: authz("Bearer a.b.c.d"), want: hxTok},
		{name: "36/..", req: authz("Bearer .."), want: hxTok},
		{name: "36/extra segment", req: bearer(func(tok string) string { return tok + ".x" }), want: hxTok},
		{name: "37/MAC pad bits flipped", req: bearer(hxFlipPadBits), want: hxTok},
		{name: "37/= appended", req: bearer(func(tok string) string { return tok + "=" }), want: hxTok},
		{name: "37/== appended", req: bearer(func(tok string) string { return tok + "==" }), want: hxTok},
		{name: "37/padded payload", req: bearer(func(tok string) string {
			k, p, m := hxParts(tok)
			for len(p)%4 != 0 {
				p += "="
			}
			return k + "." + p + "." + m
		}), want: hxTok},
		{name: "38/quote", req: bearer(func(tok string) string { return `"` + tok + `"` }), want: hxTok},
		{name: "38/space inside", req: bearer(func(tok string) string { return tok[:6] + " " + tok[6:] }), want: hxTok},
		{name: "38/comma", req: bearer(func(tok string) string { return tok + "," }), want: hxTok},
		{name: "38/colon", req: bearer(func(tok string) string { return tok[:6] + ":" + tok[6:] }), want: hxTok},
		{name: "39/exp = now-1s", req: craft(now.Add(-time.Hour), now.Add(-time.Second), "u-alice"), want: hxTok},
		{name: "39/exp = now", req: craft(now.Add(-time.Hour), now, "u-alice"), want: hxTok},
		{name: "39/exp = now+1ns", req: craft(now.Add(-time.Hour), now.Add(time.Nanosecond), "u-alice"), want: hxOK, wantUser: "u-alice"},
		{name: "40/iat = now+1ns", req: craft(now.Add(time.Nanosecond), now.Add(time.Hour), "u-alice"), want: hxTok},
		{name: "40/iat = now", req: craft(now, now.Add(time.Hour), "u-alice"), want: hxOK, wantUser: "u-alice"},
		{name: "41/exp missing", req: raw(hxPayload(tokenVersion, iat, exp, hxJTI, "")[:9]), want: hxTok},
		{name: "41/exp = 0", req: raw(hxPayload(tokenVersion, iat, 0, hxJTI, "u-alice")), want: hxTok},
		{name: "41/exp negative", req: raw(hxPayload(tokenVersion, iat, -1, hxJTI, "u-alice")), want: hxTok},
		{name: "41/exp = MinInt64", req: raw(hxPayload(tokenVersion, iat, math.MinInt64, hxJTI, "u-alice")), want: hxTok},
		{name: "41/exp < iat", req: raw(hxPayload(tokenVersion, exp, iat, hxJTI, "u-alice")), want: hxTok},
		{name: "41/exp = iat", req: raw(hxPayload(tokenVersion, iat, iat, hxJTI, "u-alice")), want: hxTok},
		{name: "41/iat = 0", req: raw(hxPayload(tokenVersion, 0, exp, hxJTI, "u-alice")), want: hxTok},
		{name: "41/iat negative", req: raw(hxPayload(tokenVersion, -5, exp, hxJTI, "u-alice")), want: hxTok},
		{name: "41/version 0", req: raw(hxPayload(0, iat, exp, hxJTI, "u-alice")), want: hxTok},
		{name: "41/version 2", req: raw(hxPayload(2, iat, exp, hxJTI, "u-alice")), want: hxTok},
		{name: "41/version 0xff", req: raw(hxPayload(0xff, iat, exp, hxJTI, "u-alice")), want: hxTok},
		{name: "41/empty subject", req: raw(hxPayload(tokenVersion, iat, exp, hxJTI, "")), want: hxTok},
		{name: "41/genuine payload control", req: raw(hxPayload(tokenVersion, iat, exp, hxJTI, "u-alice")), want: hxOK, wantUser: "u-alice"},
		{name: "42/unknown kid", req: authz("Bearer " + hxSignRaw("k9", hxSecret, hxPurpose, hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxTok},
		{name: "42/rotated-out key", req: authz("Bearer " + hxSignRaw("k0", hxOldSecret, hxPurpose, hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxTok},
		{name: "42/verify-only key in grace", opts: []hxOpt{func(c *testSetup[hxUser]) {
			c.Signer = mustSigner(c.now, SigningKey{ID: hxKID, Secret: hxSecret}, SigningKey{ID: "k0", Secret: hxOldSecret})
		}}, req: authz("Bearer " + hxSignRaw("k0", hxOldSecret, hxPurpose, hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxOK, wantUser: "u-alice"},
		{name: "42/kid of one key, MAC of the other", opts: []hxOpt{func(c *testSetup[hxUser]) {
			c.Signer = mustSigner(c.now, SigningKey{ID: hxKID, Secret: hxSecret}, SigningKey{ID: "k0", Secret: hxOldSecret})
		}}, req: authz("Bearer " + hxSignRaw("k0", hxSecret, hxPurpose, hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxTok},
		{name: "43/other deployment's key", req: authz("Bearer " + hxSignRaw(hxKID, hxOtherSecret, hxPurpose, hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxTok},
		{name: "43/none kid, empty MAC", req: authz("Bearer none." + base64.RawURLEncoding.EncodeToString(hxPayload(1, iat, exp, hxJTI, "u-alice")) + "."), want: hxTok},
		{name: "43/all-zero MAC", req: authz("Bearer " + hxKID + "." + base64.RawURLEncoding.EncodeToString(hxPayload(1, iat, exp, hxJTI, "u-alice")) + "." + strings.Repeat("A", 43)), want: hxTok},
		{name: "43/JWT alg none", req: authz("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1LWFsaWNlIn0."), want: hxTok},
		{name: "43/raw secret used as MAC key", req: func(*hxEnv) *http.Request {
			signed := hxKID + "." + base64.RawURLEncoding.EncodeToString(hxPayload(1, iat, exp, hxJTI, "u-alice"))
			m := hmac.New(sha256.New, hxSecret)
			m.Write([]byte(signed))
			return hxGet("Authorization", "Bearer "+signed+"."+base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
		}, want: hxTok},
		{name: "44/other purpose", req: authz("Bearer " + hxSignRaw(hxKID, hxSecret, "password-reset", hxPayload(1, iat, exp, hxJTI, "u-alice"))), want: hxTok},
		{name: "45/deleted user", setup: func(t *testing.T, e *hxEnv) {
			require.NoError(t, e.users.Delete(context.Background(), "u-alice"))
		}, req: bearer(func(tok string) string { return tok }), want: hxTok},
		{name: "45/disabled user", setup: func(t *testing.T, e *hxEnv) {
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) { a.Disabled = true }))
		}, req: bearer(func(tok string) string { return tok }), want: hxTok},
		{name: "45/issued before TokensValidAfter", setup: func(t *testing.T, e *hxEnv) {
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) { a.TokensValidAfter = e.clock.Now() }))
		}, req: bearer(func(tok string) string { return tok }), want: hxTok},
		// Issue 9 #1: a token must be issued strictly after the cutoff.
		{name: "45/issued exactly at TokensValidAfter", setup: func(t *testing.T, e *hxEnv) {
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) { a.TokensValidAfter = hxT0.Add(-time.Minute) }))
		}, req: bearer(func(tok string) string { return tok }), want: hxTok},
		{name: "45/issued a microsecond after TokensValidAfter", setup: func(t *testing.T, e *hxEnv) {
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) {
				a.TokensValidAfter = hxT0.Add(-time.Minute - time.Microsecond)
			}))
		}, req: bearer(func(tok string) string { return tok }), want: hxOK, wantUser: "u-alice"},
		{name: "45/revoked", setup: func(t *testing.T, e *hxEnv) {
			w := e.serve(e.auth.RevokeHandler(), hxReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+e.token))
			require.Equal(t, http.StatusNoContent, w.Code)
		}, req: bearer(func(tok string) string { return tok }), want: hxTok},
		{name: "46/Bearer to token endpoint", handler: hxTokenHandler, req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodPost, "/api/tokens", "Authorization", "Bearer "+e.token)
		}, want: hxU},
		{name: "46/Basic token to token endpoint", handler: hxTokenHandler, req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodPost, "/api/tokens", "Authorization", hxBasic(e.token, ""))
		}, want: hxU},
		{name: "46/token header to token endpoint", handler: hxTokenHandler, req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodPost, "/api/tokens", "X-API-Key", e.token)
		}, want: hxU},
		{name: "46/Bearer to token endpoint behind middleware", handler: func(e *hxEnv) http.Handler {
			return e.auth.Middleware(e.auth.TokenHandler())
		}, req: func(e *hxEnv) *http.Request {
			return hxReq(http.MethodPost, "/api/tokens", "Authorization", "Bearer "+e.token)
		}, want: hxU},
		{name: "47/GET token endpoint", handler: hxTokenHandler, req: func(*hxEnv) *http.Request {
			return hxReq(http.MethodGet, "/api/tokens", "Authorization", hxBasic("alice", hxAlicePW))
		}, want: hxWant{status: http.StatusMethodNotAllowed, body: hxBody405}, check: func(t *testing.T, _ *hxEnv, w *httptest.ResponseRecorder) {
			assert.Equal(t, "POST", w.Header().Get("Allow"))
		}},
		{name: "47/credentials in query", handler: hxTokenHandler, req: func(*hxEnv) *http.Request {
			return hxReq(http.MethodPost, "/api/tokens?username=alice&password="+url.QueryEscape(hxAlicePW))
		}, want: hxU, secrets: func(*hxEnv) []string { return []string{hxAlicePW} }},
		{name: "47/credentials in form body", handler: hxTokenHandler, req: func(*hxEnv) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/tokens", strings.NewReader("username=alice&password="+url.QueryEscape(hxAlicePW)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, want: hxU, secrets: func(*hxEnv) []string { return []string{hxAlicePW} }},
		{name: "49/token without role", handler: func(e *hxEnv) http.Handler {
			return e.auth.Middleware(e.auth.RequireAnyRole("admin")(e.next))
		}, req: bearer(func(tok string) string { return tok }), want: hxWant{http.StatusForbidden, []string{`Bearer realm="api", error="insufficient_scope", scope="admin"`}, hxBody403}},
		{name: "49/Basic without role", handler: func(e *hxEnv) http.Handler {
			return e.auth.Middleware(e.auth.RequireAnyRole("admin")(e.next))
		}, req: authz(hxBasic("alice", hxAlicePW)), want: hxWant{http.StatusForbidden, nil, hxBody403}, verifies: 1},
		{name: "49/Basic with role", handler: func(e *hxEnv) http.Handler {
			return e.auth.Middleware(e.auth.RequireAllRoles("admin", "user")(e.next))
		}, req: authz(hxBasic("admin", "admin-pw")), want: hxOK, wantUser: "u-admin", verifies: 1},
	}
}

func TestHostileTable(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := hxNew(t, tc.opts...)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			req := tc.req(e)
			h := e.auth.Middleware(e.next)
			if tc.handler != nil {
				h = tc.handler(e)
			}
			e.hasher.verifies.Store(0)
			logBefore := len(e.logs.String())
			w := e.serve(h, req)
			logged := e.logs.String()[logBefore:]

			hxAssertResponse(t, tc.want, w)
			if tc.want.status == http.StatusOK {
				require.EqualValues(t, 1, e.next.calls.Load(), "next handler must run once")
				if tc.wantUser != "" {
					id := e.next.lastID()
					require.NotNil(t, id)
					assert.Equal(t, tc.wantUser, id.Account.ID)
				}
			} else {
				assert.Zero(t, e.next.calls.Load(), "next handler must not run")
			}
			if tc.verifies >= 0 {
				assert.EqualValues(t, tc.verifies, e.hasher.verifies.Load(), "password hashes run")
			}
			if tc.want.status != http.StatusInternalServerError {
				assert.Empty(t, e.errs.list(), "no internal error expected")
			}

			// No echo of the credentials anywhere in the response, and no
			// secret in the log.
			secrets := hxSecretsOf(req)
			if tc.secrets != nil {
				secrets = append(secrets, tc.secrets(e)...)
			}
			for _, s := range secrets {
				hxAssertNoEcho(t, w, s)
				assert.NotContains(t, logged, s, "log must not contain a credential")
			}
			hxAssertLogLines(t, logged)
			if tc.check != nil {
				tc.check(t, e, w)
			}
		})
	}
}

// hxAssertResponse checks status, exact challenges, exact body and the
// headers every failure carries.
func hxAssertResponse(t *testing.T, want hxWant, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, want.status, w.Code, "status; body %q", w.Body.String())
	if want.status == http.StatusOK {
		assert.Equal(t, "ok\n", w.Body.String())
		assert.Empty(t, w.Header().Values("WWW-Authenticate"))
		return
	}
	assert.Equal(t, want.challenge, w.Header().Values("WWW-Authenticate"), "WWW-Authenticate lines")
	assert.Equal(t, want.body, w.Body.String(), "body")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "application/json", mt)
	if cs, ok := params["charset"]; ok {
		assert.True(t, strings.EqualFold(cs, "utf-8"), "charset %q", cs)
	}
	for _, c := range w.Header().Values("WWW-Authenticate") {
		_, _, err := hxParseChallenge(c)
		assert.NoError(t, err, "challenge %q must follow RFC 9110 §11", c)
	}
	if want.status == http.StatusTooManyRequests {
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err, "Retry-After must be delta-seconds")
		assert.GreaterOrEqual(t, ra, 1)
	}
}

// hxSecretsOf returns the credential parts of a request's credential
// headers, which must never be echoed or logged.
func hxSecretsOf(r *http.Request) []string {
	var out []string
	for _, k := range []string{"Authorization", "X-Api-Key"} {
		for _, v := range r.Header[k] {
			cred := v
			if _, rest, ok := strings.Cut(v, " "); ok {
				cred = rest
			}
			if len(cred) >= 8 {
				out = append(out, cred)
			}
			if len(v) >= 12 && v != cred {
				out = append(out, v)
			}
			// Decoded Basic passwords, too.
			if s, rest, ok := strings.Cut(v, " "); ok && strings.EqualFold(s, "Basic") {
				if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
					if _, pw, ok := strings.Cut(string(raw), ":"); ok && len(pw) >= 8 {
						out = append(out, pw)
					}
				}
			}
		}
	}
	return out
}

func hxAssertNoEcho(t *testing.T, w *httptest.ResponseRecorder, secret string) {
	t.Helper()
	if w.Code != http.StatusOK {
		assert.NotContains(t, w.Body.String(), secret, "body echoes a credential")
	}
	for k, vs := range w.Header() {
		for _, v := range vs {
			assert.NotContains(t, v, secret, "header %s echoes a credential", k)
		}
	}
}

// hxAssertLogLines checks that each log line is one JSON object with no raw
// control characters.
func hxAssertLogLines(t *testing.T, logged string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logged))
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		assert.NoError(t, json.Unmarshal([]byte(line), &m), "log line is not one JSON object: %q", line)
		for i := 0; i < len(line); i++ {
			if line[i] < 0x20 || line[i] == 0x7f {
				t.Errorf("raw control byte %#x in log line %q", line[i], line)
				break
			}
		}
	}
}

// hxParseChallenge parses one challenge by RFC 9110 §11:
// challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], with
// auth-param = token BWS "=" BWS ( token / quoted-string ). It also checks
// that realm is present and quoted, parameter names appear once, and
// RFC 6750 error values use only the permitted characters.
func hxParseChallenge(s string) (scheme string, params map[string]string, err error) {
	isTchar := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
	}
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == 0 {
		return "", nil, errors.New("no scheme")
	}
	scheme = s[:i]
	if i == len(s) || s[i] != ' ' {
		return "", nil, errors.New("no SP after scheme")
	}
	i++
	params = map[string]string{}
	quoted := map[string]bool{}
	for {
		j := i
		for i < len(s) && isTchar(s[i]) {
			i++
		}
		if i == j || i == len(s) || s[i] != '=' {
			return "", nil, fmt.Errorf("bad auth-param at %d", j)
		}
		name := strings.ToLower(s[j:i])
		i++
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			for {
				if i >= len(s) {
					return "", nil, errors.New("unterminated quoted-string")
				}
				c := s[i]
				switch {
				case c == '"':
					i++
					goto done
				case c == '\\':
					if i+1 >= len(s) || !(s[i+1] == '\t' || s[i+1] >= 0x20 && s[i+1] != 0x7f) {
						return "", nil, errors.New("bad quoted-pair")
					}
					b.WriteByte(s[i+1])
					i += 2
				case c == '\t' || c == ' ' || c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e || c >= 0x80:
					b.WriteByte(c)
					i++
				default:
					return "", nil, fmt.Errorf("bad qdtext %#x", c)
				}
			}
		done:
			val = b.String()
			quoted[name] = true
		} else {
			k := i
			for i < len(s) && isTchar(s[i]) {
				i++
			}
			if i == k {
				return "", nil, errors.New("empty token value")
			}
			val = s[k:i]
		}
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("parameter %q repeated", name)
		}
		params[name] = val
		if i == len(s) {
			break
		}
		if !strings.HasPrefix(s[i:], ", ") {
			return "", nil, fmt.Errorf("want \", \" at %d", i)
		}
		i += 2
	}
	if !quoted["realm"] {
		return "", nil, errors.New("realm missing or not a quoted-string")
	}
	for _, name := range []string{"error", "error_description"} {
		for _, c := range []byte(params[name]) {
			if !(c == 0x20 || c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e) {
				return "", nil, fmt.Errorf("%s has forbidden byte %#x", name, c)
			}
		}
	}
	return scheme, params, nil
}

func TestHostileChallengeParser(t *testing.T) {
	// The parser must be able to fail.
	for _, bad := range []string{`Basic`, `Basic realm=api`, `Basic realm="a`, `Basic realm="a", realm="b"`, `Bearer realm="a",error="x"`, `Bearer realm="a", error="a\"b"`} {
		_, _, err := hxParseChallenge(bad)
		assert.Error(t, err, bad)
	}
	_, p, err := hxParseChallenge(`Basic realm="a\"b\\c", charset="UTF-8"`)
	require.NoError(t, err)
	assert.Equal(t, `a"b\c`, p["realm"])
}

// ---------------------------------------------------------------------------
// ParseAuthorization directly.

func TestHostileParseAuthorization(t *testing.T) {
	tok := "k1.AAAA.BBBB"
	cases := []struct {
		name   string
		kv     []string
		header string // token header, "" for none
		want   credentials
		err    error
	}{
		{"none", nil, "", credentials{}, ErrNoCredentials},
		{"empty", []string{"Authorization", ""}, "", credentials{}, ErrNoCredentials},
		{"basic", []string{"Authorization", hxBasic("alice", "pw")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pw"}, nil},
		{"basic mixed case", []string{"Authorization", "bAsIc " + hxB64("alice:pw")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pw"}, nil},
		{"password keeps colons", []string{"Authorization", hxBasic("alice", "pa:ss:")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pa:ss:"}, nil},
		{"password keeps spaces", []string{"Authorization", hxBasic("alice", " pw ")}, "", credentials{Transport: transportBasic, Login: "alice", Password: " pw "}, nil},
		{"token as username", []string{"Authorization", hxBasic(tok, "")}, "", credentials{Transport: transportBasicToken, Token: tok}, nil},
		{"bearer", []string{"Authorization", "Bearer " + tok}, "", credentials{Transport: transportBearer, Token: tok}, nil},
		{"bearer with padding", []string{"Authorization", "Bearer abc=="}, "", credentials{Transport: transportBearer, Token: "abc=="}, nil},
		{"bearer = inside", []string{"Authorization", "Bearer a=b"}, "", credentials{Transport: transportBearer}, errMalformedCredentials},
		{"bearer only =", []string{"Authorization", "Bearer =="}, "", credentials{Transport: transportBearer}, errMalformedCredentials},
		{"token header", []string{"X-Api-Key", tok}, "X-Api-Key", credentials{Transport: transportHeader, Token: tok}, nil},
		{"empty token header", []string{"X-Api-Key", ""}, "X-Api-Key", credentials{}, errMalformedCredentials},
		{"token header not configured", []string{"X-Api-Key", tok}, "", credentials{}, ErrNoCredentials},
		{"two lines", []string{"Authorization", "Bearer a", "Authorization", "Bearer a"}, "", credentials{}, errAmbiguousCredentials},
		{"two empty lines", []string{"Authorization", "", "Authorization", ""}, "", credentials{}, errAmbiguousCredentials},
		{"header and token header", []string{"Authorization", "Bearer a", "X-Api-Key", "a"}, "X-Api-Key", credentials{}, errAmbiguousCredentials},
		{"digest", []string{"Authorization", "Digest a=b"}, "", credentials{}, errMalformedCredentials},
		{"over maxLen", []string{"Authorization", "Bearer " + strings.Repeat("a", 100)}, "", credentials{}, errMalformedCredentials},
		{"token header over maxLen", []string{"X-Api-Key", strings.Repeat("a", 101)}, "X-Api-Key", credentials{}, errMalformedCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAuthorization(hxGet(tc.kv...), tc.header, 100)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				// Whether the transport is reported on an error is free;
				// credentials never are.
				got.Transport, tc.want.Transport = 0, 0
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// Every single-character substitution of a valid token is refused.
func TestHostileTokenEverySubstitution(t *testing.T) {
	e := hxNew(t)
	h := e.auth.Middleware(e.next)
	for i := 0; i < len(e.token); i++ {
		for _, c := range []byte{'A', 'B', '_', '-', '.'} {
			if e.token[i] == c {
				continue
			}
			b := []byte(e.token)
			b[i] = c
			w := e.serve(h, hxGet("Authorization", "Bearer "+string(b)))
			require.Equal(t, http.StatusUnauthorized, w.Code, "position %d -> %q", i, c)
			require.Equal(t, hxChToken, w.Header().Values("WWW-Authenticate"))
		}
	}
	assert.Zero(t, e.next.calls.Load())
}

// Leeway edges through the signer (#39, #40): reject when now >= exp, and
// when iat > now + leeway.
func TestHostileTokenClockEdges(t *testing.T) {
	clock := hxNewClock(hxT0)
	s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: hxKID, Secret: hxSecret}}, Leeway: 30 * time.Second, Now: clock.Now})
	require.NoError(t, err)
	now := hxT0
	cases := []struct {
		name     string
		iat, exp time.Time
		err      error
	}{
		{"iat = now+leeway", now.Add(30 * time.Second), now.Add(time.Hour), nil},
		{"iat = now+leeway+1ns", now.Add(30*time.Second + 1), now.Add(time.Hour), ErrTokenInvalid},
		{"exp = now+1ns", now.Add(-time.Hour), now.Add(1), nil},
		{"exp = now", now.Add(-time.Hour), now, ErrTokenExpired},
		{"exp = now-1s", now.Add(-time.Hour), now.Add(-time.Second), ErrTokenExpired},
		{"future and expired is not 'expired'", now.Add(time.Hour), now.Add(2 * time.Hour), ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Verify(context.Background(), hxCraft(tc.iat, tc.exp, "u-alice"))
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			if errors.Is(tc.err, ErrTokenInvalid) {
				assert.NotErrorIs(t, err, ErrTokenExpired, "one verdict only")
			} else {
				assert.NotErrorIs(t, err, ErrTokenInvalid, "one verdict only")
			}
		})
	}
	// Forged and expired: a signature failure, never "expired" (CVE-2024-51744).
	forged := hxSignRaw(hxKID, hxOtherSecret, hxPurpose, hxPayload(1, now.Add(-2*time.Hour).UnixNano(), now.Add(-time.Hour).UnixNano(), hxJTI, "u-alice"))
	_, err = s.Verify(context.Background(), forged)
	require.ErrorIs(t, err, ErrTokenInvalid)
	assert.NotErrorIs(t, err, ErrTokenExpired)
}

// Verify must accept only what Sign can produce: genuinely signed payloads
// that Sign would refuse (zero token ID, non-UTF-8 subject) are invalid.
func TestHostileVerifyRejectsWhatSignRefuses(t *testing.T) {
	s := fzSigner(t)
	iat, exp := hxT0.Add(-time.Minute).UnixNano(), hxT0.Add(time.Hour).UnixNano()
	for name, p := range map[string][]byte{
		"zero ID":           hxPayload(1, iat, exp, [16]byte{}, "u-alice"),
		"non-UTF-8 subject": hxPayload(1, iat, exp, hxJTI, "u-\xff"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(context.Background(), hxSignRaw(hxKID, hxSecret, hxPurpose, p))
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
}

// #47, #48: the token endpoint's success path.
func TestHostileTokenEndpointSuccess(t *testing.T) {
	e := hxNew(t)
	h := e.auth.TokenHandler()
	var toks []string
	for range 2 {
		w := e.serve(h, hxReq(http.MethodPost, "/api/tokens", "Authorization", hxBasic("alice", hxAlicePW)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
		var body struct {
			Token      string `json:"token"`
			Expiration int64  `json:"expiration"`
		}
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&body))
		assert.EqualValues(t, 3600, body.Expiration)
		toks = append(toks, body.Token)
	}
	assert.NotEqual(t, toks[0], toks[1], "every login mints a fresh token")
	for _, tok := range toks {
		w := e.serve(e.auth.Middleware(e.next), hxGet("Authorization", "Bearer "+tok))
		assert.Equal(t, http.StatusOK, w.Code, "older tokens stay valid until they expire")
		assert.NotContains(t, e.logs.String(), tok, "token must not be logged")
		_, _, mac := hxParts(tok)
		assert.NotContains(t, e.logs.String(), mac)
	}
	assert.NotContains(t, e.logs.String(), hxAlicePW)
}

// #12: over 1 MiB of header, Go's server answers 431 before the middleware.
func TestHostileOversizedHeaderViaServer(t *testing.T) {
	e := hxNew(t)
	srv := httptest.NewServer(e.auth.Middleware(e.next))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 1<<20+4096))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	assert.Zero(t, e.next.calls.Load())
}

// #52: a realm with quote and backslash is escaped; control characters are
// refused at New; every challenge parses.
func TestHostileRealmEscaping(t *testing.T) {
	e := hxNew(t, func(c *testSetup[hxUser]) { c.Realm = `a"b\c d`; c.BasicScheme = "xBasic" })
	w := e.serve(e.auth.Middleware(e.next), hxGet())
	require.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, []string{`xBasic realm="a\"b\\c d", charset="UTF-8"`, `Bearer realm="a\"b\\c d"`}, w.Header().Values("WWW-Authenticate"))
	for _, c := range w.Header().Values("WWW-Authenticate") {
		_, p, err := hxParseChallenge(c)
		require.NoError(t, err)
		assert.Equal(t, `a"b\c d`, p["realm"])
	}
	w = e.serve(e.auth.Middleware(e.next), hxGet("Authorization", "Bearer x"))
	for _, c := range w.Header().Values("WWW-Authenticate") {
		_, _, err := hxParseChallenge(c)
		require.NoError(t, err, c)
	}
	for _, realm := range []string{"a\r\nSet-Cookie: x=1", "a\x00", "a\x7f", "\xff", strings.Repeat("r", 257)} {
		_, err := New(Config[hxUser]{Users: e.users, Signer: mustSigner(nil, SigningKey{ID: hxKID, Secret: hxSecret}), Realm: realm, Hasher: hxCheapHasher})
		assert.Error(t, err, "realm %q", realm)
	}
	for _, scheme := range []string{"x Basic", "Basic\r\n", "a\"b", "B,c"} {
		_, err := New(Config[hxUser]{Users: e.users, Signer: mustSigner(nil, SigningKey{ID: hxKID, Secret: hxSecret}), Realm: "r", BasicScheme: scheme, Hasher: hxCheapHasher})
		assert.Error(t, err, "scheme %q", scheme)
	}
}

// ---------------------------------------------------------------------------
// Hasher call counter (#28): one hash for every password outcome that
// reaches the store, none for a throttled login, byte-identical replies.

func TestHasherCallsPerOutcome(t *testing.T) {
	type outcome struct {
		name     string
		login    string
		pw       string
		opts     []hxOpt
		prime    int // failed attempts made first
		status   int
		verifies int64
	}
	tight := func(c *testSetup[hxUser]) {
		c.Throttle.Logins = newMemoryLimiter(3, time.Minute, c.now)
	}
	cases := []outcome{
		{name: "unknown user", login: "nobody", pw: "pw-guess", status: 401, verifies: 1},
		{name: "wrong password", login: "alice", pw: "pw-guess", status: 401, verifies: 1},
		{name: "disabled user, right password", login: "disabled", pw: "pw-disabled", status: 401, verifies: 1},
		{name: "disabled user, wrong password", login: "disabled", pw: "pw-guess", status: 401, verifies: 1},
		{name: "unconfirmed user (CheckAccount 403)", login: "unconfirmed", pw: "pw-unconfirmed", status: 403, verifies: 1},
		{name: "untrusted stored hash", login: "untrusted-plaintext", pw: "password", status: 401, verifies: 1},
		{name: "untrusted stored hash: bcrypt cost 31", login: "untrusted-bcrypt31", pw: "password", status: 401, verifies: 1},
		{name: "untrusted stored hash: empty", login: "untrusted-empty", pw: "password", status: 401, verifies: 1},
		{name: "right password", login: "alice", pw: hxAlicePW, status: 200, verifies: 1},
		{name: "throttled known login", login: "alice", pw: "pw-guess", opts: []hxOpt{tight}, prime: 3, status: 429, verifies: 0},
		{name: "throttled unknown login", login: "nobody", pw: "pw-guess", opts: []hxOpt{tight}, prime: 3, status: 429, verifies: 0},
		{name: "throttled known login, right password", login: "alice", pw: hxAlicePW, opts: []hxOpt{tight}, prime: 3, status: 429, verifies: 0},
	}
	replies := map[string]*httptest.ResponseRecorder{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := hxNew(t, tc.opts...)
			h := e.auth.Middleware(e.next)
			for range tc.prime {
				w := e.serve(h, hxGet("Authorization", hxBasic(tc.login, "pw-wrong-prime")))
				require.Equal(t, http.StatusUnauthorized, w.Code)
			}
			e.hasher.verifies.Store(0)
			w := e.serve(h, hxGet("Authorization", hxBasic(tc.login, tc.pw)))
			require.Equal(t, tc.status, w.Code, w.Body.String())
			assert.Equal(t, tc.verifies, e.hasher.verifies.Load(), "Verify calls")
			assert.Zero(t, e.hasher.hashes.Load(), "no Hash (rehash) calls")
			replies[tc.name] = w
		})
	}
	// The refusals must be indistinguishable.
	groups := [][]string{
		{"unknown user", "wrong password", "disabled user, right password", "disabled user, wrong password", "untrusted stored hash", "untrusted stored hash: bcrypt cost 31", "untrusted stored hash: empty"},
		{"throttled known login", "throttled unknown login", "throttled known login, right password"},
	}
	for _, g := range groups {
		ref := replies[g[0]]
		require.NotNil(t, ref)
		for _, name := range g[1:] {
			w := replies[name]
			require.NotNil(t, w, name)
			assert.Equal(t, ref.Code, w.Code, "%s vs %s", g[0], name)
			assert.Equal(t, ref.Header(), w.Header(), "%s vs %s", g[0], name)
			assert.Equal(t, ref.Body.String(), w.Body.String(), "%s vs %s", g[0], name)
		}
	}
	// A cached verification skips the hash, and the cache never outlives
	// a changed hash or a disabled account.
	t.Run("cache", func(t *testing.T) {
		e := hxNew(t)
		h := e.auth.Middleware(e.next)
		req := func() int { return e.serve(h, hxGet("Authorization", hxBasic("alice", hxAlicePW))).Code }
		require.Equal(t, 200, req())
		require.EqualValues(t, 1, e.hasher.verifies.Load())
		require.Equal(t, 200, req())
		require.EqualValues(t, 1, e.hasher.verifies.Load(), "second login served from the cache")
		require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) { a.Disabled = true }))
		require.Equal(t, 401, req(), "disabled account must not be served from the cache")
		require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[hxUser]) {
			a.Disabled = false
			a.PasswordHash = hxHashes()[hxBobPW]
		}))
		require.Equal(t, 401, req(), "changed password must not be served from the cache")
	})
}

// ---------------------------------------------------------------------------
// Brute force (#50, #51).

func TestBruteForceConcurrent(t *testing.T) {
	const n = 200
	const slots = 3
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			e := hxNew(t, func(c *testSetup[hxUser]) { c.maxConcurrentHashes = slots })
			h := e.auth.Middleware(e.next)
			statuses := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					w := httptest.NewRecorder()
					h.ServeHTTP(w, hxGet("Authorization", hxBasic(login, fmt.Sprintf("guess-%d", i))))
					statuses[i] = w.Code
					if w.Code == http.StatusTooManyRequests {
						assert.NotEmpty(t, w.Header().Get("Retry-After"))
					}
				}()
			}
			close(start)
			wg.Wait()
			var n401, n429 int
			for _, s := range statuses {
				switch s {
				case 401:
					n401++
				case 429:
					n429++
				default:
					t.Fatalf("unexpected status %d", s)
				}
			}
			assert.EqualValues(t, n401, e.hasher.verifies.Load(), "each 401 ran one hash, each 429 none")
			assert.LessOrEqual(t, e.hasher.peak.Load(), int64(slots), "hash concurrency bounded by MaxConcurrentHashes")
			t.Logf("%s: %d x 401, %d x 429, %d hashes, peak %d", login, n401, n429, e.hasher.verifies.Load(), e.hasher.peak.Load())

			// The throttle is engaged now, the same for known and unknown logins.
			e.hasher.verifies.Store(0)
			w := e.serve(h, hxGet("Authorization", hxBasic(login, "one-more")))
			hxAssertResponse(t, hx429, w)
			assert.Equal(t, "900", w.Header().Get("Retry-After"), "15-minute window, frozen clock")
			// The correct password is refused during the lockout, without hashing.
			if login == "alice" {
				w = e.serve(h, hxGet("Authorization", hxBasic("alice", hxAlicePW)))
				hxAssertResponse(t, hx429, w)
				// Case-variant logins share the lockout.
				w = e.serve(h, hxGet("Authorization", hxBasic("ALICE", hxAlicePW)))
				hxAssertResponse(t, hx429, w)
			}
			assert.Zero(t, e.hasher.verifies.Load(), "no hash while throttled")
			// Other users are unaffected; existing tokens keep working.
			w = e.serve(h, hxGet("Authorization", hxBasic("bob", hxBobPW)))
			assert.Equal(t, http.StatusOK, w.Code)
			w = e.serve(h, hxGet("Authorization", "Bearer "+e.token))
			assert.Equal(t, http.StatusOK, w.Code, "alice's token works during the lockout")
			// The window ends.
			e.clock.Add(15 * time.Minute)
			if login == "alice" {
				w = e.serve(h, hxGet("Authorization", hxBasic("alice", hxAlicePW)))
				assert.Equal(t, http.StatusOK, w.Code)
			}
		})
	}
}

// The throttle must hold under concurrency: attempts are reserved before
// any hash, so no more than the limit are hashed. Verify is held until
// every request has asked the limiter (or 3 s pass, for implementations that
// serialise attempts per login), which makes the check-then-act race
// deterministic.
func TestBruteForceThrottleIsNotRacy(t *testing.T) {
	const n = 200
	const slots = 4
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			lim := &hxCountingLimiter{Limiter: newMemoryLimiter(defaultMaxFailures, defaultFailureWindow, nil)}
			e := hxNew(t, func(c *testSetup[hxUser]) {
				c.maxConcurrentHashes = slots
				lim.Limiter = newMemoryLimiter(defaultMaxFailures, defaultFailureWindow, c.now)
				c.Throttle.Logins = lim
			})
			allAsked := make(chan struct{})
			lim.onAllow = func(k int64) {
				if k == n {
					close(allAsked)
				}
			}
			e.hasher.hook = func(string) {
				select {
				case <-allAsked:
				case <-time.After(3 * time.Second):
				}
			}
			h := e.auth.Middleware(e.next)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h.ServeHTTP(httptest.NewRecorder(), hxGet("Authorization", hxBasic(login, fmt.Sprintf("guess-%d", i))))
				}()
			}
			wg.Wait()
			assert.LessOrEqual(t, e.hasher.verifies.Load(), int64(defaultMaxFailures),
				"guesses hashed for one login in one window")
		})
	}
}

type hxCountingLimiter struct {
	Limiter
	allows  atomic.Int64
	onAllow func(int64)
}

func (l *hxCountingLimiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	ok, d, err := l.Limiter.Reserve(ctx, key)
	k := l.allows.Add(1)
	if l.onAllow != nil {
		l.onAllow(k)
	}
	return ok, d, err
}

// Hash concurrency never exceeds MaxConcurrentHashes. Verify holds until
// the slots are full, so the peak is reached deterministically.
func TestBruteForceHashConcurrencyBound(t *testing.T) {
	const slots = 3
	const n = 60
	e := hxNew(t, func(c *testSetup[hxUser]) { c.maxConcurrentHashes = slots; c.disableThrottling = true })
	full := make(chan struct{})
	var once sync.Once
	e.hasher.hook = func(string) {
		if e.hasher.inflight.Load() >= slots {
			once.Do(func() { close(full) })
		}
		<-full
	}
	h := e.auth.Middleware(e.next)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, hxGet("Authorization", hxBasic(fmt.Sprintf("user-%d", i), "pw-guess")))
			assert.Equal(t, http.StatusUnauthorized, w.Code)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, n, e.hasher.verifies.Load())
	assert.EqualValues(t, slots, e.hasher.peak.Load(), "peak hash concurrency")
}

// A request that gives up while waiting for a hash slot gets a 503.
func TestBruteForceBusyWhenSlotsHeld(t *testing.T) {
	e := hxNew(t, func(c *testSetup[hxUser]) { c.maxConcurrentHashes = 1; c.disableThrottling = true })
	entered, release := make(chan struct{}), make(chan struct{})
	e.hasher.hook = func(string) { close(entered); <-release }
	h := e.auth.Middleware(e.next)
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hxGet("Authorization", hxBasic("alice", "pw-guess")))
		done <- w.Code
	}()
	<-entered
	e.hasher.hook = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := e.serve(h, hxGet("Authorization", hxBasic("bob", hxBobPW)).WithContext(ctx))
	hxAssertResponse(t, hxWant{http.StatusServiceUnavailable, nil, hxBody503}, w)
	close(release)
	assert.Equal(t, http.StatusUnauthorized, <-done)
}

// Rehashing on login is password hashing too and must hold a slot.
func TestBruteForceRehashHoldsHashSlot(t *testing.T) {
	e := hxNew(t, func(c *testSetup[hxUser]) {
		c.maxConcurrentHashes = 1
		c.Hasher = &hxHasher{inner: &argon2idHasher{Memory: 128, Time: 1}}
	})
	hs := e.auth.cfg.Hasher.(*memBoundHasher).PasswordHasher.(*hxHasher)
	hs.hashes.Store(0) // the dummy hash of New
	// Two users with weak hashes; each successful login rehashes.
	hashIn := make(chan struct{}, 2)
	hs.hook = func(op string) {
		if op == "hash" {
			hashIn <- struct{}{}
			select { // wait until another hash runs, or give up
			case <-time.After(2 * time.Second):
			case <-hxUntil(func() bool { return hs.inflight.Load() >= 2 }):
			}
		}
	}
	h := e.auth.Middleware(e.next)
	var wg sync.WaitGroup
	for _, c := range [][2]string{{"alice", hxAlicePW}, {"bob", hxBobPW}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, hxGet("Authorization", hxBasic(c[0], c[1])))
			assert.Equal(t, http.StatusOK, w.Code)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 2, hs.hashes.Load(), "both logins rehashed")
	assert.LessOrEqual(t, hs.peak.Load(), int64(1), "rehash ran beside another hash")
}

// hxUntil returns a channel closed once cond holds (polled cooperatively).
func hxUntil(cond func() bool) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for i := 0; i < 2_000_000 && !cond(); i++ {
			runtime.Gosched()
		}
		close(ch)
	}()
	return ch
}

// ---------------------------------------------------------------------------
// Fail closed (#31, #32).

var errHxStore = errors.New("db down: password=hunter2 at 10.9.8.7")

type hxFaultyStore struct {
	UserStore[hxUser]
	byLogin, byID string // "", "error", "panic", "nil"
}

func hxFault(mode string, err error) (*Account[hxUser], error) {
	switch mode {
	case "error":
		return nil, err
	case "panic":
		panic("store exploded: " + err.Error())
	case "panic-error":
		panic(err)
	case "nil":
		return nil, nil
	}
	return nil, nil
}

func (s *hxFaultyStore) UserByLogin(ctx context.Context, login string) (*Account[hxUser], error) {
	if s.byLogin != "" {
		return hxFault(s.byLogin, errHxStore)
	}
	return s.UserStore.UserByLogin(ctx, login)
}

func (s *hxFaultyStore) UserByID(ctx context.Context, id string) (*Account[hxUser], error) {
	if s.byID != "" {
		return hxFault(s.byID, errHxStore)
	}
	return s.UserStore.UserByID(ctx, id)
}

type hxFaultySigner struct {
	TokenSigner
	sign, verify string
}

func (s *hxFaultySigner) Sign(ctx context.Context, c Claims) (string, error) {
	switch s.sign {
	case "error":
		return "", errHxStore
	case "panic":
		panic(errHxStore)
	}
	return s.TokenSigner.Sign(ctx, c)
}

func (s *hxFaultySigner) Verify(ctx context.Context, tok string) (Claims, error) {
	switch s.verify {
	case "error":
		return Claims{}, errHxStore
	case "panic":
		panic(errHxStore)
	}
	return s.TokenSigner.Verify(ctx, tok)
}

type hxFaultyRevocations struct {
	RevocationStore
	revoke, check string
}

func (s *hxFaultyRevocations) Revoke(ctx context.Context, id [16]byte, exp time.Time) error {
	switch s.revoke {
	case "error":
		return errHxStore
	case "panic":
		panic(errHxStore)
	}
	return s.RevocationStore.Revoke(ctx, id, exp)
}

func (s *hxFaultyRevocations) IsRevoked(ctx context.Context, id [16]byte) (bool, error) {
	switch s.check {
	case "error":
		return false, errHxStore
	case "panic":
		panic(errHxStore)
	}
	return s.RevocationStore.IsRevoked(ctx, id)
}

type hxFaultyLimiter struct {
	Limiter
	allow, fail, reset string
}

func (l *hxFaultyLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	switch l.allow {
	case "error":
		return true, 0, errHxStore // ok=true with an error must still fail closed
	case "panic":
		panic(errHxStore)
	}
	return l.Limiter.Allow(ctx, key)
}

func (l *hxFaultyLimiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	switch l.fail {
	case "error":
		return true, 0, errHxStore // ok=true with an error must still fail closed
	case "panic":
		panic(errHxStore)
	}
	return l.Limiter.Reserve(ctx, key)
}

func (l *hxFaultyLimiter) Reset(ctx context.Context, key string) error {
	switch l.reset {
	case "error":
		return errHxStore
	case "panic":
		panic(errHxStore)
	}
	return l.Limiter.Reset(ctx, key)
}

type hxFaultyHasher struct {
	PasswordHasher
	verify string
}

func (h *hxFaultyHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	switch h.verify {
	case "error":
		return true, errHxStore // a "match" with an error must still fail closed
	case "panic":
		panic(errHxStore)
	}
	return h.PasswordHasher.Verify(ctx, hash, pw)
}

func TestFailClosed(t *testing.T) {
	basic := func(*hxEnv) *http.Request { return hxGet("Authorization", hxBasic("alice", hxAlicePW)) }
	wrong := func(*hxEnv) *http.Request { return hxGet("Authorization", hxBasic("alice", "pw-guess")) }
	unknown := func(*hxEnv) *http.Request { return hxGet("Authorization", hxBasic("nobody", "pw-guess")) }
	bearerReq := func(e *hxEnv) *http.Request { return hxGet("Authorization", "Bearer "+e.token) }
	basicTok := func(e *hxEnv) *http.Request { return hxGet("Authorization", hxBasic(e.token, "")) }
	// cachedBasic first logs in once, so that the request it returns is
	// served from the credential cache, the path that peeks with Allow.
	cachedBasic := func(e *hxEnv) *http.Request {
		e.serve(e.auth.Middleware(http.NotFoundHandler()), basic(e))
		return basic(e)
	}
	mint := func(*hxEnv) *http.Request {
		return hxReq(http.MethodPost, "/api/tokens", "Authorization", hxBasic("alice", hxAlicePW))
	}
	revoke := func(e *hxEnv) *http.Request {
		return hxReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+e.token)
	}
	store := func(byLogin, byID string) hxOpt {
		return func(c *testSetup[hxUser]) { c.Users = &hxFaultyStore{UserStore: c.Users, byLogin: byLogin, byID: byID} }
	}
	// The signer is wrapped after New built it, see below.
	signer := func(sign, verify string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.Signer = &hxFaultySigner{TokenSigner: c.Signer, sign: sign, verify: verify}
		}
	}
	revs := func(revoke, check string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.Revocations = &hxFaultyRevocations{RevocationStore: newMemoryRevocationStore(c.now), revoke: revoke, check: check}
		}
	}
	lim := func(allow, fail, reset string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.Throttle.Logins = &hxFaultyLimiter{Limiter: newMemoryLimiter(0, 0, c.now), allow: allow, fail: fail, reset: reset}
		}
	}
	clientLim := func(allow, fail string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.Throttle.Clients = &hxFaultyLimiter{Limiter: newMemoryLimiter(0, 0, c.now), allow: allow, fail: fail}
		}
	}
	check := func(mode string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.CheckAccount = func(*http.Request, *Account[hxUser]) error {
				if mode == "panic" {
					panic(errHxStore)
				}
				return fmt.Errorf("hook: %w", errHxStore)
			}
		}
	}
	hasher := func(mode string) hxOpt {
		return func(c *testSetup[hxUser]) {
			c.Hasher = &hxFaultyHasher{PasswordHasher: hxCheapHasher, verify: mode}
		}
	}
	mw := func(e *hxEnv) http.Handler { return e.auth.Middleware(e.next) }
	tokenH := func(e *hxEnv) http.Handler { return e.auth.TokenHandler() }
	revokeH := func(e *hxEnv) http.Handler { return e.auth.Middleware(e.auth.RevokeHandler()) }

	cases := []struct {
		name    string
		opt     hxOpt
		req     func(*hxEnv) *http.Request
		handler func(*hxEnv) http.Handler
	}{
		{"UserByLogin error", store("error", ""), basic, mw},
		{"UserByLogin error, unknown login", store("error", ""), unknown, mw},
		{"UserByLogin panic", store("panic", ""), basic, mw},
		{"UserByLogin panics with an error", store("panic-error", ""), basic, mw},
		{"UserByLogin nil, nil", store("nil", ""), basic, mw},
		{"UserByLogin error at token endpoint", store("error", ""), mint, tokenH},
		{"UserByID error", store("", "error"), bearerReq, mw},
		{"UserByID error, Basic token", store("", "error"), basicTok, mw},
		{"UserByID panic", store("", "panic"), bearerReq, mw},
		{"UserByID nil, nil", store("", "nil"), bearerReq, mw},
		{"signer Verify error", signer("", "error"), bearerReq, mw},
		{"signer Verify panic", signer("", "panic"), bearerReq, mw},
		{"signer Sign error", signer("error", ""), mint, tokenH},
		{"signer Sign panic", signer("panic", ""), mint, tokenH},
		{"IsRevoked error", revs("", "error"), bearerReq, mw},
		{"IsRevoked panic", revs("", "panic"), bearerReq, mw},
		{"Revoke error", revs("error", ""), revoke, revokeH},
		{"Revoke panic", revs("panic", ""), revoke, revokeH},
		{"limiter Allow error", lim("error", "", ""), cachedBasic, mw},
		{"limiter Allow panic", lim("panic", "", ""), cachedBasic, mw},
		{"limiter Reserve error", lim("", "error", ""), wrong, mw},
		{"limiter Reserve error, unknown login", lim("", "error", ""), unknown, mw},
		{"limiter Reserve panic", lim("", "panic", ""), wrong, mw},
		{"limiter Reset error", lim("", "", "error"), basic, mw},
		{"limiter Reset panic", lim("", "", "panic"), basic, mw},
		{"client limiter Allow error", clientLim("error", ""), cachedBasic, mw},
		{"client limiter Reserve panic", clientLim("", "panic"), wrong, mw},
		{"CheckAccount error, Basic", check("error"), basic, mw},
		{"CheckAccount error, Bearer", check("error"), bearerReq, mw},
		{"CheckAccount panic, Basic", check("panic"), basic, mw},
		{"CheckAccount panic, Bearer", check("panic"), bearerReq, mw},
		{"CheckAccount error at token endpoint", check("error"), mint, tokenH},
		{"hasher Verify error", hasher("error"), basic, mw},
		{"hasher Verify panic", hasher("panic"), basic, mw},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := hxNew(t, tc.opt)
			w := e.serve(tc.handler(e), tc.req(e))
			hxAssertFailClosed(t, e, w)
			assert.Zero(t, len(e.auth.hashSlots), "hash slot leaked")
		})
	}

	t.Run("ErrorWriter panics", func(t *testing.T) {
		e := hxNew(t, func(c *testSetup[hxUser]) {
			c.ErrorWriter = func(http.ResponseWriter, *http.Request, int, error) { panic(errHxStore) }
		})
		w := e.serve(e.auth.Middleware(e.next), hxGet("Authorization", hxBasic("alice", "pw-guess")))
		hxAssertFailClosed(t, e, w)
	})
	t.Run("the cause is logged server-side only", func(t *testing.T) {
		e := hxNew(t, store("error", ""))
		w := e.serve(e.auth.Middleware(e.next), hxGet("Authorization", hxBasic("alice", hxAlicePW)))
		require.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Contains(t, e.logs.String(), "db down")
		assert.NotContains(t, w.Body.String(), "db down")
	})
	// After a panic while a slot is held, the slot is free again.
	t.Run("panics release the hash slot", func(t *testing.T) {
		for _, opt := range []hxOpt{store("panic", ""), hasher("panic")} {
			e := hxNew(t, opt, func(c *testSetup[hxUser]) { c.maxConcurrentHashes = 1 })
			h := e.auth.Middleware(e.next)
			for range 3 {
				// A leaked slot would block the next request for good, so
				// check before sending it.
				w := e.serve(h, hxGet("Authorization", hxBasic("alice", hxAlicePW)))
				require.Equal(t, http.StatusInternalServerError, w.Code)
				require.Zero(t, len(e.auth.hashSlots), "hash slot leaked after a panic")
			}
		}
	})
}

// hxAssertFailClosed checks a generic 500 whose cause reached the Logger.
func hxAssertFailClosed(t *testing.T, e *hxEnv, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusInternalServerError, w.Code, "must fail closed; body %q", w.Body.String())
	assert.Equal(t, hxBody500, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Zero(t, e.next.calls.Load(), "next handler must not run")
	for _, leak := range []string{"hunter2", "10.9.8.7", "db down", "panic", "goroutine", ".go:"} {
		assert.NotContains(t, w.Body.String(), leak)
		for k, vs := range w.Header() {
			for _, v := range vs {
				assert.NotContains(t, v, leak, "header %s", k)
			}
		}
	}
	errs := e.errs.list()
	require.NotEmpty(t, errs, "cause must reach the Logger")
	found := false
	for _, err := range errs {
		if errors.Is(err, errHxStore) || strings.Contains(err.Error(), "db down") || strings.Contains(err.Error(), "nil pointer") {
			found = true
		}
	}
	assert.True(t, found, "Logger got %v", errs)
}

// ---------------------------------------------------------------------------
// Allocation bounds on hostile sizes (#12, #13; CVE-2025-30204 class).

type hxNullWriter struct {
	h    http.Header
	code int
}

func (w *hxNullWriter) Header() http.Header         { return w.h }
func (w *hxNullWriter) WriteHeader(code int)        { w.code = code }
func (w *hxNullWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestHostileAllocsPerRun(t *testing.T) {
	e := hxNew(t, func(c *testSetup[hxUser]) { c.Logger = slog.New(slog.DiscardHandler) })
	h := e.auth.Middleware(e.next)
	cases := []struct {
		name   string
		header string
		want   int
		wantCh []string
	}{
		{"baseline short bearer", "Bearer x", 401, hxChToken},
		{"baseline short basic", "Basic x", 401, hxChPlain},
		{"bearer 1MiB dots", "Bearer " + strings.Repeat(".", 1<<20), 401, nil},
		{"bearer 100k dots", "Bearer " + strings.Repeat(".", 100_000), 401, nil},
		{"bearer just under cap", "Bearer " + strings.Repeat(".", 8000), 401, hxChToken},
		{"basic 900KiB", "Basic " + strings.Repeat("QUFB", 900*256), 401, hxChPlain},
		{"basic 900KiB garbage", "Basic " + strings.Repeat("!", 900<<10), 401, hxChPlain},
	}
	results := map[string]float64{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := hxGet("Authorization", tc.header)
			w := &hxNullWriter{h: http.Header{}}
			run := func() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
			run()
			require.Equal(t, tc.want, w.code)
			if tc.wantCh != nil {
				require.Equal(t, tc.wantCh, w.h.Values("WWW-Authenticate"))
			} else { // over the cap: bare or invalid_token challenges (see #13)
				require.Contains(t, [][]string{hxChPlain, hxChToken}, w.h.Values("WWW-Authenticate"))
			}
			allocs := testing.AllocsPerRun(50, run)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 50 {
				run()
			}
			runtime.ReadMemStats(&after)
			bytesPerRun := (after.TotalAlloc - before.TotalAlloc) / 50
			t.Logf("%.0f allocs, %d bytes per run", allocs, bytesPerRun)
			results[tc.name] = allocs
			assert.LessOrEqual(t, allocs, 8.0, "allocations per refused request")
			assert.Less(t, bytesPerRun, uint64(4096), "bytes allocated must not grow with the header")
		})
	}
	assert.LessOrEqual(t, results["bearer 1MiB dots"], results["baseline short basic"])
	assert.LessOrEqual(t, results["basic 900KiB"], results["baseline short basic"])
	assert.Zero(t, e.hasher.verifies.Load(), "no hash for oversized credentials")
}

// ---------------------------------------------------------------------------
// Audit events.

func TestHostileAuditEvents(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			logs := &hxLog{}
			e := hxNew(t, func(c *testSetup[hxUser]) {
				opts := &slog.HandlerOptions{Level: slog.LevelDebug}
				if format == "json" {
					c.Logger = slog.New(slog.NewJSONHandler(logs, opts))
				} else {
					c.Logger = slog.New(slog.NewTextHandler(logs, opts))
				}
			})
			h := e.auth.Middleware(e.next)
			reqs := []*http.Request{
				hxGet("Authorization", hxBasic("admin\r\n[INFO] ok", "pw-secret-1")),
				hxGet("Authorization", hxBasic("\x1b[31mred\x1b[0m", "pw-secret-2")),
				hxGet("Authorization", hxBasic("evil\u009b31mC1\"quote\\back", "pw-secret-3")),
				hxGet("Authorization", hxBasic("alice", "pw-secret-4")),
				hxGet("Authorization", hxBasic("alice", hxAlicePW)),
				hxGet("Authorization", "Bearer "+e.token),
				hxGet("Authorization", hxBasic(e.token, "")),
				hxGet("X-API-Key", e.token),
				hxGet("Authorization", "Bearer "+e.token+"x"),
				hxGet("Authorization", hxBasic(strings.Repeat("L", 600), "pw-secret-5")),
			}
			for i, r := range reqs {
				r.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", i+1)
				e.serve(h, r)
			}
			out := logs.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			assert.Len(t, lines, len(reqs), "one event per request, one line per event:\n%s", out)
			for _, line := range lines {
				assert.Contains(t, line, "auth.")
				for _, c := range []byte(line) {
					if c < 0x20 || c == 0x7f {
						t.Errorf("raw control byte %#x in %q", c, line)
					}
				}
				assert.NotContains(t, line, "\u009b", "C1 control must be escaped")
			}
			for _, s := range []string{"pw-secret-1", "pw-secret-2", "pw-secret-3", "pw-secret-4", "pw-secret-5", hxAlicePW, e.token, hxB64("alice:" + hxAlicePW)} {
				assert.NotContains(t, out, s, "secret in the audit log")
			}
			_, _, mac := hxParts(e.token)
			assert.NotContains(t, out, mac)
			assert.NotContains(t, out, strings.Repeat("L", 129), "logins are truncated")
			if format == "json" {
				for _, line := range lines {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &m), line)
					for _, k := range []string{"login", "reason", "transport", "remote"} {
						assert.Contains(t, m, k)
					}
				}
				assert.Contains(t, out, `evil\\u009b31mC1\\\"quote\\\\back`, "login escaped before slog quoting")
			}
		})
	}
}

// A token sent as the Basic username with a non-empty password (the
// "token:unused" habit of Flask-HTTPAuth clients) must not be logged.
func TestHostileAuditTokenAsLoginWithPassword(t *testing.T) {
	e := hxNew(t)
	e.serve(e.auth.Middleware(e.next), hxGet("Authorization", hxBasic(e.token, "unused")))
	_, _, mac := hxParts(e.token)
	assert.NotContains(t, e.logs.String(), mac)
}

// Bidi overrides and other invisible format characters in a login must be
// escaped too: a JSON log viewed in a terminal would otherwise be spoofable.
func TestHostileAuditEscapesFormatCharacters(t *testing.T) {
	e := hxNew(t)
	e.serve(e.auth.Middleware(e.next), hxGet("Authorization", hxBasic("admin\u202e@evil", "pw-guess")))
	assert.NotContains(t, e.logs.String(), "\u202e")
}

// ---------------------------------------------------------------------------
// Rehash on login.

func TestRehashOnLogin(t *testing.T) {
	ctx := context.Background()
	weak, err := (&argon2idHasher{Memory: 64, Time: 1}).Hash(ctx, "pw-weak-argon")
	require.NoError(t, err)
	bc, err := hashBcrypt("pw-legacy-bcrypt", 10)
	require.NoError(t, err)
	cases := []struct {
		name       string
		policy     *argon2idHasher
		stored, pw string
		wantPrefix string
	}{
		{"bcrypt cost 10 to default argon2id", defaultHasher(), bc, "pw-legacy-bcrypt", "$argon2id$v=19$m=19456,t=2,p=1$"},
		{"weaker argon2id to policy", &argon2idHasher{Memory: 128, Time: 2}, weak, "pw-weak-argon", "$argon2id$v=19$m=128,t=2,p=1$"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := hxNew(t, func(c *testSetup[hxUser]) { c.Hasher = tc.policy })
			require.NoError(t, e.users.Put(ctx, "legacy", Account[hxUser]{ID: "u-legacy", PasswordHash: tc.stored}))
			require.True(t, tc.policy.NeedsRehash(ctx, tc.stored))
			h := e.auth.Middleware(e.next)

			w := e.serve(h, hxGet("Authorization", hxBasic("legacy", "wrong-"+tc.pw)))
			require.Equal(t, http.StatusUnauthorized, w.Code)
			acct, err := e.users.UserByID(ctx, "u-legacy")
			require.NoError(t, err)
			require.Equal(t, tc.stored, acct.PasswordHash, "a failed login never rehashes")

			w = e.serve(h, hxGet("Authorization", hxBasic("legacy", tc.pw)))
			require.Equal(t, http.StatusOK, w.Code)
			acct, err = e.users.UserByID(ctx, "u-legacy")
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(acct.PasswordHash, tc.wantPrefix), "new hash %q", acct.PasswordHash)
			assert.False(t, tc.policy.NeedsRehash(ctx, acct.PasswordHash))
			ok, err := tc.policy.Verify(ctx, acct.PasswordHash, tc.pw)
			require.NoError(t, err)
			assert.True(t, ok, "the new hash verifies the same password")
			assert.Empty(t, e.errs.list())

			// And the new hash logs in.
			w = e.serve(h, hxGet("Authorization", hxBasic("legacy", tc.pw)))
			require.Equal(t, http.StatusOK, w.Code)
		})
	}
	t.Run("store refusing the update does not fail the login", func(t *testing.T) {
		e := hxNew(t, func(c *testSetup[hxUser]) {
			c.Hasher = &argon2idHasher{Memory: 128, Time: 1}
			c.Users = &hxRehashFails{MemoryUserStore: c.Users.(*MemoryUserStore[hxUser])}
		})
		w := e.serve(e.auth.Middleware(e.next), hxGet("Authorization", hxBasic("alice", hxAlicePW)))
		require.Equal(t, http.StatusOK, w.Code)
		errs := e.errs.list()
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], errHxStore)
	})
}

type hxRehashFails struct{ *MemoryUserStore[hxUser] }

func (s *hxRehashFails) UpdatePasswordHash(context.Context, string, string, string) error {
	return errHxStore
}
