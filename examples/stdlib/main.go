// Command stdlib protects a standard library [http.ServeMux], with Go 1.22
// method and wildcard patterns, with httpauth.
//
//	go run ./examples/stdlib [-addr 127.0.0.1:8080]
//
// Demo users: alice@example.com / wonderland-42 (role user) and
// admin@example.com / s3cret:with:colons (roles user, admin).
// HTTPAUTH_SECRET holds the hex signing key ("httpauth keygen"); unset, a
// random key is used and tokens die with the process.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gohttpauth/httpauth"
)

// User is the application's own user type.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	key, err := keyFromEnv(os.Getenv("HTTPAUTH_SECRET"))
	if err != nil {
		log.Fatalf("HTTPAUTH_SECRET: %v", err)
	}
	h, err := newHandler(context.Background(), key, nil)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s", *addr)
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// keyFromEnv decodes HTTPAUTH_SECRET's value, or makes a random key when
// it is empty.
func keyFromEnv(v string) (httpauth.SigningKey, error) {
	if v == "" {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		return httpauth.SigningKey{ID: "k1", Secret: secret}, nil
	}
	return httpauth.KeyFromHex("k1", v)
}

// newHandler builds the demo users, the authenticator and the routes,
// signing with key. A nil hasher means httpauth.DefaultHasher().
func newHandler(ctx context.Context, key httpauth.SigningKey, hasher httpauth.PasswordHasher) (http.Handler, error) {
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		return nil, err
	}
	users := httpauth.NewMemoryUserStore[User](hasher)
	for _, u := range []struct {
		login, password string
		user            User
		roles           []string
	}{
		{"alice@example.com", "wonderland-42", User{"1", "Alice"}, []string{"user"}},
		{"admin@example.com", "s3cret:with:colons", User{"2", "Admin"}, []string{"user", "admin"}},
	} {
		err := users.Add(ctx, u.login, u.password, httpauth.Account[User]{ID: u.user.ID, Roles: u.roles, User: u.user})
		if err != nil {
			return nil, err
		}
	}
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "stdlib example",
		Hasher: hasher,
	})
	if err != nil {
		return nil, err
	}

	api := http.NewServeMux()
	api.Handle("POST /api/v1/tokens/{$}", auth.TokenHandler())
	api.Handle("DELETE /api/v1/tokens/{$}", auth.RevokeHandler())
	api.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		writeJSON(w, u)
	})
	api.Handle("GET /api/v1/admin", auth.RequireAnyRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		writeJSON(w, map[string]string{"admin": u.Name})
	})))
	api.Handle("GET /api/v1/users/{id}", auth.RequireAnyRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"id": r.PathValue("id")})
	})))

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	root.Handle("/api/v1/", auth.Middleware(api)) // every API route, in one place
	return root, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
