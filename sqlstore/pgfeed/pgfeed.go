// Package pgfeed is the PostgreSQL change feed of sqlstore's account
// cache, on the pgx driver (github.com/jackc/pgx/v5/stdlib). It is a
// package of its own so that the hosts of sqlstore that use SQLite, or
// PostgreSQL without the cache, do not link pgx.
//
// A host that turns the cache on passes [New] of its *sql.DB as
// sqlstore.Config.ChangeFeed:
//
//	db, err := sql.Open("pgx", dsn)
//	...
//	users, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{
//		Dialect:    sqlstore.Postgres,
//		CacheSize:  100_000,
//		ChangeFeed: pgfeed.New(db),
//	})
//
// The store keeps the protocol (the channels, the heartbeat through the
// users table's trigger, when to trust the cache, when to reconnect); see
// sqlstore's README.md.
package pgfeed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gohttpauth/httpauth/sqlstore"
)

// appName is the application_name of the connections a Feed opens, so
// that operators can find them in pg_stat_activity.
const appName = "httpauth-sqlstore-listener"

// errNotPgx is returned by Listen when db's driver is not pgx
// (github.com/jackc/pgx/v5/stdlib), so that sqlstore.New fails.
var errNotPgx = errors.New("pgfeed: the database's driver is not pgx (github.com/jackc/pgx/v5/stdlib)")

// Feed is a [sqlstore.ChangeFeed] on a PostgreSQL *sql.DB whose driver
// is pgx. It is safe for concurrent use.
type Feed struct {
	db *sql.DB
}

var _ sqlstore.ChangeFeed = (*Feed)(nil)

// New returns a Feed that opens its connections with the settings of one
// of db's own, taken afresh for each connection, so that rotated
// credentials are picked up. db's driver must be pgx
// (github.com/jackc/pgx/v5/stdlib); New does not check it, the store's
// first Listen does.
func New(db *sql.DB) *Feed { return &Feed{db: db} }

// Listen implements [sqlstore.ChangeFeed]: it opens a new connection,
// outside db's pool, LISTENs on channels and learns the connection's
// backend PID, in one round trip.
func (f *Feed) Listen(ctx context.Context, channels []string, notify func(sqlstore.Notification)) (sqlstore.FeedConn, error) {
	cfg, err := f.config(ctx)
	if err != nil {
		return nil, err
	}
	pc := cfg.Config.Copy()
	pc.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		notify(sqlstore.Notification{PID: n.PID, Channel: n.Channel, Payload: n.Payload})
	}
	// On a timeout, interrupt the read with a deadline (no cancel request
	// to the server): the listener times out every heartbeat interval.
	pc.BuildContextWatcherHandler = func(p *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: p.Conn()}
	}
	if pc.RuntimeParams == nil {
		pc.RuntimeParams = map[string]string{}
	}
	pc.RuntimeParams["application_name"] = appName
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgfeed: connect: %w", err)
	}
	q := ""
	for _, ch := range channels {
		q += "LISTEN " + pgx.Identifier{ch}.Sanitize() + "; "
	}
	res, err := conn.Exec(ctx, q+"SELECT pg_backend_pid()").ReadAll()
	var pid uint64
	if err == nil {
		pid, err = backendPID(res)
	}
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("pgfeed: LISTEN: %w", err)
	}
	return &feedConn{conn: conn, pid: uint32(pid)}, nil
}

// config returns the settings of one of db's connections.
func (f *Feed) config(ctx context.Context) (*pgx.ConnConfig, error) {
	conn, err := f.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgfeed: %w", err)
	}
	defer conn.Close()
	var cfg *pgx.ConnConfig
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return errNotPgx
		}
		cfg = pc.Conn().Config()
		return nil
	})
	return cfg, err
}

// backendPID reads the answer to SELECT pg_backend_pid(), the last result.
func backendPID(res []*pgconn.Result) (uint64, error) {
	if len(res) == 0 || len(res[len(res)-1].Rows) != 1 || len(res[len(res)-1].Rows[0]) != 1 {
		return 0, errors.New("no backend PID")
	}
	return strconv.ParseUint(string(res[len(res)-1].Rows[0][0]), 10, 32)
}

// feedConn is a sqlstore.FeedConn on a pgconn connection.
type feedConn struct {
	conn *pgconn.PgConn
	pid  uint32 // pg_backend_pid(), which the key data a pooler reports may not be
}

// PID implements sqlstore.FeedConn.
func (c *feedConn) PID() uint32 { return c.pid }

// Exec implements sqlstore.FeedConn.
func (c *feedConn) Exec(ctx context.Context, sql string) error {
	_, err := c.conn.Exec(ctx, sql).ReadAll()
	return err
}

// Wait implements sqlstore.FeedConn.
func (c *feedConn) Wait(ctx context.Context) error {
	err := c.conn.WaitForNotification(ctx)
	if err == nil || !pgconn.Timeout(err) {
		return err
	}
	if c.conn.IsClosed() {
		// Not a deadline that leaves the connection usable.
		return fmt.Errorf("pgfeed: connection closed: %v", err)
	}
	return fmt.Errorf("pgfeed: %w", context.DeadlineExceeded)
}

// Close implements sqlstore.FeedConn.
func (c *feedConn) Close() error { return c.conn.Close(context.Background()) }
