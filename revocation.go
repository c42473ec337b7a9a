package httpauth

import (
	"context"
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
	entries   sync.Map // [16]byte -> time.Time (expiry)
	size      atomic.Int64
	lastSweep atomic.Int64 // unix nanos
}

// newMemoryRevocationStore returns an empty store.
func newMemoryRevocationStore() *memoryRevocationStore {
	return &memoryRevocationStore{}
}

const revocationSweepEvery = time.Minute

// Revoke implements RevocationStore.
func (s *memoryRevocationStore) Revoke(ctx context.Context, id [16]byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
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
	if !time.Now().Before(v.(time.Time)) {
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
