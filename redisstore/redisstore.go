// Package redisstore keeps httpauth's token revocations and failed-login
// counts in Redis, so that every instance of a service shares them.
//
// [RevocationStore] implements httpauth.RevocationStore: each revocation is
// one key that expires with its token, so nothing needs cleaning up.
// [Limiter] implements httpauth.Limiter with the semantics of
// httpauth.MemoryLimiter: a fixed window that starts at a key's first
// failure, counted atomically by a Lua script.
//
// Both fail closed: when Redis cannot be reached or answers with an error,
// every method returns that error (wrapped), never "not revoked" or
// "allowed", and httpauth answers the request with a 500.
//
// Both take any go-redis client ([redis.Client], [redis.ClusterClient],
// a failover client or a [redis.Ring]) through [redis.UniversalClient].
// Every command touches a single key, so Redis Cluster needs no hash tags.
// See README.md for the key layout and operational notes.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth"
)

// DefaultPrefix is the key prefix used when an options struct leaves Prefix
// empty.
const DefaultPrefix = "httpauth:"

// Key namespaces under the prefix.
const (
	revokedSpace = "revoked:"
	failSpace    = "fail:"
)

// maxPrefixLen bounds Prefix, which is part of every key.
const maxPrefixLen = 256

func checkPrefix(prefix string) (string, error) {
	if prefix == "" {
		return DefaultPrefix, nil
	}
	if len(prefix) > maxPrefixLen {
		return "", fmt.Errorf("redisstore: Prefix is %d bytes, more than %d", len(prefix), maxPrefixLen)
	}
	return prefix, nil
}

// isNil reports whether client is nil, also as a nil pointer of one of
// go-redis's client types.
func isNil(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// ceilMillis rounds d up to whole milliseconds, the resolution of Redis
// TTLs, so that a key never expires early.
func ceilMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}

// RevocationOptions configures a RevocationStore. The zero value is valid.
type RevocationOptions struct {
	// Prefix starts every key the store writes. Default DefaultPrefix.
	// Give each application sharing a Redis database its own prefix.
	Prefix string

	// ExtraTTL keeps each revocation this much longer than its token's
	// expiry, to cover clock skew between the instances that check tokens:
	// an instance whose clock is behind still accepts a token until its
	// own clock reaches the expiry. Default 0; at most 24 hours.
	ExtraTTL time.Duration
}

// RevocationStore is an httpauth.RevocationStore in Redis. It is safe for
// concurrent use.
type RevocationStore struct {
	client   redis.UniversalClient
	prefix   string
	extraTTL time.Duration
}

var _ httpauth.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns a RevocationStore that keeps revocations in
// client. It returns an error if client is nil or opts is invalid. It does
// not contact Redis.
func NewRevocationStore(client redis.UniversalClient, opts RevocationOptions) (*RevocationStore, error) {
	if isNil(client) {
		return nil, errors.New("redisstore: nil Redis client")
	}
	prefix, err := checkPrefix(opts.Prefix)
	if err != nil {
		return nil, err
	}
	if opts.ExtraTTL < 0 || opts.ExtraTTL > 24*time.Hour {
		return nil, fmt.Errorf("redisstore: ExtraTTL %v is not between 0 and 24h", opts.ExtraTTL)
	}
	return &RevocationStore{client: client, prefix: prefix, extraTTL: opts.ExtraTTL}, nil
}

// Key returns the Redis key that records the revocation of id:
// prefix + "revoked:" + id as 32 hex digits.
func (s *RevocationStore) Key(id httpauth.TokenID) string {
	return s.prefix + revokedSpace + id.String()
}

// Revoke implements httpauth.RevocationStore. It sets the key of id with a
// time to live that ends at expiresAt plus ExtraTTL, measured by this
// process's clock. A token past that time is not stored.
func (s *RevocationStore) Revoke(ctx context.Context, id httpauth.TokenID, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	ttl := time.Until(expiresAt) + s.extraTTL
	if ttl <= 0 {
		return nil // already dead everywhere: nothing to remember
	}
	ttl = ceilMillis(ttl)
	if err := s.client.Set(ctx, s.Key(id), "1", ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	return nil
}

// IsRevoked implements httpauth.RevocationStore. Any error from Redis is
// returned with revoked false; httpauth treats it as a failure, never as
// "not revoked".
func (s *RevocationStore) IsRevoked(ctx context.Context, id httpauth.TokenID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("redisstore: is revoked: %w", err)
	}
	n, err := s.client.Exists(ctx, s.Key(id)).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: is revoked: %w", err)
	}
	return n > 0, nil
}

// LimiterOptions configures a Limiter. The zero value is valid and takes
// httpauth's defaults.
type LimiterOptions struct {
	// Prefix starts every key the limiter writes. Default DefaultPrefix.
	// Two limiters with different settings (say, per login and per client
	// address) sharing a database need different prefixes.
	Prefix string

	// MaxFailures is how many failures within Window make a key refused
	// until the window ends. Default httpauth.DefaultMaxFailures.
	MaxFailures int

	// Window is the length of the fixed window that starts at a key's
	// first failure. Default httpauth.DefaultFailureWindow. It is rounded
	// up to whole milliseconds.
	Window time.Duration
}

// Limiter is an httpauth.Limiter in Redis, with the semantics of
// httpauth.MemoryLimiter. It is safe for concurrent use, also across
// processes sharing the Redis database.
//
// Each key with failures is one Redis counter, named by the SHA-256 of the
// key (see [Limiter.Key]), that expires when its window ends.
type Limiter struct {
	client redis.UniversalClient
	prefix string
	max    int64
	window time.Duration
}

var _ httpauth.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter that counts failures in client. It returns
// an error if client is nil or opts is invalid. It does not contact Redis.
func NewLimiter(client redis.UniversalClient, opts LimiterOptions) (*Limiter, error) {
	if isNil(client) {
		return nil, errors.New("redisstore: nil Redis client")
	}
	prefix, err := checkPrefix(opts.Prefix)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.MaxFailures < 0:
		return nil, fmt.Errorf("redisstore: MaxFailures %d is negative", opts.MaxFailures)
	case opts.MaxFailures == 0:
		opts.MaxFailures = httpauth.DefaultMaxFailures
	}
	switch {
	case opts.Window < 0:
		return nil, fmt.Errorf("redisstore: Window %v is negative", opts.Window)
	case opts.Window == 0:
		opts.Window = httpauth.DefaultFailureWindow
	}
	return &Limiter{
		client: client,
		prefix: prefix,
		max:    int64(opts.MaxFailures),
		window: ceilMillis(opts.Window),
	}, nil
}

// Key returns the Redis key that counts the failures of key:
// prefix + "fail:" + the SHA-256 of key as 64 hex digits. Hashing makes
// any bytes safe and bounds the key's length; it does not hide the login,
// which a dictionary recovers.
func (l *Limiter) Key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return l.prefix + failSpace + hex.EncodeToString(sum[:])
}

// failScript counts one failure. The window starts at the first failure:
// the expiry is set only when the counter is new (or, defensively, when it
// somehow has none), so later failures never extend it.
//
// KEYS[1] counter; ARGV[1] window in milliseconds. Returns the count.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// allowScript reads a counter and the time left in its window. A counter
// without an expiry (never written by this package) is given a window
// rather than locking its key forever; one that is not a number is an
// error, so the limiter fails closed.
//
// KEYS[1] counter; ARGV[1] window in milliseconds. Returns {count, ms left}.
var allowScript = redis.NewScript(`
local n = redis.call('GET', KEYS[1])
if not n then
	return {0, 0}
end
local count = tonumber(n)
if not count then
	return redis.error_reply('ERR httpauth counter is not a number')
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
return {count, ttl}
`)

// Allow implements httpauth.Limiter. On any error it returns false: a
// limiter that cannot be asked never allows.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("redisstore: allow: %w", err)
	}
	res, err := allowScript.Run(ctx, l.client, []string{l.Key(key)}, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: allow: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redisstore: allow: unexpected reply %v", res)
	}
	count, left := res[0], time.Duration(res[1])*time.Millisecond
	if count < l.max {
		return true, 0, nil
	}
	return false, retryAfter(left), nil
}

// Fail implements httpauth.Limiter.
func (l *Limiter) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: fail: %w", err)
	}
	if err := failScript.Run(ctx, l.client, []string{l.Key(key)}, l.window.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redisstore: fail: %w", err)
	}
	return nil
}

// Reset implements httpauth.Limiter. It deletes the counter of key.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: reset: %w", err)
	}
	if err := l.client.Del(ctx, l.Key(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: reset: %w", err)
	}
	return nil
}

// retryAfter rounds up to whole seconds, at least one, as Retry-After
// carries them (the same rounding as httpauth.MemoryLimiter).
func retryAfter(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return s * time.Second
}
