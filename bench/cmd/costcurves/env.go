package main

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/gohttpauth/httpauth/sqlstore/pgfeed"
)

// stormPassword is every account's password: all rows carry one argon2id
// hash of it, made by the default hasher, so a login costs one real hash.
const stormPassword = "cost-curves-password-1"

// env is one run's share of the servers: a PostgreSQL schema of its own
// (search_path), a Redis key prefix of its own, a signing key and the
// accounts created so far.
type env struct {
	dsn      string // with search_path = schema
	baseDSN  string
	schema   string
	redisURL string
	prefix   string
	key      httpauth.SigningKey
	admin    *sql.DB
	rdb      *redis.Client // the loader's client
	hash     string        // argon2id of stormPassword
	accounts int           // rows in the users table
	log      io.Writer     // progress

	rounds        int  // measured loads per point
	tunedGOGC     int  // also measure the accounts with this GOGC; 0 not
	clientProcess bool // the token load's client in a process of its own
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// newEnv creates the schema, migrates it and prepares the password hash.
func newEnv(ctx context.Context, pgDSN, redisURL string, log io.Writer) (*env, error) {
	e := &env{baseDSN: pgDSN, redisURL: redisURL, log: log, rounds: 1}
	suffix := randomHex(4)
	e.schema = "costcurves_" + suffix
	e.prefix = "costcurves:" + suffix + ":"
	u, err := url.Parse(pgDSN)
	if err != nil {
		return nil, fmt.Errorf("-pg: %w", err)
	}
	q := u.Query()
	q.Set("search_path", e.schema)
	u.RawQuery = q.Encode()
	e.dsn = u.String()

	if e.admin, err = sql.Open("pgx", e.dsn); err != nil {
		return nil, err
	}
	e.admin.SetMaxOpenConns(4)
	if _, err := e.admin.ExecContext(ctx, "CREATE SCHEMA "+e.schema); err != nil {
		_ = e.admin.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	if err := sqlstore.Migrate(ctx, e.admin, sqlstore.Postgres); err != nil {
		e.close(context.Background())
		return nil, err
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		e.close(context.Background())
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opts.PoolSize = 16
	e.rdb = redis.NewClient(opts)
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		e.close(context.Background())
		return nil, fmt.Errorf("redis: %w", err)
	}
	if e.hash, err = httpauth.DefaultHasher().Hash(ctx, stormPassword); err != nil {
		e.close(context.Background())
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = crand.Read(secret)
	e.key = httpauth.SigningKey{ID: "cc", Secret: secret}
	return e, nil
}

// close drops the schema and the run's Redis keys.
func (e *env) close(ctx context.Context) {
	if e.admin != nil {
		_, _ = e.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+e.schema+" CASCADE")
		_ = e.admin.Close()
	}
	if e.rdb != nil {
		_ = deletePrefix(ctx, e.rdb, e.prefix)
		_ = e.rdb.Close()
	}
}

// deletePrefix removes every key under prefix (SCAN and UNLINK).
func deletePrefix(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 10000).Iterator()
	batch := make([]string, 0, 10000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

func accountID(i int) string    { return fmt.Sprintf("u%08d", i) }
func accountLogin(i int) string { return fmt.Sprintf("u%08d@cost.test", i) }

// ensureAccounts grows the users table to n rows (IDs u00000000 …), all
// with the same argon2id hash. The change trigger is off during the bulk
// insert, so no listener hears a million notifications; call it only
// while no instance is running.
func (e *env) ensureAccounts(ctx context.Context, n int) error {
	if n <= e.accounts {
		return nil
	}
	start := time.Now()
	tx, err := e.admin.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []string{
		"ALTER TABLE httpauth_users DISABLE TRIGGER USER",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO httpauth_users (id, login, password_hash, confirmed)
		SELECT 'u' || lpad(i::text, 8, '0'), 'u' || lpad(i::text, 8, '0') || '@cost.test', $1, TRUE
		FROM generate_series($2::int, $3::int) AS i`, e.hash, e.accounts, n-1)
	if err != nil {
		return fmt.Errorf("insert accounts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE httpauth_users ENABLE TRIGGER USER"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := e.admin.ExecContext(ctx, "ANALYZE httpauth_users"); err != nil {
		return err
	}
	fmt.Fprintf(e.log, "accounts: %d rows (+%d in %s)\n", n, n-e.accounts, time.Since(start).Round(time.Millisecond))
	e.accounts = n
	return nil
}

// pgIndexScans is the number of index scans of the users table so far
// (pg_stat_user_tables, which lags by up to the stats interval).
func (e *env) pgIndexScans(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := e.admin.QueryRowContext(ctx,
		"SELECT idx_scan FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'httpauth_users'", e.schema).Scan(&n)
	return n.Int64, err
}

// redisInfoInt reads one integer field of INFO section.
func redisInfoInt(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO %s has no %s", section, field)
}

// instOpts sizes an instance's local state.
type instOpts struct {
	accountCache int // sqlstore CacheSize; 0 off
	verdicts     int // redisstore RevocationOptions.CacheSize; 0 default
	localLocks   int // redisstore LimiterOptions.LocalLocks; 0 default
}

// instance is one httpauth server: its own sql.DB, sqlstore (with its
// LISTEN connection), Redis client, RevocationStore, Limiter and
// Authenticator, serving on a loopback port of its own.
type instance struct {
	db    *sql.DB
	users *sqlstore.Store[sqlstore.User]
	rdb   *redis.Client
	rev   *redisstore.RevocationStore
	lim   *redisstore.Limiter
	auth  *httpauth.Authenticator[sqlstore.User]
	srv   *http.Server
	base  string
	wg    sync.WaitGroup
}

// cacheMaxAge is the account cache's CacheMaxAge in every run: long
// enough that an account requested once a minute stays cached (the
// default, 5 s, is the bound for writes that fire no trigger; with it,
// an account requested less often than every 5 s is read every time).
const cacheMaxAge = time.Hour

func (e *env) newInstance(ctx context.Context, o instOpts) (*instance, error) {
	in := &instance{}
	ok := false
	defer func() {
		if !ok {
			in.close()
		}
	}()
	var err error
	if in.db, err = sql.Open("pgx", e.dsn); err != nil {
		return nil, err
	}
	in.db.SetMaxOpenConns(8)
	in.db.SetMaxIdleConns(8)
	cfg := sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres}
	if o.accountCache > 0 {
		cfg.CacheSize = o.accountCache
		cfg.ChangeFeed = pgfeed.New(in.db)
		cfg.CacheMaxAge = cacheMaxAge
	}
	if in.users, err = sqlstore.New(ctx, in.db, cfg); err != nil {
		return nil, err
	}
	ropts, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return nil, err
	}
	ropts.PoolSize, ropts.MinIdleConns = 16, 8
	in.rdb = redis.NewClient(ropts)
	if in.rev, err = redisstore.NewRevocationStore(in.rdb, redisstore.RevocationOptions{Prefix: e.prefix, CacheSize: o.verdicts}); err != nil {
		return nil, err
	}
	if in.lim, err = redisstore.NewLimiter(in.rdb, redisstore.LimiterOptions{Prefix: e.prefix, LocalLocks: o.localLocks}); err != nil {
		return nil, err
	}
	signer, err := httpauth.NewHMACSigner(e.key)
	if err != nil {
		return nil, err
	}
	in.auth, err = httpauth.New(httpauth.Config[sqlstore.User]{
		Users:       in.users,
		Signer:      signer,
		Realm:       "costcurves",
		Logger:      slog.New(slog.DiscardHandler),
		Revocations: in.rev,
		Throttle:    httpauth.Throttle{Logins: in.lim},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/me", in.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := in.auth.User(r)
		if !ok {
			http.Error(w, "no user", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, u.ID)
	})))
	mux.Handle("POST /api/v1/tokens", in.auth.TokenHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in.base = "http://" + ln.Addr().String()
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute, ErrorLog: nil}
	in.wg.Go(func() { _ = in.srv.Serve(ln) })
	ok = true
	return in, nil
}

// waitLive waits until the instance's caches are trusted: the account
// cache (when on), the verdicts and, if limiter, the lock set.
func (in *instance) waitLive(ctx context.Context, limiter bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		live := in.rev.Live() && (!limiter || in.lim.Live()) && in.users.Live()
		if live {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("instance not live after 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (in *instance) close() {
	if in.srv != nil {
		_ = in.srv.Close()
		in.wg.Wait()
	}
	if in.auth != nil {
		_ = in.auth.Close()
	}
	if in.lim != nil {
		_ = in.lim.Close()
	}
	if in.rev != nil {
		_ = in.rev.Close()
	}
	if in.rdb != nil {
		_ = in.rdb.Close()
	}
	if in.users != nil {
		_ = in.users.Close()
	}
	if in.db != nil {
		_ = in.db.Close()
	}
}
