package httpauthtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// revocationExpiry is the lifetime of the short-lived revocation that
// TestRevocationStore waits out. It is real time, since stores such as
// Redis expire entries by their own clock.
const revocationExpiry = 1500 * time.Millisecond

// suiteExpiryGrace is how long past an entry's end a suite waits for a store to
// forget it, since server-side expiry is not instantaneous to the
// microsecond. It is generous for loaded machines: a store that forgets
// in time ends the wait early.
const suiteExpiryGrace = 10 * time.Second

// TestRevocationStore runs the httpauth.RevocationStore conformance suite
// against the stores that newStore returns.
//
// newStore is called once per subtest, with that subtest's t (so it can
// register cleanups), and must return a store that holds no revocations.
// Subtests run in parallel, so newStore must be safe to call concurrently.
// The suite uses the real clock: one subtest waits about two seconds for
// an entry to expire, retrying (or, after several tries, skipping) a check
// that the machine was too slow to make before the entry's expiry.
//
// Its subtests, for [Skip], are UnknownIDNotRevoked, RevokeThenRevoked,
// RevokeTwice, OtherIDsUnaffected, EntryExpires, AlreadyExpiredIsHarmless,
// Concurrent and CancelledContext. It takes [Skip] and [IgnoresContext].
func TestRevocationStore(t *testing.T, newStore func(t *testing.T) httpauth.RevocationStore, opts ...Option) {
	t.Helper()

	var o options
	runSuite(t, suiteSpec{name: "TestRevocationStore"}, opts, &o, []subtest{
		{"UnknownIDNotRevoked", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			for _, id := range [][16]byte{suiteTokenID(t), {}, {0xff, 0xff}} {
				revoked, err := s.IsRevoked(context.Background(), id)
				mustOK(t, err, "IsRevoked(%x)", id)
				if revoked {
					t.Errorf("IsRevoked(%x) on an empty store = true, want false", id)
				}
			}
		}},

		{"RevokeThenRevoked", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			id := suiteTokenID(t)
			mustOK(t, s.Revoke(ctx, id, time.Now().Add(time.Hour)), `s.Revoke(ctx, id, time.Now().Add(time.Hour))`)
			revoked, err := s.IsRevoked(ctx, id)
			mustOK(t, err, `s.IsRevoked(ctx, id)`)
			if !revoked {
				t.Errorf("IsRevoked after Revoke = false, want true")
			}
		}},

		{"RevokeTwice", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			id := suiteTokenID(t)
			exp := time.Now().Add(time.Hour)
			mustOK(t, s.Revoke(ctx, id, exp), `s.Revoke(ctx, id, exp)`)
			mustOK(t, s.Revoke(ctx, id, exp), "second Revoke of the same ID")
			revoked, err := s.IsRevoked(ctx, id)
			mustOK(t, err, `s.IsRevoked(ctx, id)`)
			if !revoked {
				t.Errorf("IsRevoked after revoking twice = false, want true")
			}
		}},

		{"OtherIDsUnaffected", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			id := suiteTokenID(t)
			mustOK(t, s.Revoke(ctx, id, time.Now().Add(time.Hour)), `s.Revoke(ctx, id, time.Now().Add(time.Hour))`)

			firstByte, lastByte := id, id
			firstByte[0] ^= 1
			lastByte[len(lastByte)-1] ^= 0x80
			others := []struct {
				name string
				id   [16]byte
			}{
				{"random", suiteTokenID(t)},
				{"first byte differs", firstByte},
				{"last byte differs", lastByte},
				{"zero", [16]byte{}},
			}
			for _, o := range others {
				revoked, err := s.IsRevoked(ctx, o.id)
				mustOK(t, err, "IsRevoked of another ID (%s)", o.name)
				if revoked {
					t.Errorf("%s: revoking %x also revoked %x", o.name, id, o.id)
				}
			}
		}},

		{"EntryExpires", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var s httpauth.RevocationStore
			var id, long [16]byte
			var exp time.Time
			// IsRevoked must be asked before exp; an attempt stalled that long
			// is retried.
			suiteTimed(t, func(t *timedT) {
				s = newStore(t.real)
				id, long = suiteTokenID(t), suiteTokenID(t)
				t.within(revocationExpiry, func() {
					exp = time.Now().Add(revocationExpiry)
					mustOK(t, s.Revoke(ctx, id, exp), `s.Revoke(ctx, id, exp)`)
					mustOK(t, s.Revoke(ctx, long, time.Now().Add(time.Hour)), `s.Revoke(ctx, long, time.Now().Add(time.Hour))`)
					revoked, err := s.IsRevoked(ctx, id)
					mustOK(t, err, `s.IsRevoked(ctx, id)`)
					if !revoked {
						t.Fatalf("IsRevoked before expiresAt = false, want true")
					}
				})
			})

			time.Sleep(time.Until(exp))
			suitePoll(t, suiteExpiryGrace, func() (bool, error) {
				revoked, err := s.IsRevoked(ctx, id)
				return !revoked, err
			}, "revocation of %x still present %v after its expiresAt", id, suiteExpiryGrace)

			revoked, err := s.IsRevoked(ctx, long)
			mustOK(t, err, `s.IsRevoked(ctx, long)`)
			if !revoked {
				t.Errorf("a revocation expiring in an hour was dropped with the short one")
			}
		}},

		{"AlreadyExpiredIsHarmless", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			now := time.Now()
			for _, exp := range []time.Time{
				now.Add(-time.Nanosecond),
				now.Add(-time.Hour),
				time.Unix(0, 0),
				{},
			} {
				id := suiteTokenID(t)
				mustOK(t, s.Revoke(ctx, id, exp), "Revoke with expiresAt %v", exp)
				revoked, err := s.IsRevoked(ctx, id)
				mustOK(t, err, `s.IsRevoked(ctx, id)`)
				if revoked {
					t.Errorf("a revocation that expired at %v is reported", exp)
				}
			}
		}},

		{"Concurrent", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := context.Background()
			const n = 32
			ids := make([][16]byte, n)
			for i := range ids {
				ids[i] = suiteTokenID(t)
			}
			exp := time.Now().Add(time.Hour)
			errs := make([]error, 2*n)
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Go(func() { errs[i] = s.Revoke(ctx, id, exp) })
				wg.Go(func() { _, errs[n+i] = s.IsRevoked(ctx, id) })
			}
			wg.Wait()
			for i, err := range errs {
				mustOK(t, err, "call %d", i)
			}
			for _, id := range ids {
				revoked, err := s.IsRevoked(ctx, id)
				mustOK(t, err, `s.IsRevoked(ctx, id)`)
				if !revoked {
					t.Errorf("concurrent Revoke of %x lost", id)
				}
			}
		}},

		{"CancelledContext", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			id := suiteTokenID(t)
			revokeErr := s.Revoke(ctx, id, time.Now().Add(time.Hour))
			revoked, err := s.IsRevoked(ctx, id)
			if !o.ignoresContext {
				checkFail(t, revokeErr, "Revoke with a cancelled context")
				checkFail(t, err, "IsRevoked with a cancelled context")
				return
			}
			// Each call may fail or give the live answer.
			if err == nil {
				checkEqual(t, revoked, revokeErr == nil, "IsRevoked with a cancelled context, after a Revoke that returned %v", revokeErr)
			}
		}},
	})
}

// suiteTokenID returns a fresh random ID, as the signer issues them.
func suiteTokenID(t testing.TB) [16]byte {
	t.Helper()
	var id [16]byte
	_, err := rand.Read(id[:])
	mustOK(t, err, `rand.Read(id[:])`)
	return id
}

// suitePoll polls cond until it reports true, failing the test if it
// returns an error or has not reported true within timeout.
func suitePoll(t testing.TB, timeout time.Duration, cond func() (bool, error), msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		mustOK(t, err, "polling")
		if ok {
			return
		}
		if time.Now().After(deadline) {
			msg := "condition not met in time"
			if len(msgAndArgs) > 0 {
				msg = fmt.Sprintf(msgAndArgs[0].(string), msgAndArgs[1:]...)
			}
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
