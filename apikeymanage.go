package httpauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// maxAPIKeysPerUser bounds the keys one user may hold, so that one
// token cannot fill the KeyStore. CreateAPIKey counts the user's keys
// first; on one instance the check and the write are serialized per user,
// so several instances can overshoot by at most one key each.
const maxAPIKeysPerUser = 100

// keyManager checks that id may manage its user's API keys: a password
// or an access token, never an API key, whatever the key's roles (a key
// could otherwise delete its owner's admin key, or mint itself a twin).
func (a *Authenticator[U]) keyManager(id *Identity[U], what string) error {
	switch {
	case a.cfg.APIKeys == nil:
		return errors.New("httpauth: Config.APIKeys is not set")
	case id == nil || id.Account == nil:
		return ErrUnauthorized
	case id.Credential == APIKeyCredential:
		return Forbidden("An API key cannot " + what + " API keys")
	}
	return nil
}

// CreateAPIKey makes a key for the user of id, named name, with roles (a
// subset of the user's own) and an optional expiry (zero: never). It
// returns the key, which is shown once and stored only as a hash, and its
// record. A key dies with its account's cutoff (Account.TokensValidAfter),
// as the user's tokens do: a password change or reset, "log out
// everywhere" and a disable end it. A user holds at most 100 keys.
//
// Errors: a caller that authenticated with an API key, roles beyond the
// caller's own, or a user who already holds 100 keys is a Forbidden error
// (errors.Is(err, ErrForbidden): a 403); an empty or overlong name (1 to
// 100 bytes of printable UTF-8), an empty role, or an expiry in the past
// wraps ErrBadRequest; anything else is a store failure. Without
// Config.APIKeys it is an error.
func (a *Authenticator[U]) CreateAPIKey(ctx context.Context, id *Identity[U], name string, roles []string, expires time.Time) (string, APIKey, error) {
	if err := a.keyManager(id, "create"); err != nil {
		return "", APIKey{}, err
	}
	switch {
	case name == "" || len(name) > 100 || !validCredentialText(name):
		return "", APIKey{}, fmt.Errorf("%w: an API key name is 1 to 100 bytes of printable UTF-8", ErrBadRequest)
	}
	now := time.Now()
	if !expires.IsZero() && !expires.After(now) {
		return "", APIKey{}, fmt.Errorf("%w: an API key must expire in the future", ErrBadRequest)
	}
	var own []string
	for _, role := range roles {
		switch {
		case role == "" || !utf8.ValidString(role):
			return "", APIKey{}, fmt.Errorf("%w: empty or invalid role", ErrBadRequest)
		case !id.Account.HasRole(role):
			return "", APIKey{}, Forbidden("Roles exceed your own")
		case !slices.Contains(own, role):
			own = append(own, role)
		}
	}
	unlock := a.life.keyLocks.lock(id.Account.ID)
	defer unlock()
	held, err := a.cfg.APIKeys.KeysByUser(ctx, id.Account.ID)
	if err != nil {
		return "", APIKey{}, err
	}
	if len(held) >= maxAPIKeysPerUser {
		return "", APIKey{}, Forbidden(fmt.Sprintf("Too many API keys (at most %d); delete one first", maxAPIKeysPerUser))
	}
	var rid [12]byte
	_, _ = rand.Read(rid[:])
	key := newAPIKey()
	k := APIKey{
		ID:      hex.EncodeToString(rid[:]),
		UserID:  id.Account.ID,
		Name:    name,
		Roles:   own,
		Hash:    sha256.Sum256([]byte(key)),
		Created: now,
		Expires: expires,
	}
	if err := a.cfg.APIKeys.CreateKey(ctx, k); err != nil {
		return "", APIKey{}, err
	}
	k.Hash = [sha256.Size]byte{}
	return key, k, nil
}

// APIKeys lists the keys of the user of id, oldest first, with no secret
// (and no hash). LastUsed lags by up to the write-behind interval (30
// seconds). Keys that died with the account's cutoff are listed too, so the
// user can see and delete them. A caller that authenticated with an API key
// gets a Forbidden error: managing keys takes the password or a token.
func (a *Authenticator[U]) APIKeys(ctx context.Context, id *Identity[U]) ([]APIKey, error) {
	if err := a.keyManager(id, "list"); err != nil {
		return nil, err
	}
	keys, err := a.cfg.APIKeys.KeysByUser(ctx, id.Account.ID)
	for i := range keys {
		keys[i].Hash = [sha256.Size]byte{}
	}
	return keys, err
}

// DeleteAPIKey deletes the key keyID of the user of id; the next request
// with it is a 401 on every instance sharing the KeyStore. Another user's
// key, or an unknown keyID, is ErrKeyNotFound. A caller that authenticated
// with an API key gets a Forbidden error, as with APIKeys.
func (a *Authenticator[U]) DeleteAPIKey(ctx context.Context, id *Identity[U], keyID string) error {
	if err := a.keyManager(id, "delete"); err != nil {
		return err
	}
	return a.cfg.APIKeys.DeleteKey(ctx, id.Account.ID, keyID)
}

// stripedLocks serializes work per key (a user ID) with a fixed number of
// mutexes: no map to grow, and two users rarely share one.
type stripedLocks [64]sync.Mutex

func (s *stripedLocks) lock(key string) (unlock func()) {
	m := &s[crc32.ChecksumIEEE([]byte(key))%uint32(len(s))]
	m.Lock()
	return m.Unlock
}
