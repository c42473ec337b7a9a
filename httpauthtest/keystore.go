package httpauthtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
)

// TestKeyStore runs the httpauth.KeyStore conformance suite. newStore is
// called once per subtest, with that subtest's t, and must return an empty
// store; subtests run in parallel. The suite checks:
//
//   - KeyByHash finds what CreateKey stored, with every field round-tripped
//     (times within [TimePrecision]), and returns a copy;
//   - an unknown hash is ErrKeyNotFound, and a failure is not;
//   - CreateKey refuses a taken ID or hash and changes nothing;
//   - KeysByUser lists only the user's keys, oldest first, an empty list
//     for none;
//   - DeleteKey deletes only the owner's key: another user's key or an
//     unknown ID is ErrKeyNotFound;
//   - TouchKeys sets LastUsed, never moves it back, and ignores unknown IDs;
//   - a cancelled context is an error, and not ErrKeyNotFound for a key
//     that exists;
//   - concurrent use is safe (run with -race).
//
// Its subtests, for [Skip], are RoundTrip, NotFound, Duplicate,
// ListByUser, DeleteOwnerOnly, Touch, CancelledContextIsNotNotFound and
// Concurrent. It takes [Skip] and [IgnoresContext].
func TestKeyStore(t *testing.T, newStore func(t *testing.T) httpauth.KeyStore, opts ...Option) {
	t.Helper()
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	mk := func(id, user string, created time.Time) httpauth.APIKey {
		return httpauth.APIKey{
			ID: id, UserID: user, Name: "key " + id, Roles: []string{"user", "ci"},
			Hash: sha256.Sum256([]byte("secret " + id)), Created: created,
		}
	}

	var o options
	runSuite(t, suiteSpec{name: "TestKeyStore"}, opts, &o, []subtest{
		{"RoundTrip", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("a1", "u1", base)
			k.Expires = base.Add(24 * time.Hour)
			require.NoError(t, s.CreateKey(ctx, k))
			got, err := s.KeyByHash(ctx, k.Hash)
			require.NoError(t, err)
			assert.Equal(t, k.ID, got.ID)
			assert.Equal(t, k.UserID, got.UserID)
			assert.Equal(t, k.Name, got.Name)
			assert.Equal(t, k.Roles, got.Roles)
			assert.Equal(t, k.Hash, got.Hash)
			assert.WithinDuration(t, k.Created, got.Created, TimePrecision)
			assert.WithinDuration(t, k.Expires, got.Expires, TimePrecision)
			assert.True(t, got.LastUsed.IsZero(), "LastUsed of a new key")

			k2 := mk("a2", "u1", base)
			k2.Roles = nil
			require.NoError(t, s.CreateKey(ctx, k2))
			got, err = s.KeyByHash(ctx, k2.Hash)
			require.NoError(t, err)
			assert.Empty(t, got.Roles)
			assert.True(t, got.Expires.IsZero(), "no expiry comes back as the zero time")

			// The result is the caller's.
			got.Roles = append(got.Roles, "admin")
			again, err := s.KeyByHash(ctx, k2.Hash)
			require.NoError(t, err)
			assert.Empty(t, again.Roles)
		}},

		{"NotFound", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			_, err := s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
			assert.ErrorIs(t, err, httpauth.ErrKeyNotFound)
			keys, err := s.KeysByUser(ctx, "nobody")
			require.NoError(t, err)
			assert.Empty(t, keys)
		}},

		{"Duplicate", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("d1", "u1", base)
			require.NoError(t, s.CreateKey(ctx, k))
			sameID := mk("d1", "u2", base)
			sameID.Hash = sha256.Sum256([]byte("another secret"))
			err := s.CreateKey(ctx, sameID)
			require.Error(t, err, "taken ID")
			assert.NotErrorIs(t, err, httpauth.ErrKeyNotFound)
			sameHash := mk("d2", "u2", base)
			sameHash.Hash = k.Hash
			require.Error(t, s.CreateKey(ctx, sameHash), "taken hash")
			got, err := s.KeyByHash(ctx, k.Hash)
			require.NoError(t, err)
			assert.Equal(t, "u1", got.UserID)
			_, err = s.KeyByHash(ctx, sameID.Hash)
			assert.ErrorIs(t, err, httpauth.ErrKeyNotFound)
		}},

		{"ListByUser", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			require.NoError(t, s.CreateKey(ctx, mk("l2", "u1", base.Add(time.Minute))))
			require.NoError(t, s.CreateKey(ctx, mk("l1", "u1", base)))
			require.NoError(t, s.CreateKey(ctx, mk("l3", "u2", base)))
			keys, err := s.KeysByUser(ctx, "u1")
			require.NoError(t, err)
			require.Len(t, keys, 2)
			assert.Equal(t, "l1", keys[0].ID, "oldest first")
			assert.Equal(t, "l2", keys[1].ID)
			for _, k := range keys {
				assert.Equal(t, "u1", k.UserID)
				assert.Equal(t, "key "+k.ID, k.Name)
				assert.Equal(t, []string{"user", "ci"}, k.Roles)
			}
		}},

		{"DeleteOwnerOnly", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("x1", "u1", base)
			require.NoError(t, s.CreateKey(ctx, k))
			assert.ErrorIs(t, s.DeleteKey(ctx, "u2", "x1"), httpauth.ErrKeyNotFound, "another user's key")
			assert.ErrorIs(t, s.DeleteKey(ctx, "u1", "nope"), httpauth.ErrKeyNotFound, "unknown ID")
			_, err := s.KeyByHash(ctx, k.Hash)
			require.NoError(t, err, "still there")
			require.NoError(t, s.DeleteKey(ctx, "u1", "x1"))
			_, err = s.KeyByHash(ctx, k.Hash)
			assert.ErrorIs(t, err, httpauth.ErrKeyNotFound)
			keys, err := s.KeysByUser(ctx, "u1")
			require.NoError(t, err)
			assert.Empty(t, keys)
			assert.ErrorIs(t, s.DeleteKey(ctx, "u1", "x1"), httpauth.ErrKeyNotFound, "twice")
		}},

		{"Touch", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("t1", "u1", base)
			require.NoError(t, s.CreateKey(ctx, k))
			later := base.Add(time.Hour)
			require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{"t1": later, "gone": later}))
			got, err := s.KeyByHash(ctx, k.Hash)
			require.NoError(t, err)
			assert.WithinDuration(t, later, got.LastUsed, TimePrecision)
			require.NoError(t, s.TouchKeys(ctx, map[string]time.Time{"t1": base.Add(time.Minute)}))
			got, err = s.KeyByHash(ctx, k.Hash)
			require.NoError(t, err)
			assert.WithinDuration(t, later, got.LastUsed, TimePrecision, "never moves back")
			keys, err := s.KeysByUser(ctx, "u1")
			require.NoError(t, err)
			require.Len(t, keys, 1)
			assert.WithinDuration(t, later, keys[0].LastUsed, TimePrecision, "listed too")
		}},

		{"CancelledContextIsNotNotFound", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			k := mk("cc1", "u1", base)
			require.NoError(t, s.CreateKey(ctxT(t), k))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			got, err := s.KeyByHash(ctx, k.Hash)
			if err == nil && o.ignoresContext {
				assert.Equal(t, k.ID, got.ID, "KeyByHash ignoring a cancelled context")
			} else {
				require.Error(t, err, "KeyByHash with a cancelled context")
				assert.False(t, errors.Is(err, httpauth.ErrKeyNotFound), "a failure must not look like an unknown key: %v", err)
			}
			_, err = s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
			require.Error(t, err, "KeyByHash of an unknown hash with a cancelled context")
			if !o.ignoresContext { // else ErrKeyNotFound, the live answer, will do
				assert.False(t, errors.Is(err, httpauth.ErrKeyNotFound), "a failure must not look like an unknown key: %v", err)
			}
		}},

		{"Concurrent", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("c%d", i)
					k := mk(id, "u1", base)
					assert.NoError(t, s.CreateKey(ctx, k))
					for range 20 {
						_, err := s.KeyByHash(ctx, k.Hash)
						assert.NoError(t, err)
						assert.NoError(t, s.TouchKeys(ctx, map[string]time.Time{id: base.Add(time.Second)}))
						_, err = s.KeysByUser(ctx, "u1")
						assert.NoError(t, err)
					}
					assert.NoError(t, s.DeleteKey(ctx, "u1", id))
				}()
			}
			wg.Wait()
			keys, err := s.KeysByUser(ctx, "u1")
			require.NoError(t, err)
			assert.Empty(t, keys)
		}},
	})
}
