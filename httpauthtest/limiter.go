package httpauthtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// TestLimiter runs the httpauth.Limiter conformance suite against the
// limiters that newLimiter returns. The semantics checked are those of
// httpauth.NewMemoryLimiter's: a fixed window starts at a key's first reserved
// attempt; Reserve counts an attempt and refuses once maxFailures attempts
// are counted, until the window ends, with a retryAfter rounded up to whole
// seconds and at least one second; Allow answers the same without
// counting; Reset forgets a key's attempts. N concurrent Reserves of one
// key give exactly min(N, maxFailures) oks.
//
// newLimiter is called once per subtest, with that subtest's t (so it can
// register cleanups), and must return a limiter that has counted nothing,
// refuses a key after maxFailures attempts and uses window. Subtests run
// in parallel, so newLimiter must be safe to call concurrently. The suite
// uses the real clock: some subtests wait about two seconds for windows to
// end, and retry (or, after several tries, skip) a check that the machine
// was too slow to make before its window ended.
//
// Its subtests, for [Skip], are UnknownKeyAllowed, RefusedAfterMaxAttempts,
// AllowDoesNotCount, WindowStartsAtFirstAttempt, WindowEndFreesKey,
// ResetFreesKey, KeysIndependent, ConcurrentReservesExactlyMax and
// CancelledContext. It takes [Skip] and [IgnoresContext].
func TestLimiter(t *testing.T, newLimiter func(t *testing.T, maxFailures int, window time.Duration) httpauth.Limiter, opts ...Option) {
	t.Helper()

	var o options
	runSuite(t, suiteSpec{name: "TestLimiter"}, opts, &o, []subtest{
		{"UnknownKeyAllowed", func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, 3, time.Minute)
			ctx := context.Background()
			for _, key := range []string{"alice", "", "\x00\xff"} {
				limiterAllow(t, l, key, true)
				mustOK(t, l.Reset(ctx, key), "Reset(%q) of a key with no attempts", key)
				limiterAllow(t, l, key, true)
			}
		}},

		{"RefusedAfterMaxAttempts", func(t *testing.T) {
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
					// A stall as long as the window would free the key, so
					// such an attempt is retried (short windows only, in effect).
					suiteTimed(t, func(t *timedT) {
						l := newLimiter(t.real, tt.max, tt.window)
						const key = "alice"
						t.within(tt.window, func() {
							for i := range tt.max {
								limiterAllow(t, l, key, true, "after %d of %d attempts", i, tt.max)
								limiterReserve(t, l, key, true, "attempt %d of %d", i+1, tt.max)
							}
							for extra := range 3 {
								for _, ra := range []time.Duration{
									limiterAllow(t, l, key, false, "Allow after %d attempts, max %d", tt.max+extra, tt.max),
									limiterReserve(t, l, key, false, "Reserve after %d attempts, max %d", tt.max+extra, tt.max),
								} {
									if ra%time.Second != 0 {
										t.Errorf("retryAfter %v is not whole seconds", ra)
									}
									if ra < tt.minRetryAfter {
										t.Errorf("retryAfter %v, want at least %v", ra, tt.minRetryAfter)
									}
									if ra > tt.maxRetryAfter {
										t.Errorf("retryAfter %v exceeds the window: want at most %v", ra, tt.maxRetryAfter)
									}
								}
							}
						})
					})
				})
			}
		}},

		{"AllowDoesNotCount", func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, 2, time.Minute)
			const key = "alice"
			for range 5 {
				limiterAllow(t, l, key, true)
			}
			limiterReserve(t, l, key, true, "first attempt after Allows")
			for range 5 {
				limiterAllow(t, l, key, true, "Allow after one attempt, max 2")
			}
			limiterReserve(t, l, key, true, "second attempt after Allows")
			limiterAllow(t, l, key, false, "after two attempts, max 2")
		}},

		{"WindowStartsAtFirstAttempt", func(t *testing.T) {
			t.Parallel()
			const window = 2 * time.Second
			ctx := context.Background()
			const key = "alice"
			var l httpauth.Limiter
			var start time.Time
			// The refusals must come before the window ends; an attempt
			// stalled that long is retried.
			suiteTimed(t, func(t *timedT) {
				l = newLimiter(t.real, 2, window)
				t.within(window, func() {
					limiterReserve(t, l, key, true)
					start = time.Now()
					time.Sleep(1100 * time.Millisecond)
					limiterReserve(t, l, key, true)
					// Less than 0.9s of the window is left, which rounds up to 1s; a
					// window restarted or extended by the second attempt would say 2s.
					ra := limiterAllow(t, l, key, false)
					checkEqual(t, ra, time.Second, "retryAfter (the window must not be extended by later attempts)")
					ra = limiterReserve(t, l, key, false)
					checkEqual(t, ra, time.Second, "retryAfter (a refused Reserve must not extend the window)")
				})
			})

			time.Sleep(time.Until(start.Add(window)))
			suitePoll(t, suiteExpiryGrace, func() (bool, error) {
				ok, _, err := l.Allow(ctx, key)
				return ok, err
			}, "key still refused %v after its window ended", suiteExpiryGrace)
		}},

		{"WindowEndFreesKey", func(t *testing.T) {
			t.Parallel()
			const window = time.Second
			ctx := context.Background()
			const key, other = "alice", "bob"
			// Each window's checks must end before the window does; an
			// attempt stalled that long is retried.
			suiteTimed(t, func(t *timedT) {
				l := newLimiter(t.real, 2, window)
				var start time.Time
				t.within(window, func() {
					start = time.Now()
					limiterReserve(t, l, key, true)
					limiterReserve(t, l, key, true)
					limiterAllow(t, l, key, false)
				})

				time.Sleep(time.Until(start.Add(window)))
				suitePoll(t, suiteExpiryGrace, func() (bool, error) {
					ok, _, err := l.Allow(ctx, key)
					return ok, err
				}, "key still refused %v after its window ended", suiteExpiryGrace)

				// The count starts over in a new window.
				t.within(window, func() {
					limiterReserve(t, l, key, true, "first attempt in a new window")
					limiterAllow(t, l, key, true, "one attempt in a new window")
					limiterReserve(t, l, key, true, "second attempt in a new window")
					limiterAllow(t, l, key, false, "two attempts in a new window")
				})
				limiterAllow(t, l, other, true, "a key with no attempts")
			})
		}},

		{"ResetFreesKey", func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, 3, time.Minute)
			ctx := context.Background()
			const key = "alice"
			for range 3 {
				limiterReserve(t, l, key, true)
			}
			limiterAllow(t, l, key, false)
			mustOK(t, l.Reset(ctx, key), `l.Reset(ctx, key)`)
			limiterAllow(t, l, key, true, "after Reset")

			// Reset forgets the count, not just the refusal.
			limiterReserve(t, l, key, true)
			limiterReserve(t, l, key, true)
			limiterAllow(t, l, key, true, "two attempts after Reset, max 3")
			limiterReserve(t, l, key, true)
			limiterAllow(t, l, key, false, "three attempts after Reset, max 3")

			mustOK(t, l.Reset(ctx, key), `l.Reset(ctx, key)`)
			mustOK(t, l.Reset(ctx, key), "second Reset(%q)", key)
			limiterAllow(t, l, key, true, "after two Resets")
		}},

		{"KeysIndependent", func(t *testing.T) {
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
				limiterReserve(t, l, locked, true)
			}
			limiterAllow(t, l, locked, false)
			// One attempt each: if any two keys shared a counter, the second
			// would reach max and be refused.
			for _, key := range others {
				limiterAllow(t, l, key, true, "key %q with no attempts of its own", key)
				limiterReserve(t, l, key, true, "key %q, first attempt", key)
				limiterAllow(t, l, key, true, "key %q after one attempt of its own, max %d", key, max)
			}
			mustOK(t, l.Reset(ctx, others[0]), `l.Reset(ctx, others[0])`)
			limiterAllow(t, l, locked, false, "Reset of %q freed %q", others[0], locked)
		}},

		{"ConcurrentReservesExactlyMax", func(t *testing.T) {
			t.Parallel()
			const goroutines = 50
			for _, max := range []int{1, 10, goroutines, goroutines + 1} {
				l := newLimiter(t, max, time.Minute)
				ctx := context.Background()
				const key = "alice"
				oks := make([]bool, goroutines)
				errs := make([]error, goroutines)
				var wg sync.WaitGroup
				for i := range goroutines {
					wg.Go(func() { oks[i], _, errs[i] = l.Reserve(ctx, key) })
				}
				wg.Wait()
				n := 0
				for i, err := range errs {
					mustOK(t, err, "Reserve in goroutine %d", i)
					if oks[i] {
						n++
					}
				}
				checkEqual(t, n, min(goroutines, max), "oks of %d concurrent Reserves, max %d", goroutines, max)
				limiterAllow(t, l, key, max > goroutines, "after %d concurrent Reserves, max %d", goroutines, max)
				if max > goroutines {
					limiterReserve(t, l, key, true)
					limiterAllow(t, l, key, false, "after %d attempts, max %d", goroutines+1, max)
				}
			}
		}},

		{"CancelledContext", func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, 1, time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			const key = "alice"
			// With IgnoresContext a call may give the live answer (allow
			// the fresh key; count; forget), but an error never allows.
			ok, _, err := l.Allow(ctx, key)
			if err != nil || !o.ignoresContext {
				checkFail(t, err, "Allow with a cancelled context")
				if ok {
					t.Errorf("Allow with a cancelled context allowed: it must not")
				}
			} else if !ok {
				t.Errorf("Allow of a fresh key, ignoring a cancelled context, refused: want allowed")
			}
			ok, _, err = l.Reserve(ctx, key)
			counted := err == nil && o.ignoresContext
			if !counted {
				checkFail(t, err, "Reserve with a cancelled context")
				if ok {
					t.Errorf("Reserve with a cancelled context allowed: it must not")
				}
			} else if !ok {
				t.Errorf("first Reserve, ignoring a cancelled context, refused: want allowed")
			}
			err = l.Reset(ctx, key)
			if err == nil && o.ignoresContext {
				counted = false
			} else {
				checkFail(t, err, "Reset with a cancelled context")
			}
			limiterAllow(t, l, key, !counted, "after a cancelled Reserve and Reset (Reserve counted: %v)", counted)
		}},
	})
}

// limiterReserve calls Reserve for key, requires no error and the wanted
// verdict, and returns retryAfter (at least one second on a refusal).
func limiterReserve(t testing.TB, l httpauth.Limiter, key string, want bool, msgAndArgs ...any) time.Duration {
	t.Helper()
	return limiterCheck(t, "Reserve", l.Reserve, key, want, msgAndArgs...)
}

// limiterAllow calls Allow for key, requires no error and the wanted
// verdict, and returns retryAfter. A refusal must carry a retryAfter of at
// least one second. msgAndArgs is a format and its arguments.
func limiterAllow(t testing.TB, l httpauth.Limiter, key string, want bool, msgAndArgs ...any) time.Duration {
	t.Helper()
	return limiterCheck(t, "Allow", l.Allow, key, want, msgAndArgs...)
}

func limiterCheck(t testing.TB, name string, ask func(context.Context, string) (bool, time.Duration, error), key string, want bool, msgAndArgs ...any) time.Duration {
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
	ok, retryAfter, err := ask(context.Background(), key)
	mustOK(t, err, "%s(%q)%s", name, shown, msg)
	if ok != want {
		t.Fatalf("%s(%q) = %v, want %v%s", name, shown, ok, want, msg)
	}
	if !ok {
		if retryAfter < time.Second {
			t.Fatalf("%s(%q) refused with too short a retryAfter %v, want at least 1s%s", name, shown, retryAfter, msg)
		}
	}
	return retryAfter
}
