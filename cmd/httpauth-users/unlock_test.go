package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/redisstore"
)

// TestUnlock locks a login in a real Redis limiter, as the servers' does,
// and lifts it with the unlock command, spelled any way.
func TestUnlock(t *testing.T) {
	redisURL := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_TEST_URL", "source .ci/services.sh (as root)")
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "users.db")
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	prefix := "test:unlock:" + hex.EncodeToString(suffix[:]) + ":"
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"-db", dsn, "migrate"}, strings.NewReader(""), &out, &errOut), errOut.String())

	opts, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	lim, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 3, Window: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lim.Close() })
	ctx := context.Background()

	tests := []struct {
		name    string
		args    []string
		env     string // HTTPAUTH_USERS_REDIS
		code    int
		errText string
		unlocks bool
	}{
		{name: "no redis", args: []string{"unlock", "Alice@Example.com"}, code: 2, errText: "own memory"},
		{name: "password in argv", args: []string{"-redis", "redis://:pw@127.0.0.1:1/0", "unlock", "alice@example.com"}, code: 2, errText: "HTTPAUTH_USERS_REDIS"},
		{name: "unreachable redis", args: []string{"-redis", "redis://127.0.0.1:1/0", "unlock", "alice@example.com"}, code: 1, errText: "redis at 127.0.0.1:1"},
		{name: "wrong prefix leaves the lock", args: []string{"-redis", redisURL, "-redis-prefix", prefix + "other:", "unlock", "alice@example.com"}},
		{name: "another spelling, from the environment", env: redisURL, args: []string{"-redis-prefix", prefix, "unlock", "ALICE@example.com"}, unlocks: true},
		{name: "no login", args: []string{"-redis", redisURL, "unlock"}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, lim.Reset(ctx, "login:alice@example.com"))
			for range 3 {
				_, _, err := lim.Reserve(ctx, "login:alice@example.com")
				require.NoError(t, err)
			}
			ok, _, err := lim.Allow(ctx, "login:alice@example.com")
			require.NoError(t, err)
			require.False(t, ok, "locked before the command")

			t.Setenv("HTTPAUTH_USERS_REDIS", tt.env)
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append([]string{"-db", dsn}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			require.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.errText)
			assert.NotContains(t, stderr.String(), ":pw@")
			allowed := func() bool {
				ok, _, err := lim.Allow(ctx, "login:alice@example.com")
				require.NoError(t, err)
				return ok
			}
			if tt.unlocks {
				// This process's limiter learns of the unlock through Redis
				// pub/sub, a moment after the command returns.
				assert.Eventually(t, allowed, 10*time.Second, 5*time.Millisecond, "unlocked after the command")
			} else {
				assert.False(t, allowed(), "still locked after the command")
			}
		})
	}
}
