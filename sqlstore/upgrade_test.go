package sqlstore_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestMigrateUpgrades applies the schema as it was before issue 16
// (testdata), with a user in it, then Migrate: the data stays, the
// disable trigger moves the cutoff, and on PostgreSQL a caching store
// trusts its cache, since the heartbeat now passes the trigger.
func TestMigrateUpgrades(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := o.open(t)
			old, err := os.ReadFile("testdata/schema-before-issue16-" + string(o.dialect) + ".sql")
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, string(old))
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `INSERT INTO httpauth_users (id, login, tokens_valid_after) VALUES ('u1', 'old@example.com', 1000)`)
			require.NoError(t, err)

			require.NoError(t, sqlstore.Migrate(ctx, db, o.dialect))
			require.NoError(t, sqlstore.Migrate(ctx, db, o.dialect), "and again")
			cfg := sqlstore.Config[sqlstore.User]{Dialect: o.dialect}
			if o.dialect == sqlstore.Postgres {
				cfg.CacheSize = 10
			}
			s := newStoreNoMigrate(t, db, cfg)
			assert.Equal(t, o.dialect == sqlstore.Postgres, s.Live(), "a caching store is trusted after the upgrade")
			a, err := s.UserByLogin(ctx, "OLD@example.com")
			require.NoError(t, err, "the data survives")
			assert.Equal(t, "u1", a.ID)

			before := time.Now()
			_, err = db.ExecContext(ctx, `UPDATE httpauth_users SET disabled = `+sqlTrue(o.dialect)+` WHERE id = 'u1'`)
			require.NoError(t, err)
			poll(t, "the disable moved the cutoff", func() bool {
				a, err := s.UserByID(ctx, "u1")
				require.NoError(t, err)
				return a.Disabled && a.TokensValidAfter.After(before)
			})
		})
	}
}
