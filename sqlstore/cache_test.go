package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/gohttpauth/httpauth/sqlstore/pgfeed"
)

// pollTimeout bounds every wait for a notification or a reconnection. It
// is generous on purpose: the tests never assert a latency.
const pollTimeout = 10 * time.Second

// randomID returns an ID no other test uses: every test database shares
// the notification channel, so fixed IDs would see each other's changes.
func randomID(t testing.TB) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "u-" + hex.EncodeToString(b[:])
}

// poll calls cond until it holds or pollTimeout passes.
func poll(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > pollTimeout {
			t.Fatalf("%s: not within %v", what, pollTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// waitCached repeats lookup until one round of it makes no query: the
// accounts it reads are cached. (A change elsewhere on the shared channel
// may void a fill, hence the polling.)
func waitCached[U any](t *testing.T, s *sqlstore.Store[U], lookup func() error) {
	t.Helper()
	poll(t, "cached", func() bool {
		require.NoError(t, lookup())
		before := s.Queries()
		require.NoError(t, lookup())
		return s.Queries() == before
	})
}

// cachedPair returns a migrated schema, two caching stores on two *sql.DB
// (two instances) and a third *sql.DB for plain SQL.
func cachedPair(t *testing.T) (a, b *sqlstore.Store[sqlstore.User], plain *sql.DB) {
	t.Helper()
	db1, dsn := openPostgresDSN(t)
	require.NoError(t, sqlstore.Migrate(t.Context(), db1, sqlstore.Postgres))
	var schema string
	require.NoError(t, db1.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema))
	cfg := sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 100}
	a = newStoreNoMigrate(t, db1, cfg)
	b = newStoreNoMigrate(t, openDSN(t, dsn, schema), cfg)
	require.True(t, a.Live(), "New returns with the listener up")
	require.True(t, b.Live())
	return a, b, openDSN(t, dsn, schema)
}

// TestCacheSeesChanges checks that changes made by plain SQL, or by
// another instance, reach a store that has the account cached.
func TestCacheSeesChanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, plain := cachedPair(t)
	id, login := randomID(t), "alice@example.com"
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login, PasswordHash: "$2b$10$old", Roles: []string{"r"}})
	require.NoError(t, err)

	exec := func(q string, args ...any) func(t *testing.T) {
		return func(t *testing.T) {
			_, err := plain.ExecContext(ctx, q, args...)
			require.NoError(t, err)
		}
	}
	type acct = *httpauth.Account[sqlstore.User]
	steps := []struct {
		name   string
		change func(t *testing.T)
		after  string // the login after the change
		seen   func(a acct) bool
	}{
		{"disable", exec(`UPDATE httpauth_users SET disabled = true`), login,
			func(a acct) bool { return a.Disabled }},
		{"enable through instance A", func(t *testing.T) { require.NoError(t, a.SetDisabled(ctx, id, false)) }, login,
			func(a acct) bool { return !a.Disabled }},
		{"password hash", exec(`UPDATE httpauth_users SET password_hash = '$2b$10$new' WHERE id = $1`, id), login,
			func(a acct) bool { return a.PasswordHash == "$2b$10$new" }},
		{"tokens_valid_after", exec(`UPDATE httpauth_users SET tokens_valid_after = 1234567890 WHERE id = $1`, id), login,
			func(a acct) bool { return a.TokensValidAfter.Equal(time.Unix(0, 1234567890)) }},
		{"log out everywhere through instance A", func(t *testing.T) { require.NoError(t, a.LogoutEverywhere(ctx, id)) }, login,
			func(a acct) bool { return a.TokensValidAfter.Unix() > 1234567890 }},
		{"roles", exec(`UPDATE httpauth_users SET roles = '["x","y"]' WHERE id = $1`, id), login,
			func(a acct) bool { return len(a.Roles) == 2 }},
		{"login", exec(`UPDATE httpauth_users SET login = 'alice2@example.com' WHERE id = $1`, id), "alice2@example.com",
			func(a acct) bool { return a.User.Login == "alice2@example.com" }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			waitCached(t, b, func() error {
				if _, err := b.UserByID(ctx, id); err != nil {
					return err
				}
				_, err := b.UserByLogin(ctx, login)
				return err
			})
			st.change(t)
			took := poll(t, st.name+" seen by B", func() bool {
				byID, err := b.UserByID(ctx, id)
				require.NoError(t, err)
				byLogin, err := b.UserByLogin(ctx, st.after)
				require.NoError(t, err)
				return st.seen(byID) && st.seen(byLogin)
			})
			t.Logf("%s: seen by B after %v", st.name, took)
			if st.after != login {
				_, err := b.UserByLogin(ctx, login)
				assert.ErrorIs(t, err, httpauth.ErrUserNotFound, "old login after a login change")
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		login := "alice2@example.com"
		waitCached(t, b, func() error {
			if _, err := b.UserByID(ctx, id); err != nil {
				return err
			}
			_, err := b.UserByLogin(ctx, login)
			return err
		})
		exec(`DELETE FROM httpauth_users WHERE id = $1`, id)(t)
		took := poll(t, "delete seen by B", func() bool {
			_, err1 := b.UserByID(ctx, id)
			_, err2 := b.UserByLogin(ctx, login)
			return errors.Is(err1, httpauth.ErrUserNotFound) && errors.Is(err2, httpauth.ErrUserNotFound)
		})
		t.Logf("delete: seen by B after %v", took)
	})
}

// TestCacheListenerKilled terminates B's LISTEN backend: B must stop
// trusting its cache until it has listened again, and must not bring back
// the state it cached before.
func TestCacheListenerKilled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, plain := cachedPair(t)
	id, login := randomID(t), "bob@example.com"
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login, PasswordHash: "$2b$10$x"})
	require.NoError(t, err)
	lookup := func() error {
		if _, err := b.UserByID(ctx, id); err != nil {
			return err
		}
		_, err := b.UserByLogin(ctx, login)
		return err
	}
	waitCached(t, b, lookup)

	// Hold the listener before it reconnects, so "down" lasts until we
	// say.
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	b.SetListenerHook(func(event string) {
		if event == "reconnect" {
			<-release
		}
	})
	pid := b.ListenerPID()
	require.NotZero(t, pid)
	var name string
	require.NoError(t, plain.QueryRowContext(ctx, `SELECT application_name FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&name))
	assert.Equal(t, "httpauth-sqlstore-listener", name)
	var ok bool
	require.NoError(t, plain.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok))
	require.True(t, ok)
	poll(t, "B not live after its listener was killed", func() bool { return !b.Live() })

	// The notification of this change is lost: B is not listening.
	_, err = plain.ExecContext(ctx, `UPDATE httpauth_users SET disabled = true WHERE id = $1`, id)
	require.NoError(t, err)
	before := b.Queries()
	for _, get := range []func() (*httpauth.Account[sqlstore.User], error){
		func() (*httpauth.Account[sqlstore.User], error) { return b.UserByID(ctx, id) },
		func() (*httpauth.Account[sqlstore.User], error) { return b.UserByLogin(ctx, login) },
	} {
		acct, err := get()
		require.NoError(t, err)
		assert.True(t, acct.Disabled, "while down, B reads through")
	}
	assert.Equal(t, before+2, b.Queries(), "while down, every lookup is a query")

	once.Do(func() { close(release) })
	poll(t, "B live again", b.Live)
	assert.NotEqual(t, pid, b.ListenerPID(), "a new LISTEN connection")
	acct, err := b.UserByID(ctx, id)
	require.NoError(t, err)
	assert.True(t, acct.Disabled, "after reconnecting, the account cached before is gone")
	acct, err = b.UserByLogin(ctx, login)
	require.NoError(t, err)
	assert.True(t, acct.Disabled)
	waitCached(t, b, lookup) // and it caches again

	// The new connection delivers changes.
	_, err = plain.ExecContext(ctx, `UPDATE httpauth_users SET disabled = false WHERE id = $1`, id)
	require.NoError(t, err)
	poll(t, "change after reconnect seen by B", func() bool {
		acct, err := b.UserByID(ctx, id)
		require.NoError(t, err)
		return !acct.Disabled
	})
}

// TestCacheListenerStalled holds B's listener so that no message or ping
// arrives: within CacheMaxSilence B stops trusting its cache, and the
// change queued meanwhile is applied when the listener resumes.
func TestCacheListenerStalled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, plain := cachedPair(t)
	id, login := randomID(t), "carol@example.com"
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login})
	require.NoError(t, err)
	lookup := func() error { _, err := b.UserByID(ctx, id); return err }
	waitCached(t, b, lookup)

	gate := make(chan struct{})
	var once sync.Once
	unlock := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(unlock) // before Close, which waits for the listener
	b.SetListenerHook(func(event string) {
		if event == "wait" {
			<-gate // the listener stalls at its next wait
		}
	})
	poll(t, "B not live while its listener is silent", func() bool { return !b.Live() })
	_, err = plain.ExecContext(ctx, `UPDATE httpauth_users SET disabled = true WHERE id = $1`, id)
	require.NoError(t, err)
	acct, err := b.UserByID(ctx, id)
	require.NoError(t, err)
	assert.True(t, acct.Disabled, "while silent, B reads through")

	unlock()
	poll(t, "B live again", b.Live)
	acct, err = b.UserByID(ctx, id)
	require.NoError(t, err)
	assert.True(t, acct.Disabled, "the queued notification dropped the old entry")
}

// TestCacheRepeatLookupsMakeNoQuery checks the point of the cache.
func TestCacheRepeatLookupsMakeNoQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, _, _ := cachedPair(t)
	id := randomID(t)
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: "Dave@Example.com"})
	require.NoError(t, err)
	logins := []string{"dave@example.com", "DAVE@example.com", "Dave@Example.COM"}
	poll(t, "100 repeat lookups without a query", func() bool {
		for _, l := range logins {
			_, err := a.UserByLogin(ctx, l)
			require.NoError(t, err)
		}
		before := a.Queries()
		for i := range 100 {
			acct, err := a.UserByLogin(ctx, logins[i%len(logins)])
			require.NoError(t, err)
			require.Equal(t, id, acct.ID)
			acct, err = a.UserByID(ctx, id)
			require.NoError(t, err)
			require.Equal(t, "dave@example.com", acct.User.Login)
		}
		return a.Queries() == before
	})

	// A missing user is never cached, and a cancelled context still fails.
	for range 2 {
		before := a.Queries()
		_, err := a.UserByID(ctx, "nobody")
		require.ErrorIs(t, err, httpauth.ErrUserNotFound)
		assert.Equal(t, before+1, a.Queries())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = a.UserByID(cancelled, id)
	assert.ErrorIs(t, err, context.Canceled)

	// The store's own writes are visible at once on the same instance.
	require.NoError(t, a.SetRoles(ctx, id, []string{"new"}))
	acct, err := a.UserByID(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []string{"new"}, acct.Roles)
}

// TestCacheConfig checks the cache's configuration errors.
func TestCacheConfig(t *testing.T) {
	t.Parallel()
	sqlite := openSQLite(t)
	require.NoError(t, sqlstore.Migrate(t.Context(), sqlite, sqlstore.SQLite))
	for _, c := range []struct {
		name string
		cfg  sqlstore.Config[sqlstore.User]
		want string
	}{
		{"SQLite", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, CacheSize: 10}, "needs PostgreSQL"},
		{"negative size", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, CacheSize: -1}, "negative"},
		{"negative silence", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite, CacheMaxSilence: -time.Second}, "below 100ms"},
		{"tiny silence", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 1, CacheMaxSilence: time.Millisecond}, "below 100ms"},
		{"no change feed", sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 1}, "CacheSize needs Config.ChangeFeed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := sqlstore.New(t.Context(), sqlite, c.cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	t.Run("SQLite without a cache is never live", func(t *testing.T) {
		s := newStoreNoMigrate(t, sqlite, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
		assert.False(t, s.Live())
	})
	t.Run("bad channel", func(t *testing.T) {
		db := openPostgres(t)
		require.NoError(t, sqlstore.Migrate(t.Context(), db, sqlstore.Postgres))
		_, err := sqlstore.New(t.Context(), db, sqlstore.Config[sqlstore.User]{
			Dialect: sqlstore.Postgres, CacheSize: 1, ChangeFeed: pgfeed.New(db), NotifyChannel: "a; DROP",
		})
		assert.ErrorContains(t, err, "invalid identifier")
	})
}

// TestCacheCustomTableTrigger installs the trigger that README.md gives
// for a host's own table, and checks that a plain UPDATE reaches a
// caching store on another connection, on a channel of its own.
func TestCacheCustomTableTrigger(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, dsn := openPostgresDSN(t)
	var schema string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema))
	_, err := db.ExecContext(ctx, customTableDDL(sqlstore.Postgres))
	require.NoError(t, err)
	// Migrate creates httpauth_notify_change; a host that does not use
	// Migrate copies the function from schema/postgres.sql.
	require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
	installTriggers(t, db, `"AppUsers"`, "app_users", "app_users_changed", "UserID")
	_, err = db.ExecContext(ctx, `INSERT INTO "AppUsers" ("UserID", "Email") VALUES ($1, 'erin@example.com')`, "e1")
	require.NoError(t, err)
	s := newStoreNoMigrate(t, openDSN(t, dsn, schema), sqlstore.Config[sqlstore.User]{
		Dialect: sqlstore.Postgres, Table: "AppUsers", Columns: customColumns,
		CacheSize: 10, NotifyChannel: "app_users_changed",
	})
	waitCached(t, s, func() error { _, err := s.UserByLogin(ctx, "erin@example.com"); return err })
	_, err = db.ExecContext(ctx, `UPDATE "AppUsers" SET "IsDisabled" = true WHERE "UserID" = 'e1'`)
	require.NoError(t, err)
	took := poll(t, "custom table change seen", func() bool {
		a, err := s.UserByLogin(ctx, "erin@example.com")
		require.NoError(t, err)
		return a.Disabled
	})
	t.Logf("seen after %v", took)
}

// installTriggers installs the change and heartbeat triggers on table
// (quoted), as README.md tells a host to for its own table, naming the
// triggers with prefix and notifying channel with the ID column idCol.
func installTriggers(t *testing.T, db *sql.DB, table, prefix, channel, idCol string) {
	t.Helper()
	args := "'" + channel + "', '" + idCol + "'"
	_, err := db.ExecContext(t.Context(), `
		DROP TRIGGER IF EXISTS `+prefix+`_httpauth_notify ON `+table+`;
		CREATE TRIGGER `+prefix+`_httpauth_notify
		    AFTER INSERT OR UPDATE OR DELETE ON `+table+`
		    FOR EACH ROW EXECUTE FUNCTION httpauth_notify_change(`+args+`);
		DROP TRIGGER IF EXISTS `+prefix+`_httpauth_notify_truncate ON `+table+`;
		CREATE TRIGGER `+prefix+`_httpauth_notify_truncate
		    AFTER TRUNCATE ON `+table+`
		    FOR EACH STATEMENT EXECUTE FUNCTION httpauth_notify_change(`+args+`);
		DROP TRIGGER IF EXISTS `+prefix+`_httpauth_heartbeat ON `+table+`;
		CREATE TRIGGER `+prefix+`_httpauth_heartbeat
		    AFTER UPDATE ON `+table+`
		    FOR EACH STATEMENT EXECUTE FUNCTION httpauth_notify_change(`+args+`);`)
	require.NoError(t, err)
}

// TestCacheHeartbeat checks that a quiet but healthy listener stays
// trusted: with no change on its channel, the echoes of its heartbeats
// keep it live.
func TestCacheHeartbeat(t *testing.T) {
	t.Parallel()
	db := openPostgres(t)
	require.NoError(t, sqlstore.Migrate(t.Context(), db, sqlstore.Postgres))
	const maxSilence = 2 * time.Second  // heartbeats every 500ms
	quiet := "quiet_" + randomID(t)[2:] // nobody else's changes
	// The default table's triggers, on the quiet channel instead.
	_, err := db.ExecContext(t.Context(), `DROP TRIGGER httpauth_users_notify ON httpauth_users;
		DROP TRIGGER httpauth_users_notify_truncate ON httpauth_users;
		DROP TRIGGER httpauth_users_heartbeat ON httpauth_users`)
	require.NoError(t, err)
	installTriggers(t, db, "httpauth_users", "quiet", quiet, "id")
	s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
		Dialect: sqlstore.Postgres, CacheSize: 1, CacheMaxSilence: maxSilence,
		NotifyChannel: quiet,
	})
	// Heartbeats are sent at least maxSilence/4 apart, so the 6th echo
	// comes at least 1.25 maxSilence after connecting, however slow the
	// machine: live then only if echoes count as beats. Late echoes only
	// delay the poll, whose deadline is generous.
	const echoes = 6
	const timeout = 30 * time.Second
	deadline := time.Now().Add(timeout)
	for s.HeartbeatEchoes() < echoes || !s.Live() {
		if time.Now().After(deadline) {
			t.Fatalf("not live with %d heartbeats echoed within %v: %d echoed, live %v",
				echoes, timeout, s.HeartbeatEchoes(), s.Live())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkLookup compares a token request's lookup (UserByID) and a
// Basic request's (UserByLogin) with and without the cache, on PostgreSQL.
func BenchmarkLookup(b *testing.B) {
	for _, size := range []int{0, 1000} {
		b.Run(fmt.Sprintf("CacheSize=%d", size), func(b *testing.B) {
			db := openPostgresTB(b)
			require.NoError(b, sqlstore.Migrate(b.Context(), db, sqlstore.Postgres))
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
			cfg := sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: size, Hasher: fastHasher}
			if size > 0 {
				cfg.ChangeFeed = pgfeed.New(db)
			}
			s, err := sqlstore.New(b.Context(), db, cfg)
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close() })
			_, err = s.CreateUser(b.Context(), sqlstore.NewUser{ID: randomID(b), Login: "bench@example.com"})
			require.NoError(b, err)
			a, err := s.UserByLogin(b.Context(), "bench@example.com")
			require.NoError(b, err)
			for name, get := range map[string]func(context.Context) error{
				"UserByID":    func(ctx context.Context) error { _, err := s.UserByID(ctx, a.ID); return err },
				"UserByLogin": func(ctx context.Context) error { _, err := s.UserByLogin(ctx, "Bench@example.com"); return err },
			} {
				b.Run(name, func(b *testing.B) {
					ctx := b.Context()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := get(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}
