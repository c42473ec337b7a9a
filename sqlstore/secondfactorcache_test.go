package sqlstore_test

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// The cached "second factor off" (SecondFactor's all-empty answer, served
// from the account cache). A stale "off" would let a password alone
// through for an account that has just turned the factor on, so these
// tests give the stores an hour of CacheMaxAge: only a notification, or
// the loss of trust in the cache, can end a cached "off" within a poll's
// deadline, and a missing invalidation fails them.

// sfState is what SecondFactor answers.
type sfState struct {
	secret, pending string
	lastStep        int64
}

func (s sfState) off() bool { return s == sfState{} }

// sfOf calls s.SecondFactor for id.
func sfOf(t *testing.T, s *sqlstore.Store[sqlstore.User], id string) sfState {
	t.Helper()
	secret, pending, last, err := s.SecondFactor(t.Context(), id)
	require.NoError(t, err)
	return sfState{secret, pending, last}
}

// sfPair returns a migrated schema, two caching stores on two *sql.DB
// (instances A and B) whose entries never age out during a test, and a
// third *sql.DB for plain SQL.
func sfPair(t *testing.T) (a, b *sqlstore.Store[sqlstore.User], plain *sql.DB) {
	t.Helper()
	db1, dsn := openPostgresDSN(t)
	require.NoError(t, sqlstore.Migrate(t.Context(), db1, sqlstore.Postgres))
	var schema string
	require.NoError(t, db1.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema))
	cfg := sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres, CacheSize: 100, CacheMaxAge: time.Hour}
	a = newStoreNoMigrate(t, db1, cfg)
	b = newStoreNoMigrate(t, openDSN(t, dsn, schema), cfg)
	return a, b, openDSN(t, dsn, schema)
}

// waitOffCached repeats an account lookup and SecondFactor until a round
// of them makes no query and answers "off": s holds the account with its
// second factor off. (A change elsewhere on the shared channel may void a
// fill, hence the polling.)
func waitOffCached(t *testing.T, s *sqlstore.Store[sqlstore.User], id string) {
	t.Helper()
	poll(t, "second factor off, cached", func() bool {
		_, err := s.UserByID(t.Context(), id)
		require.NoError(t, err)
		require.True(t, sfOf(t, s, id).off(), "the factor is off")
		before, beforeSF := s.Queries(), s.SecondFactorQueries()
		_, err = s.UserByID(t.Context(), id)
		require.NoError(t, err)
		got := sfOf(t, s, id)
		require.True(t, got.off(), "the factor is off")
		return s.Queries() == before && s.SecondFactorQueries() == beforeSF
	})
}

// passwordPath is what the authenticator asks of s on a password
// request: the account (which fills the cache entry that a cached "off"
// lives in), then its second factor.
func passwordPath(t *testing.T, s *sqlstore.Store[sqlstore.User], id string) sfState {
	t.Helper()
	_, err := s.UserByID(t.Context(), id)
	require.NoError(t, err)
	return sfOf(t, s, id)
}

// waitSeen polls B's password path until SecondFactor answers want, then
// checks that it keeps answering it: once the change reached B, no older
// answer comes back, and no other answer is taken for "off".
func waitSeen(t *testing.T, b *sqlstore.Store[sqlstore.User], id, what string, want sfState) {
	t.Helper()
	took := poll(t, what+" seen by B", func() bool { return passwordPath(t, b, id) == want })
	for range 20 {
		require.Equal(t, want, passwordPath(t, b, id), what+": and from then on")
	}
	t.Logf("%s: seen by B after %v", what, took)
}

const testCodeHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestSecondFactorCacheOtherInstance: B has alice's factor off cached; A
// enrols and confirms through the methods the authenticator calls; B
// must answer the secret, and then every step A takes.
func TestSecondFactorCacheOtherInstance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := sfPair(t)
	id := newSFUser(t, a)

	waitOffCached(t, a, id)
	waitOffCached(t, b, id)
	require.NoError(t, a.SetPendingTOTP(ctx, id, "sealed-1"))
	assert.Equal(t, sfState{"", "sealed-1", 0}, passwordPath(t, a, id), "A sees its own write at once")
	enabled, err := a.EnableTOTP(ctx, id, "sealed-1", 42, []string{testCodeHash})
	require.NoError(t, err)
	require.True(t, enabled)
	assert.Equal(t, sfState{"sealed-1", "", 42}, passwordPath(t, a, id), "A sees its own write at once")
	waitSeen(t, b, id, "enabled", sfState{"sealed-1", "", 42})

	require.NoError(t, a.DisableTOTP(ctx, id))
	assert.True(t, passwordPath(t, a, id).off(), "A sees its own write at once")
	waitSeen(t, b, id, "disabled", sfState{})
	waitOffCached(t, b, id)

	// A pending enrolment is an answer of its own, never cached.
	require.NoError(t, a.SetPendingTOTP(ctx, id, "sealed-2"))
	waitSeen(t, b, id, "pending", sfState{"", "sealed-2", 0})
	before := b.SecondFactorQueries()
	for range 5 {
		require.Equal(t, sfState{"", "sealed-2", 0}, passwordPath(t, b, id))
	}
	assert.Equal(t, before+5, b.SecondFactorQueries(), "every answer but off is read")
}

// TestSecondFactorCachePlainSQL makes each change with plain SQL on a
// third connection: the trigger on httpauth_second_factor tells B.
func TestSecondFactorCachePlainSQL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, plain := sfPair(t)
	id := newSFUser(t, a)
	for _, st := range []struct {
		name string
		sql  string
		want sfState
	}{
		{"insert a secret", `INSERT INTO httpauth_second_factor (user_id, secret, last_step) VALUES ($1, 's1', 7)`, sfState{"s1", "", 7}},
		{"delete it", `DELETE FROM httpauth_second_factor WHERE user_id = $1`, sfState{}},
		{"insert an empty row", `INSERT INTO httpauth_second_factor (user_id) VALUES ($1)`, sfState{}},
		{"set a secret in it", `UPDATE httpauth_second_factor SET secret = 's2' WHERE user_id = $1`, sfState{"s2", "", 0}},
		{"clear it", `UPDATE httpauth_second_factor SET secret = '' WHERE user_id = $1`, sfState{}},
		{"set a pending secret", `UPDATE httpauth_second_factor SET pending = 'p' WHERE user_id = $1`, sfState{"", "p", 0}},
		{"clear it again", `UPDATE httpauth_second_factor SET pending = '' WHERE user_id = $1`, sfState{}},
		{"a last step alone is not off", `UPDATE httpauth_second_factor SET last_step = 5 WHERE user_id = $1`, sfState{"", "", 5}},
		{"secret by upsert", `INSERT INTO httpauth_second_factor (user_id, secret) VALUES ($1, 's3')
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0`, sfState{"s3", "", 0}},
		{"truncate", `TRUNCATE httpauth_second_factor`, sfState{}},
		{"insert a secret again", `INSERT INTO httpauth_second_factor (user_id, secret) VALUES ($1, 's4')`, sfState{"s4", "", 0}},
	} {
		if sfOf(t, b, id).off() {
			waitOffCached(t, b, id) // what each change must end
		}
		args := []any{id}
		if !strings.Contains(st.sql, "$1") {
			args = nil
		}
		_, err := plain.ExecContext(ctx, st.sql, args...)
		require.NoError(t, err, st.name)
		waitSeen(t, b, id, st.name, st.want)
	}
}

// TestSecondFactorCacheNoQuery checks the point of the cached "off": a
// password request, which reads the account and its second factor,
// makes no query at all once both are cached. On SQLite, which has no
// cache, and on PostgreSQL without one, every SecondFactor is a query, as
// before.
func TestSecondFactorCacheNoQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, _, _ := sfPair(t)
	id := randomID(t)
	login := id + "@example.com"
	_, err := a.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login})
	require.NoError(t, err)
	poll(t, "100 password requests without a query", func() bool {
		_, err := a.UserByLogin(ctx, login)
		require.NoError(t, err)
		sfOf(t, a, id)
		before, beforeSF := a.Queries(), a.SecondFactorQueries()
		for range 100 {
			acct, err := a.UserByLogin(ctx, login)
			require.NoError(t, err)
			require.True(t, sfOf(t, a, acct.ID).off())
		}
		return a.Queries() == before && a.SecondFactorQueries() == beforeSF
	})

	_, _, _, err = a.SecondFactor(ctx, "nobody")
	assert.ErrorIs(t, err, httpauth.ErrUserNotFound, "a missing account is read, and not found")

	for _, o := range openers {
		t.Run(string(o.dialect)+" without cache", func(t *testing.T) {
			t.Parallel()
			s := newStore(t, o.open(t), sqlstore.Config[sqlstore.User]{Dialect: o.dialect})
			id := newSFUser(t, s)
			assertReadEveryTime(t, s, id, sfState{}, "without a cache, every SecondFactor is a query")
		})
	}
}

// TestSecondFactorCacheListenerKilled terminates B's LISTEN backend: a
// factor turned on meanwhile (its notification lost) is read, never
// answered "off" from the cache, and after B reconnects the old "off" is
// gone.
func TestSecondFactorCacheListenerKilled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, plain := sfPair(t)
	id := newSFUser(t, a)
	waitOffCached(t, b, id)

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
	var ok bool
	require.NoError(t, plain.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok))
	require.True(t, ok)
	poll(t, "B not live after its listener was killed", func() bool { return !b.Live() })

	_, err := plain.ExecContext(ctx, `INSERT INTO httpauth_second_factor (user_id, secret) VALUES ($1, 's')`, id)
	require.NoError(t, err)
	assertReadEveryTime(t, b, id, sfState{"s", "", 0}, "while down, every SecondFactor is a query")

	once.Do(func() { close(release) })
	poll(t, "B live again", b.Live)
	assert.Equal(t, sfState{"s", "", 0}, passwordPath(t, b, id), "after reconnecting, the old off is gone")
}

// TestSecondFactorCacheTrust breaks httpauth_second_factor's triggers as
// an operator can: the heartbeat's second echo stops, B stops answering
// "off" from its cache (while its account cache stays trusted), and a
// secret set meanwhile, which notifies nobody, is read at once. Migrate
// puts the triggers back, and the cached "off" with them. A store on a
// channel of its own, which the second factor's triggers do not notify,
// never answers "off" from its cache.
func TestSecondFactorCacheTrust(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, breakIt string }{
		{"trigger dropped", `DROP TRIGGER httpauth_second_factor_notify ON httpauth_second_factor`},
		{"trigger disabled", `ALTER TABLE httpauth_second_factor DISABLE TRIGGER httpauth_second_factor_notify`},
		{"truncate trigger dropped", `DROP TRIGGER httpauth_second_factor_notify_truncate ON httpauth_second_factor`},
		{"table recreated", `ALTER TABLE httpauth_second_factor RENAME TO httpauth_second_factor_old;
			CREATE TABLE httpauth_second_factor (LIKE httpauth_second_factor_old INCLUDING ALL);
			DROP TABLE httpauth_second_factor_old`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			a, b, plain := sfPair(t)
			id := newSFUser(t, a)
			waitOffCached(t, b, id)

			_, err := plain.ExecContext(ctx, c.breakIt)
			require.NoError(t, err)
			// (Not "until B reads": a TRUNCATE by another test, on the
			// shared channel, may drop the entry before the echo stops.)
			poll(t, "the second factor's echo stops once its trigger is gone", func() bool { return !b.SecondFactorTrusted() })
			for range 3 {
				before := b.SecondFactorQueries()
				require.True(t, passwordPath(t, b, id).off())
				require.Equal(t, before+1, b.SecondFactorQueries(), "B reads the second factor")
			}
			_, err = plain.ExecContext(ctx, `INSERT INTO httpauth_second_factor (user_id, secret) VALUES ($1, 's')`, id)
			require.NoError(t, err)
			assert.Equal(t, sfState{"s", "", 0}, passwordPath(t, b, id), "read at once")
			assert.True(t, b.Live(), "the account cache is still trusted")

			require.NoError(t, sqlstore.Migrate(ctx, plain, sqlstore.Postgres))
			echoes := b.SecondFactorEchoes()
			poll(t, "the second factor's echo back", func() bool { return b.SecondFactorEchoes() > echoes })
			for range 3 {
				assert.Equal(t, sfState{"s", "", 0}, passwordPath(t, b, id), "the off cached before the break is void")
			}
			_, err = plain.ExecContext(ctx, `DELETE FROM httpauth_second_factor WHERE user_id = $1`, id)
			require.NoError(t, err)
			waitOffCached(t, b, id)
		})
	}
	t.Run("another channel", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		db := openPostgres(t)
		require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
		quiet := "quiet_" + randomID(t)[2:]
		_, err := db.ExecContext(ctx, `DROP TRIGGER httpauth_users_notify ON httpauth_users;
			DROP TRIGGER httpauth_users_notify_truncate ON httpauth_users;
			DROP TRIGGER httpauth_users_heartbeat ON httpauth_users`)
		require.NoError(t, err)
		installTriggers(t, db, "httpauth_users", "quiet", quiet, "id")
		s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
			Dialect: sqlstore.Postgres, CacheSize: 10, CacheMaxAge: time.Hour, NotifyChannel: quiet,
		})
		id := newSFUser(t, s)
		waitCached(t, s, func() error { _, err := s.UserByID(ctx, id); return err })
		waitHeartbeats(t, s, 3)
		assertReadEveryTime(t, s, id, sfState{}, "the second factor's triggers notify another channel: always read")
		assert.Zero(t, s.SecondFactorEchoes())
	})
}

// TestSecondFactorCacheUpgrade runs a caching store on a schema made by
// the version before the cached "off" (testdata: the second-factor tables
// without their triggers): it reads every time, until Migrate installs
// the triggers; then it caches.
func TestSecondFactorCacheUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, dsn := openPostgresDSN(t)
	var schema string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema))
	old, err := os.ReadFile("testdata/schema-before-sfcache-postgres.sql")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, string(old))
	require.NoError(t, err)
	s := newStoreNoMigrate(t, openDSN(t, dsn, schema), sqlstore.Config[sqlstore.User]{
		Dialect: sqlstore.Postgres, CacheSize: 10, CacheMaxAge: time.Hour,
	})
	id := newSFUser(t, s)
	waitCached(t, s, func() error { _, err := s.UserByID(ctx, id); return err })
	waitHeartbeats(t, s, 3)
	assertReadEveryTime(t, s, id, sfState{}, "before the upgrade: always read")

	require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
	waitOffCached(t, s, id)
	_, err = db.ExecContext(ctx, `INSERT INTO httpauth_second_factor (user_id, secret) VALUES ($1, 's')`, id)
	require.NoError(t, err)
	poll(t, "a secret set after the upgrade seen", func() bool { return passwordPath(t, s, id) == sfState{"s", "", 0} })
}

// newSFUser creates an account with a random ID in s and returns the ID.
func newSFUser(t *testing.T, s *sqlstore.Store[sqlstore.User]) string {
	t.Helper()
	id := randomID(t)
	_, err := s.CreateUser(t.Context(), sqlstore.NewUser{ID: id, Login: id + "@example.com"})
	require.NoError(t, err)
	return id
}

// assertReadEveryTime asks s for id's second factor three times, as the
// password path does, and requires want and one query each time.
func assertReadEveryTime(t *testing.T, s *sqlstore.Store[sqlstore.User], id string, want sfState, msg string) {
	t.Helper()
	before := s.SecondFactorQueries()
	for range 3 {
		require.Equal(t, want, passwordPath(t, s, id))
	}
	assert.Equal(t, before+3, s.SecondFactorQueries(), msg)
}

// waitHeartbeats waits for n more heartbeat echoes of s.
func waitHeartbeats(t *testing.T, s *sqlstore.Store[sqlstore.User], n uint64) {
	t.Helper()
	echoes := s.HeartbeatEchoes()
	poll(t, fmt.Sprintf("%d more heartbeats", n), func() bool { return s.HeartbeatEchoes() >= echoes+n })
}
