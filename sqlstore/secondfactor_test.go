package sqlstore_test

import (
	"testing"

	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestSecondFactorConformance runs httpauthtest's SecondFactorStore suite
// on SQLite and PostgreSQL (with and without the account cache, from
// which SecondFactor may answer "off": see secondfactorcache_test.go).
func TestSecondFactorConformance(t *testing.T) {
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) {
			httpauthtest.TestSecondFactorStore(t, func(t *testing.T) httpauthtest.UserStoreHarness[sqlstore.User] {
				db := c.open(t)
				return harness(t, db, newStore(t, db, c.cfg))
			})
		})
	}
}
