// Package redisstore keeps httpauth's token revocations and failed-login
// counts in Redis, so that every instance of a service shares them.
//
// [RevocationStore] implements httpauth.RevocationStore: each revocation is
// one key that expires with its token, so nothing needs cleaning up.
// [Limiter] implements httpauth.Limiter with the semantics of
// httpauth.NewMemoryLimiter's: a fixed window that starts at a key's first
// attempt; Reserve counts an attempt and refuses past the limit in one Lua
// script, before httpauth runs any hash.
//
// Both keep process-local state so that a repeat request makes no Redis
// round trip: verdicts on token IDs, and the set of locked keys. That state
// is trusted only while a pub/sub subscription proves it current (see
// Live); changes are published by the same scripts that make them, and a
// lost or silent subscription sends every call back to Redis until it has
// resubscribed. Call Close to stop the subscriber.
//
// Both fail closed: when Redis cannot be reached or answers with an error,
// every method returns that error (wrapped), never "not revoked" or
// "allowed", and httpauth answers the request with a 500. A count that
// cannot be written (a full Redis under noeviction) is such an error, so
// it runs no hash.
//
// Both take any go-redis client ([redis.Client], [redis.ClusterClient],
// a failover client or a [redis.Ring]) through [redis.UniversalClient].
// See README.md for the key layout, Redis Cluster and operational notes.
package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore/internal/localstate"
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
	// Redis Cluster hashes only the part between the first "{" and the
	// next "}", if not empty. A prefix that opens a tag must close a
	// non-empty one, or the keys' own tags would not be the ones hashed
	// and a script's keys could fall in different slots (CROSSSLOT).
	if i := strings.IndexByte(prefix, '{'); i >= 0 {
		if j := strings.IndexByte(prefix[i+1:], '}'); j <= 0 {
			return "", fmt.Errorf("redisstore: Prefix %q opens a Redis Cluster hash tag that it does not close around a non-empty name", prefix)
		}
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
	// Prefix starts every key the store writes, and names its pub/sub
	// channel (prefix + "revoked"). Default DefaultPrefix. Give each
	// application sharing a Redis database its own prefix.
	Prefix string

	// ExtraTTL keeps each revocation this much longer than its token's
	// expiry, to cover clock skew between the instances that check tokens:
	// an instance whose clock is behind still accepts a token until its
	// own clock reaches the expiry. Default 0; at most 24 hours.
	ExtraTTL time.Duration

	// CacheSize bounds the process-local verdicts (revoked or not, per
	// token ID) that spare a repeat token its Redis round trip, about
	// 100 bytes each. Default 100000 (about 10 MB); negative turns the
	// cache off, so every IsRevoked reads Redis.
	CacheSize int

	// MaxSilence is how long cached verdicts stay trusted without hearing
	// from the subscription; the store pings it every MaxSilence/4.
	// Default DefaultMaxSilence (1s).
	MaxSilence time.Duration

	// ClusterRecheck is how long, on a Redis Cluster (a
	// *redis.ClusterClient), a cached verdict is trusted before it is read
	// again, even while the subscription is live: the cluster bus drops
	// the notifications it carries when the link between two masters
	// resets, so a revocation can go unheard, and this bounds for how long
	// (TestClusterBusLinkReset). The price is one read per token in use per
	// ClusterRecheck. Default DefaultClusterRecheck (10s); negative turns
	// it off. Ignored elsewhere: a standalone or Sentinel-managed Redis
	// delivers every notification on the subscription's own connection.
	ClusterRecheck time.Duration

	// ReplicaAcks, if positive, makes Revoke wait (Redis's WAIT, on the
	// connection that wrote) until that many replicas of the key's master
	// have the revocation, and fail if fewer do within ReplicaTimeout.
	// Redis replicates asynchronously: without it, a revocation
	// acknowledged just before the master dies may be missing on the
	// replica promoted in its place (Sentinel or cluster failover), and the
	// token works again. It needs a *redis.Client (standalone or
	// redis.NewFailoverClient) or a *redis.ClusterClient. Default 0.
	ReplicaAcks int

	// ReplicaTimeout bounds the wait for ReplicaAcks. Default
	// DefaultReplicaTimeout (1s).
	ReplicaTimeout time.Duration
}

// RevocationStore is an httpauth.RevocationStore in Redis. It is safe for
// concurrent use.
//
// IsRevoked answers from a process-local cache while the store's
// subscription is live (see Live), and reads Redis otherwise. Revoke
// writes the key and publishes the ID in one script, so every subscribed
// instance drops its cached verdict when the notification arrives. On a
// Redis Cluster a verdict is also read again once it is ClusterRecheck old.
type RevocationStore struct {
	client   redis.UniversalClient
	prefix   string
	extraTTL time.Duration
	replicas replicas
	sub      *subscriber                        // nil when the cache is off
	cache    *localstate.Cache[[16]byte, int64] // revoked until (unix nanos), 0 = not revoked
}

var _ httpauth.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns a RevocationStore that keeps revocations in
// client. It returns an error if client is nil or opts is invalid. It does
// not contact Redis; its subscriber starts on first use.
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
	maxSilence, err := checkMaxSilence(opts.MaxSilence)
	if err != nil {
		return nil, err
	}
	reps, err := checkReplicas(client, opts.ReplicaAcks, opts.ReplicaTimeout)
	if err != nil {
		return nil, err
	}
	s := &RevocationStore{client: client, prefix: prefix, extraTTL: opts.ExtraTTL, replicas: reps}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultRevocationCacheSize
	}
	if opts.CacheSize > 0 {
		s.sub = newSubscriber(client, prefix+revokedChannel, maxSilence)
		s.cache = localstate.NewCache[[16]byte, int64](s.sub.feed, opts.CacheSize)
		s.cache.SetMaxAge(clusterRecheck(client, opts.ClusterRecheck))
		s.sub.onMessage = func(payload string) {
			var id [16]byte
			if len(payload) == 2*len(id) {
				if _, err := hex.Decode(id[:], []byte(payload)); err == nil {
					s.cache.Invalidate(id)
					return
				}
			}
			s.cache.InvalidateFunc(func([16]byte, int64) bool { return true }) // unknown message: drop all
		}
	}
	return s, nil
}

// DefaultRevocationCacheSize is RevocationOptions.CacheSize's default.
const DefaultRevocationCacheSize = 100000

const revokedChannel = "revoked"

func checkMaxSilence(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("redisstore: MaxSilence %v is negative", d)
	case d == 0:
		return DefaultMaxSilence, nil
	}
	return d, nil
}

// Key returns the Redis key that records the revocation of id:
// prefix + "revoked:" + id as 32 hex digits.
func (s *RevocationStore) Key(id [16]byte) string {
	return s.prefix + revokedSpace + hex.EncodeToString(id[:])
}

// Live reports whether the store's local verdicts are trusted now: its
// subscription is up and has been heard from within MaxSilence. While it
// is not, IsRevoked reads Redis. Always false with the cache off.
func (s *RevocationStore) Live() bool {
	if s.sub == nil {
		return false
	}
	s.sub.start()
	return s.sub.feed.Live()
}

// Close stops the store's subscriber. The store keeps working without its
// cache, reading Redis on every call. It does not close the client.
func (s *RevocationStore) Close() error {
	if s.sub != nil {
		s.sub.close()
	}
	return nil
}

// revokeScript sets the revocation and tells every subscriber, in one step.
//
// KEYS[1] revocation; ARGV[1] TTL in milliseconds, ARGV[2] channel,
// ARGV[3] the ID.
var revokeScript = redis.NewScript(`
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// Revoke implements httpauth.RevocationStore. It sets the key of id with a
// time to live that ends at expiresAt plus ExtraTTL, measured by this
// process's clock, and publishes id. A token past that time is not stored.
func (s *RevocationStore) Revoke(ctx context.Context, id [16]byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	ttl := time.Until(expiresAt) + s.extraTTL
	if ttl <= 0 {
		return nil // already dead everywhere: nothing to remember
	}
	ttl = ceilMillis(ttl)
	_, err := s.replicas.run(ctx, s.client, revokeScript, []string{s.Key(id)}, func(any) bool { return true },
		ttl.Milliseconds(), s.prefix+revokedChannel, hex.EncodeToString(id[:]))
	if s.cache != nil {
		// Also on error: the write may have happened. This instance must
		// not wait for its own notification.
		s.cache.Invalidate(id)
	}
	if err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	return nil
}

// IsRevoked implements httpauth.RevocationStore. While the store is live
// it answers a repeat ID from its cache; otherwise it reads Redis (PTTL)
// and, if still live and nothing about any ID was published meanwhile,
// caches the verdict. Any error from Redis is returned with revoked false;
// httpauth treats it as a failure, never as "not revoked".
func (s *RevocationStore) IsRevoked(ctx context.Context, id [16]byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("redisstore: is revoked: %w", err)
	}
	var ticket localstate.Ticket
	if s.cache != nil {
		s.sub.start()
		if until, ok := s.cache.Get(id); ok {
			return until != 0 && time.Now().UnixNano() < until, nil
		}
		ticket = s.cache.Ticket()
	}
	start := time.Now()
	ms, err := s.client.PTTL(ctx, s.Key(id)).Result()
	if err != nil {
		reloadIfStale(s.client, err)
		return false, fmt.Errorf("redisstore: is revoked: %w", err)
	}
	// go-redis reports PTTL's -2 (no key) and -1 (no expiry) as those
	// durations, not as milliseconds.
	var until int64
	switch {
	case ms == -2 || ms == -2*time.Millisecond:
		until = 0
	case ms < 0:
		until = math.MaxInt64 // no expiry: revoked for as long as it stays
	default:
		until = start.Add(ms).UnixNano() // measured from before the read: never late
	}
	if s.cache != nil {
		s.cache.Put(id, until, ticket)
	}
	return until != 0, nil
}
