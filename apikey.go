package httpauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash/crc32"
	"net/http"
	"slices"
	"strings"
	"time"
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
		a.auditCredential(r, false, "", ReasonAPIKeyMalformed, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	if a.cfg.APIKeys == nil {
		a.auditCredential(r, false, "", ReasonAPIKeyUnknown, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	sum := sha256.Sum256([]byte(creds.Token))
	k, err := a.cfg.APIKeys.KeyByHash(ctx, sum)
	if err != nil {
		if !errors.Is(err, ErrKeyNotFound) {
			return nil, internalFailure(err)
		}
		a.auditCredential(r, false, "", ReasonAPIKeyUnknown, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	if k == nil || subtle.ConstantTimeCompare(k.Hash[:], sum[:]) != 1 {
		return nil, internalFailure(errors.New("httpauth: KeyStore.KeyByHash returned another key"))
	}
	now := time.Now()
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		a.auditCredential(r, false, k.UserID, ReasonAPIKeyExpired, APIKeyCredential, t)
		return nil, failExpiredToken
	}
	acct, err := a.cfg.Users.UserByID(ctx, k.UserID)
	if err != nil && !isNotFound(err) {
		return nil, internalFailure(err)
	}
	if err != nil || acct.Disabled {
		a.auditCredential(r, false, k.UserID, ReasonAPIKeyUserGone, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	// A key dies with the account's cutoff, as a token does: a password
	// change or reset, "log out everywhere", a disable, and an ID reused
	// by a new account (whose cutoff is its creation) all end it.
	if !issuedAfter(k.Created, acct.TokensValidAfter) {
		a.auditCredential(r, false, k.UserID, ReasonAPIKeyCutoff, APIKeyCredential, t)
		return nil, failInvalidToken
	}
	// The account as the key sees it: the key's roles that the account
	// still holds. Built here, and then only read, as a store's account is.
	// It shares one allocation with the context's details.
	kc := &struct {
		eff     Account[U]
		details authDetails
	}{eff: *acct, details: authDetails{apiKeyID: k.ID}}
	kc.eff.Roles = nil
	for _, role := range k.Roles {
		if acct.HasRole(role) && !slices.Contains(kc.eff.Roles, role) {
			kc.eff.Roles = append(kc.eff.Roles, role)
		}
	}
	ac := newAuthContext(ctx, &kc.eff, APIKeyCredential, t, nil, &kc.details)
	if f := a.checkAccount(r, k.UserID, ac); f != nil {
		return nil, f
	}
	a.life.touch.note(k.ID, now)
	a.auditCredential(r, true, k.UserID, ReasonAPIKey, APIKeyCredential, t)
	return ac, nil
}
