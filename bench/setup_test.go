package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gohttpauth/httpauth"
)

// allCases is every case of every benchmark, named as the benchmarks name
// them.
func allCases(t *testing.T) map[string]benchCase {
	t.Helper()
	all := map[string]benchCase{}
	for _, c := range tokenCases(t) {
		all["Token/"+c.name] = c
	}
	for _, c := range floorCases(t) {
		all["Floor/"+c.name] = c
	}
	for _, hash := range basicHashes {
		for _, c := range basicCases(t, hash) {
			all["Basic/"+c.name+"/"+hash] = c
		}
	}
	return all
}

// TestSetupsAuthenticate checks that every benchmarked setup answers a good
// request with 200 and the user's ID, twice (a cache miss, then a hit; a 200
// means the handler saw the user),
// and that it refuses no credentials and every bad credential.
func TestSetupsAuthenticate(t *testing.T) {
	for name, c := range allCases(t) {
		t.Run(name, func(t *testing.T) {
			serve(t, c.handler, c.request(), http.StatusOK)
			serve(t, c.handler, c.request(), http.StatusOK)
			if c.authz == "" {
				return // a baseline: nothing to refuse
			}
			if len(c.bad) == 0 {
				t.Fatal("an authenticating case needs bad credentials to refuse")
			}
			rec := httptest.NewRecorder()
			c.handler.ServeHTTP(rec, newRequest(""))
			if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest {
				t.Errorf("no credentials: status %d, want 401 (or echo KeyAuth's 400)", rec.Code)
			}
			for what, authz := range c.bad {
				t.Run(what, func(t *testing.T) {
					serve(t, c.handler, newRequest(authz), http.StatusUnauthorized)
				})
			}
			// Refusals must not have broken the good path (no lockout).
			serve(t, c.handler, c.request(), http.StatusOK)
		})
	}
}

// TestSetupsConcurrent runs every token setup and the cached Basic one
// from several goroutines, for the race detector: the parallel benchmark
// shares handlers between goroutines.
func TestSetupsConcurrent(t *testing.T) {
	cases := tokenCases(t)
	for _, c := range basicCases(t, "bcrypt4") {
		if c.name == "httpauth-cached" {
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var wg sync.WaitGroup
			var fails atomic.Int64
			for range 4 {
				wg.Go(func() {
					r := c.request()
					for range 25 {
						rec := httptest.NewRecorder()
						c.handler.ServeHTTP(rec, r)
						if rec.Code != http.StatusOK {
							fails.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if n := fails.Load(); n != 0 {
				t.Fatalf("%d of 100 concurrent requests failed", n)
			}
		})
	}
}

// countingHasher counts the calls the authenticator makes after New.
type countingHasher struct {
	httpauth.PasswordHasher
	verify, hash, needsRehash atomic.Int64
}

func (h *countingHasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	h.verify.Add(1)
	return h.PasswordHasher.Verify(ctx, hash, password)
}

func (h *countingHasher) Hash(ctx context.Context, password string) (string, error) {
	h.hash.Add(1)
	return h.PasswordHasher.Hash(ctx, password)
}

func (h *countingHasher) NeedsRehash(ctx context.Context, hash string) bool {
	h.needsRehash.Add(1)
	return h.PasswordHasher.NeedsRehash(ctx, hash)
}

// TestBasicSetupsHashAsClaimed checks what the Basic benchmarks claim to
// measure: cold runs one hash per request, cached runs one in all, and
// neither rehashes the stored bcrypt hash to argon2id behind the
// benchmark's back.
func TestBasicSetupsHashAsClaimed(t *testing.T) {
	hashes := storedHashes(t, "bcrypt4")
	for _, tc := range []struct {
		name string
		cold bool
		want int64
	}{{"cold", true, 5}, {"cached", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &countingHasher{PasswordHasher: bcryptHasher{cost: 4}}
			wrap := func(u httpauth.UserStore[User]) httpauth.UserStore[User] {
				if tc.cold {
					return &coldUsers{UserStore: readOnlyUsers{u}, hashes: hashes}
				}
				return readOnlyUsers{u}
			}
			_, handler := newHTTPAuthStore(t, hashes[0], httpauth.Config[User]{Hasher: h}, wrap)
			h.hash.Store(0) // New hashes the dummy password
			r := newRequest(basicAuthz(benchLogin, benchPassword))
			for range 5 {
				serve(t, handler, r, http.StatusOK)
			}
			if got := h.verify.Load(); got != tc.want {
				t.Errorf("%d password verifications for 5 requests, want %d", got, tc.want)
			}
			if got := h.hash.Load() + h.needsRehash.Load(); got != 0 {
				t.Errorf("%d rehash calls: the stored hash would change under the benchmark", got)
			}
		})
	}
}
