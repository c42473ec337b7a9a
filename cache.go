package httpauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// credCache remembers verified Basic credentials so that clients sending
// Basic on every request do not pay a password hash each time. It never
// holds a password: entries are keyed by HMAC-SHA256(per-process key,
// login, password) and tied to the stored hash they were verified against.
type credCache struct {
	ttl       time.Duration
	perShard  int
	macs      sync.Pool
	shards    [credCacheShards]credShard
	shardMask uint64

	flightMu sync.Mutex
	flights  map[credKey]chan struct{} // verifications in progress
}

const credCacheShards = 16

type credKey [sha256.Size]byte

type credShard struct {
	mu sync.Mutex
	m  map[credKey]credEntry
}

type credEntry struct {
	accountID string
	hash      string // the stored hash at verification time
	expires   time.Time
}

func newCredCache(size int, ttl time.Duration) *credCache {
	var key [32]byte
	_, _ = rand.Read(key[:])
	c := &credCache{ttl: ttl, perShard: max(1, size/credCacheShards), shardMask: credCacheShards - 1}
	c.macs.New = func() any { return &credMAC{h: hmac.New(sha256.New, key[:])} }
	for i := range c.shards {
		c.shards[i].m = make(map[credKey]credEntry)
	}
	c.flights = make(map[credKey]chan struct{})
	return c
}

// join makes the caller the verifier of k, returning release to call when
// done, or, when another request is already verifying k, returns the
// channel that closes when it is done (and a nil release).
func (c *credCache) join(k credKey) (wait <-chan struct{}, release func()) {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if ch, ok := c.flights[k]; ok {
		return ch, nil
	}
	ch := make(chan struct{})
	c.flights[k] = ch
	return nil, func() {
		c.flightMu.Lock()
		delete(c.flights, k)
		c.flightMu.Unlock()
		close(ch)
	}
}

// credMAC is a keyed HMAC with scratch space, pooled so that computing a
// key allocates nothing.
type credMAC struct {
	h   hash.Hash
	buf []byte // len(login) | login | password; cleared after each use
	sum credKey
}

// maxCredScratch bounds the scratch buffer kept in the pool.
const maxCredScratch = 4096

// key is HMAC(k, len(login) | login | password): the length prefix keeps
// "ab"+"c" and "a"+"bc" apart.
func (c *credCache) key(login, password string) credKey {
	m := c.macs.Get().(*credMAC)
	m.buf = binary.BigEndian.AppendUint64(m.buf[:0], uint64(len(login)))
	m.buf = append(m.buf, login...)
	m.buf = append(m.buf, password...)
	m.h.Reset()
	m.h.Write(m.buf)
	clear(m.buf) // no password bytes stay in the pool
	if cap(m.buf) > maxCredScratch {
		m.buf = nil
	}
	k := credKey(m.h.Sum(m.sum[:0]))
	c.macs.Put(m)
	return k
}

func (c *credCache) shard(k credKey) *credShard {
	return &c.shards[binary.LittleEndian.Uint64(k[:8])&c.shardMask]
}

func (c *credCache) get(k credKey) (credEntry, bool) {
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	s.mu.Unlock()
	if ok && !time.Now().Before(e.expires) {
		c.remove(k)
		return credEntry{}, false
	}
	return e, ok
}

// matches reports whether the entry still stands for an account: same
// ID, same stored hash, and not disabled.
func (e credEntry) matches(id, hash string, disabled bool) bool {
	return !disabled && id == e.accountID && hmac.Equal([]byte(hash), []byte(e.hash))
}

func (c *credCache) put(k credKey, id, hash string) {
	s := c.shard(k)
	s.mu.Lock()
	if _, exists := s.m[k]; !exists && len(s.m) >= c.perShard {
		now := time.Now()
		evicted := false
		for old, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, old)
				evicted = true
			}
		}
		if !evicted {
			for old := range s.m { // full of live entries: drop one at random
				delete(s.m, old)
				break
			}
		}
	}
	s.m[k] = credEntry{accountID: id, hash: hash, expires: time.Now().Add(c.ttl)}
	s.mu.Unlock()
}

func (c *credCache) remove(k credKey) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// len returns the number of entries, expired ones included.
func (c *credCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}
