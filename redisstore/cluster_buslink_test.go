package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/redisstore"
)

// busLinkRecheck is the test's ClusterRecheck: short, so that the test is
// quick; its bound is pollUntil's 30 s, not this.
const busLinkRecheck = 300 * time.Millisecond

// TestClusterBusLinkReset resets the cluster bus link between the master
// that holds a key and the master of the subscription's channel, then
// revokes (locks) on instance A at once. The notification crosses the bus
// and is dropped with the link (redis-cli showed 46 of 50 such PUBLISHes
// lost), while instance B's subscription, on a healthy connection, hears
// nothing amiss: only ClusterRecheck brings the change to B. With
// ClusterRecheck off, B answers from its stale cache for as long as it
// likes and the test fails.
func TestClusterBusLinkReset(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	setup := startClusterSetup(t)
	ctx := context.Background()
	ca, cb := setup.newClient(t), setup.newClient(t)

	// kill drops node's bus link to sub, the master that holds a
	// subscription, over which node sends what it publishes. It first waits
	// for the link a previous kill dropped to be back: Redis 7.0 crashes on
	// DEBUG CLUSTERLINK KILL while there is none.
	kill := func(node, sub *clusterProc) {
		t.Helper()
		subID, err := sub.client.ClusterMyID(ctx).Result()
		require.NoError(t, err)
		pollUntil(t, "the bus link back", func() bool {
			links, err := node.client.ClusterLinks(ctx).Result()
			return err == nil && slices.ContainsFunc(links, func(l redis.ClusterLink) bool {
				return l.Direction == "to" && l.Node == subID
			})
		})
		require.NoError(t, node.client.Do(ctx, "DEBUG", "CLUSTERLINK", "KILL", "to", subID).Err())
	}
	// Keys to use: on a master other than the subscription's, so that
	// their notifications cross the bus.
	const n = 5

	t.Run("revocation", func(t *testing.T) {
		opts := redisstore.RevocationOptions{ClusterRecheck: busLinkRecheck}
		a, err := redisstore.NewRevocationStore(ca, opts)
		require.NoError(t, err)
		b, err := redisstore.NewRevocationStore(cb, opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		pollUntil(t, "both stores live", func() bool { return a.Live() && b.Live() })
		sub := setup.masterOf(t, setup.nodes[0], keySlot(redisstore.DefaultPrefix+"revoked"))

		var ids [][16]byte
		for len(ids) < n {
			var id [16]byte
			_, _ = rand.Read(id[:])
			m := setup.masterOf(t, setup.nodes[0], keySlot(b.Key(id)))
			if m == sub {
				continue
			}
			revoked, err := b.IsRevoked(ctx, id) // B now holds "not revoked"
			require.NoError(t, err)
			require.False(t, revoked)
			kill(m, sub)
			require.NoError(t, a.Revoke(ctx, id, time.Now().Add(time.Hour)))
			ids = append(ids, id)
		}
		for i, id := range ids {
			pollUntil(t, fmt.Sprintf("revocation %d of %d refused on B", i+1, n), func() bool {
				revoked, err := b.IsRevoked(ctx, id)
				return err == nil && revoked
			})
		}
	})

	t.Run("lock", func(t *testing.T) {
		opts := redisstore.LimiterOptions{MaxFailures: 1, ClusterRecheck: busLinkRecheck}
		a, err := redisstore.NewLimiter(ca, opts)
		require.NoError(t, err)
		b, err := redisstore.NewLimiter(cb, opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		pollUntil(t, "both limiters live", func() bool { return a.Live() && b.Live() })
		sub := setup.masterOf(t, setup.nodes[0], keySlot(redisstore.DefaultPrefix+"locks"))

		var logins []string
		for i := 0; len(logins) < n; i++ {
			login := fmt.Sprintf("login:bus-%d@example.com", i)
			m := setup.masterOf(t, setup.nodes[0], keySlot(b.Key(login)))
			if m == sub {
				continue
			}
			ok, _, err := b.Allow(ctx, login) // from B's local set: not locked
			require.NoError(t, err)
			require.True(t, ok)
			kill(m, sub)
			_, _, err = a.Reserve(ctx, login) // the one failure allowed: locked
			require.NoError(t, err)
			ok, _, err = a.Allow(ctx, login)
			require.NoError(t, err)
			require.False(t, ok, "A: %s not locked", login)
			logins = append(logins, login)
		}
		for i, login := range logins {
			pollUntil(t, fmt.Sprintf("lock %d of %d refused on B", i+1, n), func() bool {
				ok, _, err := b.Allow(ctx, login)
				return err == nil && !ok
			})
		}
	})
}

// TestClusterRecheckDefaults checks where ClusterRecheck applies: on a
// cluster client, by default; never on a standalone or Sentinel client,
// whose subscription connection carries every notification.
func TestClusterRecheckDefaults(t *testing.T) {
	t.Parallel()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	sentinel := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = cluster.Close(); _ = single.Close(); _ = sentinel.Close() })
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		option time.Duration
		want   time.Duration
	}{
		{"cluster, default", cluster, 0, redisstore.DefaultClusterRecheck},
		{"cluster, set", cluster, 2 * time.Second, 2 * time.Second},
		{"cluster, off", cluster, -1, 0},
		{"standalone", single, 0, 0},
		{"standalone, set", single, 2 * time.Second, 0},
		{"sentinel", sentinel, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := redisstore.NewRevocationStore(tc.client, redisstore.RevocationOptions{ClusterRecheck: tc.option})
			require.NoError(t, err)
			lim, err := redisstore.NewLimiter(tc.client, redisstore.LimiterOptions{ClusterRecheck: tc.option})
			require.NoError(t, err)
			require.Equal(t, tc.want, redisstore.ClusterRecheckOf(rev), "revocation store")
			require.Equal(t, tc.want, redisstore.ClusterRecheckOf(lim), "limiter")
		})
	}
}
