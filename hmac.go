package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// SigningKey is one key of an HMAC key ring.
type SigningKey struct {
	// ID names the key inside tokens: 1 to 16 characters from
	// [A-Za-z0-9_-]. It only ever selects among configured keys.
	ID string
	// Secret is at least 32 random bytes (256 bits, the size of the
	// SHA-256 output).
	Secret []byte
}

// hmacSignerConfig configures newHMACSigner.
type hmacSignerConfig struct {
	// Keys is the key ring. Keys[0] signs; every key verifies, so a key
	// being rotated out keeps verifying until its tokens expire.
	// Required.
	Keys []SigningKey

	// Purpose binds tokens to one use, like itsdangerous's salt: the MAC
	// key is derived from the secret and the purpose, so a token minted for
	// one purpose never verifies for another. Required: a signer for
	// another use (email confirmation, password reset) that left it empty
	// would otherwise mint valid access tokens. The authenticator's own
	// signer uses defaultPurpose.
	Purpose string

	// CacheSize bounds the verified-token cache. A client sends the same
	// token on every request; once a token has verified, later requests
	// with the byte-identical token skip the HMAC and the decoding (the
	// expiry is still checked every time). Only verified tokens enter it.
	// It is direct-mapped: CacheSize, rounded up to a power of two, is the
	// number of slots, and a new token replaces the one in its slot.
	// Default 10000; negative turns it off.
	CacheSize int
}

// defaultPurpose is the purpose of the authenticator's access tokens.
const defaultPurpose = "api-access"

// minKeyLen is the shortest accepted HMAC secret, in bytes.
const minKeyLen = 32

// HMACSigner is the default TokenSigner: HMAC-SHA256 over a compact binary
// payload, with a key ring for rotation. The algorithm is fixed; a token
// can only choose which configured key verifies it.
type HMACSigner struct {
	keys    []*ringKey
	purpose string
	cache   *tokenCache // nil when off

	accountKeys []acctKey // for account tokens, derived from the same secrets
	totpKeys    []totpKey // second factor (totp.go): seal TOTP secrets, derived from the same secrets
}

type ringKey struct {
	id   string
	pool sync.Pool // *macState keyed with the derived key
}

// macState is a pre-keyed HMAC plus scratch buffers, pooled so that a
// verification allocates nothing.
type macState struct {
	h       hash.Hash
	tok     [maxTokenLen]byte
	sum     [macLen]byte
	mac     [macLen]byte
	payload [maxPayloadLen]byte
}

// NewHMACSigner returns the default TokenSigner: HMAC-SHA256 with the key
// ring keys. keys[0] signs; every key verifies, so a key being rotated out
// keeps verifying until its tokens expire. Each key needs a distinct ID
// and a secret of at least 32 bytes that is not all zeros (KeyFromHex
// makes one from a hex string). Access tokens are bound to their purpose:
// the account tokens, whose keys are derived from the same secrets for
// other purposes, can never pass for them. (API keys use no secret: they
// are random, and stored by their SHA-256.)
func NewHMACSigner(keys ...SigningKey) (*HMACSigner, error) {
	return newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: defaultPurpose})
}

// KeyFromHex decodes a hex-encoded secret, such as the HTTPAUTH_SECRET
// that "httpauth keygen" prints, into a SigningKey named id. It refuses a
// secret shorter than 32 bytes, and one that was typed or made up rather
// than generated: all zeros, fewer than 16 distinct byte values, only
// printable ASCII (the hex of a phrase), or a run of 8 bytes that count
// up or down by a fixed step (000102…). A random secret of that length
// essentially never looks like any of these (odds below 2^-40).
func KeyFromHex(id, hexSecret string) (SigningKey, error) {
	secret, err := hex.DecodeString(strings.TrimSpace(hexSecret))
	if err != nil {
		return SigningKey{}, errors.New("httpauth: key is not valid hex")
	}
	if err := checkSecret(secret); err != nil {
		return SigningKey{}, err
	}
	if !validKeyID(id) {
		return SigningKey{}, fmt.Errorf("httpauth: key ID must be 1 to %d characters of [A-Za-z0-9_-]", maxKeyIDLen)
	}
	return SigningKey{ID: id, Secret: secret}, nil
}

// minKeyVariety is the fewest distinct byte values a secret may have. 32
// random bytes have about 30; fewer than 16 happens with odds below 2^-60.
const minKeyVariety = 16

// maxKeyRun is the longest arithmetic run (bytes stepping by one fixed
// amount, such as 00 01 02 or 41 41 41) a secret may hold. In 32 random
// bytes a run of 8 has odds of about 2^-43.
const maxKeyRun = 7

// checkSecret refuses secrets too short or too regular to be random.
func checkSecret(secret []byte) error {
	if len(secret) < minKeyLen {
		return fmt.Errorf("httpauth: key is %d bytes; at least %d are required", len(secret), minKeyLen)
	}
	var seen [256]bool
	distinct, printable := 0, true
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
		printable = printable && b >= 0x20 && b < 0x7f
	}
	switch {
	case allZero(secret) || distinct < minKeyVariety:
		return fmt.Errorf("httpauth: key has %d distinct byte values; a random key has about 30 (use \"httpauth keygen\")", distinct)
	case printable:
		return errors.New("httpauth: key is printable text, not random bytes (use \"httpauth keygen\")")
	case longestRun(secret) > maxKeyRun:
		return errors.New("httpauth: key holds a counting sequence, not random bytes (use \"httpauth keygen\")")
	}
	return nil
}

// longestRun returns the length of the longest stretch of b whose bytes
// step by one fixed amount (mod 256).
func longestRun(b []byte) int {
	longest, run := min(len(b), 2), 2
	for i := 2; i < len(b); i++ {
		if b[i]-b[i-1] == b[i-1]-b[i-2] {
			run++
		} else {
			run = 2
		}
		longest = max(longest, run)
	}
	return longest
}

// newHMACSigner validates cfg and returns a signer. It copies the keys.
func newHMACSigner(cfg hmacSignerConfig) (*HMACSigner, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("httpauth: HMAC signer needs at least one key")
	}
	purpose := cfg.Purpose
	if purpose == "" {
		return nil, errors.New("httpauth: HMAC signer needs an explicit Purpose (defaultPurpose for access tokens)")
	}
	s := &HMACSigner{purpose: purpose}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.CacheSize > 0 {
		s.cache = newTokenCache(cfg.CacheSize)
	}
	seen := map[string]bool{}
	for i, k := range cfg.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("httpauth: key %d: ID must be 1 to %d characters of [A-Za-z0-9_-]", i, maxKeyIDLen)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("httpauth: key ID %q is used twice", k.ID)
		}
		seen[k.ID] = true
		if err := checkSecret(k.Secret); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		derived := deriveKey(k.Secret, purpose)
		rk := &ringKey{id: k.ID}
		rk.pool.New = func() any { return &macState{h: hmac.New(sha256.New, derived)} }
		s.keys = append(s.keys, rk)
	}
	s.accountKeys = deriveAccountKeys(cfg.Keys)
	s.totpKeys = deriveTOTPKeys(cfg.Keys) // second factor (totp.go)
	return s, nil
}

// deriveKey binds the MAC key to the purpose, as itsdangerous derives its
// key from the secret and the salt.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("httpauth-token-v1\x00"))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Sign implements TokenSigner.
func (s *HMACSigner) Sign(ctx context.Context, c Claims) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if c.Subject == "" || len(c.Subject) > maxSubjectLen || !utf8.ValidString(c.Subject) {
		return "", fmt.Errorf("httpauth: subject must be 1 to %d bytes of UTF-8", maxSubjectLen)
	}
	if c.ID == [16]byte{} {
		return "", errors.New("httpauth: token ID is zero")
	}
	if c.IssuedAt.IsZero() || !c.ExpiresAt.After(c.IssuedAt) {
		return "", errors.New("httpauth: token must expire after it is issued")
	}
	var payload [maxPayloadLen]byte
	payload[0] = tokenVersion
	binary.BigEndian.PutUint64(payload[1:], uint64(c.IssuedAt.UnixNano()))
	binary.BigEndian.PutUint64(payload[9:], uint64(c.ExpiresAt.UnixNano()))
	copy(payload[17:], c.ID[:])
	n := payloadFixed + copy(payload[payloadFixed:], c.Subject)

	k := s.keys[0]
	var b strings.Builder
	b.Grow(maxTokenLen)
	b.WriteString(k.id)
	b.WriteByte('.')
	b.WriteString(tokenB64.EncodeToString(payload[:n]))
	signed := b.String()

	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write([]byte(signed))
	mac := st.h.Sum(st.sum[:0])
	b.WriteByte('.')
	b.WriteString(tokenB64.EncodeToString(mac))
	k.pool.Put(st)
	return b.String(), nil
}

// Verify implements TokenSigner. It checks the length before decoding
// anything and the MAC before reading the payload, and decodes base64url
// strictly, so each token has exactly one accepted spelling.
func (s *HMACSigner) Verify(ctx context.Context, token string) (Claims, error) {
	c, err := s.verify(token, time.Now())
	if err != nil {
		return Claims{}, err
	}
	if err := ctx.Err(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// verifyRef is Verify at now, the request's one clock reading, returning
// the claims the cache holds (immutable: an entry is replaced, never
// changed), so that a cached check copies nothing.
func (s *HMACSigner) verifyRef(ctx context.Context, token string, now time.Time) (*Claims, error) {
	c, e, err := s.check(token, now)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e != nil {
		return &e.claims, nil
	}
	own := c // a signer without a cache (tests): a heap copy, here only
	return &own, nil
}

// verify checks token at now; tests pass a now that a synctest bubble's
// clock cannot reach (before a cached token's issue time).
func (s *HMACSigner) verify(token string, now time.Time) (Claims, error) {
	c, e, err := s.check(token, now)
	if e != nil {
		return e.claims, nil
	}
	return c, err
}

// check verifies token at now. It returns the cache's entry for it when
// the signer has a cache, and the claims otherwise.
func (s *HMACSigner) check(token string, now time.Time) (Claims, *cachedToken, error) {
	if len(token) > maxTokenLen {
		return Claims{}, nil, errMalformed
	}
	if s.cache != nil {
		if e := s.cache.get(token); e != nil {
			if err := s.checkTimes(e.iat, e.exp, now.UnixNano()); err != nil {
				if err == errExpired {
					s.cache.remove(token)
				}
				return Claims{}, nil, err
			}
			return Claims{}, e, nil
		}
	}
	c, err := s.verifyMAC(token, now.UnixNano())
	if err != nil {
		return Claims{}, nil, err
	}
	if s.cache != nil {
		return Claims{}, s.cache.put(token, c), nil
	}
	return c, nil, nil
}

// checkTimes enforces the issue time (not in the future) and the expiry (now >= exp is expired), all in unix ns.
func (s *HMACSigner) checkTimes(iat, exp, now int64) error {
	if iat > now {
		return errFuture
	}
	if now >= exp {
		return errExpired
	}
	return nil
}

// verifyMAC does the full verification of a token not in the cache.
func (s *HMACSigner) verifyMAC(token string, now int64) (Claims, error) {
	kid, payloadB64, _, ok := splitToken(token, maxTokenLen, maxPayloadB64)
	if !ok {
		return Claims{}, errMalformed
	}
	var k *ringKey
	for _, rk := range s.keys {
		if rk.id == kid {
			k = rk
			break
		}
	}
	if k == nil {
		return Claims{}, errUnknownKey
	}

	st := k.pool.Get().(*macState)
	defer k.pool.Put(st)
	tok := st.tok[:copy(st.tok[:], token)] // bytes without a heap conversion
	signedLen := len(kid) + 1 + len(payloadB64)
	if n, err := tokenB64.Decode(st.mac[:], tok[signedLen+1:]); err != nil || n != macLen {
		return Claims{}, errMalformed
	}
	st.h.Reset()
	st.h.Write(tok[:signedLen])
	if !hmac.Equal(st.h.Sum(st.sum[:0]), st.mac[:]) {
		return Claims{}, errBadMAC
	}

	// Authentic from here on; decode strictly all the same.
	n, err := tokenB64.Decode(st.payload[:], tok[len(kid)+1:signedLen])
	if err != nil || n <= payloadFixed || st.payload[0] != tokenVersion {
		return Claims{}, errMalformed
	}
	p := st.payload[:n]
	iat := int64(binary.BigEndian.Uint64(p[1:]))
	exp := int64(binary.BigEndian.Uint64(p[9:]))
	if iat <= 0 || exp <= iat || allZero(p[17:33]) || !utf8.Valid(p[payloadFixed:]) {
		return Claims{}, errMalformed // Sign never makes these
	}
	if err := s.checkTimes(iat, exp, now); err != nil {
		return Claims{}, err
	}
	c := Claims{
		IssuedAt:  time.Unix(0, iat),
		ExpiresAt: time.Unix(0, exp),
		KeyID:     k.id,
		Subject:   string(p[payloadFixed:]),
	}
	copy(c.ID[:], p[17:33])
	return c, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Token layout: kid "." base64url(payload) "." base64url(HMAC-SHA256).
// The MAC covers the ASCII text before the second dot. The payload is
// binary, so there is no JSON to parse and no claim can have the wrong type:
//
//	version(1) | iat unix ns (8) | exp unix ns (8) | jti (16) | subject (1..255)
const (
	tokenVersion  = 1
	payloadFixed  = 1 + 8 + 8 + 16
	maxSubjectLen = 255
	maxPayloadLen = payloadFixed + maxSubjectLen
	maxKeyIDLen   = 16
	macLen        = sha256.Size
	macB64Len     = 43 // base64url of 32 bytes, unpadded
	maxPayloadB64 = (maxPayloadLen*8 + 5) / 6
	maxTokenLen   = maxKeyIDLen + 1 + maxPayloadB64 + 1 + macB64Len
)
