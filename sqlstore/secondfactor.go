package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gohttpauth/httpauth"
)

// The second factor: the store is an httpauth.SecondFactorStore on the
// tables httpauth_second_factor and httpauth_recovery_codes, which Migrate
// creates (schema/*.sql). Every write goes to the database, and the
// compare-and-set writes (a TOTP step, a recovery code, the enrolment)
// are single UPDATE or DELETE statements, so that of two instances given
// one code, exactly one accepts it.
//
// One answer is cached: "off" (no secret, no pending secret, last step
// 0), which the authenticator asks for on every password request. With
// the account cache on, SecondFactor records it in the account's cache
// entry, under the entry's ticket rule, and answers it from there while
// the cache is trusted and the heartbeat's second echo shows that
// httpauth_second_factor's triggers notify the cache's channel, so that
// every change to the row, by any instance or plain SQL, drops the entry
// (see cache.go). Every other answer is read each time.

var _ httpauth.SecondFactorStore = (*Store[User])(nil)

const (
	secondFactorTable  = "httpauth_second_factor"
	recoveryCodesTable = "httpauth_recovery_codes"
)

// errNoUser is the error of a second-factor method on a missing account.
func errNoUser(what string) error {
	return fmt.Errorf("sqlstore: %s: %w", what, httpauth.ErrUserNotFound)
}

// userExists reports whether account id exists, through q (the store's
// database or a transaction).
func (s *Store[U]) userExists(ctx context.Context, q querier, id string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE %s = %s", s.table, s.cols.ID, s.ph(1)), id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// changed runs a conditional write and reports whether it changed a row;
// when it did not, a missing account is ErrUserNotFound.
func (s *Store[U]) changed(ctx context.Context, q querier, what, id, query string, args ...any) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !storable(id) {
		return false, errNoUser(what)
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if n > 0 {
		return true, nil
	}
	ok, err := s.userExists(ctx, q, id)
	switch {
	case err != nil:
		return false, fmt.Errorf("sqlstore: %s: %w", what, err)
	case !ok:
		return false, errNoUser(what)
	}
	return false, nil
}

// SecondFactor implements httpauth.SecondFactorStore.
func (s *Store[U]) SecondFactor(ctx context.Context, id string) (secret, pending string, lastStep int64, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", 0, err
	}
	if !storable(id) {
		return "", "", 0, errNoUser("second factor")
	}
	var tk ticket
	if s.cache != nil {
		if s.cache.secondFactorOff(id) {
			return "", "", 0, nil
		}
		tk = s.cache.ticket() // before the read: see localstate.Cache.Update
	}
	s.sfQueries.Add(1)
	q := fmt.Sprintf(`SELECT COALESCE(f.secret, ''), COALESCE(f.pending, ''), COALESCE(f.last_step, 0)
		FROM %s u LEFT JOIN %s f ON f.user_id = u.%s WHERE u.%s = %s`,
		s.table, secondFactorTable, s.cols.ID, s.cols.ID, s.ph(1))
	err = s.db.QueryRowContext(ctx, q, id).Scan(&secret, &pending, &lastStep)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", 0, errNoUser("second factor")
	case err != nil:
		return "", "", 0, fmt.Errorf("sqlstore: second factor: %w", err)
	}
	if s.cache != nil && secret == "" && pending == "" && lastStep == 0 {
		s.cache.setSecondFactorOff(id, tk)
	}
	return secret, pending, lastStep, nil
}

// SetPendingTOTP implements httpauth.SecondFactorStore.
func (s *Store[U]) SetPendingTOTP(ctx context.Context, id, sealed string) error {
	q := fmt.Sprintf(`INSERT INTO %s (user_id, pending) SELECT %s, %s WHERE EXISTS (SELECT 1 FROM %s WHERE %s = %s)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending`,
		secondFactorTable, s.ph(1), s.ph(2), s.table, s.cols.ID, s.ph(3))
	ok, err := s.changed(ctx, s.db, "set pending TOTP", id, q, id, sealed, id)
	s.invalidate(id)
	if err == nil && !ok {
		return errNoUser("set pending TOTP")
	}
	return err
}

// EnableTOTP implements httpauth.SecondFactorStore, in one transaction.
func (s *Store[U]) EnableTOTP(ctx context.Context, id, pending string, step int64, recoveryHashes []string) (bool, error) {
	if pending == "" {
		_, _, _, err := s.SecondFactor(ctx, id) // only for ErrUserNotFound
		return false, err
	}
	var enabled bool
	err := s.inTx(ctx, "enable TOTP", func(tx *sql.Tx) error {
		q := fmt.Sprintf("UPDATE %s SET secret = pending, pending = '', last_step = %s WHERE user_id = %s AND pending = %s",
			secondFactorTable, s.ph(1), s.ph(2), s.ph(3))
		var err error
		if enabled, err = s.changed(ctx, tx, "enable TOTP", id, q, step, id, pending); err != nil || !enabled {
			return err
		}
		return s.replaceCodes(ctx, tx, id, recoveryHashes)
	})
	s.invalidate(id)
	return enabled, err
}

// replaceCodes makes account id's recovery codes exactly hashes.
func (s *Store[U]) replaceCodes(ctx context.Context, tx *sql.Tx, id string, hashes []string) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE user_id = %s", recoveryCodesTable, s.ph(1)), id); err != nil {
		return err
	}
	ins := fmt.Sprintf("INSERT INTO %s (user_id, hash) VALUES (%s, %s)", recoveryCodesTable, s.ph(1), s.ph(2))
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, ins, id, h); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs f in a transaction, committed if f returns nil.
func (s *Store[U]) inTx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		if errors.Is(err, httpauth.ErrUserNotFound) {
			return err
		}
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return nil
}

// DisableTOTP implements httpauth.SecondFactorStore.
func (s *Store[U]) DisableTOTP(ctx context.Context, id string) error {
	defer s.invalidate(id)
	return s.inTx(ctx, "disable TOTP", func(tx *sql.Tx) error {
		if ok, err := s.userExists(ctx, tx, id); err != nil || !ok {
			if err == nil {
				err = errNoUser("disable TOTP")
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE user_id = %s", secondFactorTable, s.ph(1)), id); err != nil {
			return err
		}
		return s.replaceCodes(ctx, tx, id, nil)
	})
}

// AcceptTOTPStep implements httpauth.SecondFactorStore: one conditional
// UPDATE.
func (s *Store[U]) AcceptTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	q := fmt.Sprintf("UPDATE %s SET last_step = %s WHERE user_id = %s AND last_step < %s",
		secondFactorTable, s.ph(1), s.ph(2), s.ph(3))
	defer s.invalidate(id)
	return s.changed(ctx, s.db, "accept TOTP step", id, q, step, id, step)
}

// ResealTOTP implements httpauth.SecondFactorStore.
func (s *Store[U]) ResealTOTP(ctx context.Context, id, old, sealed string) error {
	q := fmt.Sprintf("UPDATE %s SET secret = %s WHERE user_id = %s AND secret = %s AND secret <> ''",
		secondFactorTable, s.ph(1), s.ph(2), s.ph(3))
	_, err := s.changed(ctx, s.db, "reseal TOTP", id, q, sealed, id, old)
	s.invalidate(id)
	return err
}

// UseRecoveryCode implements httpauth.SecondFactorStore: one DELETE.
func (s *Store[U]) UseRecoveryCode(ctx context.Context, id, hash string) (bool, error) {
	q := fmt.Sprintf("DELETE FROM %s WHERE user_id = %s AND hash = %s", recoveryCodesTable, s.ph(1), s.ph(2))
	return s.changed(ctx, s.db, "use recovery code", id, q, id, hash)
}

// SetRecoveryCodes implements httpauth.SecondFactorStore.
func (s *Store[U]) SetRecoveryCodes(ctx context.Context, id string, hashes []string) error {
	return s.inTx(ctx, "set recovery codes", func(tx *sql.Tx) error {
		if ok, err := s.userExists(ctx, tx, id); err != nil || !ok {
			if err == nil {
				err = errNoUser("set recovery codes")
			}
			return err
		}
		return s.replaceCodes(ctx, tx, id, hashes)
	})
}
