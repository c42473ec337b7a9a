package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth"
)

// LimiterOptions configures a Limiter. The zero value is valid and takes
// the defaults of httpauth's in-memory limiter: 10 attempts per 15 minutes.
type LimiterOptions struct {
	// Prefix starts every key the limiter writes, and its pub/sub channel
	// (prefix + "locks"). Default DefaultPrefix. httpauth namespaces its
	// keys ("login:…", "client:…"), so a per-login and a per-client limiter
	// may share a prefix; separate prefixes only make them easier to tell
	// apart. Two applications sharing a Redis database need different
	// prefixes. The keys carry their own Redis Cluster hash tags (one of
	// 256 buckets per counter, see Key), so on a cluster they spread over
	// the masters; a prefix with a hash tag of its own ("{myapp}:") still
	// works but puts every key of the limiter in that one slot. A prefix
	// with an unclosed or empty hash tag ("a{", "{}") is refused, since it
	// would split a script's keys over slots.
	Prefix string

	// MaxFailures is how many attempts within Window make a key refused
	// until the window ends (a success resets the count). Default 10.
	MaxFailures int

	// Window is the length of the fixed window that starts at a key's
	// first attempt. Default 15 minutes. It is rounded up to whole
	// milliseconds.
	Window time.Duration

	// LocalLocks bounds the process-local set of locked keys that lets
	// Allow answer without Redis, about 150 bytes each. Default 10000;
	// negative turns it off (every Allow reads Redis). When more keys are
	// locked at once, Allow reads Redis until a resynchronisation, retried
	// every 10 s, finds fewer.
	LocalLocks int

	// MaxSilence is how long the local lock set stays trusted without
	// hearing from the subscription. Default DefaultMaxSilence (1s).
	MaxSilence time.Duration

	// ClusterRecheck is how often, on a Redis Cluster (a
	// *redis.ClusterClient), the local lock set is read again from Redis
	// even while the subscription is live: the cluster bus drops the
	// notifications it carries when the link between two masters resets,
	// so a lock can go unheard, and this bounds for how long
	// (TestClusterBusLinkReset). The price is one read of every lock index
	// per ClusterRecheck (a count first, as after a resubscription).
	// Default DefaultClusterRecheck (10s); negative turns it off. Ignored
	// elsewhere, as RevocationOptions.ClusterRecheck is.
	ClusterRecheck time.Duration

	// ReplicaAcks, if positive, makes the Reserve that locks a key wait
	// (Redis's WAIT) until that many replicas have the lock, and fail
	// (not allowed, an error) if fewer do within ReplicaTimeout, so that a
	// lock that was answered survives a failover. Attempts below the limit
	// do not wait. See RevocationOptions.ReplicaAcks. Default 0.
	ReplicaAcks int

	// ReplicaTimeout bounds the wait for ReplicaAcks. Default
	// DefaultReplicaTimeout (1s).
	ReplicaTimeout time.Duration
}

// DefaultLocalLocks is LimiterOptions.LocalLocks' default.
const DefaultLocalLocks = 10000

// Limiter is an httpauth.Limiter in Redis, with the semantics of
// httpauth.NewMemoryLimiter's. It is safe for concurrent use, also across
// processes sharing the Redis database.
//
// Each key with attempts is one Redis counter, named by the SHA-256 of the
// key (see [Limiter.Key]), that expires when its window ends. Reserve is
// one script: it refuses a key at the limit without writing, and otherwise
// increments its counter; a key that reaches the limit is added to its
// bucket's lock index and published, and Reset removes and publishes it
// again. So every instance keeps the set of locked keys, and Allow, the
// check of a cached credential, needs no round trip while the subscription
// is live.
//
// The counters are spread over 256 buckets by the first byte of their
// SHA-256, and each bucket has its own lock index in the same Redis
// Cluster hash slot (the bucket is the hash tag of both), so every script
// touches the keys of one slot, and the limiter's keys spread over a
// cluster's masters.
type Limiter struct {
	client redis.UniversalClient
	prefix string
	max    int64
	window time.Duration
	sub    *subscriber // nil when LocalLocks < 0
	reps   replicas

	mu       sync.Mutex
	locks    map[string]int64 // counter key → lock end, local unix nanos
	maxLocks int
	complete bool // locks holds every lock: resynchronised since the last (re)subscription, no overflow
	// unlockedInResync holds the keys Reset unlocked while a resync was
	// reading the indexes (nil outside one): its read may predate the
	// unlock, and must not bring the lock back.
	unlockedInResync map[string]bool
	// awaitingUnlock counts, per key, the unlocks this instance published
	// (Reset of a locked key) that its feed has not delivered back yet.
	// Until it has, the key's lock notification may still be on its way,
	// and would lock the key here again: Allow asks Redis instead.
	awaitingUnlock map[string]int
	// nextResync is when a failed resync may run again: soon after an
	// error (Redis coming back), later after an overflow, since an
	// overflowing lock index is costly to read.
	nextResync time.Time
	// recheck is ClusterRecheck in force (0: never), and lastResync when
	// the last resync began.
	recheck    time.Duration
	lastResync time.Time
}

// lockEndMargin is how long after a lock's local end Allow still asks
// Redis rather than its local set.
const lockEndMargin = time.Second

// The defaults of LimiterOptions, those of httpauth.NewMemoryLimiter.
const (
	defaultMaxFailures   = 10
	defaultFailureWindow = 15 * time.Minute
)

const (
	resyncRetryError    = time.Second
	resyncRetryOverflow = 10 * time.Second
)

var _ httpauth.Limiter = (*Limiter)(nil)

const (
	lockIndexSpace = "locked:"
	locksChannel   = "locks"
)

// lockBuckets is the number of lock indexes: a counter's bucket is the
// first byte of its SHA-256. A resynchronisation reads every index, in one
// pipeline; 256 spreads a cluster's share of the limiter's keys evenly
// enough over dozens of masters.
const lockBuckets = 256

// NewLimiter returns a Limiter that counts attempts in client. It returns
// an error if client is nil or opts is invalid. It does not contact Redis;
// its subscriber starts on first use.
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
		opts.MaxFailures = defaultMaxFailures
	}
	switch {
	case opts.Window < 0:
		return nil, fmt.Errorf("redisstore: Window %v is negative", opts.Window)
	case opts.Window == 0:
		opts.Window = defaultFailureWindow
	}
	maxSilence, err := checkMaxSilence(opts.MaxSilence)
	if err != nil {
		return nil, err
	}
	reps, err := checkReplicas(client, opts.ReplicaAcks, opts.ReplicaTimeout)
	if err != nil {
		return nil, err
	}
	if opts.LocalLocks == 0 {
		opts.LocalLocks = DefaultLocalLocks
	}
	l := &Limiter{
		reps:           reps,
		client:         client,
		prefix:         prefix,
		max:            int64(opts.MaxFailures),
		window:         ceilMillis(opts.Window),
		locks:          map[string]int64{},
		awaitingUnlock: map[string]int{},
		maxLocks:       opts.LocalLocks,
	}
	if opts.LocalLocks > 0 {
		l.sub = newSubscriber(client, prefix+locksChannel, maxSilence)
		l.sub.onDown = func() { l.setIncomplete() }
		l.sub.onUp = l.resync
		l.recheck = clusterRecheck(client, opts.ClusterRecheck)
		l.sub.onPong = func(ctx context.Context) {
			now := time.Now()
			l.mu.Lock()
			retry := !l.complete && !now.Before(l.nextResync)
			recheck := l.complete && l.recheck > 0 && now.Sub(l.lastResync) >= l.recheck
			l.mu.Unlock()
			if retry || recheck {
				// A failed or overflowed resync is retried, not too
				// often; on a cluster a complete set is also read again
				// every ClusterRecheck.
				l.resync(ctx)
			}
		}
		l.sub.onMessage = l.apply
	}
	return l, nil
}

// Key returns the Redis key that counts the attempts of key:
// prefix + "fail:{" + bucket + "}:" + the SHA-256 of key as 64 hex digits,
// where bucket is the first two of those digits. Hashing makes any bytes
// safe and bounds the key's length; it does not hide the login, which a
// dictionary recovers. The braces are a Redis Cluster hash tag: the
// counter shares its slot with its bucket's lock index.
func (l *Limiter) Key(key string) string {
	ck, _ := l.keys(key)
	return ck
}

// keys returns the counter of key and its bucket's lock index.
func (l *Limiter) keys(key string) (counter, index string) {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return l.prefix + failSpace + "{" + h[:2] + "}:" + h, l.indexKey(h[:2])
}

// indexKey returns the lock index of a bucket (two hex digits):
// prefix + "locked:{" + bucket + "}".
func (l *Limiter) indexKey(bucket string) string {
	return l.prefix + lockIndexSpace + "{" + bucket + "}"
}

// Live reports whether the local lock set is trusted now: the subscription
// is up, heard from within MaxSilence, and the set is complete. While it is
// not, Allow reads Redis. Always false with LocalLocks negative.
func (l *Limiter) Live() bool {
	if l.sub == nil {
		return false
	}
	l.sub.start()
	l.mu.Lock()
	complete := l.complete
	l.mu.Unlock()
	return complete && l.sub.feed.Live()
}

// Close stops the limiter's subscriber. The limiter keeps working, reading
// Redis on every Allow. It does not close the client.
func (l *Limiter) Close() error {
	if l.sub != nil {
		l.sub.close()
	}
	return nil
}

// reserveScript counts one attempt unless the key is at the limit. The
// window starts at the first attempt: the expiry is set only when the
// counter is new (or, defensively, when it somehow has none). A refusal
// writes nothing. A key that reaches the limit joins the lock index and is
// published ("L <ms left> <counter>").
//
// KEYS[1] counter, KEYS[2] its bucket's lock index (one slot); ARGV[1]
// window in milliseconds,
// ARGV[2] limit, ARGV[3] channel. Returns {ok, ms left, locked now}.
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local n = 0
if v then
	n = tonumber(v)
	if not n then
		return redis.error_reply('ERR httpauth counter is not a number')
	end
end
local limit = tonumber(ARGV[2])
if n >= limit then
	local ttl = redis.call('PTTL', KEYS[1])
	if ttl < 0 then
		redis.call('PEXPIRE', KEYS[1], ARGV[1])
		ttl = tonumber(ARGV[1])
	end
	return {0, ttl, 0}
end
n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
if n < limit then
	return {1, ttl, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'L ' .. ttl .. ' ' .. KEYS[1])
return {1, ttl, 1}
`)

// resetScript deletes a counter and, if it was locked, unlocks it
// everywhere ("U <counter>").
//
// KEYS[1] counter, KEYS[2] its bucket's lock index; ARGV[1] channel.
var resetScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
if redis.call('ZREM', KEYS[2], KEYS[1]) > 0 then
	redis.call('PUBLISH', ARGV[1], 'U ' .. KEYS[1])
	return 1
end
return 0
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

// resyncScript lists the locks of one bucket that have not ended, with the
// clock of the Redis that holds it.
//
// KEYS[1] lock index; ARGV[1] how many at most. Returns {now ms, key,
// end ms, key, end ms, …}.
var resyncScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
table.insert(r, 1, tostring(now))
return r
`)

// countScript counts one bucket's live locks: a resync adds them up before
// it reads any, so that a lock set too large for LocalLocks costs 256
// counts to find out, not a transfer of every lock (115 MiB at 10⁶ locks,
// BENCHMARKS.md's cost curves), again at every retry.
var countScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`)

// Reserve implements httpauth.Limiter: one script that refuses a key at
// its limit and otherwise counts the attempt. Any error, such as a write
// refused by a full Redis, is returned with ok false.
func (l *Limiter) Reserve(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("redisstore: reserve: %w", err)
	}
	if l.sub != nil {
		l.sub.start()
	}
	ck, index := l.keys(key)
	reply, err := l.reps.run(ctx, l.client, reserveScript, []string{ck, index}, lockedNow,
		l.window.Milliseconds(), l.max, l.prefix+locksChannel)
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: reserve: %w", err)
	}
	res, err := int64s(reply)
	if err != nil || len(res) != 3 {
		return false, 0, fmt.Errorf("redisstore: reserve: unexpected reply %v", reply)
	}
	left := time.Duration(res[1]) * time.Millisecond
	if res[2] == 1 {
		l.lock(ck, time.Now().Add(left)) // not waiting for our own notification
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, retryAfter(left), nil
}

// lockedNow reports whether a reply of reserveScript locked its key.
func lockedNow(reply any) bool {
	res, err := int64s(reply)
	return err != nil || len(res) != 3 || res[2] == 1 // unsure: wait
}

// int64s reads a script's reply of integers.
func int64s(reply any) ([]int64, error) {
	vals, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("not an array: %T", reply)
	}
	res := make([]int64, len(vals))
	for i, v := range vals {
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is %T", i, v)
		}
		res[i] = n
	}
	return res, nil
}

// Allow implements httpauth.Limiter. While the limiter is live it answers
// from its local lock set; otherwise, and for a key this instance reset
// until the unlock has come back through the feed, it reads the counter. On any error it
// returns false: a limiter that cannot be asked never allows.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("redisstore: allow: %w", err)
	}
	ck := l.Key(key)
	if l.sub != nil {
		l.sub.start()
		if l.sub.feed.Live() {
			now := time.Now().UnixNano()
			l.mu.Lock()
			complete := l.complete && l.awaitingUnlock[ck] == 0
			end, locked := l.locks[ck]
			l.mu.Unlock()
			if complete && l.sub.feed.Live() {
				if locked && now < end {
					return false, retryAfter(time.Duration(end - now)), nil
				}
				// A lock's local end is reckoned from millisecond figures
				// and may come a little before Redis expires the counter:
				// just after it, Redis has the last word.
				if !locked || now >= end+int64(lockEndMargin) {
					return true, 0, nil
				}
			}
		}
	}
	res, err := allowScript.Run(ctx, l.client, []string{ck}, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		reloadIfStale(l.client, err)
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

// Reset implements httpauth.Limiter. It deletes the counter of key and,
// if the key was locked, publishes the unlock.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: reset: %w", err)
	}
	ck, index := l.keys(key)
	published, err := resetScript.Run(ctx, l.client, []string{ck, index}, l.prefix+locksChannel).Int()
	if err != nil {
		reloadIfStale(l.client, err)
		return fmt.Errorf("redisstore: reset: %w", err)
	}
	l.mu.Lock()
	if published == 1 && l.sub != nil {
		l.awaitingUnlock[ck]++
	}
	l.mu.Unlock()
	l.unlock(ck)
	return nil
}

func (l *Limiter) setIncomplete() {
	l.mu.Lock()
	l.complete = false
	clear(l.locks)
	clear(l.awaitingUnlock) // the feed starts over: nothing is on its way
	l.mu.Unlock()
}

// lock records a lock; a full set is no longer complete.
func (l *Limiter) lock(ck string, end time.Time) {
	if l.sub == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.locks[ck]; !ok && len(l.locks) >= l.maxLocks {
		now := time.Now().UnixNano()
		for k, e := range l.locks {
			if now >= e {
				delete(l.locks, k)
			}
		}
		if len(l.locks) >= l.maxLocks {
			l.complete = false // overflow: Allow reads Redis until resynchronised
			clear(l.locks)
			return
		}
	}
	l.locks[ck] = end.UnixNano()
}

func (l *Limiter) unlock(ck string) {
	l.mu.Lock()
	delete(l.locks, ck)
	if l.unlockedInResync != nil {
		l.unlockedInResync[ck] = true
	}
	l.mu.Unlock()
}

// apply handles one notification. It runs on the subscriber's goroutine,
// in publication order.
func (l *Limiter) apply(payload string) {
	kind, rest, _ := strings.Cut(payload, " ")
	switch kind {
	case "L":
		ms, ck, ok := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(ms, 10, 64)
		if ok && err == nil {
			l.lock(ck, time.Now().Add(time.Duration(n)*time.Millisecond))
			return
		}
	case "U":
		l.mu.Lock()
		if n := l.awaitingUnlock[rest]; n > 1 {
			l.awaitingUnlock[rest] = n - 1
		} else {
			delete(l.awaitingUnlock, rest)
		}
		l.mu.Unlock()
		l.unlock(rest)
		return
	}
	l.setIncomplete() // a message we do not understand: trust nothing local
}

// resync loads the locks in force. It runs on the subscriber's goroutine
// after each subscription, before the feed goes live, so notifications
// published meanwhile are applied after it, in order. It reads every
// bucket's index in one pipeline (on a cluster, one per master, in
// parallel); any error leaves the set incomplete.
func (l *Limiter) resync(ctx context.Context) {
	l.setIncomplete()
	l.mu.Lock()
	l.lastResync = time.Now()
	l.nextResync = l.lastResync.Add(resyncRetryError)
	l.unlockedInResync = map[string]bool{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.unlockedInResync = nil
		l.mu.Unlock()
	}()
	total, err := l.countLocks(ctx)
	if err == nil && total > int64(l.maxLocks) {
		l.mu.Lock()
		l.nextResync = time.Now().Add(resyncRetryOverflow)
		l.mu.Unlock()
		return // overflow: stays incomplete, without reading the locks
	}
	var replies [][]string
	if err == nil {
		replies, err = l.readIndexes(ctx)
	}
	if err != nil {
		reloadIfStale(l.client, err)
		return // stays incomplete: Allow reads Redis; retried at a later heartbeat
	}
	now := time.Now()
	locks := make(map[string]int64)
	for _, res := range replies {
		if len(res)%2 != 1 {
			return
		}
		serverNow, err := strconv.ParseInt(res[0], 10, 64)
		if err != nil {
			return
		}
		if len(locks)+(len(res)-1)/2 > l.maxLocks {
			l.mu.Lock()
			l.nextResync = time.Now().Add(resyncRetryOverflow)
			l.mu.Unlock()
			return
		}
		for i := 1; i+1 < len(res); i += 2 {
			end, err := strconv.ParseFloat(res[i+1], 64)
			if err != nil {
				return
			}
			locks[res[i]] = now.Add(time.Duration(int64(end)-serverNow) * time.Millisecond).UnixNano()
		}
	}
	l.mu.Lock()
	// A key Reset unlocked meanwhile may be in a bucket read before the
	// unlock: drop it, or it would stay locked here until the unlock's own
	// notification arrived.
	for k := range l.unlockedInResync {
		delete(locks, k)
	}
	// Locks this instance made while the indexes were being read are
	// already in l.locks but may be missing from a bucket read before
	// them; their own notifications come only after the feed is up. Keep
	// them (a key locked again after such a Reset included).
	for k, e := range l.locks {
		if _, ok := locks[k]; !ok {
			if len(locks) >= l.maxLocks {
				l.mu.Unlock()
				return // overflow: stays incomplete
			}
			locks[k] = e
		}
	}
	l.locks = locks
	l.complete = true
	l.mu.Unlock()
}

// countLocks adds up the live locks of every bucket's index.
func (l *Limiter) countLocks(ctx context.Context) (int64, error) {
	cmds, err := l.onEveryBucket(ctx, countScript)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// onEveryBucket runs script on every bucket's index in one pipeline, with
// l.maxLocks+1 as its argument, loading the script first if Redis does not
// have it (after a restart, a failover or SCRIPT FLUSH; on a cluster,
// loading reaches every master).
func (l *Limiter) onEveryBucket(ctx context.Context, script *redis.Script) ([]*redis.Cmd, error) {
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, lockBuckets)
		_, err := l.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for b := range lockBuckets {
				cmds[b] = script.EvalSha(ctx, p, []string{l.indexKey(fmt.Sprintf("%02x", b))}, l.maxLocks+1)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = script.Load(ctx, l.client).Err(); err == nil {
			cmds, err = run()
		}
	}
	return cmds, err
}

// readIndexes runs resyncScript on every bucket's index.
func (l *Limiter) readIndexes(ctx context.Context) ([][]string, error) {
	cmds, err := l.onEveryBucket(ctx, resyncScript)
	if err != nil {
		return nil, err
	}
	replies := make([][]string, len(cmds))
	for i, c := range cmds {
		if replies[i], err = c.StringSlice(); err != nil {
			return nil, err
		}
	}
	return replies, nil
}

// retryAfter rounds up to whole seconds, at least one, as Retry-After
// carries them (the same rounding as httpauth.NewMemoryLimiter's).
func retryAfter(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return s * time.Second
}
