package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refTOTP is an independent RFC 6238 implementation (SHA-1, 6 digits,
// 30 s), so the tests do not check hotp against itself.
func refTOTP(secret []byte, t time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	s := m.Sum(nil)
	o := s[19] & 15
	v := (uint32(s[o])&0x7f)<<24 | uint32(s[o+1])<<16 | uint32(s[o+2])<<8 | uint32(s[o+3])
	return fmt.Sprintf("%06d", v%1000000)
}

// TestHOTPVectors checks hotp against RFC 4226 Appendix D and RFC 6238
// Appendix B (SHA-1, the last six of its eight digits).
func TestHOTPVectors(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	for i, want := range []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"} {
		t.Run(fmt.Sprint("hotp/", i), func(t *testing.T) {
			got := hotp(secret, uint64(i))
			assert.Equal(t, want, string(got[:]))
		})
	}
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		t.Run(fmt.Sprint("totp/", tc.unix), func(t *testing.T) {
			got := hotp(secret, uint64(totpStep(time.Unix(tc.unix, 0))))
			assert.Equal(t, tc.want, string(got[:]))
			assert.Equal(t, tc.want, refTOTP(secret, time.Unix(tc.unix, 0)))
		})
	}
}

func TestParseOTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		kind otpKind
		norm string
	}{
		{"123456", otpTOTP, ""},
		{"123 456", otpTOTP, ""},
		{"12345", otpInvalid, ""},
		{"1234567", otpInvalid, ""},
		{"12345a", otpInvalid, ""},
		{"１２３４５６", otpInvalid, ""}, // full-width digits
		{"", otpInvalid, ""},
		{"abcd-efgh-2345-wxyz", otpRecovery, "abcdefgh2345wxyz"},
		{"ABCD EFGH 2345 WXYZ", otpRecovery, "abcdefgh2345wxyz"},
		{"abcdefgh2345wxyz", otpRecovery, "abcdefgh2345wxyz"},
		{"abcd-efgh-2345-wxy1", otpInvalid, ""}, // 1 is not base32
		{"abcd-efgh-2345-wxyzz", otpInvalid, ""},
		{strings.Repeat("a", 65), otpInvalid, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			kind, _, norm := parseOTP(tc.in)
			assert.Equal(t, tc.kind, kind)
			assert.Equal(t, tc.norm, norm)
		})
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	uri := totpURI("My API: prod&co", "alice+x?#=@example.com", []byte("12345678901234567890"))
	assert.Equal(t, "otpauth://totp/My%20API%20prod%26co:alice%2Bx%3F%23%3D@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20API%20prod%26co&algorithm=SHA1&digits=6&period=30", uri)
	u, err := url.Parse(uri)
	require.NoError(t, err)
	// As apps read it: split the raw label at its one literal colon, then
	// decode each part.
	rawIssuer, rawLogin, ok := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), ":")
	require.True(t, ok)
	issuer, err := url.PathUnescape(rawIssuer)
	require.NoError(t, err)
	login, err := url.PathUnescape(rawLogin)
	require.NoError(t, err)
	assert.Equal(t, "My API prod&co", issuer, "the colon is dropped")
	assert.Equal(t, "alice+x?#=@example.com", login)
	assert.Equal(t, "My API prod&co", u.Query().Get("issuer"))
}

func TestSealTOTP(t *testing.T) {
	t.Parallel()
	k1 := deriveTOTPKeys([]SigningKey{{ID: "k1", Secret: testKey1}})
	k21 := deriveTOTPKeys([]SigningKey{{ID: "k2", Secret: testKey2}, {ID: "k1", Secret: testKey1}})
	secret := []byte("12345678901234567890")
	sealed := sealTOTP(k1, "u-alice", secret)
	assert.NotContains(t, sealed, totpB32.EncodeToString(secret))
	for _, tc := range []struct {
		name    string
		keys    []totpKey
		id      string
		sealed  string
		err     error
		primary bool
	}{
		{"same key", k1, "u-alice", sealed, nil, true},
		{"rotated: old key still in the ring", k21, "u-alice", sealed, nil, false},
		{"another account", k1, "u-bob", sealed, errSealedOpen, false},
		{"key gone", deriveTOTPKeys([]SigningKey{{ID: "k2", Secret: testKey2}}), "u-alice", sealed, errSealedKey, false},
		{"same ID, other secret", deriveTOTPKeys([]SigningKey{{ID: "k1", Secret: testKey3}}), "u-alice", sealed, errSealedOpen, false},
		{"tampered", k1, "u-alice", sealed[:len(sealed)-2] + flipB64(sealed[len(sealed)-2:]), errSealedOpen, false},
		{"no version", k1, "u-alice", strings.TrimPrefix(sealed, "v1."), errSealedMalformed, false},
		{"truncated", k1, "u-alice", "v1.k1.AAAA", errSealedMalformed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, primary, err := openTOTP(tc.keys, tc.id, tc.sealed)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, secret, got)
			assert.Equal(t, tc.primary, primary)
		})
	}
}

// flipB64 changes the first character of s to another base64url one.
func flipB64(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// tfEnv is an environment where alice turned the second factor on.
type tfEnv struct {
	*env
	secret   []byte
	recovery []string
	events   *eventLog
}

// identityOf is the identity e's middleware gives a request with header
// pairs kv.
func (e *env) identityOf(t *testing.T, kv ...string) *Identity[testUser] {
	t.Helper()
	s := &spy{}
	w := e.serve(e.auth.Middleware(s), getReq(kv...))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	return s.lastID()
}

// newTFEnv enrols alice (in a synctest bubble): start with her password,
// confirm with the current code. The clock then moves to the next step,
// so that her next code is not the one spent.
func newTFEnv(t *testing.T, opts ...envOpt) *tfEnv {
	t.Helper()
	events := &eventLog{}
	opts = append([]envOpt{func(c *testSetup[testUser]) { c.OnEvent = events.add }}, opts...)
	e := &tfEnv{env: newEnv(t, opts...), events: events}
	ctx := context.Background()
	id := e.identityOf(t, "Authorization", basicHeader("alice", alicePW))
	secret, uri, err := e.auth.StartTOTP(ctx, id)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(uri, "otpauth://totp/api:alice?secret="+secret+"&issuer=api"), uri)
	e.secret, err = totpB32.DecodeString(secret)
	require.NoError(t, err)
	require.Len(t, e.secret, 20)
	e.recovery, err = e.auth.ConfirmTOTP(ctx, id, refTOTP(e.secret, time.Now()))
	require.NoError(t, err)
	require.Len(t, e.recovery, 10)
	time.Sleep(30 * time.Second)
	events.take()
	return e
}

// code is alice's current code.
func (e *tfEnv) code() string { return refTOTP(e.secret, time.Now()) }

// basicOTP is a GET with alice's (or another) password and X-OTP values.
func basicOTP(login, pw string, otp ...string) *http.Request {
	kv := []string{"Authorization", basicHeader(login, pw)}
	for _, o := range otp {
		kv = append(kv, "X-OTP", o)
	}
	return getReq(kv...)
}

func TestSecondFactorLogin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		do     func(e *tfEnv) *http.Request // may spend codes first
		status int
		otpReq bool
		reason Reason
	}{
		{"password alone", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW) }, 401, true, ReasonSecondFactorRequired},
		{"password and code", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, e.code()) }, 200, false, ReasonPasswordAndTOTP},
		{"code spaced", func(e *tfEnv) *http.Request { c := e.code(); return basicOTP("alice", alicePW, c[:3]+" "+c[3:]) }, 200, false, ReasonPasswordAndTOTP},
		{"code of the step before", func(e *tfEnv) *http.Request {
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(-30*time.Second)))
		}, 401, false, ReasonBadCredentials}, // spent at confirmation
		{"code of the next step", func(e *tfEnv) *http.Request {
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(30*time.Second)))
		}, 200, false, ReasonPasswordAndTOTP},
		{"code two steps ahead", func(e *tfEnv) *http.Request {
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(60*time.Second)))
		}, 401, false, ReasonBadCredentials},
		{"code two steps old", func(e *tfEnv) *http.Request {
			time.Sleep(90 * time.Second)
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(-60*time.Second)))
		}, 401, false, ReasonBadCredentials},
		{"code of the step before, unspent", func(e *tfEnv) *http.Request {
			time.Sleep(90 * time.Second)
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(-30*time.Second)))
		}, 200, false, ReasonPasswordAndTOTP},
		{"replayed code", func(e *tfEnv) *http.Request {
			c := e.code()
			require.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, c)).Code)
			e.events.take()
			return basicOTP("alice", alicePW, c)
		}, 401, false, ReasonBadCredentials},
		{"older code after a newer one", func(e *tfEnv) *http.Request {
			next := refTOTP(e.secret, time.Now().Add(30*time.Second))
			require.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, next)).Code)
			e.events.take()
			return basicOTP("alice", alicePW, e.code())
		}, 401, false, ReasonBadCredentials},
		{"wrong code", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, otherCode(e.code())) }, 401, false, ReasonBadCredentials},
		{"malformed code", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, "12345") }, 401, false, ReasonBadCredentials},
		{"two codes", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, e.code(), e.code()) }, 401, false, ReasonBadCredentials},
		{"recovery code", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, e.recovery[3]) }, 200, false, ReasonPasswordAndRecoveryCode},
		{"recovery code, upper case", func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, strings.ToUpper(e.recovery[3])) }, 200, false, ReasonPasswordAndRecoveryCode},
		{"recovery code twice", func(e *tfEnv) *http.Request {
			require.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.recovery[3])).Code)
			e.events.take()
			return basicOTP("alice", alicePW, e.recovery[3])
		}, 401, false, ReasonBadCredentials},
		{"wrong password, valid code", func(e *tfEnv) *http.Request { return basicOTP("alice", "wrong-pw", e.code()) }, 401, false, ReasonBadCredentials},
		{"other account unaffected", func(e *tfEnv) *http.Request { return basicOTP("bob", bobPW) }, 200, false, ReasonPassword},
		{"other account ignores X-OTP", func(e *tfEnv) *http.Request { return basicOTP("bob", bobPW, "000000") }, 200, false, ReasonPassword},
		{"token minted before", func(e *tfEnv) *http.Request { return getReq("Authorization", "Bearer "+e.token) }, 200, false, ReasonToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newTFEnv(t)
				s := &spy{}
				w := e.serve(e.auth.Middleware(s), tc.do(e))
				require.Equal(t, tc.status, w.Code, w.Body.String())
				assert.Equal(t, tc.otpReq, w.Header().Get("X-OTP") == "required", "X-OTP: %q", w.Header().Get("X-OTP"))
				if tc.status == 401 {
					assert.Equal(t, body401, w.Body.String())
					assert.Equal(t, chPlain, w.Header().Values("Www-Authenticate"))
					assert.Zero(t, s.calls.Load())
				}
				ev := e.events.take()
				var reasons []Reason
				for _, x := range ev {
					if x.Reason != ReasonPasswordHashed {
						reasons = append(reasons, x.Reason)
					}
				}
				assert.Equal(t, []Reason{tc.reason}, reasons)
			})
		})
	}
}

// otherCode is a six-digit code that is not c.
func otherCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// TestWrongCodeLooksLikeWrongPassword: a wrong password with any code and
// the right password with a wrong code answer alike, byte for byte, with
// the same event and the same log lines at Info.
func TestWrongCodeLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	type outcome struct {
		status  int
		header  http.Header
		body    string
		events  []Event
		logInfo []string
	}
	// Both requests go to one environment: the logged login hash is keyed
	// per Authenticator.
	send := func(e *tfEnv, r *http.Request) (o outcome) {
		e.events.take()
		e.logs.Reset()
		w := e.serve(e.auth.Middleware(&spy{}), r)
		o.status, o.header, o.body = w.Code, w.Header(), w.Body.String()
		for _, x := range e.events.take() {
			if x.Reason != ReasonPasswordHashed {
				o.events = append(o.events, x)
			}
		}
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if line != "" && !strings.Contains(line, `"level":"DEBUG"`) {
				// The time differs between requests; nothing else may.
				o.logInfo = append(o.logInfo, line[strings.Index(line, `"level"`):])
			}
		}
		return o
	}
	for name, req := range map[string]func(e *tfEnv) *http.Request{
		"wrong password, wrong code": func(e *tfEnv) *http.Request { return basicOTP("alice", "wrong-password", otherCode(e.code())) },
		"right password, wrong code": func(e *tfEnv) *http.Request { return basicOTP("alice", alicePW, otherCode(e.code())) },
		"right password, replayed code": func(e *tfEnv) *http.Request {
			return basicOTP("alice", alicePW, refTOTP(e.secret, time.Now().Add(-30*time.Second)))
		},
		"right password, used recovery code": func(e *tfEnv) *http.Request {
			e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.recovery[0]))
			return basicOTP("alice", alicePW, e.recovery[0])
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newTFEnv(t)
				r := req(e)
				want := send(e, basicOTP("alice", "wrong-password", e.code()))
				got := send(e, r)
				assert.Equal(t, want, got)
				assert.Len(t, got.events, 1)
			})
		})
	}
}

// TestSecondFactorTokens: TokenHandler mints for password and code, not
// for the password alone; the token works without a code.
func TestSecondFactorTokens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newTFEnv(t)
		h := e.auth.TokenHandler()
		w := e.mintReply(h, "alice", alicePW)
		require.Equal(t, 401, w.Code)
		assert.Equal(t, "required", w.Header().Get("X-OTP"))
		w = e.serve(h, newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW), "X-OTP", e.code()))
		tok := tokenOf(t, w)
		assert.Equal(t, 200, e.status("Bearer "+tok))
		w = e.serve(h, newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW), "X-OTP", e.code()))
		assert.Equal(t, 401, w.Code, "the same code again")
	})
}

func TestSecondFactorEnrolment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		id := e.identityOf(t, "Authorization", basicHeader("bob", bobPW))
		inBubble(t, "confirm without start", func(t *testing.T) {
			_, err := e.auth.ConfirmTOTP(ctx, id, "123456")
			assert.ErrorIs(t, err, ErrBadRequest)
		})
		first, _, err := e.auth.StartTOTP(ctx, id)
		require.NoError(t, err)
		secret, _, err := e.auth.StartTOTP(ctx, id)
		require.NoError(t, err)
		require.NotEqual(t, first, secret, "a second start replaces the pending secret")
		raw, _ := totpB32.DecodeString(secret)
		oldRaw, _ := totpB32.DecodeString(first)
		uri, err := e.auth.PendingTOTP(ctx, id)
		require.NoError(t, err)
		assert.Contains(t, uri, "secret="+secret)
		inBubble(t, "pending changes nothing", func(t *testing.T) {
			assert.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("bob", bobPW)).Code)
			on, err := e.auth.SecondFactorEnabled(ctx, "u-bob")
			require.NoError(t, err)
			assert.False(t, on)
		})
		for name, code := range map[string]string{
			"wrong code":                  otherCode(refTOTP(raw, time.Now())),
			"code of the replaced secret": refTOTP(oldRaw, time.Now()),
			"not a code":                  "abc",
		} {
			inBubble(t, name, func(t *testing.T) {
				_, err := e.auth.ConfirmTOTP(ctx, id, code)
				assert.ErrorIs(t, err, ErrBadRequest)
				on, _ := e.auth.SecondFactorEnabled(ctx, "u-bob")
				assert.False(t, on, "the factor stays off")
			})
		}
		codes, err := e.auth.ConfirmTOTP(ctx, id, refTOTP(raw, time.Now()))
		require.NoError(t, err)
		require.Len(t, codes, 10)
		seen := map[string]bool{}
		for _, c := range codes {
			assert.Regexp(t, `^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`, c)
			seen[c] = true
		}
		assert.Len(t, seen, 10)
		on, _ := e.auth.SecondFactorEnabled(ctx, "u-bob")
		assert.True(t, on)
		uri, err = e.auth.PendingTOTP(ctx, id)
		require.NoError(t, err)
		assert.Empty(t, uri, "nothing pending once on")
		inBubble(t, "the confirming code does not log in", func(t *testing.T) {
			assert.Equal(t, 401, e.serve(e.auth.Middleware(&spy{}), basicOTP("bob", bobPW, refTOTP(raw, time.Now()))).Code)
		})
		inBubble(t, "start again while on", func(t *testing.T) {
			_, _, err := e.auth.StartTOTP(ctx, id)
			assert.ErrorIs(t, err, ErrBadRequest)
		})
	})
}

func TestSecondFactorManagement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("API key refused", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			id := &Identity[testUser]{Account: &Account[testUser]{ID: "u-bob"}, Credential: APIKeyCredential}
			_, _, err := e.auth.StartTOTP(ctx, id)
			assert.ErrorIs(t, err, ErrForbidden)
		})
	})
	for _, tc := range []struct {
		name string
		op   func(a *Authenticator[testUser], id *Identity[testUser]) error
	}{
		{"disable", func(a *Authenticator[testUser], id *Identity[testUser]) error { return a.DisableTOTP(ctx, id) }},
		{"regenerate", func(a *Authenticator[testUser], id *Identity[testUser]) error {
			_, err := a.RegenerateRecoveryCodes(ctx, id)
			return err
		}},
		{"check fresh", func(a *Authenticator[testUser], id *Identity[testUser]) error {
			return a.CheckFreshSecondFactor(ctx, id)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newTFEnv(t)
				tokenID := e.identityOf(t, "Authorization", "Bearer "+e.token)
				assert.ErrorIs(t, tc.op(e.auth, tokenID), ErrUnauthorized, "a token is not the password and a fresh code")
				fresh := e.identityOf(t, "Authorization", basicHeader("alice", alicePW), "X-OTP", e.code())
				require.NoError(t, tc.op(e.auth, fresh))
			})
		})
	}
	t.Run("disable, then the password alone works", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newTFEnv(t)
			require.NoError(t, e.auth.DisableTOTP(ctx, e.identityOf(t, "Authorization", basicHeader("alice", alicePW), "X-OTP", e.recovery[1])))
			assert.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW)).Code)
			assert.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.recovery[2])).Code, "X-OTP ignored")
			err := e.auth.DisableTOTP(ctx, e.identityOf(t, "Authorization", basicHeader("alice", alicePW)))
			assert.ErrorIs(t, err, ErrBadRequest, "already off")
			assert.NoError(t, e.auth.CheckFreshSecondFactor(ctx, e.identityOf(t, "Authorization", "Bearer "+e.token)), "off: nothing to check")
		})
	})
	t.Run("regenerate voids the old codes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			e := newTFEnv(t)
			codes, err := e.auth.RegenerateRecoveryCodes(ctx, e.identityOf(t, "Authorization", basicHeader("alice", alicePW), "X-OTP", e.code()))
			require.NoError(t, err)
			assert.Equal(t, 401, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.recovery[5])).Code)
			assert.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, codes[5])).Code)
		})
	})
}

// TestSecondFactorRotation: a secret sealed under a key that is now an
// older key of the ring still opens, and is sealed again under the new one.
func TestSecondFactorRotation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newTFEnv(t)
		rotated := newAuthOver(t, e.users, SigningKey{ID: "k2", Secret: testKey2}, SigningKey{ID: testKID, Secret: testKey1})
		before, _, _, err := e.users.SecondFactor(context.Background(), "u-alice")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(before, "v1.k1."))
		assert.Equal(t, 200, e.serve(rotated.Middleware(&spy{}), basicOTP("alice", alicePW, e.code())).Code)
		after, _, _, err := e.users.SecondFactor(context.Background(), "u-alice")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(after, "v1.k2."), after)
		time.Sleep(30 * time.Second)
		onlyNew := newAuthOver(t, e.users, SigningKey{ID: "k2", Secret: testKey2})
		assert.Equal(t, 200, e.serve(onlyNew.Middleware(&spy{}), basicOTP("alice", alicePW, e.code())).Code)
	})
}

// newAuthOver is an authenticator over users with a signer of keys.
func newAuthOver(t *testing.T, users *MemoryUserStore[testUser], keys ...SigningKey) *Authenticator[testUser] {
	s := testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: mustSigner(keys...), Realm: "api", Hasher: cheapHasher}}
	return s.build(t)
}

// TestSecondFactorThrottle: concurrent guesses of codes, with the right
// password, get at most the limit checked; the rest are 429s.
func TestSecondFactorThrottle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newTFEnv(t)
		const n = 40
		var wg sync.WaitGroup
		codes := make(chan int, n)
		for i := range n {
			wg.Go(func() {
				codes <- e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, fmt.Sprintf("%06d", i))).Code
			})
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		checked := 0
		for _, ev := range e.events.take() {
			if ev.Reason == ReasonBadCredentials || ev.Reason == ReasonPasswordAndTOTP {
				checked++
			}
		}
		assert.LessOrEqual(t, checked, defaultMaxFailures, "codes checked")
		assert.Equal(t, n, count[401]+count[429]+count[200], count)
		assert.Equal(t, n-checked, count[429], count)
		assert.Positive(t, count[429])
		// Locked: even the right code is refused until the window ends.
		assert.Equal(t, 429, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.code())).Code)
		time.Sleep(defaultFailureWindow)
		assert.Equal(t, 200, e.serve(e.auth.Middleware(&spy{}), basicOTP("alice", alicePW, e.code())).Code)
	})
}

// faultySecondFactors fails one SecondFactorStore method.
type faultySecondFactors struct {
	*MemoryUserStore[testUser]
	fail string
}

var errSFStore = errors.New("second factor store down")

func (s *faultySecondFactors) SecondFactor(ctx context.Context, id string) (string, string, int64, error) {
	if s.fail == "SecondFactor" {
		return "", "", 0, errSFStore
	}
	return s.MemoryUserStore.SecondFactor(ctx, id)
}

func (s *faultySecondFactors) AcceptTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	if s.fail == "AcceptTOTPStep" {
		return false, errSFStore
	}
	return s.MemoryUserStore.AcceptTOTPStep(ctx, id, step)
}

func (s *faultySecondFactors) UseRecoveryCode(ctx context.Context, id, hash string) (bool, error) {
	if s.fail == "UseRecoveryCode" {
		return false, errSFStore
	}
	return s.MemoryUserStore.UseRecoveryCode(ctx, id, hash)
}

// TestSecondFactorFailsClosed: a store failure is a 500, never a pass
// and never a 401.
func TestSecondFactorFailsClosed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fail string
		otp  func(e *tfEnv) string
	}{
		{"SecondFactor", func(e *tfEnv) string { return e.code() }},
		{"AcceptTOTPStep", func(e *tfEnv) string { return e.code() }},
		{"UseRecoveryCode", func(e *tfEnv) string { return e.recovery[0] }},
		{"corrupt secret", func(e *tfEnv) string { return e.code() }},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newTFEnv(t)
				if tc.fail == "corrupt secret" {
					e.users.second.m["u-alice"].secret = "v1.k1.garbage"
				}
				s := testSetup[testUser]{Config: Config[testUser]{
					Users: &faultySecondFactors{e.users, tc.fail}, Signer: mustSigner(SigningKey{ID: testKID, Secret: testKey1}),
					Realm: "api", Hasher: cheapHasher, Logger: e.auth.cfg.Logger,
				}}
				a := s.build(t)
				w := e.serve(a.Middleware(&spy{}), basicOTP("alice", alicePW, tc.otp(e)))
				assert.Equal(t, 500, w.Code)
				assert.Equal(t, body500, w.Body.String())
			})
		})
	}
}

// TestSecondFactorUnsupported: without a SecondFactorStore, or with a
// custom signer, the methods say so and logins are unchanged.
func TestSecondFactorUnsupported(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s := testSetup[testUser]{Config: Config[testUser]{
			Users: &faultyStore{UserStore: e.users}, Signer: mustSigner(SigningKey{ID: testKID, Secret: testKey1}), Realm: "api", Hasher: cheapHasher,
		}}
		a := s.build(t)
		id := e.identityOf(t, "Authorization", basicHeader("bob", bobPW))
		_, _, err := a.StartTOTP(context.Background(), id)
		assert.ErrorIs(t, err, errors.ErrUnsupported)
		assert.Equal(t, 200, e.serve(a.Middleware(&spy{}), basicOTP("bob", bobPW, "123456")).Code)
	})
}

// inBubble runs a named step of a test inside its synctest bubble, where
// t.Run may not be called; a failure names the step.
func inBubble(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Logf("step: %s", name)
	f(t)
}
