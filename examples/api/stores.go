package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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

// poolSize is the number of database and Redis connections kept open: at
// least 16, and 4 per CPU, since each request in flight may hold one.
func poolSize() int { return max(16, 4*runtime.GOMAXPROCS(0)) }

// stores are the backends the flags chose; closers run at shutdown.
type stores struct {
	users       httpauth.UserStore[sqlstore.User]
	revocations httpauth.RevocationStore // nil: in memory
	limiter     httpauth.Limiter         // nil: in memory
	mail        mailLimits               // the e-mail routes' limits, in Redis with -redis
	closers     []func() error
	// live, one per store with process-local state, report whether that
	// state is trusted (its change feed is up); /healthz shows them.
	live map[string]func() bool
}

func (s *stores) addLive(name string, live func() bool) {
	if s.live == nil {
		s.live = make(map[string]func() bool)
	}
	s.live[name] = live
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
		err = s.openSQL(ctx, o.db, o.demoUsers, logger)
	}
	if err == nil && o.redis != "" {
		err = s.openRedis(o.redis, o.redisPrefix)
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

// openSQL opens the -db store; it creates the missing demo users only when
// withDemo is set (-demo-users), never by default in a real database.
func (s *stores) openSQL(ctx context.Context, dsn string, withDemo bool, logger *slog.Logger) error {
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
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
		return err
	}
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

func (s *stores) openRedis(url, prefix string) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	// go-redis already keeps idle connections (10 per CPU at most); warm
	// them up front so the first burst opens none. A pool_size or
	// min_idle_conns in the URL wins.
	if opts.PoolSize == 0 {
		opts.PoolSize = max(poolSize(), 10*runtime.GOMAXPROCS(0))
	}
	if opts.MinIdleConns == 0 {
		opts.MinIdleConns = poolSize()
	}
	rdb := redis.NewClient(opts)
	s.closers = append(s.closers, rdb.Close)
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
