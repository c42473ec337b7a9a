package httpauth

import (
	"context"
	"crypto/sha256"
	"time"
)

// APIKey is what a KeyStore keeps of an API key: never the key itself,
// only its SHA-256 (keys are random, so a fast hash is the right one).
type APIKey struct {
	// ID identifies the key in listings and deletions; it is not secret.
	ID string
	// UserID is the Account.ID of the key's owner.
	UserID string
	// Name is the owner's label for the key.
	Name string
	// Roles are the most the key may do: a request with the key gets the
	// roles in both Roles and its owner's current roles.
	Roles []string
	// Hash is the SHA-256 of the key. Listings leave it zero.
	Hash [sha256.Size]byte
	// Created is when the key was made.
	Created time.Time
	// LastUsed is when the key last authenticated a request, written
	// behind (see CreateAPIKey); zero if never.
	LastUsed time.Time
	// Expires, if not zero, is when the key stops working.
	Expires time.Time
}

// KeyStore stores API keys. Implementations must be safe for concurrent
// use. Times must round-trip to the microsecond.
//
// Contract: a key that does not exist is an error for which
// errors.Is(err, ErrKeyNotFound) holds; any other error is a store failure
// and the request fails closed with a 500.
type KeyStore interface {
	// CreateKey stores k. An ID or Hash already stored is an error (not
	// ErrKeyNotFound), and changes nothing.
	CreateKey(ctx context.Context, k APIKey) error

	// KeyByHash returns the key whose Hash is hash, or ErrKeyNotFound.
	// The result is the caller's to keep: later writes must not change it.
	KeyByHash(ctx context.Context, hash [sha256.Size]byte) (*APIKey, error)

	// KeysByUser returns the keys of user userID, oldest first; none is an
	// empty list and no error. Their Hash may be left zero.
	KeysByUser(ctx context.Context, userID string) ([]APIKey, error)

	// DeleteKey deletes key id if it belongs to userID. An unknown id, or
	// a key of another user, is ErrKeyNotFound, and deletes nothing.
	DeleteKey(ctx context.Context, userID, id string) error

	// TouchKeys sets the LastUsed time of each key in used (ID -> time),
	// never moving one back. Unknown IDs (deleted keys) are ignored.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}
