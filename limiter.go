package httpauth

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Limiter throttles password guessing. It counts attempts per key (a
// login, or a client address) in a window. Implementations must be safe for
// concurrent use.
//
// The authenticator reserves an attempt before it hashes a password, so
// the number of hashes for one key within a window is at most the limit,
// whatever the concurrency and however many instances share the limiter.
//
// Contract: any error is a limiter failure and the request fails closed
// with a 500, before any hash runs; an error is never treated as "allowed",
// whatever ok says.
type Limiter interface {
	// Reserve atomically counts one attempt for key and reports whether it
	// may proceed. Once the limit is reached in the current window it
	// refuses (ok false, the count unchanged) with retryAfter, the time
	// until the window ends (whole seconds, at least one). A count that
	// cannot be written is an error, never ok: a limiter that cannot count
	// must not let a guess through.
	Reserve(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)

	// Allow reports, without counting, whether key is below its limit
	// (refused with retryAfter as Reserve would be). The authenticator uses
	// it for credentials it verified earlier, which run no hash, so that a
	// locked login is refused even with the right cached password.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)

	// Reset forgets the attempts of key, after a successful login.
	Reset(ctx context.Context, key string) error
}

// Default throttling: 10 attempts in 15 minutes lock a login until the
// window ends (a success resets the count).
const (
	defaultMaxFailures   = 10
	defaultFailureWindow = 15 * time.Minute
)

// memoryLimiter is an in-memory fixed-window [Limiter]. The window starts at
// a key's first attempt; after max reserved attempts the key is
// refused until the window ends. Keys are spread over shards so that
// logins do not contend on one lock.
//
// Memory is bounded: a key is held as a 128-bit keyed hash of it (so a long
// login costs no more than a short one), ended windows are swept as the
// limiter is used, and at most memoryLimiterMaxEntries keys are held, at
// most 96 bytes each (memoryLimiterMaxBytes, 24 MiB, in all; measured at
// about 80). When the limiter is full,
// keys that have not reached the limit are dropped before locked ones.
type memoryLimiter struct {
	max    int
	window time.Duration
	seeds  [2]maphash.Seed
	shards [limiterShards]limiterShard
}

const (
	limiterShards        = 64
	limiterShardMaxItems = 1 << 12

	// memoryLimiterMaxEntries is the most keys a memoryLimiter holds.
	memoryLimiterMaxEntries = limiterShards * limiterShardMaxItems // 262144

	// memoryLimiterMaxBytes bounds a full memoryLimiter's memory: 96 bytes
	// per entry (a 16-byte key and a 16-byte entry in a Go map, with its
	// control bytes and growth slack), 24 MiB in all.
	memoryLimiterMaxBytes = memoryLimiterMaxEntries * 96
)

type limiterKey [2]uint64

type limiterShard struct {
	mu        sync.Mutex
	entries   map[limiterKey]limiterEntry
	nextSweep int64 // unix nanos; ended windows are dropped at the first write after it
}

type limiterEntry struct {
	count int64
	ends  int64 // unix nanos
}

// NewMemoryLimiter returns a Limiter that keeps its counts in this process:
// maxFailures attempts per key in a fixed window that starts at the key's
// first attempt. Zero or negative arguments take the defaults, 10 attempts
// per 15 minutes. It holds at most 262,144 keys (about 24 MiB), as 128-bit
// keyed hashes, sweeping expired windows as it goes. Several instances
// need a shared Limiter instead (redisstore).
func NewMemoryLimiter(maxFailures int, window time.Duration) Limiter {
	return newMemoryLimiter(maxFailures, window)
}

func newMemoryLimiter(maxFailures int, window time.Duration) *memoryLimiter {
	if maxFailures <= 0 {
		maxFailures = defaultMaxFailures
	}
	if window <= 0 {
		window = defaultFailureWindow
	}
	l := &memoryLimiter{max: maxFailures, window: window, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range l.shards {
		l.shards[i].entries = map[limiterKey]limiterEntry{}
	}
	return l
}

// hashKey returns key's 128-bit keyed hash and its shard. The seeds are
// random per limiter, so colliding keys cannot be chosen from outside.
func (l *memoryLimiter) hashKey(key string) (limiterKey, *limiterShard) {
	k := limiterKey{maphash.String(l.seeds[0], key), maphash.String(l.seeds[1], key)}
	return k, &l.shards[k[0]%limiterShards]
}

// Reserve implements Limiter: the check and the count are one step under
// the shard's lock.
func (l *memoryLimiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	k, s := l.hashKey(key)
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybeSweepLocked(now, l.window)
	e, ok := s.entries[k]
	if !ok || now >= e.ends {
		if !ok && len(s.entries) >= limiterShardMaxItems {
			s.evictLocked(now, l.max)
		}
		e = limiterEntry{ends: now + int64(l.window)}
	}
	if e.count >= int64(l.max) {
		return false, retryAfter(time.Duration(e.ends - now)), nil
	}
	e.count++
	s.entries[k] = e
	return true, 0, nil
}

// Allow implements Limiter.
func (l *memoryLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	k, s := l.hashKey(key)
	now := time.Now().UnixNano()
	s.mu.Lock()
	e, ok := s.entries[k]
	s.mu.Unlock()
	if !ok || now >= e.ends || e.count < int64(l.max) {
		return true, 0, nil
	}
	return false, retryAfter(time.Duration(e.ends - now)), nil
}

// Reset implements Limiter.
func (l *memoryLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, s := l.hashKey(key)
	s.mu.Lock()
	delete(s.entries, k)
	s.mu.Unlock()
	return nil
}

// len returns the number of keys held, for tests.
func (l *memoryLimiter) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// retryAfter rounds up to whole seconds, as Retry-After carries them.
func retryAfter(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return s * time.Second
}

// maybeSweepLocked drops ended windows, at most once per sweep interval
// (a quarter of the window, at most a minute), so that idle keys do not
// linger until the shard is full. The cost is amortised over the writes of
// that interval.
func (s *limiterShard) maybeSweepLocked(now int64, window time.Duration) {
	if now < s.nextSweep {
		return
	}
	every := min(window/4, time.Minute)
	s.nextSweep = now + int64(max1ns(every))
	for k, e := range s.entries {
		if now >= e.ends {
			delete(s.entries, k)
		}
	}
}

func max1ns(d time.Duration) time.Duration {
	if d < 1 {
		return 1
	}
	return d
}

// evictLocked makes room in a full shard: it drops ended windows, then
// keys below the limit, then, if every key is locked, any keys, down to
// 7/8 of the cap so that the next inserts do not each pay a full scan.
func (s *limiterShard) evictLocked(now int64, limit int) {
	target := limiterShardMaxItems * 7 / 8
	for k, e := range s.entries {
		if now >= e.ends {
			delete(s.entries, k)
		}
	}
	for k, e := range s.entries {
		if len(s.entries) <= target {
			return
		}
		if e.count < int64(limit) {
			delete(s.entries, k)
		}
	}
	for k := range s.entries {
		if len(s.entries) <= target {
			return
		}
		delete(s.entries, k)
	}
}

// Default per-user token rate: what TokenHandler mints plus what
// RevokeHandler revokes, per user.
const (
	defaultTokenRate  = 60 // per minute
	defaultTokenBurst = 10
)

// Bounds of the per-user token rate's memory: rateShards × rateShardMax
// users (65,536), each a map entry of a 64-bit key and a time, about 4 MiB
// in all. Past it, the user closest to a full budget is forgotten.
const (
	rateShards   = 64
	rateShardMax = 1024
)

// userRate is a per-user GCRA (a token bucket kept as one "theoretical
// arrival time"): a burst of burst, refilled one every interval. Users are
// keyed by a seeded 64-bit hash of their ID, so an entry's size does not
// depend on the ID's.
type userRate struct {
	interval time.Duration
	burst    int
	seed     maphash.Seed
	shards   [rateShards]rateShard
}

type rateShard struct {
	mu  sync.Mutex
	tat map[uint64]int64 // unix ns; an entry at or before now is a full budget
}

func newUserRate(perMinute, burst int) *userRate {
	return newUserRateEvery(time.Minute/time.Duration(perMinute), burst)
}

// newUserRateEvery is a burst of burst, refilled one every interval.
func newUserRateEvery(interval time.Duration, burst int) *userRate {
	u := &userRate{interval: interval, burst: burst, seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].tat = map[uint64]int64{}
	}
	return u
}

// take spends one unit of user's budget, or reports how long until one is
// available.
func (u *userRate) take(user string) (ok bool, wait time.Duration) {
	k := maphash.String(u.seed, user)
	s := &u.shards[k%rateShards]
	now := time.Now().UnixNano()
	iv := int64(u.interval)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, found := s.tat[k]
	if !found || tat < now {
		tat = now
	}
	if over := tat - now - int64(u.burst-1)*iv; over > 0 {
		return false, time.Duration(over)
	}
	if !found && len(s.tat) >= rateShardMax {
		s.evictLocked(now)
	}
	s.tat[k] = tat + iv
	return true, 0
}

// evictLocked drops the entries whose budget is full again, and if none
// is, the one closest to full, so memory stays bounded.
func (s *rateShard) evictLocked(now int64) {
	var minK uint64
	minT := int64(math.MaxInt64)
	for k, t := range s.tat {
		if t <= now {
			delete(s.tat, k)
			continue
		}
		if t < minT {
			minK, minT = k, t
		}
	}
	if len(s.tat) >= rateShardMax {
		delete(s.tat, minK)
	}
}

// allow spends one unit of user's rate if there is one, and reports
// whether there was.
func (u *userRate) allow(user string) bool {
	ok, _ := u.take(user)
	return ok
}

// len returns how many users the rate remembers.
func (u *userRate) len() int {
	n := 0
	for i := range u.shards {
		s := &u.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
