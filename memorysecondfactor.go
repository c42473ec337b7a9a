package httpauth

import (
	"context"
	"fmt"
	"sync"
)

// memorySecondFactors is MemoryUserStore's second-factor state, by account
// ID, under its own lock: the account snapshot is not copied for a code.
type memorySecondFactors struct {
	mu sync.Mutex
	m  map[string]*memorySecondFactor
}

type memorySecondFactor struct {
	secret, pending string
	lastStep        int64
	recovery        map[string]bool
}

func (s *memorySecondFactors) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

var _ SecondFactorStore = (*MemoryUserStore[struct{}])(nil)

// secondFactorOf runs fn under the lock with account id's state, created
// if missing, or fails with ErrUserNotFound when the account does not
// exist.
func (s *MemoryUserStore[U]) secondFactorOf(ctx context.Context, id string, fn func(*memorySecondFactor)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.snap.Load().byID[id]; !ok {
		return fmt.Errorf("httpauth: second factor of %q: %w", id, ErrUserNotFound)
	}
	s.second.mu.Lock()
	defer s.second.mu.Unlock()
	if s.second.m == nil {
		s.second.m = map[string]*memorySecondFactor{}
	}
	st := s.second.m[id]
	if st == nil {
		st = &memorySecondFactor{}
		s.second.m[id] = st
	}
	fn(st)
	return nil
}

// SecondFactor implements SecondFactorStore.
func (s *MemoryUserStore[U]) SecondFactor(ctx context.Context, id string) (secret, pending string, lastStep int64, err error) {
	err = s.secondFactorOf(ctx, id, func(st *memorySecondFactor) {
		secret, pending, lastStep = st.secret, st.pending, st.lastStep
	})
	return secret, pending, lastStep, err
}

// SetPendingTOTP implements SecondFactorStore.
func (s *MemoryUserStore[U]) SetPendingTOTP(ctx context.Context, id, sealed string) error {
	return s.secondFactorOf(ctx, id, func(st *memorySecondFactor) { st.pending = sealed })
}

// EnableTOTP implements SecondFactorStore.
func (s *MemoryUserStore[U]) EnableTOTP(ctx context.Context, id, pending string, step int64, recoveryHashes []string) (bool, error) {
	enabled := false
	err := s.secondFactorOf(ctx, id, func(st *memorySecondFactor) {
		if st.pending == "" || st.pending != pending {
			return
		}
		st.secret, st.pending, st.lastStep = pending, "", step
		st.recovery = hashSet(recoveryHashes)
		enabled = true
	})
	return enabled, err
}

// DisableTOTP implements SecondFactorStore.
func (s *MemoryUserStore[U]) DisableTOTP(ctx context.Context, id string) error {
	return s.secondFactorOf(ctx, id, func(st *memorySecondFactor) { *st = memorySecondFactor{} })
}

// AcceptTOTPStep implements SecondFactorStore.
func (s *MemoryUserStore[U]) AcceptTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	accepted := false
	err := s.secondFactorOf(ctx, id, func(st *memorySecondFactor) {
		if step > st.lastStep {
			st.lastStep, accepted = step, true
		}
	})
	return accepted, err
}

// ResealTOTP implements SecondFactorStore.
func (s *MemoryUserStore[U]) ResealTOTP(ctx context.Context, id, old, sealed string) error {
	return s.secondFactorOf(ctx, id, func(st *memorySecondFactor) {
		if st.secret != "" && st.secret == old {
			st.secret = sealed
		}
	})
}

// UseRecoveryCode implements SecondFactorStore.
func (s *MemoryUserStore[U]) UseRecoveryCode(ctx context.Context, id, hash string) (bool, error) {
	used := false
	err := s.secondFactorOf(ctx, id, func(st *memorySecondFactor) {
		if st.recovery[hash] {
			delete(st.recovery, hash)
			used = true
		}
	})
	return used, err
}

// SetRecoveryCodes implements SecondFactorStore.
func (s *MemoryUserStore[U]) SetRecoveryCodes(ctx context.Context, id string, hashes []string) error {
	return s.secondFactorOf(ctx, id, func(st *memorySecondFactor) { st.recovery = hashSet(hashes) })
}

func hashSet(hashes []string) map[string]bool {
	m := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		m[h] = true
	}
	return m
}
