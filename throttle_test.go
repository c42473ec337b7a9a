package httpauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func thDo(f *env, login, pw string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.9:1234"
	req.Header.Set("Authorization", basicHeader(login, pw))
	rec := httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
	return rec
}

// gatedEnv is an env whose hasher counts every Verify and holds it until
// open is called, and whose login limiter (limit per minute) counts
// reservations, so a test can line up concurrent requests exactly.
type gatedEnv struct {
	*env
	hasher  *countingHasher
	limiter *testLimiter
	open    func()
}

// newGatedEnv builds a gatedEnv; slots 0 keeps the default hashing slots.
// It must run in a synctest bubble, like newEnv.
func newGatedEnv(t *testing.T, limit, slots int) *gatedEnv {
	t.Helper()
	hasher := &countingHasher{inner: cheapHasher}
	lim := &testLimiter{Limiter: newMemoryLimiter(limit, time.Minute)}
	f := newEnv(t, func(c *testSetup[testUser]) {
		c.Hasher = hasher
		if slots > 0 {
			c.maxConcurrentHashes = slots
		}
		c.Throttle.Logins = lim
	})
	hasher.verifies.Store(0)
	gate := make(chan struct{})
	hasher.hook = func(string) { <-gate }
	return &gatedEnv{env: f, hasher: hasher, limiter: lim, open: sync.OnceFunc(func() { close(gate) })}
}

// Concurrent guesses for one login are reserved before any hash, so at most
// the limit reach the hasher, whatever the number of hash slots. Every
// Verify is held until all requests have asked the limiter (synctest.Wait),
// which makes the old check-then-count race (limit + slots − 1 hashes)
// deterministic.
func TestThrottleConcurrentGuessesHashAtMostLimit(t *testing.T) {
	t.Parallel()
	const guesses, slots, limit = 64, 32, 10
	for _, login := range []string{"alice", "ghost"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := newGatedEnv(t, limit, slots)
				hasher := g.hasher
				codes := make([]int, guesses)
				var wg sync.WaitGroup
				for i := range guesses {
					wg.Go(func() { codes[i] = thDo(g.env, login, fmt.Sprintf("guess-%d", i)).Code })
				}
				synctest.Wait() // every request has asked the limiter: it is refused, or in the hasher, or waiting for it
				require.EqualValues(t, guesses, g.limiter.reserves.Load())
				g.open()
				wg.Wait()
				count := map[int]int{}
				for _, c := range codes {
					count[c]++
				}
				assert.Equal(t, map[int]int{http.StatusUnauthorized: limit, http.StatusTooManyRequests: guesses - limit}, count)
				assert.EqualValues(t, limit, hasher.verifies.Load(), "hashes for one login in one window")
			})
		})
	}
}

// A limiter error is a 500 before any hash, on every path; a refusal is a
// 429 before any hash.
func TestThrottleLimiterErrorRunsNoHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *testSetup[testUser], l *testLimiter)
		cached bool
		pw     string
	}{
		{"login Reserve error, wrong password", func(c *testSetup[testUser], l *testLimiter) { l.reserve = "error"; c.Throttle.Logins = l }, false, "guess"},
		{"login Reserve error, right password", func(c *testSetup[testUser], l *testLimiter) { l.reserve = "error"; c.Throttle.Logins = l }, false, alicePW},
		{"client Reserve error", func(c *testSetup[testUser], l *testLimiter) { l.reserve = "error"; c.Throttle.Clients = l }, false, alicePW},
		{"login Allow error, cached", func(c *testSetup[testUser], l *testLimiter) { l.allow = "error"; c.Throttle.Logins = l }, true, alicePW},
		{"client Allow error, cached", func(c *testSetup[testUser], l *testLimiter) { l.allow = "error"; c.Throttle.Clients = l }, true, alicePW},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				hasher := &countingHasher{inner: cheapHasher}
				lim := &testLimiter{Limiter: newMemoryLimiter(0, 0)}
				log := newErrorLog(slog.DiscardHandler)
				f := newEnv(t, func(c *testSetup[testUser]) {
					c.Hasher = hasher
					c.Logger = slog.New(log)
					if tt.cached {
						// Cache the credential first with a working limiter.
						c.Throttle.Logins = lim
					}
					tt.mutate(c, lim)
				})
				if tt.cached {
					allow, reserve := lim.allow, lim.reserve
					lim.allow, lim.reserve = "", ""
					require.Equal(t, 200, thDo(f, "alice", tt.pw).Code)
					lim.allow, lim.reserve = allow, reserve
				}
				hasher.verifies.Store(0)
				rec := thDo(f, "alice", tt.pw)
				assert.Equal(t, http.StatusInternalServerError, rec.Code, rec.Body.String())
				assert.Zero(t, hasher.verifies.Load(), "no hash may run when the limiter fails")
				reported := log.list()
				require.NotEmpty(t, reported)
				assert.ErrorIs(t, reported[len(reported)-1], errFault)
			})
		})
	}
}

// A locked login gets a 429 even with the right password that the
// credential cache holds, without a hash (the "429 promise").
func TestThrottleCachedCredentialOfLockedLogin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hasher := &countingHasher{inner: cheapHasher}
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.Hasher = hasher
			c.Throttle.Logins = newMemoryLimiter(3, time.Minute)
		})
		require.Equal(t, 200, thDo(f, "alice", alicePW).Code)
		require.Equal(t, 200, thDo(f, "alice", alicePW).Code)
		require.EqualValues(t, 1, hasher.verifies.Load(), "the second login is served from the cache")
		for range 3 {
			require.Equal(t, 401, thDo(f, "alice", "guess").Code)
		}
		hasher.verifies.Store(0)
		rec := thDo(f, "alice", alicePW)
		assert.Equal(t, http.StatusTooManyRequests, rec.Code)
		assert.NotEmpty(t, rec.Header().Get("Retry-After"))
		assert.Zero(t, hasher.verifies.Load())
	})
}

// A success resets the login's count but not the client's: one valid
// account must not refill a client's budget for guessing at others.
func TestThrottleSuccessResetsLoginNotClient(t *testing.T) {
	t.Parallel()
	t.Run("login", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t, func(c *testSetup[testUser]) {
				c.Throttle.Logins = newMemoryLimiter(2, time.Minute)
				c.cacheSize = -1
			})
			for range 3 {
				require.Equal(t, 401, thDo(f, "alice", "guess").Code)
				require.Equal(t, 200, thDo(f, "alice", alicePW).Code, "a success resets the login's count")
			}
		})
	})
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t, func(c *testSetup[testUser]) {
				c.disableThrottling = true
				c.Throttle.Clients = newMemoryLimiter(3, time.Minute)
				c.cacheSize = -1
			})
			require.Equal(t, 401, thDo(f, "bob", "guess").Code)
			require.Equal(t, 200, thDo(f, "alice", alicePW).Code)
			require.Equal(t, 401, thDo(f, "bob", "guess").Code)
			assert.Equal(t, 429, thDo(f, "bob", "guess").Code, "the success did not refund the client's failures")
		})
	})
}

// The in-memory limiter holds a fixed-size hash of each key, sweeps ended
// windows as it goes, and never holds more than its cap, while keeping its
// semantics.
func TestMemoryLimiterBoundedMemory(t *testing.T) {
	// Not parallel: it measures the heap.
	// In a bubble the clock stands still: no window ends during the flood.
	t.Run("flood of long keys stays under the cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newMemoryLimiter(defaultMaxFailures, time.Hour)
			ctx := context.Background()
			victim := "login:" + strings.Repeat("v", 512)
			for range defaultMaxFailures {
				ok, _, err := l.Reserve(ctx, victim)
				require.NoError(t, err)
				require.True(t, ok)
			}
			pad := strings.Repeat("x", 500)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range memoryLimiterMaxEntries + memoryLimiterMaxEntries/4 {
				ok, _, err := l.Reserve(ctx, fmt.Sprintf("login:%s%d", pad, i))
				require.NoError(t, err)
				require.True(t, ok)
			}
			assert.LessOrEqual(t, l.len(), memoryLimiterMaxEntries, "entries")
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			assert.LessOrEqual(t, grown, int64(memoryLimiterMaxBytes), "heap held by a full limiter")
			// Locked keys are dropped last: the victim is still locked.
			ok, ra, err := l.Reserve(ctx, victim)
			require.NoError(t, err)
			assert.False(t, ok, "the flood unlocked a locked key")
			assert.Positive(t, ra)
			runtime.KeepAlive(l)
		})
	})
	t.Run("ended windows are swept without a full shard", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			l := newMemoryLimiter(3, time.Minute)
			ctx := context.Background()
			for i := range 1000 {
				_, _, err := l.Reserve(ctx, fmt.Sprint("old-", i))
				require.NoError(t, err)
			}
			require.Equal(t, 1000, l.len())
			time.Sleep(2 * time.Minute)
			// 2000 writes reach every one of the 64 shards (all but surely).
			for i := range 2000 {
				_, _, err := l.Reserve(ctx, fmt.Sprint("new-", i))
				require.NoError(t, err)
			}
			assert.Equal(t, 2000, l.len(), "ended windows still held")
		})
	})
	t.Run("ten attempts lock, window end and Reset free", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			l := newMemoryLimiter(0, 0)
			ctx := context.Background()
			key := "login:" + strings.Repeat("a", 4096)
			for i := range defaultMaxFailures {
				ok, _, err := l.Reserve(ctx, key)
				require.NoError(t, err)
				require.True(t, ok, "attempt %d", i+1)
			}
			for _, ask := range []func(context.Context, string) (bool, time.Duration, error){l.Reserve, l.Allow} {
				ok, ra, err := ask(ctx, key)
				require.NoError(t, err)
				assert.False(t, ok)
				assert.Equal(t, defaultFailureWindow, ra)
			}
			ok, _, err := l.Allow(ctx, key[:len(key)-1])
			require.NoError(t, err)
			assert.True(t, ok, "a different key")
			time.Sleep(defaultFailureWindow)
			ok, _, err = l.Reserve(ctx, key)
			require.NoError(t, err)
			assert.True(t, ok, "window ended")
			for range defaultMaxFailures {
				_, _, _ = l.Reserve(ctx, key)
			}
			require.NoError(t, l.Reset(ctx, key))
			ok, _, err = l.Allow(ctx, key)
			require.NoError(t, err)
			assert.True(t, ok, "after Reset")
		})
	})
}

// Hashing is bounded by memory, not only by count: a stored hash that
// declares 256 MiB takes that much of the budget (MaxConcurrentHashes ×
// the policy memory), so it cannot run beside other hashes past it.
func TestHashMemoryBudget(t *testing.T) {
	t.Parallel()
	const slots = 4
	policy := func(m int) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", m)
	}
	huge := policy(256 << 10)

	t.Run("New wraps the hasher", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = slots; c.Hasher = cheapHasher })
			mb, ok := f.auth.cfg.Hasher.(*memBoundHasher)
			require.True(t, ok, "hasher %T", f.auth.cfg.Hasher)
			assert.EqualValues(t, slots*cheapHasher.withDefaults().Memory, mb.sem.size, "budget of an argon2idHasher is slots × its Memory")
			f = newEnv(t, func(c *testSetup[testUser]) {
				c.maxConcurrentHashes = slots
				c.Hasher = &countingHasher{inner: cheapHasher}
			})
			mb = f.auth.cfg.Hasher.(*memBoundHasher)
			assert.EqualValues(t, slots*defaultArgon2Memory, mb.sem.size, "budget of another hasher is slots × 19 MiB")
		})
	})
	t.Run("policy hashes run side by side", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		inner := &countingHasher{hook: func(string) { <-release }}
		h := newMemBoundHasher(inner, slots)
		var wg sync.WaitGroup
		for range slots {
			wg.Go(func() { _, _ = h.Verify(context.Background(), policy(defaultArgon2Memory), "pw") })
		}
		require.Eventually(t, func() bool { return inner.inflight.Load() == slots }, 30*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
	})
	t.Run("a 256 MiB hash runs alone", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		inner := &countingHasher{hook: func(string) { <-release }}
		h := newMemBoundHasher(inner, slots)
		assert.EqualValues(t, h.sem.size, h.weight(huge), "capped at the whole budget")
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = h.Verify(context.Background(), huge, "pw") })
		require.Eventually(t, func() bool { return inner.inflight.Load() == 1 }, 30*time.Second, time.Millisecond)
		for _, other := range []string{policy(defaultArgon2Memory), "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "junk"} {
			wg.Go(func() { _, _ = h.Verify(context.Background(), other, "pw") })
		}
		require.Eventually(t, func() bool { return h.sem.waiting() == 3 }, 30*time.Second, time.Millisecond)
		assert.EqualValues(t, 1, inner.inflight.Load(), "nothing runs beside the huge hash")
		// A waiter whose request goes away leaves without a hash.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.Verify(ctx, policy(64), "pw")
		assert.ErrorIs(t, err, context.Canceled)
		close(release)
		wg.Wait()
		assert.Zero(t, h.sem.cur, "budget returned")
	})
	t.Run("declared memory", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			hash string
			m    uint64
			ok   bool
		}{
			{policy(19456), 19456, true},
			{huge, 256 << 10, true},
			{"$argon2id$v=19$m=07,t=2,p=1$x$y", 0, false},
			{"$argon2i$v=19$m=64,t=2,p=1$x$y", 0, false},
			{"$2b$10$x", 0, false},
			{"", 0, false},
		} {
			m, ok := argon2DeclaredMemory(tt.hash)
			assert.Equal(t, tt.ok, ok, tt.hash)
			assert.Equal(t, tt.m, m, tt.hash)
		}
	})
}

// A burst of requests with the right password and no cached verification
// (a client's connections after its cache entry expired) runs one hash and
// is never throttled by itself: the requests wait for one verification
// instead of each reserving an attempt.
func TestThrottleRightPasswordBurstIsNotThrottled(t *testing.T) {
	t.Parallel()
	const burst, limit = 32, 10
	synctest.Test(t, func(t *testing.T) {
		g := newGatedEnv(t, limit, 0)
		codes := make([]int, burst)
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() { codes[i] = thDo(g.env, "alice", alicePW).Code })
		}
		synctest.Wait() // every request is now blocked: in the hasher, or waiting for it
		g.open()
		wg.Wait()
		for i, c := range codes {
			assert.Equal(t, http.StatusOK, c, "request %d", i)
		}
		assert.EqualValues(t, 1, g.hasher.verifies.Load(), "one hash for one credential")
		assert.EqualValues(t, 1, g.limiter.reserves.Load(), "one attempt counted")
	})
}

// A request waiting for another's verification of the same credential
// gives up with its context: a 503, and it counts no attempt.
func TestThrottleCoalescedWaiterHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := newGatedEnv(t, 10, 0)
		var wg sync.WaitGroup
		var leader int
		wg.Go(func() { leader = thDo(g.env, "alice", alicePW).Code })
		synctest.Wait() // the leader holds the verification in the hasher

		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.RemoteAddr = "192.0.2.9:1234"
		req.Header.Set("Authorization", basicHeader("alice", alicePW))
		rec := httptest.NewRecorder()
		wg.Go(func() { g.auth.Middleware(&spy{}).ServeHTTP(rec, req) })
		synctest.Wait() // the follower waits for the leader
		cancel()
		synctest.Wait()
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "the waiter gave up")
		g.open()
		wg.Wait()
		assert.Equal(t, http.StatusOK, leader)
		assert.EqualValues(t, 1, g.hasher.verifies.Load())
		assert.EqualValues(t, 1, g.limiter.reserves.Load(), "the waiter counted no attempt")
	})
}
