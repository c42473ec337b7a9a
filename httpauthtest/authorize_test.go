package httpauthtest_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// appUser is a host application's user type.
type appUser struct{ Email string }

// testKeyHex is a signing secret for tests only.
const testKeyHex = "8f3a1c9e5b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"

// newTestAuth builds an authenticator as a host's tests would: the memory
// store and the cheap hasher, so that setting it up costs no argon2id.
func newTestAuth(t testing.TB) (*httpauth.Authenticator[appUser], *httpauth.MemoryUserStore[appUser]) {
	t.Helper()
	ctx := t.Context()
	users := httpauth.NewMemoryUserStore[appUser](httpauthtest.FastHasher{})
	for _, u := range []struct {
		login, id string
		roles     []string
		disabled  bool
	}{
		{"alice@example.com", "u1", []string{"user"}, false},
		{"bob@example.com", "u2", []string{"user", "admin"}, false},
		{"carol@example.com", "u3", []string{"user"}, true},
	} {
		err := users.Add(ctx, u.login, "wonderland-42", httpauth.Account[appUser]{
			ID: u.id, Roles: u.roles, Disabled: u.disabled, User: appUser{Email: u.login},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	key, err := httpauth.KeyFromHex("k1", testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpauth.New(httpauth.Config[appUser]{
		Users:  users,
		Signer: signer,
		Realm:  "test",
		Hasher: httpauthtest.FastHasher{},
		Logger: slog.New(slog.DiscardHandler), // keep test output readable
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	return auth, users
}

// hostMe is a host's handler: it greets the account the middleware found.
func hostMe(auth *httpauth.Authenticator[appUser]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth.User(r)
		if !ok {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello %s", u.Email)
	})
}

// A host tests its own handlers behind the middleware with Authorize,
// cheaply: no password is hashed, setup included.
func TestAuthorizeHostHandler(t *testing.T) {
	t.Parallel()
	auth, _ := newTestAuth(t)
	mux := http.NewServeMux()
	mux.Handle("GET /me", hostMe(auth))
	mux.Handle("GET /admin", auth.RequireAnyRole("admin")(hostMe(auth)))
	h := auth.Middleware(mux)

	for _, c := range []struct {
		name, path, account string // account "" sends no credentials
		want                int
		body                string
	}{
		{"anonymous", "/me", "", http.StatusUnauthorized, ""},
		{"user", "/me", "u1", http.StatusOK, "hello alice@example.com"},
		{"admin route, user", "/admin", "u1", http.StatusForbidden, ""},
		{"admin route, admin", "/admin", "u2", http.StatusOK, "hello bob@example.com"},
		{"disabled account", "/me", "u3", http.StatusUnauthorized, ""},
		{"unknown account", "/me", "u9", http.StatusUnauthorized, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			if c.account != "" {
				httpauthtest.Authorize(t, auth, r, c.account)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, c.want, w.Body)
			}
			if c.body != "" && w.Body.String() != c.body {
				t.Errorf("body %q, want %q", w.Body, c.body)
			}
		})
	}

	t.Run("replaces other credentials", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.SetBasicAuth("alice@example.com", "wrong")
		httpauthtest.Authorize(t, auth, r, "u2")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Body.String() != "hello bob@example.com" {
			t.Errorf("got %d %q, want 200 for bob", w.Code, w.Body)
		}
	})
}
