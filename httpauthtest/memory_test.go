package httpauthtest_test

import (
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

func TestMemoryRevocationStore(t *testing.T) {
	httpauthtest.TestRevocationStore(t, func(t *testing.T) httpauth.RevocationStore {
		return httpauth.NewMemoryRevocationStore(nil)
	})
}

func TestMemoryLimiter(t *testing.T) {
	httpauthtest.TestLimiter(t, func(t *testing.T, maxFailures int, window time.Duration) httpauth.Limiter {
		return httpauth.NewMemoryLimiter(maxFailures, window)
	})
}

func TestMemoryKeyStore(t *testing.T) {
	httpauthtest.TestKeyStore(t, func(t *testing.T) httpauth.KeyStore {
		return httpauth.NewMemoryKeyStore()
	})
}
