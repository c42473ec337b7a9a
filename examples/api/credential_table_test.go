package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestCredentialTable runs the README's credential table
// (httpauthtest.CredentialTable) on two instances that share PostgreSQL
// (sqlstore, with its change-fed cache) and Redis (redisstore's
// revocations and limiter): each instance opens its own stores, as two
// servers do. The memory stores run the same table in the core module.
func TestCredentialTable(t *testing.T) {
	m := newMultiEnv(t)
	ctx := context.Background()
	key, err := httpauth.KeyFromHex("k1", "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	instance := func() (*httpauth.Authenticator[User], *sqlstore.Store[User]) {
		st, err := openStores(ctx, options{db: m.dsn, migrate: true, redis: m.redisURL, redisPrefix: "test:" + m.schema + ":"}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		users := st.users.(*sqlstore.Store[User])
		auth, err := httpauth.New(httpauth.Config[User]{
			Users: users, Signer: signer, Realm: "table", Hasher: httpauthtest.FastHasher{},
			Logger: logger, Throttle: httpauth.Throttle{Logins: st.limiter},
			Revocations: st.revocations, APIKeys: users,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = auth.Close() })
		return auth, users
	}
	a, users := instance()
	b, _ := instance()
	httpauthtest.TestCredentialEvents(t, httpauthtest.CredentialHarness[User]{
		A: a, B: b,
		Create: func(ctx context.Context, id, login, password string, roles []string) error {
			hash, err := httpauthtest.FastHasher{}.Hash(ctx, password)
			if err != nil {
				return err
			}
			_, err = users.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login, PasswordHash: hash, Roles: roles})
			return err
		},
		SetPassword: func(ctx context.Context, id, password string) error {
			hash, err := httpauthtest.FastHasher{}.Hash(ctx, password)
			if err != nil {
				return err
			}
			return users.SetPasswordHash(ctx, id, hash)
		},
		LogoutEverywhere: users.LogoutEverywhere,
		SetDisabled: func(ctx context.Context, id string, disabled bool) error {
			// Plain SQL, as an operator would: the trigger that Migrate
			// installs must move the cutoff on a disable.
			_, err := m.db.ExecContext(ctx, "UPDATE httpauth_users SET disabled = $1 WHERE id = $2", disabled, id)
			return err
		},
		Delete:   users.DeleteUser,
		SetRoles: users.SetRoles,
	})
}
