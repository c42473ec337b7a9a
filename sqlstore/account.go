package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gohttpauth/httpauth"
)

var _ httpauth.AccountStore[User] = (*Store)(nil)

// AccountStamp implements httpauth.AccountStore: the login and the
// confirmed flag, so that confirming or changing the login ends the
// account tokens issued before.
func (s *Store) AccountStamp(acct *httpauth.Account[User]) []byte {
	b := []byte(acct.User.Login)
	if acct.User.Confirmed {
		return append(b, 0, 1)
	}
	return append(b, 0, 0)
}

// MarkConfirmed implements httpauth.AccountStore: it marks user id
// confirmed. Confirming a confirmed user is not an error.
func (s *Store) MarkConfirmed(ctx context.Context, id string) error {
	return s.set(ctx, "mark confirmed", id, []string{s.cols.Confirmed}, true)
}

// SetLogin implements httpauth.AccountStore: it moves user id to login,
// stored lower-cased. A login another user holds is an error wrapping
// httpauth.ErrAccountExists, and changes nothing; the unique index
// decides, so two concurrent moves to one login cannot both succeed.
func (s *Store) SetLogin(ctx context.Context, id, login string) error {
	if login == "" || !storable(login) {
		return errors.New("sqlstore: set login: login must be non-empty UTF-8 without NUL")
	}
	key := NormalizeLogin(login)
	err := s.set(ctx, "set login", id, []string{s.cols.Login}, key)
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
