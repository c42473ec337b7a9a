package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/redisstore"
)

// newClusterClient connects to the Redis Cluster at
// HTTPAUTH_REDIS_CLUSTER_TEST_URL (go-redis's cluster URL form), skipping
// the test when it is unset outside CI.
func newClusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	url := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_CLUSTER_TEST_URL", "source .ci/redis-cluster.sh")
	opts, err := redis.ParseClusterURL(url)
	require.NoError(t, err, "parsing HTTPAUTH_REDIS_CLUSTER_TEST_URL")
	client := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	require.NoError(t, client.Ping(context.Background()).Err(), "pinging %s", url)
	return client
}

// keysPerMaster counts, on each master of the cluster, how many of keys it
// holds, by scanning the master itself (not by asking the client's slot
// map). It returns the counts by master address.
func keysPerMaster(t *testing.T, c *redis.ClusterClient, pattern string, keys map[string]bool) map[string]int {
	t.Helper()
	ctx := context.Background()
	counts := map[string]int{}
	var perNode []struct {
		addr string
		n    int
	}
	ch := make(chan struct {
		addr string
		n    int
	}, 16)
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n := 0
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if keys[iter.Val()] {
				n++
			}
		}
		ch <- struct {
			addr string
			n    int
		}{node.Options().Addr, n}
		return iter.Err()
	}))
	close(ch)
	for r := range ch {
		perNode = append(perNode, r)
	}
	for _, r := range perNode {
		counts[r.addr] += r.n
	}
	return counts
}

// The keys of 300 distinct logins (counters of locked logins and their
// lock indexes) and of 300 revocations spread over the masters of a
// three-master cluster: none holds more than half. A prefix with a hash tag
// of its own puts them all on one master, which shows the count works.
func TestClusterSpreadsKeys(t *testing.T) {
	c := newClusterClient(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		prefix     string
		wantSpread bool
	}{
		{"default prefix", "", true},
		{"hash-tag prefix", "{httpauth-test-spread}:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{Prefix: tt.prefix, MaxFailures: 2, Window: time.Minute, LocalLocks: -1})
			require.NoError(t, err)
			s, err := redisstore.NewRevocationStore(c, redisstore.RevocationOptions{Prefix: tt.prefix, CacheSize: -1})
			require.NoError(t, err)
			prefix := tt.prefix
			if prefix == "" {
				prefix = redisstore.DefaultPrefix
			}
			keys := map[string]bool{}
			t.Cleanup(func() {
				for k := range keys {
					_ = c.Del(context.Background(), k).Err()
				}
			})
			for i := range 300 {
				login := "login:" + randomHex(t) + "@example.com"
				for range 2 {
					ok, _, err := l.Reserve(ctx, login)
					require.NoError(t, err, "Reserve of login %d", i)
					require.True(t, ok)
				}
				ok, _, err := l.Allow(ctx, login)
				require.NoError(t, err)
				require.False(t, ok, "login %d not locked at its limit", i)
				ck := l.Key(login)
				keys[ck] = true
				keys[indexOf(prefix, ck)] = true

				var id [16]byte
				_, err = rand.Read(id[:])
				require.NoError(t, err)
				require.NoError(t, s.Revoke(ctx, id, time.Now().Add(time.Hour)))
				keys[s.Key(id)] = true
			}
			counts := keysPerMaster(t, c, prefix+"*", keys)
			total := 0
			for _, n := range counts {
				total += n
			}
			require.Equal(t, len(keys), total, "keys found on the masters, by master: %v", counts)
			require.GreaterOrEqual(t, len(counts), 3, "masters")
			most := 0
			for _, n := range counts {
				most = max(most, n)
			}
			t.Logf("%d keys by master: %v", total, counts)
			if tt.wantSpread {
				assert.LessOrEqual(t, most, total/2, "one master holds more than half of the keys: %v", counts)
			} else {
				assert.Equal(t, total, most, "a hash-tag prefix should put every key on one master: %v", counts)
			}
		})
	}
}

// Two instances on a cluster, each with its own client: a lock made on A
// is refused on B and lifted by a Reset on A; a revocation on A is refused
// on B. The subscriptions live on whichever node the channel's slot maps
// to, and classic PUBLISH reaches them from the node of every key.
func TestClusterAcrossInstances(t *testing.T) {
	ca, cb := newClusterClient(t), newClusterClient(t)
	prefix := uniquePrefix(t, ca)
	ctx := context.Background()
	la, err := redisstore.NewLimiter(ca, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 2, Window: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = la.Close() })
	lb, err := redisstore.NewLimiter(cb, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 2, Window: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lb.Close() })
	ra, err := redisstore.NewRevocationStore(ca, redisstore.RevocationOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ra.Close() })
	rb, err := redisstore.NewRevocationStore(cb, redisstore.RevocationOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rb.Close() })
	pollUntil(t, "B's limiter live", lb.Live)
	pollUntil(t, "B's revocations live", rb.Live)

	// Logins in many buckets, so their keys and lock notifications come
	// from every master.
	for i := range 30 {
		login := "login:" + randomHex(t)
		ok, _, err := lb.Allow(ctx, login)
		require.NoError(t, err)
		require.True(t, ok, "login %d before any attempt", i)
		for range 2 {
			ok, _, err := la.Reserve(ctx, login)
			require.NoError(t, err)
			require.True(t, ok)
		}
		pollUntil(t, "B refuses a login locked on A", func() bool {
			ok, _, err := lb.Allow(ctx, login)
			return err == nil && !ok
		})
		require.NoError(t, la.Reset(ctx, login))
		pollUntil(t, "B allows a login reset on A", func() bool {
			ok, _, err := lb.Allow(ctx, login)
			return err == nil && ok
		})

		var id [16]byte
		_, err = rand.Read(id[:])
		require.NoError(t, err)
		revoked, err := rb.IsRevoked(ctx, id) // cached "not revoked" on B
		require.NoError(t, err)
		require.False(t, revoked)
		require.NoError(t, ra.Revoke(ctx, id, time.Now().Add(time.Hour)))
		pollUntil(t, "B refuses a token revoked on A", func() bool {
			r, err := rb.IsRevoked(ctx, id)
			return err == nil && r
		})
	}
	assert.True(t, lb.Live(), "B's lock set is complete after resynchronising from every bucket")
}

// A script error is never "allowed": with a key of the wrong type where
// the lock index should be, the attempt that would lock fails, and Allow
// and Reserve go on refusing or failing, on a standalone Redis and on a
// cluster alike.
func TestLimiterScriptErrorFailsClosed(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			client := be.client(t)
			ctx := context.Background()
			prefix := uniquePrefix(t, client)
			l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 1, Window: time.Minute, LocalLocks: -1})
			require.NoError(t, err)
			const login = "login:alice"
			index := indexOf(prefix, l.Key(login))
			require.NoError(t, client.Set(ctx, index, "not a sorted set", time.Minute).Err())

			ok, _, err := l.Reserve(ctx, login)
			require.Error(t, err, "Reserve with a broken lock index")
			assert.False(t, ok, "Reserve answered allowed on a script error")
			ok, _, err = l.Allow(ctx, login)
			if err == nil {
				assert.False(t, ok, "Allow after the failed lock")
			}
			ok, _, err = l.Reserve(ctx, login)
			if err == nil {
				assert.False(t, ok, "Reserve after the failed lock")
			}
		})
	}
}

// indexOf returns the lock index of the counter ck: prefix + "locked:" and
// the counter's "{xx}" bucket.
func indexOf(prefix, ck string) string {
	rest := strings.TrimPrefix(ck, prefix+"fail:")
	return prefix + "locked:" + rest[:len("{xx}")]
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}
