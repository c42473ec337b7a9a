package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore"
)

// startRedis stands in for a real Redis server so that the examples run
// anywhere; in production, point the client at your server.
func startRedis() (addr string, stop func()) {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	return mr.Addr(), mr.Close
}

// Every instance of a service gives its authenticator the same Redis stores,
// so a token revoked or a login locked on one is so on all.
func Example() {
	addr, stop := startRedis()
	defer stop()
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()

	revocations, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer revocations.Close()
	logins, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer logins.Close()

	key, err := httpauth.KeyFromHex("k1", "3f0c4c52e9d37bc69745fad567b37314fa088489699703d07f57b14888d20813")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := httpauth.NewHMACSigner(key)
	if err != nil {
		log.Fatal(err)
	}
	_, err = httpauth.New(httpauth.Config[struct{}]{
		Users:       httpauth.NewMemoryUserStore[struct{}](nil),
		Signer:      signer,
		Realm:       "api",
		Revocations: revocations,
		Throttle:    httpauth.Throttle{Logins: logins},
	})
	fmt.Println("configured:", err == nil)
	// Output:
	// configured: true
}

func ExampleNewRevocationStore() {
	addr, stop := startRedis()
	defer stop()
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()

	revocations, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{
		Prefix: "myapp:",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer revocations.Close() // stops its subscriber

	ctx := context.Background()
	var id [16]byte // a token's jti; the signer makes random ones
	id[0] = 0x2a
	// The key expires with the token, so nothing needs cleaning up.
	if err := revocations.Revoke(ctx, id, time.Now().Add(15*time.Minute)); err != nil {
		log.Fatal(err)
	}
	revoked, err := revocations.IsRevoked(ctx, id)
	if err != nil {
		log.Fatal(err) // fail closed: treat the token as unusable
	}
	fmt.Println("key:", revocations.Key(id))
	fmt.Println("revoked:", revoked)
	// Output:
	// key: myapp:revoked:2a000000000000000000000000000000
	// revoked: true
}

func ExampleNewLimiter() {
	addr, stop := startRedis()
	defer stop()
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()

	limiter, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{
		Prefix:      "myapp:",
		MaxFailures: 3,
		Window:      15 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer limiter.Close() // stops its subscriber

	ctx := context.Background()
	for range 3 {
		// Before hashing a password: count the attempt, or refuse it.
		if _, _, err := limiter.Reserve(ctx, "alice"); err != nil {
			log.Fatal(err) // fail closed: answer 500, run no hash
		}
	}
	ok, retryAfter, err := limiter.Allow(ctx, "alice")
	if err != nil {
		log.Fatal(err) // fail closed: answer 500, never "allowed"
	}
	fmt.Println("alice allowed:", ok, "retry after:", retryAfter)

	ok, _, _ = limiter.Allow(ctx, "bob")
	fmt.Println("bob allowed:", ok)

	// A successful login forgets the attempts.
	if err := limiter.Reset(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	ok, _, _ = limiter.Allow(ctx, "alice")
	fmt.Println("alice allowed after Reset:", ok)
	// Output:
	// alice allowed: false retry after: 15m0s
	// bob allowed: true
	// alice allowed after Reset: true
}
