package httpauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// memoryKeyStore is an in-memory KeyStore, safe for concurrent use.
type memoryKeyStore struct {
	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]*APIKey
	byID   map[string]*APIKey
	byUser map[string]map[string]*APIKey // user ID -> key ID -> key
}

// NewMemoryKeyStore returns an empty in-memory KeyStore, safe for
// concurrent use. Its keys live as long as the process.
func NewMemoryKeyStore() KeyStore { return newMemoryKeyStore() }

func newMemoryKeyStore() *memoryKeyStore {
	return &memoryKeyStore{
		byHash: map[[sha256.Size]byte]*APIKey{},
		byID:   map[string]*APIKey{},
		byUser: map[string]map[string]*APIKey{},
	}
}

func copyKey(k *APIKey) *APIKey {
	c := *k
	c.Roles = slices.Clone(k.Roles)
	return &c
}

// CreateKey implements KeyStore.
func (s *memoryKeyStore) CreateKey(ctx context.Context, k APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.ID == "" || k.UserID == "" {
		return errors.New("httpauth: an API key needs an ID and a UserID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[k.ID]; ok {
		return fmt.Errorf("httpauth: API key ID %q exists", k.ID)
	}
	if _, ok := s.byHash[k.Hash]; ok {
		return errors.New("httpauth: API key hash exists")
	}
	c := copyKey(&k)
	s.byID[k.ID], s.byHash[k.Hash] = c, c
	if s.byUser[k.UserID] == nil {
		s.byUser[k.UserID] = map[string]*APIKey{}
	}
	s.byUser[k.UserID][k.ID] = c
	return nil
}

// KeyByHash implements KeyStore.
func (s *memoryKeyStore) KeyByHash(ctx context.Context, hash [sha256.Size]byte) (*APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.byHash[hash]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return copyKey(k), nil
}

// KeysByUser implements KeyStore.
func (s *memoryKeyStore) KeysByUser(ctx context.Context, userID string) ([]APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	keys := make([]APIKey, 0, len(s.byUser[userID]))
	for _, k := range s.byUser[userID] {
		keys = append(keys, *copyKey(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(keys, func(a, b APIKey) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys, nil
}

// DeleteKey implements KeyStore.
func (s *memoryKeyStore) DeleteKey(ctx context.Context, userID, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[id]
	if !ok || k.UserID != userID {
		return ErrKeyNotFound
	}
	delete(s.byID, id)
	delete(s.byHash, k.Hash)
	delete(s.byUser[userID], id)
	if len(s.byUser[userID]) == 0 {
		delete(s.byUser, userID)
	}
	return nil
}

// TouchKeys implements KeyStore.
func (s *memoryKeyStore) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range used {
		if k, ok := s.byID[id]; ok && at.After(k.LastUsed) {
			// Replace, not mutate: KeyByHash's copies are the callers'.
			c := copyKey(k)
			c.LastUsed = at
			s.byID[id], s.byHash[k.Hash], s.byUser[k.UserID][id] = c, c, c
		}
	}
	return nil
}
