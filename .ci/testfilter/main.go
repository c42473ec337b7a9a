//go:build ignore

// Command testfilter is .ci/test's helper. It has two modes.
//
// Filter (the default) reads `go test -json` on stdin and prints about what
// plain `go test` prints: one "ok" line per package, and the whole output
// of every test that fails. Each skipped test is appended to the file named
// by -skips as a tab-separated line: module, package, test, message.
//
//	go test -json ./... 2>&1 | testfilter -module ./sqlstore -skips FILE
//
// Summarize reads that file and prints, per module and reason, how many
// tests were skipped and which:
//
//	testfilter -summarize FILE
//
// Lines on stdin that are not JSON (the go command's own errors) are
// printed as they are. Only the standard library is used, so `go build
// .ci/testfilter/main.go` works anywhere in the repository.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	module := flag.String("module", ".", "module directory, for the skip file")
	skips := flag.String("skips", "", "append skipped tests to this file")
	summarize := flag.String("summarize", "", "print the summary of this skip file and exit")
	flag.Parse()
	if *summarize != "" {
		if err := summary(os.Stdout, *summarize); err != nil {
			fmt.Fprintln(os.Stderr, "testfilter:", err)
			os.Exit(1)
		}
		return
	}
	if err := filter(os.Stdin, os.Stdout, *module, *skips); err != nil {
		fmt.Fprintln(os.Stderr, "testfilter:", err)
		os.Exit(1)
	}
}

func filter(in io.Reader, out io.Writer, module, skipFile string) error {
	var skipOut io.Writer = io.Discard
	if skipFile != "" {
		f, err := os.OpenFile(skipFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		skipOut = f
	}
	buf := map[string][]string{} // package\x00test -> output lines
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "output":
			if e.Test != "" {
				buf[key] = append(buf[key], e.Output)
				continue
			}
			if e.Output == "PASS\n" || strings.HasPrefix(e.Output, "testing: warning: no tests to run") {
				continue
			}
			fmt.Fprint(out, e.Output)
		case "fail":
			if e.Test != "" {
				fmt.Fprint(out, strings.Join(buf[key], ""))
				delete(buf, key)
				continue
			}
			// A package that fails without its tests finishing (a panic,
			// a timeout): show whatever its unfinished tests printed.
			for k, lines := range buf {
				if strings.HasPrefix(k, e.Package+"\x00") {
					fmt.Fprint(out, strings.Join(lines, ""))
					delete(buf, k)
				}
			}
		case "skip":
			if e.Test != "" {
				fmt.Fprintf(skipOut, "%s\t%s\t%s\t%s\n", module, e.Package, e.Test, skipMessage(buf[key]))
			}
			delete(buf, key)
		case "pass":
			delete(buf, key)
		}
	}
	return sc.Err()
}

var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// skipMessage is the text a skipped test logged (its t.Skip message and
// any t.Log before it), without the go test framing.
func skipMessage(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msg = append(msg, fileLine.ReplaceAllString(t, ""))
	}
	if len(msg) == 0 {
		return "(no message)"
	}
	return strings.Join(msg, " ")
}

// known gives a reason a headline: the servers a skipped test needed.
var known = []struct{ substr, headline string }{
	{"HTTPAUTH_POSTGRES_TEST_DSN is not set", "PostgreSQL tests skipped: HTTPAUTH_POSTGRES_TEST_DSN unset"},
	{"HTTPAUTH_REDIS_TEST_URL is not set", "Redis tests skipped: HTTPAUTH_REDIS_TEST_URL unset"},
	{"redis-server not found", "Redis scale tests skipped: no redis-server binary"},
	{"python3-werkzeug", "Flask guide test skipped: no python3 with Werkzeug"},
	{"race detector changes allocation counts", "allocation-count tests skipped under -race (.ci/run runs them without)"},
	{"skipped by httpauthtest.Skip", "by design: subtests that tests of httpauthtest.Skip skip"},
}

func summary(w io.Writer, file string) error {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	type group struct {
		module, reason, raw string // raw: the first test's own message, when reason is a headline
		tests               []string
	}
	groups := map[string]*group{}
	total := 0
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, "\t", 4)
		if len(f) != 4 {
			continue
		}
		total++
		reason, raw := f[3], ""
		for _, k := range known {
			if strings.Contains(reason, k.substr) {
				reason, raw = k.headline, f[3]
				break
			}
		}
		key := f[0] + "\x00" + reason
		g := groups[key]
		if g == nil {
			g = &group{module: f[0], reason: reason, raw: raw}
			groups[key] = g
		}
		g.tests = append(g.tests, f[2])
	}
	if total == 0 {
		fmt.Fprintln(w, "== skipped: nothing")
		return nil
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].module != list[j].module {
			return list[i].module < list[j].module
		}
		return len(list[i].tests) > len(list[j].tests)
	})
	fmt.Fprintf(w, "== skipped: %d tests (subtests included), by module and reason\n", total)
	for _, g := range list {
		sort.Strings(g.tests)
		names := g.tests
		more := ""
		if len(names) > 4 {
			more = fmt.Sprintf(", … %d more", len(names)-4)
			names = names[:4]
		}
		fmt.Fprintf(w, "%s: %d skipped: %s\n", g.module, len(g.tests), g.reason)
		if g.raw != "" {
			fmt.Fprintf(w, "    message: %s\n", g.raw)
		}
		fmt.Fprintf(w, "    tests: %s%s\n", strings.Join(names, ", "), more)
	}
	return nil
}
