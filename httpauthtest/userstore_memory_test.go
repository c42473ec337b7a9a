package httpauthtest_test

import (
	"context"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// hostUser stands for a host application's own user type.
type hostUser struct{ Name string }

func TestMemoryUserStore(t *testing.T) {
	httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[hostUser] {
		s := httpauth.NewMemoryUserStore[hostUser](nil)
		return httpauthtest.UserStoreHarness[hostUser]{
			Store: s,
			Add: func(ctx context.Context, login string, acct httpauth.Account[hostUser]) error {
				// Put replaces an account with the same ID; the suite wants
				// a taken ID refused, as a database's primary key would.
				if _, err := s.UserByID(ctx, acct.ID); err == nil {
					return errIDTaken
				}
				acct.User = hostUser{Name: login}
				return s.Put(ctx, login, acct)
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

type idTakenError struct{}

func (idTakenError) Error() string { return "ID taken" }

var errIDTaken error = idTakenError{}
