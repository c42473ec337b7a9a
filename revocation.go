package httpauth

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// TokenID is a token's random 128-bit identifier (its jti).
type TokenID [16]byte

// String returns the ID as 32 lower-case hex digits.
func (id TokenID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros, which no issued token has.
func (id TokenID) IsZero() bool { return id == TokenID{} }

// RevocationStore remembers revoked tokens by ID. Implementations must be
// safe for concurrent use.
//
// Contract: an unknown ID is not revoked (false, nil). Any error is a store
// failure and the request fails closed with a 500. A store may forget an
// entry once expiresAt has passed, since the token is rejected as expired by
// then anyway.
type RevocationStore interface {
	// Revoke marks token id as revoked until expiresAt.
	Revoke(ctx context.Context, id TokenID, expiresAt time.Time) error

	// IsRevoked reports whether token id has been revoked.
	IsRevoked(ctx context.Context, id TokenID) (bool, error)
}

// MemoryRevocationStore is an in-memory RevocationStore. Lookups take no
// lock, so checking a token costs one atomic load when nothing is revoked.
// Entries are dropped once their token would have expired.
type MemoryRevocationStore struct {
	now       func() time.Time
	entries   sync.Map // TokenID -> time.Time (expiry)
	size      atomic.Int64
	lastSweep atomic.Int64 // unix nanos
}

// NewMemoryRevocationStore returns an empty store. now is the clock; nil
// means time.Now.
func NewMemoryRevocationStore(now func() time.Time) *MemoryRevocationStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryRevocationStore{now: now}
}

const revocationSweepEvery = time.Minute

// Revoke implements RevocationStore.
func (s *MemoryRevocationStore) Revoke(ctx context.Context, id TokenID, expiresAt time.Time) error {
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
func (s *MemoryRevocationStore) IsRevoked(ctx context.Context, id TokenID) (bool, error) {
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
func (s *MemoryRevocationStore) Len() int { return int(s.size.Load()) }

func (s *MemoryRevocationStore) sweep(now time.Time) {
	s.entries.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) && s.entries.CompareAndDelete(k, v) {
			s.size.Add(-1)
		}
		return true
	})
}

// ErrNoToken is the error given to an ErrorWriter when RevokeHandler gets
// a request that did not authenticate with a token (a 400).
var ErrNoToken = fmt.Errorf("%w: request did not authenticate with a token", ErrBadRequest)

// RevokeHandler returns the handler that revokes the token a DELETE
// request authenticated with, answering 204. Only that token is revoked;
// the user's other tokens keep working. A request that authenticated with a
// password gets a 400; other methods get a 405. Use Account.TokensValidAfter
// to revoke all of a user's tokens.
func (a *Authenticator[U]) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.endpointIdentity(w, r, http.MethodDelete, false)
		if !ok {
			return
		}
		if id.Method != MethodToken {
			a.fail(w, r, &failure{status: http.StatusBadRequest, err: ErrNoToken})
			return
		}
		if err := a.revoke(r.Context(), id.Claims); err != nil {
			a.fail(w, r, internalFailure(err))
			return
		}
		a.audit(r, true, id.Account.ID, "token_revoked_by_owner", id.Transport)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

func (a *Authenticator[U]) revoke(ctx context.Context, c Claims) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("httpauth: revocation store panicked: %v", p)
		}
	}()
	return a.cfg.Revocations.Revoke(ctx, c.ID, c.ExpiresAt)
}
