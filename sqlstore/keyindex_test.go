package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestKeysByUserUsesIndex checks that listing a user's API keys (what the
// core counts to bound keys per user) searches the index on user_id
// instead of scanning the key table, on both databases.
func TestKeysByUserUsesIndex(t *testing.T) {
	t.Parallel()
	const list = `SELECT id, user_id, name, roles, hash, created, expires, last_used
		FROM httpauth_api_keys WHERE user_id = %s ORDER BY created, id`
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := o.open(t)
			require.NoError(t, sqlstore.Migrate(ctx, db, o.dialect))
			var plan []string
			if o.dialect == sqlstore.SQLite {
				rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+strings.Replace(list, "%s", "?", 1), "u")
				require.NoError(t, err)
				for rows.Next() {
					var id, parent, unused int
					var detail string
					require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
					plan = append(plan, detail)
				}
				require.NoError(t, rows.Err())
			} else {
				// The table is empty, so make any index cheaper than a scan:
				// without one, the plan is a (disabled) sequential scan.
				conn, err := db.Conn(ctx)
				require.NoError(t, err)
				defer conn.Close()
				_, err = conn.ExecContext(ctx, "SET enable_seqscan = off")
				require.NoError(t, err)
				rows, err := conn.QueryContext(ctx, "EXPLAIN "+strings.Replace(list, "%s", "$1", 1), "u")
				require.NoError(t, err)
				for rows.Next() {
					var line string
					require.NoError(t, rows.Scan(&line))
					plan = append(plan, line)
				}
				require.NoError(t, rows.Err())
			}
			joined := strings.Join(plan, "\n")
			t.Logf("plan:\n%s", joined)
			assert.Contains(t, joined, "httpauth_api_keys_user_id", "the listing uses the user_id index")
			assert.NotContains(t, strings.ToLower(joined), "seq scan", "no scan of the key table")
			assert.NotRegexp(t, `(?m)^SCAN httpauth_api_keys\b`, joined, "no scan of the key table")
		})
	}
}
