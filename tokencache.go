package httpauth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers tokens that verified, so that the token a client
// sends on every request pays the HMAC once. Lookups take no lock. Keys are
// a keyed 64-bit hash of the token (the seed is secret, so nobody can aim
// at an entry), and a hit compares the whole token in constant time.
type tokenCache struct {
	seed      maphash.Seed
	max       int64
	size      atomic.Int64
	entries   sync.Map // uint64 -> *cachedToken
	lastSweep atomic.Int64
}

type cachedToken struct {
	token  string
	claims Claims
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), max: int64(size)}
}

func (c *tokenCache) get(token string) (Claims, bool) {
	v, ok := c.entries.Load(maphash.String(c.seed, token))
	if !ok {
		return Claims{}, false
	}
	e := v.(*cachedToken)
	if !constantTimeEqual(e.token, token) {
		return Claims{}, false
	}
	return e.claims, true
}

func (c *tokenCache) put(token string, claims Claims, now time.Time) {
	if c.size.Load() >= c.max {
		c.sweep(now)
		if c.size.Load() >= c.max {
			return // full of live tokens: verify the rest every time
		}
	}
	if _, loaded := c.entries.Swap(maphash.String(c.seed, token), &cachedToken{token: token, claims: claims}); !loaded {
		c.size.Add(1)
	}
}

func (c *tokenCache) remove(token string) {
	if _, loaded := c.entries.LoadAndDelete(maphash.String(c.seed, token)); loaded {
		c.size.Add(-1)
	}
}

// sweep drops expired tokens, at most once a second.
func (c *tokenCache) sweep(now time.Time) {
	last := c.lastSweep.Load()
	if now.UnixNano()-last < int64(time.Second) || !c.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	c.entries.Range(func(k, v any) bool {
		if !now.Before(v.(*cachedToken).claims.ExpiresAt) && c.entries.CompareAndDelete(k, v) {
			c.size.Add(-1)
		}
		return true
	})
}

// constantTimeEqual compares two strings without a data-dependent early
// exit (only the length may show).
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v uint64
	i := 0
	for ; i+8 <= len(a); i += 8 { // a word at a time; tokens are ~100 bytes
		v |= le64(a[i:]) ^ le64(b[i:])
	}
	for ; i < len(a); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	return v == 0
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
