package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// This file starts private PostgreSQL and Redis servers that a test may
// stop and restart, unlike the shared CI ones that other tests use at the
// same time.

// needServer skips the test when a server binary is missing, or fails it
// when CI=true, so that a CI run cannot pass by skipping.
func needServer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v, and CI=true: install postgresql and redis-server (.ci/services.sh does)", what, err)
	}
	t.Skipf("%s: %v; skipping", what, err)
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// pgServer is a private PostgreSQL cluster in a temporary directory, run
// as a child process that dies with the test process.
type pgServer struct {
	t    *testing.T
	bin  string // directory of initdb and postgres
	dir  string
	port int
	cred *syscall.Credential // run as postgres when root: initdb refuses root
	cmd  *exec.Cmd
}

// startPostgres initdbs and starts a private cluster on a free port, and
// stops and removes it at cleanup.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest major version last
		return pgMajor(a) - pgMajor(b)
	})
	var err error
	if len(dirs) == 0 {
		err = fmt.Errorf("no /usr/lib/postgresql/*/bin")
	}
	needServer(t, "PostgreSQL", err)
	p := &pgServer{t: t, bin: dirs[len(dirs)-1], port: freePort(t)}
	// Not under t.TempDir, whose parent the postgres user cannot enter.
	dir, err := os.MkdirTemp("", "httpauth-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		needServer(t, "PostgreSQL user postgres", err)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	initdb := p.command("initdb", "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	out, err := initdb.CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	p.Start()
	t.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
			_ = p.cmd.Wait()
		}
	})
	return p
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (p *pgServer) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(p.bin, name), args...)
	c.Dir = p.dir
	c.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	return c
}

// Start starts the cluster and waits until it accepts connections.
func (p *pgServer) Start() {
	p.t.Helper()
	p.cmd = p.command("postgres", "-D", p.dir, "-p", strconv.Itoa(p.port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	log, err := os.Create(filepath.Join(p.t.TempDir(), "postgres.log"))
	require.NoError(p.t, err)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	require.NoError(p.t, p.cmd.Start())
	db, err := sql.Open("pgx", p.DSN())
	require.NoError(p.t, err)
	defer db.Close()
	require.Eventually(p.t, func() bool { return db.Ping() == nil }, 60*time.Second, 20*time.Millisecond,
		"PostgreSQL did not accept connections (log: %s)", log.Name())
}

// Stop shuts the cluster down ("fast": every client is disconnected).
func (p *pgServer) Stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGINT))
	_ = p.cmd.Wait()
	p.cmd = nil
}

// DSN is the URL of the cluster's postgres database.
func (p *pgServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// redisServer is a private redis-server whose data survive a restart
// (append-only file, fsync at every write), as a production Redis
// holding revocations must.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	args []string // more redis-server arguments
	cmd  *exec.Cmd
}

// startRedis starts a private redis-server; args are more of its
// command-line arguments, such as "--requirepass", "pw".
func startRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	needServer(t, "redis-server", err)
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), args: args}
	r.Start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

// Start starts the server and waits until it answers PING.
func (r *redisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	r.cmd.Args = append(r.cmd.Args, r.args...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(r.t, r.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	require.Eventually(r.t, func() bool {
		err := c.Ping(context.Background()).Err()
		return err == nil || strings.Contains(err.Error(), "NOAUTH") // up, with --requirepass
	}, 60*time.Second, 20*time.Millisecond, "redis-server did not answer")
}

// Stop kills the server, as a crash or an OOM kill would.
func (r *redisServer) Stop() {
	r.t.Helper()
	require.NoError(r.t, r.cmd.Process.Kill())
	_ = r.cmd.Wait()
	r.cmd = nil
}

// URL is the server's redis:// URL.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }
