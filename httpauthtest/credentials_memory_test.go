package httpauthtest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// TestCredentialEventsMemory runs the credential table on the memory
// stores: two Authenticators over one user store and key store, as two
// instances over shared state.
func TestCredentialEventsMemory(t *testing.T) {
	t.Parallel()
	users := httpauth.NewMemoryUserStore[string](httpauthtest.FastHasher{})
	keys := httpauth.NewMemoryKeyStore()
	signer, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: "k1", Secret: []byte("\x8f\x3a\x1c\x9e\x5b\x7d\x2f\x4a\x6c\x8e\x0b\x1d\x3f\x5a\x7c\x9e\x2b\x4d\x6f\x8a\x0c\x1e\x3b\x5d\x7f\x9a\x2c\x4e\x6b\x8d\x0f\x1a")})
	if err != nil {
		t.Fatal(err)
	}
	newAuth := func() *httpauth.Authenticator[string] {
		a, err := httpauth.New(httpauth.Config[string]{
			Users: users, Signer: signer, Realm: "t", Hasher: httpauthtest.FastHasher{},
			APIKeys: keys, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	httpauthtest.TestCredentialEvents(t, httpauthtest.CredentialHarness[string]{
		A: newAuth(), B: newAuth(),
		Create: func(ctx context.Context, id, login, password string, roles []string) error {
			return users.Add(ctx, login, password, httpauth.Account[string]{ID: id, Roles: roles})
		},
		SetPassword: users.SetPassword,
		LogoutEverywhere: func(ctx context.Context, id string) error {
			return users.SetTokensValidAfter(ctx, id, time.Now())
		},
		SetDisabled: func(ctx context.Context, id string, disabled bool) error {
			return users.Update(ctx, id, func(a *httpauth.Account[string]) { a.Disabled = disabled })
		},
		Delete: users.Delete,
		SetRoles: func(ctx context.Context, id string, roles []string) error {
			return users.Update(ctx, id, func(a *httpauth.Account[string]) { a.Roles = roles })
		},
	})
}
