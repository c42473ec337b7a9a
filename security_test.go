package httpauth

// Regression tests from a security review: each failed before its fix.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookStore runs hook after UserByLogin has read the account and before
// it returns it: the caller holds the account as it was.
type hookStore struct {
	UserStore[testUser]
	hook atomic.Pointer[func()]
}

func (s *hookStore) UserByLogin(ctx context.Context, login string) (*Account[testUser], error) {
	a, err := s.UserStore.UserByLogin(ctx, login)
	if h := s.hook.Swap(nil); h != nil {
		(*h)()
	}
	return a, err
}

// A password change that lands while a token is being minted
// ends that token. The change is made to land between the account read and
// the minting, deterministically, with a clock that moves on as it lands.
func TestSecurityPasswordChangeDuringMint(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"after the account read", "while hashing"} {
		for _, mount := range []string{"alone", "behind Middleware"} {
			t.Run(where+"/"+mount, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					hs := &hookStore{}
					e := newEnv(t, func(c *testSetup[testUser]) {
						hs.UserStore = c.Users
						c.Users = hs
						c.cacheSize = -1
					})
					change := func() {
						time.Sleep(time.Second)
						require.NoError(t, e.users.SetPassword(context.Background(), "u-alice", "new password"))
						time.Sleep(time.Second)
					}
					if where == "while hashing" {
						var once atomic.Bool
						e.hasher.hook = func(op string) {
							if op == "verify" && once.CompareAndSwap(false, true) {
								change()
							}
						}
					} else {
						hs.hook.Store(&change)
					}
					h := e.auth.TokenHandler()
					if mount == "behind Middleware" {
						h = e.auth.Middleware(h)
					}
					w := e.mintReply(h, "alice", alicePW)
					if w.Code == http.StatusOK {
						tok := tokenOf(t, w)
						got := e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok))
						assert.Equal(t, http.StatusUnauthorized, got.Code, "a token minted across a password change must not work")
						return
					}
					assert.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
				})
			})
		}
	}
}

// The minted token is issued at the time authentication began
// (before the account was read), also behind Middleware.
func TestSecurityTokenIssuedAtAuthStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hs := &hookStore{}
		e := newEnv(t, func(c *testSetup[testUser]) {
			hs.UserStore = c.Users
			c.Users = hs
			c.cacheSize = -1
		})
		start := time.Now()
		later := func() { time.Sleep(time.Minute) }
		hs.hook.Store(&later)
		tok := tokenOf(t, e.mintReply(e.auth.Middleware(e.auth.TokenHandler()), "alice", alicePW))
		c, err := e.auth.cfg.Signer.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.True(t, c.IssuedAt.Equal(start), "IssuedAt %v, want the authentication start %v", c.IssuedAt, start)
	})
}

// A store that keeps microseconds rounds the cutoff down; a
// token minted in the same microsecond, before the change, must still be
// refused.
func TestSecurityCutoffMicrosecondPrecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iat := t0.Add(-time.Hour + 123456789) // sub-microsecond digits
	cases := []struct {
		name   string
		cutoff time.Time
		want   int
	}{
		{"cutoff rounded down into the token's microsecond", iat.Truncate(time.Microsecond), http.StatusUnauthorized},
		{"cutoff a nanosecond after", iat.Add(1), http.StatusUnauthorized},
		{"cutoff exactly at", iat, http.StatusUnauthorized},
		{"cutoff in the microsecond before", iat.Truncate(time.Microsecond).Add(-time.Nanosecond), http.StatusOK},
		{"no cutoff", time.Time{}, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				id := "u-prec-" + strings.ReplaceAll(c.name, " ", "-")
				require.NoError(t, e.users.Put(ctx, id, Account[testUser]{ID: id, Confirmed: true, TokensValidAfter: time.Unix(1, 0)}))
				require.NoError(t, e.users.Update(ctx, id, func(a *Account[testUser]) { a.TokensValidAfter = c.cutoff }))
				tok, _, err := e.auth.issueToken(ctx, id, iat)
				require.NoError(t, err)
				w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok))
				assert.Equal(t, c.want, w.Code)
			})
		})
	}
}

// A deleted account's tokens do not come back when its ID is
// given to a new account.
func TestSecurityReusedIDDoesNotReviveTokens(t *testing.T) {
	t.Parallel()
	for _, create := range []string{"Add", "Put"} {
		t.Run(create, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				ctx := context.Background()
				mk := func(login string) error {
					acct := Account[testUser]{ID: "u-reused", Confirmed: true, User: testUser{Name: login}}
					if create == "Add" {
						return e.users.Add(ctx, login, "pw-"+login, acct)
					}
					acct.PasswordHash = storedHashes()["password"]
					return e.users.Put(ctx, login, acct)
				}
				require.NoError(t, mk("first"))
				time.Sleep(time.Second)
				tok, _, err := e.auth.IssueToken(ctx, "u-reused")
				require.NoError(t, err)
				next := e.auth.Middleware(e.next)
				require.Equal(t, http.StatusOK, e.serve(next, getReq("Authorization", "Bearer "+tok)).Code)

				require.NoError(t, e.users.Delete(ctx, "u-reused"))
				time.Sleep(time.Second)
				require.NoError(t, mk("second"))
				a, err := e.users.UserByID(ctx, "u-reused")
				require.NoError(t, err)
				assert.True(t, a.TokensValidAfter.Equal(time.Now()), "creation sets the cutoff: %v", a.TokensValidAfter)
				assert.Equal(t, http.StatusUnauthorized, e.serve(next, getReq("Authorization", "Bearer "+tok)).Code,
					"the old account's token must not name the new account")
			})
		})
	}
}

// An explicit cutoff given at creation is kept, and Put never
// moves an existing account's cutoff back.
func TestSecurityMemoryStoreCutoffOnPut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := NewMemoryUserStore[testUser](cheapHasher)
		given := time.Now().Add(-time.Hour)
		require.NoError(t, s.Put(ctx, "a", Account[testUser]{ID: "a", TokensValidAfter: given}))
		got, err := s.UserByID(ctx, "a")
		require.NoError(t, err)
		assert.True(t, got.TokensValidAfter.Equal(given))
		require.NoError(t, s.Put(ctx, "a2", Account[testUser]{ID: "a"})) // upsert with a zero cutoff
		got, err = s.UserByID(ctx, "a")
		require.NoError(t, err)
		assert.True(t, got.TokensValidAfter.Equal(given), "Put must not clear the cutoff: %v", got.TokensValidAfter)
	})
}

// Add refuses a taken ID instead of moving the account.
func TestSecurityMemoryStoreAddRefusesTakenID(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		tok := e.token
		err := e.users.Add(ctx, "mallory", "mallory-pw", Account[testUser]{ID: "u-alice"})
		require.ErrorIs(t, err, ErrAccountExists)
		err = e.users.Add(ctx, "ALICE", "mallory-pw", Account[testUser]{ID: "u-new"})
		require.ErrorIs(t, err, ErrAccountExists, "login taken")

		_, err = e.users.UserByLogin(ctx, "mallory")
		assert.ErrorIs(t, err, ErrUserNotFound)
		next := e.auth.Middleware(e.next)
		w := e.serve(next, getReq("Authorization", basicHeader("alice", alicePW)))
		assert.Equal(t, http.StatusOK, w.Code, "alice's password still works")
		w = e.serve(next, getReq("Authorization", "Bearer "+tok))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "alice", e.next.lastID().Account.User.Name, "alice's token still answers as alice")
	})
}

// A role guard naming no role is a bug caught when it is built.
func TestSecurityEmptyRoleGuardPanics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		assert.Panics(t, func() { e.auth.RequireAnyRole() })
		assert.Panics(t, func() { e.auth.RequireAllRoles() })
		assert.Panics(t, func() { e.auth.RequireAnyRole([]string{}...) })
		assert.NotPanics(t, func() { e.auth.RequireAnyRole("admin") })
	})
}

// A hasher that fails answers the same for known and unknown
// logins: a 500 for both, reported to OnError.
func TestSecurityHasherErrorSameForUnknownLogin(t *testing.T) {
	t.Parallel()
	for _, login := range []string{"alice", "nobody"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) {
					c.Hasher = &faultyHasher{PasswordHasher: c.Hasher, verify: "error"}
				})
				w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", basicHeader(login, "pw-guess")))
				assert.Equal(t, http.StatusInternalServerError, w.Code)
				assert.Equal(t, body500, w.Body.String())
				assert.Zero(t, e.next.calls.Load())
				assert.NotEmpty(t, e.errs.list(), "the hasher failure goes to OnError")
			})
		})
	}
}

// Every refusal of argon2idHasher.Verify spends one hash. The
// work is counted through the burn hook, not timed: a path that refuses
// without burning, and without a hash of its own, is the defect.
func TestSecurityUntrustedHashSpendsOneHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	good := storedHashes()["password"]
	bc := storedHashes()["bcrypt72"] // $2a$10$ + 22 salt + 31 hash characters
	badSalt := bc[:7] + "!" + bc[8:]
	cases := []struct {
		name      string
		hash      string
		password  string
		wantBurns int64
	}{
		{"bcrypt bad salt character", badSalt, "password", 1},
		{"bcrypt bad salt character, long password", badSalt, strings.Repeat("p", 100), 1},
		{"bcrypt cost out of bounds", strings.Replace(bc, "$10$", "$31$", 1), "password", 1},
		{"bcrypt truncated", bc[:50], "password", 1},
		{"argon2id bad parameters", strings.Replace(good, "t=1,", "t=0,", 1), "password", 1},
		{"argon2id bad salt", strings.Replace(good, "$argon2id$v=19$m=64,t=1,p=1$", "$argon2id$v=19$m=64,t=1,p=1$!", 1), "password", 1},
		{"unknown scheme", "{SHA}abc", "password", 1},
		{"empty", "", "password", 1},
		// Paths that hash the real thing need no burn.
		{"argon2id mismatch", good, "wrong", 0},
		{"bcrypt mismatch", bc, "wrong", 0},
		{"bcrypt bad hash character", bc[:59] + "!", "password", 0}, // hashed, then no match
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var burns atomic.Int64
			h := &argon2idHasher{Memory: 64, Time: 1, onBurn: func() { burns.Add(1) }}
			ok, err := h.Verify(ctx, c.hash, c.password)
			assert.False(t, ok)
			if c.wantBurns > 0 {
				assert.ErrorIs(t, err, ErrUntrustedHash)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, c.wantBurns, burns.Load(), "hashes burnt")
		})
	}
}

// Schemes are compared as ASCII; Unicode folding would take
// "Baſic" (U+017F) for Basic.
func TestSecuritySchemeIsASCIIOnly(t *testing.T) {
	t.Parallel()
	creds := b64("alice:" + alicePW)
	cases := []struct {
		name   string
		header string
		want   int
	}{
		{"Basic", "Basic " + creds, http.StatusOK},
		{"BASIC", "BASIC " + creds, http.StatusOK},
		{"bAsIc", "bAsIc " + creds, http.StatusOK},
		{"long s", "Ba\u017fic " + creds, http.StatusUnauthorized},
		{"Kelvin sign in Bearer", "Bearer\u212a {token}", http.StatusUnauthorized},
		{"dotless i", "Bas\u0131c " + creds, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				header := strings.ReplaceAll(c.header, "{token}", e.token)
				w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", header))
				assert.Equal(t, c.want, w.Code)
			})
		})
	}
	_, err := parseCredentials(getReq("Authorization", http.CanonicalHeaderKey("Ba\u017fic "+creds)), "", 8192)
	assert.ErrorIs(t, err, errMalformedCredentials)
}

// Every failed token gets error="invalid_token", whatever its
// transport.
func TestSecurityFailedTokenHeaderIsInvalidToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		value func(tok string) string // of a valid token
	}{
		{"oversized", func(string) string { return strings.Repeat("a", 9000) }},
		{"garbage", func(string) string { return "not-a-token" }},
		{"forged", func(tok string) string { return tok[:len(tok)-2] + "AA" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				w := e.serve(e.auth.Middleware(e.next), getReq("X-API-Key", c.value(e.token)))
				assert.Equal(t, http.StatusUnauthorized, w.Code)
				assert.Equal(t, chToken, w.Header().Values("WWW-Authenticate"))
			})
		})
	}
}

// ParseAuthorization finds the token header under any spelling.
func TestSecurityParseAuthorizationCanonicalHeader(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"X-API-Key", "x-api-key", "X-Api-Key", "X-API-KEY"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-Api-Key", "tok")
			c, err := parseCredentials(r, http.CanonicalHeaderKey(name), 8192)
			require.NoError(t, err)
			assert.Equal(t, credentials{Transport: transportHeader, Token: "tok"}, c)
		})
	}
}

// An ErrorWriter that edits its response's challenge in place
// does not change any other response's.
func TestSecurityChallengeSlicesNotShared(t *testing.T) {
	t.Parallel()
	tamper := func(c *testSetup[testUser]) {
		c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, status int, err error) {
			if v := w.Header()["Www-Authenticate"]; len(v) > 0 && r.Header.Get("X-Tamper") != "" {
				v[0] = "Tampered"
			}
			WriteJSONError(w, r, status, err)
		}
	}
	cases := []struct {
		name string
		kv   []string
		want []string
	}{
		{"plain", nil, chPlain},
		{"invalid token", []string{"Authorization", "Bearer x"}, chToken},
		{"invalid request", []string{"Authorization", "Bearer a", "X-API-Key", "b"}, chRequest},
		{"insufficient scope", []string{"Authorization", "Bearer {token}"}, []string{`Bearer realm="api", error="insufficient_scope", scope="admin"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tamper)
				h := e.auth.Middleware(e.auth.RequireAnyRole("admin")(e.next))
				kv := slices.Clone(c.kv)
				for i := range kv {
					kv[i] = strings.ReplaceAll(kv[i], "{token}", e.token)
				}
				w := e.serve(h, getReq(append([]string{"X-Tamper", "1"}, kv...)...))
				require.Equal(t, "Tampered", w.Header().Get("WWW-Authenticate"))
				w = e.serve(h, getReq(kv...))
				assert.Equal(t, c.want, w.Header().Values("WWW-Authenticate"), "a later response's challenge")
			})
		})
	}
}

// Identity.Account is the request's own copy: a handler that
// changes it changes neither the store nor later requests.
func TestSecurityIdentityAccountIsACopy(t *testing.T) {
	t.Parallel()
	noCheck := func(s *testSetup[testUser]) { s.Config.CheckAccount = nil }
	for _, how := range []string{"password", "token", "password without CheckAccount", "token without CheckAccount"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var opts []envOpt
				if strings.HasSuffix(how, "without CheckAccount") {
					opts = append(opts, noCheck)
				}
				e := newEnv(t, opts...)
				ctx := context.Background()
				evil := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					u, ok := e.auth.User(r)
					require.True(t, ok)
					if ac, _ := authFrom[testUser](r.Context()); e.auth.cfg.CheckAccount == nil {
						assert.Nil(t, ac.public.Load(), "User alone builds no copy")
					}
					id, ok := identityFrom[testUser](r.Context())
					require.True(t, ok)
					assert.Equal(t, u, id.Account.User)
					id.Account.Roles[0] = "admin"
					id.Account.Roles = append(id.Account.Roles, "root")
					id.Account.Disabled = true
					id.Account.PasswordHash = ""
					id.Account.User.Name = "mallory"
					id.Account.TokensValidAfter = time.Time{}
					// The rest of the request sees the handler's copy.
					again, _ := identityFrom[testUser](r.Context())
					assert.Same(t, id, again, "one Identity per request")
					u, _ = e.auth.User(r)
					assert.Equal(t, "mallory", u.Name)
				})
				authz := basicHeader("alice", alicePW)
				if strings.HasPrefix(how, "token") {
					authz = "Bearer " + e.token
				}
				before, err := e.users.UserByID(ctx, "u-alice")
				require.NoError(t, err)
				want := *before
				want.Roles = append([]string(nil), before.Roles...)
				w := e.serve(e.auth.Middleware(evil), getReq("Authorization", authz))
				require.Equal(t, http.StatusOK, w.Code)
				after, err := e.users.UserByID(ctx, "u-alice")
				require.NoError(t, err)
				assert.Equal(t, want, *after, "store's account changed by a handler")
				w = e.serve(e.auth.Middleware(e.next), getReq("Authorization", authz))
				require.Equal(t, http.StatusOK, w.Code)
				assert.Equal(t, []string{"user"}, e.next.lastID().Account.Roles)
			})
		})
	}
}

// A token in the query, under any encoding of access_token,
// beside a header is a 400 with an invalid_request challenge.
func TestSecurityAccessTokenInQueryAnyEncoding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		query string
		want  int
	}{
		{"access_token=x", http.StatusBadRequest},
		{"access%5Ftoken=x", http.StatusBadRequest},
		{"access%5ftoken=x", http.StatusBadRequest},
		{"%61ccess_token=x", http.StatusBadRequest},
		{"%61%63%63%65%73%73%5F%74%6F%6B%65%6E=x", http.StatusBadRequest},
		{"a=1&access%5Ftoken=x", http.StatusBadRequest},
		{"access_token", http.StatusBadRequest},
		{"access_token=x;y", http.StatusBadRequest},     // ParseQuery drops the pair
		{"access%5Ftoken=%zz", http.StatusBadRequest},   // bad escape in the value
		{"a=%zz&access_token=x", http.StatusBadRequest}, // bad escape elsewhere
		{"access_tokens=x", http.StatusOK},
		{"my_access_token=x", http.StatusOK},
		{"q=access_token", http.StatusOK},
		{"q=%25", http.StatusOK},
		{"", http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				r := newReq(http.MethodGet, "/api/things?"+c.query, "Authorization", "Bearer "+e.token)
				w := e.serve(e.auth.Middleware(e.next), r)
				assert.Equal(t, c.want, w.Code)
				if c.want == http.StatusBadRequest {
					assert.Equal(t, chRequest, w.Header().Values("WWW-Authenticate"))
				}
			})
		})
	}
}

// Minting and revoking are bounded per user: a burst, then
// the documented rate, then 429 with Retry-After.
func TestSecurityTokenRatePerUser(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		mint := func(login, pw string) *httptest.ResponseRecorder {
			return e.serve(e.auth.TokenHandler(), newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader(login, pw)))
		}
		var toks []string
		for i := range defaultTokenBurst {
			w := mint("alice", alicePW)
			require.Equal(t, http.StatusOK, w.Code, "mint %d", i)
			toks = append(toks, tokenOf(t, w))
		}
		w := mint("alice", alicePW)
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "1", w.Header().Get("Retry-After"), "one more every second at 60/min")
		assert.Equal(t, http.StatusOK, mint("bob", bobPW).Code, "other users keep their own budget")

		assert.JSONEq(t, `{"error":"too_many_requests","message":"Too many tokens requested; try again later"}`, w.Body.String(),
			"the 429 says what happened: no attempt failed")

		revoke := func(tok string) int {
			return e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+tok)).Code
		}
		use := func(tok string) int {
			return e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok)).Code
		}
		revocations := e.auth.cfg.Revocations.(*memoryRevocationStore)
		// Logouts never count against the mint rate, and are never
		// refused: the first revocationsPerTTL revoke one token each.
		for i, tok := range toks {
			require.Equal(t, http.StatusNoContent, revoke(tok), "revocation %d", i)
			assert.Equal(t, http.StatusUnauthorized, use(tok))
		}
		assert.Equal(t, revocationsPerTTL, revocations.Len())
		time.Sleep(time.Second) // one more mint
		a, b := tokenOf(t, mint("alice", alicePW)), tokenOf(t, mint("bob", bobPW))
		// Past them a logout is folded into the user's cutoff, which ends
		// every token of hers and stores nothing.
		time.Sleep(time.Second)
		c := tokenOf(t, mint("alice", alicePW))
		require.Equal(t, http.StatusOK, use(a))
		assert.Equal(t, http.StatusNoContent, revoke(c), "a logout is never refused")
		assert.Equal(t, revocationsPerTTL, revocations.Len(), "folded into the cutoff, not stored")
		assert.Equal(t, http.StatusUnauthorized, use(a), "the cutoff ended every token issued before it")
		assert.Equal(t, http.StatusUnauthorized, use(c))
		assert.Equal(t, http.StatusOK, use(b), "other users are untouched")
		time.Sleep(time.Second)
		assert.Equal(t, http.StatusOK, use(tokenOf(t, mint("alice", alicePW))), "a token minted after the cutoff works")
	})
}

// The revocation state is bounded in total, not only per user: with open
// registration, many accounts each revoking within their own budget would
// otherwise multiply it. Past the instance's budget for all users, a
// logout folds into that user's cutoff, which stores nothing and still
// ends the token. Over three TokenTTLs of logouts by 400 accounts, the
// store never holds more than twice the budget (entries live at most a
// TokenTTL), plus what awaits the memory store's sweep.
func TestSecurityRevocationStateBoundedInTotal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const budget = 30
		e := newEnv(t, func(s *testSetup[testUser]) { s.revocationsTotal = budget })
		ctx := context.Background()
		ttl := e.auth.cfg.TokenTTL
		bound := 2*budget + int(budget*revocationSweepEvery/ttl) + 1
		const accounts = 400
		for i := range accounts {
			require.NoError(t, e.users.Put(ctx, fmt.Sprintf("many-%d", i), Account[testUser]{
				ID: fmt.Sprintf("u-many-%d", i), PasswordHash: storedHashes()[alicePW], Confirmed: true,
			}))
		}
		time.Sleep(time.Second) // tokens issued after the accounts' creation
		revocations := e.auth.cfg.Revocations.(*memoryRevocationStore)
		use := func(tok string) int {
			return e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok)).Code
		}
		maxLen, stored, folded := 0, 0, 0
		for round := range 12 { // every quarter TokenTTL, for three TokenTTLs
			for i := range accounts {
				if (i+round)%3 != 0 {
					continue // a third of the accounts each round: within each one's own budget
				}
				tok, _, err := e.auth.IssueToken(ctx, fmt.Sprintf("u-many-%d", i))
				require.NoError(t, err)
				before := revocations.Len()
				w := e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+tok))
				require.Equal(t, http.StatusNoContent, w.Code, "a logout is never refused")
				require.Equal(t, http.StatusUnauthorized, use(tok), "stored or folded, the token is dead")
				if revocations.Len() > before {
					stored++
				} else {
					folded++
				}
				maxLen = max(maxLen, revocations.Len())
				require.LessOrEqual(t, revocations.Len(), bound, "round %d", round)
			}
			time.Sleep(ttl / 4)
		}
		t.Logf("%d stored, %d folded into a cutoff, at most %d entries at once (bound %d)", stored, folded, maxLen, bound)
		assert.Greater(t, folded, 0, "the total budget was reached")
		assert.Greater(t, maxLen, budget, "entries outlive a burst, up to the bound")
		// A folded user is not locked out: a token minted after the cutoff works.
		time.Sleep(time.Second)
		tok, _, err := e.auth.IssueToken(ctx, "u-many-0")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, use(tok))
	})
}

// A store without SetTokensValidAfter still never refuses a logout: past
// revocationsPerTTL the token is revoked by ID all the same (the mint rate
// bounds how many there can be).
func TestSecurityRevokePastRateWithoutCutoffSetter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) { c.Users = looseLoginStore{c.Users} })
		var toks []string
		for range defaultTokenBurst {
			w := e.serve(e.auth.TokenHandler(), newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW)))
			require.Equal(t, http.StatusOK, w.Code)
			toks = append(toks, tokenOf(t, w))
		}
		time.Sleep(10 * time.Second) // mint more than revocationsPerTTL
		for range defaultTokenBurst {
			w := e.serve(e.auth.TokenHandler(), newReq(http.MethodPost, "/api/tokens", "Authorization", basicHeader("alice", alicePW)))
			require.Equal(t, http.StatusOK, w.Code)
			toks = append(toks, tokenOf(t, w))
		}
		require.Greater(t, len(toks), revocationsPerTTL)
		for _, tok := range toks {
			w := e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+tok))
			assert.Equal(t, http.StatusNoContent, w.Code)
		}
		assert.Equal(t, len(toks), e.auth.cfg.Revocations.(*memoryRevocationStore).Len())
	})
}

// The per-user rate is configurable and can be turned off.
func TestSecurityTokenRateConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rate, burst int
		wantOK      int // mints that pass in one instant, of 20
	}{
		{-1, 0, 20},
		{60, 3, 3},
		{1, 1, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("rate %d burst %d", c.rate, c.burst), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(cfg *testSetup[testUser]) { cfg.Throttle.TokensPerMinute, cfg.tokenBurst = c.rate, c.burst })
				ok := 0
				for range 20 {
					if e.mintReply(e.auth.TokenHandler(), "alice", alicePW).Code == http.StatusOK {
						ok++
					}
				}
				assert.Equal(t, c.wantOK, ok)
			})
		})
	}
}

// The per-user rate's memory is bounded whatever the number
// of users, and users whose budget has refilled are forgotten first.
func TestSecurityTokenRateMemoryBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		u := newUserRate(60, 10)
		const limit = rateShards * rateShardMax
		for i := range limit + limit/2 {
			u.take("user-" + strconv.Itoa(i))
		}
		assert.LessOrEqual(t, u.len(), limit)
		// Once every budget has refilled, new users sweep the old ones out.
		time.Sleep(time.Hour)
		for i := range limit {
			u.take("new-" + strconv.Itoa(i))
		}
		assert.LessOrEqual(t, u.len(), limit)
		// A limited user stays limited while the store is not full.
		v := newUserRate(60, 2)
		ok1, _ := v.take("x")
		ok2, _ := v.take("x")
		ok3, wait := v.take("x")
		assert.True(t, ok1 && ok2)
		assert.False(t, ok3)
		assert.Equal(t, time.Second, wait)
	})
}

// A signer must name its purpose; the authenticator's tokens
// are defaultPurpose tokens.
func TestSecuritySignerPurposeRequired(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		keys := []SigningKey{{ID: testKID, Secret: testKey1}}
		_, err := newHMACSigner(hmacSignerConfig{Keys: keys})
		require.Error(t, err)
		other, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: "email-confirm"})
		require.NoError(t, err)
		e := newEnv(t)
		tok, err := other.Sign(context.Background(), newClaims("u-alice", t0.Add(-time.Second), time.Hour))
		require.NoError(t, err)
		w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+tok))
		assert.Equal(t, http.StatusUnauthorized, w.Code, "another purpose's token is no access token")
		access, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: defaultPurpose})
		require.NoError(t, err)
		_, err = access.Verify(context.Background(), e.token)
		assert.NoError(t, err)
	})
}

// looseLoginStore matches logins after trimming spaces and lower-casing,
// and says so through LoginKeyer.
type looseLoginStore struct{ UserStore[testUser] }

func (s looseLoginStore) LoginKey(login string) string {
	return strings.ToLower(strings.TrimSpace(login))
}

// Hardening: the store defines the canonical login key the throttle counts
// against.
func TestSecurityLoginThrottleKeyFromStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		plain := newEnv(t)
		loose := newEnv(t, func(c *testSetup[testUser]) { c.Users = looseLoginStore{c.Users} })
		cases := []struct {
			login       string
			plain, keys string
		}{
			{"Alice", "login:alice", "login:alice"},
			{" alice ", "login: alice ", "login:alice"},
			{"ALICE\t", "login:alice\t", "login:alice"},
		}
		for _, c := range cases {
			assert.Equal(t, c.plain, plain.auth.loginThrottleKey(c.login))
			assert.Equal(t, c.keys, loose.auth.loginThrottleKey(c.login))
		}
		var _ LoginKeyer = NewMemoryUserStore[testUser](nil)
		assert.Equal(t, "alice", NewMemoryUserStore[testUser](cheapHasher).LoginKey("ALICE"))
	})
}

// Hardening: insufficient_scope challenges name the roles needed.
func TestSecurityInsufficientScopeNamesRoles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		all   bool // RequireAllRoles, not RequireAnyRole
		roles []string
		want  string
	}{
		{"any", false, []string{"admin", "ops"}, `Bearer realm="api", error="insufficient_scope", scope="admin ops"`},
		{"all", true, []string{"user", "admin"}, `Bearer realm="api", error="insufficient_scope", scope="user admin"`},
		{"unnameable role left out", false, []string{"admin", "two words", `q"uote`}, `Bearer realm="api", error="insufficient_scope", scope="admin"`},
		{"no nameable role", false, []string{"rôle"}, chScope[0]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				w := e.serve(behindRoles(c.all, c.roles...)(e), getReq("Authorization", "Bearer "+e.token))
				assert.Equal(t, http.StatusForbidden, w.Code)
				assert.Equal(t, []string{c.want}, w.Header().Values("WWW-Authenticate"))
			})
		})
	}
}

// Hardening: JSON bodies say charset=utf-8.
func TestSecurityJSONCharset(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		w := httptest.NewRecorder()
		WriteJSONError(w, getReq(), http.StatusUnauthorized, ErrUnauthorized)
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
		w = httptest.NewRecorder()
		WriteJSONError(w, getReq(), http.StatusForbidden, Forbidden("x"))
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
		w = httptest.NewRecorder()
		writeProblem(w, getReq(), http.StatusUnauthorized, ErrUnauthorized)
		assert.Equal(t, "application/problem+json; charset=utf-8", w.Header().Get("Content-Type"))
		w = e.mintReply(e.auth.TokenHandler(), "alice", alicePW)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	})
}

// abortStore panics as a handler does to abort a request.
type abortStore struct{ UserStore[testUser] }

func (abortStore) UserByID(context.Context, string) (*Account[testUser], error) {
	panic(http.ErrAbortHandler)
}

// Hardening: http.ErrAbortHandler is panicked again, never a 500.
func TestSecurityAbortHandlerRepanics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) { c.Users = abortStore{c.Users} })
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
			e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+e.token))
		})
		assert.Empty(t, e.errs.list(), "an abort is no internal error")
	})
}

// Hardening: a recovered panic is never swallowed: it is logged.
func TestSecurityRecoveredPanicIsReported(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *testSetup[testUser]) {
			c.Users = &faultyStore{UserStore: c.Users, byID: "panic"}
		})
		w := e.serve(e.auth.Middleware(e.next), getReq("Authorization", "Bearer "+e.token))
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Contains(t, e.logs.String(), "recovered panic")
	})
}

// Config.CheckAccount also gets the request's copy, never the
// store's account.
func TestSecurityCheckAccountGetsACopy(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"password", "token"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) {
					c.CheckAccount = func(_ *http.Request, a *Account[testUser]) error {
						if a.ID == "u-alice" {
							a.Roles[0] = "admin"
							a.TokensValidAfter = time.Time{}
							a.User.Name = "mallory"
						}
						return nil
					}
				})
				authz := basicHeader("alice", alicePW)
				if how == "token" {
					authz = "Bearer " + e.token
				}
				before, err := e.users.UserByID(context.Background(), "u-alice")
				require.NoError(t, err)
				want := *before
				want.Roles = append([]string(nil), before.Roles...)
				require.Equal(t, http.StatusOK, e.serve(e.auth.Middleware(e.next), getReq("Authorization", authz)).Code)
				after, err := e.users.UserByID(context.Background(), "u-alice")
				require.NoError(t, err)
				assert.Equal(t, want, *after)
			})
		})
	}
}

// TestMemoryRevocationBytesPerEntry measures what the bound above costs:
// the heap one memory-store entry takes, which RevokeHandler's doc and the
// README multiply out (148 bytes measured, so 20,000 entries are about
// 3 MB). It fails when an entry grows past 200 bytes.
func TestMemoryRevocationBytesPerEntry(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes; CI runs this without -race too")
	}
	const n = 20_000
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	s := newMemoryRevocationStore()
	for i := range n {
		var id [16]byte
		binary.BigEndian.PutUint64(id[:], uint64(i)+1)
		require.NoError(t, s.Revoke(ctx, id, exp))
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perEntry := float64(int64(ms.HeapAlloc)-int64(before)) / n
	runtime.KeepAlive(s)
	t.Logf("%.0f bytes an entry, %.1f MB for %d", perEntry, perEntry*n/1e6, n)
	require.Equal(t, n, s.Len())
	assert.LessOrEqual(t, perEntry, 200.0)
	assert.Greater(t, perEntry, 16.0, "an entry holds at least its ID")
}
