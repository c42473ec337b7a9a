package sqlstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestSwapPasswordHash checks the compare-and-set that a reset token's
// password write uses: of several swaps from one old hash, exactly one
// wins and its cutoff ends earlier tokens; the others change nothing; a
// missing user is ErrUserNotFound.
func TestSwapPasswordHash(t *testing.T) {
	t.Parallel()
	const oldHash = "$2b$10$old"
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newStore(t, c.open(t), c.cfg)
			id := randomID(t)
			_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: id + "@example.com", PasswordHash: oldHash})
			require.NoError(t, err)
			if c.cfg.CacheSize > 0 { // the swap must drop the cached account
				waitCached(t, s, func() error { _, err := s.UserByID(ctx, id); return err })
			}
			before := time.Now()

			const racers = 8
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				won  []string
				errs []error
			)
			start := make(chan struct{})
			for i := range racers {
				wg.Go(func() {
					newHash := "$2b$10$new" + string(rune('a'+i))
					<-start
					ok, err := s.SwapPasswordHash(ctx, id, oldHash, newHash)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					}
					if ok {
						won = append(won, newHash)
					}
				})
			}
			close(start)
			wg.Wait()
			require.Empty(t, errs)
			require.Len(t, won, 1, "exactly one swap from the same old hash wins")

			a, err := s.UserByID(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, won[0], a.PasswordHash, "the winner's hash is stored")
			assert.True(t, a.TokensValidAfter.After(before), "the swap moves the cutoff: %v, before %v", a.TokensValidAfter, before)

			for _, sc := range []struct {
				name, id, old string
				wantOK        bool
				wantNotFound  bool
			}{
				{"from the replaced hash", id, oldHash, false, false},
				{"from the current hash", id, won[0], true, false},
				{"missing user", "no-" + id, oldHash, false, true},
			} {
				t.Run(sc.name, func(t *testing.T) {
					ok, err := s.SwapPasswordHash(ctx, sc.id, sc.old, "$2b$10$next")
					assert.Equal(t, sc.wantOK, ok)
					if sc.wantNotFound {
						assert.ErrorIs(t, err, httpauth.ErrUserNotFound)
					} else {
						assert.NoError(t, err)
					}
				})
			}
		})
	}
}
