package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gohttpauth/httpauth"
)

// DefaultKeyTable is the API-key table that Migrate creates and
// Config.KeyTable defaults to.
const DefaultKeyTable = "httpauth_api_keys"

var _ httpauth.KeyStore = (*Store[User])(nil)

// keyQueries are the API-key statements, built by New. They are not
// prepared there: a host that never migrated the key table (nor uses
// keys) must still be able to open the store.
type keyQueries struct {
	create, byHash, byUser, del, touch string
}

func (s *Store[U]) buildKeyQueries(table string) error {
	t, err := s.dialect.quoteIdent(table, true)
	if err != nil {
		return err
	}
	cols := "id, user_id, name, roles, hash, created, expires, last_used"
	s.keyQ = keyQueries{
		// Only for an existing user: the foreign key of the default schema
		// says so too, but SQLite enforces foreign keys only when asked.
		create: fmt.Sprintf("INSERT INTO %s (%s) SELECT %s, %s, %s, %s, %s, %s, %s, 0 WHERE EXISTS (SELECT 1 FROM %s WHERE %s = %s)",
			t, cols, s.ph(1), s.ph(2), s.ph(3), s.ph(4), s.ph(5), s.ph(6), s.ph(7), s.table, s.cols.ID, s.ph(8)),
		byHash: fmt.Sprintf("SELECT %s FROM %s WHERE hash = %s", cols, t, s.ph(1)),
		byUser: fmt.Sprintf("SELECT %s FROM %s WHERE user_id = %s ORDER BY created, id", cols, t, s.ph(1)),
		del:    fmt.Sprintf("DELETE FROM %s WHERE id = %s AND user_id = %s", t, s.ph(1), s.ph(2)),
		touch:  fmt.Sprintf("UPDATE %s SET last_used = %s WHERE id = %s AND last_used < %s", t, s.ph(1), s.ph(2), s.ph(3)),
	}
	return nil
}

// CreateKey implements httpauth.KeyStore. The key's user must exist; a
// taken ID or hash is an error, and changes nothing.
func (s *Store[U]) CreateKey(ctx context.Context, k httpauth.APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.ID == "" || k.UserID == "" || !storable(k.ID) || !storable(k.UserID) || !storable(k.Name) {
		return errors.New("sqlstore: create key: an API key needs an ID, a UserID and UTF-8 text")
	}
	for _, t := range []time.Time{k.Created, k.Expires} {
		if err := checkTime(t); err != nil {
			return err
		}
	}
	roles, err := encodeRoles(k.Roles)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.keyQ.create,
		k.ID, k.UserID, k.Name, roles, k.Hash[:], encodeTime(k.Created), encodeTime(k.Expires), k.UserID)
	if err != nil {
		return fmt.Errorf("sqlstore: create key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: create key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: create key: %w", httpauth.ErrUserNotFound)
	}
	return nil
}

// KeyByHash implements httpauth.KeyStore. It always reads the database:
// a deleted key is refused by every instance at once.
func (s *Store[U]) KeyByHash(ctx context.Context, hash [sha256.Size]byte) (*httpauth.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.keyQ.byHash, hash[:])
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key by hash: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key by hash: %w", err)
	}
	if len(keys) == 0 {
		return nil, httpauth.ErrKeyNotFound
	}
	return &keys[0], nil
}

// KeysByUser implements httpauth.KeyStore: oldest first.
func (s *Store[U]) KeysByUser(ctx context.Context, userID string) ([]httpauth.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !storable(userID) {
		return []httpauth.APIKey{}, nil
	}
	rows, err := s.db.QueryContext(ctx, s.keyQ.byUser, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: keys by user: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: keys by user: %w", err)
	}
	return keys, nil
}

// DeleteKey implements httpauth.KeyStore: only the owner's key is deleted;
// another user's key or an unknown ID is httpauth.ErrKeyNotFound.
func (s *Store[U]) DeleteKey(ctx context.Context, userID, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !storable(userID) || !storable(id) {
		return httpauth.ErrKeyNotFound
	}
	res, err := s.db.ExecContext(ctx, s.keyQ.del, id, userID)
	if err != nil {
		return fmt.Errorf("sqlstore: delete key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: delete key: %w", err)
	}
	if n == 0 {
		return httpauth.ErrKeyNotFound
	}
	return nil
}

// TouchKeys implements httpauth.KeyStore: it sets the last-used times in
// one transaction, never moving one back, in ID order so that two
// instances flushing at once cannot deadlock.
func (s *Store[U]) TouchKeys(ctx context.Context, used map[string]time.Time) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	for id := range used {
		if storable(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: touch keys: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	st, err := tx.PrepareContext(ctx, s.keyQ.touch)
	if err != nil {
		return fmt.Errorf("sqlstore: touch keys: %w", err)
	}
	defer st.Close()
	for _, id := range ids {
		at := used[id]
		if checkTime(at) != nil || at.IsZero() {
			continue
		}
		if _, err := st.ExecContext(ctx, encodeTime(at), id, encodeTime(at)); err != nil {
			return fmt.Errorf("sqlstore: touch keys: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: touch keys: %w", err)
	}
	return nil
}

func scanKeys(rows *sql.Rows) ([]httpauth.APIKey, error) {
	defer rows.Close()
	keys := []httpauth.APIKey{}
	for rows.Next() {
		var (
			k                        httpauth.APIKey
			roles                    string
			hash                     []byte
			created, expires, lastTs int64
		)
		if err := rows.Scan(&k.ID, &k.UserID, &k.Name, &roles, &hash, &created, &expires, &lastTs); err != nil {
			return nil, err
		}
		if len(hash) != sha256.Size {
			return nil, fmt.Errorf("key %q: hash of %d bytes", k.ID, len(hash))
		}
		copy(k.Hash[:], hash)
		r, err := decodeRoles(roles)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		k.Roles = r
		k.Created, k.Expires, k.LastUsed = decodeTime(created), decodeTime(expires), decodeTime(lastTs)
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
