package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestCacheDistrustsLostTrigger breaks the users table's change trigger
// in the ways an operator can (dropped, disabled, lost when the table is
// recreated). The heartbeat travels through that trigger, so it stops:
// the cache stops being trusted, stays so while the listener retries, and
// a user disabled meanwhile (with no notification) is refused at once.
// Reinstalling the trigger (Migrate) makes the cache trusted again.
func TestCacheDistrustsLostTrigger(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		breakIt string
	}{
		{"trigger dropped", `DROP TRIGGER httpauth_users_notify ON httpauth_users`},
		{"trigger disabled", `ALTER TABLE httpauth_users DISABLE TRIGGER httpauth_users_notify`},
		{"truncate trigger dropped", `DROP TRIGGER httpauth_users_notify_truncate ON httpauth_users`},
		{"all triggers disabled", `ALTER TABLE httpauth_users DISABLE TRIGGER USER`},
		{"table recreated", `ALTER TABLE httpauth_users RENAME TO httpauth_users_old;
			CREATE TABLE httpauth_users (LIKE httpauth_users_old INCLUDING ALL);
			INSERT INTO httpauth_users SELECT * FROM httpauth_users_old;
			DROP TABLE httpauth_users_old CASCADE`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openPostgres(t)
			require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
			// No entry ages out during the test: only the lost heartbeat
			// can make the store read through.
			s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
				Dialect: sqlstore.Postgres, CacheSize: 100, CacheMaxAge: time.Hour,
			})
			id := randomID(t)
			login := id + "@example.com"
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login})
			require.NoError(t, err)
			lookup := func() error {
				if _, err := s.UserByID(ctx, id); err != nil {
					return err
				}
				_, err := s.UserByLogin(ctx, login)
				return err
			}
			waitCached(t, s, lookup)
			var reconnects atomic.Int64
			s.SetListenerHook(func(event string) {
				if event == "reconnect" {
					reconnects.Add(1)
				}
			})

			_, err = db.ExecContext(ctx, c.breakIt)
			require.NoError(t, err)
			poll(t, "cache not trusted once its trigger is gone", func() bool { return !s.Live() })
			_, err = db.ExecContext(ctx, `UPDATE httpauth_users SET disabled = true WHERE id = $1`, id)
			require.NoError(t, err)
			// Let the listener fail to come back at least once.
			poll(t, "two reconnection attempts", func() bool { return reconnects.Load() >= 2 })
			assert.False(t, s.Live(), "a listener whose heartbeat cannot pass the trigger is never trusted")
			before := s.Queries()
			a, err := s.UserByID(ctx, id)
			require.NoError(t, err)
			assert.True(t, a.Disabled, "by ID: read through, disabled")
			a, err = s.UserByLogin(ctx, login)
			require.NoError(t, err)
			assert.True(t, a.Disabled, "by login: read through, disabled")
			assert.Equal(t, before+2, s.Queries(), "every lookup reads the database")

			require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
			poll(t, "trusted again after Migrate", s.Live)
			_, err = db.ExecContext(ctx, `UPDATE httpauth_users SET disabled = false WHERE id = $1`, id)
			require.NoError(t, err)
			poll(t, "a change after the repair is seen", func() bool {
				a, err := s.UserByID(ctx, id)
				require.NoError(t, err)
				return !a.Disabled
			})
		})
	}
}

// TestCacheMaxAge makes writes that fire no trigger, so that no
// notification tells the cache, while the cache stays trusted: the
// account is read again within CacheMaxAge all the same.
//
// session_replication_role = replica needs a superuser (or, from
// PostgreSQL 15, GRANT SET ON PARAMETER); without it that case is skipped
// and the stand-in runs: the triggers are disabled and enabled again
// inside the writing transaction, so no other session ever sees them
// missing (the heartbeat keeps passing) yet the write notifies nobody.
func TestCacheMaxAge(t *testing.T) {
	t.Parallel()
	const maxAge = time.Second
	for _, c := range []struct {
		name  string
		write func(ctx context.Context, conn *sql.Conn, id string) error
	}{
		{"session_replication_role = replica", func(ctx context.Context, conn *sql.Conn, id string) error {
			if _, err := conn.ExecContext(ctx, `SET session_replication_role = replica`); err != nil {
				return err
			}
			defer conn.ExecContext(context.Background(), `RESET session_replication_role`) //nolint:errcheck
			_, err := conn.ExecContext(ctx, `UPDATE httpauth_users SET disabled = true WHERE id = $1`, id)
			return err
		}},
		{"triggers disabled inside the writing transaction (stand-in)", func(ctx context.Context, conn *sql.Conn, id string) error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck
			for _, q := range []string{
				`ALTER TABLE httpauth_users DISABLE TRIGGER USER`,
				`UPDATE httpauth_users SET disabled = true WHERE id = '` + id + `'`,
				`ALTER TABLE httpauth_users ENABLE TRIGGER USER`,
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return tx.Commit()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openPostgres(t)
			require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
			s := newStoreNoMigrate(t, db, sqlstore.Config[sqlstore.User]{
				Dialect: sqlstore.Postgres, CacheSize: 100, CacheMaxAge: maxAge,
			})
			id := randomID(t)
			login := id + "@example.com"
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: login})
			require.NoError(t, err)
			waitCached(t, s, func() error {
				if _, err := s.UserByID(ctx, id); err != nil {
					return err
				}
				_, err := s.UserByLogin(ctx, login)
				return err
			})

			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			err = c.write(ctx, conn, id)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
				t.Skipf("the test role may not set session_replication_role (%v); the stand-in case covers this", err)
			}
			require.NoError(t, err)
			took := poll(t, "the unnotified write seen within CacheMaxAge", func() bool {
				byID, err := s.UserByID(ctx, id)
				require.NoError(t, err)
				byLogin, err := s.UserByLogin(ctx, login)
				require.NoError(t, err)
				return byID.Disabled && byLogin.Disabled
			})
			t.Logf("seen after %v (CacheMaxAge %v); cache trusted: %v", took, maxAge, s.Live())
		})
	}
	t.Run("refused below 100ms", func(t *testing.T) {
		_, err := sqlstore.New(t.Context(), openSQLite(t), sqlstore.Config[sqlstore.User]{
			Dialect: sqlstore.SQLite, CacheMaxAge: time.Millisecond,
		})
		assert.ErrorContains(t, err, "CacheMaxAge below 100ms")
	})
}
