package httpauth_test

import (
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// The in-memory defaults pass the same conformance suites as the SQL and
// Redis adapters.

func TestMemoryRevocationStoreConformance(t *testing.T) {
	httpauthtest.TestRevocationStore(t, func(t *testing.T) httpauth.RevocationStore {
		return httpauth.NewMemoryRevocationStoreForTest()
	})
}

func TestMemoryLimiterConformance(t *testing.T) {
	httpauthtest.TestLimiter(t, func(t *testing.T, maxFailures int, window time.Duration) httpauth.Limiter {
		return httpauth.NewMemoryLimiter(maxFailures, window)
	})
}

func TestMemoryKeyStoreConformance(t *testing.T) {
	httpauthtest.TestKeyStore(t, func(t *testing.T) httpauth.KeyStore {
		return httpauth.NewMemoryKeyStore()
	})
}
