package httpauth

import (
	"context"
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

	// Login is the account's login as the store holds it (its canonical
	// form, such as the lower-cased email address). Mail account links
	// to it, never to the spelling a client typed. Account tokens are
	// bound to it, so an email change ends the links sent before.
	Login string

	// Confirmed reports whether the user proved to own the login
	// (Confirm). It is the one confirmed flag: a CheckAccount that refuses
	// unconfirmed accounts reads it. Account tokens are bound to it, so a
	// confirmation link works once.
	Confirmed bool

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

// LoginKeyer is an optional interface for a UserStore: LoginKey returns the
// canonical form of login, the same for every spelling that UserByLogin
// matches to one account (for example precis.UsernameCaseMapped's). The
// per-login limiter and the verified-password cache key on it. Without
// it, the key is strings.ToLower(login). MemoryUserStore and sqlstore
// implement it.
type LoginKeyer interface {
	LoginKey(login string) string
}

// PasswordRehasher is an optional interface for a UserStore. When a user
// logs in with a hash below the current policy (an old bcrypt cost, weaker
// argon2id parameters, a hash imported from another framework), the
// authenticator offers the new hash through it. MemoryUserStore and
// sqlstore implement it.
type PasswordRehasher interface {
	// UpdatePasswordHash replaces the hash of account id with newHash, but
	// only if the stored hash is still oldHash (so a concurrent password
	// change wins). A store that finds oldHash replaced returns nil.
	UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error
}

// AccountStore is an optional interface for a UserStore: the writes that
// Confirm, ResetPassword, ChangeLogin and RevokeHandler make.
// Implementations must be safe for concurrent use.
//
// Account tokens are bound to the account's state as UserByID returns it:
// ID, Login, Confirmed, PasswordHash, Disabled and TokensValidAfter. An
// AccountStore's lookups must therefore fill Login and Confirmed, so that
// MarkConfirmed and SetLogin end the links sent before them.
//
// Contract for the writes: a missing account is an error for which
// errors.Is(err, ErrUserNotFound) holds; any other error is a store
// failure. A write is visible to the next UserByID.
type AccountStore[U any] interface {
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

	// SetTokensValidAfter sets account id's TokensValidAfter to t: "log
	// out everywhere" with t = time.Now(). RevokeHandler calls it to fold
	// a user's revocations into the cutoff past revocationsPerTTL.
	SetTokensValidAfter(ctx context.Context, id string, t time.Time) error
}
