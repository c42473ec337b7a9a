package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth/bench/internal/loadgen"
	"github.com/gohttpauth/httpauth/redisstore"
)

// ---- 1 and 2: token checks over n cached accounts, memory per entry ----

// accountPoint is one account count's figures.
type accountPoint struct {
	Accounts int `json:"accounts"`
	loadResult
	HeapPerAccount float64      `json:"heap_per_account"` // bytes, sqlstore cache, instance A
	HeapPerVerdict float64      `json:"heap_per_verdict"` // bytes, redisstore verdict cache, instance A
	WarmSeconds    float64      `json:"warm_seconds"`     // both instances' direct warm-up
	PGLookups      int64        `json:"pg_lookups"`       // index scans of the users table during the load
	NotLive        liveLapses   `json:"not_live"`         // samples (every 10 ms) that found a cache not trusted
	GCShare        float64      `json:"gc_share"`         // the GC's share of the process's CPU time during the load
	GCCycles       int64        `json:"gc_cycles"`        // during the load
	HeapMiB        float64      `json:"heap_mib"`         // live heap after the load (both instances, the load's tokens)
	Tuned          *tunedResult `json:"tuned,omitempty"`  // the same with GOGC raised
	RedisCommands  int64        `json:"redis_commands"`   // commands Redis processed during the load
}

// measureAccounts grows the table to n accounts, starts two instances
// with caches sized for all of them, mints a token per account, warms
// both instances' account and verdict caches by calling the stores
// directly (measuring instance A's heap around each), then loads both
// with tokens drawn uniformly over all accounts.
func measureAccounts(ctx context.Context, e *env, n, conns int, d time.Duration) (accountPoint, error) {
	p := accountPoint{Accounts: n}
	if err := e.ensureAccounts(ctx, n); err != nil {
		return p, err
	}
	opts := instOpts{accountCache: n, verdicts: n}
	insts, err := startInstances(ctx, e, 2, opts)
	if err != nil {
		return p, err
	}
	defer closeAll(insts)
	ts, err := mintTokens(ctx, insts[0], n)
	if err != nil {
		return p, err
	}
	defer ts.removeFile()
	start := time.Now()
	h0 := heapAfterGC()
	if err := warmAccounts(ctx, insts[0], n); err != nil {
		return p, err
	}
	h1 := heapAfterGC()
	if err := warmVerdicts(ctx, insts[0], ts); err != nil {
		return p, err
	}
	h2 := heapAfterGC()
	p.HeapPerAccount = float64(h1-h0) / float64(n)
	p.HeapPerVerdict = float64(h2-h1) / float64(n)
	if err := warmAccounts(ctx, insts[1], n); err != nil {
		return p, err
	}
	if err := warmVerdicts(ctx, insts[1], ts); err != nil {
		return p, err
	}
	p.WarmSeconds = time.Since(start).Seconds()
	fmt.Fprintf(e.log, "accounts %d: warmed in %.1fs, %.0f B/account, %.0f B/verdict\n", n, p.WarmSeconds, p.HeapPerAccount, p.HeapPerVerdict)
	// A short unmeasured pass (connections, the token cache).
	e.load(ctx, bases(insts), ts, conns, min(d/4, time.Second))
	flushPGStats(insts)
	pg0, _ := e.pgIndexScans(ctx)
	rc0, _ := redisInfoInt(ctx, e.rdb, "stats", "total_commands_processed")
	stopProfile := startProfile(fmt.Sprintf("accounts-%d", n))
	stopWatch := watchLive(insts, &p.NotLive)
	// Rounds alternate between the default GOGC and, with tunedGOGC,
	// that setting, so that both see the same machine.
	var def, tuned []loadResult
	var gDef, gTuned gcStats
	for range e.rounds {
		g0 := readGC()
		def = append(def, e.load(ctx, bases(insts), ts, conns, d))
		gDef = gDef.add(readGC().sub(g0))
		if e.tunedGOGC > 0 {
			old := debug.SetGCPercent(e.tunedGOGC)
			g0 := readGC()
			tuned = append(tuned, e.load(ctx, bases(insts), ts, conns, d))
			gTuned = gTuned.add(readGC().sub(g0))
			debug.SetGCPercent(old)
		}
	}
	stopWatch()
	stopProfile()
	p.loadResult = combine(def)
	p.GCShare, p.GCCycles = gDef.share(), int64(gDef.cycles)
	if e.tunedGOGC > 0 {
		t := combine(tuned)
		p.Tuned = &tunedResult{GOGC: e.tunedGOGC, loadResult: t, GCShare: gTuned.share(), GCCycles: int64(gTuned.cycles)}
	}
	p.HeapMiB = float64(heapAfterGC()) / (1 << 20)
	flushPGStats(insts)
	pg1, _ := e.pgIndexScans(ctx)
	rc1, _ := redisInfoInt(ctx, e.rdb, "stats", "total_commands_processed")
	p.PGLookups, p.RedisCommands = pg1-pg0, rc1-rc0-2 // less our own INFO
	fmt.Fprintf(e.log, "accounts %d: %.0f req/s (%.1f µs CPU each), p99 %.2f ms, wrong %d, 5xx %d, GC %.0f%% of CPU (%d cycles), heap %.0f MiB, %d PostgreSQL lookups, not live %+v\n",
		n, p.Rate, p.CPUPerRequest, p.P99Ms, p.Wrong, p.Status5xx, 100*p.GCShare, p.GCCycles, p.HeapMiB, p.PGLookups, p.NotLive)
	if t := p.Tuned; t != nil {
		fmt.Fprintf(e.log, "accounts %d, GOGC=%d: %.0f req/s (%.1f µs CPU each), p99 %.2f ms, wrong %d, GC %.0f%% of CPU (%d cycles)\n",
			n, t.GOGC, t.Rate, t.CPUPerRequest, t.P99Ms, t.Wrong, 100*t.GCShare, t.GCCycles)
	}
	return p, nil
}

func startInstances(ctx context.Context, e *env, k int, o instOpts) ([]*instance, error) {
	var insts []*instance
	for range k {
		in, err := e.newInstance(ctx, o)
		if err != nil {
			closeAll(insts)
			return nil, err
		}
		insts = append(insts, in)
	}
	for _, in := range insts {
		if err := in.waitLive(ctx, false); err != nil {
			closeAll(insts)
			return nil, err
		}
	}
	return insts, nil
}

func closeAll(insts []*instance) {
	for _, in := range insts {
		in.close()
	}
}

func bases(insts []*instance) []string {
	var b []string
	for _, in := range insts {
		b = append(b, in.base)
	}
	return b
}

func warmAccounts(ctx context.Context, in *instance, n int) error {
	return parallel(ctx, n, func(i int) error {
		a, err := in.users.UserByID(ctx, accountID(i))
		if err == nil && a.ID != accountID(i) {
			err = fmt.Errorf("UserByID(%s) = %s", accountID(i), a.ID)
		}
		return err
	})
}

func warmVerdicts(ctx context.Context, in *instance, ts *tokenSet) error {
	return parallel(ctx, ts.len(), func(i int) error {
		revoked, err := in.rev.IsRevoked(ctx, ts.claims[i])
		if err == nil && revoked != (ts.want[i] == http.StatusUnauthorized) {
			err = fmt.Errorf("token %d: revoked = %v", i, revoked)
		}
		return err
	})
}

// ---- 3: Redis memory per revocation and per lock ----

// revocationPoint is one revocation count's figures.
type revocationPoint struct {
	Revocations   int         `json:"revocations"`
	UsedMemory    int64       `json:"used_memory"`    // bytes above the baseline
	PerRevocation float64     `json:"per_revocation"` // bytes
	LoadSeconds   float64     `json:"load_seconds"`   // to write this step's revocations
	Load          *loadResult `json:"load,omitempty"` // token checks with this many present
}

// revocationTTL is the loaded revocations' time to live: longer than
// the run, as a token's (an hour by default) is.
const revocationTTL = 2 * time.Hour

// revocationID is the ID of loaded revocation i: random-looking, fixed.
func revocationID(i int) [16]byte {
	var id [16]byte
	r := rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15))
	for j := range 2 {
		v := r.Uint64()
		for k := range 8 {
			id[8*j+k] = byte(v >> (8 * k))
		}
	}
	return id
}

// loadRevocations writes revocations from..to-1 in the layout Revoke
// writes (RevocationStore.Key, value "1", a PX time to live), in
// pipelines of 1,000 on 4 connections, without the publication (which
// would only reach the subscribers' caches).
func loadRevocations(ctx context.Context, rdb *redis.Client, rev *redisstore.RevocationStore, from, to int) error {
	return inBatches(ctx, rdb, from, to, func(p redis.Pipeliner, i int) {
		p.Set(ctx, rev.Key(revocationID(i)), "1", revocationTTL+time.Millisecond) // PX
	})
}

// inBatches calls add for from..to-1 in pipelines of 1,000 on 4
// connections, and returns the first error.
func inBatches(ctx context.Context, rdb *redis.Client, from, to int, add func(p redis.Pipeliner, i int)) error {
	const batch = 1000
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var errOnce sync.Once
	var first error
	for range 4 {
		wg.Go(func() {
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= to || ctx.Err() != nil {
					return
				}
				hi := min(lo+batch, to)
				_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := lo; i < hi; i++ {
						add(p, i)
					}
					return nil
				})
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// lockWindow is the loaded locks' time to live, and their lock's end.
const lockWindow = 30 * time.Minute

func lockLogin(i int) string { return "locked-" + strconv.Itoa(i) }

// loadLocks locks logins from..to-1 in the layout Reserve leaves at the
// limit: the counter (Limiter.Key) at MaxFailures (10) with a PX time to
// live, and the counter in its bucket's lock index (a sorted set scored
// by the lock's end in Redis milliseconds), in pipelines.
func loadLocks(ctx context.Context, rdb *redis.Client, lim *redisstore.Limiter, prefix string, from, to int) error {
	t, err := rdb.Time(ctx).Result()
	if err != nil {
		return err
	}
	end := float64(t.Add(lockWindow).UnixMilli())
	err = inBatches(ctx, rdb, from, to, func(p redis.Pipeliner, i int) {
		ck := lim.Key(lockLogin(i))
		p.Set(ctx, ck, "10", lockWindow+time.Millisecond)
		p.ZAdd(ctx, lockIndex(prefix, ck), redis.Z{Score: end, Member: ck})
	})
	if err != nil {
		return err
	}
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range 256 {
			p.PExpire(ctx, fmt.Sprintf("%slocked:{%02x}", prefix, b), lockWindow)
		}
		return nil
	})
	return err
}

// lockIndex is the lock index of counter ck: prefix + "locked:{" + its
// bucket + "}", the bucket being ck's hash tag.
func lockIndex(prefix, ck string) string {
	i := strings.IndexByte(ck[len(prefix):], '{') + len(prefix)
	return prefix + "locked:" + ck[i:i+4]
}

// lockPoint is one lock count's figures.
type lockPoint struct {
	Locks       int     `json:"locks"`
	UsedMemory  int64   `json:"used_memory"`
	PerLock     float64 `json:"per_lock"`
	LoadSeconds float64 `json:"load_seconds"`
}

// ---- 4: cold start ----

// coldResult is one cold start: from the construction of a new client,
// RevocationStore and Limiter to each event, in milliseconds.
type coldResult struct {
	Locks          int     `json:"locks"`
	Revocations    int     `json:"revocations"`
	LocalLocks     int     `json:"local_locks"`
	FirstRevokedMs float64 `json:"first_revoked_ms"` // IsRevoked of a revoked ID answered true
	FirstLockedMs  float64 `json:"first_locked_ms"`  // Allow of a locked login answered false
	RevLiveMs      float64 `json:"rev_live_ms"`
	LimLiveMs      float64 `json:"lim_live_ms"` // -1: not live within the wait
	LocalSetHeap   float64 `json:"local_set_heap_per_lock"`
	// Over the window (from the start until both were live, or the wait
	// ended): what Redis sent to all its clients, and this process's CPU.
	WindowS     float64 `json:"window_s"`
	RedisOutMiB float64 `json:"redis_out_mib"`
	CPUSeconds  float64 `json:"cpu_s"`
}

// coldStart builds a fresh instance's Redis side and times its first
// correct answers and its liveness. wait bounds the wait for Live.
func coldStart(ctx context.Context, e *env, locks, revocations, localLocks int, wait time.Duration) (coldResult, error) {
	r := coldResult{Locks: locks, Revocations: revocations, LocalLocks: localLocks}
	h0 := heapAfterGC()
	opts, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return r, err
	}
	out0, _ := redisInfoInt(ctx, e.rdb, "stats", "total_net_output_bytes")
	cpu0 := processCPU()
	t0 := time.Now()
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	rev, err := redisstore.NewRevocationStore(rdb, redisstore.RevocationOptions{Prefix: e.prefix})
	if err != nil {
		return r, err
	}
	defer func() { _ = rev.Close() }()
	lim, err := redisstore.NewLimiter(rdb, redisstore.LimiterOptions{Prefix: e.prefix, LocalLocks: localLocks})
	if err != nil {
		return r, err
	}
	defer func() { _ = lim.Close() }()
	var wg sync.WaitGroup
	var errs [3]error
	wg.Go(func() {
		revoked, err := rev.IsRevoked(ctx, revocationID(0))
		r.FirstRevokedMs = ms(time.Since(t0))
		if err == nil && !revoked {
			err = errors.New("cold start: a revoked ID answered not revoked")
		}
		errs[0] = err
	})
	wg.Go(func() {
		ok, _, err := lim.Allow(ctx, lockLogin(0))
		r.FirstLockedMs = ms(time.Since(t0))
		if err == nil && ok {
			err = errors.New("cold start: a locked login was allowed")
		}
		errs[1] = err
	})
	wg.Go(func() {
		r.RevLiveMs, r.LimLiveMs = -1, -1
		deadline := t0.Add(wait)
		for time.Now().Before(deadline) && ctx.Err() == nil && (r.RevLiveMs < 0 || r.LimLiveMs < 0) {
			if r.RevLiveMs < 0 && rev.Live() {
				r.RevLiveMs = ms(time.Since(t0))
			}
			if r.LimLiveMs < 0 && lim.Live() {
				r.LimLiveMs = ms(time.Since(t0))
			}
			time.Sleep(time.Millisecond)
		}
		if r.RevLiveMs < 0 {
			errs[2] = fmt.Errorf("cold start: the revocation store was not live within %s", wait)
		}
	})
	wg.Wait()
	r.WindowS = time.Since(t0).Seconds()
	r.CPUSeconds = (processCPU() - cpu0).Seconds()
	out1, _ := redisInfoInt(ctx, e.rdb, "stats", "total_net_output_bytes")
	r.RedisOutMiB = float64(out1-out0) / (1 << 20)
	if err := errors.Join(errs[:]...); err != nil {
		return r, err
	}
	if r.LimLiveMs >= 0 {
		// Answers from the local set once live: still correct.
		if ok, _, err := lim.Allow(ctx, lockLogin(locks-1)); err != nil || ok {
			return r, fmt.Errorf("cold start: live limiter allowed a locked login (err %v)", err)
		}
		if ok, _, err := lim.Allow(ctx, "never-locked"); err != nil || !ok {
			return r, fmt.Errorf("cold start: live limiter refused a free login (err %v)", err)
		}
		if locks > 0 {
			r.LocalSetHeap = float64(heapAfterGC()-h0) / float64(locks)
		}
	}
	return r, nil
}

// ---- 5: login storm ----

// stormResult is one login storm's figures.
type stormResult struct {
	Users        int            `json:"users"`
	Seconds      float64        `json:"seconds"` // until the last answer
	P50Ms        float64        `json:"p50_ms"`
	P99Ms        float64        `json:"p99_ms"`
	Status       map[int]int    `json:"status"`
	Failed       int            `json:"failed"` // transport errors
	Errors       map[string]int `json:"errors,omitempty"`
	FailedAfterS []float64      `json:"failed_after_s,omitempty"` // min, median, max time to a transport error
	BaseRSSMiB   float64        `json:"base_rss_mib"`
	PeakRSSMiB   float64        `json:"peak_rss_mib"`
	PeakHeapMiB  float64        `json:"peak_heap_mib"` // live heap objects, sampled
	BaseHeapMiB  float64        `json:"base_heap_mib"`
	HashesPerSec float64        `json:"hashes_per_sec"`
}

// storm sends POST /api/v1/tokens with Basic from users distinct
// accounts at once, each on its own connection, to one instance with the
// default argon2id hasher, and samples this process's RSS and heap. With
// subprocess, the clients run in a child process (this program with
// -storm-client), so that the figures are the server's alone and each side
// has its own open-file limit.
func storm(ctx context.Context, e *env, users int, subprocess bool) (stormResult, error) {
	r := stormResult{Users: users, Status: map[int]int{}}
	if err := e.ensureAccounts(ctx, users); err != nil {
		return r, err
	}
	in, err := e.newInstance(ctx, instOpts{accountCache: users})
	if err != nil {
		return r, err
	}
	defer in.close()
	if err := in.waitLive(ctx, true); err != nil {
		return r, err
	}

	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
	r.BaseRSSMiB = float64(rssKiB("VmRSS")) / 1024
	r.BaseHeapMiB = float64(heapObjects()) / (1 << 20)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var peakHeap uint64
	sampler.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peakHeap = max(peakHeap, heapObjects())
			}
		}
	})
	var ans stormAnswers
	if subprocess {
		ans, err = stormSubprocess(ctx, in.base, users)
	} else {
		ans = stormClients(ctx, in.base, users)
	}
	close(stop)
	sampler.Wait()
	if err != nil {
		return r, err
	}
	r.Seconds = ans.Seconds
	r.Errors = ans.Errors
	r.PeakHeapMiB = float64(peakHeap) / (1 << 20)
	r.PeakRSSMiB = float64(rssKiB("VmHWM")) / 1024
	var ok, failed []time.Duration
	for i, c := range ans.Codes {
		if c < 0 {
			r.Failed++
			failed = append(failed, time.Duration(ans.LatNs[i]))
			continue
		}
		r.Status[c]++
		if c == http.StatusOK {
			ok = append(ok, time.Duration(ans.LatNs[i]))
		}
	}
	slices.Sort(ok)
	if len(failed) > 0 {
		slices.Sort(failed)
		r.FailedAfterS = []float64{failed[0].Seconds(), failed[len(failed)/2].Seconds(), failed[len(failed)-1].Seconds()}
	}
	r.P50Ms = ms(loadgen.Percentile(ok, 50))
	r.P99Ms = ms(loadgen.Percentile(ok, 99))
	r.HashesPerSec = float64(r.Status[http.StatusOK]) / r.Seconds
	return r, nil
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rssKiB reads a field of /proc/self/status (the current or the peak resident size); 0 if absent.
func rssKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// stormAnswers is what the storm's clients saw: per user, the status (-1
// for a transport error) and latency, and the time until the last answer.
type stormAnswers struct {
	Codes   []int          `json:"codes"`
	LatNs   []int64        `json:"lat_ns"`
	Seconds float64        `json:"seconds"`
	Errors  map[string]int `json:"errors,omitempty"` // transport errors by message
}

// stormClients sends the storm from this process: users goroutines, each
// with its own connection, released at once.
func stormClients(ctx context.Context, base string, users int) stormAnswers {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 15 * time.Minute}
	auths := make([]string, users)
	for i := range users {
		auths[i] = loadgen.BasicAuth(accountLogin(i), stormPassword)
	}
	ans := stormAnswers{Codes: make([]int, users), LatNs: make([]int64, users), Errors: map[string]int{}}
	var errMu sync.Mutex
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i := range users {
		ready.Add(1)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/tokens", nil)
			req.Header.Set("Authorization", auths[i])
			ready.Done()
			<-gate
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				ans.Codes[i], ans.LatNs[i] = -1, int64(time.Since(t0))
				errMu.Lock()
				ans.Errors[errorKind(err)]++
				errMu.Unlock()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			ans.LatNs[i], ans.Codes[i] = int64(time.Since(t0)), resp.StatusCode
		})
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	wg.Wait()
	ans.Seconds = time.Since(start).Seconds()
	return ans
}

// stormSubprocess runs stormClients in a child process.
func stormSubprocess(ctx context.Context, base string, users int) (stormAnswers, error) {
	var ans stormAnswers
	exe, err := os.Executable()
	if err != nil {
		return ans, err
	}
	cmd := exec.CommandContext(ctx, exe, stormClientFlag, base, strconv.Itoa(users))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return ans, fmt.Errorf("storm clients: %w", err)
	}
	if err := json.Unmarshal(out, &ans); err != nil {
		return ans, fmt.Errorf("storm clients: %w", err)
	}
	if len(ans.Codes) != users || len(ans.LatNs) != users {
		return ans, fmt.Errorf("storm clients: %d answers for %d users", len(ans.Codes), users)
	}
	return ans, nil
}

// stormClientFlag, as the first argument, makes the program the storm's
// client process: -storm-client BASE USERS, answers as JSON on stdout.
const stormClientFlag = "-storm-client"

func stormClientMain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: -storm-client BASE USERS")
	}
	users, err := strconv.Atoi(args[1])
	if err != nil || users < 1 {
		return fmt.Errorf("bad user count %q", args[1])
	}
	raiseFileLimit(io.Discard)
	return json.NewEncoder(stdout).Encode(stormClients(ctx, args[0], users))
}

type gcStats struct {
	gcCPU, totalCPU float64
	cycles          uint64
}

func (g gcStats) sub(o gcStats) gcStats {
	return gcStats{g.gcCPU - o.gcCPU, g.totalCPU - o.totalCPU, g.cycles - o.cycles}
}

func (g gcStats) add(o gcStats) gcStats {
	return gcStats{g.gcCPU + o.gcCPU, g.totalCPU + o.totalCPU, g.cycles + o.cycles}
}

// share is the GC's share of the process's CPU time.
func (g gcStats) share() float64 { return g.gcCPU / max(g.totalCPU, 1e-9) }

// tunedResult is a load with GOGC set to GOGC (debug.SetGCPercent).
type tunedResult struct {
	GOGC int `json:"gogc"`
	loadResult
	GCShare  float64 `json:"gc_share"`
	GCCycles int64   `json:"gc_cycles"`
}

// combine merges rounds: the median round's rate, the percentiles of all
// requests, the counts summed.
func combine(rs []loadResult) loadResult {
	i := 0
	return rounds(context.Background(), len(rs), func() loadResult { i++; return rs[i-1] })
}

func readGC() gcStats {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return gcStats{gcCPU: s[0].Value.Float64(), totalCPU: s[1].Value.Float64(), cycles: s[2].Value.Uint64()}
}

// profileDir, when set (-profile), receives a CPU profile of each
// accounts point's measured load.
var profileDir string

func startProfile(name string) (stop func()) {
	if profileDir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(profileDir, name+".pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// liveLapses counts the samples in which an instance's account cache or
// verdict cache was not trusted (its feed not live).
type liveLapses struct {
	Samples  int `json:"samples"`
	Accounts int `json:"accounts"`
	Verdicts int `json:"verdicts"`
}

// watchLive samples the instances' Live every 10 ms until stopped.
func watchLive(insts []*instance, l *liveLapses) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, in := range insts {
					l.Samples++
					if !in.users.Live() {
						l.Accounts++
					}
					if !in.rev.Live() {
						l.Verdicts++
					}
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// flushPGStats makes the instances' PostgreSQL backends report their
// statistics now: an idle backend reports them only 10 s later
// (PGSTAT_IDLE_INTERVAL), one that exits at once. It closes the pools'
// idle connections (not the LISTEN connections, which make no lookups)
// and gives the backends a moment to exit.
func flushPGStats(insts []*instance) {
	for _, in := range insts {
		in.db.SetMaxIdleConns(0)
		in.db.SetMaxIdleConns(8)
	}
	time.Sleep(pgExitWait)
}

// pgExitWait is how long flushPGStats waits for the backends to exit.
var pgExitWait = 300 * time.Millisecond

// errorKind is a transport error without what varies between requests
// (the ports), to count them by kind.
func errorKind(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}
