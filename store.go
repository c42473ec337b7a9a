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
	// not change when the login or password changes, and must never be
	// reused for another account once deleted: a token of the old account
	// would otherwise name the new one (random or sequence IDs do this).
	// 1 to 255 bytes.
	ID string

	// PasswordHash is the stored hash in PHC ($argon2id$…) or bcrypt ($2b$…)
	// form. An empty hash never matches any password.
	PasswordHash string

	// Roles are checked by RequireAnyRole and RequireAllRoles.
	Roles []string

	// Disabled accounts cannot log in, and their tokens are rejected.
	Disabled bool

	// TokensValidAfter rejects every token not issued strictly after it
	// (compared at microsecond precision). Set it on a password change, a
	// disable or "log out everywhere", to the time of the write, taken as
	// late as possible. Stores set it when they create an account, so that
	// no token minted before the account existed can name it. The zero
	// time disables it.
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
// read, never modified, by the authenticator, which hands handlers a copy; a
// store may hand out a shared pointer as long as it never mutates it
// afterwards.
//
// Account lifecycle: IDs are never reused, and creating an account sets
// its TokensValidAfter to the creation time unless given one, so a token
// can only ever name the account it was minted for.
//
// Optional methods, found by type assertion:
//
//	LoginKey(login string) string
//
// Password failures are counted per login key, strings.ToLower(login) by
// default. A store that matches logins more loosely (trimming, Unicode
// normalization, citext collations) returns the key it matches on, so that
// every spelling it matches shares one budget.
//
//	UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error
//
// When a user logs in with a hash below the current policy (an old bcrypt
// cost, weaker argon2id parameters), the authenticator offers the new hash:
// replace account id's hash with newHash only if it is still oldHash, so
// a concurrent password change wins (and return nil then too).
//
// AccountStore adds the writes of the account lifecycle.
type UserStore[U any] interface {
	// UserByLogin finds the account whose login (email or username) is
	// login, exactly as the client sent it. Whether logins are matched
	// case-insensitively is the store's choice; document it.
	UserByLogin(ctx context.Context, login string) (*Account[U], error)

	// UserByID finds the account whose Account.ID is id, the subject of a
	// verified token.
	UserByID(ctx context.Context, id string) (*Account[U], error)
}

// loginKeyer is an optional interface for a UserStore: LoginKey returns the
// canonical form of login, the same for every spelling that UserByLogin
// matches to one account (for example strings.ToLower(strings.TrimSpace(
// norm.NFKC.String(login)))). The per-login limiter counts against it.
// Without it, the key is strings.ToLower(login).
type loginKeyer interface {
	LoginKey(login string) string
}

// passwordRehasher is an optional interface for a UserStore. When a user
// logs in with a hash below the current policy (an old bcrypt cost, weaker
// argon2id parameters), the authenticator offers the new hash through it.
type passwordRehasher interface {
	// UpdatePasswordHash replaces the hash of account id with newHash, but
	// only if the stored hash is still oldHash (so a concurrent password
	// change wins). A store that finds oldHash replaced returns nil.
	UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error
}

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

	confirmed sync.Map // id -> struct{}; see MarkConfirmed
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
		hasher = defaultHasher()
	}
	s := &MemoryUserStore[U]{hasher: hasher}
	s.snap.Store(&memorySnapshot[U]{
		byLogin: map[string]*Account[U]{},
		byID:    map[string]*Account[U]{},
		loginOf: map[string]string{},
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
// same ID (moving it to the new login). It fails if the login belongs to
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
	acct.ID = id
	if acct.Disabled && !cur.Disabled {
		if now := time.Now(); now.After(acct.TokensValidAfter) {
			acct.TokensValidAfter = now
		}
	}
	next := old.clone()
	a := &acct
	next.byLogin[next.loginOf[id]] = a
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
	if _, ok := old.byID[id]; !ok {
		return nil
	}
	next := old.clone()
	delete(next.byLogin, next.loginOf[id])
	delete(next.byID, id)
	delete(next.loginOf, id)
	s.snap.Store(next)
	s.confirmed.Delete(id)
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

// AccountStore is an optional interface for a UserStore: the writes that
// Confirm, ResetPassword and ChangeLogin make, and the state they bind
// tokens to. Implementations must be safe for concurrent use.
//
// Contract for the writes: a missing account is an error for which
// errors.Is(err, ErrUserNotFound) holds; any other error is a store
// failure. A write is visible to the next UserByID.
type AccountStore[U any] interface {
	// AccountStamp returns the state of acct that the Account fields do
	// not show and that a token must be bound to: at least the confirmed
	// flag and the login, so that MarkConfirmed and SetLogin end the
	// tokens issued before them. It must not block.
	AccountStamp(acct *Account[U]) []byte

	// MarkConfirmed marks account id confirmed. Confirming a confirmed
	// account is not an error.
	MarkConfirmed(ctx context.Context, id string) error

	// SwapPasswordHash replaces account id's password hash with newHash
	// and sets its TokensValidAfter to the time of the write, taken as
	// late as possible, so every token issued before it is refused, but
	// only if the stored hash is still oldHash: a compare-and-set, so one
	// reset token sets the password once even when two requests race. A
	// hash that is no longer oldHash changes nothing and returns false.
	SwapPasswordHash(ctx context.Context, id, oldHash, newHash string) (swapped bool, err error)

	// SetLogin moves account id to login. A login that another account
	// holds (by the store's own matching rule) is an error wrapping
	// ErrAccountExists, and changes nothing.
	SetLogin(ctx context.Context, id, login string) error
}

// AccountStamp implements AccountStore: the login and the confirmed flag.
func (s *MemoryUserStore[U]) AccountStamp(acct *Account[U]) []byte {
	b := []byte(s.snap.Load().loginOf[acct.ID])
	if s.Confirmed(acct.ID) {
		return append(b, 0, 1)
	}
	return append(b, 0, 0)
}

// Confirmed reports whether account id was marked confirmed with
// MarkConfirmed. The store keeps the flag itself, beside the host's User
// value; a host whose User has its own flag reads that one instead.
func (s *MemoryUserStore[U]) Confirmed(id string) bool {
	_, ok := s.confirmed.Load(id)
	return ok
}

// MarkConfirmed implements AccountStore.
func (s *MemoryUserStore[U]) MarkConfirmed(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock() // against a concurrent Delete
	defer s.mu.Unlock()
	if _, ok := s.snap.Load().byID[id]; !ok {
		return fmt.Errorf("httpauth: confirm %q: %w", id, ErrUserNotFound)
	}
	s.confirmed.Store(id, struct{}{})
	return nil
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

// SetTokensValidAfter sets account id's cutoff to t ("log out
// everywhere" with t = time.Now()). The authenticator also calls it to
// fold a user's revocations into the cutoff past the revocation bound.
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
	next := old.clone()
	delete(next.byLogin, next.loginOf[id])
	next.byLogin[key] = cur
	next.loginOf[id] = key
	s.snap.Store(next)
	return nil
}
