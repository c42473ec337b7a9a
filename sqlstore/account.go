package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gohttpauth/httpauth"
)

var _ httpauth.AccountStore[User] = (*Store[User])(nil)

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
// SQLITE_CONSTRAINT_PRIMARYKEY on SQLite. The package imports no driver,
// so errors are recognised by their methods (SQLState, which pgx's
// *pgconn.PgError has; the SQLite drivers' Code) or, for SQLite, by their
// message.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
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
