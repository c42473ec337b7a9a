package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// setRedisTimeouts fills in the timeouts the URL left unset (see
// redisDialTimeout), one retry instead of go-redis's three, and makes
// the client honour request deadlines (redis.Options.ContextTimeoutEnabled).
func setRedisTimeouts(dial, read, write, pool *time.Duration, retries *int, ctxTimeout *bool) {
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{{dial, redisDialTimeout}, {read, redisReadTimeout}, {write, redisWriteTimeout}, {pool, redisPoolTimeout}} {
		if *d.field == 0 {
			*d.field = d.def
		}
	}
	if *retries == 0 {
		*retries = 1
	}
	*ctxTimeout = true
}

// redisInfo describes the Redis a client talks to, for the start's log
// line and errors.
type redisInfo struct {
	addr       string
	db         int
	tls        bool
	read, dial time.Duration
}

// checkRedis pings Redis at start. A refused password can never work, and
// an unreachable Redis fails every login: both stop the start with a clear
// message rather than serving 500s.
func checkRedis(ctx context.Context, rdb redis.UniversalClient, o redisInfo, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") ||
			strings.Contains(msg, "invalid password") || strings.Contains(msg, "invalid username-password") {
			return fmt.Errorf("redis at %s: authentication failed: check the user and password in -redis / HTTPAUTH_REDIS (%v)", o.addr, err)
		}
		return fmt.Errorf("redis at %s: not answering: %v", o.addr, err)
	}
	logger.Info("redis: ready", slog.String("addr", o.addr), slog.Int("db", o.db), slog.Bool("tls", o.tls),
		slog.Duration("read_timeout", o.read), slog.Duration("dial_timeout", o.dial))
	return nil
}

// checkSQL pings the database at start, runs the migrations if asked
// (-migrate), and checks that the tables exist and that the role may read
// them. A refused password, an unknown database or missing tables can
// never work: each stops the start with a clear message.
func checkSQL(ctx context.Context, db *sql.DB, dialect sqlstore.Dialect, migrate bool, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	name := string(dialect)
	if err := db.PingContext(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch pgErr.Code {
			case "28P01", "28000":
				return fmt.Errorf("%s: authentication failed: check the user and password of -db / HTTPAUTH_DB (%s)", name, pgErr.Message)
			case "3D000":
				return fmt.Errorf("%s: %s: check the database name of -db / HTTPAUTH_DB", name, pgErr.Message)
			}
		}
		return fmt.Errorf("%s: not answering: %w", name, err)
	}
	if migrate {
		if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
			return err
		}
		logger.Info(name + ": migrated (-migrate)")
	}
	for _, table := range []string{sqlstore.DefaultTable, sqlstore.DefaultKeyTable, "httpauth_second_factor", "httpauth_recovery_codes"} {
		rows, err := db.QueryContext(ctx, "SELECT 1 FROM "+table+" WHERE 1 = 0")
		if err == nil {
			err = rows.Close()
		}
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
		case errors.As(err, &pgErr) && pgErr.Code == "42P01",
			strings.Contains(err.Error(), "no such table"):
			return fmt.Errorf("%s: table %s is missing: run `httpauth-users migrate` (as a role that may create tables), or give -migrate", name, table)
		case errors.As(err, &pgErr) && pgErr.Code == "42501":
			return fmt.Errorf("%s: the role may not read table %s: grant it the privileges in the README's \"Running in production\"", name, table)
		default:
			return fmt.Errorf("%s: reading table %s: %w", name, table, err)
		}
	}
	attrs := []any{slog.Int("pool", poolSize())}
	if dialect == sqlstore.Postgres {
		var who, database, ssl string
		if err := db.QueryRowContext(ctx, "SELECT current_user, current_database(), "+
			"COALESCE((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), 'unknown')").Scan(&who, &database, &ssl); err == nil {
			attrs = append(attrs, slog.String("user", who), slog.String("database", database), slog.String("ssl", ssl))
		}
	}
	logger.Info(name+": ready", attrs...)
	return nil
}

// redisLogger routes go-redis's own log lines (reconnects, pool errors)
// through slog, at WARN with component=go-redis, so that they share the
// server's format and its deduplication.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.LogAttrs(ctx, slog.LevelWarn, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}

// setRedisLogger installs logger as go-redis's logger. go-redis has one
// logger per process: the last server started wins.
func setRedisLogger(logger *slog.Logger) { redis.SetLogger(redisLogger{logger}) }

// repeatWindow is how long dedupHandler lets pass one WARN or ERROR line
// per message: during an outage every request fails alike, and the 5xx
// counter (httpauth_http_server_errors_total) counts them all.
const repeatWindow = 10 * time.Second

// dedupHandler writes a WARN or ERROR record at most once per message and
// attributes (the error's text, the feed…) per repeatWindow; the next one after the window carries "repeated", how
// many were dropped meanwhile. Lower levels pass untouched.
type dedupHandler struct {
	slog.Handler
	st *dedupState
}

type dedupState struct {
	mu   sync.Mutex
	seen map[string]*dedupEntry
}

type dedupEntry struct {
	last    time.Time
	dropped int
}

func newDedupHandler(h slog.Handler) slog.Handler {
	return dedupHandler{Handler: h, st: &dedupState{seen: map[string]*dedupEntry{}}}
}

func (h dedupHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.Handler.Handle(ctx, r)
	}
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		key += "\x00" + a.String()
		return true
	})
	h.st.mu.Lock()
	e := h.st.seen[key]
	if e != nil && r.Time.Sub(e.last) < repeatWindow {
		e.dropped++
		h.st.mu.Unlock()
		return nil
	}
	dropped := 0
	if e == nil {
		if len(h.st.seen) > 1000 { // bounded: messages are constants, but be safe
			clear(h.st.seen)
		}
		e = &dedupEntry{}
		h.st.seen[key] = e
	}
	dropped, e.dropped, e.last = e.dropped, 0, r.Time
	h.st.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", dropped))
	}
	return h.Handler.Handle(ctx, r)
}

func (h dedupHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return dedupHandler{Handler: h.Handler.WithAttrs(attrs), st: h.st}
}

func (h dedupHandler) WithGroup(name string) slog.Handler {
	return dedupHandler{Handler: h.Handler.WithGroup(name), st: h.st}
}
