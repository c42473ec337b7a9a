// Command api is the httpauth example server: the Flask-HTTPAuth token API,
// on net/http.
//
//	go run ./examples/api [-addr 127.0.0.1:8080] [-token-ttl 1h]
//	    [-db sqlite:PATH | -db postgres://…] [-demo-users] [-redis redis://…]
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
// may POST /api/v1/account/confirmation for a new link. /api/v1/keys
// manages API keys, and /metrics serves Prometheus metrics.
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
	links       *mailer // where account links go; nil: nowhere
}

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

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, generated, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if generated {
		logger.Warn("HTTPAUTH_SECRET is not set: using a random signing key; tokens will not survive a restart")
	}
	o.links = newMailer(stderr)
	handler, closeStores, err := newServer(ctx, o, logger)
	if err != nil {
		return err
	}
	defer closeStores()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
	o.links.setAddr(ln.Addr().String())
	logger.Info("listening on http://" + ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
