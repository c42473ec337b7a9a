// Package sqlstore is an httpauth.UserStore on database/sql, for PostgreSQL
// and SQLite.
//
// The store reads one row per lookup with statements prepared once, and
// offers UpdatePasswordHash, so logins upgrade old hashes in place. It
// also has the writes an application needs to manage its users
// (CreateUser, SetPassword, SetDisabled, LogoutEverywhere, ...), and the
// command httpauth-users (github.com/gohttpauth/httpauth/cmd/httpauth-users)
// wraps them for operators.
//
// The package imports no driver: the host picks one, such as
// github.com/jackc/pgx/v5/stdlib ("pgx") or modernc.org/sqlite ("sqlite").
// Nor does it link one: the PostgreSQL change feed of the account cache,
// which needs pgx, is the package
// github.com/gohttpauth/httpauth/sqlstore/pgfeed, which only a host that
// turns the cache on imports.
//
// # Schema
//
// [Migrate] creates the table httpauth_users from schema/postgres.sql or
// schema/sqlite.sql. A host that keeps users in its own table sets
// [Config.Table] and [Config.Columns], or writes its own SELECT statements
// in [Config.Queries], instead.
//
// Stored representations, the same for both dialects:
//   - login is stored and looked up in its canonical form (CanonicalLogin:
//     RFC 8265's UsernameCaseMapped profile, which lower-cases ASCII), so
//     every spelling of one visible login matches one account and a plain
//     UNIQUE index keeps them unique;
//   - roles is a JSON array of strings, such as ["admin","ops"]; an empty
//     string and NULL mean no roles;
//   - tokens_valid_after is a BIGINT of Unix nanoseconds (UTC); 0 and NULL
//     mean no cutoff. Times round-trip to the nanosecond;
//   - confirmed and disabled are booleans (0/1 in SQLite).
//
// # The host's user type
//
// A Store[U] hands handlers the host's own U as httpauth.Account[U].User.
// [User] (ID, login, confirmed flag) is the default:
//
//	users, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres})
//
// For another type, [Columns.Extra] names more columns of the table and
// [Config.User] builds U from a [Row], calling [Row.Scan] with a destination
// for each extra column. It may also derive the account's roles. See the
// example of New.
//
// # Account lifecycle and API keys
//
// The store is an httpauth.AccountStore (MarkConfirmed, SwapPasswordHash,
// SetLogin), for the authenticator's Confirm, ResetPassword and
// ChangeLogin, and an httpauth.KeyStore on the table httpauth_api_keys
// ([Config.KeyTable]), which Migrate creates. Keys are never cached: every
// request reads its key, so a deleted key is refused by every instance at
// once. Deleting a user deletes its keys.
//
// # Account cache
//
// On PostgreSQL, [Config.CacheSize] keeps the accounts read in process
// memory, so a repeat lookup makes no query. A trigger that Migrate
// installs notifies every change to a row (plain SQL included) with
// pg_notify, and a dedicated LISTEN connection, which [Config.ChangeFeed]
// opens (pgfeed.New(db) with the pgx driver), drops the changed account.
// The cache is used only while that connection is live ([Store.Live]):
// its heartbeat passes through the same trigger, so a dropped or disabled
// trigger also stops it being trusted. Otherwise lookups read through, and
// after a reconnect the cache starts empty. No entry is served longer than
// [Config.CacheMaxAge] after it was read, which bounds writes that fire no
// trigger. See README.md for the staleness guarantee and the trigger for
// your own tables.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

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

// User is the default user type: the standard columns a host sees, handed
// to handlers as the httpauth.Account's User.
type User struct {
	// ID is the same as the Account's ID.
	ID string `json:"id"`
	// Login is the stored login (email or username), in its canonical
	// form (CanonicalLogin).
	Login string `json:"login"`
	// Confirmed reports whether the user confirmed their login, such as
	// an email address. The authenticator ignores it; the host decides.
	Confirmed bool `json:"confirmed"`
}

// defaultUser is Config.User for U = User.
func defaultUser(r *Row) (User, error) {
	if err := r.Scan(); err != nil {
		return User{}, err
	}
	return User{ID: r.ID, Login: r.Login, Confirmed: r.Confirmed}, nil
}

// Row is one user row, handed to Config.User, which builds the host's
// user from it. Its fields are set by Scan.
type Row struct {
	// ID is the account's ID.
	ID string
	// Login is the login as stored (canonical in the default schema).
	Login string
	// Confirmed is the confirmed column.
	Confirmed bool
	// Roles are the account's roles, from the roles column. Config.User
	// may replace them, for example to derive them from an extra column;
	// the account gets what they are when it returns.
	Roles []string

	scan    func(r *Row, extra []any) error
	scanned bool
}

// Scan reads the row: the extra columns (Columns.Extra, or what custom
// Queries select after the standard seven), in order, into dest, as
// sql.Row.Scan does, and the standard columns into r's fields. Call it
// exactly once, with one destination per extra column (none without
// them). An error is a store failure: return it.
func (r *Row) Scan(dest ...any) error {
	if r.scanned {
		return errors.New("sqlstore: Row.Scan called twice")
	}
	r.scanned = true
	return r.scan(r, dest)
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

	// Extra names more columns that the generated lookups read after the
	// standard ones, in this order, for Config.User to scan. Default:
	// none.
	Extra []string
}

// Queries replaces the statements the store generates from Config.Table
// and Config.Columns, for a host whose users do not fit one table, such as
// roles in a join table. An empty field keeps the generated statement.
// Placeholders are the dialect's ($1 or ?).
type Queries struct {
	// ByLogin selects at most one user. Its one parameter is the login in
	// its canonical form (CanonicalLogin; for ASCII, lower-cased), so
	// compare it with a column that holds that form or an expression such
	// as lower(email), backed by an index. It must
	// return, in this order: id, login, password_hash, confirmed, roles
	// (a JSON array as text, an empty string or NULL), disabled, tokens_valid_after
	// (Unix nanoseconds, 0 or NULL), then the extra columns that
	// Config.User scans, if any. Literals may stand in for columns the
	// host lacks: SELECT id, email, pw, TRUE, '[]', FALSE, 0 FROM ...
	ByLogin string
	// ByID is like ByLogin, with the user's ID as its one parameter.
	ByID string
	// UpdatePasswordHash sets the new hash of one user if the stored hash
	// is still the old one. Parameters, in this order: new hash, id, old
	// hash.
	UpdatePasswordHash string
}

// Config configures New for the user type U. Only Dialect is required,
// and User for a U other than [User].
type Config[U any] struct {
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

	// User builds the host's user from a row of a lookup: it calls
	// row.Scan once, with a destination for each extra column, then reads
	// row's fields. It may change row.Roles. An error is a store failure
	// (a 500), never "not found". It must not keep row. Default, for
	// U = User only: User{ID, Login, Confirmed}.
	User func(row *Row) (U, error)

	// Hasher hashes the passwords given to CreateUser and SetPassword.
	// Default httpauth.DefaultHasher() (argon2id). Lookups never hash.
	Hasher httpauth.PasswordHasher

	// CacheSize, when positive, turns on a process-local cache of up to
	// CacheSize accounts, so that a repeat lookup makes no query.
	// PostgreSQL only, and ChangeFeed is then required; New fails with
	// SQLite or without a ChangeFeed. The cache is trusted only while a
	// dedicated LISTEN connection (outside db's pool) is live, and every
	// change to a user, by this or any other process or by plain SQL, is
	// seen through the trigger that Migrate installs (see README.md for
	// your own tables). Memory: about 0.6 KiB per typical account; budget
	// CacheSize × 1 KiB. Default 0: off.
	CacheSize int

	// ChangeFeed opens the cache's LISTEN connections: with the pgx
	// driver (github.com/jackc/pgx/v5/stdlib), pgfeed.New(db) from the
	// package github.com/gohttpauth/httpauth/sqlstore/pgfeed. Required
	// with CacheSize, unused without it.
	ChangeFeed ChangeFeed

	// CacheMaxSilence is the longest the cache is trusted without hearing
	// from its LISTEN connection, which sends a heartbeat through the
	// users table's trigger every quarter of it (so a dropped or disabled
	// trigger also stops the cache being trusted). At least 100 ms.
	// Default DefaultCacheMaxSilence (1 s).
	CacheMaxSilence time.Duration

	// CacheMaxAge is the longest a cached account is served before it is
	// read again, even while the cache is trusted: the bound on staleness
	// for writes that no trigger sees (made under session_replication_role
	// = replica, or by restoring a backup over the table). At least 100 ms.
	// Default DefaultCacheMaxAge (5 s).
	CacheMaxAge time.Duration

	// NotifyChannel is the channel the cache LISTENs on, an identifier
	// like Columns. Default DefaultNotifyChannel ("httpauth_users"), the
	// channel of the trigger that Migrate installs.
	NotifyChannel string

	// KeyTable is the API-key table (the store's httpauth.KeyStore),
	// optionally schema-qualified, with the columns of the one Migrate
	// creates. Default DefaultKeyTable ("httpauth_api_keys").
	KeyTable string
}

// Store is an httpauth.UserStore[U], httpauth.AccountStore[U] and
// httpauth.KeyStore on a *sql.DB, which also upgrades password hashes
// (UpdatePasswordHash). It is safe for concurrent use. Close it to release
// its prepared statements and stop its cache; it does not close the
// database.
type Store[U any] struct {
	db      *sql.DB
	dialect Dialect
	hasher  httpauth.PasswordHasher
	user    func(*Row) (U, error)

	table string  // quoted
	cols  Columns // quoted

	byLogin, byID, rehash *sql.Stmt
	keyQ                  keyQueries

	cache     *accountCache[U] // nil: off
	queries   atomic.Int64     // lookups that reached the database (tests)
	sfQueries atomic.Int64     // SecondFactor reads that reached the database (tests)
}

// rehasher is the authenticator's optional interface for upgrading hashes.
type rehasher interface {
	UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error
}

var (
	_ httpauth.UserStore[User] = (*Store[User])(nil)
	_ rehasher                 = (*Store[User])(nil)
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
//
// The type of cfg names U: sqlstore.New(ctx, db, sqlstore.Config[User]{...})
// returns a *Store[User].
func New[U any](ctx context.Context, db *sql.DB, cfg Config[U]) (*Store[U], error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if cfg.Dialect != Postgres && cfg.Dialect != SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q: want %q or %q", cfg.Dialect, Postgres, SQLite)
	}
	if cfg.CacheSize < 0 {
		return nil, errors.New("sqlstore: negative CacheSize")
	}
	if cfg.CacheMaxSilence != 0 && cfg.CacheMaxSilence < 100*time.Millisecond {
		return nil, errors.New("sqlstore: CacheMaxSilence below 100ms")
	}
	if cfg.CacheMaxAge != 0 && cfg.CacheMaxAge < 100*time.Millisecond {
		return nil, errors.New("sqlstore: CacheMaxAge below 100ms")
	}
	if cfg.CacheSize > 0 && cfg.Dialect != Postgres {
		// SQLite has no cross-process change notification.
		return nil, errors.New("sqlstore: CacheSize needs PostgreSQL")
	}
	if cfg.CacheSize > 0 && cfg.ChangeFeed == nil {
		return nil, errors.New("sqlstore: CacheSize needs Config.ChangeFeed, such as pgfeed.New(db) " +
			"(github.com/gohttpauth/httpauth/sqlstore/pgfeed)")
	}
	s := &Store[U]{db: db, dialect: cfg.Dialect, hasher: cfg.Hasher, user: cfg.User}
	if s.user == nil {
		f, ok := any(defaultUser).(func(*Row) (U, error))
		if !ok {
			return nil, fmt.Errorf("sqlstore: Config.User is required for the user type %v", reflect.TypeFor[U]())
		}
		if len(cfg.Columns.Extra) > 0 {
			return nil, errors.New("sqlstore: Columns.Extra needs Config.User to scan them")
		}
		s.user = f
	}
	if s.hasher == nil {
		s.hasher = httpauth.DefaultHasher()
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
	c.Extra = make([]string, len(cfg.Columns.Extra))
	for i, e := range cfg.Columns.Extra {
		if c.Extra[i], err = cfg.Dialect.quoteIdent(e, false); err != nil {
			return nil, err
		}
	}
	s.cols = c
	if cfg.KeyTable == "" {
		cfg.KeyTable = DefaultKeyTable
	}
	if err := s.buildKeyQueries(cfg.KeyTable); err != nil {
		return nil, err
	}

	sel := fmt.Sprintf("SELECT %s FROM %s WHERE ", strings.Join(append([]string{
		c.ID, c.Login, c.PasswordHash, c.Confirmed, c.Roles, c.Disabled, c.TokensValidAfter}, c.Extra...), ", "), s.table)
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
	if cfg.CacheSize > 0 {
		if err := s.startCache(ctx, cfg); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store[U]) startCache(ctx context.Context, cfg Config[U]) error {
	raw := cfg.NotifyChannel
	if raw == "" {
		raw = DefaultNotifyChannel
	}
	if _, err := Postgres.quoteIdent(raw, false); err != nil {
		return err
	}
	silence := cfg.CacheMaxSilence
	if silence == 0 {
		silence = DefaultCacheMaxSilence
	}
	maxAge := cfg.CacheMaxAge
	if maxAge == 0 {
		maxAge = DefaultCacheMaxAge
	}
	c := newAccountCache[U](cacheConfig{
		size: cfg.CacheSize, maxSilence: silence, maxAge: maxAge,
		rawChannel: raw, table: s.table, idColumn: s.cols.ID,
		changes: cfg.ChangeFeed,
	})
	if err := c.start(ctx); err != nil {
		return err
	}
	s.cache = c
	return nil
}

// Live reports whether the account cache is on and trusted: its LISTEN
// connection is up and was heard from within CacheMaxSilence. While it is
// not, every lookup reads through to the database. Health checks may
// report it; a store without a cache is never live.
func (s *Store[U]) Live() bool { return s.cache != nil && s.cache.feed.Live() }

func (s *Store[U]) ph(n int) string { return s.dialect.placeholder(n) }

// Close stops the cache's listener and releases the prepared statements.
// It does not close the database.
func (s *Store[U]) Close() error {
	if s.cache != nil {
		s.cache.close()
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.byLogin, s.byID, s.rehash} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// ErrInvalidLogin is wrapped by the errors of CanonicalLogin, and of
// CreateUser and SetLogin for a login that has no canonical form. It
// wraps httpauth.ErrBadRequest, as the memory store's refusals do.
var ErrInvalidLogin = fmt.Errorf("sqlstore: invalid login: %w", httpauth.ErrBadRequest)

// CanonicalLogin returns login in the form the store stores and compares:
// RFC 8265's UsernameCaseMapped profile (full-width characters mapped to
// their ordinary forms, lower-cased, NFC), so that every spelling of one
// visible login, "café" in NFC or NFD, "Alice" or "ａｌｉｃｅ", is one
// account. ASCII logins are just lower-cased. A login the profile refuses
// is an error wrapping ErrInvalidLogin: empty, invalid UTF-8, spaces,
// control and other disallowed characters, strings that break the Bidi
// rule, and compatibility characters that only look like letters (the
// Kelvin sign U+212A, the Ohm sign, ligatures such as "ﬁ", the long s),
// which are refused rather than folded into the letter they imitate.
// Nothing is trimmed.
func CanonicalLogin(login string) (string, error) {
	if login == "" || !utf8.ValidString(login) {
		return "", fmt.Errorf("%w: empty or not UTF-8", ErrInvalidLogin)
	}
	if isLowerASCIIIdentifier(login) {
		return login, nil // the profile leaves it as it is
	}
	// The profile normalises to NFC before it checks the characters, and
	// NFC turns a few look-alikes into the letter itself (U+212A into
	// "K"): check them before, after width mapping only.
	for _, r := range width.Fold.String(login) {
		if r >= utf8.RuneSelf && norm.NFKC.String(string(r)) != string(r) {
			return "", fmt.Errorf("%w: %U is a compatibility character", ErrInvalidLogin, r)
		}
	}
	c, err := precis.UsernameCaseMapped.String(login)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidLogin, err)
	}
	if c == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidLogin)
	}
	return c, nil
}

// isLowerASCIIIdentifier reports whether s is printable ASCII without
// spaces or upper-case letters, which UsernameCaseMapped keeps as is.
func isLowerASCIIIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || ('A' <= b && b <= 'Z') {
			return false
		}
	}
	return true
}

// NormalizeLogin returns login as the store stores and compares it (see
// CanonicalLogin), or "" if it has no canonical form: such a login is
// never stored, and never found.
func NormalizeLogin(login string) string {
	c, err := CanonicalLogin(login)
	if err != nil {
		return ""
	}
	return c
}

// LoginKey is httpauth's optional UserStore method: the key that password
// failures are counted against, the canonical login (CanonicalLogin), so
// that every spelling UserByLogin matches to one account shares one
// budget. A login with no canonical form, which matches no account, gets
// a key of its own that no canonical login can equal (a NUL byte, then
// the login lower-cased).
func (s *Store[U]) LoginKey(login string) string {
	if c, err := CanonicalLogin(login); err == nil {
		return c
	}
	return "\x00" + strings.ToLower(login)
}

// UserByLogin implements httpauth.UserStore. Logins match in their
// canonical form (CanonicalLogin): case-insensitively, and whatever the
// Unicode normalisation or width of the spelling. A login with no
// canonical form is not found, without a query. With the cache on, the
// account may be shared with other callers: read it, never modify it.
func (s *Store[U]) UserByLogin(ctx context.Context, login string) (*httpauth.Account[U], error) {
	key, err := CanonicalLogin(login)
	if err != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sqlstore: user by login: %w", err)
		}
		return nil, fmt.Errorf("sqlstore: user by login: %w", httpauth.ErrUserNotFound)
	}
	a, err := s.lookup(ctx, s.byLogin, cacheKey{byLogin: true, s: key})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by login: %w", err)
	}
	return a, nil
}

// UserByID implements httpauth.UserStore. IDs match exactly. With the
// cache on, the account may be shared with other callers: read it, never
// modify it.
func (s *Store[U]) UserByID(ctx context.Context, id string) (*httpauth.Account[U], error) {
	a, err := s.lookup(ctx, s.byID, cacheKey{s: id})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by ID: %w", err)
	}
	return a, nil
}

// lookup answers from the cache while it is live, and otherwise reads the
// row, caching it unless a change arrived during the read. A missing user
// is never cached.
func (s *Store[U]) lookup(ctx context.Context, st *sql.Stmt, k cacheKey) (*httpauth.Account[U], error) {
	if s.cache == nil {
		a, _, err := s.scan(ctx, st, k.s)
		return a, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a, ok := s.cache.get(k); ok {
		return a, nil
	}
	t := s.cache.ticket() // before the read: see localstate.Cache.Put
	a, login, err := s.scan(ctx, st, k.s)
	if err != nil {
		return nil, err
	}
	loginKey := ""
	if k.byLogin {
		loginKey = k.s
	}
	s.cache.put(a, NormalizeLogin(login), loginKey, t)
	return a, nil
}

// invalidate drops user id, after a write, from this process's cache; other
// processes learn of the write through the trigger.
func (s *Store[U]) invalidate(id string) {
	if s.cache != nil {
		s.cache.invalidate(id)
	}
}

// scan reads one account, and its login as stored, through Config.User.
// Only a query that found no row is "not found", whatever Config.User
// returns.
func (s *Store[U]) scan(ctx context.Context, st *sql.Stmt, arg string) (*httpauth.Account[U], string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if !storable(arg) {
		// No such row can exist (CreateUser refuses it, and PostgreSQL
		// cannot even hold it): not found, rather than a query error
		// that anyone could provoke with a crafted login.
		return nil, "", httpauth.ErrUserNotFound
	}
	var (
		a       httpauth.Account[U]
		scanErr error
	)
	row := &Row{scan: func(r *Row, extra []any) error {
		var (
			id, login, hash, roles sql.NullString
			confirmed, disabled    sql.NullBool
			cutoff                 sql.NullInt64
		)
		s.queries.Add(1)
		dest := append([]any{&id, &login, &hash, &confirmed, &roles, &disabled, &cutoff}, extra...)
		scanErr = st.QueryRowContext(ctx, arg).Scan(dest...)
		switch {
		case scanErr != nil:
		case !id.Valid || id.String == "":
			scanErr = errors.New("row has an empty id")
		default:
			r.Roles, scanErr = decodeRoles(roles.String)
			if scanErr != nil {
				scanErr = fmt.Errorf("user %q: %w", id.String, scanErr)
			}
		}
		if scanErr != nil {
			return scanErr
		}
		r.ID, r.Login, r.Confirmed = id.String, login.String, confirmed.Bool
		a.ID, a.PasswordHash, a.Disabled = id.String, hash.String, disabled.Bool
		a.Login, a.Confirmed = login.String, confirmed.Bool
		a.TokensValidAfter = decodeTime(cutoff.Int64)
		return nil
	}}
	u, err := s.user(row)
	switch {
	case errors.Is(scanErr, sql.ErrNoRows):
		return nil, "", httpauth.ErrUserNotFound
	case scanErr != nil:
		return nil, "", scanErr
	case err != nil:
		return nil, "", fmt.Errorf("user %q: %w", a.ID, err)
	case !row.scanned:
		return nil, "", errors.New("the User hook did not call Row.Scan")
	}
	a.User, a.Roles = u, row.Roles
	return &a, row.Login, nil
}

// UpdatePasswordHash is the authenticator's optional rehash hook: it replaces the
// hash of user id with newHash only while the stored hash is oldHash. A
// missing user or a replaced hash is not an error.
func (s *Store[U]) UpdatePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.rehash.ExecContext(ctx, newHash, id, oldHash)
	s.invalidate(id)
	if err != nil {
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
