package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/httpauthtest"
)

// -redis takes go-redis's URL forms for one server, a cluster and Sentinel.
// The clients are only made, never dialled.
func TestRedisURLForms(t *testing.T) {
	tests := []struct {
		name, url string
		want      string // client type
		wantAddrs []string
		wantErr   bool
	}{
		{"one server", "redis://127.0.0.1:6379/2", "*redis.Client", []string{"127.0.0.1:6379"}, false},
		{"cluster", "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "*redis.ClusterClient",
			[]string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}, false},
		{"sentinel", "redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380", "sentinel", nil, false},
		{"cluster with a pool size", "redis://h1:7000?addr=h2:7001&pool_size=3", "*redis.ClusterClient", []string{"h1:7000", "h2:7001"}, false},
		{"unknown parameter", "redis://h1:7000?addr=h2:7001&nonsense=1", "", nil, true},
		{"bad scheme", "http://h1:7000", "", nil, true},
		{"bad query", "redis://h1:7000?addr=%zz", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, info, err := newRedisClient(tt.url)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			assert.Equal(t, redisReadTimeout, info.read, "the example's timeouts, for every client kind")
			switch c := c.(type) {
			case *redis.ClusterClient:
				assert.Equal(t, tt.want, "*redis.ClusterClient")
				assert.Equal(t, tt.wantAddrs, c.Options().Addrs)
				assert.NotZero(t, c.Options().MinIdleConns, "pool warmed per node")
			case *redis.Client:
				if tt.want == "sentinel" {
					// A failover client is a *redis.Client whose address
					// is resolved through Sentinel.
					assert.Contains(t, c.String(), "FailoverClient")
					return
				}
				assert.Equal(t, tt.want, "*redis.Client")
				assert.Equal(t, tt.wantAddrs, []string{c.Options().Addr})
				assert.Equal(t, 2, c.Options().DB)
			default:
				t.Fatalf("client of type %T", c)
			}
		})
	}
}

// Two examples/api instances on a three-master Redis Cluster (and one
// PostgreSQL): a token minted on A and revoked on A is refused on B, and
// failures counted on A throttle the login on B at the limit.
func TestClusterInstances(t *testing.T) {
	clusterURL := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_CLUSTER_TEST_URL", "source .ci/redis-cluster.sh (as root), then go test ./examples/api")
	m := newMultiEnv(t)
	args := slices.Clone(m.args)
	i := slices.Index(args, "-redis")
	require.GreaterOrEqual(t, i, 0)
	args[i+1] = clusterURL
	a := startInstance(t, m.bin, args, m.env)
	b := startInstance(t, m.bin, args, m.env)
	token := func(base, login, pw string) string {
		t.Helper()
		r := call(t, http.MethodPost, base+"/api/v1/tokens/", basic(login, pw))
		require.Equal(t, 200, r.status, r.body)
		return r.body["token"].(string)
	}

	t.Run("a token revoked on A is refused on B", func(t *testing.T) {
		// 20 tokens (two users' token burst): their revocations fall on
		// different masters. The latency is logged for BENCHMARKS.md, as
		// TestPropagation's is; only the refusals are asserted.
		var lat latencies
		for i := range 20 {
			login, pw := "alice@example.com", "wonderland-42"
			if i%2 == 1 {
				login, pw = "carol@example.com", "pässwörd-ü42"
			}
			tok := token(a, login, pw)
			require.Equal(t, 200, call(t, http.MethodGet, b+"/api/v1/me", "Bearer "+tok).status) // warm B
			require.Equal(t, 204, call(t, http.MethodDelete, a+"/api/v1/tokens/", "Bearer "+tok).status)
			lat = append(lat, waitRefused(t, time.Now(), b+"/api/v1/me", "Bearer "+tok))
			eventuallyStatus(t, 401, a+"/api/v1/me", "Bearer "+tok)
		}
		t.Logf("cluster: revoked on A, refused on B after: %s", lat)
	})

	t.Run("failures counted on A throttle the login on B", func(t *testing.T) {
		require.Equal(t, 200, call(t, http.MethodGet, b+"/api/v1/me", basic("admin@example.com", "s3cret:with:colons")).status)
		for i := range 10 {
			require.Equal(t, 401, call(t, http.MethodGet, a+"/api/v1/me", basic("admin@example.com", "guess")).status, "attempt %d", i)
		}
		// B's cached credential is refused once B hears of the lock.
		eventuallyStatus(t, 429, b+"/api/v1/me", basic("admin@example.com", "s3cret:with:colons"))
		assert.Equal(t, 429, call(t, http.MethodGet, a+"/api/v1/me", basic("admin@example.com", "s3cret:with:colons")).status)
		assert.Equal(t, 429, call(t, http.MethodGet, b+"/api/v1/me", basic("admin@example.com", "another guess")).status)
	})
}
