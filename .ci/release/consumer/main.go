// Command consumer is the program .ci/release/proxy.sh builds in a module
// outside the repository, from the released modules only (no go.work, no
// replace): the core with a MemoryUserStore, sqlstore on SQLite and
// redisstore. It mints a token through each store's authenticator and
// uses it on a protected route, then prints OK.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore"
	"github.com/gohttpauth/httpauth/sqlstore"
)

type user struct{ Email string }

func main() {
	ctx := context.Background()
	secret := make([]byte, 32)
	_, err := rand.Read(secret)
	check(err)
	key, err := httpauth.KeyFromHex("k1", hex.EncodeToString(secret))
	check(err)
	signer, err := httpauth.NewHMACSigner(key)
	check(err)
	quiet := slog.New(slog.DiscardHandler)

	// The core over a MemoryUserStore: token endpoint, then a protected route.
	mem := httpauth.NewMemoryUserStore[user](nil)
	check(mem.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[user]{
		ID: "1", Roles: []string{"user"}, User: user{Email: "alice@example.com"},
	}))
	memAuth, err := httpauth.New(httpauth.Config[user]{Users: mem, Signer: signer, Realm: "consumer", Logger: quiet})
	check(err)
	defer memAuth.Close()
	fmt.Println("memory store:", roundTrip(memAuth, "alice@example.com", "wonderland-42", func(r *http.Request) string {
		u, _ := memAuth.User(r)
		return u.Email
	}))

	// sqlstore on SQLite.
	dir, err := os.MkdirTemp("", "httpauth-consumer")
	check(err)
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "users.db"))
	check(err)
	defer db.Close()
	check(sqlstore.Migrate(ctx, db, sqlstore.SQLite))
	store, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
	check(err)
	defer store.Close()
	_, err = store.CreateUser(ctx, sqlstore.NewUser{ID: "u1", Login: "carol@example.com", Password: "pässwörd-ü42", Roles: []string{"user"}})
	check(err)
	sqlAuth, err := httpauth.New(httpauth.Config[sqlstore.User]{Users: store, Signer: signer, Realm: "consumer", Logger: quiet})
	check(err)
	defer sqlAuth.Close()
	fmt.Println("sqlstore (SQLite):", roundTrip(sqlAuth, "carol@example.com", "pässwörd-ü42", func(r *http.Request) string {
		u, _ := sqlAuth.User(r)
		return u.Login
	}))

	// redisstore: built against a client (it contacts Redis on first use only).
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	revs, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{CacheSize: -1})
	check(err)
	var _ httpauth.RevocationStore = revs
	fmt.Println("redisstore: revocation store built")
	fmt.Println("OK")
}

// roundTrip gets a token with Basic credentials from the token endpoint and
// returns who the protected route sees with it as a Bearer token.
func roundTrip[U any](a *httpauth.Authenticator[U], login, password string, who func(*http.Request) string) string {
	mux := http.NewServeMux()
	mux.Handle("POST /token", a.TokenHandler())
	mux.Handle("GET /me", a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, who(r))
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/token", nil)
	req.SetBasicAuth(login, password)
	res, err := http.DefaultClient.Do(req)
	check(err)
	var body struct{ Token string }
	check(json.NewDecoder(res.Body).Decode(&body))
	res.Body.Close()
	if res.StatusCode != 200 || body.Token == "" {
		log.Fatalf("token endpoint: status %d", res.StatusCode)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+body.Token)
	res, err = http.DefaultClient.Do(req)
	check(err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != login {
		log.Fatalf("protected route: status %d, %q", res.StatusCode, b)
	}
	return "token minted and verified for " + string(b)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
