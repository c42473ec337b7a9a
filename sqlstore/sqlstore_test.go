package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

func TestConformance(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[sqlstore.User] {
				db := o.open(t)
				return harness(t, db, newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect}))
			})
		})
	}
	// The account cache must not change what the store answers.
	t.Run("postgres with cache", func(t *testing.T) {
		httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[sqlstore.User] {
			db := openPostgres(t)
			return harness(t, db, newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 100}))
		})
	})
}

// customTableDDL is a host's own users table, with other names for
// everything, a mixed-case table name and a schema-qualified reference.
func customTableDDL(d sqlstore.Dialect) string {
	boolean, bigint := "BOOLEAN", "BIGINT"
	if d == sqlstore.SQLite {
		boolean, bigint = "INTEGER", "INTEGER"
	}
	return fmt.Sprintf(`CREATE TABLE "AppUsers" (
		"UserID" TEXT PRIMARY KEY,
		"Email" TEXT NOT NULL UNIQUE,
		"PwHash" TEXT NOT NULL DEFAULT '',
		"IsConfirmed" %[1]s NOT NULL DEFAULT FALSE,
		"RoleList" TEXT NOT NULL DEFAULT '[]',
		"IsDisabled" %[1]s NOT NULL DEFAULT FALSE,
		"RevokedBefore" %[2]s NOT NULL DEFAULT 0,
		"Nickname" TEXT
	)`, boolean, bigint)
}

var customColumns = sqlstore.Columns{
	ID: "UserID", Login: "Email", PasswordHash: "PwHash", Confirmed: "IsConfirmed",
	Roles: "RoleList", Disabled: "IsDisabled", TokensValidAfter: "RevokedBefore",
}

func TestConformanceCustomTable(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			httpauthtest.TestUserStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[sqlstore.User] {
				db := o.open(t)
				_, err := db.ExecContext(t.Context(), customTableDDL(o.dialect))
				require.NoError(t, err)
				var schema string
				require.NoError(t, db.QueryRowContext(t.Context(), map[sqlstore.Dialect]string{
					sqlstore.Postgres: "SELECT current_schema()",
					sqlstore.SQLite:   "SELECT 'main'",
				}[o.dialect]).Scan(&schema))
				s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
					Dialect: o.dialect, Table: schema + ".AppUsers", Columns: customColumns,
				})
				return harness(t, db, s)
			})
		})
	}
}

// TestCustomQueries is a host with integer IDs, mixed-case emails and roles
// in a join table: it writes its own SELECTs and keeps the generated
// rehash UPDATE, which needs only Table and the ID and hash columns.
func TestCustomQueries(t *testing.T) {
	ddl := map[sqlstore.Dialect][]string{
		sqlstore.SQLite: {
			`CREATE TABLE members (member_id INTEGER PRIMARY KEY, email TEXT NOT NULL, pw TEXT NOT NULL)`,
			`CREATE UNIQUE INDEX members_email ON members (lower(email))`,
			`CREATE TABLE member_roles (member_id INTEGER NOT NULL, role TEXT NOT NULL)`,
		},
		sqlstore.Postgres: {
			`CREATE TABLE members (member_id BIGINT PRIMARY KEY, email TEXT NOT NULL, pw TEXT NOT NULL)`,
			`CREATE UNIQUE INDEX members_email ON members (lower(email))`,
			`CREATE TABLE member_roles (member_id BIGINT NOT NULL, role TEXT NOT NULL)`,
		},
	}
	queries := map[sqlstore.Dialect]sqlstore.Queries{
		sqlstore.SQLite: {
			ByLogin: `SELECT m.member_id, m.email, m.pw, 1,
				(SELECT json_group_array(role) FROM (SELECT role FROM member_roles r WHERE r.member_id = m.member_id ORDER BY role)),
				0, 0 FROM members m WHERE lower(m.email) = ?`,
			ByID: `SELECT m.member_id, m.email, m.pw, 1,
				(SELECT json_group_array(role) FROM (SELECT role FROM member_roles r WHERE r.member_id = m.member_id ORDER BY role)),
				0, 0 FROM members m WHERE m.member_id = ?`,
		},
		sqlstore.Postgres: {
			ByLogin: `SELECT m.member_id, m.email, m.pw, TRUE,
				(SELECT COALESCE(json_agg(role ORDER BY role), '[]')::text FROM member_roles r WHERE r.member_id = m.member_id),
				FALSE, NULL FROM members m WHERE lower(m.email) = $1`,
			ByID: `SELECT m.member_id, m.email, m.pw, TRUE,
				(SELECT COALESCE(json_agg(role ORDER BY role), '[]')::text FROM member_roles r WHERE r.member_id = m.member_id),
				FALSE, NULL FROM members m WHERE m.member_id = $1::bigint`,
		},
	}
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			ctx := t.Context()
			db := o.open(t)
			for _, q := range ddl[o.dialect] {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err)
			}
			for _, q := range []string{
				`INSERT INTO members VALUES (42, 'Ann@Example.com', 'old-hash'), (7, 'bo@example.com', 'h7')`,
				`INSERT INTO member_roles VALUES (42, 'ops'), (42, 'admin')`,
			} {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err)
			}
			s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
				Dialect: o.dialect, Table: "members",
				Columns: sqlstore.Columns{ID: "member_id", PasswordHash: "pw"},
				Queries: queries[o.dialect],
			})

			a, err := s.UserByLogin(ctx, "ANN@example.COM")
			require.NoError(t, err)
			assert.Equal(t, "42", a.ID)
			assert.Equal(t, []string{"admin", "ops"}, a.Roles)
			assert.Equal(t, sqlstore.User{ID: "42", Login: "Ann@Example.com", Confirmed: true}, a.User)
			assert.True(t, a.TokensValidAfter.IsZero())

			b, err := s.UserByID(ctx, "7")
			require.NoError(t, err)
			assert.Equal(t, "bo@example.com", b.User.Login)
			assert.Empty(t, b.Roles)

			_, err = s.UserByID(ctx, "8")
			assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
			_, err = s.UserByLogin(ctx, "ann@example.co")
			assert.ErrorIs(t, err, httpauth.ErrUserNotFound)

			require.NoError(t, s.UpdatePasswordHash(ctx, "42", "old-hash", "new-hash"))
			require.NoError(t, s.UpdatePasswordHash(ctx, "42", "old-hash", "newer-hash")) // stale: no-op
			a, err = s.UserByID(ctx, "42")
			require.NoError(t, err)
			assert.Equal(t, "new-hash", a.PasswordHash)
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	db := openSQLite(t)
	require.NoError(t, sqlstore.Migrate(t.Context(), db, sqlstore.SQLite))
	for _, c := range []struct {
		name string
		cfg  sqlstore.Config[sqlstore.User]
		want string // substring of the error; "" means success
	}{
		{"defaults", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite}, ""},
		{"qualified table", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "main.httpauth_users"}, ""},
		{"no dialect", sqlstore.Config[sqlstore.User]{}, "unknown dialect"},
		{"unknown dialect", sqlstore.Config[sqlstore.User]{Dialect: "mysql"}, "unknown dialect"},
		{"injected table", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "users; DROP TABLE users"}, "invalid identifier"},
		{"quoted table", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: `a"b`}, "invalid identifier"},
		{"three parts", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "a.b.c"}, "at most schema.table"},
		{"empty part", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: ".users"}, "invalid identifier"},
		{"digit first", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "1users"}, "invalid identifier"},
		{"too long", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: strings.Repeat("a", 64)}, "invalid identifier"},
		{"bad column", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Columns: sqlstore.Columns{Login: "login OR 1=1"}}, "invalid identifier"},
		{"dotted column", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Columns: sqlstore.Columns{ID: "t.id"}}, "invalid identifier"},
		{"missing table", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "nope"}, "prepare ByLogin"},
		{"missing column", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Columns: sqlstore.Columns{Roles: "nope"}}, "prepare ByLogin"},
		{"bad query", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Queries: sqlstore.Queries{ByID: "SELEC"}}, "prepare ByID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := sqlstore.New(t.Context(), db, c.cfg)
			if c.want == "" {
				require.NoError(t, err)
				require.NoError(t, s.Close())
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err := sqlstore.New(t.Context(), nil, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
	assert.Error(t, err)
}

func TestMigrateIdempotent(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			db := o.open(t)
			require.NoError(t, sqlstore.Migrate(t.Context(), db, o.dialect))
			s := newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect}) // migrates again
			_, err := s.CreateUser(t.Context(), sqlstore.NewUser{ID: "u1", Login: "a"})
			require.NoError(t, err)
			require.NoError(t, sqlstore.Migrate(t.Context(), db, o.dialect))
			_, err = s.UserByID(t.Context(), "u1")
			require.NoError(t, err, "a second Migrate must keep the data")
		})
	}
	assert.Error(t, sqlstore.Migrate(t.Context(), openSQLite(t), "mysql"))
	_, err := sqlstore.Schema("mysql")
	assert.Error(t, err)
}

// TestSchemaConstraints checks that the schema itself refuses rows the
// store would never write, for writers that bypass the store.
func TestSchemaConstraints(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			db := o.open(t)
			require.NoError(t, sqlstore.Migrate(t.Context(), db, o.dialect))
			ins := "INSERT INTO httpauth_users (id, login, roles) VALUES ($1, $2, $3)"
			if o.dialect == sqlstore.SQLite {
				ins = "INSERT INTO httpauth_users (id, login, roles) VALUES (?, ?, ?)"
			}
			_, err := db.ExecContext(t.Context(), ins, "ok", "ok", `["a"]`)
			require.NoError(t, err)
			for _, c := range []struct{ name, id, login, roles string }{
				{"empty id", "", "x1", "[]"},
				{"long id", strings.Repeat("é", 128), "x2", "[]"}, // 256 bytes
				{"empty login", "x3", "", "[]"},
				{"duplicate login", "x4", "ok", "[]"},
				{"duplicate id", "ok", "x5", "[]"},
				{"roles not an array", "x6", "x6", `{"a":1}`},
			} {
				t.Run(c.name, func(t *testing.T) {
					_, err := db.ExecContext(t.Context(), ins, c.id, c.login, c.roles)
					assert.Error(t, err)
				})
			}
		})
	}
}

func TestManagement(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			ctx := t.Context()
			db := o.open(t)
			s := newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect})

			get := func(t *testing.T, id string) *httpauth.Account[sqlstore.User] {
				t.Helper()
				a, err := s.UserByID(ctx, id)
				require.NoError(t, err)
				return a
			}
			// during runs write, noting the time around it; inWrite reports
			// whether a cutoff read afterwards is the time of the write.
			var before, after time.Time
			during := func(t *testing.T, write func() error) {
				t.Helper()
				before = time.Now()
				require.NoError(t, write())
				after = time.Now()
			}
			inWrite := func(cutoff time.Time) bool { return !cutoff.Before(before) && !cutoff.After(after) }

			var id string
			during(t, func() (err error) {
				id, err = s.CreateUser(ctx, sqlstore.NewUser{Login: "New.User@Example.com", Password: "correct horse", Roles: []string{"user"}})
				return err
			})
			assert.Regexp(t, `^[0-9a-f]{32}$`, id)
			a := get(t, id)
			assert.Equal(t, sqlstore.User{ID: id, Login: "new.user@example.com"}, a.User)
			assert.Equal(t, []string{"user"}, a.Roles)
			assert.True(t, inWrite(a.TokensValidAfter), "a new user's cutoff is its creation time")
			ok, err := fastHasher.Verify(ctx, a.PasswordHash, "correct horse")
			require.NoError(t, err)
			assert.True(t, ok, "CreateUser must store a hash of the password")

			t.Run("create errors", func(t *testing.T) {
				for _, c := range []struct {
					name string
					u    sqlstore.NewUser
				}{
					{"empty login", sqlstore.NewUser{Password: "x"}},
					{"login taken, other case", sqlstore.NewUser{Login: "NEW.USER@example.com"}},
					{"ID taken", sqlstore.NewUser{ID: id, Login: "other"}},
					{"password and hash", sqlstore.NewUser{Login: "p", Password: "x", PasswordHash: "$2b$..."}},
					{"empty role", sqlstore.NewUser{Login: "r", Roles: []string{""}}},
					{"long ID", sqlstore.NewUser{ID: strings.Repeat("x", 256), Login: "l"}},
					{"bad UTF-8 ID", sqlstore.NewUser{ID: "\xff", Login: "u"}},
					{"NUL in ID", sqlstore.NewUser{ID: "a\x00b", Login: "n"}},
					{"NUL in login", sqlstore.NewUser{Login: "a\x00b"}},
					{"bad UTF-8 login", sqlstore.NewUser{Login: "a\xffb"}},
					{"time out of range", sqlstore.NewUser{Login: "t", TokensValidAfter: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
				} {
					t.Run(c.name, func(t *testing.T) {
						_, err := s.CreateUser(ctx, c.u)
						assert.Error(t, err)
					})
				}
			})

			t.Run("no password", func(t *testing.T) {
				id, err := s.CreateUser(ctx, sqlstore.NewUser{ID: "nopw", Login: "nopw"})
				require.NoError(t, err)
				assert.Equal(t, "", get(t, id).PasswordHash)
			})

			t.Run("SetPassword", func(t *testing.T) {
				during(t, func() error { return s.SetPassword(ctx, id, "new password") })
				a := get(t, id)
				ok, err := fastHasher.Verify(ctx, a.PasswordHash, "new password")
				require.NoError(t, err)
				assert.True(t, ok)
				assert.True(t, inWrite(a.TokensValidAfter), "password change revokes tokens: got %v", a.TokensValidAfter)
			})

			t.Run("SetPasswordHash revokes tokens", func(t *testing.T) {
				require.NoError(t, s.SetTokensValidAfter(ctx, id, time.Time{}))
				during(t, func() error { return s.SetPasswordHash(ctx, id, "$2b$10$imported") })
				a := get(t, id)
				assert.Equal(t, "$2b$10$imported", a.PasswordHash)
				assert.True(t, inWrite(a.TokensValidAfter), "an AccountStore's SetPasswordHash moves the cutoff: got %v", a.TokensValidAfter)
			})

			t.Run("disable and enable", func(t *testing.T) {
				during(t, func() error { return s.SetDisabled(ctx, id, true) })
				a := get(t, id)
				assert.True(t, a.Disabled)
				assert.True(t, inWrite(a.TokensValidAfter), "disabling revokes tokens")
				require.NoError(t, s.SetTokensValidAfter(ctx, id, time.Time{}))
				require.NoError(t, s.SetDisabled(ctx, id, false))
				a = get(t, id)
				assert.False(t, a.Disabled)
				assert.True(t, a.TokensValidAfter.IsZero(), "enabling must not touch the cutoff")
			})

			t.Run("SetConfirmed", func(t *testing.T) {
				require.NoError(t, s.SetConfirmed(ctx, id, true))
				assert.True(t, get(t, id).User.Confirmed)
				require.NoError(t, s.SetConfirmed(ctx, id, false))
				assert.False(t, get(t, id).User.Confirmed)
			})

			t.Run("SetRoles", func(t *testing.T) {
				require.NoError(t, s.SetRoles(ctx, id, []string{"b", "a", `quo"te`, "sp ace"}))
				assert.Equal(t, []string{"b", "a", `quo"te`, "sp ace"}, get(t, id).Roles)
				require.NoError(t, s.SetRoles(ctx, id, nil))
				assert.Empty(t, get(t, id).Roles)
				assert.Error(t, s.SetRoles(ctx, id, []string{"ok", ""}))
			})

			t.Run("LogoutEverywhere", func(t *testing.T) {
				require.NoError(t, s.SetTokensValidAfter(ctx, id, time.Time{}))
				during(t, func() error { return s.LogoutEverywhere(ctx, id) })
				assert.True(t, inWrite(get(t, id).TokensValidAfter))
			})

			t.Run("missing user", func(t *testing.T) {
				for name, err := range map[string]error{
					"SetPassword":         s.SetPassword(ctx, "nobody", "x"),
					"SetPasswordHash":     s.SetPasswordHash(ctx, "nobody", "x"),
					"SetDisabled":         s.SetDisabled(ctx, "nobody", true),
					"SetEnabled":          s.SetDisabled(ctx, "nobody", false),
					"SetConfirmed":        s.SetConfirmed(ctx, "nobody", true),
					"SetRoles":            s.SetRoles(ctx, "nobody", []string{"a"}),
					"SetTokensValidAfter": s.SetTokensValidAfter(ctx, "nobody", time.Now()),
					"LogoutEverywhere":    s.LogoutEverywhere(ctx, "nobody"),
					"DeleteUser":          s.DeleteUser(ctx, "nobody"),
				} {
					assert.ErrorIs(t, err, httpauth.ErrUserNotFound, name)
				}
			})

			t.Run("cancelled context", func(t *testing.T) {
				c, cancel := context.WithCancel(ctx)
				cancel()
				for name, err := range map[string]error{
					"SetRoles":   s.SetRoles(c, id, []string{"a"}),
					"DeleteUser": s.DeleteUser(c, id),
					"CreateUser": func() error { _, err := s.CreateUser(c, sqlstore.NewUser{Login: "c", Password: "p"}); return err }(),
				} {
					assert.ErrorIs(t, err, context.Canceled, name)
					assert.NotErrorIs(t, err, httpauth.ErrUserNotFound, name)
				}
				get(t, id) // still there
			})

			t.Run("DeleteUser", func(t *testing.T) {
				require.NoError(t, s.DeleteUser(ctx, id))
				_, err := s.UserByID(ctx, id)
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
				_, err = s.UserByLogin(ctx, "new.user@example.com")
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
			})
		})
	}
}

// TestCorruptRow checks that a row the store cannot read is a failure, not
// a missing user.
func TestCorruptRow(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			db := o.open(t)
			require.NoError(t, sqlstore.Migrate(t.Context(), db, o.dialect))
			ph := "?"
			if o.dialect == sqlstore.Postgres {
				ph = "$1"
			}
			for _, c := range []struct{ name, sel string }{
				{"roles not JSON", "SELECT id, login, password_hash, confirmed, 'admin,ops', disabled, tokens_valid_after"},
				{"roles not strings", "SELECT id, login, password_hash, confirmed, '[1,2]', disabled, tokens_valid_after"},
				{"empty id", "SELECT '', login, password_hash, confirmed, roles, disabled, tokens_valid_after"},
				{"too few columns", "SELECT id, login"},
			} {
				t.Run(c.name, func(t *testing.T) {
					s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect, Queries: sqlstore.Queries{
						ByLogin: c.sel + " FROM httpauth_users WHERE login = " + ph,
						ByID:    c.sel + " FROM httpauth_users WHERE id = " + ph,
					}})
					login := strings.ReplaceAll(c.name, " ", "-") // logins have no spaces
					_, err := s.CreateUser(t.Context(), sqlstore.NewUser{ID: "u-" + c.name, Login: login})
					require.NoError(t, err)
					_, err = s.UserByLogin(t.Context(), login)
					require.Error(t, err)
					assert.NotErrorIs(t, err, httpauth.ErrUserNotFound)
					_, err = s.UserByID(t.Context(), "u-"+c.name)
					require.Error(t, err)
					assert.NotErrorIs(t, err, httpauth.ErrUserNotFound)
				})
			}
		})
	}
}

// TestNullColumns checks that NULL in the optional columns of a host's
// table reads as the zero value.
func TestNullColumns(t *testing.T) {
	db := openSQLite(t)
	_, err := db.ExecContext(t.Context(), `CREATE TABLE u (id TEXT PRIMARY KEY, login TEXT, password_hash TEXT,
		confirmed INTEGER, roles TEXT, disabled INTEGER, tokens_valid_after INTEGER)`)
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `INSERT INTO u (id, login) VALUES ('n1', 'nul')`)
	require.NoError(t, err)
	s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, Table: "u"})
	a, err := s.UserByLogin(t.Context(), "NUL")
	require.NoError(t, err)
	assert.Equal(t, &httpauth.Account[sqlstore.User]{ID: "n1", Login: "nul", User: sqlstore.User{ID: "n1", Login: "nul"}}, a)
}

// TestClosedDB checks that a dead database is a failure on every path.
func TestClosedDB(t *testing.T) {
	db := openSQLite(t)
	s := newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
	require.NoError(t, db.Close())
	ctx := t.Context()
	for name, err := range map[string]error{
		"UserByLogin":        func() error { _, err := s.UserByLogin(ctx, "a"); return err }(),
		"UserByID":           func() error { _, err := s.UserByID(ctx, "a"); return err }(),
		"UpdatePasswordHash": s.UpdatePasswordHash(ctx, "a", "b", "c"),
		"SetRoles":           s.SetRoles(ctx, "a", nil),
		"DeleteUser":         s.DeleteUser(ctx, "a"),
		"CreateUser":         func() error { _, err := s.CreateUser(ctx, sqlstore.NewUser{Login: "a"}); return err }(),
	} {
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "closed"), "%s: %v", name, err)
		assert.NotErrorIs(t, err, httpauth.ErrUserNotFound, name)
	}
}

// TestCreateUserSetsCutoff checks that a deleted account's tokens cannot
// authenticate as a new account that reuses its ID: a new account's cutoff
// defaults to its creation time. The store runs in a synctest bubble, whose
// clock moves only when told to.
func TestCreateUserSetsCutoff(t *testing.T) {
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			db := o.open(t)
			require.NoError(t, sqlstore.Migrate(t.Context(), db, o.dialect))
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect})

				_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: "reused", Login: "first"})
				require.NoError(t, err)
				time.Sleep(time.Minute)
				issued := time.Now() // a token of the first account
				require.NoError(t, s.DeleteUser(ctx, "reused"))

				time.Sleep(time.Hour)
				created := time.Now()
				_, err = s.CreateUser(ctx, sqlstore.NewUser{ID: "reused", Login: "second"})
				require.NoError(t, err)
				a, err := s.UserByID(ctx, "reused")
				require.NoError(t, err)
				assert.True(t, created.Equal(a.TokensValidAfter), "cutoff = %v, want the creation time %v", a.TokensValidAfter, created)
				assert.True(t, a.TokensValidAfter.After(issued), "the first account's token must be refused")

				explicit := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
				_, err = s.CreateUser(ctx, sqlstore.NewUser{ID: "explicit", Login: "third", TokensValidAfter: explicit})
				require.NoError(t, err)
				a, err = s.UserByID(ctx, "explicit")
				require.NoError(t, err)
				assert.True(t, explicit.Equal(a.TokensValidAfter), "an explicit cutoff is kept")
			})
		})
	}
}
