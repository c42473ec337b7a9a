package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gohttpauth/httpauth"
)

// NewUser describes a user for CreateUser.
type NewUser struct {
	// ID is the user's stable identifier, 1 to 255 bytes of UTF-8.
	// Default: 32 random hex digits (128 bits). Never reuse the ID of a
	// deleted user: tokens name users by ID. (The default cutoff below
	// refuses the old user's tokens even then.)
	ID string
	// Login is the email or username, stored in its canonical form
	// (CanonicalLogin). Required.
	Login string
	// Password is hashed with Config.Hasher. Leave it and PasswordHash
	// empty for a user who cannot log in until SetPassword.
	Password string
	// PasswordHash is an already hashed password (PHC argon2id or bcrypt),
	// stored as is, for imports. It excludes Password.
	PasswordHash string
	// Confirmed, Roles and Disabled are stored as given.
	Confirmed bool
	Roles     []string
	Disabled  bool
	// TokensValidAfter is the initial token cutoff. Default: the
	// creation time, so that no token issued before the user
	// existed, such as one of a deleted user with the same ID, is
	// accepted.
	TokensValidAfter time.Time
}

// Earliest and latest cutoffs that Unix nanoseconds in an int64 hold.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

func checkTime(t time.Time) error {
	if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
		return fmt.Errorf("sqlstore: time %v outside the years 1678 to 2262", t)
	}
	return nil
}

// CreateUser stores a new user and returns its ID. It fails with an error
// wrapping httpauth.ErrAccountExists if the login (compared in its
// canonical form, see CanonicalLogin) or the ID is taken, and with one
// wrapping ErrInvalidLogin if the login has no canonical form. Unless u says otherwise, the user's token cutoff is
// the creation time.
func (s *Store[U]) CreateUser(ctx context.Context, u NewUser) (string, error) {
	login, err := CanonicalLogin(u.Login)
	if err != nil {
		return "", fmt.Errorf("sqlstore: create user: %w", err)
	}
	if u.ID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		u.ID = hex.EncodeToString(b[:])
	}
	if len(u.ID) > 255 || !storable(u.ID) {
		return "", errors.New("sqlstore: create user: ID must be 1 to 255 bytes of UTF-8 without NUL")
	}
	if u.Password != "" && u.PasswordHash != "" {
		return "", errors.New("sqlstore: create user: both Password and PasswordHash set")
	}
	if u.TokensValidAfter.IsZero() {
		u.TokensValidAfter = time.Now()
	}
	if err := checkTime(u.TokensValidAfter); err != nil {
		return "", err
	}
	roles, err := encodeRoles(u.Roles)
	if err != nil {
		return "", err
	}
	hash := u.PasswordHash
	if u.Password != "" {
		if hash, err = s.hasher.Hash(ctx, u.Password); err != nil {
			return "", fmt.Errorf("sqlstore: create user: %w", err)
		}
	}
	c := s.cols
	q := fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s, %s, %s, %s) VALUES (%s, %s, %s, %s, %s, %s, %s)",
		s.table, c.ID, c.Login, c.PasswordHash, c.Confirmed, c.Roles, c.Disabled, c.TokensValidAfter,
		s.ph(1), s.ph(2), s.ph(3), s.ph(4), s.ph(5), s.ph(6), s.ph(7))
	_, err = s.db.ExecContext(ctx, q, u.ID, login, hash, u.Confirmed, roles, u.Disabled, encodeTime(u.TokensValidAfter))
	if s.cache != nil {
		s.cache.invalidate(u.ID)
		s.cache.invalidateLogin(login)
	}
	if isUniqueViolation(err) {
		return "", fmt.Errorf("sqlstore: create user: %w: %w", httpauth.ErrAccountExists, err)
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore: create user: %w", err)
	}
	return u.ID, nil
}

// set runs UPDATE table SET col1 = $1, col2 = $2, ... WHERE id = $n and
// reports a missing user as httpauth.ErrUserNotFound.
func (s *Store[U]) set(ctx context.Context, what, id string, cols []string, vals ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := "UPDATE " + s.table + " SET "
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		q += c + " = " + s.ph(i+1)
	}
	q += " WHERE " + s.cols.ID + " = " + s.ph(len(cols)+1)
	res, err := s.db.ExecContext(ctx, q, append(vals, id)...)
	s.invalidate(id) // even on error: the write may have committed
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w", what, httpauth.ErrUserNotFound)
	}
	return nil
}

// SetPassword hashes password with Config.Hasher as the new password of
// user id and revokes every token issued before now, as a password change
// should.
func (s *Store[U]) SetPassword(ctx context.Context, id, password string) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("sqlstore: set password: %w", err)
	}
	return s.set(ctx, "set password", id, []string{s.cols.PasswordHash, s.cols.TokensValidAfter}, hash, encodeTime(time.Now()))
}

// SetPasswordHash stores an already computed hash for user id, whatever
// the stored one, and revokes every token issued before now, as
// SetPassword does. It is a management call; the authenticator's reset
// uses the conditional SwapPasswordHash. Import hashes with
// NewUser.PasswordHash instead.
func (s *Store[U]) SetPasswordHash(ctx context.Context, id, hash string) error {
	return s.set(ctx, "set password hash", id, []string{s.cols.PasswordHash, s.cols.TokensValidAfter}, hash, encodeTime(time.Now()))
}

// SetDisabled disables or enables user id. Disabling also revokes every
// token issued before now, so enabling the user later does not revive
// them.
func (s *Store[U]) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if disabled {
		return s.set(ctx, "disable", id, []string{s.cols.Disabled, s.cols.TokensValidAfter}, true, encodeTime(time.Now()))
	}
	return s.set(ctx, "enable", id, []string{s.cols.Disabled}, false)
}

// SetConfirmed sets whether user id confirmed their login.
func (s *Store[U]) SetConfirmed(ctx context.Context, id string, confirmed bool) error {
	return s.set(ctx, "set confirmed", id, []string{s.cols.Confirmed}, confirmed)
}

// SetRoles replaces the roles of user id. Empty role names are refused.
func (s *Store[U]) SetRoles(ctx context.Context, id string, roles []string) error {
	enc, err := encodeRoles(roles)
	if err != nil {
		return err
	}
	return s.set(ctx, "set roles", id, []string{s.cols.Roles}, enc)
}

// SetTokensValidAfter sets the token cutoff of user id: tokens issued
// before t are rejected. The zero time removes the cutoff.
func (s *Store[U]) SetTokensValidAfter(ctx context.Context, id string, t time.Time) error {
	if err := checkTime(t); err != nil {
		return err
	}
	return s.set(ctx, "set tokens valid after", id, []string{s.cols.TokensValidAfter}, encodeTime(t))
}

// LogoutEverywhere revokes every token of user id issued before now.
func (s *Store[U]) LogoutEverywhere(ctx context.Context, id string) error {
	return s.SetTokensValidAfter(ctx, id, time.Now())
}

// DeleteUser removes user id and, through the schema, its API keys; its
// tokens stop verifying, since the authenticator finds no user for them. A missing user is an error
// wrapping httpauth.ErrUserNotFound.
func (s *Store[U]) DeleteUser(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE "+s.cols.ID+" = "+s.ph(1), id)
	s.invalidate(id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: delete user: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete user: %w", httpauth.ErrUserNotFound)
	}
	return nil
}
