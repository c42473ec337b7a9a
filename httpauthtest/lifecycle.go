package httpauthtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// TestLifecycleStore runs the httpauth.AccountStore conformance suite:
// the writes of the confirmation, password-reset and email-change flows.
// newHarness is TestUserStore's; its Store must also implement
// httpauth.AccountStore[U]. The suite checks:
//
//   - lookups fill Account.Login (the canonical login) and
//     Account.Confirmed, which account tokens are bound to;
//
//   - MarkConfirmed sets Confirmed, and confirming again is no error;
//
//   - SwapPasswordHash from the stored hash stores the new one as given
//     and moves TokensValidAfter to the time of the write; from any other
//     hash (a racing reset already won) it reports false and changes
//     nothing;
//
//   - SetLogin moves the account to the new login (the old one is then
//     unknown) and changes Login; a login another account holds is
//     ErrAccountExists and changes nothing; changing only the case of
//     one's own login is allowed;
//
//   - every write on a missing account is ErrUserNotFound, and a
//     cancelled context is an error that is not.
//
//   - SetTokensValidAfter sets the cutoff, to TimePrecision;
//
// Its subtests, for [Skip], are MarkConfirmed, SwapPasswordHash, SetLogin,
// SetTokensValidAfter and CancelledContext. It takes [Skip] and [IgnoresContext], and accepts
// TestUserStore's [DerivedRoles] (it checks no roles).
func TestLifecycleStore[U any](t *testing.T, newHarness func(t *testing.T) UserStoreHarness[U], opts ...Option) {
	t.Helper()
	var o options
	h := func(t *testing.T) (userSuite[U], httpauth.AccountStore[U]) {
		t.Helper()
		hs := newHarness(t)
		as, ok := hs.Store.(httpauth.AccountStore[U])
		if hs.Add == nil || !ok {
			t.Fatal("httpauthtest: TestLifecycleStore needs Add and a Store that is an httpauth.AccountStore")
		}
		return userSuite[U]{UserStoreHarness: hs, opts: &o}, as
	}
	byID := func(t *testing.T, hs userSuite[U], id string) *httpauth.Account[U] {
		t.Helper()
		a, err := hs.Store.UserByID(ctxT(t), id)
		require.NoError(t, err)
		return a
	}

	runSuite(t, suiteSpec{name: "TestLifecycleStore", roles: true}, opts, &o, []subtest{
		{"MarkConfirmed", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "Conf@example.com", httpauth.Account[U]{ID: "id-conf", PasswordHash: hashArgon})
			before := byID(t, hs, "id-conf")
			if before.Confirmed {
				t.Error("a new account is confirmed")
			}
			if before.Login != "conf@example.com" {
				t.Errorf("Login = %q, want the canonical login %q", before.Login, "conf@example.com")
			}
			if byLogin, err := hs.Store.UserByLogin(ctx, "CONF@example.com"); err != nil || byLogin.Login != "conf@example.com" {
				t.Errorf("UserByLogin: Login = %v, %v; want %q", byLogin, err, "conf@example.com")
			}
			require.NoError(t, as.MarkConfirmed(ctx, "id-conf"))
			if !byID(t, hs, "id-conf").Confirmed {
				t.Error("MarkConfirmed did not set Confirmed")
			}
			if before.Confirmed {
				t.Error("an account returned earlier was mutated")
			}
			require.NoError(t, as.MarkConfirmed(ctx, "id-conf"), "confirming twice")
			if !byID(t, hs, "id-conf").Confirmed {
				t.Error("confirming twice unset Confirmed")
			}
			assert.ErrorIs(t, as.MarkConfirmed(ctx, "id-missing"), httpauth.ErrUserNotFound)
		}},

		{"SwapPasswordHash", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "pw@example.com", httpauth.Account[U]{ID: "id-pw", PasswordHash: hashArgon})
			old := byID(t, hs, "id-pw")
			since := time.Now()
			swapped, err := as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashNew)
			require.NoError(t, err)
			assert.True(t, swapped)
			until := time.Now()
			got := byID(t, hs, "id-pw")
			assert.Equal(t, hashNew, got.PasswordHash, "stored as given")
			assert.Equal(t, hashArgon, old.PasswordHash, "an account returned earlier is not mutated")
			assert.False(t, got.TokensValidAfter.Before(since.Add(-TimePrecision)) || got.TokensValidAfter.After(until.Add(TimePrecision)),
				"TokensValidAfter = %v, want the time of the write (%v..%v)", got.TokensValidAfter, since, until)
			a, err := hs.Store.UserByLogin(ctx, "pw@example.com")
			require.NoError(t, err)
			assert.Equal(t, hashNew, a.PasswordHash)

			// A second swap from the same old hash (a racing reset) loses.
			swapped, err = as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashBcr)
			require.NoError(t, err)
			assert.False(t, swapped, "the hash is no longer the old one")
			again := byID(t, hs, "id-pw")
			assert.Equal(t, hashNew, again.PasswordHash, "a lost swap changes nothing")
			checkTime(t, "TokensValidAfter after a lost swap", again.TokensValidAfter, got.TokensValidAfter)

			_, err = as.SwapPasswordHash(ctx, "id-missing", hashArgon, hashNew)
			assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
		}},

		{"SetLogin", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "old@example.com", httpauth.Account[U]{ID: "id-move", PasswordHash: hashArgon})
			mustAdd(t, hs, "taken@example.com", httpauth.Account[U]{ID: "id-taken", PasswordHash: hashBcr})
			require.NoError(t, as.SetLogin(ctx, "id-move", "new@example.com"))
			a, err := hs.Store.UserByLogin(ctx, "new@example.com")
			require.NoError(t, err)
			assert.Equal(t, "id-move", a.ID)
			assert.Equal(t, hashArgon, a.PasswordHash)
			a, err = hs.Store.UserByLogin(ctx, "old@example.com")
			wantNotFound(t, "UserByLogin(old login)", a, err)
			if got := byID(t, hs, "id-move").Login; got != "new@example.com" {
				t.Errorf("Login after SetLogin = %q, want %q", got, "new@example.com")
			}

			err = as.SetLogin(ctx, "id-move", "TAKEN@example.com")
			assert.ErrorIs(t, err, httpauth.ErrAccountExists)
			a, err = hs.Store.UserByLogin(ctx, "taken@example.com")
			require.NoError(t, err)
			assert.Equal(t, "id-taken", a.ID, "the holder keeps its login")
			a, err = hs.Store.UserByLogin(ctx, "new@example.com")
			require.NoError(t, err)
			assert.Equal(t, "id-move", a.ID, "a refused move changes nothing")

			require.NoError(t, as.SetLogin(ctx, "id-move", "New@example.com"), "own login, other case")
			assert.ErrorIs(t, as.SetLogin(ctx, "id-missing", "x@example.com"), httpauth.ErrUserNotFound)
		}},

		{"SetTokensValidAfter", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "cut@example.com", httpauth.Account[U]{ID: "id-cut", PasswordHash: hashArgon})
			cutoff := time.Date(2031, 2, 3, 4, 5, 6, 7000, time.UTC)
			require.NoError(t, as.SetTokensValidAfter(ctx, "id-cut", cutoff))
			checkTime(t, "TokensValidAfter", byID(t, hs, "id-cut").TokensValidAfter, cutoff)
			assert.ErrorIs(t, as.SetTokensValidAfter(ctx, "id-missing", cutoff), httpauth.ErrUserNotFound)
		}},

		{"CancelledContext", func(t *testing.T) {
			hs, as := h(t)
			mustAdd(t, hs, "ctx@example.com", httpauth.Account[U]{ID: "id-ctx", PasswordHash: hashArgon})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			for name, err := range map[string]error{
				"MarkConfirmed": as.MarkConfirmed(ctx, "id-ctx"),
				"SwapPasswordHash": func() error {
					_, err := as.SwapPasswordHash(ctx, "id-ctx", hashArgon, hashNew)
					return err
				}(),
				"SetLogin":            as.SetLogin(ctx, "id-ctx", "ctx2@example.com"),
				"SetTokensValidAfter": as.SetTokensValidAfter(ctx, "id-ctx", time.Now()),
			} {
				if !o.ignoresContext { // else nil, the live answer, will do
					assert.Error(t, err, name)
				}
				assert.False(t, errors.Is(err, httpauth.ErrUserNotFound), "%s: a failure must not look like a missing user", name)
			}
		}},
	})
}
