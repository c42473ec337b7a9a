// Package sqlstore is an httpauth.UserStore on database/sql, for PostgreSQL
// and SQLite.
//
// The store reads one row per lookup with statements prepared once, and
// implements httpauth.PasswordRehasher, so logins upgrade old hashes in
// place. It also has the writes an application needs to manage its users
// (CreateUser, SetPassword, SetDisabled, LogoutEverywhere, ...), and the
// command cmd/httpauth-users wraps them for operators.
//
// The package imports no driver: the host picks one, such as
// github.com/jackc/pgx/v5/stdlib ("pgx") or modernc.org/sqlite ("sqlite").
//
// # Schema
//
// [Migrate] creates the table httpauth_users from schema/postgres.sql or
// schema/sqlite.sql. A host that keeps users in its own table sets
// [Config.Table] and [Config.Columns], or writes its own SELECT statements
// in [Config.Queries], instead.
//
// Stored representations, the same for both dialects:
//   - login is stored lower-cased (Go's strings.ToLower) and looked up
//     lower-cased, so logins match case-insensitively and a plain UNIQUE
//     index keeps them unique;
//   - roles is a JSON array of strings, such as ["admin","ops"]; an empty
//     string and NULL mean no roles;
//   - tokens_valid_after is a BIGINT of Unix nanoseconds (UTC); 0 and NULL
//     mean no cutoff. Times round-trip to the nanosecond;
//   - confirmed and disabled are booleans (0/1 in SQLite).
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gohttpauth/httpauth"
)

// Dialect selects the SQL spelling: placeholders and the schema.
type Dialect string

// The supported dialects.
const (
	// Postgres is PostgreSQL ($1 placeholders), for example through the
	// driver github.com/jackc/pgx/v5/stdlib.
	Postgres Dialect = "postgres"
	// SQLite is SQLite 3.37 or later (? placeholders), for example through
	// the pure-Go driver modernc.org/sqlite.
	SQLite Dialect = "sqlite"
)

// DefaultTable is the table that Migrate creates and Config.Table defaults
// to.
const DefaultTable = "httpauth_users"

// User is the host-visible part of a stored user, handed to handlers as
// the httpauth.Account's User.
type User struct {
	// ID is the same as the Account's ID.
	ID string
	// Login is the stored login (email or username), lower-cased.
	Login string
	// Confirmed reports whether the user confirmed their login, such as
	// an email address. The authenticator ignores it; the host decides.
	Confirmed bool
}

// Columns names the columns of the users table. An empty field takes the
// default in its comment. Names must be identifiers ([A-Za-z_][A-Za-z0-9_]*,
// at most 63 bytes); the store quotes them, so give them exactly as stored
// (PostgreSQL folds unquoted names to lower case when it creates them).
type Columns struct {
	ID               string // default "id"
	Login            string // default "login"
	PasswordHash     string // default "password_hash"
	Confirmed        string // default "confirmed"
	Roles            string // default "roles"
	Disabled         string // default "disabled"
	TokensValidAfter string // default "tokens_valid_after"
}

// Queries replaces the statements the store generates from Config.Table
// and Config.Columns, for a host whose users do not fit one table, such as
// roles in a join table. An empty field keeps the generated statement.
// Placeholders are the dialect's ($1 or ?).
type Queries struct {
	// ByLogin selects at most one user. Its one parameter is the login,
	// lower-cased by the store (so compare it with a lower-cased column or
	// an expression such as lower(email), backed by an index). It must
	// return, in this order: id, login, password_hash, confirmed, roles
	// (a JSON array as text, an empty string or NULL), disabled, tokens_valid_after
	// (Unix nanoseconds, 0 or NULL). Literals may stand in for columns the
	// host lacks: SELECT id, email, pw, TRUE, '[]', FALSE, 0 FROM ...
	ByLogin string
	// ByID is like ByLogin, with the user's ID as its one parameter.
	ByID string
	// UpdatePasswordHash sets the new hash of one user if the stored hash
	// is still the old one. Parameters, in this order: new hash, id, old
	// hash.
	UpdatePasswordHash string
}

// Config configures New. Only Dialect is required.
type Config struct {
	// Dialect is Postgres or SQLite. Required.
	Dialect Dialect

	// Table is the users table, optionally schema-qualified
	// ("auth.users"). Each part is validated and quoted like Columns.
	// Default DefaultTable ("httpauth_users").
	Table string

	// Columns names the table's columns. Default: the names in the schema.
	Columns Columns

	// Queries replaces generated statements. Default: none.
	Queries Queries

	// Hasher hashes the passwords given to CreateUser and SetPassword.
	// Default httpauth.DefaultHasher() (argon2id). Lookups never hash.
	Hasher httpauth.PasswordHasher

	// Now is the clock for password changes and LogoutEverywhere. Default
	// time.Now.
	Now func() time.Time
}

// Store is an httpauth.UserStore[User] and httpauth.PasswordRehasher on a
// *sql.DB. It is safe for concurrent use. Close it to release its prepared
// statements; it does not close the database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	hasher  httpauth.PasswordHasher
	now     func() time.Time

	table string  // quoted
	cols  Columns // quoted

	byLogin, byID, rehash *sql.Stmt
}

var (
	_ httpauth.UserStore[User]  = (*Store)(nil)
	_ httpauth.PasswordRehasher = (*Store)(nil)
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// quoteIdent validates a possibly schema-qualified name and quotes each
// part: with double quotes for PostgreSQL, and with backquotes for SQLite,
// which reads a double-quoted name that matches no column as a string
// literal (so a misspelt column would compare as a constant).
func (d Dialect) quoteIdent(name string, qualified bool) (string, error) {
	parts := []string{name}
	if qualified {
		parts = strings.Split(name, ".")
		if len(parts) > 2 {
			return "", fmt.Errorf("sqlstore: invalid table name %q: at most schema.table", name)
		}
	}
	for i, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("sqlstore: invalid identifier %q: want [A-Za-z_][A-Za-z0-9_]*, at most 63 bytes", name)
		}
		if d == SQLite {
			parts[i] = "`" + p + "`"
		} else {
			parts[i] = `"` + p + `"`
		}
	}
	return strings.Join(parts, "."), nil
}

// placeholder returns the n-th (1-based) parameter marker of d.
func (d Dialect) placeholder(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// New validates cfg and prepares the store's lookup and rehash statements
// on db. The table need not be ours (see Config), but it must exist, since
// PostgreSQL checks statements when it prepares them.
func New(ctx context.Context, db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if cfg.Dialect != Postgres && cfg.Dialect != SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q: want %q or %q", cfg.Dialect, Postgres, SQLite)
	}
	s := &Store{db: db, dialect: cfg.Dialect, hasher: cfg.Hasher, now: cfg.Now}
	if s.hasher == nil {
		s.hasher = httpauth.DefaultHasher()
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if s.table, err = cfg.Dialect.quoteIdent(cfg.Table, true); err != nil {
		return nil, err
	}
	c := cfg.Columns
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&c.ID, "id"}, {&c.Login, "login"}, {&c.PasswordHash, "password_hash"},
		{&c.Confirmed, "confirmed"}, {&c.Roles, "roles"}, {&c.Disabled, "disabled"},
		{&c.TokensValidAfter, "tokens_valid_after"},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
		if *f.dst, err = cfg.Dialect.quoteIdent(*f.dst, false); err != nil {
			return nil, err
		}
	}
	s.cols = c

	sel := fmt.Sprintf("SELECT %s, %s, %s, %s, %s, %s, %s FROM %s WHERE ",
		c.ID, c.Login, c.PasswordHash, c.Confirmed, c.Roles, c.Disabled, c.TokensValidAfter, s.table)
	q := cfg.Queries
	if q.ByLogin == "" {
		q.ByLogin = sel + c.Login + " = " + s.ph(1)
	}
	if q.ByID == "" {
		q.ByID = sel + c.ID + " = " + s.ph(1)
	}
	if q.UpdatePasswordHash == "" {
		q.UpdatePasswordHash = fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s = %s AND %s = %s",
			s.table, c.PasswordHash, s.ph(1), c.ID, s.ph(2), c.PasswordHash, s.ph(3))
	}
	for _, p := range []struct {
		dst  **sql.Stmt
		name string
		q    string
	}{
		{&s.byLogin, "ByLogin", q.ByLogin}, {&s.byID, "ByID", q.ByID}, {&s.rehash, "UpdatePasswordHash", q.UpdatePasswordHash},
	} {
		if *p.dst, err = db.PrepareContext(ctx, p.q); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("sqlstore: prepare %s: %w", p.name, err)
		}
	}
	return s, nil
}

func (s *Store) ph(n int) string { return s.dialect.placeholder(n) }

// Close releases the prepared statements. It does not close the database.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.byLogin, s.byID, s.rehash} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// NormalizeLogin returns login as the store stores and compares it:
// lower-cased with strings.ToLower. Nothing is trimmed.
func NormalizeLogin(login string) string { return strings.ToLower(login) }

// UserByLogin implements httpauth.UserStore. Logins match
// case-insensitively: both the stored and the given login are lower-cased.
func (s *Store) UserByLogin(ctx context.Context, login string) (*httpauth.Account[User], error) {
	a, err := s.scan(ctx, s.byLogin, NormalizeLogin(login))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by login: %w", err)
	}
	return a, nil
}

// UserByID implements httpauth.UserStore. IDs match exactly.
func (s *Store) UserByID(ctx context.Context, id string) (*httpauth.Account[User], error) {
	a, err := s.scan(ctx, s.byID, id)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by ID: %w", err)
	}
	return a, nil
}

func (s *Store) scan(ctx context.Context, st *sql.Stmt, arg string) (*httpauth.Account[User], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !storable(arg) {
		// No such row can exist (CreateUser refuses it, and PostgreSQL
		// cannot even hold it): not found, rather than a query error
		// that anyone could provoke with a crafted login.
		return nil, httpauth.ErrUserNotFound
	}
	var (
		id, login, hash, roles sql.NullString
		confirmed, disabled    sql.NullBool
		cutoff                 sql.NullInt64
	)
	err := st.QueryRowContext(ctx, arg).Scan(&id, &login, &hash, &confirmed, &roles, &disabled, &cutoff)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, httpauth.ErrUserNotFound
	}
	if err != nil {
		return nil, err
	}
	if !id.Valid || id.String == "" {
		return nil, errors.New("row has an empty id")
	}
	r, err := decodeRoles(roles.String)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", id.String, err)
	}
	return &httpauth.Account[User]{
		ID:               id.String,
		PasswordHash:     hash.String,
		Roles:            r,
		Disabled:         disabled.Bool,
		TokensValidAfter: decodeTime(cutoff.Int64),
		User:             User{ID: id.String, Login: login.String, Confirmed: confirmed.Bool},
	}, nil
}

// UpdatePasswordHash implements httpauth.PasswordRehasher: it replaces the
// hash of user id with newHash only while the stored hash is oldHash. A
// missing user or a replaced hash is not an error.
func (s *Store) UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.rehash.ExecContext(ctx, newHash, id, oldHash); err != nil {
		return fmt.Errorf("sqlstore: update password hash: %w", err)
	}
	return nil
}

// storable reports whether s can be a stored login or ID: valid UTF-8
// without NUL, which PostgreSQL text cannot hold.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func encodeRoles(roles []string) (string, error) {
	if len(roles) == 0 {
		return "[]", nil
	}
	for _, r := range roles {
		if r == "" {
			return "", errors.New("sqlstore: empty role name")
		}
	}
	b, err := json.Marshal(roles)
	return string(b), err
}

func decodeRoles(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "[]" {
		return nil, nil
	}
	var r []string
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("roles are not a JSON array of strings: %w", err)
	}
	if len(r) == 0 {
		return nil, nil
	}
	return r, nil
}

// encodeTime returns t as Unix nanoseconds, and the zero time as 0.
func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func decodeTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
