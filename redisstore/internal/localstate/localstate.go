// Package localstate keeps process-local copies of shared state (accounts,
// revocation verdicts, throttle locks) that are trusted only while a change
// feed proves they are current.
//
// A Feed stands for one notification channel (a Redis subscription, a
// PostgreSQL LISTEN connection). It is live while the channel is connected
// and a heartbeat has arrived within MaxSilence. A Cache answers only while
// its feed is live; every Down or Up of the feed empties it, because
// notifications sent while the channel was down are lost. A value read from
// the store is kept only if no invalidation arrived while it was being read
// (the ticket check in Put), so a late reply can never overwrite a newer
// change.
//
// The staleness of a cached value is therefore bounded by the delivery time
// of one notification while the feed is live, and by MaxSilence when the
// channel stalls without the client noticing.
//
// This copy is redisstore's own; sqlstore has another. Each adapter module
// carries its copy so that no published module depends on another's
// internals (see COMPATIBILITY.md).
package localstate

import (
	"sync"
	"sync/atomic"
	"time"
)

// Feed tracks whether a change-notification channel is live.
type Feed struct {
	maxSilence time.Duration
	now        func() time.Time
	up         atomic.Bool
	lastBeat   atomic.Int64  // unix nanos of the last message or heartbeat
	generation atomic.Uint64 // bumped by Up and Down; cached values of older generations are void
}

// NewFeed returns a feed that is down until Up is called. maxSilence is how
// long the feed stays live without a Beat; now nil means time.Now.
func NewFeed(maxSilence time.Duration, now func() time.Time) *Feed {
	if now == nil {
		now = time.Now
	}
	return &Feed{maxSilence: maxSilence, now: now}
}

// Up marks the channel subscribed and resynchronised: caches start empty
// and may fill from now on.
func (f *Feed) Up() {
	f.generation.Add(1)
	f.Beat()
	f.up.Store(true)
}

// Down marks the channel lost: caches are bypassed until the next Up.
func (f *Feed) Down() {
	f.up.Store(false)
	f.generation.Add(1)
}

// Beat records that the channel delivered something (a change or a
// heartbeat) just now.
func (f *Feed) Beat() { f.lastBeat.Store(f.now().UnixNano()) }

// Live reports whether cached state may be trusted: the channel is up and
// has delivered something within MaxSilence.
func (f *Feed) Live() bool {
	return f.up.Load() && f.now().UnixNano()-f.lastBeat.Load() < int64(f.maxSilence)
}

// MaxSilence returns the longest time a live feed may go without a beat.
func (f *Feed) MaxSilence() time.Duration { return f.maxSilence }

// Cache is a bounded map of values that are valid only while its feed is
// live. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	feed   *Feed
	max    int
	maxAge int64 // nanos; 0: values stay as long as the feed is live
	mu     sync.RWMutex
	m      map[K]entry[V]
	epoch  uint64 // bumped by every invalidation, under mu
}

type entry[V any] struct {
	v   V
	gen uint64
	at  int64 // unix nanos of the Put, with a max age only
}

// Ticket is taken before reading the store and handed to Put, which keeps
// the value only if nothing was invalidated in between.
type Ticket struct {
	gen, epoch uint64
}

// NewCache returns a cache of at most max entries that trusts feed.
func NewCache[K comparable, V any](feed *Feed, max int) *Cache[K, V] {
	if max < 1 {
		max = 1
	}
	return &Cache[K, V]{feed: feed, max: max, m: make(map[K]entry[V])}
}

// SetMaxAge makes Get treat a value put more than d ago as missing, for a
// feed that can lose a notification without going down (Redis Cluster's
// bus): it bounds how long such a loss lasts. Call it before the cache is
// used; d <= 0 means no limit, the default.
func (c *Cache[K, V]) SetMaxAge(d time.Duration) {
	c.maxAge = max(int64(d), 0)
}

// MaxAge returns the max age SetMaxAge set, 0 for none.
func (c *Cache[K, V]) MaxAge() time.Duration { return time.Duration(c.maxAge) }

// Get returns the cached value of k while the feed is live (and, with a
// max age, while the value is younger).
func (c *Cache[K, V]) Get(k K) (V, bool) {
	var zero V
	if !c.feed.Live() {
		return zero, false
	}
	gen := c.feed.generation.Load()
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.gen != gen {
		return zero, false
	}
	if c.maxAge > 0 && c.feed.now().UnixNano()-e.at > c.maxAge {
		return zero, false
	}
	return e.v, true
}

// Ticket returns the ticket for a store read that is about to start.
func (c *Cache[K, V]) Ticket() Ticket {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Ticket{gen: c.feed.generation.Load(), epoch: c.epoch}
}

// Put keeps v for k if the feed is live and nothing was invalidated since t
// was taken. A full cache drops an arbitrary entry (or, when the feed
// changed generation, everything older).
func (c *Cache[K, V]) Put(k K, v V, t Ticket) {
	if !c.feed.Live() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := c.feed.generation.Load()
	if t.gen != gen || t.epoch != c.epoch {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old, e := range c.m {
			delete(c.m, old)
			if e.gen == gen {
				break // one live entry dropped; stale ones go on being swept
			}
		}
	}
	e := entry[V]{v: v, gen: gen}
	if c.maxAge > 0 {
		e.at = c.feed.now().UnixNano()
	}
	c.m[k] = e
}

// Invalidate drops k and voids every read in flight.
func (c *Cache[K, V]) Invalidate(k K) {
	c.mu.Lock()
	c.epoch++
	delete(c.m, k)
	c.mu.Unlock()
}

// InvalidateFunc drops every entry for which drop returns true, and voids
// every read in flight.
func (c *Cache[K, V]) InvalidateFunc(drop func(K, V) bool) {
	c.mu.Lock()
	c.epoch++
	for k, e := range c.m {
		if drop(k, e.v) {
			delete(c.m, k)
		}
	}
	c.mu.Unlock()
}

// Len returns the number of entries held, stale generations included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
