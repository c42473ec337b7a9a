package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth/redisstore"
)

// needBinary returns the path of bin, skipping the test when it is missing
// (failing when CI=true, since .ci/redis-cluster.sh installs it).
func needBinary(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found, and CI=true: %v", bin, err)
		}
		t.Skipf("%s not found (apt-get install redis-server redis-sentinel): %v", bin, err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// startProc runs bin with args until the test ends and returns it.
func startProc(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// sentinelSetup is a master, two replicas and one Sentinel (quorum 1),
// all processes of the test's own. Two replicas, so that after a failover
// the new master still has one to acknowledge writes (ReplicaAcks 1).
type sentinelSetup struct {
	server, dir  string
	master       *exec.Cmd
	masterArgs   []string
	sc           *redis.SentinelClient
	masterAddr   string
	sentinelAddr string
}

const masterName = "httpauth-test"

func startSentinelSetup(t *testing.T) *sentinelSetup {
	t.Helper()
	server := needBinary(t, "redis-server")
	sentinel := needBinary(t, "redis-sentinel")
	dir := t.TempDir()
	pm, pr, pr2, ps := freePort(t), freePort(t), freePort(t), freePort(t)
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	masterArgs := append([]string{"--port", strconv.Itoa(pm), "--dbfilename", "m.rdb"}, base...)
	master := startProc(t, server, masterArgs...)
	for i, p := range []int{pr, pr2} {
		startProc(t, server, append([]string{"--port", strconv.Itoa(p), "--dbfilename", fmt.Sprintf("r%d.rdb", i),
			"--replicaof", "127.0.0.1", strconv.Itoa(pm)}, base...)...)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
`, ps, dir, filepath.Join(dir, "sentinel.log"), masterName, pm, masterName, masterName), 0o600))
	startProc(t, sentinel, conf)

	ctx := context.Background()
	for _, p := range []int{pr, pr2} {
		replica := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p)})
		t.Cleanup(func() { _ = replica.Close() })
		pollUntil(t, "replica in sync", func() bool {
			info, err := replica.Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up")
		})
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ps)})
	t.Cleanup(func() { _ = sc.Close() })
	pollUntil(t, "Sentinel knows the replicas", func() bool {
		r, err := sc.Replicas(ctx, masterName).Result()
		return err == nil && len(r) == 2
	})
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Logf("sentinel.log:\n%s", log)
		}
	})
	return &sentinelSetup{server: server, dir: dir, masterArgs: masterArgs, sc: sc, master: master, masterAddr: fmt.Sprintf("127.0.0.1:%d", pm), sentinelAddr: fmt.Sprintf("127.0.0.1:%d", ps)}
}

func (s *sentinelSetup) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    masterName,
		SentinelAddrs: []string{s.sentinelAddr},
		DialTimeout:   500 * time.Millisecond,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestSentinelFailoverUnderLoad kills the master (SIGKILL) while two
// instances revoke tokens and lock logins on one and check them on the
// other. Every answer must be right or an error (a 500 in httpauth):
// never "not revoked" for a revocation that was acknowledged, never
// "allowed" for a login whose lock was acknowledged, before, during or
// after the failover. With ReplicaAcks 1 an acknowledgement means a
// replica has the write. The time from the master's death to the first
// acknowledged revocation started after it is logged (BENCHMARKS.md), not
// asserted.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis processes and waits for a failover")
	}
	setup := startSentinelSetup(t)
	ca, cb := setup.client(t), setup.client(t)
	ctx := context.Background()
	const maxFailures = 3
	newStores := func(c *redis.Client) (*redisstore.RevocationStore, *redisstore.Limiter) {
		r, err := redisstore.NewRevocationStore(c, redisstore.RevocationOptions{ReplicaAcks: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		l, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{MaxFailures: maxFailures, Window: time.Hour, ReplicaAcks: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		return r, l
	}
	revA, limA := newStores(ca)
	revB, limB := newStores(cb)

	var (
		mu      sync.Mutex
		revoked [][16]byte
		locked  []string
		wrong   []string
		okOps   atomic.Int64
		errOps  atomic.Int64
		killed  atomic.Int64 // unix nanos of the kill, 0 before
		firstOK atomic.Int64 // unix nanos of the first acknowledged revocation after the kill
	)
	checkOne := func() {
		mu.Lock()
		var id [16]byte
		var login string
		if len(revoked) > 0 {
			id = revoked[int(okOps.Load())%len(revoked)]
		}
		if len(locked) > 0 {
			login = locked[int(okOps.Load())%len(locked)]
		}
		mu.Unlock()
		if id != ([16]byte{}) {
			r, err := revB.IsRevoked(ctx, id)
			if err == nil && !r {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("B: revoked token %x not revoked", id))
				mu.Unlock()
			}
		}
		if login != "" {
			ok, _, err := limB.Allow(ctx, login)
			if err == nil && ok {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("B: locked login %s allowed", login))
				mu.Unlock()
			}
		}
	}
	work := func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var id [16]byte
			_, _ = rand.Read(id[:])
			start := time.Now().UnixNano()
			if err := revA.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
				errOps.Add(1)
			} else {
				okOps.Add(1)
				if k := killed.Load(); k != 0 && start > k {
					firstOK.CompareAndSwap(0, time.Now().UnixNano())
				}
				mu.Lock()
				revoked = append(revoked, id)
				mu.Unlock()
			}
			login := "login:" + strconv.FormatInt(time.Now().UnixNano(), 36) + fmt.Sprintf("%x", id[:4])
			all := true
			for range maxFailures {
				if ok, _, err := limA.Reserve(ctx, login); err != nil || !ok {
					all = false
					errOps.Add(1)
					break
				}
			}
			if all {
				mu.Lock()
				locked = append(locked, login)
				mu.Unlock()
			}
			checkOne()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { work(stop) })
	}
	pollUntil(t, "load running", func() bool { return okOps.Load() >= 200 })
	require.NoError(t, setup.master.Process.Kill())
	_, _ = setup.master.Process.Wait() // dead from here on
	killAt := time.Now()
	killed.Store(killAt.UnixNano())
	// Sentinel promotes a replica and points the other at it. Then the old
	// master comes back (empty: no persistence) and Sentinel makes it a
	// replica too; nothing acknowledged may be lost meanwhile.
	pollUntil(t, "Sentinel promotes the replica", func() bool {
		addr, err := setup.sc.GetMasterAddrByName(ctx, masterName).Result()
		return err == nil && strings.Join(addr, ":") != setup.masterAddr
	})
	promoted := time.Since(killAt)
	startProc(t, setup.server, setup.masterArgs...)
	require.Eventually(t, func() bool { return firstOK.Load() != 0 }, 60*time.Second, 10*time.Millisecond,
		"no revocation acknowledged after the master was killed")
	recovery := time.Duration(firstOK.Load() - killAt.UnixNano())
	after := okOps.Load()
	pollUntil(t, "load running after the failover", func() bool { return okOps.Load() >= after+200 })
	close(stop)
	wg.Wait()

	// Every acknowledged revocation and lock holds on both instances.
	mu.Lock()
	defer mu.Unlock()
	for _, id := range revoked {
		for _, s := range []*redisstore.RevocationStore{revA, revB} {
			pollUntil(t, "IsRevoked answers", func() bool {
				r, err := s.IsRevoked(ctx, id)
				if err == nil && !r {
					wrong = append(wrong, fmt.Sprintf("after: revoked token %x not revoked", id))
				}
				return err == nil
			})
		}
	}
	for _, login := range locked {
		for _, l := range []*redisstore.Limiter{limA, limB} {
			pollUntil(t, "Allow answers", func() bool {
				ok, _, err := l.Allow(ctx, login)
				if err == nil && ok {
					wrong = append(wrong, fmt.Sprintf("after: locked login %s allowed", login))
				}
				return err == nil
			})
		}
	}
	assert.Empty(t, wrong, "wrong answers")
	assert.NotEqual(t, setup.masterAddr, ca.Options().Addr)
	t.Logf("failover: replica promoted %v after the kill", promoted.Round(time.Millisecond))
	t.Logf("failover: first acknowledged revocation %v after the kill; %d acknowledged revocations, %d locks, %d operations ok, %d errors (500s)",
		recovery.Round(time.Millisecond), len(revoked), len(locked), okOps.Load(), errOps.Load())
}

// ReplicaAcks: on a Redis without replicas a revocation, and the attempt
// that locks a login, cannot be acknowledged, so they fail (closed)
// instead of answering success; attempts below the limit do not wait.
func TestReplicaAcks(t *testing.T) {
	client := newClient(t) // the test Redis has no replicas
	ctx := context.Background()
	tests := []struct {
		name     string
		acks     int
		wantFail bool
	}{
		{"no wait", 0, false},
		{"one replica asked, none there", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := uniquePrefix(t, client)
			s, err := redisstore.NewRevocationStore(client, redisstore.RevocationOptions{
				Prefix: prefix, ReplicaAcks: tt.acks, ReplicaTimeout: 50 * time.Millisecond,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			err = s.Revoke(ctx, [16]byte{1}, time.Now().Add(time.Hour))
			l, lerr := redisstore.NewLimiter(client, redisstore.LimiterOptions{
				Prefix: prefix, MaxFailures: 2, ReplicaAcks: tt.acks, ReplicaTimeout: 50 * time.Millisecond,
			})
			require.NoError(t, lerr)
			t.Cleanup(func() { _ = l.Close() })
			ok1, _, err1 := l.Reserve(ctx, "login:alice") // below the limit: no wait
			require.NoError(t, err1)
			require.True(t, ok1)
			ok2, _, err2 := l.Reserve(ctx, "login:alice") // locks
			if tt.wantFail {
				assert.ErrorContains(t, err, "replicas", "Revoke")
				assert.ErrorContains(t, err2, "replicas", "the Reserve that locks")
				assert.False(t, ok2, "the Reserve that locks, unacknowledged")
				return
			}
			assert.NoError(t, err)
			assert.NoError(t, err2)
			assert.True(t, ok2)
		})
	}
}
