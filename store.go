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

// Account is what a UserStore knows about one user: the fields the
// authenticator needs, plus the host's own user value in User.
type Account[U any] struct {
	// ID is the stable identifier a token carries as its subject. It must
	// not change when the login or password changes. 1 to 255 bytes.
	ID string

	// PasswordHash is the stored hash in PHC ($argon2id$…) or bcrypt ($2b$…)
	// form. An empty hash never matches any password.
	PasswordHash string

	// Roles are checked by RequireAnyRole and RequireAllRoles.
	Roles []string

	// Disabled accounts cannot log in, and their tokens are rejected.
	Disabled bool

	// TokensValidAfter rejects every token issued before it. Set it on a
	// password change or "log out everywhere". The zero time disables it.
	TokensValidAfter time.Time

	// User is the host application's own user value. Handlers get it back
	// from the request context with its own type.
	User U
}

// HasRole reports whether the account has the role.
func (a *Account[U]) HasRole(role string) bool {
	for _, r := range a.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// UserStore finds accounts for the authenticator. Implementations must be
// safe for concurrent use.
//
// Contract for both methods: a user that does not exist is reported as an
// error for which errors.Is(err, ErrUserNotFound) holds (wrapping is fine).
// Any other error is a store failure: the request fails closed with a 500,
// never a 401. A nil error means a non-nil account. The returned account is
// read, never modified, by the authenticator; a store may hand out a shared
// pointer as long as it never mutates it afterwards.
type UserStore[U any] interface {
	// UserByLogin finds the account whose login (email or username) is
	// login, exactly as the client sent it. Whether logins are matched
	// case-insensitively is the store's choice; document it.
	UserByLogin(ctx context.Context, login string) (*Account[U], error)

	// UserByID finds the account whose Account.ID is id, the subject of a
	// verified token.
	UserByID(ctx context.Context, id string) (*Account[U], error)
}

// PasswordRehasher is an optional interface for a UserStore. When a user
// logs in with a hash below the current policy (an old bcrypt cost, weaker
// argon2id parameters), the authenticator offers the new hash through it.
type PasswordRehasher interface {
	// UpdatePasswordHash replaces the hash of account id with newHash, but
	// only if the stored hash is still oldHash (so a concurrent password
	// change wins). A store that finds oldHash replaced returns nil.
	UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error
}

// MemoryUserStore is an in-memory UserStore, safe for concurrent use. Logins
// are matched case-insensitively (after strings.ToLower). Reads take no lock:
// the store publishes an immutable snapshot that writers replace.
type MemoryUserStore[U any] struct {
	hasher PasswordHasher
	mu     sync.Mutex // serializes writers
	snap   atomic.Pointer[memorySnapshot[U]]
}

type memorySnapshot[U any] struct {
	byLogin map[string]*Account[U]
	byID    map[string]*Account[U]
	loginOf map[string]string // id -> normalized login
}

// NewMemoryUserStore returns an empty store that hashes the passwords given to
// Add with hasher, or with DefaultHasher when hasher is nil.
func NewMemoryUserStore[U any](hasher PasswordHasher) *MemoryUserStore[U] {
	if hasher == nil {
		hasher = DefaultHasher()
	}
	s := &MemoryUserStore[U]{hasher: hasher}
	s.snap.Store(&memorySnapshot[U]{
		byLogin: map[string]*Account[U]{},
		byID:    map[string]*Account[U]{},
		loginOf: map[string]string{},
	})
	return s
}

func normalizeLogin(login string) string { return strings.ToLower(login) }

// Add hashes password and stores acct under login. It fails if the login or
// the ID is taken, or if the password cannot be hashed.
func (s *MemoryUserStore[U]) Add(ctx context.Context, login, password string, acct Account[U]) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	acct.PasswordHash = hash
	return s.Put(ctx, login, acct)
}

// Put stores acct under login with the hash already in acct.PasswordHash. It
// replaces an existing account with the same ID (moving it to the new login)
// and fails if the login belongs to another ID.
func (s *MemoryUserStore[U]) Put(ctx context.Context, login string, acct Account[U]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if acct.ID == "" || len(acct.ID) > maxSubjectLen {
		return fmt.Errorf("httpauth: account ID must be 1 to %d bytes", maxSubjectLen)
	}
	if login == "" {
		return errors.New("httpauth: empty login")
	}
	key := normalizeLogin(login)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if other, ok := old.byLogin[key]; ok && other.ID != acct.ID {
		return fmt.Errorf("httpauth: login %q is taken", login)
	}
	next := old.clone()
	if prev, ok := next.loginOf[acct.ID]; ok {
		delete(next.byLogin, prev)
	}
	acct.Roles = append([]string(nil), acct.Roles...)
	a := &acct
	next.byLogin[key] = a
	next.byID[acct.ID] = a
	next.loginOf[acct.ID] = key
	s.snap.Store(next)
	return nil
}

// Update applies fn to a copy of account id and stores the result; the ID
// cannot change. Use it to disable a user, change roles, or set
// TokensValidAfter.
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
	acct.ID = id
	next := old.clone()
	a := &acct
	next.byLogin[next.loginOf[id]] = a
	next.byID[id] = a
	s.snap.Store(next)
	return nil
}

// SetPassword hashes password as the new password of account id and
// revokes every token issued before now, as a password change should.
func (s *MemoryUserStore[U]) SetPassword(ctx context.Context, id, password string) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	now := time.Now()
	return s.Update(ctx, id, func(a *Account[U]) {
		a.PasswordHash = hash
		a.TokensValidAfter = now
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
	if _, ok := old.byID[id]; !ok {
		return nil
	}
	next := old.clone()
	delete(next.byLogin, next.loginOf[id])
	delete(next.byID, id)
	delete(next.loginOf, id)
	s.snap.Store(next)
	return nil
}

// UserByLogin implements UserStore.
func (s *MemoryUserStore[U]) UserByLogin(ctx context.Context, login string) (*Account[U], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a, ok := s.snap.Load().byLogin[normalizeLogin(login)]; ok {
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

// UpdatePasswordHash implements PasswordRehasher.
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
		loginOf: make(map[string]string, len(m.loginOf)+1),
	}
	for k, v := range m.byLogin {
		n.byLogin[k] = v
	}
	for k, v := range m.byID {
		n.byID[k] = v
	}
	for k, v := range m.loginOf {
		n.loginOf[k] = v
	}
	return n
}
