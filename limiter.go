package httpauth

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Limiter throttles password guessing. It counts failed attempts per key (a
// login, or a client address) in a window. Implementations must be safe for
// concurrent use.
//
// Contract: any error is a limiter failure and the request fails closed with
// a 500; it is never treated as "allowed".
type Limiter interface {
	// Allow reports whether another attempt for key may proceed. When it
	// may not, retryAfter is how long until the window ends (at least one
	// second).
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)

	// Fail records one failed attempt for key.
	Fail(ctx context.Context, key string) error

	// Reset forgets the failures of key, after a successful login.
	Reset(ctx context.Context, key string) error
}

// Default throttling: 10 failures in 15 minutes lock a login until the
// window ends.
const (
	DefaultMaxFailures   = 10
	DefaultFailureWindow = 15 * time.Minute
)

// MemoryLimiter is an in-memory fixed-window Limiter. The window starts at
// a key's first failure; after MaxFailures failures the key is refused
// until the window ends. Keys are spread over shards so that logins do not
// contend on one lock.
type MemoryLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const (
	limiterShards        = 64
	limiterShardMaxItems = 1 << 14 // ~1M keys in all before old windows are dropped
)

type limiterShard struct {
	mu      sync.Mutex
	entries map[string]limiterEntry
}

type limiterEntry struct {
	failures int
	ends     time.Time
}

// NewMemoryLimiter returns a limiter that refuses a key after maxFailures
// failures inside window. Zero values take DefaultMaxFailures and
// DefaultFailureWindow; now nil means time.Now.
func NewMemoryLimiter(maxFailures int, window time.Duration, now func() time.Time) *MemoryLimiter {
	if maxFailures <= 0 {
		maxFailures = DefaultMaxFailures
	}
	if window <= 0 {
		window = DefaultFailureWindow
	}
	if now == nil {
		now = time.Now
	}
	l := &MemoryLimiter{max: maxFailures, window: window, now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].entries = map[string]limiterEntry{}
	}
	return l
}

func (l *MemoryLimiter) shard(key string) *limiterShard {
	return &l.shards[maphash.String(l.seed, key)%limiterShards]
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	e, ok := s.entries[key]
	s.mu.Unlock()
	if !ok || !now.Before(e.ends) || e.failures < l.max {
		return true, 0, nil
	}
	return false, retryAfter(e.ends.Sub(now)), nil
}

// retryAfter rounds up to whole seconds, as Retry-After carries them.
func retryAfter(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return s * time.Second
}

// Fail implements Limiter.
func (l *MemoryLimiter) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := l.shard(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || !now.Before(e.ends) {
		if !ok && len(s.entries) >= limiterShardMaxItems {
			s.sweepLocked(now)
		}
		e = limiterEntry{ends: now.Add(l.window)}
	}
	e.failures++
	s.entries[key] = e
	return nil
}

// Reset implements Limiter.
func (l *MemoryLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := l.shard(key)
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
	return nil
}

// sweepLocked drops ended windows; if the shard is still full it drops the
// entry closest to ending, so memory stays bounded under a flood of logins.
func (s *limiterShard) sweepLocked(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, e := range s.entries {
		if !now.Before(e.ends) {
			delete(s.entries, k)
			continue
		}
		if oldestKey == "" || e.ends.Before(oldest) {
			oldestKey, oldest = k, e.ends
		}
	}
	if len(s.entries) >= limiterShardMaxItems {
		delete(s.entries, oldestKey)
	}
}
