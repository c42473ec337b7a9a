package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/redisstore"
)

// newClient connects to the Redis at HTTPAUTH_REDIS_TEST_URL, skipping the
// test when it is unset outside CI.
func newClient(t *testing.T) *redis.Client {
	t.Helper()
	url := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_TEST_URL", "source .ci/services.sh")
	opts, err := redis.ParseURL(url)
	require.NoError(t, err, "parsing HTTPAUTH_REDIS_TEST_URL")
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	require.NoError(t, client.Ping(context.Background()).Err(), "pinging %s", url)
	return client
}

// uniquePrefix returns a key prefix no other test uses, and deletes the
// keys under it when the test ends (on a cluster, from every master). The
// prefix has no hash tag, so on a cluster the keys spread as with
// DefaultPrefix.
func uniquePrefix(t *testing.T, client redis.UniversalClient) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	prefix := "httpauth-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		clean := func(ctx context.Context, node redis.UniversalClient) error {
			iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				_ = node.Del(ctx, iter.Val()).Err()
			}
			return iter.Err()
		}
		var err error
		if c, ok := client.(*redis.ClusterClient); ok {
			err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return clean(ctx, node) })
		} else {
			err = clean(ctx, client)
		}
		if err != nil {
			t.Logf("cleaning up %s*: %v", prefix, err)
		}
	})
	return prefix
}

// backend is a Redis deployment the tests run against.
type backend struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
}

// backends are the standalone Redis (HTTPAUTH_REDIS_TEST_URL) and the
// three-master cluster (HTTPAUTH_REDIS_CLUSTER_TEST_URL); each sub-test
// skips (or fails with CI=true) when its variable is unset.
var backends = []backend{
	{"standalone", func(t *testing.T) redis.UniversalClient { return newClient(t) }},
	{"cluster", func(t *testing.T) redis.UniversalClient { return newClusterClient(t) }},
}

func TestRevocationStoreConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			client := be.client(t)
			for _, tt := range []struct {
				name string
				opts redisstore.RevocationOptions
			}{
				{"cached", redisstore.RevocationOptions{}},
				{"cache off", redisstore.RevocationOptions{CacheSize: -1}},
				{"one-entry cache", redisstore.RevocationOptions{CacheSize: 1}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					httpauthtest.TestRevocationStore(t, func(t *testing.T) httpauth.RevocationStore {
						opts := tt.opts
						opts.Prefix = uniquePrefix(t, client)
						s, err := redisstore.NewRevocationStore(client, opts)
						require.NoError(t, err)
						t.Cleanup(func() { _ = s.Close() })
						return s
					})
				})
			}
		})
	}
}

// TestLimiterConformance runs the suite with the local lock set, without
// it, and with a set of one entry (which overflows, so Allow reads Redis),
// on a standalone Redis and on a cluster.
func TestLimiterConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			client := be.client(t)
			for _, tt := range []struct {
				name  string
				local int
			}{
				{"local locks", 0},
				{"local locks off", -1},
				{"one local lock", 1},
			} {
				t.Run(tt.name, func(t *testing.T) {
					httpauthtest.TestLimiter(t, func(t *testing.T, maxFailures int, window time.Duration) httpauth.Limiter {
						l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{
							Prefix:      uniquePrefix(t, client),
							MaxFailures: maxFailures,
							Window:      window,
							LocalLocks:  tt.local,
						})
						require.NoError(t, err)
						t.Cleanup(func() { _ = l.Close() })
						return l
					})
				})
			}
		})
	}
}

func TestNewRevocationStoreValidates(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = client.Close() })
	tests := []struct {
		name    string
		client  redis.UniversalClient
		opts    redisstore.RevocationOptions
		wantErr string
	}{
		{"zero options", client, redisstore.RevocationOptions{}, ""},
		{"custom prefix", client, redisstore.RevocationOptions{Prefix: "app1:"}, ""},
		{"ExtraTTL 24h", client, redisstore.RevocationOptions{ExtraTTL: 24 * time.Hour}, ""},
		{"nil client", nil, redisstore.RevocationOptions{}, "nil Redis client"},
		{"nil *redis.Client", (*redis.Client)(nil), redisstore.RevocationOptions{}, "nil Redis client"},
		{"long prefix", client, redisstore.RevocationOptions{Prefix: strings.Repeat("p", 257)}, "Prefix"},
		{"negative ExtraTTL", client, redisstore.RevocationOptions{ExtraTTL: -time.Second}, "ExtraTTL"},
		{"huge ExtraTTL", client, redisstore.RevocationOptions{ExtraTTL: 25 * time.Hour}, "ExtraTTL"},
		{"hash-tag prefix", client, redisstore.RevocationOptions{Prefix: "{app}:"}, ""},
		{"unclosed hash tag", client, redisstore.RevocationOptions{Prefix: "app{"}, "hash tag"},
		{"empty hash tag", client, redisstore.RevocationOptions{Prefix: "{}app:"}, "hash tag"},
		{"cache off", client, redisstore.RevocationOptions{CacheSize: -1, MaxSilence: time.Second}, ""},
		{"negative MaxSilence", client, redisstore.RevocationOptions{MaxSilence: -time.Second}, "MaxSilence"},
		{"ReplicaAcks", client, redisstore.RevocationOptions{ReplicaAcks: 2, ReplicaTimeout: time.Second}, ""},
		{"negative ReplicaAcks", client, redisstore.RevocationOptions{ReplicaAcks: -1}, "ReplicaAcks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.NewRevocationStore(tt.client, tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), "error %q lacks the package prefix", err)
				assert.Nil(t, s)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, s)
		})
	}
}

func TestNewLimiterValidates(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = client.Close() })
	tests := []struct {
		name    string
		client  redis.UniversalClient
		opts    redisstore.LimiterOptions
		wantErr string
	}{
		{"zero options", client, redisstore.LimiterOptions{}, ""},
		{"all set", client, redisstore.LimiterOptions{Prefix: "a:", MaxFailures: 5, Window: time.Minute}, ""},
		{"sub-millisecond window", client, redisstore.LimiterOptions{Window: time.Nanosecond}, ""},
		{"nil client", nil, redisstore.LimiterOptions{}, "nil Redis client"},
		{"nil *redis.Client", (*redis.Client)(nil), redisstore.LimiterOptions{}, "nil Redis client"},
		{"negative MaxFailures", client, redisstore.LimiterOptions{MaxFailures: -1}, "MaxFailures"},
		{"negative Window", client, redisstore.LimiterOptions{Window: -time.Second}, "Window"},
		{"long prefix", client, redisstore.LimiterOptions{Prefix: strings.Repeat("p", 257)}, "Prefix"},
		{"hash-tag prefix", client, redisstore.LimiterOptions{Prefix: "{app}:"}, ""},
		{"closed later", client, redisstore.LimiterOptions{Prefix: "a{b:c}:"}, ""},
		{"unclosed hash tag", client, redisstore.LimiterOptions{Prefix: "app{"}, "hash tag"},
		{"empty hash tag", client, redisstore.LimiterOptions{Prefix: "{}app:"}, "hash tag"},
		{"closed before opened", client, redisstore.LimiterOptions{Prefix: "}a{"}, "hash tag"},
		{"local locks off", client, redisstore.LimiterOptions{LocalLocks: -1, MaxSilence: time.Second}, ""},
		{"negative MaxSilence", client, redisstore.LimiterOptions{MaxSilence: -time.Second}, "MaxSilence"},
		{"ReplicaAcks", client, redisstore.LimiterOptions{ReplicaAcks: 1}, ""},
		{"negative ReplicaAcks", client, redisstore.LimiterOptions{ReplicaAcks: -1}, "ReplicaAcks"},
		{"negative ReplicaTimeout", client, redisstore.LimiterOptions{ReplicaTimeout: -time.Second}, "ReplicaTimeout"},
		{"ReplicaAcks on a Ring", redis.NewRing(&redis.RingOptions{}), redisstore.LimiterOptions{ReplicaAcks: 1}, "ReplicaAcks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := redisstore.NewLimiter(tt.client, tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), "error %q lacks the package prefix", err)
				assert.Nil(t, l)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, l)
		})
	}
}

func TestKeyLayout(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = client.Close() })
	id := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	// sha256("alice"), as printed by `printf %s alice | sha256sum`.
	const aliceSum = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"

	tests := []struct {
		prefix, wantPrefix string
	}{
		{"", "httpauth:"},
		{"app1:", "app1:"},
		{"{tenant}", "{tenant}"},
	}
	for _, tt := range tests {
		t.Run(tt.wantPrefix, func(t *testing.T) {
			s, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{Prefix: tt.prefix})
			require.NoError(t, err)
			assert.Equal(t, tt.wantPrefix+"revoked:0123456789abcdeffedcba9876543210", s.Key(id))

			l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: tt.prefix})
			require.NoError(t, err)
			assert.Equal(t, tt.wantPrefix+"fail:{2b}:"+aliceSum, l.Key("alice"))
			assert.NotEqual(t, l.Key("alice"), l.Key("Alice"))
			assert.Len(t, l.Key(strings.Repeat("x", 1<<20)), len(tt.wantPrefix)+len("fail:{xx}:")+64,
				"a long login must not make a long key")
		})
	}
}

func TestRevokeSetsTTL(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		extraTTL time.Duration
		lifetime time.Duration
		min, max time.Duration
	}{
		{"no extra", 0, time.Hour, 59 * time.Minute, time.Hour},
		{"extra", 30 * time.Minute, time.Hour, 89 * time.Minute, 90 * time.Minute},
		// A token just expired by this clock may not be by a slower one.
		{"expired within extra", 30 * time.Minute, -10 * time.Minute, 19 * time.Minute, 20 * time.Minute},
		{"expired beyond extra", time.Minute, -10 * time.Minute, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{
				Prefix: uniquePrefix(t, client), ExtraTTL: tt.extraTTL,
			})
			require.NoError(t, err)
			var id [16]byte
			_, err = rand.Read(id[:])
			require.NoError(t, err)
			require.NoError(t, s.Revoke(ctx, id, time.Now().Add(tt.lifetime)))
			ttl, err := client.PTTL(ctx, s.Key(id)).Result()
			require.NoError(t, err)
			if tt.max == 0 {
				n, err := client.Exists(ctx, s.Key(id)).Result()
				require.NoError(t, err)
				assert.Zero(t, n, "%s was stored for a dead token (PTTL %v)", s.Key(id), ttl)
				return
			}
			assert.GreaterOrEqual(t, ttl, tt.min, "PTTL of %s", s.Key(id))
			assert.LessOrEqual(t, ttl, tt.max, "PTTL of %s", s.Key(id))
		})
	}
}

func TestLimiterDefaults(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: uniquePrefix(t, client)})
	require.NoError(t, err)
	const key = "alice"
	for i := range redisstore.DefaultMaxFailures {
		ok, _, err := l.Allow(ctx, key)
		require.NoError(t, err)
		require.True(t, ok, "refused after %d failures; default max is %d", i, redisstore.DefaultMaxFailures)
		mustReserve(t, l, key)
	}
	ok, ra, err := l.Allow(ctx, key)
	require.NoError(t, err)
	assert.False(t, ok, "allowed after %d failures", redisstore.DefaultMaxFailures)
	assert.Greater(t, ra, redisstore.DefaultFailureWindow-time.Minute)
	assert.LessOrEqual(t, ra, redisstore.DefaultFailureWindow)

	ttl, err := client.PTTL(ctx, l.Key(key)).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, redisstore.DefaultFailureWindow-time.Minute, "PTTL of the counter")
	assert.LessOrEqual(t, ttl, redisstore.DefaultFailureWindow, "PTTL of the counter")
	n, err := client.Get(ctx, l.Key(key)).Int()
	require.NoError(t, err)
	assert.Equal(t, redisstore.DefaultMaxFailures, n, "counter value")
}

func TestLimiterLaterFailuresKeepExpiry(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	const window = time.Minute
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: uniquePrefix(t, client), Window: window})
	require.NoError(t, err)
	mustReserve(t, l, "alice")
	time.Sleep(50 * time.Millisecond)
	mustReserve(t, l, "alice")
	ttl, err := client.PTTL(ctx, l.Key("alice")).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0))
	assert.LessOrEqual(t, ttl, window-50*time.Millisecond, "the second failure restarted the window")
}

// TestLimiterForeignCounter covers counters this package did not write: one
// without an expiry must not lock its key forever, and one that is not a
// number must fail closed.
func TestLimiterForeignCounter(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	const window = time.Minute
	// LocalLocks off: foreign counters are seen only by reading Redis.
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{
		Prefix: uniquePrefix(t, client), MaxFailures: 3, Window: window, LocalLocks: -1,
	})
	require.NoError(t, err)

	t.Run("no expiry, via Allow", func(t *testing.T) {
		require.NoError(t, client.Set(ctx, l.Key("a"), 5, 0).Err())
		ok, ra, err := l.Allow(ctx, "a")
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Equal(t, window, ra)
		ttl, err := client.PTTL(ctx, l.Key("a")).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0), "Allow left the counter without an expiry")
	})
	t.Run("no expiry, via Reserve", func(t *testing.T) {
		require.NoError(t, client.Set(ctx, l.Key("b"), 1, 0).Err())
		mustReserve(t, l, "b")
		ttl, err := client.PTTL(ctx, l.Key("b")).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0), "Reserve left the counter without an expiry")
	})
	t.Run("not a number", func(t *testing.T) {
		require.NoError(t, client.Set(ctx, l.Key("c"), "junk", time.Minute).Err())
		ok, _, err := l.Allow(ctx, "c")
		assert.Error(t, err, "Allow")
		assert.False(t, ok, "Allow on a corrupt counter")
		_, _, err = l.Reserve(ctx, "c")
		assert.Error(t, err, "Reserve")
		assert.NoError(t, l.Reset(ctx, "c"), "Reset deletes whatever is there")
		ok, _, err = l.Allow(ctx, "c")
		require.NoError(t, err)
		assert.True(t, ok, "Allow after Reset")
	})
}

// TestLimiterScriptReload checks that the scripts are loaded again after
// Redis forgets them (SCRIPT FLUSH, a restart or a failover).
func TestLimiterScriptReload(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: uniquePrefix(t, client), MaxFailures: 2})
	require.NoError(t, err)
	mustReserve(t, l, "alice")
	require.NoError(t, client.ScriptFlush(ctx).Err())
	mustReserve(t, l, "alice")
	require.NoError(t, client.ScriptFlush(ctx).Err())
	ok, _, err := l.Allow(ctx, "alice")
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestOutageFailsClosed checks that every method returns an error, and
// never "allowed" or "not revoked", when Redis cannot answer.
func TestOutageFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		client func(t *testing.T) *redis.Client
	}{
		{"closed port", func(t *testing.T) *redis.Client {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close())
			return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
		}},
		{"server never answers", func(t *testing.T) *redis.Client {
			addr := silentServer(t)
			return redis.NewClient(&redis.Options{
				Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
				ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond,
				Protocol: 2, DisableIdentity: true,
			})
		}},
		{"closed client", func(t *testing.T) *redis.Client {
			c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
			require.NoError(t, c.Close())
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := tt.client(t)
			t.Cleanup(func() { _ = client.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			s, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			var id [16]byte
			id[0] = 1
			assertStoreError(t, "Revoke", s.Revoke(ctx, id, time.Now().Add(time.Hour)))
			revoked, err := s.IsRevoked(ctx, id)
			assertStoreError(t, "IsRevoked", err)
			assert.False(t, revoked)

			l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			ok, ra, err := l.Allow(ctx, "alice")
			assertStoreError(t, "Allow", err)
			assert.False(t, ok, "Allow during an outage must not allow")
			assert.Zero(t, ra)
			ok, _, err = l.Reserve(ctx, "alice")
			assertStoreError(t, "Reserve", err)
			assert.False(t, ok, "Reserve during an outage must not allow")
			assertStoreError(t, "Reset", l.Reset(ctx, "alice"))
		})
	}
}

// mustReserve counts one attempt of key and returns whether it was allowed.
func mustReserve(t *testing.T, l *redisstore.Limiter, key string) bool {
	t.Helper()
	ok, _, err := l.Reserve(context.Background(), key)
	require.NoError(t, err, "Reserve(%q)", key)
	return ok
}

func assertStoreError(t *testing.T, what string, err error) {
	t.Helper()
	if assert.Error(t, err, "%s during an outage", what) {
		assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), "%s error %q lacks the package prefix", what, err)
		assert.False(t, errors.Is(err, context.DeadlineExceeded), "%s waited for the test's deadline: %v", what, err)
	}
}

// silentServer listens on a loopback port, accepts connections and never
// answers, like a hung Redis. It returns the address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}
