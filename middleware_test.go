package httpauth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnknownUserAndWrongPasswordRepliesAreIdentical(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newEnv(t)
		reply := func(login string) (int, http.Header, string) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader(login, "not-the-password"))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code, rec.Header(), rec.Body.String()
		}
		s1, h1, b1 := reply("alice")
		s2, h2, b2 := reply("nobody")
		assert.Equal(t, http.StatusUnauthorized, s1)
		assert.Equal(t, s1, s2)
		assert.Equal(t, h1, h2)
		assert.Equal(t, b1, b2)
	})
}

func TestTypedUserGetters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newEnv(t)
		var got testUser
		var ok bool
		handler := f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok = f.auth.User(r)
			_, wrongType := identityFrom[string](r.Context())
			assert.False(t, wrongType, "another user type finds nothing")
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("alice", alicePW))
		handler.ServeHTTP(httptest.NewRecorder(), req)
		require.True(t, ok)
		assert.Equal(t, "alice", got.Name)

		_, ok = f.auth.User(httptest.NewRequest(http.MethodGet, "/", nil))
		assert.False(t, ok)
	})
}

func TestTokenHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		authz      func(tok string) string // tok: one of alice's tokens
		behind     bool                    // mounted behind Middleware
		status     int
		allow      string
		wantsToken bool
	}{
		{"POST with password", http.MethodPost, aliceBasic, false, 200, "", true},
		{"POST with password behind middleware", http.MethodPost, aliceBasic, true, 200, "", true},
		{"GET", http.MethodGet, aliceBasic, false, 405, "POST", false},
		{"PUT behind middleware", http.MethodPut, aliceBasic, true, 405, "POST", false},
		{"bearer token cannot mint", http.MethodPost, func(tok string) string { return "Bearer " + tok }, false, 401, "", false},
		{"bearer token cannot mint behind middleware", http.MethodPost, func(tok string) string { return "Bearer " + tok }, true, 401, "", false},
		{"basic token cannot mint", http.MethodPost, func(tok string) string { return basicHeader(tok, "") }, true, 401, "", false},
		{"no credentials", http.MethodPost, func(string) string { return "" }, false, 401, "", false},
		{"wrong password", http.MethodPost, func(string) string { return basicHeader("alice", "nope") }, false, 401, "", false},
		{"unconfirmed", http.MethodPost, func(string) string { return basicHeader("unconfirmed", "pw-unconfirmed") }, false, 403, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newEnv(t, func(c *testSetup[testUser]) { c.TokenTTL = 90 * time.Second })
				tok := f.mint(t, "alice", alicePW)
				var handler http.Handler = f.auth.TokenHandler()
				if tt.behind {
					handler = f.auth.Middleware(handler)
				}
				req := httptest.NewRequest(tt.method, "/tokens/", nil)
				if authz := tt.authz(tok); authz != "" {
					req.Header.Set("Authorization", authz)
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
				assert.Equal(t, tt.allow, rec.Header().Get("Allow"))
				assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
				assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
				var reply map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &reply))
				if !tt.wantsToken {
					assert.NotContains(t, reply, "token")
					return
				}
				assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
				assert.Len(t, reply, 2)
				assert.Equal(t, float64(90), reply["expiration"])
				newTok, _ := reply["token"].(string)
				c, err := f.auth.cfg.Signer.Verify(context.Background(), newTok)
				require.NoError(t, err)
				assert.Equal(t, "u-alice", c.Subject)
				assert.Equal(t, 90*time.Second, c.ExpiresAt.Sub(c.IssuedAt))
				assert.NotEqual(t, tok, newTok, "every login mints a fresh token")
			})
		})
	}
}

func aliceBasic(string) string { return basicHeader("alice", alicePW) }

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	get := func(f *env, authz string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	revoke := func(f *env, authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodDelete, "/tokens/", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		f.auth.Middleware(f.auth.RevokeHandler()).ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name string
		run  func(t *testing.T, f *env)
	}{
		{"expiry", func(t *testing.T, f *env) {
			tok := f.mint(t, "alice", alicePW)
			time.Sleep(time.Hour - time.Second)
			assert.Equal(t, 200, get(f, "Bearer "+tok))
			time.Sleep(time.Second)
			assert.Equal(t, 401, get(f, "Bearer "+tok))
		}},
		{"revoke only that token, in every transport", func(t *testing.T, f *env) {
			tok1 := f.mint(t, "alice", alicePW)
			tok2 := f.mint(t, "alice", alicePW)
			rec := revoke(f, "Bearer "+tok1)
			require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
			assert.Equal(t, 401, get(f, "Bearer "+tok1))
			assert.Equal(t, 401, get(f, basicHeader(tok1, "")))
			assert.Equal(t, 200, get(f, "Bearer "+tok2), "other tokens keep working")
		}},
		{"revoke with a password is a 400", func(t *testing.T, f *env) {
			rec := revoke(f, basicHeader("alice", alicePW))
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.JSONEq(t, `{"error":"bad_request","message":"Request did not authenticate with a token"}`, rec.Body.String())
		}},
		{"revoke handler method", func(t *testing.T, f *env) {
			req := httptest.NewRequest(http.MethodPost, "/tokens/", nil)
			rec := httptest.NewRecorder()
			f.auth.RevokeHandler().ServeHTTP(rec, req)
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			assert.Equal(t, "DELETE", rec.Header().Get("Allow"))
		}},
		{"password change cuts off older tokens", func(t *testing.T, f *env) {
			tok := f.mint(t, "admin", "admin-pw")
			time.Sleep(time.Second)
			require.NoError(t, f.users.Update(ctx, "u-admin", func(a *Account[testUser]) { a.TokensValidAfter = time.Now() }))
			assert.Equal(t, 401, get(f, "Bearer "+tok))
			time.Sleep(time.Second) // a token issued at the cutoff itself is refused too
			assert.Equal(t, 200, get(f, "Bearer "+f.mint(t, "admin", "admin-pw")))
		}},
		{"disabled and deleted users lose their tokens", func(t *testing.T, f *env) {
			tok := f.mint(t, "ops", "ops-pw")
			require.Equal(t, 200, get(f, "Bearer "+tok))
			require.NoError(t, f.users.Update(ctx, "u-ops", func(a *Account[testUser]) { a.Disabled = true }))
			assert.Equal(t, 401, get(f, "Bearer "+tok))
			require.NoError(t, f.users.Update(ctx, "u-ops", func(a *Account[testUser]) { a.Disabled = false }))
			assert.Equal(t, 401, get(f, "Bearer "+tok), "the disable moved the cutoff: enabling again revives no token")
			time.Sleep(time.Second)
			fresh := f.mint(t, "ops", "ops-pw")
			assert.Equal(t, 200, get(f, "Bearer "+fresh))
			require.NoError(t, f.users.Delete(ctx, "u-ops"))
			assert.Equal(t, 401, get(f, "Bearer "+fresh))
		}},
		{"unconfirmed user's token is a 403", func(t *testing.T, f *env) {
			tok, _, err := f.auth.IssueToken(ctx, "u-unconfirmed")
			require.NoError(t, err)
			assert.Equal(t, 403, get(f, "Bearer "+tok))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) { tt.run(t, newEnv(t)) })
		})
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		all    bool // RequireAllRoles, not RequireAnyRole
		roles  []string
		login  string
		pw     string
		status int
	}{
		{"any-of: has one", false, []string{"admin", "ops"}, "ops", "ops-pw", 200},
		{"any-of: has none", false, []string{"admin", "ops"}, "alice", alicePW, 403},
		{"all-of: has all", true, []string{"user", "admin"}, "admin", "admin-pw", 200},
		{"all-of: has one", true, []string{"user", "admin"}, "alice", alicePW, 403},
	}
	for _, tt := range tests {
		for _, viaToken := range []bool{false, true} {
			name := tt.name + "/password"
			if viaToken {
				name = tt.name + "/token"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					f := newEnv(t)
					authz := basicHeader(tt.login, tt.pw)
					if viaToken {
						authz = "Bearer " + f.mint(t, tt.login, tt.pw)
					}
					rec := f.serve(behindRoles(tt.all, tt.roles...)(f), getReq("Authorization", authz))
					require.Equal(t, tt.status, rec.Code)
					if tt.status == 200 {
						assert.EqualValues(t, 1, f.next.calls.Load())
						return
					}
					assert.EqualValues(t, 0, f.next.calls.Load())
					assert.Equal(t, body403, rec.Body.String())
					if viaToken {
						assert.Regexp(t, `^Bearer realm="api", error="insufficient_scope", scope="[a-z ]+"$`, rec.Header().Get("Www-Authenticate"))
					} else {
						assert.Empty(t, rec.Header().Values("Www-Authenticate"), "a Basic 403 has no challenge")
					}
				})
			})
		}
	}
	t.Run("role guard without middleware is a 401", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			rec := httptest.NewRecorder()
			f.auth.RequireAnyRole("admin")(&spy{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, 401, rec.Code)
		})
	})
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	users := NewMemoryUserStore[testUser](cheapHasher)
	signer := mustSigner(SigningKey{ID: "k1", Secret: testKey1})
	tests := []struct {
		name  string
		setup testSetup[testUser]
		want  string
	}{
		{"no store", testSetup[testUser]{Config: Config[testUser]{Signer: signer, Realm: "r"}}, "Users"},
		{"no signer", testSetup[testUser]{Config: Config[testUser]{Users: users, Realm: "r"}}, "Signer"},
		{"empty realm", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer}}, "Realm"},
		{"realm with newline", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "a\nb"}}, "Realm"},
		{"bad scheme", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", BasicScheme: "x y"}}, "BasicScheme"},
		{"bad token header", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenHeader: "X:Key"}}, "TokenHeader"},
		{"token header is Authorization", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenHeader: "authorization"}}, "TokenHeader"},
		{"negative TTL", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenTTL: -1}}, "TokenTTL"},
		{"negative cache TTL", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r"}, options: options{cacheTTL: -1}}, "negative"},
		{"negative hashes", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r"}, options: options{maxConcurrentHashes: -1}}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := build(tt.setup.Config, tt.setup.options)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("minimal config works", func(t *testing.T) {
		t.Parallel()
		a, err := New(Config[testUser]{Users: users, Signer: signer, Realm: "r", Hasher: cheapHasher})
		require.NoError(t, err)
		assert.Equal(t, time.Hour, a.cfg.TokenTTL)
		assert.NotNil(t, a.cfg.Throttle.Logins, "throttling is on by default")
	})
}

func TestCustomErrorWriter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var gotStatus int
		var gotErr error
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, status int, err error) {
				gotStatus, gotErr = status, err
				w.WriteHeader(status)
				_, _ = w.Write([]byte("custom"))
			}
		})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("unconfirmed", "pw-unconfirmed"))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		assert.Equal(t, 403, rec.Code)
		assert.Equal(t, "custom", rec.Body.String())
		assert.Equal(t, 403, gotStatus)
		assert.ErrorIs(t, gotErr, ErrForbidden)
		var fe *forbiddenError
		require.ErrorAs(t, gotErr, &fe)
		assert.Equal(t, "Unconfirmed account", fe.Message)
	})
}

func TestCredentialCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		counter := &countingHasher{inner: cheapHasher}
		f := newEnv(t, func(c *testSetup[testUser]) { c.Hasher = counter })
		ctx := context.Background()
		get := func(login, pw string) int {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader(login, pw))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code
		}
		verifies := func() int64 { return counter.verifies.Swap(0) }

		require.Equal(t, 200, get("alice", alicePW))
		assert.EqualValues(t, 1, verifies(), "first login hashes")
		require.Equal(t, 200, get("alice", alicePW))
		assert.EqualValues(t, 0, verifies(), "second login is a cache hit")

		assert.Equal(t, 401, get("alice", "wrong"))
		assert.Equal(t, 401, get("alice", "wrong"))
		assert.EqualValues(t, 2, verifies(), "failures are never cached")

		time.Sleep(5*time.Minute + time.Second)
		require.Equal(t, 200, get("alice", alicePW))
		assert.EqualValues(t, 1, verifies(), "TTL expired")

		require.NoError(t, f.users.SetPassword(ctx, "u-alice", "new-password-42"))
		assert.Equal(t, 401, get("alice", alicePW), "old password stops at once")
		assert.EqualValues(t, 1, verifies())
		require.Equal(t, 200, get("alice", "new-password-42"))
		require.Equal(t, 200, get("alice", "new-password-42"))
		assert.EqualValues(t, 1, verifies())

		require.NoError(t, f.users.Update(ctx, "u-alice", func(a *Account[testUser]) { a.Disabled = true }))
		assert.Equal(t, 401, get("alice", "new-password-42"), "disabled stops at once")
		require.NoError(t, f.users.Update(ctx, "u-alice", func(a *Account[testUser]) { a.Confirmed = false }))
		require.NoError(t, f.users.Update(ctx, "u-alice", func(a *Account[testUser]) { a.Disabled = false }))
		assert.Equal(t, 403, get("alice", "new-password-42"), "account check runs on hits too")
		verifies()
	})

	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		c := newCredCache(32, time.Minute)
		for i := range 1000 {
			c.put(c.key("u", strings.Repeat("p", i)), "id", "hash")
		}
		assert.LessOrEqual(t, c.len(), 32)
	})
	t.Run("keys separate login and password", func(t *testing.T) {
		t.Parallel()
		c := newCredCache(32, time.Minute)
		assert.NotEqual(t, c.key("ab", "c"), c.key("a", "bc"))
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			counter := &countingHasher{inner: cheapHasher}
			f := newEnv(t, func(c *testSetup[testUser]) { c.Hasher = counter; c.cacheSize = -1 })
			for range 2 {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", basicHeader("alice", alicePW))
				rec := httptest.NewRecorder()
				f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
				require.Equal(t, 200, rec.Code)
			}
			assert.EqualValues(t, 2, counter.verifies.Load())
		})
	})
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newEnv(t, func(c *testSetup[testUser]) {
					c.Throttle.Logins = newMemoryLimiter(3, time.Minute)
				})
				do := func(authz string) *httptest.ResponseRecorder {
					return f.serve(f.auth.Middleware(&spy{}), getReq("Authorization", authz))
				}
				tok := f.mint(t, "alice", alicePW)
				for range 3 {
					require.Equal(t, 401, do(basicHeader(login, "guess")).Code)
				}
				rec := do(basicHeader(login, alicePW))
				require.Equal(t, http.StatusTooManyRequests, rec.Code)
				assert.JSONEq(t, `{"error":"too_many_requests","message":"Too many failed attempts; try again later"}`, rec.Body.String())
				assert.Regexp(t, `^[1-9][0-9]*$`, rec.Header().Get("Retry-After"))
				rec = do(basicHeader(strings.ToUpper(login), "guess"))
				assert.Equal(t, http.StatusTooManyRequests, rec.Code, "login case does not dodge the throttle")
				assert.Equal(t, 200, do("Bearer "+tok).Code, "tokens keep working")
				assert.Equal(t, 200, do(basicHeader("admin", "admin-pw")).Code, "other users unaffected")
			})
		})
	}
}

func TestWrapsWholeMux(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newEnv(t)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("a")) })
		mux.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("b")) })
		h := f.auth.Middleware(mux)
		for _, path := range []string{"/a", "/b", "/missing"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			assert.Equal(t, 401, f.serve(h, req).Code, path)
			req.Header.Set("Authorization", basicHeader("alice", alicePW))
			code := f.serve(h, req).Code
			if path == "/missing" {
				assert.Equal(t, 404, code)
			} else {
				assert.Equal(t, 200, code, path)
			}
		}
	})
}

func TestStoreFailureIsA500(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newErrorLog(slog.DiscardHandler)
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.Users = &faultyStore{byLogin: "error", byID: "error"}
			c.Logger = slog.New(log)
		})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("alice", alicePW))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		assert.Equal(t, 500, rec.Code)
		assert.Equal(t, `{"error":"internal_error","message":"Internal server error"}`+"\n", rec.Body.String())
		assert.NotContains(t, rec.Body.String(), "db down")
		reported := log.list()
		require.Len(t, reported, 1)
		assert.Contains(t, reported[0].Error(), "db down")
	})
}

func TestPanicReleasesHashSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var store UserStore[testUser] = &faultyStore{byLogin: "panic", byID: "panic"}
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.maxConcurrentHashes = 1
			c.Users = swapStore(func() UserStore[testUser] { return store })
		})
		do := func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
			req.Header.Set("Authorization", basicHeader("alice", alicePW))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code
		}
		for range 3 {
			require.Equal(t, http.StatusInternalServerError, do())
		}
		store = f.users
		assert.Equal(t, http.StatusOK, do(), "the slot was released after each panic")
	})
}

// A cached credential is no way around a failing store: the hit still
// loads the account, and a store error is a 500.
func TestCachedCredentialStoreFailureIsA500(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var store UserStore[testUser]
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.Users = swapStore(func() UserStore[testUser] { return store })
		})
		store = f.users
		do := func() int {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader("alice", alicePW))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code
		}
		require.Equal(t, http.StatusOK, do())
		require.Equal(t, 1, f.auth.cache.len(), "the login is cached")
		store = &faultyStore{byLogin: "error", byID: "error"}
		assert.Equal(t, http.StatusInternalServerError, do())
	})
}
