package httpauth

import (
	"container/list"
	"context"
	"strings"
	"sync"
)

// acquireHashSlot waits for one of the hashing slots (2 × GOMAXPROCS),
// which bound the password hashes running at once by count, as
// memBoundHasher bounds them by memory; it gives up with ctx's error when
// ctx ends first. Every path that hashes a password (a login, a new
// password) goes through it.
func (a *Authenticator[U]) acquireHashSlot(ctx context.Context) (release func(), err error) {
	select {
	case a.hashSlots <- struct{}{}:
		return func() { <-a.hashSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// memBoundHasher bounds the memory of the hashes running at once, not only
// their number: a stored argon2id hash may declare up to
// argon2idHasher.MaxMemory (256 MiB by default), so counting hashing slots
// alone would let a few such accounts pin GiBs. Each Verify takes the
// memory its stored hash declares (every other hash takes the policy's),
// from a budget of (hashing slots) × the policy memory; a hash larger
// than the whole budget runs alone.
type memBoundHasher struct {
	PasswordHasher
	unit int64 // KiB of a policy hash
	sem  *weightedSem
}

// newMemBoundHasher wraps h with a budget of slots policy hashes.
func newMemBoundHasher(h PasswordHasher, slots int) *memBoundHasher {
	unit := int64(defaultArgon2Memory)
	if ah, ok := h.(*argon2idHasher); ok {
		unit = int64(ah.withDefaults().Memory)
	}
	return &memBoundHasher{PasswordHasher: h, unit: unit, sem: newWeightedSem(int64(slots) * unit)}
}

// weight returns the KiB that verifying hash takes, at most the budget.
func (h *memBoundHasher) weight(hash string) int64 {
	w := h.unit
	if m, ok := declaredMemoryKiB(hash); ok { // argon2 and scrypt, foreignhash.go
		w = max(int64(m), 1)
	}
	return min(w, h.sem.size)
}

// Verify implements PasswordHasher, waiting for the memory hash declares.
func (h *memBoundHasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	w := h.weight(hash)
	if err := h.sem.acquire(ctx, w); err != nil {
		return false, err
	}
	defer h.sem.release(w)
	return h.PasswordHasher.Verify(ctx, hash, password)
}

// Hash implements PasswordHasher, taking one policy hash of memory.
func (h *memBoundHasher) Hash(ctx context.Context, password string) (string, error) {
	w := min(h.unit, h.sem.size)
	if err := h.sem.acquire(ctx, w); err != nil {
		return "", err
	}
	defer h.sem.release(w)
	return h.PasswordHasher.Hash(ctx, password)
}

// argon2DeclaredMemory reads m (KiB) from a PHC argon2id string without
// validating the rest; the hasher itself decides whether to trust it.
func argon2DeclaredMemory(hash string) (uint64, bool) {
	rest, ok := strings.CutPrefix(hash, "$argon2id$")
	if !ok {
		return 0, false
	}
	parts := strings.SplitN(rest, "$", 3)
	if len(parts) < 2 {
		return 0, false
	}
	m, _, _ := strings.Cut(parts[1], ",")
	return phcUint(m, "m=")
}

// weightedSem is a FIFO weighted semaphore: a large request is not starved
// by a stream of small ones.
type weightedSem struct {
	size    int64
	mu      sync.Mutex
	cur     int64
	waiters list.List // of *semWaiter
}

type semWaiter struct {
	n     int64
	ready chan struct{}
}

func newWeightedSem(size int64) *weightedSem {
	return &weightedSem{size: max(size, 1)}
}

func (s *weightedSem) acquire(ctx context.Context, n int64) error {
	s.mu.Lock()
	if s.size-s.cur >= n && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return nil
	}
	w := &semWaiter{n: n, ready: make(chan struct{})}
	elem := s.waiters.PushBack(w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			s.cur -= n
		default:
			s.waiters.Remove(elem)
		}
		s.notifyLocked()
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *weightedSem) release(n int64) {
	s.mu.Lock()
	s.cur -= n
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *weightedSem) notifyLocked() {
	for {
		front := s.waiters.Front()
		if front == nil {
			return
		}
		w := front.Value.(*semWaiter)
		if s.size-s.cur < w.n {
			return
		}
		s.cur += w.n
		s.waiters.Remove(front)
		close(w.ready)
	}
}

// waiting returns the number of blocked acquirers, for tests.
func (s *weightedSem) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiters.Len()
}
