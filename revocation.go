package httpauth

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)


// RevocationStore remembers revoked tokens by ID. Implementations must be
// safe for concurrent use.
//
// Contract: an unknown ID is not revoked (false, nil). Any error is a store
// failure and the request fails closed with a 500. A store may forget an
// entry once expiresAt has passed, since the token is rejected as expired by
// then anyway.
type RevocationStore interface {
	// Revoke marks token id as revoked until expiresAt.
	Revoke(ctx context.Context, id [16]byte, expiresAt time.Time) error

	// IsRevoked reports whether token id has been revoked.
	IsRevoked(ctx context.Context, id [16]byte) (bool, error)
}

// memoryRevocationStore is an in-memory RevocationStore. Lookups take no
// lock, so checking a token costs one atomic load when nothing is revoked.
// Entries are dropped once their token would have expired.
type memoryRevocationStore struct {
	now       func() time.Time
	entries   sync.Map // [16]byte -> time.Time (expiry)
	size      atomic.Int64
	lastSweep atomic.Int64 // unix nanos
}

// newMemoryRevocationStore returns an empty store. now is the clock; nil
// means time.Now.
func newMemoryRevocationStore(now func() time.Time) *memoryRevocationStore {
	if now == nil {
		now = time.Now
	}
	return &memoryRevocationStore{now: now}
}

const revocationSweepEvery = time.Minute

// Revoke implements RevocationStore.
func (s *memoryRevocationStore) Revoke(ctx context.Context, id [16]byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	if !expiresAt.After(now) {
		return nil // already dead: nothing to remember
	}
	if _, loaded := s.entries.Swap(id, expiresAt); !loaded {
		s.size.Add(1)
	}
	last := s.lastSweep.Load()
	if now.UnixNano()-last >= int64(revocationSweepEvery) && s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		s.sweep(now)
	}
	return nil
}

// IsRevoked implements RevocationStore.
func (s *memoryRevocationStore) IsRevoked(ctx context.Context, id [16]byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if s.size.Load() == 0 {
		return false, nil
	}
	v, ok := s.entries.Load(id)
	if !ok {
		return false, nil
	}
	if !s.now().Before(v.(time.Time)) {
		if s.entries.CompareAndDelete(id, v) {
			s.size.Add(-1)
		}
		return false, nil
	}
	return true, nil
}

// Len returns how many revocations the store holds, expired ones included
// until they are swept.
func (s *memoryRevocationStore) Len() int { return int(s.size.Load()) }

func (s *memoryRevocationStore) sweep(now time.Time) {
	s.entries.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) && s.entries.CompareAndDelete(k, v) {
			s.size.Add(-1)
		}
		return true
	})
}

// errNoToken is the error given to an ErrorWriter when RevokeHandler gets
// a request that did not authenticate with a token (a 400).
var errNoToken = fmt.Errorf("%w: request did not authenticate with a token", errBadRequest)

// RevokeHandler returns the handler that revokes the token a DELETE
// request authenticated with, answering 204. Only that token is revoked;
// the user's other tokens keep working. A request that authenticated with a
// password gets a 400; other methods get a 405. Use Account.TokensValidAfter
// to revoke all of a user's tokens. Revoking counts against the user's
// token rate (Config.TokenRate), which bounds the revocation state one user
// can create; past it the answer is a 429 with Retry-After.
func (a *Authenticator[U]) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.endpointIdentity(w, r, http.MethodDelete, false)
		if !ok {
			return
		}
		if id.Credential != TokenCredential {
			a.fail(w, r, &failure{status: http.StatusBadRequest, err: errNoToken})
			return
		}
		if f := a.checkTokenRate(r, id); f != nil {
			a.fail(w, r, f)
			return
		}
		if err := a.revoke(r.Context(), id.Claims); err != nil {
			a.fail(w, r, internalFailure(err))
			return
		}
		a.audit(r, true, id.Account.ID, reasonTokenRevokedBy, id.transport)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

func (a *Authenticator[U]) revoke(ctx context.Context, c Claims) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = fmt.Errorf("httpauth: revocation store panicked: %v", p)
		}
	}()
	return a.cfg.Revocations.Revoke(ctx, c.ID, c.ExpiresAt)
}

// Default per-user token rate: what TokenHandler mints plus what
// RevokeHandler revokes, per user.
const (
	defaultTokenRate  = 60 // per minute
	defaultTokenBurst = 10
)

// Bounds of the per-user token rate's memory: rateShards × rateShardMax
// users (65,536), each a map entry of a 64-bit key and a time, about 4 MiB
// in all. Past it, the user closest to a full budget is forgotten.
const (
	rateShards   = 64
	rateShardMax = 1024
)

// userRate is a per-user GCRA (a token bucket kept as one "theoretical
// arrival time"): a burst of burst, refilled one every interval. Users are
// keyed by a seeded 64-bit hash of their ID, so an entry's size does not
// depend on the ID's.
type userRate struct {
	interval time.Duration
	burst    int
	now      func() time.Time
	seed     maphash.Seed
	shards   [rateShards]rateShard
}

type rateShard struct {
	mu  sync.Mutex
	tat map[uint64]int64 // unix ns; an entry at or before now is a full budget
}

func newUserRate(perMinute, burst int, now func() time.Time) *userRate {
	u := &userRate{interval: time.Minute / time.Duration(perMinute), burst: burst, now: now, seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].tat = map[uint64]int64{}
	}
	return u
}

// take spends one unit of user's budget, or reports how long until one is
// available.
func (u *userRate) take(user string) (ok bool, wait time.Duration) {
	k := maphash.String(u.seed, user)
	s := &u.shards[k%rateShards]
	now := u.now().UnixNano()
	iv := int64(u.interval)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, found := s.tat[k]
	if !found || tat < now {
		tat = now
	}
	if over := tat - now - int64(u.burst-1)*iv; over > 0 {
		return false, time.Duration(over)
	}
	if !found && len(s.tat) >= rateShardMax {
		s.evictLocked(now)
	}
	s.tat[k] = tat + iv
	return true, 0
}

// evictLocked drops the entries whose budget is full again, and if none
// is, the one closest to full, so memory stays bounded.
func (s *rateShard) evictLocked(now int64) {
	var minK uint64
	minT := int64(math.MaxInt64)
	for k, t := range s.tat {
		if t <= now {
			delete(s.tat, k)
			continue
		}
		if t < minT {
			minK, minT = k, t
		}
	}
	if len(s.tat) >= rateShardMax {
		delete(s.tat, minK)
	}
}

// len returns how many users the rate remembers.
func (u *userRate) len() int {
	n := 0
	for i := range u.shards {
		s := &u.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// checkTokenRate spends one unit of the user's token rate, or returns the
// 429 to answer with.
func (a *Authenticator[U]) checkTokenRate(r *http.Request, id *Identity[U]) *failure {
	if a.tokenRate == nil {
		return nil
	}
	ok, wait := a.tokenRate.take(id.Account.ID)
	if ok {
		return nil
	}
	a.audit(r, false, id.Account.ID, reasonTokenRateExceeded, id.transport)
	wait = retryAfter(wait)
	return &failure{status: http.StatusTooManyRequests, err: &ThrottledError{RetryAfter: wait}, retryAfter: wait}
}
