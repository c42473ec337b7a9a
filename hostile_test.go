package httpauth

// Hostile-input tests: one table of hostile requests run through every
// entry point, plus the parser, the hasher-call counter, brute force under
// concurrency, fail-closed faults, allocation bounds and audit-log
// hygiene. Each bug these tests found has been fixed; the cases stay as
// regression tests. The fixtures are in fixtures_test.go.

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expect is an expected response. challenge nil means no WWW-Authenticate.
type expect struct {
	status    int
	challenge []string
	body      string
}

var (
	refused      = expect{http.StatusUnauthorized, chPlain, body401}              // bare challenges
	noCreds      = expect{http.StatusUnauthorized, chPlain, body401NoCredentials} // nothing sent
	refusedToken = expect{http.StatusUnauthorized, chToken, body401Token}         // invalid_token
	expiredToken = expect{http.StatusUnauthorized, chToken, body401Expired}       // invalid_token, but it says why
	ambiguous    = expect{http.StatusBadRequest, chRequest, body400}              // invalid_request
	unconfirmed  = expect{http.StatusForbidden, nil, bodyUnconfirmed}             // CheckAccount's 403
	admitted     = expect{status: http.StatusOK}                                  // next handler ran
	throttled    = expect{status: http.StatusTooManyRequests, body: body429}
)

func TestCraftedTokenMatchesSigner(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, "")
	now := time.Now()
	c := Claims{Subject: "u-alice", ID: testJTI, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	tok, err := s.Sign(context.Background(), c)
	require.NoError(t, err)
	require.Equal(t, tok, craftToken(c.IssuedAt, c.ExpiresAt, c.Subject), "test helper must reproduce the signer byte for byte")
	got, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, c.Subject, got.Subject)
}

// ---------------------------------------------------------------------------
// The hostile table: every case runs through Middleware, Optional and
// TokenHandler (as rs/cors's TestSpec runs one table through every entry
// point), or, when it names a handler, through that handler alone.

// tokenAnswer is what TokenHandler answers a case's request, POSTed.
type tokenAnswer int

const (
	sameRefusal   tokenAnswer = iota // Middleware's refusal, byte for byte
	mints                            // 200 with a token: a password login
	cannotMint                       // a bare 401, no hash: a token never mints a token
	notApplicable                    // the case is about routes, not the token endpoint
)

type hostileCase struct {
	name    string
	req     func(e *env) *http.Request
	handler func(e *env) http.Handler // set: this handler alone, no entry points
	opts    []envOpt
	setup   func(t *testing.T, e *env)
	want    expect // Middleware's answer
	// anonymous: the request has no credentials, so Optional lets it
	// through without a user; Optional answers every other case exactly
	// as Middleware does.
	anonymous bool
	token     tokenAnswer
	wantUser  string     // admitted: the account the next handler saw
	cred      Credential // admitted: how, if set
	via       transport  // admitted: through what, if set
	verifies  int        // exact Verify calls; -1 = not checked
	secrets   func(e *env) []string
	check     func(t *testing.T, e *env, w *httptest.ResponseRecorder)
}

// hdr returns a request builder with static header pairs.
func hdr(kv ...string) func(*env) *http.Request {
	return func(*env) *http.Request { return getReq(kv...) }
}

func authz(v string) func(*env) *http.Request { return hdr("Authorization", v) }

func withTok(f func(tok string) []string) func(*env) *http.Request {
	return func(e *env) *http.Request { return getReq(f(e.token)...) }
}

func bearer(f func(tok string) string) func(*env) *http.Request {
	return withTok(func(tok string) []string { return []string{"Authorization", "Bearer " + f(tok)} })
}

func same(tok string) string { return tok }

// behindRoles is Middleware and a role guard: any of roles, or all.
func behindRoles(all bool, roles ...string) func(e *env) http.Handler {
	return func(e *env) http.Handler {
		guard := e.auth.RequireAnyRole
		if all {
			guard = e.auth.RequireAllRoles
		}
		return e.auth.Middleware(guard(roles...)(e.next))
	}
}

func hostileCases() []hostileCase {
	alice := basicHeader("alice", alicePW)
	aliceB64 := b64("alice:" + alicePW)
	now := t0
	craft := func(iat, exp time.Time, sub string) func(*env) *http.Request {
		return authz("Bearer " + craftToken(iat, exp, sub))
	}
	raw := func(payload []byte) func(*env) *http.Request {
		return authz("Bearer " + signRaw(testKID, testKey1, defaultPurpose, payload))
	}
	iat, exp := now.Add(-time.Minute).UnixNano(), now.Add(time.Hour).UnixNano()
	bothKeys := func(c *testSetup[testUser]) {
		c.Signer = mustSigner(SigningKey{ID: testKID, Secret: testKey1}, SigningKey{ID: "k0", Secret: testKey2})
	}
	aliceAccount := func(change func(a *Account[testUser], e *env)) func(*testing.T, *env) {
		return func(t *testing.T, e *env) {
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[testUser]) { change(a, e) }))
		}
	}

	return []hostileCase{
		// --- The shape of the header --------------------------------------
		{name: "request without credentials is challenged", req: hdr(), want: noCreds, anonymous: true},
		{name: "empty Authorization header counts as none", req: authz(""), want: noCreds, anonymous: true},
		{name: "Digest scheme is refused", req: authz(`Digest username="alice", realm="api", nonce="x", uri="/", response="0"`), want: refused},
		{name: "Token scheme is refused", req: authz("Token abcdefabcdef"), want: refused},
		{name: "Negotiate scheme is refused", req: authz("Negotiate YIIabcdefgh"), want: refused},
		{name: "Basic password is accepted", req: authz(alice), want: admitted, token: mints, wantUser: "u-alice", cred: PasswordCredential, via: transportBasic, verifies: 1},
		{name: "mixed-case Basic scheme is accepted", req: authz("bAsIc " + aliceB64), want: admitted, token: mints, wantUser: "u-alice", verifies: 1},
		{name: "upper-case Basic scheme is accepted", req: authz("BASIC " + aliceB64), want: admitted, token: mints, wantUser: "u-alice", verifies: 1},
		{name: "upper-case Bearer scheme is accepted", req: withTok(func(tok string) []string { return []string{"Authorization", "BEARER " + tok} }), want: admitted, token: cannotMint, wantUser: "u-alice", cred: TokenCredential, via: transportBearer},
		{name: "lower-case bearer scheme is accepted", req: withTok(func(tok string) []string { return []string{"Authorization", "bearer " + tok} }), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "Basic alone is refused", req: authz("Basic"), want: refused},
		{name: "Bearer alone is an invalid token", req: authz("Bearer"), want: refusedToken},
		{name: "Basic and a space alone is refused", req: authz("Basic "), want: refused},
		{name: "Bearer and a space alone is an invalid token", req: authz("Bearer "), want: refusedToken},
		{name: "Basic glued to its credentials is refused", req: authz("Basic" + aliceB64), want: refused},
		{name: "Bearer glued to its token is refused", req: withTok(func(tok string) []string { return []string{"Authorization", "Bearer" + tok} }), want: refused},
		{name: "two spaces after Basic are refused", req: authz("Basic  " + aliceB64), want: refused},
		{name: "two spaces after Bearer are refused", req: bearer(func(tok string) string { return " " + tok }), want: refusedToken, token: cannotMint},
		{name: "tab after Basic is refused", req: authz("Basic\t" + aliceB64), want: refused},
		{name: "tab after Bearer is refused", req: withTok(func(tok string) []string { return []string{"Authorization", "Bearer\t" + tok} }), want: refused},
		{name: "trailing space after Basic credentials is refused", req: authz(alice + " "), want: refused},
		{name: "trailing space after a bearer token is refused", req: bearer(func(tok string) string { return tok + " " }), want: refusedToken, token: cannotMint},
		{name: "two valid Basic lines are ambiguous", req: hdr("Authorization", alice, "Authorization", basicHeader("bob", bobPW)), want: ambiguous},
		{name: "valid then garbage Authorization lines are ambiguous", req: hdr("Authorization", alice, "Authorization", "Basic zzz"), want: ambiguous},
		{name: "garbage then valid Authorization lines are ambiguous", req: hdr("Authorization", "Basic zzz", "Authorization", alice), want: ambiguous},
		{name: "two identical bearer lines are ambiguous", req: withTok(func(tok string) []string {
			return []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok}
		}), want: ambiguous},
		{name: "Bearer and Basic lines are ambiguous", req: withTok(func(tok string) []string {
			return []string{"Authorization", "Bearer " + tok, "Authorization", alice}
		}), want: ambiguous},
		{name: "Authorization beside the token header is ambiguous", req: withTok(func(tok string) []string {
			return []string{"Authorization", alice, "X-API-Key", tok}
		}), want: ambiguous},
		{name: "bearer token beside the same token header is ambiguous", req: withTok(func(tok string) []string {
			return []string{"X-API-Key", tok, "Authorization", "Bearer " + tok}
		}), want: ambiguous},
		{name: "two token header lines are ambiguous", req: withTok(func(tok string) []string {
			return []string{"X-API-Key", tok, "X-API-Key", tok}
		}), want: ambiguous},
		{name: "Basic then Bearer in one line is one malformed Basic", req: withTok(func(tok string) []string {
			return []string{"Authorization", alice + ", Bearer " + tok}
		}), want: refused},
		{name: "Bearer then Basic in one line is one malformed token", req: withTok(func(tok string) []string {
			return []string{"Authorization", "Bearer " + tok + ", " + alice}
		}), want: refusedToken, token: cannotMint},
		{name: "token in the query alone is no credential", req: func(e *env) *http.Request {
			return newReq(http.MethodGet, "/api/things?access_token="+url.QueryEscape(e.token))
		}, want: noCreds, anonymous: true, secrets: func(e *env) []string { return []string{e.token} }},
		{name: "token in the query beside a header is ambiguous", req: func(e *env) *http.Request {
			return newReq(http.MethodGet, "/api/things?access_token="+url.QueryEscape(e.bobTok), "Authorization", "Bearer "+e.token)
		}, want: ambiguous, secrets: func(e *env) []string { return []string{e.bobTok} }},
		{name: "Basic credentials just over the header cap are refused", req: authz("Basic " + strings.Repeat("a", 9000)), want: refused},
		{name: "900 KiB of Basic credentials is refused", req: authz("Basic " + strings.Repeat("QUFB", 900*256)), want: refused},
		{name: "bearer token just over the header cap is an invalid token", req: authz("Bearer " + strings.Repeat("a", 9000)), want: refusedToken},
		{name: "900 KiB bearer token is an invalid token", req: authz("Bearer " + strings.Repeat("a", 900<<10)), want: refusedToken},
		// A failed token gets invalid_token in every transport.
		{name: "900 KiB token header is an invalid token", req: hdr("X-API-Key", strings.Repeat("a", 900<<10)), want: refusedToken},
		{name: "bearer token of 100,000 dots is an invalid token", req: authz("Bearer " + strings.Repeat(".", 100_000)), want: refusedToken},
		{name: "bearer token of 8000 dots, under the cap, is an invalid token", req: authz("Bearer " + strings.Repeat(".", 8000)), want: refusedToken, token: cannotMint},
		{name: "NUL after Basic credentials is refused", req: authz(alice + "\x00"), want: refused},
		{name: "NUL inside Basic credentials is refused", req: authz("Basic " + aliceB64[:4] + "\x00" + aliceB64[4:]), want: refused},
		{name: "NUL after a bearer token is refused", req: bearer(func(tok string) string { return tok + "\x00" }), want: refusedToken, token: cannotMint},
		{name: "LF inside a bearer token is refused", req: bearer(func(tok string) string { return tok[:10] + "\n" + tok[10:] }), want: refusedToken, token: cannotMint},
		{name: "CRLF after a bearer token is refused", req: bearer(func(tok string) string { return tok + "\r\n" }), want: refusedToken, token: cannotMint},
		{name: "LF inside the token header is refused", req: withTok(func(tok string) []string { return []string{"X-API-Key", tok[:10] + "\n" + tok[10:]} }), want: refusedToken, token: cannotMint},
		{name: "CRLF after Basic credentials is refused unhashed", req: authz(alice + "\r\n"), want: refused},
		{name: "LF inside Basic credentials is refused unhashed", req: authz("Basic " + aliceB64[:8] + "\n" + aliceB64[8:]), want: refused},
		{name: "CR inside a token sent as the Basic username is refused", req: withTok(func(tok string) []string {
			b := b64(tok + ":")
			return []string{"Authorization", "Basic " + b[:8] + "\r" + b[8:]}
		}), want: refused},
		{name: "non-ASCII bytes as Basic credentials are refused", req: authz("Basic \xff\xfe\x80\x81"), want: refused},
		{name: "non-ASCII byte after Basic credentials is refused", req: authz(alice + "\x80"), want: refused},
		{name: "non-ASCII bytes as a bearer token are refused", req: authz("Bearer \xff\xfe\x80\x81"), want: refusedToken, token: cannotMint},

		// --- Basic credentials --------------------------------------------
		{name: "Basic credentials that are not base64 are refused", req: authz("Basic NOT_VALID_BASE64"), want: refused},
		{name: "Basic credentials of padding around a letter are refused", req: authz("Basic =a="), want: refused},
		{name: "Basic with two words is refused", req: authz("Basic foo bar"), want: refused},
		{name: "unpadded base64 is refused", req: authz("Basic " + strings.TrimRight(b64("alice:pw-x"), "=")), want: refused},
		{name: "unpadded base64 of the right password is refused", req: authz("Basic " + base64.RawStdEncoding.EncodeToString([]byte("colon:pa:ss"))), want: refused},
		{name: "extra base64 padding is refused", req: authz("Basic " + b64("alice:"+alicePW) + "=="), want: refused},
		{name: "URL-safe base64 alphabet is refused", req: func(*env) *http.Request {
			std := b64("urlsafe:??>>??")
			if !strings.ContainsAny(std, "+/") {
				panic("fixture: urlsafe credentials must encode with + or /")
			}
			u := strings.NewReplacer("+", "-", "/", "_").Replace(std)
			return getReq("Authorization", "Basic "+u)
		}, want: refused},
		{name: "standard base64 of the same credentials is accepted", req: authz(basicHeader("urlsafe", "??>>??")), want: admitted, token: mints, wantUser: "u-urlsafe", verifies: 1},
		{name: "base64 with non-zero pad bits is refused", req: func(*env) *http.Request {
			b := b64("alice:" + alicePW + "x") // 1 trailing byte: 4 pad bits
			if !strings.HasSuffix(b, "==") {
				panic("fixture: want two pad chars")
			}
			return getReq("Authorization", "Basic "+flipPadBits(b[:len(b)-2])+"==")
		}, want: refused},
		{name: "Basic credentials without a colon are refused", req: authz("Basic " + b64("alice"+alicePW)), want: refused},
		{name: "password with a colon is accepted", req: authz(basicHeader("colon", "pa:ss")), want: admitted, token: mints, wantUser: "u-colon", verifies: 1},
		{name: "credentials split at the first colon only", req: authz(basicHeader("colon", "pa")), want: refused, verifies: 1},
		{name: "empty login with a password is hashed and refused", req: authz(basicHeader("", "pw-x")), want: refused, verifies: 1},
		// Og== is ":", an empty username and password: an empty token in
		// the token-as-username transport, refused like a bare Bearer.
		{name: "a lone colon is an empty token", req: authz("Basic Og=="), want: refusedToken, token: cannotMint},
		// "empty:" is the token transport with token "empty": never a
		// password check, even though user "empty" has the hash of "".
		{name: "a login with an empty password is a token, never a password", req: authz(basicHeader("empty", "")), want: refusedToken, token: cannotMint},
		{name: "alice with an empty password is a token, never a password", req: authz(basicHeader("alice", "")), want: refusedToken, token: cannotMint},
		{name: "NUL in the login is refused", req: authz(basicHeader("ali\x00ce", alicePW)), want: refused},
		{name: "NUL after the password is refused, not truncated", req: authz(basicHeader("alice", alicePW+"\x00junk")), want: refused},
		{name: "NUL as the password is refused", req: authz(basicHeader("alice", "\x00")), want: refused},
		{name: "unit separator in the password is refused", req: authz(basicHeader("alice", alicePW+"\x1f")), want: refused},
		{name: "DEL in the login is refused", req: authz(basicHeader("alice\x7f", alicePW)), want: refused},
		{name: "CRLF after the password is refused", req: authz(basicHeader("alice", alicePW+"\r\n")), want: refused},
		{name: "LF in the login is refused", req: authz(basicHeader("alice\n", alicePW)), want: refused},
		// Not UTF-8: read as ISO-8859-1 (Python requests, btoa).
		{name: "non-UTF-8 password is read as ISO-8859-1, and is wrong", req: authz(basicHeader("alice", "\xff\xfe")), want: refused, verifies: 1},
		{name: "non-UTF-8 login is read as ISO-8859-1, and is unknown", req: authz(basicHeader("\xc3(", "pw")), want: refused, verifies: 1},
		{name: "ISO-8859-1 password is the UTF-8 one", req: authz(basicHeader("nfc", "caf\xe9")), want: admitted, token: mints, wantUser: "u-nfc", verifies: 1},
		{name: "ISO-8859-1 C1 control is refused", req: authz(basicHeader("nfc", "caf\x85")), want: refused},
		{name: "NFC password is accepted", req: authz(basicHeader("nfc", "caf\u00e9")), want: admitted, token: mints, wantUser: "u-nfc", verifies: 1},
		{name: "NFD spelling of an NFC password is refused", req: authz(basicHeader("nfc", "cafe\u0301")), want: refused, verifies: 1},
		{name: "login in another case is accepted", req: authz(basicHeader("Alice", alicePW)), want: admitted, token: mints, wantUser: "u-alice", cred: PasswordCredential, via: transportBasic, verifies: 1},
		{name: "password in another case is refused", req: authz(basicHeader("alice", "Correct horse battery")), want: refused, verifies: 1},
		{name: "256-byte password is accepted with argon2id", req: authz(basicHeader("long", longPW)), want: admitted, token: mints, wantUser: "u-long", verifies: 1},
		{name: "bcrypt password of exactly 72 bytes is accepted", req: authz(basicHeader("bc72", pw72)), want: admitted, token: mints, wantUser: "u-bc72", verifies: 1},
		{name: "bcrypt password with a 73rd byte is refused", req: authz(basicHeader("bc72", pw72+"x")), want: refused, verifies: 1},
		{name: "bcrypt password's 71-byte prefix is refused", req: authz(basicHeader("bc72", pw72[:71])), want: refused, verifies: 1},
		{name: "100 KiB password is refused unhashed", req: authz(basicHeader("alice", strings.Repeat("p", 100<<10))), want: refused},
		{name: "password over the length limit is refused unhashed", req: authz(basicHeader("alice", strings.Repeat("p", 1025))), want: refused},
		{name: "password at the length limit is hashed", req: authz(basicHeader("alice", strings.Repeat("p", 1024))), want: refused, verifies: 1},
		{name: "login over 512 bytes is refused unhashed", req: authz(basicHeader(strings.Repeat("l", 513), "pw")), want: refused},
		{name: "unknown login costs one hash", req: authz(basicHeader("nobody", "pw-x")), want: refused, verifies: 1},
		{name: "wrong password costs one hash", req: authz(basicHeader("alice", "pw-x")), want: refused, verifies: 1},
		{name: "disabled account with the right password is refused", req: authz(basicHeader("disabled", "pw-disabled")), want: refused, verifies: 1},
		{name: "unconfirmed account is forbidden by CheckAccount", req: authz(basicHeader("unconfirmed", "pw-unconfirmed")), want: unconfirmed, verifies: 1},
		{name: "CRLF in the login cannot forge log lines", req: authz(basicHeader("admin\r\n[INFO] ok", "pw")), want: refused},
		{name: "ANSI escape in the login is refused", req: authz(basicHeader("\x1b[31madmin\x1b[0m", "pw")), want: refused},

		// --- Tokens ---------------------------------------------------------
		{name: "bearer token is accepted", req: bearer(same), want: admitted, token: cannotMint, wantUser: "u-alice", cred: TokenCredential, via: transportBearer},
		{name: "token as the Basic username is accepted", req: withTok(func(tok string) []string {
			return []string{"Authorization", basicHeader(tok, "")}
		}), want: admitted, token: cannotMint, wantUser: "u-alice", cred: TokenCredential, via: transportBasicToken},
		{name: "token as the Basic username with a password is refused", req: withTok(func(tok string) []string {
			return []string{"Authorization", basicHeader(tok, "unused")}
		}), want: refused, verifies: -1, secrets: func(e *env) []string { return []string{e.token} }},
		{name: "token header is accepted", req: withTok(func(tok string) []string { return []string{"X-API-Key", tok} }), want: admitted, token: cannotMint, wantUser: "u-alice", cred: TokenCredential, via: transportHeader},
		{name: "garbage bearer token is an invalid token", req: authz("Bearer abc.def.ghi"), want: refusedToken, token: cannotMint},
		{name: "token with another key ID is refused", req: bearer(func(tok string) string { return "k2" + tok[2:] }), want: refusedToken, token: cannotMint},
		{name: "token with a flipped payload byte is refused", req: bearer(func(tok string) string { return flipChar(tok, 5) }), want: refusedToken, token: cannotMint},
		{name: "token with a flipped MAC byte is refused", req: bearer(func(tok string) string { return flipChar(tok, len(tok)-10) }), want: refusedToken, token: cannotMint},
		{name: "truncated token is refused", req: bearer(func(tok string) string { return tok[:len(tok)-1] }), want: refusedToken, token: cannotMint},
		{name: "token without its MAC is refused", req: bearer(func(tok string) string { k, p, _ := tokenParts(tok); return k + "." + p }), want: refusedToken, token: cannotMint},
		{name: "token with an empty MAC is refused", req: bearer(func(tok string) string { k, p, _ := tokenParts(tok); return k + "." + p + "." }), want: refusedToken, token: cannotMint},
		{name: "token of four parts is refused", req: authz("Bearer a.b.c.d"), want: refusedToken, token: cannotMint},
		{name: "token of two dots is refused", req: authz("Bearer .."), want: refusedToken, token: cannotMint},
		{name: "token with an extra part is refused", req: bearer(func(tok string) string { return tok + ".x" }), want: refusedToken, token: cannotMint},
		{name: "MAC with flipped pad bits is refused", req: bearer(flipPadBits), want: refusedToken, token: cannotMint},
		{name: "token with = appended is refused", req: bearer(func(tok string) string { return tok + "=" }), want: refusedToken, token: cannotMint},
		{name: "token with == appended is refused", req: bearer(func(tok string) string { return tok + "==" }), want: refusedToken, token: cannotMint},
		{name: "token with a padded payload is refused", req: bearer(func(tok string) string {
			k, p, m := tokenParts(tok)
			for len(p)%4 != 0 {
				p += "="
			}
			return k + "." + p + "." + m
		}), want: refusedToken, token: cannotMint},
		{name: "quoted token is refused", req: bearer(func(tok string) string { return `"` + tok + `"` }), want: refusedToken, token: cannotMint},
		{name: "token with a quote inside is refused", req: authz(`Bearer a"b`), want: refusedToken, token: cannotMint},
		{name: "token with a space inside is refused", req: bearer(func(tok string) string { return tok[:6] + " " + tok[6:] }), want: refusedToken, token: cannotMint},
		{name: "token with a trailing comma is refused", req: bearer(func(tok string) string { return tok + "," }), want: refusedToken, token: cannotMint},
		{name: "token with a colon inside is refused", req: bearer(func(tok string) string { return tok[:6] + ":" + tok[6:] }), want: refusedToken, token: cannotMint},
		{name: "token that expired a second ago is refused", req: craft(now.Add(-time.Hour), now.Add(-time.Second), "u-alice"), want: expiredToken, token: cannotMint},
		{name: "token expiring now is refused", req: craft(now.Add(-time.Hour), now, "u-alice"), want: expiredToken, token: cannotMint},
		{name: "token expiring in a nanosecond is accepted", req: craft(now.Add(-time.Hour), now.Add(time.Nanosecond), "u-alice"), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "token issued a nanosecond from now is refused", req: craft(now.Add(time.Nanosecond), now.Add(time.Hour), "u-alice"), want: refusedToken, token: cannotMint},
		{name: "token issued now is accepted", req: craft(now, now.Add(time.Hour), "u-alice"), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "signed token without an expiry is refused", req: raw(tokenPayload(tokenVersion, iat, exp, testJTI, "")[:9]), want: refusedToken, token: cannotMint},
		{name: "signed token expiring at 0 is refused", req: raw(tokenPayload(tokenVersion, iat, 0, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token with a negative expiry is refused", req: raw(tokenPayload(tokenVersion, iat, -1, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token expiring at MinInt64 is refused", req: raw(tokenPayload(tokenVersion, iat, math.MinInt64, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token expiring before its issue is refused", req: raw(tokenPayload(tokenVersion, exp, iat, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token expiring at its issue is refused", req: raw(tokenPayload(tokenVersion, iat, iat, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token issued at 0 is refused", req: raw(tokenPayload(tokenVersion, 0, exp, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token with a negative issue time is refused", req: raw(tokenPayload(tokenVersion, -5, exp, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token of version 0 is refused", req: raw(tokenPayload(0, iat, exp, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token of version 2 is refused", req: raw(tokenPayload(2, iat, exp, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token of version 255 is refused", req: raw(tokenPayload(0xff, iat, exp, testJTI, "u-alice")), want: refusedToken, token: cannotMint},
		{name: "signed token with an empty subject is refused", req: raw(tokenPayload(tokenVersion, iat, exp, testJTI, "")), want: refusedToken, token: cannotMint},
		{name: "signed token with a genuine payload is accepted", req: raw(tokenPayload(tokenVersion, iat, exp, testJTI, "u-alice")), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "token of an unknown key ID is refused", req: authz("Bearer " + signRaw("k9", testKey1, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: refusedToken, token: cannotMint},
		{name: "token of a rotated-out key is refused", req: authz("Bearer " + signRaw("k0", testKey2, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: refusedToken, token: cannotMint},
		{name: "token of a verify-only key is accepted during rotation", opts: []envOpt{bothKeys}, req: authz("Bearer " + signRaw("k0", testKey2, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "token naming one key with the MAC of the other is refused", opts: []envOpt{bothKeys}, req: authz("Bearer " + signRaw("k0", testKey1, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: refusedToken, token: cannotMint},
		{name: "token of another deployment's key is refused", req: authz("Bearer " + signRaw(testKID, testKey3, defaultPurpose, tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: refusedToken, token: cannotMint},
		{name: "token of key none with an empty MAC is refused", req: authz("Bearer none." + base64.RawURLEncoding.EncodeToString(tokenPayload(1, iat, exp, testJTI, "u-alice")) + "."), want: refusedToken, token: cannotMint},
		{name: "token with an all-zero MAC is refused", req: authz("Bearer " + testKID + "." + base64.RawURLEncoding.EncodeToString(tokenPayload(1, iat, exp, testJTI, "u-alice")) + "." + strings.Repeat("A", 43)), want: refusedToken, token: cannotMint},
		{name: "JWT with alg none is refused", req: authz("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1LWFsaWNlIn0."), want: refusedToken, token: cannotMint},
		{name: "token MACed with the raw secret, not the derived key, is refused", req: func(*env) *http.Request {
			signed := testKID + "." + base64.RawURLEncoding.EncodeToString(tokenPayload(1, iat, exp, testJTI, "u-alice"))
			m := hmac.New(sha256.New, testKey1)
			m.Write([]byte(signed))
			return getReq("Authorization", "Bearer "+signed+"."+base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
		}, want: refusedToken, token: cannotMint},
		{name: "token of another purpose is refused", req: authz("Bearer " + signRaw(testKID, testKey1, "password-reset", tokenPayload(1, iat, exp, testJTI, "u-alice"))), want: refusedToken, token: cannotMint},
		{name: "token of a deleted account is refused", setup: func(t *testing.T, e *env) {
			require.NoError(t, e.users.Delete(context.Background(), "u-alice"))
		}, req: bearer(same), want: refusedToken, token: cannotMint},
		{name: "token of a disabled account is refused", setup: aliceAccount(func(a *Account[testUser], _ *env) { a.Disabled = true }),
			req: bearer(same), want: refusedToken, token: cannotMint},
		{name: "token issued before the account's cutoff is refused", setup: aliceAccount(func(a *Account[testUser], e *env) { a.TokensValidAfter = time.Now() }),
			req: bearer(same), want: refusedToken, token: cannotMint},
		// A token must be issued strictly after the cutoff.
		{name: "token issued exactly at the account's cutoff is refused", setup: aliceAccount(func(a *Account[testUser], _ *env) { a.TokensValidAfter = t0.Add(-time.Minute) }),
			req: bearer(same), want: refusedToken, token: cannotMint},
		{name: "token issued a microsecond after the account's cutoff is accepted", setup: aliceAccount(func(a *Account[testUser], _ *env) { a.TokensValidAfter = t0.Add(-time.Minute - time.Microsecond) }),
			req: bearer(same), want: admitted, token: cannotMint, wantUser: "u-alice"},
		{name: "revoked token is refused", setup: func(t *testing.T, e *env) {
			w := e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+e.token))
			require.Equal(t, http.StatusNoContent, w.Code)
		}, req: bearer(same), want: refusedToken, token: cannotMint},

		// --- Single handlers ------------------------------------------------
		{name: "bearer token cannot mint through the token endpoint behind Middleware", handler: func(e *env) http.Handler {
			return e.auth.Middleware(e.auth.TokenHandler())
		}, req: func(e *env) *http.Request {
			return newReq(http.MethodPost, "/api/tokens", "Authorization", "Bearer "+e.token)
		}, want: expect{http.StatusUnauthorized, chPlain, body401TokenForToken}},
		{name: "GET to the token endpoint is not allowed", handler: tokenEndpoint, req: func(*env) *http.Request {
			return newReq(http.MethodGet, "/api/tokens", "Authorization", basicHeader("alice", alicePW))
		}, want: expect{status: http.StatusMethodNotAllowed, body: body405}, check: func(t *testing.T, _ *env, w *httptest.ResponseRecorder) {
			assert.Equal(t, "POST", w.Header().Get("Allow"))
		}},
		{name: "credentials in the token endpoint's query are ignored", handler: tokenEndpoint, req: func(*env) *http.Request {
			return newReq(http.MethodPost, "/api/tokens?username=alice&password="+url.QueryEscape(alicePW))
		}, want: noCreds, secrets: func(*env) []string { return []string{alicePW} }},
		{name: "credentials in the token endpoint's form body are ignored", handler: tokenEndpoint, req: func(*env) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/tokens", strings.NewReader("username=alice&password="+url.QueryEscape(alicePW)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, want: noCreds, secrets: func(*env) []string { return []string{alicePW} }},
		{name: "token user without the role is forbidden and told the scope", handler: behindRoles(false, "admin"), req: bearer(same),
			want: expect{http.StatusForbidden, []string{`Bearer realm="api", error="insufficient_scope", scope="admin"`}, body403}},
		{name: "password user without the role is forbidden without a challenge", handler: behindRoles(false, "admin"), req: authz(alice),
			want: expect{http.StatusForbidden, nil, body403}, verifies: 1},
		{name: "password user with every role is admitted", handler: behindRoles(true, "admin", "user"), req: authz(basicHeader("admin", "admin-pw")),
			want: admitted, wantUser: "u-admin", verifies: 1},
	}
}

// TestHostileRequests runs every hostile case through each entry point
// that applies: the same refusal everywhere, no echo or log of a
// credential, and no more password hashes than the case allows.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	for _, tc := range hostileCases() {
		entries := []string{"Middleware", "Optional", "TokenHandler"}
		switch {
		case tc.handler != nil:
			entries = []string{"handler"}
		case tc.token == notApplicable:
			entries = entries[:2]
		}
		for _, entry := range entries {
			t.Run(tc.name+"/"+entry, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) { runHostileCase(t, tc, entry) })
			})
		}
	}
}

func runHostileCase(t *testing.T, tc hostileCase, entry string) {
	e := newEnv(t, tc.opts...)
	if tc.setup != nil {
		tc.setup(t, e)
	}
	req := tc.req(e)
	want, verifies, wantUser := tc.want, tc.verifies, tc.wantUser
	var h http.Handler
	switch entry {
	case "handler":
		h = tc.handler(e)
	case "Middleware":
		h = e.auth.Middleware(e.next)
	case "Optional":
		h = e.auth.Optional(e.next)
		if tc.anonymous {
			want, wantUser = admitted, ""
		}
	case "TokenHandler":
		h = e.auth.TokenHandler()
		req.Method = http.MethodPost
		switch tc.token {
		case sameRefusal:
			require.NotEqual(t, http.StatusOK, want.status, "an admitted case must say what TokenHandler answers")
		case mints:
			require.Equal(t, http.StatusOK, want.status, "only an admitted password mints")
		case cannotMint:
			// A token never mints: refused, saying why — a token (or key)
			// at the token endpoint, or the token's own fault when it
			// cannot be read at all.
			want, verifies = expect{http.StatusUnauthorized, chPlain, body401TokenForToken}, 0
			if tc.want.body == body401Token && parsesAsMalformed(req) {
				want = expect{http.StatusUnauthorized, chToken, body401Token}
			}
		}
	}
	e.hasher.verifies.Store(0)
	logBefore := len(e.logs.String())
	w := e.serve(h, req)
	logged := e.logs.String()[logBefore:]

	switch {
	case entry == "TokenHandler" && tc.token == mints:
		tok := tokenOf(t, w)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		c, err := e.auth.cfg.Signer.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.Equal(t, wantUser, c.Subject)
	case entry == "TokenHandler":
		assertResponse(t, want, w)
		assert.Zero(t, e.next.calls.Load())
	default:
		assertResponse(t, want, w)
	}
	if entry != "TokenHandler" {
		if want.status == http.StatusOK {
			require.EqualValues(t, 1, e.next.calls.Load(), "next handler must run once")
			id := e.next.lastID()
			if wantUser == "" {
				assert.Nil(t, id, "a request without credentials has no user")
			} else {
				require.NotNil(t, id)
				assert.Equal(t, wantUser, id.Account.ID)
				if tc.cred != 0 {
					assert.Equal(t, tc.cred, id.Credential)
				}
				if tc.via != 0 {
					assert.Equal(t, tc.via, id.transport)
				}
				if id.Credential == TokenCredential {
					assert.NotEqual(t, [16]byte{}, id.Claims.ID)
				}
			}
		} else {
			assert.Zero(t, e.next.calls.Load(), "next handler must not run")
		}
	}
	if verifies >= 0 {
		assert.EqualValues(t, verifies, e.hasher.verifies.Load(), "password hashes run")
	}
	if want.status != http.StatusInternalServerError {
		assert.Empty(t, e.errs.list(), "no internal error expected")
	}

	// No echo of the credentials anywhere in the response, and no secret
	// in the log.
	secrets := secretsOf(req)
	if tc.secrets != nil {
		secrets = append(secrets, tc.secrets(e)...)
	}
	for _, s := range secrets {
		assertNoEcho(t, w, s)
		assert.NotContains(t, logged, s, "log must not contain a credential")
	}
	assertLogLines(t, logged)
	if entry == "Optional" && tc.anonymous {
		assert.NotContains(t, logged, "auth.failure", "an anonymous visitor is no failure")
	}
	if tc.check != nil {
		tc.check(t, e, w)
	}
}

// assertResponse checks status, exact challenges, exact body and the
// headers every failure carries.
func assertResponse(t *testing.T, want expect, w *httptest.ResponseRecorder) {
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
		_, _, err := parseChallenge(c)
		assert.NoError(t, err, "challenge %q must follow RFC 9110 §11", c)
	}
	if want.status == http.StatusTooManyRequests {
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err, "Retry-After must be delta-seconds")
		assert.GreaterOrEqual(t, ra, 1)
	}
}

// secretsOf returns the credential parts of a request's credential
// headers, which must never be echoed or logged.
func secretsOf(r *http.Request) []string {
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

func assertNoEcho(t *testing.T, w *httptest.ResponseRecorder, secret string) {
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

// assertLogLines checks that each log line is one JSON object with no raw
// control characters.
func assertLogLines(t *testing.T, logged string) {
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

// parseChallenge parses one challenge by RFC 9110 §11:
// challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ], with
// auth-param = token BWS "=" BWS ( token / quoted-string ). It also checks
// that realm is present and quoted, parameter names appear once, and
// RFC 6750 error values use only the permitted characters.
func parseChallenge(s string) (scheme string, params map[string]string, err error) {
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

func TestChallengeParserCanFail(t *testing.T) {
	t.Parallel()
	// The parser must be able to fail.
	for _, bad := range []string{`Basic`, `Basic realm=api`, `Basic realm="a`, `Basic realm="a", realm="b"`, `Bearer realm="a",error="x"`, `Bearer realm="a", error="a\"b"`} {
		_, _, err := parseChallenge(bad)
		assert.Error(t, err, bad)
	}
	_, p, err := parseChallenge(`Basic realm="a\"b\\c", charset="UTF-8"`)
	require.NoError(t, err)
	assert.Equal(t, `a"b\c`, p["realm"])
}

// ---------------------------------------------------------------------------
// ParseAuthorization directly.

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
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
		{"basic", []string{"Authorization", basicHeader("alice", "pw")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pw"}, nil},
		{"basic mixed case", []string{"Authorization", "bAsIc " + b64("alice:pw")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pw"}, nil},
		{"password keeps colons", []string{"Authorization", basicHeader("alice", "pa:ss:")}, "", credentials{Transport: transportBasic, Login: "alice", Password: "pa:ss:"}, nil},
		{"password keeps spaces", []string{"Authorization", basicHeader("alice", " pw ")}, "", credentials{Transport: transportBasic, Login: "alice", Password: " pw "}, nil},
		{"token as username", []string{"Authorization", basicHeader(tok, "")}, "", credentials{Transport: transportBasicToken, Token: tok}, nil},
		{"bearer", []string{"Authorization", "Bearer " + tok}, "", credentials{Transport: transportBearer, Token: tok}, nil},
		{"bearer with padding", []string{"Authorization", "Bearer abc=="}, "", credentials{Transport: transportBearer, Token: "abc=="}, nil},
		// The Bearer grammar is the signer's to check (a 401 invalid_token).
		{"bearer = inside", []string{"Authorization", "Bearer a=b"}, "", credentials{Transport: transportBearer, Token: "a=b"}, nil},
		{"bearer only =", []string{"Authorization", "Bearer =="}, "", credentials{Transport: transportBearer, Token: "=="}, nil},
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
			t.Parallel()
			got, err := parseCredentials(getReq(tc.kv...), http.CanonicalHeaderKey(tc.header), 100)
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
func TestTokenWithAnyCharacterSubstitutedIsRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		h := e.auth.Middleware(e.next)
		for i := 0; i < len(e.token); i++ {
			for _, c := range []byte{'A', 'B', '_', '-', '.'} {
				if e.token[i] == c {
					continue
				}
				b := []byte(e.token)
				b[i] = c
				w := e.serve(h, getReq("Authorization", "Bearer "+string(b)))
				require.Equal(t, http.StatusUnauthorized, w.Code, "position %d -> %q", i, c)
				require.Equal(t, chToken, w.Header().Values("WWW-Authenticate"))
			}
		}
		assert.Zero(t, e.next.calls.Load())
	})
}

// Clock edges through the signer: reject when now >= exp, and when
// iat > now.
func TestTokenClockEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		iat, exp time.Duration // from now
		forged   bool          // signed with another key
		err      error
	}{
		{"iat = now", 0, time.Hour, false, nil},
		{"iat = now+1ns", 1, time.Hour, false, ErrTokenInvalid},
		{"exp = now+1ns", -time.Hour, 1, false, nil},
		{"exp = now", -time.Hour, 0, false, ErrTokenExpired},
		{"exp = now-1s", -time.Hour, -time.Second, false, ErrTokenExpired},
		{"future and expired is not 'expired'", time.Hour, 2 * time.Hour, false, ErrTokenInvalid},
		// A signature failure, never "expired" (CVE-2024-51744).
		{"forged and expired is not 'expired'", -2 * time.Hour, -time.Hour, true, ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The bubble's clock stands still: now is exact.
			synctest.Test(t, func(t *testing.T) {
				s, err := newHMACSigner(hmacSignerConfig{Purpose: defaultPurpose, Keys: []SigningKey{{ID: testKID, Secret: testKey1}}})
				require.NoError(t, err)
				now := time.Now()
				tok := craftToken(now.Add(tc.iat), now.Add(tc.exp), "u-alice")
				if tc.forged {
					tok = signRaw(testKID, testKey3, defaultPurpose, tokenPayload(tokenVersion, now.Add(tc.iat).UnixNano(), now.Add(tc.exp).UnixNano(), testJTI, "u-alice"))
				}
				_, err = s.Verify(context.Background(), tok)
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
		})
	}
}

// Verify must accept only what Sign can produce: genuinely signed payloads
// that Sign would refuse (zero token ID, non-UTF-8 subject) are invalid.
func TestVerifyRejectsWhatSignRefuses(t *testing.T) {
	t.Parallel()
	s := fzSigner(t)
	iat, exp := t0.Add(-time.Minute).UnixNano(), t0.Add(time.Hour).UnixNano()
	for name, p := range map[string][]byte{
		"zero ID":           tokenPayload(1, iat, exp, [16]byte{}, "u-alice"),
		"non-UTF-8 subject": tokenPayload(1, iat, exp, testJTI, "u-\xff"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				atT0()
				_, err := s.Verify(context.Background(), signRaw(testKID, testKey1, defaultPurpose, p))
				assert.ErrorIs(t, err, ErrTokenInvalid)
			})
		})
	}
}

// The token endpoint's success path: a fresh token per login, never logged.
func TestTokenEndpointMintsAFreshTokenPerLogin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		h := e.auth.TokenHandler()
		var toks []string
		for range 2 {
			w := e.serve(h, newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW)))
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
			w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok))
			assert.Equal(t, http.StatusOK, w.Code, "older tokens stay valid until they expire")
			assert.NotContains(t, e.logs.String(), tok, "token must not be logged")
			_, _, mac := tokenParts(tok)
			assert.NotContains(t, e.logs.String(), mac)
		}
		assert.NotContains(t, e.logs.String(), alicePW)
	})
}

// Over 1 MiB of header, Go's server answers 431 before the middleware.
func TestServerRefusesHeadersOverOneMiB(t *testing.T) {
	t.Parallel()
	// A real server cannot run in a synctest bubble; no clock is needed.
	next := &spy{}
	a, err := New(Config[testUser]{Users: NewMemoryUserStore[testUser](cheapHasher), Signer: mustSigner(SigningKey{ID: testKID, Secret: testKey1}), Realm: "api", Hasher: cheapHasher})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Middleware(next))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 1<<20+4096))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	assert.Zero(t, next.calls.Load())
}

// A realm with quote and backslash is escaped; control characters are
// refused at New; every challenge parses.
func TestRealmAndSchemeInChallenges(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) { c.Realm = `a"b\c d`; c.BasicScheme = "xBasic" })
		w := e.serve(e.auth.Middleware(e.next), getReq())
		require.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Equal(t, []string{`xBasic realm="a\"b\\c d", charset="UTF-8"`, `Bearer realm="a\"b\\c d"`}, w.Header().Values("WWW-Authenticate"))
		for _, c := range w.Header().Values("WWW-Authenticate") {
			_, p, err := parseChallenge(c)
			require.NoError(t, err)
			assert.Equal(t, `a"b\c d`, p["realm"])
		}
		w = e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer x"))
		for _, c := range w.Header().Values("WWW-Authenticate") {
			_, _, err := parseChallenge(c)
			require.NoError(t, err, c)
		}
		// Requests still use the Basic scheme.
		w = e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader("alice", alicePW)))
		assert.Equal(t, http.StatusOK, w.Code)
		for _, realm := range []string{"a\r\nSet-Cookie: x=1", "a\x00", "a\x7f", "\xff", strings.Repeat("r", 257)} {
			_, err := New(Config[testUser]{Users: e.users, Signer: mustSigner(SigningKey{ID: testKID, Secret: testKey1}), Realm: realm, Hasher: cheapHasher})
			assert.Error(t, err, "realm %q", realm)
		}
		for _, scheme := range []string{"x Basic", "Basic\r\n", "a\"b", "B,c"} {
			_, err := New(Config[testUser]{Users: e.users, Signer: mustSigner(SigningKey{ID: testKID, Secret: testKey1}), Realm: "r", BasicScheme: scheme, Hasher: cheapHasher})
			assert.Error(t, err, "scheme %q", scheme)
		}
	})
}

// ---------------------------------------------------------------------------
// Hasher call counter: one hash for every password outcome that
// reaches the store, none for a throttled login, byte-identical replies.

func TestHasherCallsPerOutcome(t *testing.T) {
	t.Parallel()
	type outcome struct {
		name     string
		login    string
		pw       string
		opts     []envOpt
		prime    int // failed attempts made first
		status   int
		verifies int64
	}
	tight := func(c *testSetup[testUser]) {
		c.Throttle.Logins = newMemoryLimiter(3, time.Minute)
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
		{name: "right password", login: "alice", pw: alicePW, status: 200, verifies: 1},
		{name: "throttled known login", login: "alice", pw: "pw-guess", opts: []envOpt{tight}, prime: 3, status: 429, verifies: 0},
		{name: "throttled unknown login", login: "nobody", pw: "pw-guess", opts: []envOpt{tight}, prime: 3, status: 429, verifies: 0},
		{name: "throttled known login, right password", login: "alice", pw: alicePW, opts: []envOpt{tight}, prime: 3, status: 429, verifies: 0},
	}
	replies := map[string]*httptest.ResponseRecorder{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tc.opts...)
				h := e.auth.Middleware(e.next)
				for range tc.prime {
					w := e.serve(h, getReq("Authorization", basicHeader(tc.login, "pw-wrong-prime")))
					require.Equal(t, http.StatusUnauthorized, w.Code)
				}
				e.hasher.verifies.Store(0)
				w := e.serve(h, getReq("Authorization", basicHeader(tc.login, tc.pw)))
				require.Equal(t, tc.status, w.Code, w.Body.String())
				assert.Equal(t, tc.verifies, e.hasher.verifies.Load(), "Verify calls")
				assert.Zero(t, e.hasher.hashes.Load(), "no Hash (rehash) calls")
				replies[tc.name] = w
			})
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
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			h := e.auth.Middleware(e.next)
			req := func() int { return e.serve(h, getReq("Authorization", basicHeader("alice", alicePW))).Code }
			require.Equal(t, 200, req())
			require.EqualValues(t, 1, e.hasher.verifies.Load())
			require.Equal(t, 200, req())
			require.EqualValues(t, 1, e.hasher.verifies.Load(), "second login served from the cache")
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[testUser]) { a.Disabled = true }))
			require.Equal(t, 401, req(), "disabled account must not be served from the cache")
			require.NoError(t, e.users.Update(context.Background(), "u-alice", func(a *Account[testUser]) {
				a.Disabled = false
				a.PasswordHash = storedHashes()[bobPW]
			}))
			require.Equal(t, 401, req(), "changed password must not be served from the cache")
		})
	})
}

// ---------------------------------------------------------------------------
// Brute force.

func TestBruteForceConcurrent(t *testing.T) {
	t.Parallel()
	const n = 200
	const slots = 3
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = slots })
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
						h.ServeHTTP(w, getReq("Authorization", basicHeader(login, fmt.Sprintf("guess-%d", i))))
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
				w := e.serve(h, getReq("Authorization", basicHeader(login, "one-more")))
				assertResponse(t, throttled, w)
				assert.Equal(t, "900", w.Header().Get("Retry-After"), "15-minute window, frozen clock")
				// The correct password is refused during the lockout, without hashing.
				if login == "alice" {
					w = e.serve(h, getReq("Authorization", basicHeader("alice", alicePW)))
					assertResponse(t, throttled, w)
					// Case-variant logins share the lockout.
					w = e.serve(h, getReq("Authorization", basicHeader("ALICE", alicePW)))
					assertResponse(t, throttled, w)
				}
				assert.Zero(t, e.hasher.verifies.Load(), "no hash while throttled")
				// Other users are unaffected; existing tokens keep working.
				w = e.serve(h, getReq("Authorization", basicHeader("bob", bobPW)))
				assert.Equal(t, http.StatusOK, w.Code)
				w = e.serve(h, getReq("Authorization", "Bearer "+e.token))
				assert.Equal(t, http.StatusOK, w.Code, "alice's token works during the lockout")
				// The window ends.
				time.Sleep(15 * time.Minute)
				if login == "alice" {
					w = e.serve(h, getReq("Authorization", basicHeader("alice", alicePW)))
					assert.Equal(t, http.StatusOK, w.Code)
				}
			})
		})
	}
}

// The throttle must hold under concurrency: attempts are reserved before
// any hash, so no more than the limit are hashed. In the synctest bubble a
// Verify that sleeps wakes only once every other request is blocked
// (waiting for a hash slot, or asleep here), that is once every request
// has asked the limiter, which makes the check-then-act race
// deterministic.
func TestBruteForceThrottleIsNotRacy(t *testing.T) {
	t.Parallel()
	const n = 200
	const slots = 4
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = slots })
				e.hasher.hook = func(string) { time.Sleep(time.Second) }
				h := e.auth.Middleware(e.next)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						h.ServeHTTP(httptest.NewRecorder(), getReq("Authorization", basicHeader(login, fmt.Sprintf("guess-%d", i))))
					}()
				}
				wg.Wait()
				assert.LessOrEqual(t, e.hasher.verifies.Load(), int64(defaultMaxFailures),
					"guesses hashed for one login in one window")
				assert.EqualValues(t, slots, e.hasher.peak.Load(), "hashes were held side by side")
			})
		})
	}
}

// Hash concurrency never exceeds MaxConcurrentHashes. Verify holds until
// the slots are full, so the peak is reached deterministically.
func TestBruteForceHashConcurrencyBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const slots = 3
		const n = 60
		e := newEnv(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = slots; c.disableThrottling = true })
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
				h.ServeHTTP(w, getReq("Authorization", basicHeader(fmt.Sprintf("user-%d", i), "pw-guess")))
				assert.Equal(t, http.StatusUnauthorized, w.Code)
			}()
		}
		wg.Wait()
		assert.EqualValues(t, n, e.hasher.verifies.Load())
		assert.EqualValues(t, slots, e.hasher.peak.Load(), "peak hash concurrency")
	})
}

// A request that gives up while waiting for a hash slot gets a 503.
func TestBruteForceBusyWhenSlotsHeld(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = 1; c.disableThrottling = true })
		entered, release := make(chan struct{}), make(chan struct{})
		e.hasher.hook = func(string) { close(entered); <-release }
		h := e.auth.Middleware(e.next)
		done := make(chan int)
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, getReq("Authorization", basicHeader("alice", "pw-guess")))
			done <- w.Code
		}()
		<-entered
		e.hasher.hook = nil
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		w := e.serve(h, getReq("Authorization", basicHeader("bob", bobPW)).WithContext(ctx))
		assertResponse(t, expect{http.StatusServiceUnavailable, nil, body503}, w)
		close(release)
		assert.Equal(t, http.StatusUnauthorized, <-done)
	})
}

// Rehashing on login is password hashing too and must hold a slot.
func TestBruteForceRehashHoldsHashSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) {
			c.maxConcurrentHashes = 1
			c.Hasher = &countingHasher{inner: &argon2idHasher{Memory: 128, Time: 1}}
		})
		hs := e.auth.cfg.Hasher.(*memBoundHasher).PasswordHasher.(*countingHasher)
		hs.hashes.Store(0) // the dummy hash of New
		// Two users with weak hashes; each successful login rehashes. A
		// rehash sleeps until every other goroutine of the bubble is
		// blocked: one running beside another hash would show in the peak.
		hs.hook = func(op string) {
			if op == "hash" {
				time.Sleep(time.Second)
			}
		}
		h := e.auth.Middleware(e.next)
		var wg sync.WaitGroup
		for _, c := range [][2]string{{"alice", alicePW}, {"bob", bobPW}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := httptest.NewRecorder()
				h.ServeHTTP(w, getReq("Authorization", basicHeader(c[0], c[1])))
				assert.Equal(t, http.StatusOK, w.Code)
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 2, hs.hashes.Load(), "both logins rehashed")
		assert.LessOrEqual(t, hs.peak.Load(), int64(1), "rehash ran beside another hash")
	})
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	basic := func(*env) *http.Request { return getReq("Authorization", basicHeader("alice", alicePW)) }
	wrong := func(*env) *http.Request { return getReq("Authorization", basicHeader("alice", "pw-guess")) }
	unknown := func(*env) *http.Request { return getReq("Authorization", basicHeader("nobody", "pw-guess")) }
	bearerReq := func(e *env) *http.Request { return getReq("Authorization", "Bearer "+e.token) }
	basicTok := func(e *env) *http.Request { return getReq("Authorization", basicHeader(e.token, "")) }
	// cachedBasic first logs in once, so that the request it returns is
	// served from the credential cache, the path that peeks with Allow.
	cachedBasic := func(e *env) *http.Request {
		e.serve(e.auth.Middleware(http.NotFoundHandler()), basic(e))
		return basic(e)
	}
	mint := func(*env) *http.Request {
		return newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW))
	}
	revoke := func(e *env) *http.Request {
		return newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+e.token)
	}
	store := func(byLogin, byID string) envOpt {
		return func(c *testSetup[testUser]) { c.Users = &faultyStore{UserStore: c.Users, byLogin: byLogin, byID: byID} }
	}
	// The signer is wrapped after New built it, see below.
	signer := func(sign, verify string) envOpt {
		return func(c *testSetup[testUser]) {
			c.Signer = &faultySigner{TokenSigner: c.Signer, sign: sign, verify: verify}
		}
	}
	revs := func(revoke, check string) envOpt {
		return func(c *testSetup[testUser]) {
			c.Revocations = &faultyRevocations{RevocationStore: newMemoryRevocationStore(), revoke: revoke, check: check}
		}
	}
	lim := func(allow, fail, reset string) envOpt {
		return func(c *testSetup[testUser]) {
			c.Throttle.Logins = &testLimiter{Limiter: newMemoryLimiter(0, 0), allow: allow, reserve: fail, reset: reset}
		}
	}
	clientLim := func(allow, fail string) envOpt {
		return func(c *testSetup[testUser]) {
			c.Throttle.Clients = &testLimiter{Limiter: newMemoryLimiter(0, 0), allow: allow, reserve: fail}
		}
	}
	check := func(mode string) envOpt {
		return func(c *testSetup[testUser]) {
			c.CheckAccount = func(*http.Request, *Account[testUser]) error {
				if mode == "panic" {
					panic(errFault)
				}
				return fmt.Errorf("hook: %w", errFault)
			}
		}
	}
	hasher := func(mode string) envOpt {
		return func(c *testSetup[testUser]) {
			c.Hasher = &faultyHasher{PasswordHasher: cheapHasher, verify: mode}
		}
	}
	mw := func(e *env) http.Handler { return e.auth.Middleware(e.next) }
	tokenH := func(e *env) http.Handler { return e.auth.TokenHandler() }
	revokeH := func(e *env) http.Handler { return e.auth.Middleware(e.auth.RevokeHandler()) }

	cases := []struct {
		name    string
		opt     envOpt
		req     func(*env) *http.Request
		handler func(*env) http.Handler
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
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tc.opt)
				w := e.serve(tc.handler(e), tc.req(e))
				assertFailClosed(t, e, w)
				assert.Zero(t, len(e.auth.hashSlots), "hash slot leaked")
			})
		})
	}

	t.Run("ErrorWriter panics", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, func(c *testSetup[testUser]) {
				c.ErrorWriter = func(http.ResponseWriter, *http.Request, int, error) { panic(errFault) }
			})
			w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader("alice", "pw-guess")))
			assertFailClosed(t, e, w)
		})
	})
	t.Run("the cause is logged server-side only", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, store("error", ""))
			w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader("alice", alicePW)))
			require.Equal(t, http.StatusInternalServerError, w.Code)
			assert.Contains(t, e.logs.String(), "db down")
			assert.NotContains(t, w.Body.String(), "db down")
		})
	})
	// After a panic while a slot is held, the slot is free again.
	t.Run("panics release the hash slot", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			for _, opt := range []envOpt{store("panic", ""), hasher("panic")} {
				e := newEnv(t, opt, func(c *testSetup[testUser]) { c.maxConcurrentHashes = 1 })
				h := e.auth.Middleware(e.next)
				for range 3 {
					// A leaked slot would block the next request for good, so
					// check before sending it.
					w := e.serve(h, getReq("Authorization", basicHeader("alice", alicePW)))
					require.Equal(t, http.StatusInternalServerError, w.Code)
					require.Zero(t, len(e.auth.hashSlots), "hash slot leaked after a panic")
				}
			}
		})
	})
}

// assertFailClosed checks a generic 500 whose cause reached the Logger.
func assertFailClosed(t *testing.T, e *env, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusInternalServerError, w.Code, "must fail closed; body %q", w.Body.String())
	assert.Equal(t, body500, w.Body.String())
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
		if errors.Is(err, errFault) || strings.Contains(err.Error(), "db down") || strings.Contains(err.Error(), "nil pointer") {
			found = true
		}
	}
	assert.True(t, found, "Logger got %v", errs)
}

// ---------------------------------------------------------------------------
// Allocation bounds on hostile sizes: a refused header costs no more than a
// short one, however long it is (the CVE-2025-30204 class).

type nullWriter struct {
	h    http.Header
	code int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) WriteHeader(code int)        { w.code = code }
func (w *nullWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestRefusedHeaderAllocationsDoNotGrow(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   int
		wantCh []string
	}{
		{"baseline short bearer", "Bearer x", 401, chToken},
		{"baseline short basic", "Basic x", 401, chPlain},
		{"bearer 1MiB dots", "Bearer " + strings.Repeat(".", 1<<20), 401, nil},
		{"bearer 100k dots", "Bearer " + strings.Repeat(".", 100_000), 401, nil},
		{"bearer just under cap", "Bearer " + strings.Repeat(".", 8000), 401, chToken},
		{"basic 900KiB", "Basic " + strings.Repeat("QUFB", 900*256), 401, chPlain},
		{"basic 900KiB garbage", "Basic " + strings.Repeat("!", 900<<10), 401, chPlain},
	}
	results := map[string]float64{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) { c.Logger = slog.New(slog.DiscardHandler) })
				h := e.auth.Middleware(e.next)
				r := getReq("Authorization", tc.header)
				w := &nullWriter{h: http.Header{}}
				run := func() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
				run()
				require.Equal(t, tc.want, w.code)
				if tc.wantCh != nil {
					require.Equal(t, tc.wantCh, w.h.Values("WWW-Authenticate"))
				} else { // over the cap: bare or invalid_token challenges
					require.Contains(t, [][]string{chPlain, chToken}, w.h.Values("WWW-Authenticate"))
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
				assert.Zero(t, e.hasher.verifies.Load(), "no hash for oversized credentials")
			})
		})
	}
	assert.LessOrEqual(t, results["bearer 1MiB dots"], results["baseline short basic"])
	assert.LessOrEqual(t, results["basic 900KiB"], results["baseline short basic"])
}

// ---------------------------------------------------------------------------
// Audit events.

func TestAuditLogHygiene(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				logs := &logBuffer{}
				e := newEnv(t, func(c *testSetup[testUser]) {
					opts := &slog.HandlerOptions{Level: slog.LevelDebug}
					if format == "json" {
						c.Logger = slog.New(slog.NewJSONHandler(logs, opts))
					} else {
						c.Logger = slog.New(slog.NewTextHandler(logs, opts))
					}
				})
				h := e.auth.Middleware(e.next)
				reqs := []*http.Request{
					getReq("Authorization", basicHeader("admin\r\n[INFO] ok", "pw-secret-1")),
					getReq("Authorization", basicHeader("\x1b[31mred\x1b[0m", "pw-secret-2")),
					getReq("Authorization", basicHeader("evil\u009b31mC1\"quote\\back", "pw-secret-3")),
					getReq("Authorization", basicHeader("alice", "pw-secret-4")),
					getReq("Authorization", basicHeader("alice", alicePW)),
					getReq("Authorization", "Bearer "+e.token),
					getReq("Authorization", basicHeader(e.token, "")),
					getReq("X-API-Key", e.token),
					getReq("Authorization", "Bearer "+e.token+"x"),
					getReq("Authorization", basicHeader(strings.Repeat("L", 600), "pw-secret-5")),
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
				for _, s := range []string{"pw-secret-1", "pw-secret-2", "pw-secret-3", "pw-secret-4", "pw-secret-5", alicePW, e.token, b64("alice:" + alicePW)} {
					assert.NotContains(t, out, s, "secret in the audit log")
				}
				_, _, mac := tokenParts(e.token)
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
					// Logins that matched no password appear only as references.
					for _, login := range []string{"evil", "[INFO] ok", "31mred", "LLLL"} {
						assert.NotContains(t, out, login, "an unproven login in the audit log")
					}
					assert.Equal(t, 3, strings.Count(out, `"login":"login#`), "each unproven login as a reference")
				}
			})
		})
	}
}

// A token sent as the Basic username with a non-empty password (the
// "token:unused" habit of Flask-HTTPAuth clients) must not be logged.
func TestAuditOmitsTokenSentAsLoginWithPassword(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader(e.token, "unused")))
		_, _, mac := tokenParts(e.token)
		assert.NotContains(t, e.logs.String(), mac)
	})
}

// Bidi overrides and other invisible format characters in a login must be
// escaped too: a JSON log viewed in a terminal would otherwise be spoofable.
func TestAuditEscapesFormatCharacters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader("admin\u202e@evil", "pw-guess")))
		assert.NotContains(t, e.logs.String(), "\u202e")
	})
}

// ---------------------------------------------------------------------------
// Rehash on login.

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
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
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) { c.Hasher = tc.policy })
				require.NoError(t, e.users.Put(ctx, "legacy", Account[testUser]{ID: "u-legacy", Confirmed: true, PasswordHash: tc.stored}))
				require.True(t, tc.policy.NeedsRehash(ctx, tc.stored))
				h := e.auth.Middleware(e.next)

				w := e.serve(h, getReq("Authorization", basicHeader("legacy", "wrong-"+tc.pw)))
				require.Equal(t, http.StatusUnauthorized, w.Code)
				acct, err := e.users.UserByID(ctx, "u-legacy")
				require.NoError(t, err)
				require.Equal(t, tc.stored, acct.PasswordHash, "a failed login never rehashes")

				w = e.serve(h, getReq("Authorization", basicHeader("legacy", tc.pw)))
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
				w = e.serve(h, getReq("Authorization", basicHeader("legacy", tc.pw)))
				require.Equal(t, http.StatusOK, w.Code)
			})
		})
	}
	t.Run("store refusing the update does not fail the login", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, func(c *testSetup[testUser]) {
				c.Hasher = &argon2idHasher{Memory: 128, Time: 1}
				c.Users = &rehashFailsStore{MemoryUserStore: c.Users.(*MemoryUserStore[testUser])}
			})
			w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader("alice", alicePW)))
			require.Equal(t, http.StatusOK, w.Code)
			errs := e.errs.list()
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], errFault)
		})
	})
}

type rehashFailsStore struct{ *MemoryUserStore[testUser] }

func (s *rehashFailsStore) UpdatePasswordHash(context.Context, string, string, string) error {
	return errFault
}

func tokenEndpoint(e *env) http.Handler { return e.auth.TokenHandler() }

// parsesAsMalformed reports whether r's credentials fail to parse at all,
// which every entry point refuses before it looks at what they are.
func parsesAsMalformed(r *http.Request) bool {
	_, err := parseCredentials(r, "X-Api-Key", maxHeaderLen)
	return errors.Is(err, errMalformedCredentials)
}
