package sqlstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/gohttpauth/httpauth/sqlstore/pgfeed"
)

// opener opens a fresh, empty database for one test.
type opener struct {
	dialect sqlstore.Dialect
	open    func(t *testing.T) *sql.DB
}

// openers lists the databases every store test runs on: SQLite always,
// PostgreSQL when HTTPAUTH_POSTGRES_TEST_DSN is set (and always in CI).
var openers = []opener{
	{sqlstore.SQLite, openSQLite},
	{sqlstore.Postgres, openPostgres},
}

// sqliteDSN is the DSN the tests (and the CLI) use for a SQLite file: WAL
// so readers do not block the writer, and a busy timeout instead of
// SQLITE_BUSY errors under concurrent writes.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)"
}

// openSQLite opens a new SQLite database in a temporary file.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "users.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.PingContext(t.Context()))
	return db
}

// openPostgres connects to HTTPAUTH_POSTGRES_TEST_DSN with a new schema of
// its own first on the search_path, so tests never see each other's
// tables; the schema is dropped when the test ends.
func openPostgres(t *testing.T) *sql.DB { return openPostgresTB(t) }

// openPostgresTB is openPostgres for benchmarks too.
func openPostgresTB(t testing.TB) *sql.DB {
	t.Helper()
	db, _ := openPostgresDSN(t)
	return db
}

// openPostgresDSN is openPostgres that also returns the DSN of the new
// schema, for opening more databases on it.
func openPostgresDSN(t testing.TB) (*sql.DB, string) {
	t.Helper()
	dsn := httpauthtest.RequireEnv(t, "HTTPAUTH_POSTGRES_TEST_DSN", "source .ci/services.sh")
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "httpauth_test_" + hex.EncodeToString(b[:])

	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.ExecContext(t.Context(), `CREATE SCHEMA "`+schema+`"`)
	require.NoError(t, err)
	t.Cleanup(func() {
		// t.Context is done by now: clean up with a fresh one.
		_, err := admin.ExecContext(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	dsn = withSearchPath(t, dsn, schema)
	return openDSN(t, dsn, schema), dsn
}

// openDSN opens a PostgreSQL database whose current schema must be schema.
func openDSN(t testing.TB, dsn, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() }) // runs before the DROP of the schema
	require.NoError(t, db.PingContext(t.Context()))
	var got string
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&got))
	require.Equal(t, schema, got, "search_path not applied")
	return db
}

// withSearchPath adds search_path to a URL or keyword/value DSN; pgx sends
// unknown settings to the server as run-time parameters.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// fastHasher keeps the tests quick; never use it in production.
var fastHasher httpauth.PasswordHasher = httpauthtest.FastHasher{}

// testSigner is the authenticators' token signer.
func testSigner(t *testing.T) httpauth.TokenSigner {
	t.Helper()
	signer, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: "k1", Secret: testKey[:]})
	require.NoError(t, err)
	return signer
}

// newStore migrates db and returns a store on our schema.
func newStore[U any](t *testing.T, db *sql.DB, cfg sqlstore.Config[U]) *sqlstore.Store[U] {
	t.Helper()
	require.NoError(t, sqlstore.Migrate(t.Context(), db, cfg.Dialect))
	return newStoreNoMigrate(t, db, cfg)
}

// newStoreNoMigrate returns a store on db. A caching PostgreSQL cfg
// without a ChangeFeed gets pgfeed's on db, as a host would pass it.
func newStoreNoMigrate[U any](t *testing.T, db *sql.DB, cfg sqlstore.Config[U]) *sqlstore.Store[U] {
	t.Helper()
	if cfg.Hasher == nil {
		cfg.Hasher = fastHasher
	}
	if cfg.CacheSize > 0 && cfg.Dialect == sqlstore.Postgres && cfg.ChangeFeed == nil {
		cfg.ChangeFeed = pgfeed.New(db)
	}
	s, err := sqlstore.New(t.Context(), db, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// harness adapts a Store of the default User to the conformance suite.
func harness(t *testing.T, db *sql.DB, s *sqlstore.Store[sqlstore.User]) httpauthtest.UserStoreHarness[sqlstore.User] {
	return anyHarness(t, db, s, func(t *testing.T, login string, a *httpauth.Account[sqlstore.User]) {
		if a.User.ID != a.ID || a.User.Login != strings.ToLower(login) || a.User.Confirmed {
			t.Errorf("User = %+v, want ID %q, Login %q, not confirmed", a.User, a.ID, strings.ToLower(login))
		}
	})
}

// anyHarness adapts a Store of any user type to the conformance suite;
// check checks the user value of an account that Add created.
func anyHarness[U any](t *testing.T, db *sql.DB, s *sqlstore.Store[U], check func(t *testing.T, login string, a *httpauth.Account[U])) httpauthtest.UserStoreHarness[U] {
	return httpauthtest.UserStoreHarness[U]{
		Store: s,
		Add: func(ctx context.Context, login string, a httpauth.Account[U]) error {
			_, err := s.CreateUser(ctx, sqlstore.NewUser{
				ID: a.ID, Login: login, PasswordHash: a.PasswordHash,
				Roles: a.Roles, Disabled: a.Disabled, TokensValidAfter: a.TokensValidAfter,
			})
			return err
		},
		Update: func(ctx context.Context, id string, fn func(*httpauth.Account[U])) error {
			cur, err := s.UserByID(ctx, id)
			if err != nil {
				return err
			}
			a := *cur
			fn(&a)
			errs := []error{
				s.SetPasswordHash(ctx, id, a.PasswordHash), // moves the cutoff: restored below
				s.SetRoles(ctx, id, a.Roles),
			}
			disabling := a.Disabled && !cur.Disabled
			if a.Disabled != cur.Disabled {
				errs = append(errs, s.SetDisabled(ctx, id, a.Disabled))
			}
			if !disabling || !a.TokensValidAfter.Equal(cur.TokensValidAfter) {
				// Last, so that the cutoff is fn's; a disable's own move
				// of the cutoff stands unless fn set one.
				errs = append(errs, s.SetTokensValidAfter(ctx, id, a.TokensValidAfter))
			}
			return errors.Join(errs...)
		},
		Delete:    s.DeleteUser,
		CheckUser: check,
		Break:     func(t *testing.T) { require.NoError(t, db.Close()) },
	}
}

// testKey signs the tests' tokens: fixed, and random-looking as
// NewHMACSigner requires.
var testKey = sha256.Sum256([]byte("sqlstore test key"))
