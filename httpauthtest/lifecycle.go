package httpauthtest

import (
	"context"
	"testing"
	"time"

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
		mustOK(t, err, `hs.Store.UserByID(ctxT(t), id)`)
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
			mustOK(t, as.MarkConfirmed(ctx, "id-conf"), `as.MarkConfirmed(ctx, "id-conf")`)
			if !byID(t, hs, "id-conf").Confirmed {
				t.Error("MarkConfirmed did not set Confirmed")
			}
			if before.Confirmed {
				t.Error("an account returned earlier was mutated")
			}
			mustOK(t, as.MarkConfirmed(ctx, "id-conf"), "confirming twice")
			if !byID(t, hs, "id-conf").Confirmed {
				t.Error("confirming twice unset Confirmed")
			}
			checkIs(t, as.MarkConfirmed(ctx, "id-missing"), httpauth.ErrUserNotFound, `as.MarkConfirmed(ctx, "id-missing")`)
		}},

		{"SwapPasswordHash", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "pw@example.com", httpauth.Account[U]{ID: "id-pw", PasswordHash: hashArgon})
			old := byID(t, hs, "id-pw")
			since := time.Now()
			swapped, err := as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashNew)
			mustOK(t, err, `as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashNew)`)
			if !swapped {
				t.Errorf("SwapPasswordHash from the stored hash = false, want true")
			}
			until := time.Now()
			got := byID(t, hs, "id-pw")
			checkEqual(t, got.PasswordHash, hashNew, "PasswordHash after the swap (stored as given)")
			checkEqual(t, old.PasswordHash, hashArgon, "PasswordHash of an account returned before the swap (not mutated)")
			if got.TokensValidAfter.Before(since.Add(-TimePrecision)) || got.TokensValidAfter.After(until.Add(TimePrecision)) {
				t.Errorf("TokensValidAfter = %v, want the time of the write (%v..%v)", got.TokensValidAfter, since, until)
			}
			a, err := hs.Store.UserByLogin(ctx, "pw@example.com")
			mustOK(t, err, `hs.Store.UserByLogin(ctx, "pw@example.com")`)
			checkEqual(t, a.PasswordHash, hashNew, "PasswordHash by login after the swap")

			// A second swap from the same old hash (a racing reset) loses.
			swapped, err = as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashBcr)
			mustOK(t, err, `as.SwapPasswordHash(ctx, "id-pw", hashArgon, hashBcr)`)
			if swapped {
				t.Errorf("SwapPasswordHash from a hash that is no longer stored = true, want false")
			}
			again := byID(t, hs, "id-pw")
			checkEqual(t, again.PasswordHash, hashNew, "PasswordHash after a lost swap (which changes nothing)")
			checkTime(t, "TokensValidAfter after a lost swap", again.TokensValidAfter, got.TokensValidAfter)

			_, err = as.SwapPasswordHash(ctx, "id-missing", hashArgon, hashNew)
			checkIs(t, err, httpauth.ErrUserNotFound, `as.SwapPasswordHash(ctx, "id-missing", hashArgon, hashNew)`)
		}},

		{"SetLogin", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "old@example.com", httpauth.Account[U]{ID: "id-move", PasswordHash: hashArgon})
			mustAdd(t, hs, "taken@example.com", httpauth.Account[U]{ID: "id-taken", PasswordHash: hashBcr})
			mustOK(t, as.SetLogin(ctx, "id-move", "new@example.com"), `as.SetLogin(ctx, "id-move", "new@example.com")`)
			a, err := hs.Store.UserByLogin(ctx, "new@example.com")
			mustOK(t, err, `hs.Store.UserByLogin(ctx, "new@example.com")`)
			checkEqual(t, a.ID, "id-move", "ID by the new login")
			checkEqual(t, a.PasswordHash, hashArgon, "PasswordHash by the new login")
			a, err = hs.Store.UserByLogin(ctx, "old@example.com")
			wantNotFound(t, "UserByLogin(old login)", a, err)
			if got := byID(t, hs, "id-move").Login; got != "new@example.com" {
				t.Errorf("Login after SetLogin = %q, want %q", got, "new@example.com")
			}

			err = as.SetLogin(ctx, "id-move", "TAKEN@example.com")
			checkIs(t, err, httpauth.ErrAccountExists, `as.SetLogin(ctx, "id-move", "TAKEN@example.com")`)
			a, err = hs.Store.UserByLogin(ctx, "taken@example.com")
			mustOK(t, err, `hs.Store.UserByLogin(ctx, "taken@example.com")`)
			checkEqual(t, a.ID, "id-taken", "ID by the taken login (the holder keeps it)")
			a, err = hs.Store.UserByLogin(ctx, "new@example.com")
			mustOK(t, err, `hs.Store.UserByLogin(ctx, "new@example.com")`)
			checkEqual(t, a.ID, "id-move", "ID by the mover's login after a refused move (which changes nothing)")

			mustOK(t, as.SetLogin(ctx, "id-move", "New@example.com"), "own login, other case")
			checkIs(t, as.SetLogin(ctx, "id-missing", "x@example.com"), httpauth.ErrUserNotFound, `as.SetLogin(ctx, "id-missing", "x@example.com")`)
		}},

		{"SetTokensValidAfter", func(t *testing.T) {
			hs, as := h(t)
			ctx := ctxT(t)
			mustAdd(t, hs, "cut@example.com", httpauth.Account[U]{ID: "id-cut", PasswordHash: hashArgon})
			cutoff := time.Date(2031, 2, 3, 4, 5, 6, 7000, time.UTC)
			mustOK(t, as.SetTokensValidAfter(ctx, "id-cut", cutoff), `as.SetTokensValidAfter(ctx, "id-cut", cutoff)`)
			checkTime(t, "TokensValidAfter", byID(t, hs, "id-cut").TokensValidAfter, cutoff)
			checkIs(t, as.SetTokensValidAfter(ctx, "id-missing", cutoff), httpauth.ErrUserNotFound, `as.SetTokensValidAfter(ctx, "id-missing", cutoff)`)
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
					checkFail(t, err, "%s with a cancelled context", name)
				}
				checkIsNot(t, err, httpauth.ErrUserNotFound, "%s with a cancelled context (a failure must not look like a missing user)", name)
			}
		}},
	})
}
