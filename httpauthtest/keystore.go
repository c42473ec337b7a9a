package httpauthtest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

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
			mustOK(t, s.CreateKey(ctx, k), `s.CreateKey(ctx, k)`)
			got, err := s.KeyByHash(ctx, k.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k.Hash)`)
			checkEqual(t, got.ID, k.ID, "ID")
			checkEqual(t, got.UserID, k.UserID, "UserID")
			checkEqual(t, got.Name, k.Name, "Name")
			checkEqual(t, got.Roles, k.Roles, "Roles")
			checkEqual(t, got.Hash, k.Hash, "Hash")
			checkNear(t, got.Created, k.Created, "Created")
			checkNear(t, got.Expires, k.Expires, "Expires")
			if !got.LastUsed.IsZero() {
				t.Errorf("LastUsed of a new key = %v, want the zero time", got.LastUsed)
			}

			k2 := mk("a2", "u1", base)
			k2.Roles = nil
			mustOK(t, s.CreateKey(ctx, k2), `s.CreateKey(ctx, k2)`)
			got, err = s.KeyByHash(ctx, k2.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k2.Hash)`)
			if len(got.Roles) != 0 {
				t.Errorf("Roles of a key created with none = %q, want none", got.Roles)
			}
			if !got.Expires.IsZero() {
				t.Errorf("Expires of a key created with none = %v, want the zero time", got.Expires)
			}

			// The result is the caller's.
			got.Roles = append(got.Roles, "admin")
			again, err := s.KeyByHash(ctx, k2.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k2.Hash)`)
			if len(again.Roles) != 0 {
				t.Errorf("Roles = %q after the caller appended to a returned key's: want none, KeyByHash must return a copy", again.Roles)
			}
		}},

		{"NotFound", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			_, err := s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
			checkIs(t, err, httpauth.ErrKeyNotFound, `s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))`)
			keys, err := s.KeysByUser(ctx, "nobody")
			mustOK(t, err, `s.KeysByUser(ctx, "nobody")`)
			if len(keys) != 0 {
				t.Errorf("KeysByUser of a user with no keys = %d keys, want none", len(keys))
			}
		}},

		{"Duplicate", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("d1", "u1", base)
			mustOK(t, s.CreateKey(ctx, k), `s.CreateKey(ctx, k)`)
			sameID := mk("d1", "u2", base)
			sameID.Hash = sha256.Sum256([]byte("another secret"))
			err := s.CreateKey(ctx, sameID)
			mustFail(t, err, "CreateKey with a taken ID")
			checkIsNot(t, err, httpauth.ErrKeyNotFound, "CreateKey with a taken ID")
			sameHash := mk("d2", "u2", base)
			sameHash.Hash = k.Hash
			mustFail(t, s.CreateKey(ctx, sameHash), "CreateKey with a taken hash")
			got, err := s.KeyByHash(ctx, k.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k.Hash)`)
			checkEqual(t, got.UserID, "u1", "UserID of the key after refused duplicates")
			_, err = s.KeyByHash(ctx, sameID.Hash)
			checkIs(t, err, httpauth.ErrKeyNotFound, `s.KeyByHash(ctx, sameID.Hash)`)
		}},

		{"ListByUser", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			mustOK(t, s.CreateKey(ctx, mk("l2", "u1", base.Add(time.Minute))), `s.CreateKey(ctx, mk("l2", "u1", base.Add(time.Minute)))`)
			mustOK(t, s.CreateKey(ctx, mk("l1", "u1", base)), `s.CreateKey(ctx, mk("l1", "u1", base))`)
			mustOK(t, s.CreateKey(ctx, mk("l3", "u2", base)), `s.CreateKey(ctx, mk("l3", "u2", base))`)
			keys, err := s.KeysByUser(ctx, "u1")
			mustOK(t, err, `s.KeysByUser(ctx, "u1")`)
			if len(keys) != 2 {
				t.Fatalf("KeysByUser(u1) = %d keys, want 2: %+v", len(keys), keys)
			}
			checkEqual(t, keys[0].ID, "l1", "ID of KeysByUser's first key (oldest first)")
			checkEqual(t, keys[1].ID, "l2", "ID of KeysByUser's second key")
			for _, k := range keys {
				checkEqual(t, k.UserID, "u1", "UserID of listed key %s", k.ID)
				checkEqual(t, k.Name, "key "+k.ID, "Name of listed key %s", k.ID)
				checkEqual(t, k.Roles, []string{"user", "ci"}, "Roles of listed key %s", k.ID)
			}
		}},

		{"DeleteOwnerOnly", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("x1", "u1", base)
			mustOK(t, s.CreateKey(ctx, k), `s.CreateKey(ctx, k)`)
			checkIs(t, s.DeleteKey(ctx, "u2", "x1"), httpauth.ErrKeyNotFound, "DeleteKey of another user's key")
			checkIs(t, s.DeleteKey(ctx, "u1", "nope"), httpauth.ErrKeyNotFound, "DeleteKey of an unknown ID")
			_, err := s.KeyByHash(ctx, k.Hash)
			mustOK(t, err, "KeyByHash after refused deletes (the key is still there)")
			mustOK(t, s.DeleteKey(ctx, "u1", "x1"), `s.DeleteKey(ctx, "u1", "x1")`)
			_, err = s.KeyByHash(ctx, k.Hash)
			checkIs(t, err, httpauth.ErrKeyNotFound, `s.KeyByHash(ctx, k.Hash)`)
			keys, err := s.KeysByUser(ctx, "u1")
			mustOK(t, err, `s.KeysByUser(ctx, "u1")`)
			if len(keys) != 0 {
				t.Errorf("KeysByUser after its one key was deleted = %d keys, want none", len(keys))
			}
			checkIs(t, s.DeleteKey(ctx, "u1", "x1"), httpauth.ErrKeyNotFound, "deleting twice")
		}},

		{"Touch", func(t *testing.T) {
			t.Parallel()
			s, ctx := newStore(t), ctxT(t)
			k := mk("t1", "u1", base)
			mustOK(t, s.CreateKey(ctx, k), `s.CreateKey(ctx, k)`)
			later := base.Add(time.Hour)
			mustOK(t, s.TouchKeys(ctx, map[string]time.Time{"t1": later, "gone": later}), `s.TouchKeys(ctx, map[string]time.Time{"t1": later, "gone": later})`)
			got, err := s.KeyByHash(ctx, k.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k.Hash)`)
			checkNear(t, got.LastUsed, later, "LastUsed after TouchKeys")
			mustOK(t, s.TouchKeys(ctx, map[string]time.Time{"t1": base.Add(time.Minute)}), `s.TouchKeys(ctx, map[string]time.Time{"t1": base.Add(time.Minute)})`)
			got, err = s.KeyByHash(ctx, k.Hash)
			mustOK(t, err, `s.KeyByHash(ctx, k.Hash)`)
			checkNear(t, got.LastUsed, later, "LastUsed after an earlier TouchKeys (it never moves back)")
			keys, err := s.KeysByUser(ctx, "u1")
			mustOK(t, err, `s.KeysByUser(ctx, "u1")`)
			if len(keys) != 1 {
				t.Fatalf("KeysByUser(u1) = %d keys, want 1", len(keys))
			}
			checkNear(t, keys[0].LastUsed, later, "LastUsed of the key KeysByUser lists")
		}},

		{"CancelledContextIsNotNotFound", func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			k := mk("cc1", "u1", base)
			mustOK(t, s.CreateKey(ctxT(t), k), `s.CreateKey(ctxT(t), k)`)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			got, err := s.KeyByHash(ctx, k.Hash)
			if err == nil && o.ignoresContext {
				checkEqual(t, got.ID, k.ID, "ID from KeyByHash ignoring a cancelled context")
			} else {
				mustFail(t, err, "KeyByHash with a cancelled context")
				checkIsNot(t, err, httpauth.ErrKeyNotFound, "KeyByHash with a cancelled context (a failure must not look like an unknown key)")
			}
			_, err = s.KeyByHash(ctx, sha256.Sum256([]byte("nope")))
			mustFail(t, err, "KeyByHash of an unknown hash with a cancelled context")
			if !o.ignoresContext { // else ErrKeyNotFound, the live answer, will do
				checkIsNot(t, err, httpauth.ErrKeyNotFound, "KeyByHash of an unknown hash with a cancelled context (a failure must not look like an unknown key)")
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
					checkOK(t, s.CreateKey(ctx, k), `s.CreateKey(ctx, k)`)
					for range 20 {
						_, err := s.KeyByHash(ctx, k.Hash)
						checkOK(t, err, `s.KeyByHash(ctx, k.Hash)`)
						checkOK(t, s.TouchKeys(ctx, map[string]time.Time{id: base.Add(time.Second)}), `s.TouchKeys(ctx, map[string]time.Time{id: base.Add(time.Second)})`)
						_, err = s.KeysByUser(ctx, "u1")
						checkOK(t, err, `s.KeysByUser(ctx, "u1")`)
					}
					checkOK(t, s.DeleteKey(ctx, "u1", id), `s.DeleteKey(ctx, "u1", id)`)
				}()
			}
			wg.Wait()
			keys, err := s.KeysByUser(ctx, "u1")
			mustOK(t, err, `s.KeysByUser(ctx, "u1")`)
			if len(keys) != 0 {
				t.Errorf("KeysByUser after every goroutine deleted its key = %d keys, want none", len(keys))
			}
		}},
	})
}
