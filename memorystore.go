package httpauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryUserStore is an in-memory UserStore, safe for concurrent use. Reads
// take no lock: the store publishes an immutable snapshot that writers
// replace.
//
// Logins are matched in one canonical form, the one LoginKey returns (and
// so the throttle and the credential cache): full-width ASCII forms mapped
// to ASCII, then lower-cased. Since the core has no Unicode normalization
// tables, logins that only normalization could make unambiguous are
// refused rather than guessed at: combining marks (the decomposed
// spelling of "café"), the Kelvin, Ångström and Ohm signs, non-ASCII
// letters that change case into ASCII ("ſ", "ı", "İ"), spaces and control
// characters. Add and Put refuse them with an error wrapping
// ErrBadRequest, and UserByLogin finds no account for them. sqlstore
// applies RFC 8265's UsernameCaseMapped profile instead.
type MemoryUserStore[U any] struct {
	hasher PasswordHasher
	mu     sync.Mutex // serializes writers
	snap   atomic.Pointer[memorySnapshot[U]]
	second memorySecondFactors // second factor (memorysecondfactor.go)
}

type memorySnapshot[U any] struct {
	byLogin map[string]*Account[U] // by Account.Login, the canonical login
	byID    map[string]*Account[U]
}

// NewMemoryUserStore returns an empty store that hashes the passwords given to
// Add with hasher, or with DefaultHasher when hasher is nil.
func NewMemoryUserStore[U any](hasher PasswordHasher) *MemoryUserStore[U] {
	if hasher == nil {
		hasher = defaultHasher()
	}
	s := &MemoryUserStore[U]{hasher: hasher}
	s.snap.Store(&memorySnapshot[U]{
		byLogin: map[string]*Account[U]{},
		byID:    map[string]*Account[U]{},
	})
	return s
}

// LoginKey is the throttling key of login (see UserStore): its canonical
// form (see MemoryUserStore), or strings.ToLower(login) when the store
// refuses it, so that a refused spelling still has a budget.
func (s *MemoryUserStore[U]) LoginKey(login string) string {
	if key, ok := canonicalLogin(login); ok {
		return key
	}
	return strings.ToLower(login)
}

// Add hashes password and stores a new account acct under login. It fails
// with ErrAccountExists if the login or the ID is taken, and if the
// password cannot be hashed. A zero acct.TokensValidAfter is set to now.
func (s *MemoryUserStore[U]) Add(ctx context.Context, login, password string, acct Account[U]) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	acct.PasswordHash = hash
	return s.put(ctx, login, acct, false)
}

// Put is an upsert: it stores acct under login with the hash already in
// acct.PasswordHash, creating the account or replacing the one with the
// same ID (moving it to the new login). acct.Login is set to login's
// canonical form; acct.Confirmed is stored as given. It fails if the login belongs to
// another ID. A new account's zero TokensValidAfter is set to now; a
// replaced account's cutoff never moves back (use Update to clear it).
// IDs must never be reused for another account (see Account.ID).
func (s *MemoryUserStore[U]) Put(ctx context.Context, login string, acct Account[U]) error {
	return s.put(ctx, login, acct, true)
}

func (s *MemoryUserStore[U]) put(ctx context.Context, login string, acct Account[U], replace bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if acct.ID == "" || len(acct.ID) > maxSubjectLen {
		return fmt.Errorf("httpauth: account ID must be 1 to %d bytes", maxSubjectLen)
	}
	key, err := loginToStore(login)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if other, ok := old.byLogin[key]; ok && other.ID != acct.ID {
		return fmt.Errorf("%w: login %q is taken", ErrAccountExists, login)
	}
	prev, exists := old.byID[acct.ID]
	switch {
	case exists && !replace:
		return fmt.Errorf("%w: ID %q is taken", ErrAccountExists, acct.ID)
	case exists:
		if prev.TokensValidAfter.After(acct.TokensValidAfter) {
			acct.TokensValidAfter = prev.TokensValidAfter
		}
	case acct.TokensValidAfter.IsZero():
		// No token minted before now may name the new account.
		acct.TokensValidAfter = time.Now()
	}
	next := old.clone()
	if exists {
		delete(next.byLogin, prev.Login)
	}
	acct.Login = key
	acct.Roles = append([]string(nil), acct.Roles...)
	a := &acct
	next.byLogin[key] = a
	next.byID[acct.ID] = a
	s.snap.Store(next)
	return nil
}

// Update applies fn to a copy of account id and stores the result; the ID
// and the login cannot change (SetLogin moves a login). Use it to disable a user, change roles, or set
// TokensValidAfter. Disabling an account also moves its TokensValidAfter
// to now, so enabling it again revives no token or API key.
func (s *MemoryUserStore[U]) Update(ctx context.Context, id string, fn func(*Account[U])) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	cur, ok := old.byID[id]
	if !ok {
		return fmt.Errorf("httpauth: update %q: %w", id, ErrUserNotFound)
	}
	acct := *cur
	acct.Roles = append([]string(nil), cur.Roles...)
	fn(&acct)
	acct.ID, acct.Login = id, cur.Login
	if acct.Disabled && !cur.Disabled {
		if now := time.Now(); now.After(acct.TokensValidAfter) {
			acct.TokensValidAfter = now
		}
	}
	next := old.clone()
	a := &acct
	next.byLogin[cur.Login] = a
	next.byID[id] = a
	s.snap.Store(next)
	return nil
}

// SetPassword hashes password as the new password of account id and
// revokes every token issued up to now, as a password change should. The
// cutoff is taken under the write lock, after the hash, just before the
// change is published.
func (s *MemoryUserStore[U]) SetPassword(ctx context.Context, id, password string) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.Update(ctx, id, func(a *Account[U]) {
		a.PasswordHash = hash
		a.TokensValidAfter = time.Now()
	})
}

// Delete removes account id. Deleting a missing account is not an error.
func (s *MemoryUserStore[U]) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	cur, ok := old.byID[id]
	if !ok {
		return nil
	}
	next := old.clone()
	delete(next.byLogin, cur.Login)
	delete(next.byID, id)
	s.snap.Store(next)
	s.second.forget(id) // second factor (memorysecondfactor.go)
	return nil
}

// UserByLogin implements UserStore.
func (s *MemoryUserStore[U]) UserByLogin(ctx context.Context, login string) (*Account[U], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, ok := canonicalLogin(login)
	if !ok {
		return nil, ErrUserNotFound
	}
	if a, ok := s.snap.Load().byLogin[key]; ok {
		return a, nil
	}
	return nil, ErrUserNotFound
}

// UserByID implements UserStore.
func (s *MemoryUserStore[U]) UserByID(ctx context.Context, id string) (*Account[U], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a, ok := s.snap.Load().byID[id]; ok {
		return a, nil
	}
	return nil, ErrUserNotFound
}

// UpdatePasswordHash is the rehash-on-login method of UserStore: it
// replaces id's hash only if it is still oldHash.
func (s *MemoryUserStore[U]) UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	err := s.Update(ctx, id, func(a *Account[U]) {
		if a.PasswordHash == oldHash {
			a.PasswordHash = newHash
		}
	})
	if errors.Is(err, ErrUserNotFound) {
		return nil
	}
	return err
}

func (m *memorySnapshot[U]) clone() *memorySnapshot[U] {
	n := &memorySnapshot[U]{
		byLogin: make(map[string]*Account[U], len(m.byLogin)+1),
		byID:    make(map[string]*Account[U], len(m.byID)+1),
	}
	for k, v := range m.byLogin {
		n.byLogin[k] = v
	}
	for k, v := range m.byID {
		n.byID[k] = v
	}
	return n
}

// MarkConfirmed implements AccountStore: it sets Account.Confirmed.
func (s *MemoryUserStore[U]) MarkConfirmed(ctx context.Context, id string) error {
	return s.Update(ctx, id, func(a *Account[U]) { a.Confirmed = true })
}

// SwapPasswordHash implements AccountStore.
func (s *MemoryUserStore[U]) SwapPasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error) {
	swapped := false
	err := s.Update(ctx, id, func(a *Account[U]) {
		if a.PasswordHash == oldHash {
			a.PasswordHash = newHash
			a.TokensValidAfter = time.Now()
			swapped = true
		}
	})
	return swapped, err
}

// SetTokensValidAfter implements AccountStore: it sets account id's
// cutoff to t ("log out everywhere" with t = time.Now()).
func (s *MemoryUserStore[U]) SetTokensValidAfter(ctx context.Context, id string, t time.Time) error {
	return s.Update(ctx, id, func(a *Account[U]) { a.TokensValidAfter = t })
}

// SetLogin implements AccountStore. Logins match in their canonical form
// (see MemoryUserStore), so a change of case only is allowed.
func (s *MemoryUserStore[U]) SetLogin(ctx context.Context, id, login string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := loginToStore(login)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	cur, ok := old.byID[id]
	if !ok {
		return fmt.Errorf("httpauth: set login of %q: %w", id, ErrUserNotFound)
	}
	if other, ok := old.byLogin[key]; ok && other.ID != id {
		return fmt.Errorf("%w: login %q is taken", ErrAccountExists, login)
	}
	moved := *cur
	moved.Login = key
	next := old.clone()
	delete(next.byLogin, cur.Login)
	next.byLogin[key] = &moved
	next.byID[id] = &moved
	s.snap.Store(next)
	return nil
}
