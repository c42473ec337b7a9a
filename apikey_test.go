package httpauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeyFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		k := newAPIKey()
		require.Len(t, k, 40)
		require.True(t, strings.HasPrefix(k, apiKeyPrefix))
		require.True(t, parseAPIKey(k), k)
		require.True(t, isAPIKeyShaped(k))
		require.False(t, seen[k])
		seen[k] = true
		// Any single-character substitution fails the checksum or the alphabet.
		for i := len(apiKeyPrefix); i < len(k); i++ {
			for _, c := range []byte{'0', 'z', 'Q', '_', '.'} {
				if k[i] != c {
					require.False(t, parseAPIKey(k[:i]+string(c)+k[i+1:]), "%s with %q at %d", k, c, i)
				}
			}
		}
	}
	for _, bad := range []string{"", "hak_", "ghp_" + newAPIKey()[4:], newAPIKey() + "0", newAPIKey()[:39], "HAK_" + newAPIKey()[4:]} {
		assert.False(t, parseAPIKey(bad), bad)
	}
	// A token (dots) is never taken for a key, even with a key ID of "hak_x".
	assert.False(t, isAPIKeyShaped("hak_x.payload.mac"))
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add(newAPIKey())
	f.Add("hak_000000000000000000000000000000000000")
	f.Add("hak_\x00")
	f.Fuzz(func(t *testing.T, s string) {
		if !parseAPIKey(s) {
			return
		}
		if len(s) != apiKeyLen || !strings.HasPrefix(s, apiKeyPrefix) || !isAPIKeyShaped(s) {
			t.Fatalf("accepted %q", s)
		}
		random := s[4:34]
		if string(appendCRC62(nil, []byte(random))) != s[34:] {
			t.Fatalf("accepted a wrong checksum: %q", s)
		}
		if crc32.ChecksumIEEE([]byte(random)) == 0 && s[34:] != "000000" {
			t.Fatalf("checksum encoding: %q", s)
		}
	})
}

// countingKeys wraps a KeyStore and counts its calls.
type countingKeys struct {
	KeyStore
	lookups, touches atomic.Int32
	mu               sync.Mutex
	touched          map[string]time.Time
	fail             atomic.Bool
}

func (c *countingKeys) KeyByHash(ctx context.Context, h [sha256.Size]byte) (*APIKey, error) {
	c.lookups.Add(1)
	if c.fail.Load() {
		return nil, errors.New("store down")
	}
	return c.KeyStore.KeyByHash(ctx, h)
}

func (c *countingKeys) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	c.touches.Add(1)
	c.mu.Lock()
	if c.touched == nil {
		c.touched = map[string]time.Time{}
	}
	for k, v := range used {
		c.touched[k] = v
	}
	c.mu.Unlock()
	return c.KeyStore.TouchKeys(ctx, used)
}

// keyFixture is an environment with a counting KeyStore.
type keyFixture struct {
	*env
	keys *countingKeys
}

func newKeyFixture(t *testing.T) *keyFixture {
	t.Helper()
	keys := &countingKeys{KeyStore: newMemoryKeyStore()}
	f := newEnv(t, func(c *testSetup[testUser]) { c.APIKeys = keys })
	t.Cleanup(func() { _ = f.auth.Close() })
	return &keyFixture{env: f, keys: keys}
}

// passwordIdentity is what the middleware would give a password login.
func (f *keyFixture) passwordIdentity(t *testing.T, id string) *Identity[testUser] {
	t.Helper()
	acct, err := f.users.UserByID(context.Background(), id)
	require.NoError(t, err)
	return &Identity[testUser]{Account: acct, Credential: PasswordCredential, transport: transportBasic}
}

func (f *keyFixture) create(t *testing.T, user string, roles ...string) (string, APIKey) {
	t.Helper()
	key, k, err := f.auth.CreateAPIKey(context.Background(), f.passwordIdentity(t, user), "ci", roles, time.Time{})
	require.NoError(t, err)
	return key, k
}

// do runs a request through Middleware (and guard, if set) and returns the
// status and the identity the handler saw.
func (f *keyFixture) do(t *testing.T, h http.Header, guard func(http.Handler) http.Handler) (int, *Identity[testUser]) {
	t.Helper()
	s := &spy{}
	var next http.Handler = s
	if guard != nil {
		next = guard(s)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header = h
	rec := httptest.NewRecorder()
	f.auth.Middleware(next).ServeHTTP(rec, req)
	return rec.Code, s.lastID()
}

func keyBearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

func TestAPIKeyUse(t *testing.T) {
	t.Parallel()
	for name, header := range map[string]func(key string) http.Header{
		"Bearer":      keyBearer,
		"TokenHeader": func(key string) http.Header { return http.Header{"X-Api-Key": {key}} },
		"BasicToken":  func(key string) http.Header { return http.Header{"Authorization": {basicHeader(key, "")}} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newKeyFixture(t)
				key, k := f.create(t, "u-admin", "user", "admin")
				assert.Equal(t, []string{"user", "admin"}, k.Roles)
				assert.Equal(t, [sha256.Size]byte{}, k.Hash, "the record handed back carries no hash")
				status, id := f.do(t, header(key), f.auth.RequireAnyRole("admin"))
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, APIKeyCredential, id.Credential)
				assert.Equal(t, "api_key", id.Credential.String())
				assert.Equal(t, k.ID, id.APIKeyID)
				assert.Equal(t, "u-admin", id.Account.ID)
				assert.Equal(t, []string{"user", "admin"}, id.Account.Roles)
				assert.NotContains(t, f.logs.String(), key, "a key is never logged")
			})
		})
	}
}

func TestAPIKeyRights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RolesMustBeASubset", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			_, _, err := f.auth.CreateAPIKey(ctx, f.passwordIdentity(t, "u-alice"), "ci", []string{"user", "admin"}, time.Time{})
			assert.ErrorIs(t, err, ErrForbidden)
			_, _, err = f.auth.CreateAPIKey(ctx, f.passwordIdentity(t, "u-alice"), "", nil, time.Time{})
			assert.ErrorIs(t, err, ErrBadRequest)
			_, _, err = f.auth.CreateAPIKey(ctx, f.passwordIdentity(t, "u-alice"), "ci", nil, time.Now())
			assert.ErrorIs(t, err, ErrBadRequest, "expiry not in the future")
			keys, err := f.auth.APIKeys(ctx, f.passwordIdentity(t, "u-alice"))
			require.NoError(t, err)
			assert.Empty(t, keys)
		})
	})

	t.Run("IntersectionWithCurrentRoles", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-admin", "admin")
			status, _ := f.do(t, keyBearer(key), f.auth.RequireAnyRole("admin"))
			require.Equal(t, http.StatusOK, status)
			require.NoError(t, f.users.Update(ctx, "u-admin", func(a *Account[testUser]) { a.Roles = []string{"user"} }))
			status, id := f.do(t, keyBearer(key), nil)
			require.Equal(t, http.StatusOK, status)
			assert.Empty(t, id.Account.Roles, "admin was taken from the user; user was never the key's")
			status, _ = f.do(t, keyBearer(key), f.auth.RequireAnyRole("admin"))
			assert.Equal(t, http.StatusForbidden, status)
		})
	})

	t.Run("DisabledUser", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-alice", "user")
			require.NoError(t, f.users.Update(ctx, "u-alice", func(a *Account[testUser]) { a.Disabled = true }))
			status, _ := f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusUnauthorized, status)
			require.NoError(t, f.users.Delete(ctx, "u-alice"))
			status, _ = f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusUnauthorized, status, "deleted user")
		})
	})

	t.Run("UnconfirmedUserIs403", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-unconfirmed")
			status, _ := f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusForbidden, status)
		})
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, k := f.create(t, "u-alice", "user")
			assert.ErrorIs(t, f.auth.DeleteAPIKey(ctx, f.passwordIdentity(t, "u-admin"), k.ID), ErrKeyNotFound, "another user's key")
			assert.ErrorIs(t, f.auth.DeleteAPIKey(ctx, f.passwordIdentity(t, "u-alice"), "unknown"), ErrKeyNotFound)
			status, _ := f.do(t, keyBearer(key), nil)
			require.Equal(t, http.StatusOK, status)
			require.NoError(t, f.auth.DeleteAPIKey(ctx, f.passwordIdentity(t, "u-alice"), k.ID))
			status, _ = f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusUnauthorized, status)
		})
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _, err := f.auth.CreateAPIKey(ctx, f.passwordIdentity(t, "u-alice"), "ci", nil, time.Now().Add(time.Hour))
			require.NoError(t, err)
			status, _ := f.do(t, keyBearer(key), nil)
			require.Equal(t, http.StatusOK, status)
			time.Sleep(time.Hour)
			status, _ = f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusUnauthorized, status)
		})
	})

	t.Run("CannotMintTokensOrKeys", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-admin", "user", "admin")
			for name, h := range map[string]http.Handler{
				"alone":             f.auth.TokenHandler(),
				"behind middleware": f.auth.Middleware(f.auth.TokenHandler()),
			} {
				req := httptest.NewRequest(http.MethodPost, "/tokens/", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, name)
			}
			_, id := f.do(t, keyBearer(key), nil)
			require.NotNil(t, id)
			_, _, err := f.auth.CreateAPIKey(ctx, id, "child", nil, time.Time{})
			assert.ErrorIs(t, err, ErrForbidden)
		})
	})

	t.Run("MistypedKeyNeedsNoLookup", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-alice", "user")
			i := len(key) - 1
			c := byte('0')
			if key[i] == c {
				c = '1'
			}
			status, _ := f.do(t, keyBearer(key[:i]+string(c)), nil)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Zero(t, f.keys.lookups.Load())
			status, _ = f.do(t, keyBearer(newAPIKey()), nil)
			assert.Equal(t, http.StatusUnauthorized, status, "a well-formed unknown key")
			assert.Equal(t, int32(1), f.keys.lookups.Load())
		})
	})

	t.Run("StoreFailureIs500", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-alice", "user")
			f.keys.fail.Store(true)
			status, _ := f.do(t, keyBearer(key), nil)
			assert.Equal(t, http.StatusInternalServerError, status)
		})
	})

	t.Run("NoKeyStore", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+newAPIKey())
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			_, _, err := f.auth.CreateAPIKey(ctx, &Identity[testUser]{Account: &Account[testUser]{ID: "u-alice"}, Credential: PasswordCredential}, "x", nil, time.Time{})
			assert.Error(t, err)
			assert.NoError(t, f.auth.Close())
		})
	})

	t.Run("KeyAsBasicLoginIsNeverLogged", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newKeyFixture(t)
			key, _ := f.create(t, "u-alice", "user")
			status, _ := f.do(t, http.Header{"Authorization": {basicHeader(key, "password")}}, nil)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.NotContains(t, f.logs.String(), key)
		})
	})
}

func TestAPIKeyLastUsedWrittenBehind(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newKeyFixture(t)
		key, k := f.create(t, "u-alice", "user")
		status, _ := f.do(t, keyBearer(key), nil)
		require.Equal(t, http.StatusOK, status)
		// The request returned without writing (the interval is 30 s).
		assert.Zero(t, f.keys.touches.Load())
		keys, err := f.auth.APIKeys(ctx, f.passwordIdentity(t, "u-alice"))
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.True(t, keys[0].LastUsed.IsZero())
		assert.Equal(t, [sha256.Size]byte{}, keys[0].Hash, "no hash in listings")

		require.NoError(t, f.auth.Close())
		require.NoError(t, f.auth.Close(), "twice")
		assert.Equal(t, int32(1), f.keys.touches.Load())
		keys, err = f.auth.APIKeys(ctx, f.passwordIdentity(t, "u-alice"))
		require.NoError(t, err)
		assert.Equal(t, k.ID, keys[0].ID)
		assert.True(t, keys[0].LastUsed.Equal(time.Now()), "LastUsed = %v", keys[0].LastUsed)
		// Uses after Close are dropped, never block.
		status, _ = f.do(t, keyBearer(key), nil)
		assert.Equal(t, http.StatusOK, status)
	})
}

func TestAPIKeyLastUsedFlushedPeriodically(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		keys := &countingKeys{KeyStore: newMemoryKeyStore()}
		users := NewMemoryUserStore[testUser](cheapHasher)
		require.NoError(t, users.Add(context.Background(), "a@example.com", "pw-42-pw-42", Account[testUser]{ID: "1", User: testUser{Name: "a@example.com"}}))
		time.Sleep(time.Second) // keys are used strictly after the account exists
		a, err := New(Config[testUser]{
			Users: users, APIKeys: keys, Realm: "t", Hasher: cheapHasher,
			Signer: mustSigner(SigningKey{ID: "k1", Secret: testKey1}),
			Logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		defer a.Close()
		acct, _ := users.UserByID(context.Background(), "1")
		key, k, err := a.CreateAPIKey(context.Background(), &Identity[testUser]{Account: acct, Credential: PasswordCredential}, "ci", nil, time.Time{})
		require.NoError(t, err)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		a.Middleware(&spy{}).ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		used := time.Now()
		synctest.Wait()
		assert.Zero(t, keys.touches.Load())
		time.Sleep(keyTouchInterval)
		synctest.Wait()
		assert.Equal(t, int32(1), keys.touches.Load())
		keys.mu.Lock()
		assert.True(t, keys.touched[k.ID].Equal(used))
		keys.mu.Unlock()
	})
}

func TestMemoryKeyStoreReturnsCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newMemoryKeyStore()
	k := APIKey{ID: "a", UserID: "1", Roles: []string{"user"}, Hash: sha256.Sum256([]byte("x"))}
	require.NoError(t, s.CreateKey(ctx, k))
	k.Roles[0] = "admin"
	got, err := s.KeyByHash(ctx, k.Hash)
	require.NoError(t, err)
	assert.Equal(t, []string{"user"}, got.Roles)
	got.Roles[0] = "root"
	again, _ := s.KeyByHash(ctx, k.Hash)
	assert.Equal(t, []string{"user"}, again.Roles)
}

// TestAPIKeyManagementNeedsPasswordOrToken: an API key, whatever its
// roles, can neither list, create nor delete keys; the owner's password or
// token can.
func TestAPIKeyManagementNeedsPasswordOrToken(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newKeyFixture(t)
		adminKey, ak := f.create(t, "u-admin", "user", "admin")
		_, id := f.do(t, keyBearer(adminKey), nil)
		require.NotNil(t, id)
		_, err := f.auth.APIKeys(ctx, id)
		assert.ErrorIs(t, err, ErrForbidden, "list with a key")
		assert.ErrorIs(t, f.auth.DeleteAPIKey(ctx, id, ak.ID), ErrForbidden, "delete with a key")
		_, _, err = f.auth.CreateAPIKey(ctx, id, "twin", nil, time.Time{})
		assert.ErrorIs(t, err, ErrForbidden, "create with a key")
		_, err = f.auth.APIKeys(ctx, nil)
		assert.ErrorIs(t, err, ErrUnauthorized)

		token := &Identity[testUser]{Account: id.Account, Credential: TokenCredential, transport: transportBearer}
		keys, err := f.auth.APIKeys(ctx, token)
		require.NoError(t, err)
		require.Len(t, keys, 1, "the key survived its own attempts")
		require.NoError(t, f.auth.DeleteAPIKey(ctx, token, ak.ID), "a token may delete")
		status, _ := f.do(t, keyBearer(adminKey), nil)
		assert.Equal(t, http.StatusUnauthorized, status)
	})
}

// TestAPIKeysPerUserAreBounded: a user holds at most maxAPIKeysPerUser
// keys, also when many requests create at once; deleting one makes room;
// other users keep their own bound.
func TestAPIKeysPerUserAreBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newKeyFixture(t)
		alice := f.passwordIdentity(t, "u-alice")
		for range maxAPIKeysPerUser - 5 {
			f.create(t, "u-alice")
		}
		var wg sync.WaitGroup
		var made, refused atomic.Int32
		for range 20 {
			wg.Go(func() {
				_, _, err := f.auth.CreateAPIKey(ctx, alice, "burst", nil, time.Time{})
				switch {
				case err == nil:
					made.Add(1)
				case errors.Is(err, ErrForbidden):
					refused.Add(1)
				default:
					t.Errorf("CreateAPIKey: %v", err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(5), made.Load())
		assert.Equal(t, int32(15), refused.Load())
		keys, err := f.auth.APIKeys(ctx, alice)
		require.NoError(t, err)
		require.Len(t, keys, maxAPIKeysPerUser)
		_, _, err = f.auth.CreateAPIKey(ctx, alice, "one more", nil, time.Time{})
		assert.ErrorContains(t, err, "Too many API keys")
		require.NoError(t, f.auth.DeleteAPIKey(ctx, alice, keys[0].ID))
		_, _, err = f.auth.CreateAPIKey(ctx, alice, "room again", nil, time.Time{})
		assert.NoError(t, err)
		f.create(t, "u-bob") // bob's bound is his own
	})
}

// TestMemoryKeyStoreIndexesByUser: listing a user's keys reads only that
// user's keys, and deletions leave no empty index behind.
func TestMemoryKeyStoreIndexesByUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newMemoryKeyStore()
	for i := range 50 {
		user := fmt.Sprintf("u%d", i%5)
		require.NoError(t, s.CreateKey(ctx, APIKey{ID: fmt.Sprint(i), UserID: user, Hash: sha256.Sum256([]byte{byte(i)})}))
	}
	keys, err := s.KeysByUser(ctx, "u3")
	require.NoError(t, err)
	assert.Len(t, keys, 10)
	assert.Len(t, s.byUser["u3"], 10, "indexed by user")
	for _, k := range keys {
		assert.Equal(t, "u3", k.UserID)
		require.NoError(t, s.DeleteKey(ctx, "u3", k.ID))
	}
	assert.NotContains(t, s.byUser, "u3")
	keys, err = s.KeysByUser(ctx, "u3")
	require.NoError(t, err)
	assert.Empty(t, keys)
	require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{"4": time.Unix(100, 0)}))
	keys, _ = s.KeysByUser(ctx, "u4")
	i := slices.IndexFunc(keys, func(k APIKey) bool { return k.ID == "4" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, time.Unix(100, 0), keys[i].LastUsed, "touches reach the index")
}
