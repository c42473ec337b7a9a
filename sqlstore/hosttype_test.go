package sqlstore_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// member is a host's own user type: two columns of its own, one of which
// derives a role.
type member struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	Confirmed   bool   `json:"confirmed"`
	DisplayName string `json:"display_name"`
	Admin       bool   `json:"admin"`
}

// scanMember is the host's Config.User.
func scanMember(row *sqlstore.Row) (member, error) {
	var m member
	if err := row.Scan(&m.DisplayName, &m.Admin); err != nil {
		return member{}, err
	}
	m.ID, m.Email, m.Confirmed = row.ID, row.Login, row.Confirmed
	if m.Admin && !slices.Contains(row.Roles, "admin") {
		row.Roles = append(row.Roles, "admin")
	}
	return m, nil
}

func memberConfig(d sqlstore.Dialect, cacheSize int) sqlstore.Config[member] {
	return sqlstore.Config[member]{
		Dialect:   d,
		Columns:   sqlstore.Columns{Extra: []string{"display_name", "is_admin"}},
		User:      scanMember,
		CacheSize: cacheSize,
	}
}

// addMemberColumns migrates db and adds the host's columns to the users
// table.
func addMemberColumns(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
	t.Helper()
	require.NoError(t, sqlstore.Migrate(t.Context(), db, d))
	boolean := "BOOLEAN NOT NULL DEFAULT FALSE"
	if d == sqlstore.SQLite {
		boolean = "INTEGER NOT NULL DEFAULT 0" // the table is STRICT
	}
	for _, q := range []string{
		`ALTER TABLE httpauth_users ADD COLUMN display_name TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE httpauth_users ADD COLUMN is_admin ` + boolean,
	} {
		_, err := db.ExecContext(t.Context(), q)
		require.NoError(t, err)
	}
}

// memberStoreConfigs are the set-ups the host-type tests run on.
var memberStoreConfigs = []struct {
	name    string
	open    func(t *testing.T) *sql.DB
	dialect sqlstore.Dialect
	cache   int
}{
	{"sqlite", openSQLite, sqlstore.SQLite, 0},
	{"postgres", openPostgres, sqlstore.Postgres, 0},
	{"postgres with cache", openPostgres, sqlstore.Postgres, 100},
}

func memberHarness(t *testing.T, db *sql.DB, s *sqlstore.Store[member]) httpauthtest.UserStoreHarness[member] {
	return anyHarness(t, db, s, func(t *testing.T, login string, a *httpauth.Account[member]) {
		want := member{ID: a.ID, Email: strings.ToLower(login)}
		if a.User != want {
			t.Errorf("User = %+v, want %+v", a.User, want)
		}
	})
}

// TestHostTypeConformance runs the shared suites on a store of the host's
// own type.
func TestHostTypeConformance(t *testing.T) {
	for _, c := range memberStoreConfigs {
		t.Run(c.name, func(t *testing.T) {
			newHarness := func(t *testing.T) httpauthtest.UserStoreHarness[member] {
				db := c.open(t)
				addMemberColumns(t, db, c.dialect)
				return memberHarness(t, db, newStoreNoMigrate(t, db, memberConfig(c.dialect, c.cache)))
			}
			t.Run("UserStore", func(t *testing.T) { httpauthtest.TestUserStore(t, newHarness) })
			t.Run("Lifecycle", func(t *testing.T) { httpauthtest.TestLifecycleStore(t, newHarness) })
		})
	}
}

// TestHostType reads the host's columns through both lookups, the cache
// and a restart, and sees a change to them made by plain SQL.
func TestHostType(t *testing.T) {
	t.Parallel()
	for _, c := range memberStoreConfigs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := c.open(t)
			addMemberColumns(t, db, c.dialect)
			s := newStoreNoMigrate(t, db, memberConfig(c.dialect, c.cache))
			id := randomID(t)
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: "Ann@Example.com", Roles: []string{"user"}})
			require.NoError(t, err)
			q := `UPDATE httpauth_users SET display_name = 'Ann', is_admin = TRUE WHERE id = ?`
			if c.dialect == sqlstore.Postgres {
				q = strings.Replace(q, "?", "$1", 1)
			}
			_, err = db.ExecContext(ctx, q, id)
			require.NoError(t, err)

			want := member{ID: id, Email: "ann@example.com", DisplayName: "Ann", Admin: true}
			check := func(t *testing.T, s *sqlstore.Store[member]) {
				t.Helper()
				for name, get := range map[string]func() (*httpauth.Account[member], error){
					"UserByLogin": func() (*httpauth.Account[member], error) { return s.UserByLogin(ctx, "ANN@example.com") },
					"UserByID":    func() (*httpauth.Account[member], error) { return s.UserByID(ctx, id) },
				} {
					a, err := get()
					require.NoError(t, err, name)
					assert.Equal(t, want, a.User, name)
					assert.Equal(t, []string{"user", "admin"}, a.Roles, "%s: the admin role is derived from is_admin", name)
				}
			}
			check(t, s)
			if c.cache > 0 {
				waitCached(t, s, func() error {
					if _, err := s.UserByID(ctx, id); err != nil {
						return err
					}
					_, err := s.UserByLogin(ctx, "ann@example.com")
					return err
				})
				check(t, s) // from the cache
			}

			t.Run("restart", func(t *testing.T) {
				require.NoError(t, s.Close())
				s2 := newStoreNoMigrate(t, db, memberConfig(c.dialect, c.cache))
				check(t, s2)
			})

			t.Run("change by plain SQL", func(t *testing.T) {
				s3 := newStoreNoMigrate(t, db, memberConfig(c.dialect, c.cache))
				check(t, s3)
				_, err := db.ExecContext(ctx, strings.Replace(strings.Replace(q, "'Ann'", "'Ann B.'", 1), "TRUE", "FALSE", 1), id)
				require.NoError(t, err)
				want = member{ID: id, Email: "ann@example.com", DisplayName: "Ann B."}
				poll(t, "change seen", func() bool {
					a, err := s3.UserByID(ctx, id)
					require.NoError(t, err)
					b, err := s3.UserByLogin(ctx, "ann@example.com")
					require.NoError(t, err)
					return a.User == want && b.User == want
				})
				a, err := s3.UserByID(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, []string{"user"}, a.Roles, "no longer an admin")
			})

			t.Run("account flows", func(t *testing.T) {
				s4 := newStoreNoMigrate(t, db, memberConfig(c.dialect, c.cache))
				accountFlows(t, s4, func(a *httpauth.Account[member]) bool { return a.User.Confirmed })
			})
		})
	}
}

// TestHostTypeAccountState checks that a host type's accounts carry the
// state account tokens are bound to, Login and Confirmed, read from the
// row whatever U holds: MarkConfirmed and SetLogin change it, and a copy
// of an account is as good as the original (there is no side table).
func TestHostTypeAccountState(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openSQLite(t)
	addMemberColumns(t, db, sqlstore.SQLite)
	s := newStoreNoMigrate(t, db, memberConfig(sqlstore.SQLite, 0))
	_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: "m1", Login: "M1@example.com"})
	require.NoError(t, err)
	get := func() *httpauth.Account[member] {
		a, err := s.UserByID(ctx, "m1")
		require.NoError(t, err)
		return a
	}
	a := get()
	assert.Equal(t, "m1@example.com", a.Login)
	assert.False(t, a.Confirmed)
	require.NoError(t, s.MarkConfirmed(ctx, "m1"))
	assert.True(t, get().Confirmed)
	assert.False(t, a.Confirmed, "an account read before is not mutated")
	require.NoError(t, s.SetLogin(ctx, "m1", "m2@example.com"))
	byLogin, err := s.UserByLogin(ctx, "M2@example.com")
	require.NoError(t, err)
	assert.Equal(t, "m2@example.com", byLogin.Login)
	assert.True(t, byLogin.Confirmed)
}

// TestUserHook checks what the store makes of Config.User's mistakes and
// failures: a store failure, never a missing user, and a missing user
// whatever the hook does with the scan error.
func TestUserHook(t *testing.T) {
	t.Parallel()
	errHook := errors.New("hook failed")
	for _, c := range []struct {
		name     string
		hook     func(*sqlstore.Row) (member, error)
		notFound bool // for the missing user
	}{
		{"hook error", func(r *sqlstore.Row) (member, error) {
			if err := r.Scan(new(string), new(bool)); err != nil {
				return member{}, err
			}
			return member{}, errHook
		}, true},
		{"no Scan", func(*sqlstore.Row) (member, error) { return member{}, nil }, false},
		{"Scan twice", func(r *sqlstore.Row) (member, error) {
			_ = r.Scan(new(string), new(bool))
			return member{}, r.Scan(new(string), new(bool))
		}, true},
		{"too few destinations", func(r *sqlstore.Row) (member, error) { return member{}, r.Scan(new(string)) }, false},
		{"scan error ignored", func(r *sqlstore.Row) (member, error) { _ = r.Scan(); return member{}, nil }, false},
		{"hook's own ErrNoRows", func(r *sqlstore.Row) (member, error) {
			if err := r.Scan(new(string), new(bool)); err != nil {
				return member{}, err
			}
			return member{}, sql.ErrNoRows
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openSQLite(t)
			addMemberColumns(t, db, sqlstore.SQLite)
			cfg := memberConfig(sqlstore.SQLite, 0)
			cfg.User = c.hook
			s := newStoreNoMigrate(t, db, cfg)
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: "h1", Login: "h1@example.com"})
			require.NoError(t, err)
			_, err = s.UserByID(ctx, "h1")
			require.Error(t, err)
			assert.NotErrorIs(t, err, httpauth.ErrUserNotFound, "a failing hook is a store failure")
			_, err = s.UserByLogin(ctx, "nobody")
			if c.notFound {
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
			} else {
				// Without a usable scan, the store cannot tell; either way
				// it must not claim success.
				require.Error(t, err)
			}
		})
	}
	t.Run("missing user, hook returns nil anyway", func(t *testing.T) {
		t.Parallel()
		db := openSQLite(t)
		addMemberColumns(t, db, sqlstore.SQLite)
		cfg := memberConfig(sqlstore.SQLite, 0)
		cfg.User = func(r *sqlstore.Row) (member, error) { _ = r.Scan(new(string), new(bool)); return member{}, nil }
		s := newStoreNoMigrate(t, db, cfg)
		_, err := s.UserByID(t.Context(), "nobody")
		assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
	})
}

// TestHostTypeConfig checks New's errors for a host type.
func TestHostTypeConfig(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	addMemberColumns(t, db, sqlstore.SQLite)
	withExtra := func(extra ...string) sqlstore.Config[member] {
		cfg := memberConfig(sqlstore.SQLite, 0)
		cfg.Columns.Extra = extra
		return cfg
	}
	for _, c := range []struct {
		name string
		open func() error
		want string // "" means success
	}{
		{"host type", func() error { return tryNew(t, db, memberConfig(sqlstore.SQLite, 0)) }, ""},
		{"host type without User", func() error {
			return tryNew(t, db, sqlstore.Config[member]{Dialect: sqlstore.SQLite})
		}, "Config.User is required for the user type sqlstore_test.member"},
		{"Extra without User", func() error {
			return tryNew(t, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Columns: sqlstore.Columns{Extra: []string{"display_name"}}})
		}, "Columns.Extra needs Config.User"},
		{"bad extra column", func() error { return tryNew(t, db, withExtra("display_name", "x; DROP TABLE y")) }, "invalid identifier"},
		{"empty extra column", func() error { return tryNew(t, db, withExtra("")) }, "invalid identifier"},
		{"missing extra column", func() error { return tryNew(t, db, withExtra("display_name", "nope")) }, "prepare ByLogin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.open()
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, c.want)
		})
	}
}

func tryNew[U any](t *testing.T, db *sql.DB, cfg sqlstore.Config[U]) error {
	s, err := sqlstore.New(t.Context(), db, cfg)
	if err != nil {
		assert.Nil(t, s)
		return err
	}
	return s.Close()
}

// TestCustomQueriesExtraColumns checks that custom queries return the
// host's columns after the standard seven.
func TestCustomQueriesExtraColumns(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	addMemberColumns(t, db, sqlstore.SQLite)
	sel := "SELECT id, login, password_hash, confirmed, roles, disabled, tokens_valid_after, upper(display_name), 1 FROM httpauth_users WHERE "
	cfg := memberConfig(sqlstore.SQLite, 0)
	cfg.Queries = sqlstore.Queries{ByLogin: sel + "login = ?", ByID: sel + "id = ?"}
	s := newStoreNoMigrate(t, db, cfg)
	_, err := s.CreateUser(t.Context(), sqlstore.NewUser{ID: "q1", Login: "q1@example.com"})
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `UPDATE httpauth_users SET display_name = 'Quinn' WHERE id = 'q1'`)
	require.NoError(t, err)
	a, err := s.UserByLogin(t.Context(), "q1@example.com")
	require.NoError(t, err)
	assert.Equal(t, member{ID: "q1", Email: "q1@example.com", DisplayName: "QUINN", Admin: true}, a.User)
	assert.Equal(t, []string{"admin"}, a.Roles)
}

// TestUserJSON checks the JSON form of the default User, which handlers
// commonly write back.
func TestUserJSON(t *testing.T) {
	t.Parallel()
	u := sqlstore.User{ID: "u1", Login: "a@example.com", Confirmed: true}
	b, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"u1","login":"a@example.com","confirmed":true}`, string(b))
	var back sqlstore.User
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, u, back)
}
