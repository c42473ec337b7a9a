package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore/internal/localstate"
)

// DefaultNotifyChannel is the channel that the trigger installed by
// Migrate notifies and that Config.NotifyChannel defaults to.
const DefaultNotifyChannel = "httpauth_users"

// DefaultCacheMaxSilence is the default of Config.CacheMaxSilence.
const DefaultCacheMaxSilence = time.Second

// DefaultCacheMaxAge is the default of Config.CacheMaxAge: the longest a
// cached account is served before it is read again, whatever the
// notifications say.
const DefaultCacheMaxAge = 5 * time.Second

// heartbeatSetting is the transaction-local setting that tells the
// trigger a zero-row UPDATE is a heartbeat, and on which channel to echo.
const heartbeatSetting = "httpauth.heartbeat"

// Reconnection backoff of the listener.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// cacheKey is a cache key: an account by ID, or a normalized login.
type cacheKey struct {
	byLogin bool
	s       string
}

// cached is a cache value. An ID entry holds the account and its
// normalized login; a login entry holds only the account's ID, so that
// invalidating an ID needs no scan: a login entry is used only while the
// ID entry it points to is present and still has that login.
type cached[U any] struct {
	acct  *httpauth.Account[U]
	login string // normalized login of acct (ID entries)
	id    string // login entries
	read  int64  // Unix nanoseconds before the read that filled it (ID entries)

	// sfOff records, in an ID entry, that SecondFactor found the factor
	// off (no secret, no pending secret, last step 0) in a read that
	// started after the entry's ticket and during sfEpoch. It dies with
	// the entry, at every change to either table (see secondFactorOff).
	sfOff   bool
	sfEpoch uint64
}

// accountCache is the process-local account cache of a PostgreSQL store,
// trusted only while its LISTEN connection is live.
type accountCache[U any] struct {
	feed    *localstate.Feed
	entries *localstate.Cache[cacheKey, cached[U]]

	changes    ChangeFeed
	rawChannel string // the change channel, unquoted
	heartbeat  string // this store's own channel for heartbeats, unquoted
	beatSQL    string // the heartbeat: a zero-row UPDATE of the users table
	maxAge     int64  // nanoseconds an entry is served without a read
	now        func() time.Time

	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once

	pid    atomic.Uint32 // backend PID of the live LISTEN connection (tests)
	echoes atomic.Uint64 // heartbeat echoes received

	// The second factor's echo: the heartbeat's second answer, sent only
	// while httpauth_second_factor's change triggers notify our channel
	// too. sfBeat is when the last one came (Unix nanoseconds, 0: none on
	// this connection); sfEpoch moves on each one that ends a silence of
	// MaxSilence or more, voiding every sfOff recorded before it.
	sfBeat   atomic.Int64
	sfEpoch  atomic.Uint64
	sfEchoes atomic.Uint64 // tests

	// backend is pg_backend_pid() of the LISTEN connection: listener
	// goroutine only (and connect in New, before it starts).
	backend uint32

	// hook, when set by a test, is called with "reconnect" after the feed
	// went down and before each reconnection attempt, and with "wait"
	// before each wait for a notification.
	hook atomic.Pointer[func(event string)]
}

// cacheConfig is what newAccountCache needs to know.
type cacheConfig struct {
	size               int
	maxSilence, maxAge time.Duration
	rawChannel         string // the change channel, validated, unquoted
	table, idColumn    string // quoted: the users table, for the heartbeat
	changes            ChangeFeed
}

func newAccountCache[U any](cc cacheConfig) *accountCache[U] {
	feed := localstate.NewFeed(cc.maxSilence, nil)
	var b [8]byte
	_, _ = crand.Read(b[:])
	heartbeat := "httpauth_heartbeat_" + hex.EncodeToString(b[:])
	return &accountCache[U]{
		feed:       feed,
		entries:    localstate.NewCache[cacheKey, cached[U]](feed, 2*cc.size), // an ID and a login entry per account
		changes:    cc.changes,
		rawChannel: cc.rawChannel,
		heartbeat:  heartbeat,
		// One implicit transaction (simple protocol): the setting is
		// local to it. The UPDATE changes no row; its statement-level
		// trigger echoes on our heartbeat channel only while the
		// row-level change trigger is in place (schema/postgres.sql).
		beatSQL: "SELECT set_config('" + heartbeatSetting + "', '" + heartbeat + "', true); " +
			"UPDATE " + cc.table + " SET " + cc.idColumn + " = " + cc.idColumn + " WHERE false",
		maxAge: int64(cc.maxAge),
		now:    time.Now,
		done:   make(chan struct{}),
	}
}

// fresh reports whether an entry filled by a read that started at read
// (Unix nanoseconds) may still be served.
func (c *accountCache[U]) fresh(read int64) bool {
	return c.now().UnixNano()-read < c.maxAge
}

// get returns the cached account by ID, or by normalized login.
func (c *accountCache[U]) get(k cacheKey) (*httpauth.Account[U], bool) {
	if !k.byLogin {
		v, ok := c.entries.Get(k)
		if !ok || !c.fresh(v.read) {
			return nil, false
		}
		return v.acct, true
	}
	l, ok := c.entries.Get(k)
	if !ok {
		return nil, false
	}
	v, ok := c.entries.Get(cacheKey{s: l.id})
	if !ok || v.login != k.s || !c.fresh(v.read) {
		return nil, false
	}
	return v.acct, true
}

// ticket is taken before a read: the cache's ticket and the time the read
// started, from which the entry's age counts, and the second factor's
// epoch.
type ticket struct {
	t       localstate.Ticket
	read    int64
	sfEpoch uint64
}

func (c *accountCache[U]) ticket() ticket {
	return ticket{t: c.entries.Ticket(), read: c.now().UnixNano(), sfEpoch: c.sfEpoch.Load()}
}

// secondFactorLive reports whether the second factor's echo came within
// MaxSilence: its triggers notify our channel.
func (c *accountCache[U]) secondFactorLive() bool {
	b := c.sfBeat.Load()
	return b != 0 && c.now().UnixNano()-b < int64(c.feed.MaxSilence())
}

// secondFactorOff reports whether account id's second factor is known to
// be off: the cache is trusted (feed live, the entry younger than
// CacheMaxAge), the second factor's triggers are known to be in place,
// and a read since the entry was filled, in the current second-factor
// epoch, found it off. Any doubt is false, and the caller reads.
func (c *accountCache[U]) secondFactorOff(id string) bool {
	if !c.secondFactorLive() {
		return false
	}
	v, ok := c.entries.Get(cacheKey{s: id})
	return ok && v.sfOff && v.sfEpoch == c.sfEpoch.Load() && c.fresh(v.read)
}

// setSecondFactorOff records in account id's entry, if it is cached, that
// a read that started with tk found its second factor off; nothing, if
// any change arrived since tk (the entry's own ticket rule).
func (c *accountCache[U]) setSecondFactorOff(id string, tk ticket) {
	c.entries.Update(cacheKey{s: id}, tk.t, func(v cached[U]) cached[U] {
		v.sfOff, v.sfEpoch = true, tk.sfEpoch
		return v
	})
}

// put caches a, whose normalized login is login, read with ticket t by ID
// or by the normalized login loginKey ("" for a read by ID).
func (c *accountCache[U]) put(a *httpauth.Account[U], login, loginKey string, tk ticket) {
	t := tk.t
	c.entries.Put(cacheKey{s: a.ID}, cached[U]{acct: a, login: login, read: tk.read}, t)
	if loginKey != "" && loginKey == login {
		c.entries.Put(cacheKey{byLogin: true, s: loginKey}, cached[U]{id: a.ID}, t)
	}
}

// invalidate drops account id (its login entries die with it, see cached)
// and voids every read in flight. The empty ID drops everything.
func (c *accountCache[U]) invalidate(id string) {
	if id == "" {
		c.entries.InvalidateFunc(func(cacheKey, cached[U]) bool { return true })
		return
	}
	c.entries.Invalidate(cacheKey{s: id})
}

// invalidateLogin drops the login entry of a normalized login.
func (c *accountCache[U]) invalidateLogin(login string) {
	c.entries.Invalidate(cacheKey{byLogin: true, s: login})
}

// start connects the listener once, so that New fails on a database that
// cannot LISTEN, then keeps it connected in the background until close.
func (c *accountCache[U]) start(ctx context.Context) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(lctx, conn)
	return nil
}

// close stops the listener and waits for it.
func (c *accountCache[U]) close() {
	c.stop.Do(func() {
		if c.cancel != nil {
			c.cancel()
			<-c.done
		}
		c.feed.Down()
	})
}

// connect opens a dedicated connection through the ChangeFeed (pgfeed
// takes the settings of one of db's own afresh each time, so rotated
// credentials are picked up), LISTENs on the channel, and marks the feed
// up once a heartbeat has come back.
func (c *accountCache[U]) connect(ctx context.Context) (FeedConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := c.changes.Listen(ctx, []string{c.rawChannel, c.heartbeat}, c.onNotification)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: listener: %w", err)
	}
	c.backend = conn.PID()
	c.sfBeat.Store(0) // and the second factor, once its echo has
	// Trusted only once a heartbeat has come back through the trigger.
	seen := c.echoes.Load()
	err = c.sendHeartbeat(ctx, conn, 0)
	for err == nil && c.echoes.Load() == seen {
		// The echo normally comes with the answer; wait for a late one,
		// but not for long: a missing trigger never answers.
		wctx, wcancel := context.WithTimeout(ctx, c.feed.MaxSilence())
		err = conn.Wait(wctx)
		wcancel()
	}
	if err != nil {
		_ = conn.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, errNoHeartbeat
		}
		return nil, fmt.Errorf("sqlstore: listener: heartbeat: %w", err)
	}
	c.pid.Store(c.backend)
	c.feed.Up() // empties the cache: whatever was sent before LISTEN is lost
	return conn, nil
}

// secondFactorEcho ends the payload of the heartbeat's second echo (see
// schema/postgres.sql).
const secondFactorEcho = " second_factor"

// errNoHeartbeat is returned by New when the heartbeat did not come back
// through the trigger.
var errNoHeartbeat = errors.New("sqlstore: listener: no heartbeat came back through the users table's trigger: " +
	"run Migrate, or install the triggers of schema/postgres.sql on your table with Config.NotifyChannel as the channel (see README.md)")

// onNotification runs on the listener goroutine, inside FeedConn reads, in
// the order the server sent the messages. Only the echo of our own
// heartbeat, sent by the users table's trigger in the backend we LISTEN on
// for our change channel, is a beat: it proves that the trigger that
// reports changes is in place and that this connection still receives
// what the server sends at commit.
func (c *accountCache[U]) onNotification(n Notification) {
	switch {
	case n.Channel == c.rawChannel:
		c.invalidate(n.Payload)
	case n.Channel == c.heartbeat && n.PID == c.backend && n.Payload == c.rawChannel:
		c.echoes.Add(1)
		c.feed.Beat()
	case n.Channel == c.heartbeat && n.PID == c.backend && n.Payload == c.rawChannel+secondFactorEcho:
		now := c.now().UnixNano()
		if !c.secondFactorLive() {
			c.sfEpoch.Add(1) // what was recorded before the silence is void
		}
		c.sfBeat.Store(now)
		c.sfEchoes.Add(1)
	}
}

// run keeps conn listening until ctx ends. Every quarter of MaxSilence it
// sends a heartbeat through the users table's trigger; the echo is the
// beat (see onNotification), so a connection that answers but no longer
// delivers notifications, or a table whose trigger is gone, is not
// trusted. It reconnects with backoff when the connection fails, or when
// no echo came back for twice MaxSilence, keeping the feed down meanwhile.
func (c *accountCache[U]) run(ctx context.Context, conn FeedConn) {
	defer close(c.done)
	interval := c.feed.MaxSilence() / 4
	backoff := minBackoff
	var next time.Time      // when to send the next heartbeat
	unanswered := 0         // heartbeats sent since the last echo
	seen := c.echoes.Load() // echoes counted so far
	for {
		if conn == nil {
			c.callHook("reconnect")
			var err error
			if conn, err = c.connect(ctx); err != nil {
				if !sleep(ctx, jitter(backoff)) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff, unanswered, next = minBackoff, 0, time.Time{}
		}
		c.callHook("wait")
		err := c.wait(ctx, conn, time.Until(next))
		if err == nil && !time.Now().Before(next) {
			err = c.sendHeartbeat(ctx, conn, 4*interval)
			next = time.Now().Add(interval)
			unanswered++
		}
		if e := c.echoes.Load(); e != seen { // an echo came back, during the wait or the send
			seen, unanswered = e, 0
		}
		if err == nil && unanswered <= 8 {
			continue
		}
		c.feed.Down()
		c.sfBeat.Store(0)
		c.pid.Store(0)
		_ = conn.Close()
		conn = nil
		if ctx.Err() != nil {
			return
		}
	}
}

// wait waits up to d for a notification. It returns an error only when the
// connection failed (or ctx ended).
func (c *accountCache[U]) wait(ctx context.Context, conn FeedConn, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	err := conn.Wait(wctx)
	cancel()
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) { // and the connection is usable
		return nil
	}
	return err
}

// sendHeartbeat runs the heartbeat UPDATE, whose trigger NOTIFYs our
// heartbeat channel; the echo arrives with or after the answer. A timeout
// of 0 means ctx's.
func (c *accountCache[U]) sendHeartbeat(ctx context.Context, conn FeedConn, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return conn.Exec(ctx, c.beatSQL)
}

func (c *accountCache[U]) callHook(event string) {
	if h := c.hook.Load(); h != nil {
		(*h)(event)
	}
}

// jitter returns d ± 20%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// sleep waits d or until ctx ends, and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
