// Command httpauth-users manages the users of an httpauth sqlstore table.
//
// Usage:
//
//	httpauth-users -db DSN COMMAND [ARGS]
//
// DSN is sqlite:PATH or a postgres:// (postgresql://) URL; it defaults to
// $HTTPAUTH_USERS_DB. Commands:
//
//	migrate                          create the table if missing
//	add [-id ID] [-roles a,b] [-confirmed] [-no-password] LOGIN
//	                                 create a user; asks for the password
//	passwd LOGIN                     set the password (asks); revokes tokens
//	disable LOGIN | enable LOGIN     disabling also revokes tokens
//	confirm LOGIN | unconfirm LOGIN
//	roles LOGIN [ROLE...]            replace the roles
//	logout LOGIN                     revoke every token issued until now
//	show LOGIN                       print the user, never the hash
//	delete LOGIN
//	import [-dry-run] [-format csv|jsonl] FILE|-
//	                                 create users from their existing hashes
//	unlock LOGIN                     lift the login's password-failure lock
//	                                 in the Redis limiter (-redis)
//
// import reads CSV with a header row (login, hash, and optionally
// confirmed and roles; roles separated by commas, semicolons or spaces)
// or JSON lines ({"login": …, "hash": …, "confirmed": true, "roles":
// ["a"]}). Hashes are stored verbatim: argon2id, bcrypt, and the formats
// of Werkzeug, Django and passlib that httpauth.CheckPasswordHash lists;
// each user's hash becomes argon2id at the next login. A row whose hash
// httpauth cannot verify (unknown format, malformed, or a cost past its
// bounds) is refused with a message naming its line, and the command then
// exits 1 after importing the others. A login that exists is skipped, so
// running it twice imports nothing new. It prints how many rows of each
// format were imported, skipped as existing, and refused; -dry-run checks
// and reports, and changes nothing.
//
// unlock needs -redis (default $HTTPAUTH_USERS_REDIS), the Redis the
// servers' limiter uses, and -redis-prefix, its key prefix (default
// "httpauth:", as the example's -redis-prefix). It counts the login as
// the store does (its canonical form), so any spelling works, and tells
// every running instance (their local lock sets forget it). A server
// without Redis counts failures in its own memory: nothing outside the
// process can reach that count; it ends with its window (15 minutes by
// default) or a restart. A Redis URL with a password is refused in argv
// as -db is: put it in $HTTPAUTH_USERS_REDIS.
//
// Passwords are never taken from argv. From a terminal, add and passwd
// ask twice with echo off; otherwise the password is the first line of
// standard input, without its line ending (nothing else is trimmed).
// Passwords that could never log in are refused: empty, longer than the
// authenticator's limit (1024 bytes), not UTF-8, or with
// a control character.
//
// The database password is never taken from argv either, where ps and the
// shell history would show it: a -db URL with a password (user:pw@ or
// ?password=) is refused. Give it in $PGPASSWORD or ~/.pgpass (read by
// the driver), or put the whole DSN in $HTTPAUTH_USERS_DB.
//
// A new SQLite file is created with mode 0600 (its -wal and -shm files
// follow it); an existing file's mode is left alone.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/gohttpauth/httpauth/redisstore"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: httpauth-users [-db DSN] COMMAND [ARGS]

DSN: sqlite:PATH or postgres://... (default $HTTPAUTH_USERS_DB); no password
in -db: use $PGPASSWORD, ~/.pgpass or $HTTPAUTH_USERS_DB
commands:
  migrate
  add [-id ID] [-roles a,b] [-confirmed] [-no-password] LOGIN   (password typed, or stdin)
  passwd LOGIN                                                  (password typed, or stdin)
  disable LOGIN | enable LOGIN | confirm LOGIN | unconfirm LOGIN
  roles LOGIN [ROLE...] | logout LOGIN | show LOGIN | delete LOGIN
  import [-dry-run] [-format csv|jsonl] FILE|-   (login,hash,confirmed,roles)
  unlock LOGIN       (needs -redis URL or $HTTPAUTH_USERS_REDIS; -redis-prefix, default httpauth:)
`

// run is the whole command, testable: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpauth-users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	dsn := fs.String("db", os.Getenv("HTTPAUTH_USERS_DB"), "sqlite:PATH or postgres://...")
	redisURL := fs.String("redis", os.Getenv("HTTPAUTH_USERS_REDIS"), "redis://... of the servers' limiter (unlock)")
	redisPrefix := fs.String("redis-prefix", redisstore.DefaultPrefix, "the servers' Redis key prefix (unlock)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || *dsn == "" {
		fs.Usage()
		return 2
	}
	inArgv, redisInArgv := false, false
	fs.Visit(func(f *flag.Flag) {
		inArgv = inArgv || f.Name == "db"
		redisInArgv = redisInArgv || f.Name == "redis"
	})
	if inArgv && dsnHasPassword(*dsn) {
		fmt.Fprintln(stderr, "httpauth-users: -db must not contain the database password (ps and the shell history show argv); set PGPASSWORD, use ~/.pgpass, or put the DSN in HTTPAUTH_USERS_DB")
		return 2
	}
	if redisInArgv && redisHasPassword(*redisURL) {
		fmt.Fprintln(stderr, "httpauth-users: -redis must not contain the Redis password (ps and the shell history show argv); put the URL in HTTPAUTH_USERS_REDIS")
		return 2
	}
	var err error
	if fs.Arg(0) == "unlock" {
		err = unlock(ctx, *dsn, *redisURL, *redisPrefix, fs.Args()[1:], stdout)
	} else {
		err = command(ctx, *dsn, fs.Arg(0), fs.Args()[1:], stdin, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "httpauth-users:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("bad usage")

// dsnHasPassword reports whether a postgres URL carries a password.
func dsnHasPassword(dsn string) bool {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return false
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparsable: refuse rather than guess, if it might hold one.
		return strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password")
	}
	_, set := u.User.Password()
	return set || u.Query().Has("password")
}

// redisHasPassword reports whether a Redis URL carries a password.
func redisHasPassword(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return strings.Contains(u, "@")
	}
	_, set := p.User.Password()
	return set || p.Query().Has("password")
}

// unlock lifts login's lock in the servers' Redis limiter: Reset of the
// key httpauth counts the login's failures against, "login:" and the
// store's LoginKey (the canonical login), which deletes the counter and
// tells every instance subscribed to the limiter.
func unlock(ctx context.Context, dsn, redisURL, prefix string, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: unlock LOGIN", errUsage)
	}
	if redisURL == "" {
		return fmt.Errorf("%w: unlock needs -redis or $HTTPAUTH_USERS_REDIS (a server without Redis keeps its locks in its own memory: they end with the window, 15 minutes by default, or a restart)", errUsage)
	}
	db, dialect, err := open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: dialect})
	if err != nil {
		return err
	}
	defer store.Close()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Ping first: a refused password or an unreachable server is an
	// error with a non-zero exit, never a silent success.
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	lim, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: prefix, LocalLocks: -1})
	if err != nil {
		return err
	}
	defer lim.Close()
	if err := lim.Reset(ctx, "login:"+store.LoginKey(args[0])); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "unlocked %s (prefix %q)\n", sqlstore.NormalizeLogin(args[0]), prefix)
	return err
}

// createPrivate creates path with mode 0600 unless it exists, so that the
// SQLite driver does not create it readable by everyone (umask 022).
func createPrivate(path string) error {
	if path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func open(dsn string) (*sql.DB, sqlstore.Dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, "", fmt.Errorf("%w: empty sqlite path", errUsage)
		}
		if err := createPrivate(path); err != nil {
			return nil, "", err
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
		return db, sqlstore.SQLite, err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		return db, sqlstore.Postgres, err
	}
	return nil, "", fmt.Errorf("%w: -db must be sqlite:PATH or a postgres:// URL", errUsage)
}

func command(ctx context.Context, dsn, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	db, dialect, err := open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if cmd == "migrate" {
		if len(args) != 0 {
			return fmt.Errorf("%w: migrate takes no arguments", errUsage)
		}
		return sqlstore.Migrate(ctx, db, dialect)
	}
	store, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: dialect})
	if err != nil {
		return err
	}
	defer store.Close()

	if cmd == "add" {
		return add(ctx, store, args, stdin, stdout, stderr)
	}
	if cmd == "import" {
		return importUsers(ctx, store, args, stdin, stdout, stderr)
	}
	if len(args) < 1 || (cmd != "roles" && len(args) != 1) {
		return fmt.Errorf("%w: %s LOGIN", errUsage, cmd)
	}
	acct, err := store.UserByLogin(ctx, args[0])
	if err != nil {
		return err
	}
	id := acct.ID
	switch cmd {
	case "passwd":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		return store.SetPassword(ctx, id, pw)
	case "disable", "enable":
		return store.SetDisabled(ctx, id, cmd == "disable")
	case "confirm", "unconfirm":
		return store.SetConfirmed(ctx, id, cmd == "confirm")
	case "roles":
		return store.SetRoles(ctx, id, args[1:])
	case "logout":
		return store.LogoutEverywhere(ctx, id)
	case "delete":
		return store.DeleteUser(ctx, id)
	case "show":
		cutoff := "none"
		if !acct.TokensValidAfter.IsZero() {
			cutoff = acct.TokensValidAfter.UTC().Format(time.RFC3339Nano)
		}
		_, err := fmt.Fprintf(stdout, "id:\t%s\nlogin:\t%s\nconfirmed:\t%t\nroles:\t%s\ndisabled:\t%t\nhas password:\t%t\ntokens valid after:\t%s\n",
			acct.ID, acct.User.Login, acct.User.Confirmed, strings.Join(acct.Roles, ","), acct.Disabled, acct.PasswordHash != "", cutoff)
		return err
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

func add(ctx context.Context, store *sqlstore.Store[sqlstore.User], args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("id", "", "user ID (default: random)")
	roles := fs.String("roles", "", "comma-separated roles")
	confirmed := fs.Bool("confirmed", false, "mark the login confirmed")
	noPassword := fs.Bool("no-password", false, "create without a password (cannot log in until passwd)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: add [flags] LOGIN", errUsage)
	}
	u := sqlstore.NewUser{ID: *id, Login: fs.Arg(0), Confirmed: *confirmed}
	if *roles != "" {
		u.Roles = strings.Split(*roles, ",")
	}
	if !*noPassword {
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		u.Password = pw
	}
	newID, err := store.CreateUser(ctx, u)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, newID)
	return err
}
