// Command api is the httpauth example server: the Flask-HTTPAuth token API,
// on net/http.
//
//	go run ./examples/api [-addr 127.0.0.1:8080] [-token-ttl 1h]
//	    [-db sqlite:PATH | -db postgres://…] [-migrate] [-demo-users]
//	    [-redis redis://…] [-redis-prefix httpauth:]
//	    [-trusted-proxies CIDR,…] [-client-attempts 100]
//	    [-metrics-addr 127.0.0.1:9090] [-log-links] [-drain-delay 0s]
//	    [-smtp HOST:PORT -public-url https://… [-smtp-from ADDR]]
//
// HTTPAUTH_KEYS holds the signing keys, "id:hex" separated by commas or
// spaces (hex: 32+ random bytes, as "httpauth keygen" prints); the first
// signs, every one verifies, which is how a key is rotated (README,
// "Running in production"). HTTPAUTH_SECRET is the one-key form, the key
// "k1". Without either a random key is generated and tokens die with the
// process; with -db postgres://… or -redis (state shared by instances)
// the server refuses to start without one.
//
// -db and -redis default to $HTTPAUTH_DB and $HTTPAUTH_REDIS, so that no
// password need be on the command line, where ps shows it. Each of
// HTTPAUTH_KEYS, HTTPAUTH_SECRET, HTTPAUTH_DB and HTTPAUTH_REDIS may
// instead be read from a file named by the same variable with _FILE
// appended (a mounted secret); one trailing newline is dropped.
//
// Without -db and -redis everything is in memory; with them, several
// instances sharing the database, Redis and the keys serve as one. The
// tables are created by "httpauth-users migrate" (or -migrate, for a
// demo): the server itself runs no DDL, so that it can serve with a
// role that may only read and write rows.
//
// GET /healthz is liveness (the process serves); GET /readyz is
// readiness: a 503 while PostgreSQL or Redis does not answer, a change
// feed is down, or the server is shutting down. On SIGTERM or SIGINT the
// server fails readiness, waits -drain-delay, finishes the requests in
// flight and closes the stores, within shutdownTimeout.
//
// Registration, confirmation and password reset (POST /register, /confirm,
// /password-reset, /password-reset/confirm) log the links they would email
// to stderr, one line each; an unconfirmed user, refused everywhere else,
// may POST /api/v1/account/confirmation for a new link. The links are live
// secrets, so they are logged only in memory (no -db) or with -log-links;
// with -db and without -log-links these routes are not served (404), and
// a startup line says so. With -smtp (smtp.go) the links are e-mailed to
// the account's address instead, never logged, pointing at -public-url;
// a GET on a link serves a page whose button does the POST (pages.go).
// The e-mails are sent by a background worker,
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
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
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
	keys        []httpauth.SigningKey // the first signs; all verify
	db          string
	migrate     bool // run sqlstore.Migrate at start (-migrate)
	demoUsers   bool // create the demo users in the -db database
	redis       string
	redisPrefix string
	proxies     []netip.Prefix // -trusted-proxies
	clientMax   int            // -client-attempts: password attempts per client per window
	drainDelay  time.Duration  // -drain-delay: readiness off before the listener closes
	metricsAddr string         // the metrics listener's address; "": none
	logLinks    bool           // with -db, write account links to stderr all the same
	links       *mailer        // where account links go; nil: nowhere

	mail mailOptions // -smtp, -smtp-from, -public-url (smtp.go)
}

// linksDelivered reports whether account links have somewhere to go: the
// log in memory (a demo), or with -log-links; or e-mail with -smtp.
// Otherwise the routes that send them are not served.
func (o options) linksDelivered() bool { return o.db == "" || o.logLinks || o.mail.smtp != "" }

// secretEnv returns $name, or the contents of the file $name_FILE names
// (without one trailing newline). Both set is an error.
func secretEnv(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("both %s and %s_FILE are set", name, name)
	case file == "":
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// parseKeys parses HTTPAUTH_KEYS: "id:hex" entries separated by commas or
// white space, the first the signing key. IDs must be distinct.
func parseKeys(v string) ([]httpauth.SigningKey, error) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("HTTPAUTH_KEYS: no key (want id:hex[,id:hex…])")
	}
	var keys []httpauth.SigningKey
	seen := map[string]bool{}
	for i, f := range fields {
		id, hexKey, ok := strings.Cut(f, ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("HTTPAUTH_KEYS: entry %d is not id:hex", i+1)
		}
		if seen[id] {
			return nil, fmt.Errorf("HTTPAUTH_KEYS: key ID %q appears twice", id)
		}
		seen[id] = true
		key, err := httpauth.KeyFromHex(id, hexKey)
		if err != nil {
			// The error names the key ID, never the key.
			return nil, fmt.Errorf("HTTPAUTH_KEYS: entry %d (%s): %w", i+1, id, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// sharedState reports whether the options share state with other
// instances (PostgreSQL or Redis): then a random key would make this
// instance's tokens fail everywhere else.
func (o options) sharedState() bool {
	return o.redis != "" || strings.HasPrefix(o.db, "postgres://") || strings.HasPrefix(o.db, "postgresql://")
}

// defaultClientAttempts is -client-attempts' default: password attempts
// per client address (an IPv4 address, an IPv6 /64) per
// clientAttemptWindow, successes included, sized for a busy NAT.
const (
	defaultClientAttempts = 100
	clientAttemptWindow   = 15 * time.Minute
)

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, bool, error) {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	dbEnv, err := secretEnv(getenv, "HTTPAUTH_DB")
	if err != nil {
		return o, false, err
	}
	redisEnv, err := secretEnv(getenv, "HTTPAUTH_REDIS")
	if err != nil {
		return o, false, err
	}
	var proxies string
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.DurationVar(&o.tokenTTL, "token-ttl", time.Hour, "lifetime of issued tokens")
	fs.StringVar(&o.db, "db", dbEnv, "users in SQL: sqlite:PATH or postgres://… (default $HTTPAUTH_DB, else in memory)")
	fs.BoolVar(&o.migrate, "migrate", false, "with -db, create or upgrade the tables at start (a demo; in production run httpauth-users migrate)")
	fs.BoolVar(&o.demoUsers, "demo-users", false, "with -db, create the demo users (published passwords) if missing; never on a real database")
	fs.StringVar(&o.redis, "redis", redisEnv, "share revocations and throttling in Redis: redis://… or rediss://… (default $HTTPAUTH_REDIS, else in memory)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "httpauth:", "prefix of the Redis keys")
	fs.StringVar(&proxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed (default: none)")
	fs.IntVar(&o.clientMax, "client-attempts", defaultClientAttempts, "password attempts per client address per 15 minutes (0: no per-client limit)")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on SIGTERM, how long readiness fails before the listener closes (the balancer's check interval)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve GET /metrics on this address, a loopback or internal one such as 127.0.0.1:9090 (default: no metrics)")
	fs.BoolVar(&o.logLinks, "log-links", false, "with -db, write the account links (live secrets) to stderr; without it the account-link routes are off")
	o.mail.addFlags(fs) // -smtp, -smtp-from, -public-url (smtp.go)
	if err := fs.Parse(args); err != nil {
		return o, false, err
	}
	if fs.NArg() != 0 {
		return o, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.mail.check(getenv, o.logLinks); err != nil { // smtp.go
		return o, false, err
	}
	if o.tokenTTL <= 0 {
		return o, false, errors.New("-token-ttl must be positive")
	}
	if o.clientMax < 0 {
		return o, false, errors.New("-client-attempts must not be negative")
	}
	if o.drainDelay < 0 || o.drainDelay > shutdownTimeout/2 {
		return o, false, fmt.Errorf("-drain-delay must be between 0 and %s", shutdownTimeout/2)
	}
	for _, c := range strings.Split(proxies, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			if a, aerr := netip.ParseAddr(c); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			return o, false, fmt.Errorf("-trusted-proxies: %q is not a CIDR (such as 10.0.0.0/8)", c)
		}
		o.proxies = append(o.proxies, p.Masked())
	}
	keysEnv, err := secretEnv(getenv, "HTTPAUTH_KEYS")
	if err != nil {
		return o, false, err
	}
	secret, err := secretEnv(getenv, "HTTPAUTH_SECRET")
	if err != nil {
		return o, false, err
	}
	generated := false
	switch {
	case keysEnv != "" && secret != "":
		return o, false, errors.New("set HTTPAUTH_KEYS or HTTPAUTH_SECRET, not both")
	case keysEnv != "":
		if o.keys, err = parseKeys(keysEnv); err != nil {
			return o, false, err
		}
	case secret != "":
		key, err := httpauth.KeyFromHex("k1", secret)
		if err != nil {
			return o, false, fmt.Errorf("HTTPAUTH_SECRET: %w", err)
		}
		o.keys = []httpauth.SigningKey{key}
	case o.sharedState():
		return o, false, errors.New("HTTPAUTH_KEYS (or HTTPAUTH_SECRET) is required with -db postgres://… or -redis: " +
			"with a random key this instance's tokens would fail on every other instance; generate one with \"httpauth keygen\"")
	default:
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		o.keys = []httpauth.SigningKey{{ID: "k1", Secret: b}}
		generated = true
	}
	return o, generated, nil
}

// argvPassword names the flag whose value, given on the command line,
// carries a password, or "".
func argvPassword(args []string) string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", "", "")
	rd := fs.String("redis", "", "")
	fs.Bool("migrate", false, "")
	fs.Bool("demo-users", false, "")
	fs.Bool("log-links", false, "")
	for _, name := range []string{"addr", "token-ttl", "redis-prefix", "trusted-proxies", "client-attempts", "drain-delay", "metrics-addr"} {
		fs.String(name, "", "")
	}
	_ = fs.Parse(args)
	for name, v := range map[string]string{"-db": *db, "-redis": *rd} {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return name
			}
		}
		if u, err := url.Parse(v); err == nil && u.Query().Has("password") {
			return name
		}
	}
	return ""
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

// shutdownTimeout bounds a shutdown: -drain-delay, the requests in flight
// (at most requestTimeout each), then closing the stores.
const shutdownTimeout = 20 * time.Second

// storeCloseTimeout bounds the stores' Close at shutdown; past it the
// process exits regardless (nothing is lost: every write has returned).
const storeCloseTimeout = 5 * time.Second

// serve is run; ready, if not nil, is called once the servers listen.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(*started)) error {
	o, generated, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(newDedupHandler(slog.NewTextHandler(stderr, nil)))
	setRedisLogger(logger)
	if generated {
		logger.Warn("HTTPAUTH_SECRET is not set: using a random signing key; tokens will not survive a restart")
	}
	if flag := argvPassword(args); flag != "" {
		logger.Warn(flag + " on the command line carries a password, which ps shows to every local user; " +
			"set HTTPAUTH_DB / HTTPAUTH_REDIS (or their _FILE forms) instead")
	}
	if o.linksDelivered() {
		o.links = newMailer(stderr)
		o.links.configure(o.mail, logger) // -public-url, -smtp (smtp.go)
	}
	a, err := newServer(ctx, o, logger)
	if err != nil {
		return err
	}
	closeStores := func() {
		done := make(chan struct{})
		go func() { _ = a.close(); close(done) }()
		select {
		case <-done:
		case <-time.After(storeCloseTimeout):
			logger.Warn("stores did not close in time; exiting anyway", slog.Duration("waited", storeCloseTimeout))
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		closeStores()
		return err
	}
	s := &started{app: a, api: newHTTPServer(a.handler, logger), apiAddr: ln.Addr().String()}
	servers := []*http.Server{s.api}
	errc := make(chan error, 2)
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			_ = ln.Close()
			closeStores()
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
		closeStores()
		return err
	case <-ctx.Done():
	}
	// Drain: readiness fails first, so that a balancer stops sending new
	// requests; then the listeners close and the requests in flight
	// finish; then the stores close. All within shutdownTimeout.
	start := time.Now()
	a.ready.drain()
	logger.Info("shutting down: readiness fails, draining requests in flight", slog.Duration("drain_delay", o.drainDelay))
	time.Sleep(o.drainDelay)
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout-storeCloseTimeout-o.drainDelay)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(shutdown); err != nil {
			errs = append(errs, err)
			_ = srv.Close()
		}
	}
	closeStores()
	logger.Info("shut down", slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return errors.Join(errs...)
}
