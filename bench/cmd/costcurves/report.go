package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gohttpauth/httpauth/redisstore"
)

// measureRevocations loads revocations up to each size in turn and
// measures Redis's used_memory above the start, then the token check
// rate of two instances over accounts accounts (every 100th token revoked
// through Revoke, and so refused) with that many revocations present.
func measureRevocations(ctx context.Context, e *env, sizes []int, accounts, conns int, d time.Duration) ([]revocationPoint, error) {
	if err := e.ensureAccounts(ctx, accounts); err != nil {
		return nil, err
	}
	insts, err := startInstances(ctx, e, 2, instOpts{accountCache: accounts})
	if err != nil {
		return nil, err
	}
	defer closeAll(insts)
	ts, err := mintTokens(ctx, insts[0], accounts)
	if err != nil {
		return nil, err
	}
	defer ts.removeFile()
	for i := 0; i < accounts; i += 100 {
		if err := insts[0].rev.Revoke(ctx, ts.claims[i], ts.expiry[i]); err != nil {
			return nil, err
		}
		ts.want[i] = http.StatusUnauthorized
	}
	for _, in := range insts {
		if err := warmAccounts(ctx, in, accounts); err != nil {
			return nil, err
		}
		if err := warmVerdicts(ctx, in, ts); err != nil {
			return nil, err
		}
	}
	e.load(ctx, bases(insts), ts, conns, min(d/4, time.Second))
	base, err := usedMemory(ctx, e)
	if err != nil {
		return nil, err
	}
	var pts []revocationPoint
	loaded := 0
	for _, n := range sizes {
		start := time.Now()
		if err := loadRevocations(ctx, e.rdb, insts[0].rev, loaded, n); err != nil {
			return pts, err
		}
		p := revocationPoint{Revocations: n, LoadSeconds: time.Since(start).Seconds()}
		loaded = n
		mem, err := usedMemory(ctx, e)
		if err != nil {
			return pts, err
		}
		p.UsedMemory = mem - base
		p.PerRevocation = float64(p.UsedMemory) / float64(n)
		l := rounds(ctx, e.rounds, func() loadResult { return e.load(ctx, bases(insts), ts, conns, d) })
		p.Load = &l
		fmt.Fprintf(e.log, "revocations %d: %.1f B each, loaded in %.1fs; %.0f req/s, p99 %.2f ms, wrong %d\n",
			n, p.PerRevocation, p.LoadSeconds, l.Rate, l.P99Ms, l.Wrong)
		pts = append(pts, p)
	}
	return pts, nil
}

// usedMemory is INFO memory's used_memory after letting jemalloc return
// what it can (MEMORY PURGE).
func usedMemory(ctx context.Context, e *env) (int64, error) {
	_ = e.rdb.Do(ctx, "MEMORY", "PURGE").Err()
	return redisInfoInt(ctx, e.rdb, "memory", "used_memory")
}

// measureLocks loads locked logins up to each size in turn and measures
// Redis's used_memory above the start.
func measureLocks(ctx context.Context, e *env, sizes []int) ([]lockPoint, error) {
	lim, err := redisstore.NewLimiter(e.rdb, redisstore.LimiterOptions{Prefix: e.prefix, LocalLocks: -1})
	if err != nil {
		return nil, err
	}
	defer func() { _ = lim.Close() }()
	base, err := usedMemory(ctx, e)
	if err != nil {
		return nil, err
	}
	var pts []lockPoint
	loaded := 0
	for _, n := range sizes {
		start := time.Now()
		if err := loadLocks(ctx, e.rdb, lim, e.prefix, loaded, n); err != nil {
			return pts, err
		}
		p := lockPoint{Locks: n, LoadSeconds: time.Since(start).Seconds()}
		loaded = n
		mem, err := usedMemory(ctx, e)
		if err != nil {
			return pts, err
		}
		p.UsedMemory = mem - base
		p.PerLock = float64(p.UsedMemory) / float64(n)
		// The layout is the limiter's own: it refuses a loaded login.
		if ok, _, err := lim.Allow(ctx, lockLogin(n-1)); err != nil || ok {
			return pts, fmt.Errorf("a loaded lock was not seen by Allow (err %v)", err)
		}
		fmt.Fprintf(e.log, "locks %d: %.1f B each, loaded in %.1fs\n", n, p.PerLock, p.LoadSeconds)
		pts = append(pts, p)
	}
	return pts, nil
}

func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func printStorm(w io.Writer, s stormResult) {
	fmt.Fprintln(w, "Login storm (POST /api/v1/tokens, Basic, default argon2id):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Users | All answered after | Logins/s | p50 | p99 | 200 | 429 | 503 | 500 | Other | Transport errors | RSS before → peak | Heap objects before → peak |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	other := 0
	for c, n := range s.Status {
		if c != 200 && c != 429 && c != 503 && c != 500 {
			other += n
		}
	}
	fmt.Fprintf(w, "| %s | %.1f s | %.0f | %.1f s | %.1f s | %s | %d | %d | %d | %d | %d | %.0f → %.0f MiB | %.0f → %.0f MiB |\n\n",
		count(s.Users), s.Seconds, s.HashesPerSec, s.P50Ms/1000, s.P99Ms/1000, count(s.Status[200]), s.Status[429], s.Status[503], s.Status[500],
		other, s.Failed, s.BaseRSSMiB, s.PeakRSSMiB, s.BaseHeapMiB, s.PeakHeapMiB)
	if s.Failed > 0 {
		fmt.Fprintf(w, "Transport errors %v, after %v s (min, median, max).\n\n", s.Errors, s.FailedAfterS)
	}
}

func printAccounts(w io.Writer, pts []accountPoint) {
	fmt.Fprintln(w, "Token checks over N cached accounts (two instances; rates are the median round's):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Accounts | Token checks/s | vs 10³ | p50 | p99 | CPU per request | vs 10³ | GC share of CPU | Wrong | 5xx | PostgreSQL lookups | Redis commands | Heap per cached account | Heap per cached verdict | Live heap | Warm-up |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range pts {
		fmt.Fprintf(w, "| %s | %s | %.0f%% | %.2f ms | %.2f ms | %.1f µs | %.2f× | %.0f%% | %d | %d | %d | %d | %.0f B | %.0f B | %.0f MiB | %.0f s |\n",
			count(p.Accounts), count(int(p.Rate)), 100*p.Rate/pts[0].Rate, p.P50Ms, p.P99Ms,
			p.CPUPerRequest, p.CPUPerRequest/pts[0].CPUPerRequest, 100*p.GCShare, p.Wrong, p.Status5xx,
			p.PGLookups, p.RedisCommands, p.HeapPerAccount, p.HeapPerVerdict, p.HeapMiB, p.WarmSeconds)
	}
	fmt.Fprintln(w)
	if pts[0].Tuned == nil {
		return
	}
	fmt.Fprintf(w, "The same instances with GOGC=%d, in rounds alternating with the default:\n\n", pts[0].Tuned.GOGC)
	fmt.Fprintln(w, "| Accounts | Token checks/s | vs 10³ | p50 | p99 | CPU per request | vs 10³ | GC share of CPU | GC cycles | Wrong | 5xx |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range pts {
		t := p.Tuned
		fmt.Fprintf(w, "| %s | %s | %.0f%% | %.2f ms | %.2f ms | %.1f µs | %.2f× | %.0f%% | %d | %d | %d |\n",
			count(p.Accounts), count(int(t.Rate)), 100*t.Rate/pts[0].Tuned.Rate, t.P50Ms, t.P99Ms,
			t.CPUPerRequest, t.CPUPerRequest/pts[0].Tuned.CPUPerRequest, 100*t.GCShare, t.GCCycles, t.Wrong, t.Status5xx)
	}
	fmt.Fprintln(w)
}

func printRevocations(w io.Writer, pts []revocationPoint) {
	fmt.Fprintln(w, "Revocations in Redis:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Revocations | Redis used_memory above start | Per revocation | Token checks/s | p99 | CPU per request | Wrong | 5xx |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range pts {
		l := p.Load
		if l == nil {
			l = &loadResult{}
		}
		fmt.Fprintf(w, "| %s | %.1f MiB | %.0f B | %s | %.2f ms | %.1f µs | %d | %d |\n", count(p.Revocations),
			float64(p.UsedMemory)/(1<<20), p.PerRevocation, count(int(l.Rate)), l.P99Ms, l.CPUPerRequest, l.Wrong, l.Status5xx)
	}
	fmt.Fprintln(w)
}

func printLocks(w io.Writer, pts []lockPoint) {
	fmt.Fprintln(w, "Locked logins in Redis:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Locks | Redis used_memory above start | Per lock |")
	fmt.Fprintln(w, "|---:|---:|---:|")
	for _, p := range pts {
		fmt.Fprintf(w, "| %s | %.1f MiB | %.0f B |\n", count(p.Locks), float64(p.UsedMemory)/(1<<20), p.PerLock)
	}
	fmt.Fprintln(w)
}

func printCold(w io.Writer, cs []coldResult) {
	fmt.Fprintln(w, "Cold start (new client, RevocationStore and Limiter):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Locks | Revocations | LocalLocks | First revoked answer | First locked answer | Revocations live | Limiter live | Local lock set, heap per lock | Window | Redis sent | CPU |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	live := func(v float64) string {
		if v < 0 {
			return "not live"
		}
		return fmt.Sprintf("%.0f ms", v)
	}
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %s | %s | %.1f ms | %.1f ms | %s | %s | %.0f B | %.1f s | %.1f MiB | %.2f s |\n", count(c.Locks), count(c.Revocations), count(c.LocalLocks),
			c.FirstRevokedMs, c.FirstLockedMs, live(c.RevLiveMs), live(c.LimLiveMs), c.LocalSetHeap, c.WindowS, c.RedisOutMiB, c.CPUSeconds)
	}
	fmt.Fprintln(w)
}
