package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thCountingHasher counts Verify calls and, when gate is set, holds each
// one until gate is closed.
type thCountingHasher struct {
	PasswordHasher
	verifies atomic.Int32
	gate     chan struct{}
}

func (h *thCountingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	h.verifies.Add(1)
	if h.gate != nil {
		<-h.gate
	}
	return h.PasswordHasher.Verify(ctx, hash, pw)
}

// thLimiter wraps a Limiter, counting Reserve calls and failing on demand.
type thLimiter struct {
	Limiter
	reserves          atomic.Int32
	allowErr, resvErr error
}

func (l *thLimiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	l.reserves.Add(1)
	if l.resvErr != nil {
		return true, 0, l.resvErr // ok with an error must still fail closed
	}
	return l.Limiter.Reserve(ctx, key)
}

func (l *thLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l.allowErr != nil {
		return true, 0, l.allowErr
	}
	return l.Limiter.Allow(ctx, key)
}

func thDo(f *fixture, login, pw string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.9:1234"
	req.Header.Set("Authorization", basicHeader(login, pw))
	rec := httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
	return rec
}

// Concurrent guesses for one login are reserved before any hash, so at most
// the limit reach the hasher, whatever the number of hash slots. Every
// Verify is held until all requests have asked the limiter, which makes the
// old check-then-count race (limit + slots − 1 hashes) deterministic.
func TestThrottleConcurrentGuessesHashAtMostLimit(t *testing.T) {
	const guesses, slots, limit = 64, 32, 10
	for _, login := range []string{"alice@example.com", "ghost@example.com"} {
		t.Run(login, func(t *testing.T) {
			t.Parallel()
			hasher := &thCountingHasher{PasswordHasher: cheapHasher}
			lim := &thLimiter{}
			f := newFixture(t, func(c *testSetup[testUser]) {
				c.Hasher = hasher
				c.maxConcurrentHashes = slots
				lim.Limiter = newMemoryLimiter(limit, time.Minute, c.now)
				c.Throttle.Logins = lim
			})
			hasher.verifies.Store(0)
			hasher.gate = make(chan struct{})
			codes := make([]int, guesses)
			var wg sync.WaitGroup
			for i := range guesses {
				wg.Go(func() { codes[i] = thDo(f, login, fmt.Sprintf("guess-%d", i)).Code })
			}
			require.Eventually(t, func() bool { return lim.reserves.Load() == guesses }, 30*time.Second, time.Millisecond)
			close(hasher.gate)
			wg.Wait()
			count := map[int]int{}
			for _, c := range codes {
				count[c]++
			}
			assert.Equal(t, map[int]int{http.StatusUnauthorized: limit, http.StatusTooManyRequests: guesses - limit}, count)
			assert.EqualValues(t, limit, hasher.verifies.Load(), "hashes for one login in one window")
		})
	}
}

// A limiter error is a 500 before any hash, on every path; a refusal is a
// 429 before any hash.
func TestThrottleLimiterErrorRunsNoHash(t *testing.T) {
	errLimiter := errors.New("limiter down")
	tests := []struct {
		name   string
		mutate func(c *testSetup[testUser], l *thLimiter)
		cached bool
		pw     string
	}{
		{"login Reserve error, wrong password", func(c *testSetup[testUser], l *thLimiter) { l.resvErr = errLimiter; c.Throttle.Logins = l }, false, "guess"},
		{"login Reserve error, right password", func(c *testSetup[testUser], l *thLimiter) { l.resvErr = errLimiter; c.Throttle.Logins = l }, false, "wonderland-42"},
		{"client Reserve error", func(c *testSetup[testUser], l *thLimiter) { l.resvErr = errLimiter; c.Throttle.Clients = l }, false, "wonderland-42"},
		{"login Allow error, cached", func(c *testSetup[testUser], l *thLimiter) { l.allowErr = errLimiter; c.Throttle.Logins = l }, true, "wonderland-42"},
		{"client Allow error, cached", func(c *testSetup[testUser], l *thLimiter) { l.allowErr = errLimiter; c.Throttle.Clients = l }, true, "wonderland-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hasher := &thCountingHasher{PasswordHasher: cheapHasher}
			lim := &thLimiter{Limiter: newMemoryLimiter(0, 0, nil)}
			log := newErrorLog(slog.DiscardHandler)
			f := newFixture(t, func(c *testSetup[testUser]) {
				c.Hasher = hasher
				c.Logger = slog.New(log)
				if tt.cached {
					// Cache the credential first with a working limiter.
					c.Throttle.Logins = lim
				}
				tt.mutate(c, lim)
			})
			if tt.cached {
				errA, errR := lim.allowErr, lim.resvErr
				lim.allowErr, lim.resvErr = nil, nil
				require.Equal(t, 200, thDo(f, "alice@example.com", tt.pw).Code)
				lim.allowErr, lim.resvErr = errA, errR
			}
			hasher.verifies.Store(0)
			rec := thDo(f, "alice@example.com", tt.pw)
			assert.Equal(t, http.StatusInternalServerError, rec.Code, rec.Body.String())
			assert.Zero(t, hasher.verifies.Load(), "no hash may run when the limiter fails")
			reported := log.list()
			require.NotEmpty(t, reported)
			assert.ErrorIs(t, reported[len(reported)-1], errLimiter)
		})
	}
}

// A locked login gets a 429 even with the right password that the
// credential cache holds, without a hash (the "429 promise").
func TestThrottleCachedCredentialOfLockedLogin(t *testing.T) {
	t.Parallel()
	hasher := &thCountingHasher{PasswordHasher: cheapHasher}
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Hasher = hasher
		c.Throttle.Logins = newMemoryLimiter(3, time.Minute, c.now)
	})
	require.Equal(t, 200, thDo(f, "alice@example.com", "wonderland-42").Code)
	require.Equal(t, 200, thDo(f, "alice@example.com", "wonderland-42").Code)
	require.EqualValues(t, 1, hasher.verifies.Load(), "the second login is served from the cache")
	for range 3 {
		require.Equal(t, 401, thDo(f, "alice@example.com", "guess").Code)
	}
	hasher.verifies.Store(0)
	rec := thDo(f, "alice@example.com", "wonderland-42")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Zero(t, hasher.verifies.Load())
}

// A success resets the login's count but not the client's: one valid
// account must not refill a client's budget for guessing at others.
func TestThrottleSuccessResetsLoginNotClient(t *testing.T) {
	t.Parallel()
	t.Run("login", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *testSetup[testUser]) {
			c.Throttle.Logins = newMemoryLimiter(2, time.Minute, c.now)
			c.cacheSize = -1
		})
		for range 3 {
			require.Equal(t, 401, thDo(f, "alice@example.com", "guess").Code)
			require.Equal(t, 200, thDo(f, "alice@example.com", "wonderland-42").Code, "a success resets the login's count")
		}
	})
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *testSetup[testUser]) {
			c.disableThrottling = true
			c.Throttle.Clients = newMemoryLimiter(3, time.Minute, c.now)
			c.cacheSize = -1
		})
		require.Equal(t, 401, thDo(f, "bob@example.com", "guess").Code)
		require.Equal(t, 200, thDo(f, "alice@example.com", "wonderland-42").Code)
		require.Equal(t, 401, thDo(f, "bob@example.com", "guess").Code)
		assert.Equal(t, 429, thDo(f, "bob@example.com", "guess").Code, "the success did not refund the client's failures")
	})
}

// The in-memory limiter holds a fixed-size hash of each key, sweeps ended
// windows as it goes, and never holds more than its cap, while keeping its
// semantics (issue 9, defect 12).
func TestMemoryLimiterBoundedMemory(t *testing.T) {
	// Not parallel: it measures the heap.
	t.Run("flood of long keys stays under the cap", func(t *testing.T) {
		now := time.Unix(1_700_000_000, 0)
		l := newMemoryLimiter(defaultMaxFailures, time.Hour, func() time.Time { return now })
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
	t.Run("ended windows are swept without a full shard", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(1_700_000_000, 0)
		l := newMemoryLimiter(3, time.Minute, func() time.Time { return now })
		ctx := context.Background()
		for i := range 1000 {
			_, _, err := l.Reserve(ctx, fmt.Sprint("old-", i))
			require.NoError(t, err)
		}
		require.Equal(t, 1000, l.len())
		now = now.Add(2 * time.Minute)
		// 2000 writes reach every one of the 64 shards (all but surely).
		for i := range 2000 {
			_, _, err := l.Reserve(ctx, fmt.Sprint("new-", i))
			require.NoError(t, err)
		}
		assert.Equal(t, 2000, l.len(), "ended windows still held")
	})
	t.Run("ten attempts lock, window end and Reset free", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(1_700_000_000, 0)
		l := newMemoryLimiter(0, 0, func() time.Time { return now })
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
		now = now.Add(defaultFailureWindow)
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
}

// thGateHasher counts Verify calls in flight and holds them until release.
type thGateHasher struct {
	PasswordHasher
	inflight atomic.Int32
	release  chan struct{}
}

func (h *thGateHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)
	<-h.release
	return false, nil
}

// Hashing is bounded by memory, not only by count: a stored hash that
// declares 256 MiB takes that much of the budget (MaxConcurrentHashes ×
// the policy memory), so it cannot run beside other hashes past it
// (issue 9 hardening).
func TestHashMemoryBudget(t *testing.T) {
	const slots = 4
	policy := func(m int) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", m)
	}
	huge := policy(256 << 10)

	t.Run("New wraps the hasher", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *testSetup[testUser]) { c.maxConcurrentHashes = slots })
		mb, ok := f.auth.cfg.Hasher.(*memBoundHasher)
		require.True(t, ok, "hasher %T", f.auth.cfg.Hasher)
		assert.EqualValues(t, slots*cheapHasher.withDefaults().Memory, mb.sem.size, "budget of an argon2idHasher is slots × its Memory")
		f = newFixture(t, func(c *testSetup[testUser]) {
			c.maxConcurrentHashes = slots
			c.Hasher = &thCountingHasher{PasswordHasher: cheapHasher}
		})
		mb = f.auth.cfg.Hasher.(*memBoundHasher)
		assert.EqualValues(t, slots*defaultArgon2Memory, mb.sem.size, "budget of another hasher is slots × 19 MiB")
	})
	t.Run("policy hashes run side by side", func(t *testing.T) {
		t.Parallel()
		inner := &thGateHasher{release: make(chan struct{})}
		h := newMemBoundHasher(inner, slots)
		var wg sync.WaitGroup
		for range slots {
			wg.Go(func() { _, _ = h.Verify(context.Background(), policy(defaultArgon2Memory), "pw") })
		}
		require.Eventually(t, func() bool { return inner.inflight.Load() == slots }, 30*time.Second, time.Millisecond)
		close(inner.release)
		wg.Wait()
	})
	t.Run("a 256 MiB hash runs alone", func(t *testing.T) {
		t.Parallel()
		inner := &thGateHasher{release: make(chan struct{})}
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
		close(inner.release)
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
	const burst, limit = 32, 10
	synctest.Test(t, func(t *testing.T) {
		hasher := &thCountingHasher{PasswordHasher: cheapHasher}
		lim := &thLimiter{}
		f := newFixture(t, func(c *testSetup[testUser]) {
			c.Hasher = hasher
			lim.Limiter = newMemoryLimiter(limit, time.Minute, c.now)
			c.Throttle.Logins = lim
		})
		hasher.verifies.Store(0)
		hasher.gate = make(chan struct{})
		codes := make([]int, burst)
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() { codes[i] = thDo(f, "alice@example.com", "wonderland-42").Code })
		}
		synctest.Wait() // every request is now blocked: in the hasher, or waiting for it
		close(hasher.gate)
		wg.Wait()
		for i, c := range codes {
			assert.Equal(t, http.StatusOK, c, "request %d", i)
		}
		assert.EqualValues(t, 1, hasher.verifies.Load(), "one hash for one credential")
		assert.EqualValues(t, 1, lim.reserves.Load(), "one attempt counted")
	})
}

// A request waiting for another's verification of the same credential
// gives up with its context: a 503, and it counts no attempt.
func TestThrottleCoalescedWaiterHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hasher := &thCountingHasher{PasswordHasher: cheapHasher}
		lim := &thLimiter{}
		f := newFixture(t, func(c *testSetup[testUser]) {
			c.Hasher = hasher
			lim.Limiter = newMemoryLimiter(10, time.Minute, c.now)
			c.Throttle.Logins = lim
		})
		hasher.verifies.Store(0)
		hasher.gate = make(chan struct{})
		var wg sync.WaitGroup
		var leader int
		wg.Go(func() { leader = thDo(f, "alice@example.com", "wonderland-42").Code })
		synctest.Wait() // the leader holds the verification in the hasher

		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.RemoteAddr = "192.0.2.9:1234"
		req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
		rec := httptest.NewRecorder()
		wg.Go(func() { f.auth.Middleware(&spy{}).ServeHTTP(rec, req) })
		synctest.Wait() // the follower waits for the leader
		cancel()
		synctest.Wait()
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "the waiter gave up")
		close(hasher.gate)
		wg.Wait()
		assert.Equal(t, http.StatusOK, leader)
		assert.EqualValues(t, 1, hasher.verifies.Load())
		assert.EqualValues(t, 1, lim.reserves.Load(), "the waiter counted no attempt")
	})
}
