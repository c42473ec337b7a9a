package httpauth

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// tokenCache remembers tokens that verified, so that the token a client
// sends on every request pays the HMAC once. It is direct-mapped: a keyed
// 64-bit hash of the token (the seed is secret, so nobody can aim at a
// slot) picks one slot, a hit compares the whole token in constant time,
// and a new token simply replaces whatever held its slot. Lookups and
// inserts are single atomic operations, with no lock and no sweeper.
type tokenCache struct {
	seed  maphash.Seed
	mask  uint64
	slots []atomic.Pointer[cachedToken]
}

// cachedToken is never changed once stored: verifyRef hands out its claims.
type cachedToken struct {
	token    string
	claims   Claims
	iat, exp int64 // the claims' times in unix ns, for the check on every hit
}

// newTokenCache returns a cache of at least size slots (a power of two).
func newTokenCache(size int) *tokenCache {
	n := uint64(1) << bits.Len64(uint64(size-1))
	return &tokenCache{seed: maphash.MakeSeed(), mask: n - 1, slots: make([]atomic.Pointer[cachedToken], n)}
}

func (c *tokenCache) slot(token string) *atomic.Pointer[cachedToken] {
	return &c.slots[maphash.String(c.seed, token)&c.mask]
}

// get returns token's entry, or nil.
func (c *tokenCache) get(token string) *cachedToken {
	e := c.slot(token).Load()
	if e == nil || !constantTimeEqual(e.token, token) {
		return nil
	}
	return e
}

// put stores token's claims and returns the new entry.
func (c *tokenCache) put(token string, claims Claims) *cachedToken {
	e := &cachedToken{token: token, claims: claims, iat: claims.IssuedAt.UnixNano(), exp: claims.ExpiresAt.UnixNano()}
	c.slot(token).Store(e)
	return e
}

// remove empties token's slot if token still holds it.
func (c *tokenCache) remove(token string) {
	s := c.slot(token)
	if e := s.Load(); e != nil && e.token == token {
		s.CompareAndSwap(e, nil)
	}
}

// len counts the filled slots.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// constantTimeEqual compares two strings without a data-dependent early
// exit (only the length may show). It reads two words a turn: tokens are
// ~100 bytes, and every cached check compares one.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v, w uint64
	for len(a) >= 16 && len(b) >= 16 {
		v |= le64(a) ^ le64(b)
		w |= le64(a[8:]) ^ le64(b[8:])
		a, b = a[16:], b[16:]
	}
	for len(a) >= 8 && len(b) >= 8 {
		v |= le64(a) ^ le64(b)
		a, b = a[8:], b[8:]
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	return v|w == 0
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
