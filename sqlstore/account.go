package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gohttpauth/httpauth"
)

var _ httpauth.AccountStore[User] = (*Store[User])(nil)

// AccountStamp implements httpauth.AccountStore: the login and the
// confirmed flag, so that confirming or changing the login ends the
// account tokens issued before.
//
// For the default User they are read from acct.User. For another type
// they are those of the row acct was read from, so acct must be an
// account this store returned, not a copy: any other account gets a
// random stamp, which no token matches (fail closed).
func (s *Store[U]) AccountStamp(acct *httpauth.Account[U]) []byte {
	if s.stamps == nil {
		u := any(acct.User).(User) // s.stamps is nil only for U = User
		return stamp(u.Login, u.Confirmed)
	}
	if b, ok := s.stamps.get(acct); ok {
		return b
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

func stamp(login string, confirmed bool) []byte {
	b := []byte(login)
	if confirmed {
		return append(b, 0, 1)
	}
	return append(b, 0, 0)
}

// stamps remembers the AccountStamp of each account a Store[U] returned,
// for a U that does not carry the login and confirmed flag. It holds the
// accounts weakly: an entry goes when its account is collected.
type stamps[U any] struct {
	m sync.Map // weak.Pointer[httpauth.Account[U]] -> []byte
}

func (s *stamps[U]) remember(acct *httpauth.Account[U], b []byte) {
	k := weak.Make(acct)
	s.m.Store(k, b)
	runtime.AddCleanup(acct, func(k weak.Pointer[httpauth.Account[U]]) { s.m.Delete(k) }, k)
}

func (s *stamps[U]) get(acct *httpauth.Account[U]) ([]byte, bool) {
	b, ok := s.m.Load(weak.Make(acct))
	if !ok {
		return nil, false
	}
	return b.([]byte), true
}

// MarkConfirmed implements httpauth.AccountStore: it marks user id
// confirmed. Confirming a confirmed user is not an error.
func (s *Store[U]) MarkConfirmed(ctx context.Context, id string) error {
	return s.set(ctx, "mark confirmed", id, []string{s.cols.Confirmed}, true)
}

// SetLogin implements httpauth.AccountStore: it moves user id to login,
// stored in its canonical form (CanonicalLogin). A login with none is an
// error wrapping ErrInvalidLogin. A login another user holds is an error wrapping
// httpauth.ErrAccountExists, and changes nothing; the unique index
// decides, so two concurrent moves to one login cannot both succeed.
func (s *Store[U]) SetLogin(ctx context.Context, id, login string) error {
	key, err := CanonicalLogin(login)
	if err != nil {
		return fmt.Errorf("sqlstore: set login: %w", err)
	}
	err = s.set(ctx, "set login", id, []string{s.cols.Login}, key)
	if s.cache != nil {
		// The ID entry (and with it the old login's) is gone; drop a
		// stale "not this account" view of the new login as well.
		s.cache.invalidateLogin(key)
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: set login: %w: login %q is taken", httpauth.ErrAccountExists, key)
	}
	return err
}

// isUniqueViolation reports whether err is a unique-constraint violation:
// SQLSTATE 23505 on PostgreSQL, SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY on SQLite. The package imports no SQLite
// driver, so SQLite errors are recognised by their code method or their
// message.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		return st.SQLState() == "23505"
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return true
		}
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// SwapPasswordHash implements httpauth.AccountStore: it replaces the
// password hash of user id with newHash, and moves its token cutoff to the
// time of the write, only if the stored hash is still oldHash. It is one
// conditional UPDATE (WHERE id = … AND password_hash = oldHash), so of two
// requests that race with one reset token, exactly one wins. If the hash
// was replaced meanwhile it changes nothing and returns false, nil. A
// missing user is an error wrapping httpauth.ErrUserNotFound.
func (s *Store[U]) SwapPasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := s.cols
	q := fmt.Sprintf("UPDATE %s SET %s = %s, %s = %s WHERE %s = %s AND %s = %s",
		s.table, c.PasswordHash, s.ph(1), c.TokensValidAfter, s.ph(2), c.ID, s.ph(3), c.PasswordHash, s.ph(4))
	// The cutoff is taken as late as possible: just before the write.
	res, err := s.db.ExecContext(ctx, q, newHash, encodeTime(time.Now()), id, oldHash)
	s.invalidate(id) // even on error: the write may have committed
	if err != nil {
		return false, fmt.Errorf("sqlstore: swap password hash: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: swap password hash: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM "+s.table+" WHERE "+c.ID+" = "+s.ph(1), id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("sqlstore: swap password hash: %w", httpauth.ErrUserNotFound)
	case err != nil:
		return false, fmt.Errorf("sqlstore: swap password hash: %w", err)
	}
	return false, nil
}
