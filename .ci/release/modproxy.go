//go:build ignore

// Command modproxy writes a file-based Go module proxy (for
// GOPROXY=file:///DIR) holding tagged versions of modules in a local git
// repository: for each module, DIR/<module>/@v/list, <version>.info,
// <version>.mod and <version>.zip, the layout `go mod download` serves.
// Zips are made by golang.org/x/mod/zip.CreateFromVCS from the tag, so
// they hold what the go command would fetch from the tagged repository
// (nested modules and ignored files left out).
//
//	go run modproxy.go -repo CLONE -out DIR MODULE=SUBDIR@TAG...
//
// e.g. github.com/gohttpauth/httpauth/sqlstore=sqlstore@sqlstore/v0.1.0
// (SUBDIR "." for the root). .ci/release/proxy.sh runs it in a throwaway
// module that requires golang.org/x/mod.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

func main() {
	repo := flag.String("repo", "", "git repository holding the tags")
	out := flag.String("out", "", "proxy directory to write")
	flag.Parse()
	if *repo == "" || *out == "" || flag.NArg() == 0 {
		log.Fatal("usage: modproxy -repo DIR -out DIR MODULE=SUBDIR@TAG...")
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		log.Fatal(err)
	}
	for _, spec := range flag.Args() {
		if err := add(root, *out, spec); err != nil {
			log.Fatalf("%s: %v", spec, err)
		}
	}
}

func add(repo, out, spec string) error {
	modPath, rest, ok1 := strings.Cut(spec, "=")
	subdir, tag, ok2 := strings.Cut(rest, "@")
	if !ok1 || !ok2 {
		return fmt.Errorf("want MODULE=SUBDIR@TAG")
	}
	subdir = path.Clean(subdir)
	version := tag
	if subdir != "." {
		version = strings.TrimPrefix(tag, subdir+"/")
	}
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		return fmt.Errorf("tag %s: %s is not a canonical semantic version", tag, version)
	}
	m := module.Version{Path: modPath, Version: version}
	esc, err := module.EscapePath(modPath)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	goModPath := "go.mod"
	if subdir != "." {
		goModPath = subdir + "/go.mod"
	}
	gomod, err := git(repo, "show", tag+"^{commit}:"+goModPath)
	if err != nil {
		return err
	}
	unix, err := git(repo, "log", "-1", "--format=%ct", tag+"^{commit}")
	if err != nil {
		return err
	}
	var secs int64
	if _, err := fmt.Sscan(string(unix), &secs); err != nil {
		return fmt.Errorf("commit time %q: %v", unix, err)
	}
	info, err := json.Marshal(struct {
		Version string
		Time    string
	}{version, time.Unix(secs, 0).UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}

	var zip bytes.Buffer
	zipSubdir := subdir
	if zipSubdir == "." {
		zipSubdir = ""
	}
	if err := modzip.CreateFromVCS(&zip, m, repo, tag, zipSubdir); err != nil {
		return err
	}

	for name, data := range map[string][]byte{
		version + ".mod":  gomod,
		version + ".info": info,
		version + ".zip":  zip.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	listFile := filepath.Join(dir, "list")
	old, err := os.ReadFile(listFile)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	versions := strings.Fields(string(old))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	semver.Sort(versions)
	if err := os.WriteFile(listFile, []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("proxy: %s@%s (tag %s, %d-byte zip)\n", modPath, version, tag, zip.Len())
	return nil
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return outb, nil
}
