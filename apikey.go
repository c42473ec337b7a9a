package httpauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// apiKeyPrefix starts every API key, so secret scanners can find leaked
// ones. A key is apiKeyPrefix, 30 base62 characters of randomness (about
// 178 bits) and a 6-character base62 CRC32 of those 30, 40 characters in
// all, as GitHub's ghp_ tokens: a mistyped key fails the checksum and is
// refused without a store lookup.
const apiKeyPrefix = "hak_"

const (
	apiKeyRandLen = 30
	apiKeyCRCLen  = 6
	apiKeyLen     = len(apiKeyPrefix) + apiKeyRandLen + apiKeyCRCLen
	base62        = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
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

// newAPIKey returns a fresh key: prefix, 30 uniform base62 characters and
// their checksum.
func newAPIKey() string {
	b := make([]byte, 0, apiKeyLen)
	b = append(b, apiKeyPrefix...)
	var buf [64]byte
	for len(b) < len(apiKeyPrefix)+apiKeyRandLen {
		_, _ = rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, c := range buf {
			// 248 = 4×62: rejecting the rest keeps every character uniform.
			if c < 248 && len(b) < len(apiKeyPrefix)+apiKeyRandLen {
				b = append(b, base62[c%62])
			}
		}
	}
	return string(appendCRC62(b, b[len(apiKeyPrefix):]))
}

// appendCRC62 appends the CRC32 of random as 6 base62 digits.
func appendCRC62(dst, random []byte) []byte {
	v := crc32.ChecksumIEEE(random)
	var d [apiKeyCRCLen]byte
	for i := apiKeyCRCLen - 1; i >= 0; i-- {
		d[i] = base62[v%62]
		v /= 62
	}
	return append(dst, d[:]...)
}

// isAPIKeyShaped tells an API key from an access token before either is
// checked: the prefix, and no dot (tokens have two).
func isAPIKeyShaped(s string) bool {
	return strings.HasPrefix(s, apiKeyPrefix) && strings.IndexByte(s, '.') < 0
}

// parseAPIKey reports whether s is a well-formed key with a valid
// checksum. It reads only s: no store, no secret.
func parseAPIKey(s string) bool {
	if len(s) != apiKeyLen || !strings.HasPrefix(s, apiKeyPrefix) {
		return false
	}
	for i := len(apiKeyPrefix); i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	random := s[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyRandLen]
	var want [apiKeyCRCLen]byte
	appendCRC62(want[:0], []byte(random))
	return string(want[:]) == s[len(apiKeyPrefix)+apiKeyRandLen:]
}

// authAPIKey checks an API key, its owner, and builds the identity with
// the key's effective roles. The store is read on every request: a local
// cache could not learn of a deletion on another instance, and a deleted
// key must die everywhere at once.
func (a *Authenticator[U]) authAPIKey(r *http.Request, creds credentials) (context.Context, *failure) {
	ctx := r.Context()
	t := creds.Transport
	if !parseAPIKey(creds.Token) {
		a.auditMethod(r, false, "", reasonAPIKeyMalformed, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	if a.cfg.APIKeys == nil {
		a.auditMethod(r, false, "", reasonAPIKeyUnknown, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	sum := sha256.Sum256([]byte(creds.Token))
	k, err := a.cfg.APIKeys.KeyByHash(ctx, sum)
	if err != nil {
		if !errors.Is(err, ErrKeyNotFound) {
			return nil, internalFailure(err)
		}
		a.auditMethod(r, false, "", reasonAPIKeyUnknown, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	if k == nil || subtle.ConstantTimeCompare(k.Hash[:], sum[:]) != 1 {
		return nil, internalFailure(errors.New("httpauth: KeyStore.KeyByHash returned another key"))
	}
	now := time.Now()
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		a.auditMethod(r, false, k.UserID, reasonAPIKeyExpired, APIKeyCredential, t)
		return nil, failExpiredToken
	}
	acct, err := a.cfg.Users.UserByID(ctx, k.UserID)
	if err != nil && !isNotFound(err) {
		return nil, internalFailure(err)
	}
	if err != nil || acct.Disabled {
		a.auditMethod(r, false, k.UserID, reasonAPIKeyUserGone, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	// A key dies with the account's cutoff, as a token does: a password
	// change or reset, "log out everywhere", a disable, and an ID reused
	// by a new account (whose cutoff is its creation) all end it.
	if !issuedAfter(k.Created, acct.TokensValidAfter) {
		a.auditMethod(r, false, k.UserID, reasonAPIKeyCutoff, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	eff := *acct
	eff.Roles = nil
	for _, role := range k.Roles {
		if acct.HasRole(role) && !slices.Contains(eff.Roles, role) {
			eff.Roles = append(eff.Roles, role)
		}
	}
	if f := a.checkAccount(r, k.UserID, &eff, t); f != nil {
		return nil, f
	}
	a.life.touch.note(k.ID, now)
	a.auditMethod(r, true, k.UserID, reasonAPIKey, APIKeyCredential, t)
	ac := newAuthContext(ctx, &eff, APIKeyCredential, t, Claims{}, time.Time{})
	ac.id.APIKeyID = k.ID
	return ac, nil
}

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

// keyTouchInterval is how often last-used times are written.
const keyTouchInterval = 30 * time.Second

// keyTouchBuffer bounds the uses waiting for the writer. When it is full
// (the store is slow), further uses are dropped: a last-used time is a
// hint, and a request never waits for it.
const keyTouchBuffer = 1024

type keyUse struct {
	id string
	at time.Time
}

// keyToucher writes last-used times behind the requests, in batches.
type keyToucher struct {
	store  KeyStore
	logger *slog.Logger
	uses   chan keyUse
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newKeyToucher(store KeyStore, logger *slog.Logger) *keyToucher {
	t := &keyToucher{
		store:  store,
		logger: logger,
		uses:   make(chan keyUse, keyTouchBuffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go t.run()
	return t
}

// note records a use without ever blocking.
func (t *keyToucher) note(id string, at time.Time) {
	if t == nil {
		return
	}
	select {
	case t.uses <- keyUse{id, at}:
	default: // full: drop it
	}
}

func (t *keyToucher) close() {
	if t == nil {
		return
	}
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

func (t *keyToucher) run() {
	defer close(t.done)
	tick := time.NewTicker(keyTouchInterval)
	defer tick.Stop()
	pending := map[string]time.Time{}
	add := func(u keyUse) {
		if u.at.After(pending[u.id]) {
			pending[u.id] = u.at
		}
	}
	for {
		select {
		case u := <-t.uses:
			add(u)
		case <-tick.C:
			t.flush(pending)
			pending = map[string]time.Time{}
		case <-t.stop:
			for {
				select {
				case u := <-t.uses:
					add(u)
				default:
					t.flush(pending)
					return
				}
			}
		}
	}
}

func (t *keyToucher) flush(used map[string]time.Time) {
	if len(used) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			t.logger.LogAttrs(ctx, levelError, "httpauth: KeyStore.TouchKeys panicked", slog.String("panic", fmt.Sprint(p)))
		}
	}()
	if err := t.store.TouchKeys(ctx, used); err != nil {
		t.logger.LogAttrs(ctx, levelError, "httpauth: writing API key last-used times failed", errAttr(err))
	}
}

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
