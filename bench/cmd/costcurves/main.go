// Command costcurves measures how httpauth's costs grow with the number of
// accounts, revocations and locked logins, against PostgreSQL (sqlstore)
// and Redis (redisstore), and prints Markdown tables (and, with -json, the
// figures for bench/plot_costs.py). bench/cost-curves.sh runs it against
// a Redis server of its own.
//
//	costcurves -pg postgres://… -redis redis://… [-max 1e7] [-d 5s] [-c 32]
//	     [-storm 10000] [-parts storm,accounts,revocations,locks,cold] [-json FILE]
//
// The parts, in the order they run:
//
//   - storm: -storm distinct users (at most -max/20) each send one Basic
//     POST /api/v1/tokens at once, on connections of their own, to one
//     instance with the default argon2id hasher: time until all are
//     answered, peak RSS and heap of the process, answers by status.
//   - accounts: for 10³ … min(-max, 10⁶) accounts, two instances (each an
//     httpauth.Authenticator with its own sqlstore, account cache sized for
//     every account, and redisstore, verdict cache likewise, serving on its
//     own loopback port) are warmed by calling their stores directly, then
//     loaded with GET /api/v1/me, each request with the token of an
//     account drawn at random: token checks a second, p50, p99, wrong
//     answers, the heap per cached account and per cached verdict.
//   - revocations: 10³ … min(-max, 10⁷) revocations written in Revoke's
//     key layout: Redis memory per revocation, and the token check rate
//     (two instances, 10⁴ accounts, 1% of their tokens revoked) with that
//     many present.
//   - locks: 10³ … min(-max, 10⁶) locked logins in Reserve's layout
//     (counter and lock index): Redis memory per lock.
//   - cold: a new client, RevocationStore and Limiter with every lock and
//     revocation above present: time to the first correct answer of each
//     and until each reports Live.
//
// Everything runs in one process (GOMAXPROCS as the machine gives), under a
// PostgreSQL schema and a Redis key prefix of its own, both removed at the
// end. It only talks to loopback addresses and the servers named.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gohttpauth/httpauth/bench/internal/loadgen"
	"github.com/gohttpauth/httpauth/redisstore"
)

func main() { loadgen.Main("costcurves", run) }

type config struct {
	pg, redis  string
	max        int
	d          time.Duration
	conns      int
	stormUsers int
	parts      map[string]bool
	jsonPath   string
	coldTrials int
	rounds     int
	tunedGOGC  int
	flushRedis bool
	inProcess  bool
}

var allParts = []string{"storm", "accounts", "revocations", "locks", "cold"}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("costcurves", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var maxS, parts string
	fs.StringVar(&c.pg, "pg", os.Getenv("HTTPAUTH_POSTGRES_TEST_DSN"), "PostgreSQL URL (a schema of the run's own is created in it)")
	fs.StringVar(&c.redis, "redis", os.Getenv("HTTPAUTH_REDIS_TEST_URL"), "Redis URL (one server; for 10⁷ keys, one of the run's own)")
	fs.StringVar(&maxS, "max", "1e7", "largest size: accounts and locks go to min(max, 1e6), revocations to min(max, 1e7)")
	fs.DurationVar(&c.d, "d", 5*time.Second, "measured load per point")
	fs.IntVar(&c.conns, "c", 32, "keep-alive connections of the token load, spread over the instances")
	fs.IntVar(&c.stormUsers, "storm", 10000, "login storm users (at most -max/20)")
	fs.StringVar(&parts, "parts", strings.Join(allParts, ","), "parts to run")
	fs.StringVar(&c.jsonPath, "json", "", "write the figures to this file as JSON")
	fs.IntVar(&c.rounds, "rounds", 3, "measured loads of -d per point; the rate reported is the median round's")
	fs.IntVar(&c.tunedGOGC, "gogc", 400, "also measure each accounts point with this GOGC, in rounds alternating with the default; 0 skips")
	fs.IntVar(&c.coldTrials, "cold-trials", 3, "cold starts to time")
	fs.StringVar(&profileDir, "profile", "", "write a CPU profile of each accounts point's load to this directory")
	fs.BoolVar(&c.inProcess, "client-in-process", false, "run the token load's client in this process (as before 2026-12-06) rather than in a process of its own")
	fs.BoolVar(&c.flushRedis, "flush-redis", false, "the Redis server is the run's own: FLUSHALL it at the end instead of deleting the run's keys one by one")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	f, err := strconv.ParseFloat(maxS, 64)
	switch {
	case fs.NArg() != 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case err != nil || f < 100 || f > 1e8:
		return c, errors.New("-max must be a number between 1e2 and 1e8")
	case c.pg == "" || c.redis == "":
		return c, errors.New("-pg and -redis (or HTTPAUTH_POSTGRES_TEST_DSN and HTTPAUTH_REDIS_TEST_URL) are required")
	case c.d <= 0 || c.d > 10*time.Minute:
		return c, errors.New("-d must be positive and at most 10m")
	case c.conns < 1 || c.conns > 1024:
		return c, errors.New("-c must be between 1 and 1024")
	case c.stormUsers < 0 || c.stormUsers > 100000:
		return c, errors.New("-storm must be between 0 and 100000")
	case c.rounds < 1 || c.rounds > 20:
		return c, errors.New("-rounds must be between 1 and 20")
	case c.tunedGOGC < 0:
		return c, errors.New("-gogc must not be negative")
	case c.coldTrials < 1 || c.coldTrials > 100:
		return c, errors.New("-cold-trials must be between 1 and 100")
	}
	c.max = int(f)
	c.parts = map[string]bool{}
	for p := range strings.SplitSeq(parts, ",") {
		p = strings.TrimSpace(p)
		known := false
		for _, a := range allParts {
			known = known || a == p
		}
		if !known {
			return c, fmt.Errorf("-parts: unknown part %q (have %s)", p, strings.Join(allParts, ","))
		}
		c.parts[p] = true
	}
	if c.parts["cold"] {
		c.parts["revocations"], c.parts["locks"] = true, true // cold start needs both present
	}
	return c, nil
}

// powers returns 10³, 10⁴, … up to limit.
func powers(limit int) []int {
	var s []int
	for n := 1000; n <= limit; n *= 10 {
		s = append(s, n)
	}
	return s
}

// results is everything one run measured, for -json.
type results struct {
	Date        string            `json:"date"`
	Go          string            `json:"go"`
	GOMAXPROCS  int               `json:"gomaxprocs"`
	Storm       *stormResult      `json:"storm,omitempty"`
	Accounts    []accountPoint    `json:"accounts,omitempty"`
	Revocations []revocationPoint `json:"revocations,omitempty"`
	Locks       []lockPoint       `json:"locks,omitempty"`
	Cold        []coldResult      `json:"cold,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == stormClientFlag {
		return stormClientMain(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == loadClientFlag {
		return loadClientMain(ctx, args[1:], stdout)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	raiseFileLimit(stderr)
	e, err := newEnv(ctx, cfg.pg, cfg.redis, stderr)
	if err != nil {
		return err
	}
	e.rounds, e.tunedGOGC, e.clientProcess = cfg.rounds, cfg.tunedGOGC, !cfg.inProcess
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if cfg.flushRedis {
			_ = e.rdb.FlushAll(cctx).Err()
		}
		e.close(cctx)
	}()
	res := results{Date: time.Now().UTC().Format(time.RFC3339), Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	write := func() error {
		if cfg.jsonPath == "" {
			return nil
		}
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(cfg.jsonPath, append(b, '\n'), 0o644)
	}
	fmt.Fprintf(stdout, "costcurves: %s, GOMAXPROCS %d, %d connections, %s per point\n\n", res.Date, res.GOMAXPROCS, cfg.conns, cfg.d)

	if cfg.parts["storm"] {
		users := min(cfg.stormUsers, cfg.max/20)
		fmt.Fprintf(stderr, "storm: %d users\n", users)
		s, err := storm(ctx, e, users, true)
		if err != nil {
			return fmt.Errorf("storm: %w", err)
		}
		res.Storm = &s
		printStorm(stdout, s)
		if err := write(); err != nil {
			return err
		}
	}
	if cfg.parts["accounts"] {
		for _, n := range powers(min(cfg.max, 1_000_000)) {
			p, err := measureAccounts(ctx, e, n, cfg.conns, cfg.d)
			if err != nil {
				return fmt.Errorf("accounts %d: %w", n, err)
			}
			res.Accounts = append(res.Accounts, p)
			if err := write(); err != nil {
				return err
			}
		}
		printAccounts(stdout, res.Accounts)
	}
	if cfg.parts["revocations"] {
		pts, err := measureRevocations(ctx, e, powers(min(cfg.max, 10_000_000)), min(cfg.max, 10_000), cfg.conns, cfg.d)
		res.Revocations = pts
		if err != nil {
			return fmt.Errorf("revocations: %w", err)
		}
		printRevocations(stdout, pts)
		if err := write(); err != nil {
			return err
		}
	}
	if cfg.parts["locks"] {
		pts, err := measureLocks(ctx, e, powers(min(cfg.max, 1_000_000)))
		res.Locks = pts
		if err != nil {
			return fmt.Errorf("locks: %w", err)
		}
		printLocks(stdout, pts)
		if err := write(); err != nil {
			return err
		}
	}
	if cfg.parts["cold"] && len(res.Locks) > 0 && len(res.Revocations) > 0 {
		locks, revs := res.Locks[len(res.Locks)-1].Locks, res.Revocations[len(res.Revocations)-1].Revocations
		local := max(2*locks, redisstore.DefaultLocalLocks)
		for t := range cfg.coldTrials {
			c, err := coldStart(ctx, e, locks, revs, local, time.Minute)
			if err != nil {
				return fmt.Errorf("cold start %d: %w", t+1, err)
			}
			fmt.Fprintf(stderr, "cold start %d: %+v\n", t+1, c)
			res.Cold = append(res.Cold, c)
		}
		if locks > redisstore.DefaultLocalLocks {
			// The default local lock set cannot hold them: not live, and
			// answering from Redis meanwhile, and rereading the lock
			// indexes every 10 s (three reads in 21 s).
			c, err := coldStart(ctx, e, locks, revs, redisstore.DefaultLocalLocks, 21*time.Second)
			if err != nil {
				return fmt.Errorf("cold start (default LocalLocks): %w", err)
			}
			res.Cold = append(res.Cold, c)
		}
		printCold(stdout, res.Cold)
		if err := write(); err != nil {
			return err
		}
	}
	return checkResults(res)
}

// checkResults fails the run on any wrong answer or 500.
func checkResults(res results) error {
	var errs []error
	if s := res.Storm; s != nil && (s.Status[500] > 0 || s.Failed > 0) {
		errs = append(errs, fmt.Errorf("storm: %d 500s, %d transport errors", s.Status[500], s.Failed))
	}
	for _, p := range res.Accounts {
		if p.Wrong > 0 || p.Status5xx > 0 || p.Failed > 0 {
			errs = append(errs, fmt.Errorf("accounts %d: %d wrong, %d 5xx, %d failed", p.Accounts, p.Wrong, p.Status5xx, p.Failed))
		}
		if t := p.Tuned; t != nil && (t.Wrong > 0 || t.Status5xx > 0 || t.Failed > 0) {
			errs = append(errs, fmt.Errorf("accounts %d, GOGC=%d: %d wrong, %d 5xx, %d failed", p.Accounts, t.GOGC, t.Wrong, t.Status5xx, t.Failed))
		}
	}
	for _, p := range res.Revocations {
		if l := p.Load; l != nil && (l.Wrong > 0 || l.Status5xx > 0 || l.Failed > 0) {
			errs = append(errs, fmt.Errorf("revocations %d: %d wrong, %d 5xx, %d failed", p.Revocations, l.Wrong, l.Status5xx, l.Failed))
		}
	}
	return errors.Join(errs...)
}

// raiseFileLimit lifts RLIMIT_NOFILE for the storm's connections (both
// ends are in this process).
func raiseFileLimit(stderr io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	want := uint64(1 << 17)
	if l.Cur >= want {
		return
	}
	n := syscall.Rlimit{Cur: want, Max: max(want, l.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		n = syscall.Rlimit{Cur: l.Max, Max: l.Max}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n)
		fmt.Fprintf(stderr, "open files limited to %d\n", l.Max)
	}
}
