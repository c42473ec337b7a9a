package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/redisstore"
	"github.com/gohttpauth/httpauth/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

// stores are the backends the flags chose; closers run at shutdown.
type stores struct {
	users       httpauth.UserStore[sqlstore.User]
	revocations httpauth.RevocationStore // nil: in memory
	limiter     httpauth.Limiter         // nil: in memory
	closers     []func() error
}

func (s *stores) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// openStores opens what -db and -redis name, or memory stores without
// them, and makes sure the demo users exist.
func openStores(ctx context.Context, o options) (*stores, error) {
	s := &stores{}
	var err error
	if o.db == "" {
		s.users, err = memoryUsers(ctx)
	} else {
		err = s.openSQL(ctx, o.db)
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

func memoryUsers(ctx context.Context) (httpauth.UserStore[sqlstore.User], error) {
	users := httpauth.NewMemoryUserStore[sqlstore.User](nil)
	for _, d := range demoUsers {
		err := users.Add(ctx, d.email, d.password, httpauth.Account[sqlstore.User]{
			ID:    d.id,
			Roles: d.roles,
			User:  sqlstore.User{ID: d.id, Login: d.email, Confirmed: d.confirmed},
		})
		if err != nil {
			return nil, err
		}
	}
	return users, nil
}

func (s *stores) openSQL(ctx context.Context, dsn string) error {
	driver, source, dialect := "", "", sqlstore.Dialect("")
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		driver, source, dialect = "sqlite", strings.TrimPrefix(dsn, "sqlite:"), sqlstore.SQLite
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
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
		return err
	}
	store, err := sqlstore.New(ctx, db, sqlstore.Config{Dialect: dialect})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, store.Close)
	for _, d := range demoUsers {
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
	rdb := redis.NewClient(opts)
	s.closers = append(s.closers, rdb.Close)
	if s.revocations, err = redisstore.NewRevocationStore(rdb, redisstore.RevocationOptions{Prefix: prefix}); err != nil {
		return err
	}
	if s.limiter, err = redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: prefix}); err != nil {
		return err
	}
	return nil
}
