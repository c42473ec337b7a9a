package httpauthtest

import (
	"os"
	"testing"
)

// RequireEnv returns the value of the environment variable name, which
// holds a connection string for a real server. When it is unset, the test
// fails if CI=true (so a CI run cannot pass by skipping) and is skipped
// otherwise, with a message saying how to run it.
func RequireEnv(t testing.TB, name, howTo string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set, and CI=true: tests against real servers must run in CI. %s", name, howTo)
	}
	t.Skipf("%s is not set; skipping. To run: %s", name, howTo)
	return ""
}
