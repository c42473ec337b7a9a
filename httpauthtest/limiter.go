package httpauthtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// TestLimiter runs the httpauth.Limiter conformance suite against the
// limiters that newLimiter returns. The semantics checked are those of
// httpauth.MemoryLimiter: a fixed window starts at a key's first failure;
// once maxFailures failures are recorded the key is refused until the window
// ends, with a retryAfter rounded up to whole seconds and at least one
// second; Reset forgets a key's failures.
//
// newLimiter is called once per subtest, with that subtest's t (so it can
// register cleanups), and must return a limiter that has recorded no
// failures, refuses a key after maxFailures failures and uses window.
// Subtests run in parallel, so newLimiter must be safe to call
// concurrently. The suite uses the real clock: some subtests wait about
// two seconds for windows to end.
func TestLimiter(t *testing.T, newLimiter func(t *testing.T, maxFailures int, window time.Duration) httpauth.Limiter) {
	t.Helper()

	t.Run("UnknownKeyAllowed", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, 3, time.Minute)
		ctx := context.Background()
		for _, key := range []string{"alice", "", "\x00\xff"} {
			limiterAllow(t, l, key, true)
			require.NoError(t, l.Reset(ctx, key), "Reset(%q) of a key with no failures", key)
			limiterAllow(t, l, key, true)
		}
	})

	t.Run("RefusedAfterMaxFailures", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name          string
			max           int
			window        time.Duration
			minRetryAfter time.Duration
			maxRetryAfter time.Duration
		}{
			{"max 1", 1, time.Minute, time.Second, time.Minute},
			{"max 3", 3, time.Minute, time.Second, time.Minute},
			{"max 10", 10, 15 * time.Minute, time.Second, 15 * time.Minute},
			// Sub-second remainders round up to one second.
			{"window under a second", 1, 900 * time.Millisecond, time.Second, time.Second},
			{"fractional window", 2, 90500 * time.Millisecond, time.Second, 91 * time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				l := newLimiter(t, tt.max, tt.window)
				ctx := context.Background()
				const key = "alice"
				for i := range tt.max {
					limiterAllow(t, l, key, true, "after %d of %d failures", i, tt.max)
					require.NoError(t, l.Fail(ctx, key))
				}
				for extra := range 3 {
					ra := limiterAllow(t, l, key, false, "after %d failures, max %d", tt.max+extra, tt.max)
					assert.Zero(t, ra%time.Second, "retryAfter %v is not whole seconds", ra)
					assert.GreaterOrEqual(t, ra, tt.minRetryAfter, "retryAfter")
					assert.LessOrEqual(t, ra, tt.maxRetryAfter, "retryAfter exceeds the window")
					require.NoError(t, l.Fail(ctx, key), "Fail on a refused key")
				}
			})
		}
	})

	t.Run("WindowStartsAtFirstFailure", func(t *testing.T) {
		t.Parallel()
		const window = 2 * time.Second
		l := newLimiter(t, 2, window)
		ctx := context.Background()
		const key = "alice"
		require.NoError(t, l.Fail(ctx, key))
		start := time.Now()
		time.Sleep(1100 * time.Millisecond)
		require.NoError(t, l.Fail(ctx, key))
		// Less than 0.9s of the window is left, which rounds up to 1s; a
		// window restarted or extended by the second failure would say 2s.
		ra := limiterAllow(t, l, key, false)
		assert.Equal(t, time.Second, ra, "retryAfter: the window must not be extended by later failures")

		time.Sleep(time.Until(start.Add(window)))
		suitePoll(t, suiteExpiryGrace, func() (bool, error) {
			ok, _, err := l.Allow(ctx, key)
			return ok, err
		}, "key still refused %v after its window ended", suiteExpiryGrace)
	})

	t.Run("WindowEndFreesKey", func(t *testing.T) {
		t.Parallel()
		const window = time.Second
		l := newLimiter(t, 2, window)
		ctx := context.Background()
		const key, other = "alice", "bob"
		start := time.Now()
		require.NoError(t, l.Fail(ctx, key))
		require.NoError(t, l.Fail(ctx, key))
		limiterAllow(t, l, key, false)

		time.Sleep(time.Until(start.Add(window)))
		suitePoll(t, suiteExpiryGrace, func() (bool, error) {
			ok, _, err := l.Allow(ctx, key)
			return ok, err
		}, "key still refused %v after its window ended", suiteExpiryGrace)

		// The count starts over in a new window.
		require.NoError(t, l.Fail(ctx, key))
		limiterAllow(t, l, key, true, "one failure in a new window")
		require.NoError(t, l.Fail(ctx, key))
		limiterAllow(t, l, key, false, "two failures in a new window")
		limiterAllow(t, l, other, true, "a key with no failures")
	})

	t.Run("ResetFreesKey", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, 3, time.Minute)
		ctx := context.Background()
		const key = "alice"
		for range 3 {
			require.NoError(t, l.Fail(ctx, key))
		}
		limiterAllow(t, l, key, false)
		require.NoError(t, l.Reset(ctx, key))
		limiterAllow(t, l, key, true, "after Reset")

		// Reset forgets the count, not just the refusal.
		require.NoError(t, l.Fail(ctx, key))
		require.NoError(t, l.Fail(ctx, key))
		limiterAllow(t, l, key, true, "two failures after Reset, max 3")
		require.NoError(t, l.Fail(ctx, key))
		limiterAllow(t, l, key, false, "three failures after Reset, max 3")

		require.NoError(t, l.Reset(ctx, key))
		require.NoError(t, l.Reset(ctx, key), "second Reset")
		limiterAllow(t, l, key, true, "after two Resets")
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		t.Parallel()
		const max = 2
		l := newLimiter(t, max, time.Minute)
		ctx := context.Background()
		const locked = "alice"
		others := []string{
			"Alice", "alice ", " alice", "alice\x00", "alicE", "alic",
			"", "a:b", "\x00\xff\xfe", "ünïcödé", "{alice}", "*", "alice*",
			"httpauth:alice", "fail:alice", strings.Repeat("k", 4096),
		}
		for range max {
			require.NoError(t, l.Fail(ctx, locked))
		}
		limiterAllow(t, l, locked, false)
		// One failure each: if any two keys shared a counter, the second
		// would reach max and be refused.
		for _, key := range others {
			limiterAllow(t, l, key, true, "key %q with no failures of its own", key)
			require.NoError(t, l.Fail(ctx, key))
			limiterAllow(t, l, key, true, "key %q after one failure of its own, max %d", key, max)
		}
		require.NoError(t, l.Reset(ctx, others[0]))
		limiterAllow(t, l, locked, false, "Reset of %q freed %q", others[0], locked)
	})

	t.Run("ConcurrentFailsCountExactly", func(t *testing.T) {
		t.Parallel()
		const goroutines = 50
		tests := []struct {
			max  int
			want bool
		}{
			{goroutines, false},
			{goroutines + 1, true},
		}
		for _, tt := range tests {
			l := newLimiter(t, tt.max, time.Minute)
			ctx := context.Background()
			const key = "alice"
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() { errs[i] = l.Fail(ctx, key) })
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "Fail in goroutine %d", i)
			}
			limiterAllow(t, l, key, tt.want, "after %d concurrent failures, max %d", goroutines, tt.max)
			if tt.want {
				require.NoError(t, l.Fail(ctx, key))
				limiterAllow(t, l, key, false, "after %d failures, max %d", goroutines+1, tt.max)
			}
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, 1, time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		const key = "alice"
		ok, _, err := l.Allow(ctx, key)
		assert.Error(t, err, "Allow with a cancelled context")
		assert.False(t, ok, "Allow with a cancelled context must not allow")
		assert.Error(t, l.Fail(ctx, key), "Fail with a cancelled context")
		assert.Error(t, l.Reset(ctx, key), "Reset with a cancelled context")
	})
}

// limiterAllow calls Allow for key, requires no error and the wanted
// verdict, and returns retryAfter. A refusal must carry a retryAfter of at
// least one second. msgAndArgs is a format and its arguments.
func limiterAllow(t testing.TB, l httpauth.Limiter, key string, want bool, msgAndArgs ...any) time.Duration {
	t.Helper()
	var msg string
	if len(msgAndArgs) > 0 {
		format, _ := msgAndArgs[0].(string)
		msg = ": " + fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	shown := key
	if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	ok, retryAfter, err := l.Allow(context.Background(), key)
	require.NoError(t, err, "Allow(%q)%s", shown, msg)
	require.Equal(t, want, ok, "Allow(%q)%s", shown, msg)
	if !ok {
		require.GreaterOrEqual(t, retryAfter, time.Second, "Allow(%q) refused with too short a retryAfter%s", shown, msg)
	}
	return retryAfter
}
