package httpauthtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/gohttpauth/httpauth"
)

// TestSecondFactorStore runs the httpauth.SecondFactorStore conformance
// suite. newHarness is TestUserStore's; its Store must also implement
// httpauth.SecondFactorStore, and Add is required. The suite checks:
//
//   - a new account has no secret, nothing pending and step 0, and every
//     method on a missing account is ErrUserNotFound;
//
//   - SetPendingTOTP stores the pending value verbatim and replaces an
//     earlier one, leaving an enabled secret and its recovery codes as
//     they were;
//
//   - EnableTOTP is a compare-and-set on the pending value: a stale one
//     changes nothing; the right one moves pending to secret, sets the
//     step and the recovery codes;
//
//   - AcceptTOTPStep accepts only a step greater than the stored one, and
//     of 16 concurrent calls with one step exactly one is accepted;
//
//   - UseRecoveryCode removes a hash once (and once only among 16
//     concurrent calls), and SetRecoveryCodes voids the old set;
//
//   - ResealTOTP is a compare-and-set on the secret;
//
//   - DisableTOTP clears everything;
//
//   - deleting the account (with the harness's Delete) deletes its state;
//
//   - a cancelled context is an error that is not ErrUserNotFound.
//
// Its subtests, for [Skip], are New, Pending, Enable, AcceptStep,
// RecoveryCodes, Reseal, Disable, Delete and CancelledContext.
func TestSecondFactorStore[U any](t *testing.T, newHarness func(t *testing.T) UserStoreHarness[U], opts ...Option) {
	t.Helper()
	var o options
	n := 0
	var mu sync.Mutex
	// h returns the harness, its store, and a new account's ID.
	h := func(t *testing.T) (UserStoreHarness[U], httpauth.SecondFactorStore, string) {
		t.Helper()
		hs := newHarness(t)
		sf, ok := hs.Store.(httpauth.SecondFactorStore)
		if hs.Add == nil || !ok {
			t.Fatal("httpauthtest: TestSecondFactorStore needs Add and a Store that is an httpauth.SecondFactorStore")
		}
		mu.Lock()
		n++
		id := fmt.Sprintf("id-2fa-%d", n)
		mu.Unlock()
		if err := hs.Add(ctxT(t), id+"@example.com", httpauth.Account[U]{ID: id, PasswordHash: hashArgon}); err != nil {
			t.Fatalf("Add: %v", err)
		}
		return hs, sf, id
	}
	type state struct {
		secret, pending string
		step            int64
	}
	get := func(t *testing.T, sf httpauth.SecondFactorStore, id string) state {
		t.Helper()
		s, p, step, err := sf.SecondFactor(ctxT(t), id)
		if err != nil {
			t.Fatalf("SecondFactor(%q): %v", id, err)
		}
		return state{s, p, step}
	}
	must := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	hashes := func(tag string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%062x%02d", tag, i)[:64])
		}
		return out
	}
	enable := func(t *testing.T, sf httpauth.SecondFactorStore, id string, step int64, codes []string) {
		t.Helper()
		must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctxT(t), id, "sealed-"+id))
		ok, err := sf.EnableTOTP(ctxT(t), id, "sealed-"+id, step, codes)
		if err != nil || !ok {
			t.Fatalf("EnableTOTP = %v, %v; want true", ok, err)
		}
	}
	// concurrently runs f 16 times at once and counts the trues.
	concurrently := func(t *testing.T, f func() (bool, error)) int {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				ok, err := f()
				if err != nil {
					t.Errorf("concurrent call: %v", err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		return wins
	}

	runSuite(t, suiteSpec{name: "TestSecondFactorStore"}, opts, &o, []subtest{
		{"New", func(t *testing.T) {
			_, sf, id := h(t)
			if got := get(t, sf, id); got != (state{}) {
				t.Errorf("a new account's state = %+v, want none", got)
			}
			ctx := ctxT(t)
			const missing = "id-2fa-missing"
			_, _, _, err := sf.SecondFactor(ctx, missing)
			errs := map[string]error{"SecondFactor": err}
			errs["SetPendingTOTP"] = sf.SetPendingTOTP(ctx, missing, "x")
			_, errs["EnableTOTP"] = sf.EnableTOTP(ctx, missing, "x", 1, nil)
			errs["DisableTOTP"] = sf.DisableTOTP(ctx, missing)
			_, errs["AcceptTOTPStep"] = sf.AcceptTOTPStep(ctx, missing, 1)
			errs["ResealTOTP"] = sf.ResealTOTP(ctx, missing, "x", "y")
			_, errs["UseRecoveryCode"] = sf.UseRecoveryCode(ctx, missing, hashes("a", 1)[0])
			errs["SetRecoveryCodes"] = sf.SetRecoveryCodes(ctx, missing, hashes("a", 1))
			for _, name := range slices.Sorted(maps.Keys(errs)) {
				if !errors.Is(errs[name], httpauth.ErrUserNotFound) {
					t.Errorf("%s on a missing account: %v, want ErrUserNotFound", name, errs[name])
				}
			}
		}},
		{"Pending", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctx, id, "v1.k1.first"))
			if got := get(t, sf, id); got != (state{pending: "v1.k1.first"}) {
				t.Errorf("after SetPendingTOTP: %+v", got)
			}
			must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctx, id, "v1.k1.second"))
			if got := get(t, sf, id); got.pending != "v1.k1.second" {
				t.Errorf("a second SetPendingTOTP: pending = %q, want the second", got.pending)
			}
			codes := hashes("b", 2)
			enable(t, sf, id, 7, codes)
			must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctx, id, "v1.k1.third"))
			if got := get(t, sf, id); got != (state{"sealed-" + id, "v1.k1.third", 7}) {
				t.Errorf("pending while on: %+v, want the secret and step kept", got)
			}
			if used, err := sf.UseRecoveryCode(ctx, id, codes[0]); err != nil || !used {
				t.Errorf("a recovery code after SetPendingTOTP: %v, %v; want kept", used, err)
			}
		}},
		{"Enable", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			if ok, err := sf.EnableTOTP(ctx, id, "", 1, nil); err != nil || ok {
				t.Errorf("EnableTOTP with nothing pending = %v, %v; want false", ok, err)
			}
			must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctx, id, "v1.k1.new"))
			if ok, err := sf.EnableTOTP(ctx, id, "v1.k1.old", 5, hashes("c", 3)); err != nil || ok {
				t.Errorf("EnableTOTP with a stale pending value = %v, %v; want false", ok, err)
			}
			if got := get(t, sf, id); got != (state{pending: "v1.k1.new"}) {
				t.Errorf("after a stale EnableTOTP: %+v, want nothing changed", got)
			}
			if ok, err := sf.EnableTOTP(ctx, id, "v1.k1.new", 5, hashes("c", 3)); err != nil || !ok {
				t.Fatalf("EnableTOTP = %v, %v; want true", ok, err)
			}
			if got := get(t, sf, id); got != (state{secret: "v1.k1.new", step: 5}) {
				t.Errorf("after EnableTOTP: %+v", got)
			}
		}},
		{"AcceptStep", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			enable(t, sf, id, 100, nil)
			for _, tc := range []struct {
				step int64
				want bool
			}{{99, false}, {100, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
				if ok, err := sf.AcceptTOTPStep(ctx, id, tc.step); err != nil || ok != tc.want {
					t.Errorf("AcceptTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
				}
			}
			if got := get(t, sf, id).step; got != 103 {
				t.Errorf("step = %d, want 103", got)
			}
			if wins := concurrently(t, func() (bool, error) { return sf.AcceptTOTPStep(ctx, id, 200) }); wins != 1 {
				t.Errorf("16 concurrent AcceptTOTPStep with one step: %d accepted, want 1", wins)
			}
		}},
		{"RecoveryCodes", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			old := hashes("d", 10)
			enable(t, sf, id, 1, old)
			for _, tc := range []struct {
				hash string
				want bool
			}{{old[0], true}, {old[0], false}, {old[9], true}, {hashes("e", 1)[0], false}} {
				if ok, err := sf.UseRecoveryCode(ctx, id, tc.hash); err != nil || ok != tc.want {
					t.Errorf("UseRecoveryCode(%s…) = %v, %v; want %v", tc.hash[:8], ok, err, tc.want)
				}
			}
			if wins := concurrently(t, func() (bool, error) { return sf.UseRecoveryCode(ctx, id, old[5]) }); wins != 1 {
				t.Errorf("16 concurrent UseRecoveryCode with one code: %d used, want 1", wins)
			}
			fresh := hashes("f", 10)
			must(t, "SetRecoveryCodes", sf.SetRecoveryCodes(ctx, id, fresh))
			if ok, err := sf.UseRecoveryCode(ctx, id, old[1]); err != nil || ok {
				t.Errorf("an old code after SetRecoveryCodes = %v, %v; want false", ok, err)
			}
			if ok, err := sf.UseRecoveryCode(ctx, id, fresh[1]); err != nil || !ok {
				t.Errorf("a new code after SetRecoveryCodes = %v, %v; want true", ok, err)
			}
		}},
		{"Reseal", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			enable(t, sf, id, 1, nil)
			must(t, "ResealTOTP", sf.ResealTOTP(ctx, id, "stale", "v1.k2.x"))
			if got := get(t, sf, id).secret; got != "sealed-"+id {
				t.Errorf("ResealTOTP from a stale value changed the secret to %q", got)
			}
			must(t, "ResealTOTP", sf.ResealTOTP(ctx, id, "sealed-"+id, "v1.k2.x"))
			if got := get(t, sf, id).secret; got != "v1.k2.x" {
				t.Errorf("secret after ResealTOTP = %q, want v1.k2.x", got)
			}
		}},
		{"Disable", func(t *testing.T) {
			_, sf, id := h(t)
			ctx := ctxT(t)
			codes := hashes("g", 2)
			enable(t, sf, id, 9, codes)
			must(t, "SetPendingTOTP", sf.SetPendingTOTP(ctx, id, "v1.k1.pending"))
			must(t, "DisableTOTP", sf.DisableTOTP(ctx, id))
			if got := get(t, sf, id); got != (state{}) {
				t.Errorf("after DisableTOTP: %+v, want nothing", got)
			}
			if ok, err := sf.UseRecoveryCode(ctx, id, codes[0]); err != nil || ok {
				t.Errorf("a recovery code after DisableTOTP = %v, %v; want false", ok, err)
			}
			must(t, "DisableTOTP again", sf.DisableTOTP(ctx, id))
		}},
		{"Delete", func(t *testing.T) {
			hs, sf, id := h(t)
			if hs.Delete == nil {
				t.Skip("no Delete in the harness")
			}
			enable(t, sf, id, 9, hashes("h", 2))
			must(t, "Delete", hs.Delete(ctxT(t), id))
			if _, _, _, err := sf.SecondFactor(ctxT(t), id); !errors.Is(err, httpauth.ErrUserNotFound) {
				t.Errorf("SecondFactor of a deleted account: %v, want ErrUserNotFound", err)
			}
		}},
		{"CancelledContext", func(t *testing.T) {
			_, sf, id := h(t)
			ctx, cancel := context.WithCancel(ctxT(t))
			cancel()
			_, _, _, err := sf.SecondFactor(ctx, id)
			if err == nil || errors.Is(err, httpauth.ErrUserNotFound) {
				t.Errorf("SecondFactor with a cancelled context: %v, want an error that is not ErrUserNotFound", err)
			}
		}},
	})
}
