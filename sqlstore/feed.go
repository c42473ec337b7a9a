package sqlstore

import "context"

// ChangeFeed opens the connections on which a Store's account cache
// ([Config.CacheSize]) LISTENs for what the users table's trigger
// notifies. The package github.com/gohttpauth/httpauth/sqlstore/pgfeed
// implements it with the pgx driver; sqlstore itself links no driver, so
// a program that uses SQLite, or PostgreSQL without the cache, does not
// link pgx.
//
// The store keeps the protocol: which channels to LISTEN on, the
// heartbeat through the trigger, when to trust the cache and when to
// reconnect (see README.md). A ChangeFeed only carries it.
type ChangeFeed interface {
	// Listen opens a new connection to the store's database, outside its
	// connection pool, and LISTENs on each of channels: channel names as
	// pg_notify takes them, which Listen quotes. It returns once the
	// LISTENs are in place. From then on, until it is closed, the
	// connection calls notify with each notification it receives, in
	// the order the server sent them, from within its Exec and Wait
	// (never concurrently, never after they return).
	Listen(ctx context.Context, channels []string, notify func(Notification)) (FeedConn, error)
}

// Notification is one PostgreSQL notification, as a [FeedConn] hands it
// to the store.
type Notification struct {
	// PID is the backend process ID of the session that sent it.
	PID uint32
	// Channel is the channel's name, unquoted.
	Channel string
	// Payload is the notification's payload.
	Payload string
}

// FeedConn is one connection that a [ChangeFeed] opened. The store calls
// its methods from one goroutine at a time.
type FeedConn interface {
	// PID returns the backend process ID of the connection, as
	// pg_backend_pid() reports it in SQL (and not a pooler's).
	PID() uint32

	// Exec runs sql, which may hold several statements, in one round
	// trip of the simple query protocol, so that they run in one
	// implicit transaction, and discards the results.
	Exec(ctx context.Context, sql string) error

	// Wait waits for the next notification. It returns nil once one was
	// delivered; an error wrapping context.DeadlineExceeded when ctx's
	// deadline passed first and the connection is still usable; and any
	// other error when the connection failed or ctx was canceled.
	Wait(ctx context.Context) error

	// Close closes the connection.
	Close() error
}
