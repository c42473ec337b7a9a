package sqlstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDriverLinked checks the package doc's promise: a program that
// imports sqlstore, for SQLite or for PostgreSQL without the cache, links
// no database driver, pgx in particular; only pgfeed, the cache's change
// feed, does. It asks the go command for the packages' dependencies
// (tests excluded).
func TestNoDriverLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", pkg).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
		}
		return strings.Fields(string(out))
	}
	const pgx = "github.com/jackc/pgx/"
	drivers := []string{pgx, "github.com/lib/pq", "modernc.org/sqlite", "github.com/mattn/go-sqlite3"}
	store := deps("github.com/gohttpauth/httpauth/sqlstore")
	if len(store) < 10 {
		t.Fatalf("go list -deps listed %d packages, want the standard library's and more: %q", len(store), store)
	}
	for _, p := range store {
		for _, d := range drivers {
			if strings.HasPrefix(p, d) {
				t.Errorf("sqlstore depends on the driver package %s", p)
			}
		}
	}
	// The check can fail: pgfeed, the change feed, does depend on pgx.
	found := false
	for _, p := range deps("github.com/gohttpauth/httpauth/sqlstore/pgfeed") {
		found = found || strings.HasPrefix(p, pgx)
	}
	if !found {
		t.Errorf("pgfeed's dependencies have no %s package: is the check still looking at the right names?", pgx)
	}
}
