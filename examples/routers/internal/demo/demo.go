// Package demo holds the demo users and authenticator that every router
// example shares, so that each example shows only its router's glue.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gohttpauth/httpauth"
)

// User is the application's own user type; handlers get it back typed.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Users are the demo logins: alice (role user) and admin (user, admin).
var Users = []struct {
	Login, Password string
	User            User
	Roles           []string
}{
	{"alice@example.com", "wonderland-42", User{"1", "Alice"}, []string{"user"}},
	{"admin@example.com", "s3cret:with:colons", User{"2", "Admin"}, []string{"user", "admin"}},
}

// NewAuth returns an authenticator over the demo users, signing with key.
// A nil hasher means httpauth.DefaultHasher() (tests pass a cheap one); a
// nil logger means slog.Default().
func NewAuth(ctx context.Context, key httpauth.SigningKey, hasher httpauth.PasswordHasher, logger *slog.Logger) (*httpauth.Authenticator[User], error) {
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		return nil, err
	}
	users := httpauth.NewMemoryUserStore[User](hasher)
	for _, u := range Users {
		err := users.Add(ctx, u.Login, u.Password, httpauth.Account[User]{ID: u.User.ID, Roles: u.Roles, User: u.User})
		if err != nil {
			return nil, err
		}
	}
	return httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "router example",
		Hasher: hasher,
		Logger: logger,
	})
}

// Key decodes HTTPAUTH_SECRET's value (hex, as "httpauth keygen" prints
// it), or makes a random key when it is empty (tokens then die with the
// process).
func Key(v string) (httpauth.SigningKey, error) {
	if v == "" {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		return httpauth.SigningKey{ID: "k1", Secret: secret}, nil
	}
	return httpauth.KeyFromHex("k1", v)
}

// Main runs an example: it reads -addr and HTTPAUTH_SECRET, builds the
// authenticator, and serves the handler that routes returns.
func Main(routes func(*httpauth.Authenticator[User]) http.Handler) {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	key, err := Key(os.Getenv("HTTPAUTH_SECRET"))
	if err != nil {
		log.Fatalf("HTTPAUTH_SECRET: %v", err)
	}
	auth, err := NewAuth(context.Background(), key, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s (users: alice@example.com / wonderland-42, admin@example.com / s3cret:with:colons)", *addr)
	srv := &http.Server{Addr: *addr, Handler: routes(auth), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// WriteJSON writes v as a JSON 200.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
