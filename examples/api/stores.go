package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/gohttpauth/httpauth/sqlstore/pgfeed"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

// accountCacheSize bounds the process-local account cache of a PostgreSQL
// store (about 1 KiB an account, so about 10 MiB). Accounts beyond it are
// read from the database.
const accountCacheSize = 10_000

// poolSize is the number of PostgreSQL connections each instance keeps
// open, 4 per CPU (GOMAXPROCS), as the README's "Running in production"
// explains: a lookup takes well under a millisecond, so 4 connections per
// core serve more requests than the core can authenticate, and more only
// add backends. Budget poolSize()+1 (the cache's LISTEN connection) per
// instance against PostgreSQL's max_connections. It is also the number
// of idle Redis connections kept warm.
func poolSize() int { return 4 * runtime.GOMAXPROCS(0) }

// The Redis client's timeouts when the URL sets none (dial_timeout,
// read_timeout, write_timeout, pool_timeout, max_retries): go-redis's defaults (5 s to
// dial, 3 s to read, and waits longer) let a frozen Redis hold a request
// for seconds. A healthy Redis answers in well under a millisecond, so a
// command that takes redisReadTimeout has failed; the request gets a 500
// and /readyz fails while pings do.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
	redisPoolTimeout  = 2 * time.Second
)

// startupTimeout bounds each engine's check at start.
const startupTimeout = 10 * time.Second

// stores are the backends the flags chose; closers run at shutdown.
type stores struct {
	users       httpauth.UserStore[sqlstore.User]
	revocations httpauth.RevocationStore // nil: in memory
	limiter     httpauth.Limiter         // nil: in memory
	clients     httpauth.Limiter         // per-client password attempts; nil: none
	mail        mailLimits               // the e-mail routes' limits, in Redis with -redis
	closers     []func() error
	// live, one per store with process-local state, report whether that
	// state is trusted (its change feed is up); /healthz shows them.
	live map[string]func() bool
	// pings check that each engine answers; /readyz runs them.
	pings map[string]func(context.Context) error
}

func (s *stores) addPing(name string, ping func(context.Context) error) {
	if s.pings == nil {
		s.pings = make(map[string]func(context.Context) error)
	}
	s.pings[name] = ping
}

func (s *stores) addLive(name string, live func() bool) {
	if s.live == nil {
		s.live = make(map[string]func() bool)
	}
	s.live[name] = boundedLive(live)
}

// liveTimeout bounds a Live call: a redisstore Limiter's Live waits for
// its lock, which a resynchronisation holds during Redis round trips. A
// feed that does not answer within it counts as down.
const liveTimeout = 500 * time.Millisecond

// boundedLive returns live, answering false when it takes longer than
// liveTimeout (the call finishes in the background).
func boundedLive(live func() bool) func() bool {
	return func() bool {
		c := make(chan bool, 1)
		go func() { c <- live() }()
		select {
		case v := <-c:
			return v
		case <-time.After(liveTimeout):
			return false
		}
	}
}

func (s *stores) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// openStores opens what -db and -redis name, or memory stores without
// them, and makes sure the demo users exist (in SQL only with -demo-users).
func openStores(ctx context.Context, o options, logger *slog.Logger) (*stores, error) {
	s := &stores{mail: memoryMailLimits()}
	var err error
	if o.db == "" {
		s.users, err = memoryUsers(ctx)
	} else {
		err = s.openSQL(ctx, o, logger)
	}
	if err == nil && o.redis != "" {
		err = s.openRedis(ctx, o, logger)
	}
	if err == nil && o.redis == "" && o.clientMax > 0 {
		s.clients = httpauth.NewMemoryLimiter(o.clientMax, clientAttemptWindow)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// demoAccountsCreated is when the demo accounts notionally came to be.
var demoAccountsCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func memoryUsers(ctx context.Context) (httpauth.UserStore[sqlstore.User], error) {
	users := httpauth.NewMemoryUserStore[sqlstore.User](nil)
	for _, d := range demoUsers {
		err := users.Add(ctx, d.email, d.password, httpauth.Account[sqlstore.User]{
			ID:    d.id,
			Roles: d.roles,
			User:  sqlstore.User{ID: d.id, Login: d.email, Confirmed: d.confirmed},
			// The demo accounts are the same accounts on every start; a
			// fixed cutoff keeps their tokens across restarts (a new
			// account's cutoff would otherwise be its creation time).
			TokensValidAfter: demoAccountsCreated,
		})
		if err != nil {
			return nil, err
		}
	}
	accts, err := newMemoryAccounts(ctx, users)
	if err != nil {
		return nil, err
	}
	return accts, nil
}

// openSQL opens the -db store; it runs the migrations only with
// -migrate, and creates the missing demo users only with -demo-users,
// never by default in a real database.
func (s *stores) openSQL(ctx context.Context, o options, logger *slog.Logger) error {
	dsn, withDemo := o.db, o.demoUsers
	driver, source, dialect := "", "", sqlstore.Dialect("")
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		driver, source, dialect = "sqlite", strings.TrimPrefix(dsn, "sqlite:"), sqlstore.SQLite
		if err := createPrivate(source, logger); err != nil {
			return fmt.Errorf("-db: %w", err)
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		driver, source, dialect = "pgx", dsn, sqlstore.Postgres
	default:
		return errors.New("-db takes sqlite:PATH or postgres://…")
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	s.closers = append(s.closers, db.Close)
	// database/sql keeps 2 idle connections by default: under load it then
	// opens and closes a connection for nearly every query, and PostgreSQL
	// connection setup costs milliseconds (a 277 ms p99 at 32 clients).
	// Keep as many idle as may be open, and let idle ones go after a while.
	n := poolSize()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := checkSQL(ctx, db, dialect, o.migrate, logger); err != nil {
		return err
	}
	s.addPing(string(dialect), db.PingContext)
	cfg := sqlstore.Config[sqlstore.User]{Dialect: dialect}
	if dialect == sqlstore.Postgres {
		// Repeat lookups from memory, kept current by the LISTEN/NOTIFY
		// trigger that Migrate installs (plain SQL changes included), and
		// bypassed whenever the LISTEN connection is down. SQLite has no
		// cross-process notification, so it always reads through.
		cfg.CacheSize = accountCacheSize
		cfg.ChangeFeed = pgfeed.New(db)
	}
	store, err := sqlstore.New(ctx, db, cfg)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, store.Close)
	if cfg.CacheSize > 0 {
		s.addLive("accounts", store.Live)
	}
	demo := demoUsers
	if !withDemo {
		demo = nil // a real database gets no published passwords
	}
	for _, d := range demo {
		_, err := store.UserByLogin(ctx, d.email)
		if err == nil {
			continue
		}
		if !errors.Is(err, httpauth.ErrUserNotFound) {
			return err
		}
		_, err = store.CreateUser(ctx, sqlstore.NewUser{
			ID: d.id, Login: d.email, Password: d.password, Confirmed: d.confirmed, Roles: d.roles,
		})
		if err != nil {
			// Another instance starting at the same time may have won.
			if _, again := store.UserByLogin(ctx, d.email); again != nil {
				return err
			}
		}
	}
	s.users = store
	return nil
}

func (s *stores) openRedis(ctx context.Context, o options, logger *slog.Logger) error {
	prefix := o.redisPrefix
	rdb, info, err := newRedisClient(o.redis)
	if err != nil {
		return fmt.Errorf("-redis: %w", err) // go-redis's parse errors do not repeat the URL
	}
	s.closers = append(s.closers, rdb.Close)
	if err := checkRedis(ctx, rdb, info, logger); err != nil {
		return err
	}
	s.addPing("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	// Both keep process-local state (revocation verdicts, locked logins)
	// that pub/sub keeps current, so a repeat request makes no Redis round
	// trip; while the subscription is down they read Redis. Set out
	// explicitly although these are the defaults.
	rev, err := redisstore.NewRevocationStore(rdb, redisstore.RevocationOptions{
		Prefix: prefix, CacheSize: redisstore.DefaultRevocationCacheSize,
	})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, rev.Close)
	s.addLive("revocations", rev.Live)
	lim, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{
		Prefix: prefix, LocalLocks: redisstore.DefaultLocalLocks,
	})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, lim.Close)
	s.addLive("limiter", lim.Live)
	s.revocations, s.limiter = rev, lim
	if o.clientMax > 0 {
		// Per-client password attempts, shared by every instance. Locks
		// are rare and per address, so no local lock set (LocalLocks -1).
		clients, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{
			Prefix: prefix + "client:", MaxFailures: o.clientMax, Window: clientAttemptWindow, LocalLocks: -1,
		})
		if err != nil {
			return err
		}
		s.closers = append(s.closers, clients.Close)
		s.clients = clients
	}

	// The e-mail routes' limits, shared by every instance. They only
	// Reserve (never Allow), so they need no local lock set and no
	// subscription (LocalLocks -1).
	for _, l := range []struct {
		dst    *httpauth.Limiter
		prefix string
		max    int
	}{
		{&s.mail.address, prefix + "mail-address:", mailsPerAddress},
		{&s.mail.client, prefix + "mail-client:", mailRequestsPerClient},
	} {
		lim, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{
			Prefix: l.prefix, MaxFailures: l.max, Window: mailLimitWindow, LocalLocks: -1,
		})
		if err != nil {
			return err
		}
		s.closers = append(s.closers, lim.Close)
		*l.dst = lim
	}
	return nil
}

// newRedisClient opens the -redis URL in go-redis's forms: a Sentinel
// setup when it names a master (redis://sentinel:26379?master_name=mymaster
// &addr=sentinel2:26379), a Redis Cluster when it lists more nodes
// (redis://h1:7000?addr=h2:7001&addr=h3:7002), and one server otherwise
// (redis://host:6379/0).
func newRedisClient(url string) (redis.UniversalClient, redisInfo, error) {
	// go-redis already keeps idle connections (10 per CPU at most); warm
	// them up front so the first burst opens none (per node on a cluster).
	// A pool_size or min_idle_conns in the URL wins. Timeouts the URL
	// leaves out get the example's (setRedisTimeouts).
	pool := func(size, idle *int) {
		if *size == 0 {
			*size = max(poolSize(), 10*runtime.GOMAXPROCS(0))
		}
		if *idle == 0 {
			*idle = poolSize()
		}
	}
	q := ""
	if _, after, ok := strings.Cut(url, "?"); ok {
		q = after
	}
	values, err := neturl.ParseQuery(q)
	if err != nil {
		return nil, redisInfo{}, err
	}
	switch {
	case values.Has("master_name"):
		opts, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, redisInfo{}, err
		}
		pool(&opts.PoolSize, &opts.MinIdleConns)
		setRedisTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.ContextTimeoutEnabled)
		info := redisInfo{addr: "sentinel " + opts.MasterName + " via " + strings.Join(opts.SentinelAddrs, ","), db: opts.DB, tls: opts.TLSConfig != nil, read: opts.ReadTimeout, dial: opts.DialTimeout}
		return redis.NewFailoverClient(opts), info, nil
	case values.Has("addr"):
		opts, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, redisInfo{}, err
		}
		pool(&opts.PoolSize, &opts.MinIdleConns)
		setRedisTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.ContextTimeoutEnabled)
		info := redisInfo{addr: "cluster " + strings.Join(opts.Addrs, ","), tls: opts.TLSConfig != nil, read: opts.ReadTimeout, dial: opts.DialTimeout}
		return redis.NewClusterClient(opts), info, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, redisInfo{}, err
	}
	pool(&opts.PoolSize, &opts.MinIdleConns)
	setRedisTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.MaxRetries, &opts.ContextTimeoutEnabled)
	info := redisInfo{addr: opts.Addr, db: opts.DB, tls: opts.TLSConfig != nil, read: opts.ReadTimeout, dial: opts.DialTimeout}
	return redis.NewClient(opts), info, nil
}

// createPrivate creates the SQLite database file at source with mode 0600
// if it is missing, so that the driver does not create it readable by
// every local user (umask 022): it holds password and key hashes. SQLite
// gives the -wal and -shm files the database file's mode. An existing
// file's mode is left alone, with a warning if group or others may read
// or write it.
func createPrivate(source string, logger *slog.Logger) error {
	path, _, _ := strings.Cut(strings.TrimPrefix(source, "file:"), "?")
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		logger.Warn("the SQLite database file is readable or writable by other users; chmod 600 it",
			slog.String("path", path), slog.String("mode", fmt.Sprintf("%#o", perm)))
	}
	return nil
}
