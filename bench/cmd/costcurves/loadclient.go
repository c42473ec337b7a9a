package main

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The token load runs in a process of its own (-client-process, the
// default), as clients do in a deployment: the servers' process then pays
// for the servers alone, and the load generator's allocations (it picks a
// random token among up to 10⁶ for each request) neither trigger
// collections of the servers' heap nor pay for marking it. CPU per request
// is then the servers' process's, and the client's is reported apart.

// loadClientFlag, as the first argument, makes the program the token
// load's client: -load-client FILE CONNS DURATION BASE[,BASE…], the load's
// result as JSON on stdout.
const loadClientFlag = "-load-client"

// tokenFile is what the client process reads: the tokens and the answers
// each must get.
type tokenFile struct {
	IDs   []string
	Authz []string
	Want  []int
}

// clientResult is the client process's answer.
type clientResult struct {
	loadResult
	LatNs []int64 `json:"lat_ns"`
}

// load runs one token load with the client in-process or in a process of
// its own, as the run was told.
func (e *env) load(ctx context.Context, bases []string, ts *tokenSet, conns int, d time.Duration) loadResult {
	if !e.clientProcess {
		return tokenLoad(ctx, bases, ts, conns, d)
	}
	r, err := tokenLoadSubprocess(ctx, bases, ts, conns, d)
	if err != nil {
		fmt.Fprintf(e.log, "load client: %v\n", err)
		r.Failed++ // counted: checkResults fails the run
	}
	return r
}

// tokenLoadSubprocess runs tokenLoad in a child process. The servers'
// CPU per request is this process's CPU over the load, divided by the
// requests; the child reports its own.
func tokenLoadSubprocess(ctx context.Context, bases []string, ts *tokenSet, conns int, d time.Duration) (loadResult, error) {
	var r loadResult
	if ts.file == "" {
		f, err := os.CreateTemp("", "costcurves-tokens-*.gob")
		if err != nil {
			return r, err
		}
		err = gob.NewEncoder(f).Encode(tokenFile{IDs: ts.ids, Authz: ts.authz, Want: ts.want})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(f.Name())
			return r, err
		}
		ts.file = f.Name()
	}
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, exe, loadClientFlag, ts.file, strconv.Itoa(conns), d.String(), strings.Join(bases, ","))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	// The client reads its tokens before it starts the clock; it says so
	// with a first line, and the servers' CPU is counted from there.
	dec := json.NewDecoder(stdout)
	var ready struct{ Ready bool }
	if err := dec.Decode(&ready); err != nil || !ready.Ready {
		_ = cmd.Wait()
		return r, fmt.Errorf("load client did not start: %v", err)
	}
	cpu0 := processCPU()
	var cr clientResult
	derr := dec.Decode(&cr)
	cpu := processCPU() - cpu0
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("load client: %w", err)
	}
	if derr != nil {
		return r, fmt.Errorf("load client's answer: %w", derr)
	}
	r = cr.loadResult
	r.ClientCPUPerRequest = r.CPUPerRequest
	r.CPUPerRequest = float64(cpu/time.Microsecond) / float64(max(r.Requests, 1))
	r.lat = make([]time.Duration, len(cr.LatNs))
	for i, n := range cr.LatNs {
		r.lat[i] = time.Duration(n)
	}
	return r, nil
}

// loadClientMain is the client process.
func loadClientMain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return errors.New("usage: -load-client FILE CONNS DURATION BASE[,BASE…]")
	}
	conns, err := strconv.Atoi(args[1])
	if err != nil || conns < 1 {
		return fmt.Errorf("bad connection count %q", args[1])
	}
	d, err := time.ParseDuration(args[2])
	if err != nil || d <= 0 {
		return fmt.Errorf("bad duration %q", args[2])
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	var tf tokenFile
	err = gob.NewDecoder(f).Decode(&tf)
	_ = f.Close()
	if err != nil {
		return err
	}
	if len(tf.IDs) == 0 || len(tf.IDs) != len(tf.Authz) || len(tf.IDs) != len(tf.Want) {
		return errors.New("the token file is empty or inconsistent")
	}
	raiseFileLimit(io.Discard)
	ts := &tokenSet{ids: tf.IDs, authz: tf.Authz, want: tf.Want}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(struct{ Ready bool }{true}); err != nil {
		return err
	}
	r := tokenLoad(ctx, strings.Split(args[3], ","), ts, conns, d)
	cr := clientResult{loadResult: r, LatNs: make([]int64, len(r.lat))}
	for i, l := range r.lat {
		cr.LatNs[i] = int64(l)
	}
	return enc.Encode(cr)
}

// removeFile removes the tokens written for a client process.
func (ts *tokenSet) removeFile() {
	if ts.file != "" {
		_ = os.Remove(ts.file)
	}
}
