package httpauthtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

func TestFastHasher(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var h httpauth.PasswordHasher = httpauthtest.FastHasher{}
	hash, err := h.Hash(ctx, "wonderland-42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$test$") {
		t.Errorf("hash %q does not start with $test$", hash)
	}
	again, err := h.Hash(ctx, "wonderland-42")
	if err != nil {
		t.Fatal(err)
	}
	if again == hash {
		t.Errorf("two hashes of one password are equal (%q): no salt", hash)
	}
	if h.NeedsRehash(ctx, hash) {
		t.Error("NeedsRehash of its own hash = true")
	}

	for _, c := range []struct {
		name, hash, password string
		want                 bool
		untrusted            bool
	}{
		{"right password", hash, "wonderland-42", true, false},
		{"other salt", again, "wonderland-42", true, false},
		{"wrong password", hash, "wonderland-43", false, false},
		{"prefix of the password", hash, "wonderland-4", false, false},
		{"empty password", hash, "", false, false},
		{"empty hash", "", "wonderland-42", false, true},
		{"argon2id hash", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", false, true},
		{"no sum", "$test$" + strings.Split(hash, "$")[2], "wonderland-42", false, true},
		{"short sum", hash[:len(hash)-2], "wonderland-42", false, true},
		{"padded base64", hash + "=", "wonderland-42", false, true},
		{"extra field", hash + "$x", "wonderland-42", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ok, err := h.Verify(t.Context(), c.hash, c.password)
			if c.untrusted {
				if !errors.Is(err, httpauth.ErrUntrustedHash) || ok {
					t.Errorf("Verify = %v, %v; want false and ErrUntrustedHash", ok, err)
				}
				return
			}
			if err != nil || ok != c.want {
				t.Errorf("Verify = %v, %v; want %v, nil", ok, err, c.want)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want context.Canceled", err)
		}
		if ok, err := h.Verify(ctx, hash, "wonderland-42"); ok || !errors.Is(err, context.Canceled) {
			t.Errorf("Verify = %v, %v; want false, context.Canceled", ok, err)
		}
	})
}

// FastHasher serves a memory store and the authenticator end to end: a
// password login through the middleware.
func TestFastHasherPasswordLogin(t *testing.T) {
	t.Parallel()
	auth, _ := newTestAuth(t)
	h := auth.Middleware(hostMe(auth))
	for _, c := range []struct {
		name, login, password string
		want                  int
	}{
		{"right password", "alice@example.com", "wonderland-42", http.StatusOK},
		{"wrong password", "alice@example.com", "wonderland-43", http.StatusUnauthorized},
		{"unknown login", "mallory@example.com", "wonderland-42", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/me", nil)
			r.SetBasicAuth(c.login, c.password)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("status %d, want %d; body %s", w.Code, c.want, w.Body)
			}
		})
	}
}
