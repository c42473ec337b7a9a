package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/redisstore"
)

// clusterNodeTimeout is cluster-node-timeout of the test's own cluster:
// a master silent for this long is marked failing and its replica takes
// over about a second later.
const clusterNodeTimeout = 1000 * time.Millisecond

// clusterProc is one redis-server of a test cluster, in a directory of its
// own that keeps its nodes.conf across a restart.
type clusterProc struct {
	addr   string
	args   []string
	cmd    *exec.Cmd
	client *redis.Client // to this node only
}

// clusterSetup is three masters and three replicas (cluster-replicas 1),
// all processes of the test's own, without persistence: a restarted node
// comes back empty and resynchronises from its master.
type clusterSetup struct {
	server string
	nodes  []*clusterProc
}

func startClusterSetup(t *testing.T) *clusterSetup {
	t.Helper()
	server := needBinary(t, "redis-server")
	cli := needBinary(t, "redis-cli")
	s := &clusterSetup{server: server}
	used := map[int]bool{}
	port := func() int {
		for {
			if p := freePort(t); !used[p] {
				used[p] = true
				return p
			}
		}
	}
	var addrs []string
	for i := range 6 {
		p, bus := port(), port()
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		require.NoError(t, os.MkdirAll(dir, 0o700))
		n := &clusterProc{
			addr: fmt.Sprintf("127.0.0.1:%d", p),
			args: []string{"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--dir", dir,
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus),
				"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout.Milliseconds())),
				"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"),
				// DEBUG CLUSTERLINK KILL, from this machine only (TestClusterBusLinkReset).
				"--enable-debug-command", "local"},
		}
		n.client = redis.NewClient(&redis.Options{Addr: n.addr, DialTimeout: 500 * time.Millisecond,
			ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { _ = n.client.Close() })
		s.nodes = append(s.nodes, n)
		s.start(t, n)
		addrs = append(addrs, n.addr)
	}
	ctx := context.Background()
	for _, n := range s.nodes {
		pollUntil(t, "node up", func() bool { return n.client.Ping(ctx).Err() == nil })
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create:\n%s", out)
	s.waitHealthy(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range s.nodes {
				log, _ := os.ReadFile(filepath.Join(n.args[5], "redis.log"))
				if len(log) > 8000 {
					log = log[len(log)-8000:]
				}
				t.Logf("%s redis.log (end):\n%s", n.addr, log)
			}
		}
	})
	return s
}

func (s *clusterSetup) start(t *testing.T, n *clusterProc) {
	t.Helper()
	n.cmd = startProc(t, s.server, n.args...)
}

// newClient returns a cluster client of the test's nodes with short
// timeouts, closed when the test ends.
func (s *clusterSetup) newClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	var addrs []string
	for _, n := range s.nodes {
		addrs = append(addrs, n.addr)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:        addrs,
		DialTimeout:  500 * time.Millisecond,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		// Redis 7.0 has no maintenance notifications. In go-redis
		// v9.23.0 the default (auto) mode turns itself off at the first
		// connection's failed handshake by writing the node's options
		// under the node client's lock, while a connection of the same
		// node's Conn (ReplicaAcks' WAIT) reads them under its own: a
		// data race in go-redis that -race reports when a failover makes
		// both open connections at once.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitHealthy waits until every node reports cluster_state:ok with three
// masters serving slots, and every replica's link to its master is up.
func (s *clusterSetup) waitHealthy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, n := range s.nodes {
		clusterWait(t, n.addr+" cluster_state:ok, 3 masters", func() bool {
			info, err := n.client.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_size:3") &&
				strings.Contains(info, "cluster_known_nodes:6")
		})
	}
	for _, n := range s.nodes {
		clusterWait(t, n.addr+" master link up (replicas)", func() bool {
			info, err := n.client.Info(ctx, "replication").Result()
			return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up"))
		})
	}
}

// clusterWait polls cond for up to a minute: CI is a loaded machine and a
// failover takes seconds there. It asserts no latency.
func clusterWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 60*time.Second, 5*time.Millisecond, what)
}

// clusterNodeLine is one line of CLUSTER NODES.
type clusterNodeLine struct {
	id, addr, master string
	flags            string
}

// view returns CLUSTER NODES as seen by node from, by address.
func (s *clusterSetup) view(ctx context.Context, from *clusterProc) (map[string]clusterNodeLine, error) {
	out, err := from.client.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	m := map[string]clusterNodeLine{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		m[addr] = clusterNodeLine{id: f[0], addr: addr, flags: f[2], master: f[3]}
	}
	return m, nil
}

func (s *clusterSetup) node(addr string) *clusterProc {
	for _, n := range s.nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}

// slotMap is CLUSTER SHARDS, as seen by node from, in the form of
// CLUSTER SLOTS (deprecated since Redis 7.0): each range with its master
// first.
func slotMap(ctx context.Context, from *redis.Client) ([]redis.ClusterSlot, error) {
	shards, err := from.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var m []redis.ClusterSlot
	for _, sh := range shards {
		var nodes []redis.ClusterNode
		for _, n := range sh.Nodes {
			cn := redis.ClusterNode{ID: n.ID, Addr: fmt.Sprintf("%s:%d", n.IP, n.Port)}
			if n.Role == "master" {
				nodes = append([]redis.ClusterNode{cn}, nodes...)
			} else {
				nodes = append(nodes, cn)
			}
		}
		for _, r := range sh.Slots {
			m = append(m, redis.ClusterSlot{Start: int(r.Start), End: int(r.End), Nodes: nodes})
		}
	}
	return m, nil
}

// masterOf returns the node serving slot, asking node from.
func (s *clusterSetup) masterOf(t *testing.T, from *clusterProc, slot int) *clusterProc {
	t.Helper()
	slots, err := slotMap(context.Background(), from.client)
	require.NoError(t, err)
	for _, r := range slots {
		if slot >= int(r.Start) && slot <= int(r.End) {
			return s.node(r.Nodes[0].Addr)
		}
	}
	t.Fatalf("slot %d unassigned", slot)
	return nil
}

// replicaOf returns the replica of master, asking node from.
func (s *clusterSetup) replicaOf(t *testing.T, from, master *clusterProc) *clusterProc {
	t.Helper()
	v, err := s.view(context.Background(), from)
	require.NoError(t, err)
	id := v[master.addr].id
	for addr, l := range v {
		if l.master == id {
			return s.node(addr)
		}
	}
	t.Fatalf("no replica of %s in %v", master.addr, v)
	return nil
}

// slotsOf returns the slots master serves, asking node from.
func (s *clusterSetup) slotsOf(t *testing.T, from, master *clusterProc) *[16384]bool {
	t.Helper()
	slots, err := slotMap(context.Background(), from.client)
	require.NoError(t, err)
	var set [16384]bool
	for _, r := range slots {
		if r.Nodes[0].Addr == master.addr {
			for i := r.Start; i <= r.End; i++ {
				set[i] = true
			}
		}
	}
	return &set
}

// promoted reports whether, seen from every node in live, replica is a
// master and every live node's cluster is whole again.
func (s *clusterSetup) promoted(ctx context.Context, replica *clusterProc, live []*clusterProc) bool {
	for _, n := range live {
		v, err := s.view(ctx, n)
		if err != nil || !strings.Contains(v[replica.addr].flags, "master") {
			return false
		}
		info, err := n.client.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	return true
}

// keySlot is Redis Cluster's hash slot of key (CRC16/XMODEM of the key or
// of its hash tag, mod 16384).
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// clusterEvent is a node change under load: the writes acknowledged on
// the slots it touched after it, first of each kind.
type clusterEvent struct {
	at        int64 // unix nanos
	slots     *[16384]bool
	firstRev  atomic.Int64 // unix nanos of the first revocation on those slots started after at and acknowledged
	firstLock atomic.Int64 // the same for a lock
	firstAny  atomic.Int64 // first revocation acknowledged on any slot
	firstRead atomic.Int64 // first read of a revocation key on those slots (B, a token it never saw) that answered
}

func (e *clusterEvent) since(t *atomic.Int64) time.Duration {
	return time.Duration(t.Load() - e.at).Round(time.Millisecond)
}

// ackedRevocation and ackedLock are writes instance A got acknowledged.
type ackedRevocation struct {
	id     [16]byte
	at     time.Time
	primed bool // B had cached "not revoked" before the revocation
	phase  string
}

type ackedLock struct {
	login, phase string
	at           time.Time
}

// TestClusterFailoverUnderLoad is TestSentinelFailoverUnderLoad on a Redis
// Cluster of the test's own (three masters, three replicas,
// cluster-node-timeout 1 s): two instances (each its own ClusterClient,
// RevocationStore and Limiter with ReplicaAcks 1) revoke tokens and lock
// logins on A and check them on B while
//
//  1. the master serving the instances' pub/sub channel is killed
//     (SIGKILL): its replica is promoted, the subscriptions move; then it
//     is restarted (nodes.conf kept, data empty) and rejoins as a replica;
//  2. the new master is stopped (SIGSTOP) for three node timeouts with its
//     replica forbidden to fail over (cluster-replica-no-failover): the
//     cluster is down, then the node comes back (SIGCONT) with its data;
//  3. another master is stopped until its replica has been promoted, then
//     continued: it wakes up as a stale master and is turned into a
//     replica.
//
// Every answer must be right or an error (a 500 in httpauth): never "not
// revoked" for an acknowledged revocation, never "allowed" for an
// acknowledged lock. Half the tokens are first checked on B (caching "not
// revoked") and then revoked on A: the notification must reach B's cache
// across every node change. Under load, B is asked about writes
// acknowledged more than MaxSilence ago (local state may lag by one
// pub/sub delivery, and by up to MaxSilence while its connection is
// silently stalled), and about the latest write of a token it never saw;
// at the end, about every write, on both instances. Timings are logged
// (BENCHMARKS.md), not asserted.
func TestClusterFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and waits for failovers")
	}
	setup := startClusterSetup(t)
	ctx := context.Background()
	newClient := func() *redis.ClusterClient { return setup.newClient(t) }
	const maxFailures = 3
	newStores := func(c *redis.ClusterClient) (*redisstore.RevocationStore, *redisstore.Limiter) {
		r, err := redisstore.NewRevocationStore(c, redisstore.RevocationOptions{ReplicaAcks: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		l, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{MaxFailures: maxFailures, Window: time.Hour, ReplicaAcks: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		return r, l
	}
	cc := newClient()
	revA, limA := newStores(newClient())
	revB, limB := newStores(newClient())
	pollUntil(t, "B's stores live", func() bool { return revB.Live() && limB.Live() })

	// keySlot agrees with the cluster.
	for _, k := range []string{revA.Key([16]byte{1}), limA.Key("login:alice"), redisstore.DefaultPrefix + "revoked"} {
		want, err := setup.nodes[0].client.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		require.Equal(t, int(want), keySlot(k), "slot of %s", k)
	}
	// Both channels' slots; the subscriptions are on their masters.
	revChan, lockChan := keySlot(redisstore.DefaultPrefix+"revoked"), keySlot(redisstore.DefaultPrefix+"locks")

	const grace = redisstore.DefaultMaxSilence + 500*time.Millisecond
	var (
		mu        sync.Mutex
		revoked   []ackedRevocation
		locked    []ackedLock
		wrong     []string
		stale     atomic.Int64    // answers about writes younger than grace that were stale (allowed by the staleness bound)
		staleLag  []time.Duration // for each: how long after the lock's acknowledgement B refused it
		okOps     atomic.Int64
		errOps    atomic.Int64
		phase     atomic.Value // string, for the messages
		cur       atomic.Pointer[clusterEvent]
		lastFresh atomic.Pointer[ackedRevocation] // latest acknowledged revocation B never saw
	)
	phase.Store("before")
	errKinds := map[string]int{}
	countErr := func(err error) {
		kind := "refused (not an error)"
		if err != nil {
			kind = "other"
			for _, k := range []string{"MOVED", "CLUSTERDOWN", "fewer replicas", "connection refused", "timeout", "EOF", "connection reset"} {
				if strings.Contains(err.Error(), k) {
					kind = k
					break
				}
			}
		}
		mu.Lock()
		errKinds[kind]++
		mu.Unlock()
	}
	addWrong := func(format string, args ...any) {
		mu.Lock()
		wrong = append(wrong, fmt.Sprintf("%s: ", phase.Load())+fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	pick := func(n int) int {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return int(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) % n
	}
	checkOne := func() {
		now := time.Now()
		mu.Lock()
		var rev *ackedRevocation
		var lock *ackedLock
		if len(revoked) > 0 {
			r := revoked[pick(len(revoked))]
			if now.Sub(r.at) >= grace {
				rev = &r
			}
		}
		if len(locked) > 0 {
			l := locked[pick(len(locked))]
			if now.Sub(l.at) >= grace {
				lock = &l
			}
		}
		mu.Unlock()
		if rev != nil {
			if r, err := revB.IsRevoked(ctx, rev.id); err == nil && !r {
				addWrong("B: token %x revoked %v ago (primed %v) not revoked", rev.id, now.Sub(rev.at), rev.primed)
			}
		}
		if f := lastFresh.Load(); f != nil {
			if r, err := revB.IsRevoked(ctx, f.id); err == nil && !r {
				addWrong("B: token %x revoked %v ago, never seen by B, not revoked", f.id, time.Since(f.at))
			}
		}
		if lock != nil {
			if ok, _, err := limB.Allow(ctx, lock.login); err == nil && ok {
				addWrong("B: login %s locked %v ago allowed", lock.login, now.Sub(lock.at))
			}
		}
		// A recent lock: a stale answer within the pub/sub delivery is
		// within the staleness bound; counted, not wrong.
		mu.Lock()
		var recent *ackedLock
		if n := len(locked); n > 0 {
			recent = &locked[n-1]
		}
		mu.Unlock()
		if recent != nil {
			if ok, _, err := limB.Allow(ctx, recent.login); err == nil && ok {
				stale.Add(1)
				// How long until B refuses it: the notification's lag.
				deadline := time.Now().Add(grace)
				for time.Now().Before(deadline) {
					if ok, _, err := limB.Allow(ctx, recent.login); err == nil && !ok {
						break
					}
					time.Sleep(50 * time.Microsecond)
				}
				lag := time.Since(recent.at)
				mu.Lock()
				staleLag = append(staleLag, lag)
				mu.Unlock()
			}
		}
	}
	work := func(stop <-chan struct{}, worker int) {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var id [16]byte
			_, _ = rand.Read(id[:])
			primed := (i+worker)%2 == 0
			ev := cur.Load()
			start := time.Now().UnixNano()
			if primed {
				r, err := revB.IsRevoked(ctx, id) // a new ID: B reads Redis
				if err == nil && r {
					addWrong("B: token %x revoked before its revocation", id)
				}
				if err == nil && ev != nil && start > ev.at && ev.slots[keySlot(revA.Key(id))] {
					ev.firstRead.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
			start = time.Now().UnixNano()
			if err := revA.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
				errOps.Add(1)
				countErr(err)
			} else {
				okOps.Add(1)
				at := time.Now()
				if ev != nil && start > ev.at {
					ev.firstAny.CompareAndSwap(0, at.UnixNano())
					if ev.slots[keySlot(revA.Key(id))] {
						ev.firstRev.CompareAndSwap(0, at.UnixNano())
					}
				}
				a := ackedRevocation{id: id, at: at, primed: primed, phase: phase.Load().(string)}
				mu.Lock()
				revoked = append(revoked, a)
				mu.Unlock()
				if !primed {
					lastFresh.Store(&a)
				}
			}
			login := "login:" + strconv.FormatInt(time.Now().UnixNano(), 36) + fmt.Sprintf("%x", id[:4])
			all := true
			start = time.Now().UnixNano()
			for range maxFailures {
				if ok, _, err := limA.Reserve(ctx, login); err != nil || !ok {
					all = false
					errOps.Add(1)
					countErr(err)
					break
				}
			}
			if all {
				okOps.Add(1)
				at := time.Now()
				if ev != nil && start > ev.at && ev.slots[keySlot(limA.Key(login))] {
					ev.firstLock.CompareAndSwap(0, at.UnixNano())
				}
				mu.Lock()
				locked = append(locked, ackedLock{login: login, at: at, phase: phase.Load().(string)})
				mu.Unlock()
			}
			checkOne()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { work(stop, w) })
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()
	moreOps := func(what string, n int64) {
		after := okOps.Load()
		clusterWait(t, what, func() bool { return okOps.Load() >= after+n })
	}
	// begin starts an event on the slots of master; recovered waits until
	// a revocation and a lock on those slots are acknowledged after it.
	begin := func(name string, slots *[16384]bool) *clusterEvent {
		phase.Store(name)
		ev := &clusterEvent{at: time.Now().UnixNano(), slots: slots}
		cur.Store(ev)
		return ev
	}
	recovered := func(ev *clusterEvent) {
		clusterWait(t, "a read answered on the node's slots", func() bool { return ev.firstRead.Load() != 0 })
		clusterWait(t, "a revocation acknowledged on the node's slots", func() bool { return ev.firstRev.Load() != 0 })
		clusterWait(t, "a lock acknowledged on the node's slots", func() bool { return ev.firstLock.Load() != 0 })
	}
	moreOps("load running", 200)

	// 1. SIGKILL the master of the revocation channel's slot.
	live := func(except ...*clusterProc) []*clusterProc {
		var l []*clusterProc
	outer:
		for _, n := range setup.nodes {
			for _, e := range except {
				if n == e {
					continue outer
				}
			}
			l = append(l, n)
		}
		return l
	}
	killed := setup.masterOf(t, setup.nodes[0], revChan)
	lockMaster := setup.masterOf(t, setup.nodes[0], lockChan)
	replica := setup.replicaOf(t, setup.nodes[0], killed)
	errs0 := errOps.Load()
	ev1 := begin("kill", setup.slotsOf(t, setup.nodes[0], killed))
	require.NoError(t, killed.cmd.Process.Kill())
	_, _ = killed.cmd.Process.Wait() // dead from here on
	clusterWait(t, "the replica promoted", func() bool { return setup.promoted(ctx, replica, live(killed)) })
	promoted := time.Duration(time.Now().UnixNano() - ev1.at)
	// The new master has no replica, so nothing on its slots can be
	// acknowledged until the old master is back as its replica.
	setup.start(t, killed)
	restartAt := time.Now()
	clusterWait(t, "the killed node rejoins as a replica in sync", func() bool {
		info, err := killed.client.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
	rejoined := time.Since(restartAt)
	recovered(ev1)
	moreOps("load running after the failover", 200)
	errs1 := errOps.Load() - errs0
	t.Logf("cluster kill: master %s (revocation channel's slot; lock channel's on %s) killed; replica %s promoted %v after; "+
		"first read on its slots answered %v after, first revocation acknowledged %v after (any slot %v), first lock on its slots %v after; "+
		"restarted, in sync as a replica %v after its restart; %d errors (500s)",
		killed.addr, lockMaster.addr, replica.addr, promoted.Round(time.Millisecond), ev1.since(&ev1.firstRead), ev1.since(&ev1.firstRev), ev1.since(&ev1.firstAny),
		ev1.since(&ev1.firstLock), rejoined.Round(time.Millisecond), errs1)

	// 2. The new master goes away (SIGSTOP, three node timeouts) with no
	// failover possible, and comes back with its data.
	require.NoError(t, killed.client.ConfigSet(ctx, "cluster-replica-no-failover", "yes").Err())
	gone := replica
	errs0 = errOps.Load()
	slots2 := setup.slotsOf(t, setup.nodes[0], gone)
	phase.Store("stop")
	require.NoError(t, gone.cmd.Process.Signal(syscall.SIGSTOP))
	stopAt := time.Now()
	clusterWait(t, "the cluster sees the stopped master fail", func() bool {
		v, err := setup.view(ctx, killed)
		return err == nil && strings.Contains(v[gone.addr].flags, "fail")
	})
	failSeen := time.Since(stopAt)
	time.Sleep(time.Until(stopAt.Add(3 * clusterNodeTimeout)))
	ev2 := begin("continued", slots2)
	require.NoError(t, gone.cmd.Process.Signal(syscall.SIGCONT))
	clusterWait(t, "the cluster whole again", func() bool {
		for _, n := range setup.nodes {
			info, err := n.client.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	whole := time.Duration(time.Now().UnixNano() - ev2.at)
	recovered(ev2)
	require.NoError(t, killed.client.ConfigSet(ctx, "cluster-replica-no-failover", "no").Err())
	moreOps("load running after the node came back", 200)
	errs2 := errOps.Load() - errs0
	t.Logf("cluster stop: master %s stopped %v (marked failing %v after), no failover; after SIGCONT cluster ok %v, "+
		"first read on its slots %v, first revocation %v (any slot %v), first lock %v; %d errors (500s)",
		gone.addr, time.Duration(ev2.at-stopAt.UnixNano()).Round(time.Millisecond), failSeen.Round(time.Millisecond), whole.Round(time.Millisecond),
		ev2.since(&ev2.firstRead), ev2.since(&ev2.firstRev), ev2.since(&ev2.firstAny), ev2.since(&ev2.firstLock), errs2)

	// 3. Another master stops until its replica is promoted, then wakes
	// up believing it is still a master. Preferably one serving neither
	// channel: the instances' subscriptions stay up, and nothing but the
	// failed commands tells their clients that the slots have moved.
	var other *clusterProc
	for _, n := range setup.nodes {
		info, err := n.client.Info(ctx, "replication").Result()
		require.NoError(t, err)
		if n == gone || !strings.Contains(info, "role:master") {
			continue
		}
		if other == nil || n != setup.masterOf(t, gone, lockChan) {
			other = n
		}
	}
	require.NotNil(t, other)
	otherReplica := setup.replicaOf(t, setup.nodes[0], other)
	errs0 = errOps.Load()
	ev3 := begin("stale master", setup.slotsOf(t, setup.nodes[0], other))
	require.NoError(t, other.cmd.Process.Signal(syscall.SIGSTOP))
	clusterWait(t, "the stopped master's replica promoted", func() bool { return setup.promoted(ctx, otherReplica, live(other)) })
	promoted3 := time.Duration(time.Now().UnixNano() - ev3.at)
	require.NoError(t, other.cmd.Process.Signal(syscall.SIGCONT))
	contAt := time.Now()
	clusterWait(t, "the stale master turned into a replica in sync", func() bool {
		info, err := other.client.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
	demoted := time.Since(contAt)
	recovered(ev3)
	moreOps("load running after the stale master", 200)
	errs3 := errOps.Load() - errs0
	t.Logf("cluster stale master: master %s stopped; replica %s promoted %v after; continued, a replica in sync %v later; "+
		"first read on its slots %v after the stop, first revocation %v (any slot %v), first lock %v; %d errors (500s)",
		other.addr, otherReplica.addr, promoted3.Round(time.Millisecond), demoted.Round(time.Millisecond),
		ev3.since(&ev3.firstRead), ev3.since(&ev3.firstRev), ev3.since(&ev3.firstAny), ev3.since(&ev3.firstLock), errs3)

	close(stop)
	wg.Wait()
	stopped = true
	phase.Store("after")

	// Every acknowledged revocation and lock holds on both instances, once
	// the last notifications have had the staleness bound to arrive.
	stoppedAt := time.Now()
	setup.waitHealthy(t)
	time.Sleep(time.Until(stoppedAt.Add(grace)))
	mu.Lock()
	defer mu.Unlock()
	for _, r := range revoked {
		for name, s := range map[string]*redisstore.RevocationStore{"A": revA, "B": revB} {
			clusterWait(t, "IsRevoked answers", func() bool {
				ok, err := s.IsRevoked(ctx, r.id)
				if err == nil && !ok {
					wrong = append(wrong, fmt.Sprintf("after: %s: token %x (primed %v) revoked in phase %s, %v before the end of the load, not revoked (live %v)",
						name, r.id, r.primed, r.phase, stoppedAt.Sub(r.at), s.Live()))
				}
				return err == nil
			})
		}
	}
	for _, l := range locked {
		for name, lim := range map[string]*redisstore.Limiter{"A": limA, "B": limB} {
			clusterWait(t, "Allow answers", func() bool {
				ok, _, err := lim.Allow(ctx, l.login)
				if err == nil && ok {
					count, _ := cc.Get(ctx, lim.Key(l.login)).Result()
					wrong = append(wrong, fmt.Sprintf("after: %s: login %s locked in phase %s, %v before the end of the load, allowed (live %v; counter in Redis %q)",
						name, l.login, l.phase, stoppedAt.Sub(l.at), lim.Live(), count))
				}
				return err == nil
			})
		}
	}
	assert.Empty(t, wrong, "wrong answers")
	slices.Sort(staleLag)
	var p50, worst time.Duration
	if n := len(staleLag); n > 0 {
		p50, worst = staleLag[n/2], staleLag[n-1]
	}
	t.Logf("cluster: %d acknowledged revocations, %d locks, %d operations ok, %d errors (500s) %v; "+
		"%d stale answers about the latest lock (younger than the staleness bound), refused on B after p50 %v, at most %v",
		len(revoked), len(locked), okOps.Load(), errOps.Load(), errKinds, stale.Load(), p50.Round(time.Microsecond), worst.Round(time.Microsecond))
}

// With ReplicaAcks, Revoke and the Reserve that locks run on the master's
// own connection, outside go-redis's cluster routing, which is what
// reloads a stale slot map on MOVED. A client whose map is stale (here
// wrong from the start: every slot on one master, and no periodic reload
// within the test) must still find the slot's master after an error,
// instead of being sent back to the wrong node until go-redis's next
// periodic reload (ClusterStateReloadInterval, a minute by default).
func TestClusterReplicaAcksReloadsStaleSlotMap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	setup := startClusterSetup(t)
	ctx := context.Background()
	wrongMaster := setup.masterOf(t, setup.nodes[0], 0)
	wrongSlots := setup.slotsOf(t, setup.nodes[0], wrongMaster)
	var loads atomic.Int64
	c := redis.NewClusterClient(&redis.ClusterOptions{
		ClusterSlots: func(ctx context.Context) ([]redis.ClusterSlot, error) {
			if loads.Add(1) == 1 {
				return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: wrongMaster.addr}}}}, nil
			}
			return slotMap(ctx, setup.nodes[0].client)
		},
		ClusterStateReloadInterval: time.Hour,
		DialTimeout:                500 * time.Millisecond,
		ReadTimeout:                500 * time.Millisecond,
		WriteTimeout:               500 * time.Millisecond,
		MaintNotificationsConfig:   &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}, // see TestClusterFailoverUnderLoad
	})
	t.Cleanup(func() { _ = c.Close() })
	rev, err := redisstore.NewRevocationStore(c, redisstore.RevocationOptions{ReplicaAcks: 1, CacheSize: -1})
	require.NoError(t, err)
	lim, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{MaxFailures: 1, ReplicaAcks: 1, LocalLocks: -1})
	require.NoError(t, err)

	var id [16]byte
	for {
		_, _ = rand.Read(id[:])
		if !wrongSlots[keySlot(rev.Key(id))] {
			break
		}
	}
	err = rev.Revoke(ctx, id, time.Now().Add(time.Hour))
	require.ErrorContains(t, err, "MOVED", "Revoke with a stale slot map")
	require.Eventually(t, func() bool { return rev.Revoke(ctx, id, time.Now().Add(time.Hour)) == nil },
		10*time.Second, 10*time.Millisecond, "Revoke never found the slot's master")
	revoked, err := rev.IsRevoked(ctx, id)
	require.NoError(t, err)
	assert.True(t, revoked)

	// The same for the Reserve that locks, on a fresh map.
	loads.Store(0)
	c.ReloadState(ctx)
	require.Eventually(t, func() bool { return loads.Load() >= 1 }, 10*time.Second, 10*time.Millisecond)
	login := "login:alice"
	for wrongSlots[keySlot(lim.Key(login))] {
		login += "x"
	}
	ok, _, err := lim.Reserve(ctx, login)
	require.ErrorContains(t, err, "MOVED", "Reserve with a stale slot map")
	require.False(t, ok)
	require.Eventually(t, func() bool {
		ok, _, err := lim.Reserve(ctx, login)
		return err == nil && ok
	}, 10*time.Second, 10*time.Millisecond, "Reserve never found the slot's master")
	ok, _, err = lim.Allow(ctx, login)
	require.NoError(t, err)
	assert.False(t, ok, "the login locked by its one allowed attempt")
}

// On a cluster, a notification published on one master reaches a
// subscription on another over the cluster bus, which drops what it cannot
// deliver to a node that stops answering. When the node an instance
// subscribes on stalls (SIGSTOP) for longer than MaxSilence, the instance's
// connection survives, and revocations and locks made on the other masters
// meanwhile may never be delivered (TestClusterFailoverUnderLoad saw a
// token revoked then stay "not revoked" in B's cache). So when the node
// answers again, the instance must not trust its local state from before
// the stall. The lost notifications are made certain here by writing the
// revocations and locks during the stall without publishing them.
func TestClusterSubscriptionNodeStall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	setup := startClusterSetup(t)
	ctx := context.Background()
	newClient := func() *redis.ClusterClient { return setup.newClient(t) }
	// A prefix whose two channels are on one master: the subscriptions'.
	var prefix string
	var sub *clusterProc
	for i := 0; sub == nil; i++ {
		prefix = fmt.Sprintf("stall%d:", i)
		m := setup.masterOf(t, setup.nodes[0], keySlot(prefix+"revoked"))
		if m == setup.masterOf(t, setup.nodes[0], keySlot(prefix+"locks")) {
			sub = m
		}
	}
	writer := newClient()
	revB, err := redisstore.NewRevocationStore(newClient(), redisstore.RevocationOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = revB.Close() })
	limB, err := redisstore.NewLimiter(newClient(), redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 1, Window: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = limB.Close() })
	pollUntil(t, "B live", func() bool { return revB.Live() && limB.Live() })
	subSlots := setup.slotsOf(t, setup.nodes[0], sub)

	// A token and a login on another master, known to B as not revoked and
	// not locked.
	var id [16]byte
	for {
		_, _ = rand.Read(id[:])
		if !subSlots[keySlot(revB.Key(id))] {
			break
		}
	}
	login := "login:alice"
	for subSlots[keySlot(limB.Key(login))] {
		login += "x"
	}
	r, err := revB.IsRevoked(ctx, id)
	require.NoError(t, err)
	require.False(t, r)
	ok, _, err := limB.Allow(ctx, login)
	require.NoError(t, err)
	require.True(t, ok)

	// The other masters go on serving their slots while the stalled one
	// is down, so that the writes below never race the cluster's verdict
	// (a loaded machine may take longer than a node timeout to make them).
	for _, n := range setup.nodes {
		require.NoError(t, n.client.ConfigSet(ctx, "cluster-require-full-coverage", "no").Err())
	}
	require.NoError(t, sub.cmd.Process.Signal(syscall.SIGSTOP))
	stoppedAt := time.Now()
	t.Cleanup(func() { _ = sub.cmd.Process.Signal(syscall.SIGCONT) })
	// During the stall, on the other masters: the revocation and the
	// lock, written without a notification, as if the bus had lost it.
	ck := limB.Key(login)
	bucket := ck[strings.IndexByte(ck, '{') : strings.IndexByte(ck, '}')+1]
	require.NoError(t, writer.Set(ctx, revB.Key(id), "1", time.Hour).Err())
	require.NoError(t, writer.Set(ctx, ck, "1", time.Hour).Err())
	require.NoError(t, writer.ZAdd(ctx, prefix+"locked:"+bucket,
		redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: ck}).Err())
	time.Sleep(time.Until(stoppedAt.Add(2 * redisstore.DefaultMaxSilence)))
	require.NoError(t, sub.cmd.Process.Signal(syscall.SIGCONT))
	setup.waitHealthy(t)
	pollUntil(t, "B live again", func() bool { return revB.Live() && limB.Live() })

	r, err = revB.IsRevoked(ctx, id)
	require.NoError(t, err)
	assert.True(t, r, "a token revoked during the stall, on B")
	ok, _, err = limB.Allow(ctx, login)
	require.NoError(t, err)
	assert.False(t, ok, "a login locked during the stall, on B")
}
