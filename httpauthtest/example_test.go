package httpauthtest_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// A host tests its own handler behind the middleware, cheaply: the memory
// store and the authenticator share FastHasher, so neither creating the
// account nor logging in runs argon2id. In a test, Authorize(t, auth, r,
// "u1") sets the Bearer token that IssueToken mints here.
func Example() {
	type User struct{ Email string }
	users := httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})
	err := users.Add(context.Background(), "alice@example.com", "wonderland-42", httpauth.Account[User]{
		ID: "u1", Roles: []string{"user"}, User: User{Email: "alice@example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	key, err := httpauth.KeyFromHex("k1", "8f3a1c9e5b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a") // tests only
	if err != nil {
		log.Fatal(err)
	}
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "test",
		Hasher: httpauthtest.FastHasher{},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	// The host's handler, behind the middleware.
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		fmt.Fprintf(w, "hello %s", u.Email)
	})
	h := auth.Middleware(me)
	serve := func(r *http.Request) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			fmt.Println(w.Code)
			return
		}
		fmt.Println(w.Code, w.Body.String())
	}

	// No credentials.
	serve(httptest.NewRequest(http.MethodGet, "/me", nil))

	// A password login, cheap with FastHasher.
	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.SetBasicAuth("alice@example.com", "wonderland-42")
	serve(r)

	// A token, as Authorize sets it.
	token, _, err := auth.IssueToken(context.Background(), "u1")
	if err != nil {
		log.Fatal(err)
	}
	r = httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	serve(r)
	// Output:
	// 401
	// 200 hello alice@example.com
	// 200 hello alice@example.com
}
