package sqlstore_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// storeConfigs are the store set-ups the lifecycle suites run on.
var storeConfigs = []struct {
	name string
	open func(t *testing.T) *sql.DB
	cfg  sqlstore.Config[sqlstore.User]
}{
	{"sqlite", openSQLite, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite}},
	{"postgres", openPostgres, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres}},
	// The cache must not change what the store answers after its writes.
	{"postgres with cache", openPostgres, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 100}},
}

func TestLifecycleConformance(t *testing.T) {
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) {
			httpauthtest.TestLifecycleStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[sqlstore.User] {
				db := c.open(t)
				return harness(t, db, newStore(t, db, c.cfg))
			})
		})
	}
}

func TestKeyStoreConformance(t *testing.T) {
	for _, c := range storeConfigs[:2] {
		t.Run(c.name, func(t *testing.T) {
			httpauthtest.TestKeyStore(t, func(t *testing.T) httpauth.KeyStore {
				db := c.open(t)
				s := newStore(t, db, c.cfg)
				// The suite's keys belong to u1 and u2, which must exist.
				for _, id := range []string{"u1", "u2"} {
					_, err := s.CreateUser(t.Context(), sqlstore.NewUser{ID: id, Login: id + "@example.com"})
					require.NoError(t, err)
				}
				return s
			})
		})
	}
}

func newKey(id, user string) httpauth.APIKey {
	return httpauth.APIKey{
		ID: id, UserID: user, Name: "ci", Roles: []string{"user"},
		Hash: sha256.Sum256([]byte("secret " + id)), Created: time.Now(),
	}
}

// TestKeysFollowTheirUser checks that a key needs an existing user and
// dies with it, on SQLite also without foreign_keys enabled.
func TestKeysFollowTheirUser(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := o.open(t)
			s := newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect})
			err := s.CreateKey(ctx, newKey("k0", "nobody"))
			require.ErrorIs(t, err, httpauth.ErrUserNotFound, "a key of a missing user")

			id, err := s.CreateUser(ctx, sqlstore.NewUser{Login: "owner@example.com"})
			require.NoError(t, err)
			k := newKey("k1", id)
			require.NoError(t, s.CreateKey(ctx, k))
			require.NoError(t, s.DeleteUser(ctx, id))
			_, err = s.KeyByHash(ctx, k.Hash)
			assert.ErrorIs(t, err, httpauth.ErrKeyNotFound, "deleting a user deletes its keys")
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM httpauth_api_keys").Scan(&n))
			assert.Zero(t, n)
		})
	}
}

// TestCreateUserTakenLogin checks that a taken login or ID is
// ErrAccountExists, which the example's /register relies on.
func TestCreateUserTakenLogin(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newStore(t, o.open(t), sqlstore.Config[sqlstore.User]{Dialect: o.dialect})
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: "a", Login: "a@example.com"})
			require.NoError(t, err)
			_, err = s.CreateUser(ctx, sqlstore.NewUser{Login: "A@example.com"})
			assert.ErrorIs(t, err, httpauth.ErrAccountExists, "taken login")
			_, err = s.CreateUser(ctx, sqlstore.NewUser{ID: "a", Login: "b@example.com"})
			assert.ErrorIs(t, err, httpauth.ErrAccountExists, "taken ID")
		})
	}
}

// twoInstances returns two stores on one database through two *sql.DB:
// two instances of a service. On PostgreSQL both cache accounts.
func twoInstances(t *testing.T, d sqlstore.Dialect) (a, b *sqlstore.Store[sqlstore.User]) {
	t.Helper()
	if d == sqlstore.Postgres {
		a, b, _ = cachedPair(t)
		return a, b
	}
	path := filepath.Join(t.TempDir(), "users.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", sqliteDSN(path))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	db1 := open()
	require.NoError(t, sqlstore.Migrate(t.Context(), db1, d))
	return newStoreNoMigrate(t, db1, sqlstore.Config[sqlstore.User]{Dialect: d}), newStoreNoMigrate(t, open(), sqlstore.Config[sqlstore.User]{Dialect: d})
}

// TestDeletedKeyRefusedEverywhere deletes a key through one instance: the
// other refuses it on its very next request, with no wait, because keys
// are never cached.
func TestDeletedKeyRefusedEverywhere(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			sa, sb := twoInstances(t, o.dialect)
			id := randomID(t)
			_, err := sa.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: id + "@example.com", Roles: []string{"user"}})
			require.NoError(t, err)

			newAuth := func(s *sqlstore.Store[sqlstore.User]) (*httpauth.Authenticator[sqlstore.User], http.Handler) {
				a, err := httpauth.New(httpauth.Config[sqlstore.User]{
					Users: s, APIKeys: s, Realm: "api", Logger: slog.New(slog.DiscardHandler),
					Signer: testSigner(t),
				})
				require.NoError(t, err)
				t.Cleanup(func() { _ = a.Close() })
				return a, a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			}
			authA, _ := newAuth(sa)
			_, hb := newAuth(sb)
			acct, err := sa.UserByID(ctx, id)
			require.NoError(t, err)
			owner := &httpauth.Identity[sqlstore.User]{Account: acct, Credential: httpauth.PasswordCredential}
			key, rec, err := authA.CreateAPIKey(ctx, owner, "ci", []string{"user"}, time.Time{})
			require.NoError(t, err)
			get := func() int {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				hb.ServeHTTP(w, req)
				return w.Code
			}
			require.Equal(t, http.StatusOK, get(), "the key works on instance B")
			require.NoError(t, authA.DeleteAPIKey(ctx, owner, rec.ID))
			_, err = sb.KeyByHash(ctx, sha256.Sum256([]byte(key)))
			assert.ErrorIs(t, err, httpauth.ErrKeyNotFound, "B's store at once")
			assert.Equal(t, http.StatusUnauthorized, get(), "B refuses the deleted key at once")
		})
	}
}

// TestCachedWritesSeenAtOnce checks that the lifecycle writes drop the
// account from the writer's own cache, so its next lookup sees them with
// no wait, and that another instance sees them through NOTIFY.
func TestCachedWritesSeenAtOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := cachedPair(t)
	id := randomID(t)
	login := id + "@example.com"
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login, PasswordHash: "$2b$10$old"})
	require.NoError(t, err)
	type acct = *httpauth.Account[sqlstore.User]
	login2 := id + "-new@example.com"
	steps := []struct {
		name  string
		write func() error
		login string
		seen  func(acct) bool
	}{
		{"MarkConfirmed", func() error { return a.MarkConfirmed(ctx, id) }, login,
			func(x acct) bool { return x.User.Confirmed }},
		{"SetPasswordHash", func() error { return a.SetPasswordHash(ctx, id, "$2b$10$new") }, login,
			func(x acct) bool { return x.PasswordHash == "$2b$10$new" && !x.TokensValidAfter.IsZero() }},
		{"SetLogin", func() error { return a.SetLogin(ctx, id, login2) }, login2,
			func(x acct) bool { return x.User.Login == login2 }},
	}
	cur := login
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			for _, s := range []*sqlstore.Store[sqlstore.User]{a, b} {
				waitCached(t, s, func() error {
					if _, err := s.UserByID(ctx, id); err != nil {
						return err
					}
					_, err := s.UserByLogin(ctx, cur)
					return err
				})
			}
			require.NoError(t, st.write())
			byID, err := a.UserByID(ctx, id)
			require.NoError(t, err)
			byLogin, err := a.UserByLogin(ctx, st.login)
			require.NoError(t, err)
			assert.True(t, st.seen(byID) && st.seen(byLogin), "the writer sees its write at once")
			if st.login != cur {
				_, err := a.UserByLogin(ctx, cur)
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound, "old login, writer")
			}
			poll(t, st.name+" seen by B", func() bool {
				byID, err := b.UserByID(ctx, id)
				require.NoError(t, err)
				byLogin, err := b.UserByLogin(ctx, st.login)
				if errors.Is(err, httpauth.ErrUserNotFound) {
					return false
				}
				require.NoError(t, err)
				return st.seen(byID) && st.seen(byLogin)
			})
			if st.login != cur {
				_, err := b.UserByLogin(ctx, cur)
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound, "old login, B")
			}
			cur = st.login
		})
	}
}

// TestAccountFlows runs the authenticator's confirmation, reset and email
// change flows on the store, with and without the cache.
func TestAccountFlows(t *testing.T) {
	t.Parallel()
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			accountFlows(t, newStore(t, c.open(t), c.cfg), func(a *httpauth.Account[sqlstore.User]) bool { return a.User.Confirmed })
		})
	}
}

// accountFlows runs the authenticator's confirmation, reset and email
// change flows on s; confirmed reads the confirmed flag from U.
func accountFlows[U any](t *testing.T, s *sqlstore.Store[U], confirmed func(*httpauth.Account[U]) bool) {
	t.Helper()
	ctx := t.Context()
	id := randomID(t)
	login := id + "@example.com"
	_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login, Password: "old password"})
	require.NoError(t, err)
	auth, err := httpauth.New(httpauth.Config[U]{
		Users: s, Hasher: fastHasher, Realm: "api", Logger: slog.New(slog.DiscardHandler),
		Signer: testSigner(t),
	})
	require.NoError(t, err)
	h := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(user, pw, bearer string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		} else {
			req.SetBasicAuth(user, pw)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}

	tok, err := auth.ConfirmationToken(ctx, id)
	require.NoError(t, err)
	_, err = auth.Confirm(ctx, tok)
	require.NoError(t, err)
	a, err := s.UserByID(ctx, id)
	require.NoError(t, err)
	assert.True(t, confirmed(a))
	_, err = auth.Confirm(ctx, tok)
	assert.ErrorIs(t, err, httpauth.ErrTokenInvalid, "a confirmation link works once")

	access, _, err := auth.IssueToken(ctx, id)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, do("", "", access))
	reset, err := auth.PasswordResetToken(ctx, id)
	require.NoError(t, err)
	_, err = auth.ResetPassword(ctx, reset, "new password")
	require.NoError(t, err)
	_, err = auth.ResetPassword(ctx, reset, "other password")
	assert.ErrorIs(t, err, httpauth.ErrTokenInvalid, "a reset link works once")
	assert.Equal(t, http.StatusUnauthorized, do(login, "old password", ""))
	assert.Equal(t, http.StatusOK, do(login, "new password", ""))
	assert.Equal(t, http.StatusUnauthorized, do("", "", access), "tokens issued before the reset")

	change, err := auth.EmailChangeToken(ctx, id, "Moved-"+login)
	require.NoError(t, err)
	_, err = auth.ChangeLogin(ctx, change)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, do("moved-"+login, "new password", ""))
	assert.Equal(t, http.StatusUnauthorized, do(login, "new password", ""))
	_, err = auth.ChangeLogin(ctx, change)
	assert.ErrorIs(t, err, httpauth.ErrTokenInvalid, "an email change link works once")
}
