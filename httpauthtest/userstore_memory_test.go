package httpauthtest_test

import (
	"context"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// hostUser stands for a host application's own user type.
type hostUser struct{ Name string }

// storedAsGiven is a PasswordHasher whose "hash" is the password itself, so
// the harness can create accounts through MemoryUserStore.Add (the store's
// own create, which must refuse a taken ID) with the suite's hashes.
type storedAsGiven struct{}

func (storedAsGiven) Hash(_ context.Context, pw string) (string, error) { return pw, nil }
func (storedAsGiven) Verify(_ context.Context, hash, pw string) (bool, error) {
	return hash == pw, nil
}
func (storedAsGiven) NeedsRehash(context.Context, string) bool { return false }

func TestMemoryUserStore(t *testing.T) {
	httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
		s := httpauth.NewMemoryUserStore[hostUser](storedAsGiven{})
		return httpauthtest.UserStoreHarness[hostUser]{
			Store: s,
			// No check of its own: the suite must see what Add does.
			Add: func(ctx context.Context, login string, acct httpauth.Account[hostUser]) error {
				acct.User = hostUser{Name: login}
				return s.Add(ctx, login, acct.PasswordHash, acct)
			},
			Update: s.Update,
			Delete: s.Delete,
			CheckUser: func(t *testing.T, login string, acct *httpauth.Account[hostUser]) {
				if acct.User.Name != login {
					t.Errorf("User.Name = %q, want %q", acct.User.Name, login)
				}
			},
		}
	})
}

func TestMemoryLifecycleStore(t *testing.T) {
	httpauthtest.TestLifecycleStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
		s := httpauth.NewMemoryUserStore[hostUser](storedAsGiven{})
		return httpauthtest.UserStoreHarness[hostUser]{
			Store: s,
			Add: func(ctx context.Context, login string, acct httpauth.Account[hostUser]) error {
				return s.Add(ctx, login, acct.PasswordHash, acct)
			},
		}
	})
}

func TestMemorySecondFactorStore(t *testing.T) {
	httpauthtest.TestSecondFactorStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
		s := httpauth.NewMemoryUserStore[hostUser](storedAsGiven{})
		return httpauthtest.UserStoreHarness[hostUser]{
			Store: s,
			Add: func(ctx context.Context, login string, acct httpauth.Account[hostUser]) error {
				return s.Add(ctx, login, acct.PasswordHash, acct)
			},
			Delete: s.Delete,
		}
	})
}
