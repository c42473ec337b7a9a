// Command api is the httpauth example server: the Flask-HTTPAuth token API,
// on net/http.
//
//	go run ./examples/api [-addr 127.0.0.1:8080] [-token-ttl 1h]
//	    [-db sqlite:PATH | -db postgres://…] [-demo-users] [-redis redis://…]
//	    [-metrics-addr 127.0.0.1:9090] [-log-links]
//
// HTTPAUTH_SECRET holds the hex-encoded signing key (32+ random bytes, as
// "httpauth keygen" prints); without it a random key is generated and
// tokens die with the process. Without -db and -redis everything is in
// memory; with them, several instances sharing the database, Redis and
// HTTPAUTH_SECRET serve as one.
//
// Registration, confirmation and password reset (POST /register, /confirm,
// /password-reset, /password-reset/confirm) log the links they would email
// to stderr, one line each; an unconfirmed user, refused everywhere else,
// may POST /api/v1/account/confirmation for a new link. The links are live
// secrets, so they are logged only in memory (no -db) or with -log-links;
// with -db and without -log-links these routes are not served (404), and
// a startup line says so. The e-mails are sent by a background worker,
// after the 202, so that a known and an unknown address cost the request
// the same; and they are rate limited (see mailsPerAddress).
//
// /api/v1/keys manages API keys. GET /metrics serves Prometheus metrics on
// its own listener, -metrics-addr (off by default); give it a loopback or
// internal address such as 127.0.0.1:9090, never the public one. Browser
// requests from other sites that change state get a 403
// (http.CrossOriginProtection).
//
// In memory the demo users (published passwords) always exist. With -db
// they are created only when -demo-users is given, so that a real
// database never gets an admin whose password is in the README.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gohttpauth/httpauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// options are the command line and environment, parsed.
type options struct {
	addr        string
	tokenTTL    time.Duration
	key         httpauth.SigningKey
	db          string
	demoUsers   bool // create the demo users in the -db database
	redis       string
	redisPrefix string
	metricsAddr string  // the metrics listener's address; "": none
	logLinks    bool    // with -db, write account links to stderr all the same
	links       *mailer // where account links go; nil: nowhere
}

// linksDelivered reports whether account links have somewhere to go: the
// log in memory (a demo), or with -log-links. Otherwise the routes that
// send them are not served.
func (o options) linksDelivered() bool { return o.db == "" || o.logLinks }

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, bool, error) {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.DurationVar(&o.tokenTTL, "token-ttl", time.Hour, "lifetime of issued tokens")
	fs.StringVar(&o.db, "db", "", "users in SQL: sqlite:PATH or postgres://… (default: in memory)")
	fs.BoolVar(&o.demoUsers, "demo-users", false, "with -db, create the demo users (published passwords) if missing; never on a real database")
	fs.StringVar(&o.redis, "redis", "", "share revocations and throttling in Redis: redis://… (default: in memory)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "httpauth:", "prefix of the Redis keys")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve GET /metrics on this address, a loopback or internal one such as 127.0.0.1:9090 (default: no metrics)")
	fs.BoolVar(&o.logLinks, "log-links", false, "with -db, write the account links (live secrets) to stderr; without it the account-link routes are off")
	if err := fs.Parse(args); err != nil {
		return o, false, err
	}
	if o.tokenTTL <= 0 {
		return o, false, errors.New("-token-ttl must be positive")
	}
	generated := false
	if v := getenv("HTTPAUTH_SECRET"); v != "" {
		key, err := httpauth.KeyFromHex("k1", v)
		if err != nil {
			return o, false, fmt.Errorf("HTTPAUTH_SECRET: %w", err)
		}
		o.key = key
	} else {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		o.key = httpauth.SigningKey{ID: "k1", Secret: secret}
		generated = true
	}
	return o, generated, nil
}

// Timeouts of the HTTP servers: a client gets readHeaderTimeout to send
// its headers and readTimeout for the whole request, a response must be
// written within writeTimeout (a password hash takes well under a
// second), and an idle keep-alive connection is closed after idleTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
)

// newHTTPServer returns the server for handler, with the timeouts above.
func newHTTPServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
}

// started is a running server, as run reports it to a test.
type started struct {
	app     *app
	api     *http.Server
	apiAddr string
	metrics *http.Server // nil without -metrics-addr
	metAddr string
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return serve(ctx, args, getenv, stderr, nil)
}

// serve is run; ready, if not nil, is called once the servers listen.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(*started)) error {
	o, generated, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if generated {
		logger.Warn("HTTPAUTH_SECRET is not set: using a random signing key; tokens will not survive a restart")
	}
	if o.linksDelivered() {
		o.links = newMailer(stderr)
	}
	a, err := newServer(ctx, o, logger)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	s := &started{app: a, api: newHTTPServer(a.handler, logger), apiAddr: ln.Addr().String()}
	servers := []*http.Server{s.api}
	errc := make(chan error, 2)
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		s.metrics, s.metAddr = newHTTPServer(a.metrics, logger), mln.Addr().String()
		servers = append(servers, s.metrics)
		go func() { errc <- s.metrics.Serve(mln) }()
	}
	if o.links != nil {
		o.links.setAddr(s.apiAddr)
	}
	logger.Info("listening on http://" + s.apiAddr)
	if s.metrics != nil {
		logger.Info("metrics at http://" + s.metAddr + "/metrics")
	}
	go func() { errc <- s.api.Serve(ln) }()
	if ready != nil {
		ready(s)
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			_ = srv.Close()
		}
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			errs = append(errs, srv.Shutdown(shutdown))
		}
		return errors.Join(errs...)
	}
}
