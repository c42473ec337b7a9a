#!/usr/bin/env bash
# .ci/lint.sh: static analysis for every module of the repository.
#
#     bash .ci/lint.sh
#
# 1. Installs pinned staticcheck and govulncheck with `go install` (into
#    GOBIN, or $(go env GOPATH)/bin), unless those versions are there.
# 2. For every go.mod: go vet ./..., staticcheck ./..., govulncheck ./...
#    with the local Go (the go.mod line's oldest supported release's latest
#    patch): reachable standard-library advisories are only warnings here.
# 3. For the library modules (core, sqlstore, redisstore) and the shipped
#    commands (the cmd module: httpauth, httpauth-users) govulncheck again under
#    GOTOOLCHAIN=$HTTPAUTH_NEW_GO (default go1.27.3, which the module
#    proxy serves; govulncheck is then built with that toolchain, as it must
#    be to read that standard library): ANY reachable finding fails the
#    run, standard-library ones included. Hosts should run that Go or newer.
# 4. Prints the core module's statement coverage and fails below 90%.
#
# The vulnerability database: govulncheck's default (vuln.go.dev) needs the
# internet. Without it, the script builds a local copy from the OSV files
# inside the golang.org/x/vulndb module, which the Go module proxy serves,
# with that module's own cmd/indexdb; it is cached under
# ${XDG_CACHE_HOME:-~/.cache}/httpauth/vulndb/<version>. The copy is as old
# as the pinned vulndb version: raise VULNDB_VERSION to refresh it.
#
# Environment (all optional):
#   HTTPAUTH_VULNDB=URL        use this database instead (https://vuln.go.dev
#                              where the internet is reachable, or file:///dir)
#   HTTPAUTH_VULN_WARN_ONLY=1  report vulnerabilities but do not fail on them
#   HTTPAUTH_MIN_COVERAGE=90   the core's coverage floor, in percent
#   HTTPAUTH_NEW_GO=go1.27.3   the newer toolchain of step 3 (and of .ci/run's
#                              second core test run)
set -uo pipefail

STATICCHECK_VERSION=v0.8.2
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
VULNDB_MODIFIED=2026-11-05T23:49:57Z # the commit time in VULNDB_VERSION
MIN_COVERAGE=${HTTPAUTH_MIN_COVERAGE:-90}
NEW_GO=${HTTPAUTH_NEW_GO:-go1.27.3}

cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
log() { printf 'lint: %s\n' "$*"; }
failed=()

bin=$(go env GOBIN)
[ -n "$bin" ] || bin=$(go env GOPATH)/bin

# install PKG VERSION MODULE: go install PKG@VERSION unless the binary in
# $bin was built from MODULE at VERSION.
install() {
	local pkg=$1 version=$2 module=$3 exe
	exe=$bin/$(basename "$pkg")
	if [ -x "$exe" ] && go version -m "$exe" 2>/dev/null | grep -qP "^\s+mod\s+\Q$module\E\s+\Q$version\E(\s|$)"; then
		return 0
	fi
	log "installing $pkg@$version"
	go install "$pkg@$version"
}
install honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION" honnef.co/go/tools || exit 1
install golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION" golang.org/x/vuln || exit 1
staticcheck=$bin/staticcheck
govulncheck=$bin/govulncheck

# govulncheck built with $NEW_GO, in a directory of its own: a govulncheck
# built with an older Go cannot type-check a newer standard library.
new_bin=${XDG_CACHE_HOME:-$HOME/.cache}/httpauth/bin/$NEW_GO
new_govulncheck=$new_bin/govulncheck
if ! GOTOOLCHAIN=$NEW_GO go version >/dev/null; then
	failed+=("toolchain $NEW_GO could not be run (GOTOOLCHAIN=$NEW_GO go version failed; GOPROXY=$(go env GOPROXY))")
	new_govulncheck=
elif ! { [ -x "$new_govulncheck" ] &&
	built=$(go version -m "$new_govulncheck" 2>/dev/null) &&
	grep -q ": $NEW_GO\$" <<<"${built%%$'\n'*}" &&
	grep -qP "^\s+mod\s+golang\.org/x/vuln\s+\Q$GOVULNCHECK_VERSION\E(\s|$)" <<<"$built"; }; then
	log "installing govulncheck@$GOVULNCHECK_VERSION built with $NEW_GO"
	if ! GOTOOLCHAIN=$NEW_GO GOBIN=$new_bin go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"; then
		failed+=("go install govulncheck with $NEW_GO")
		new_govulncheck=
	fi
fi

# vulndb sets $vulndb to a database URL, or to "" with $vulndb_why set.
vulndb= vulndb_why=
find_vulndb() {
	if [ -n "${HTTPAUTH_VULNDB:-}" ]; then
		vulndb=$HTTPAUTH_VULNDB
		return
	fi
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/httpauth/vulndb/$VULNDB_VERSION
	if [ -s "$cache/index/modules.json" ]; then
		vulndb=file://$cache
		return
	fi
	log "building a local vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (about a minute, once)"
	local dir
	dir=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" 2>/dev/null |
		sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ]; then
		vulndb_why="golang.org/x/vulndb@$VULNDB_VERSION could not be downloaded from the module proxy, and no HTTPAUTH_VULNDB was given"
		return
	fi
	rm -rf "$cache.tmp"
	if ! go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$dir/data/osv" -out "$cache.tmp" >/dev/null 2>&1; then
		vulndb_why="indexdb from golang.org/x/vulndb@$VULNDB_VERSION failed to build the database, and no HTTPAUTH_VULNDB was given"
		rm -rf "$cache.tmp"
		return
	fi
	# indexdb leaves the database's modified time at zero; use the commit's.
	printf '{"modified":"%s"}' "$VULNDB_MODIFIED" >"$cache.tmp/index/db.json"
	gzip -kf "$cache.tmp/index/db.json"
	rm -rf "$cache" && mv "$cache.tmp" "$cache"
	vulndb=file://$cache
}
find_vulndb
if [ -n "$vulndb" ]; then
	log "vulnerability database: $vulndb"
else
	log "govulncheck SKIPPED: $vulndb_why"
fi

# Every module, the core first.
mapfile -t mods < <(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -printf '%h\n' | sort)
for mod in "${mods[@]}"; do
	name=${mod#./}
	[ "$mod" = . ] && name="core"
	log "== $name"
	(cd "$root/$mod" && go vet ./...) || failed+=("go vet ($name)")
	(cd "$root/$mod" && "$staticcheck" ./...) || failed+=("staticcheck ($name)")
	if [ -n "$vulndb" ]; then
		# Text for the log; JSON to sort what was found. Only reachable
		# findings in third-party modules of the library's own modules fail
		# the run: standard-library ones are fixed by a newer Go toolchain
		# (the host's choice), and the benchmark and router modules must use
		# echo v4, whose remaining advisories are fixed only in v5.
		(cd "$root/$mod" && "$govulncheck" -db "$vulndb" ./...)
		json=$(cd "$root/$mod" && "$govulncheck" -db "$vulndb" -format json ./... 2>/dev/null)
		verdict=$(python3 "$root/.ci/vulnsort.py" <<<"$json")
		case "$verdict" in
		"") ;;
		fail:*)
			case "$name" in
			bench | examples/routers)
				log "govulncheck ($name): warning, reachable advisories in benchmark/example dependencies: ${verdict#fail:}" ;;
			*)
				if [ "${HTTPAUTH_VULN_WARN_ONLY:-}" = 1 ]; then
					log "govulncheck ($name) found ${verdict#fail:}; not failing (HTTPAUTH_VULN_WARN_ONLY=1)"
				else
					failed+=("govulncheck ($name): ${verdict#fail:}")
				fi ;;
			esac ;;
		stdlib:*)
			log "govulncheck ($name): warning, reachable standard-library advisories ${verdict#stdlib:} (fixed by a newer Go toolchain; not a dependency of ours)" ;;
		*) failed+=("govulncheck ($name): $verdict") ;;
		esac
		# The library modules under the newer toolchain: nothing reachable
		# may remain, standard library included.
		case "$name" in
		core | sqlstore | redisstore | cmd)
			if [ -n "$new_govulncheck" ]; then
				log "govulncheck ($name) under $NEW_GO"
				(cd "$root/$mod" && GOTOOLCHAIN=$NEW_GO "$new_govulncheck" -db "$vulndb" ./...)
				json=$(cd "$root/$mod" && GOTOOLCHAIN=$NEW_GO "$new_govulncheck" -db "$vulndb" -format json ./... 2>/dev/null)
				verdict=$(python3 "$root/.ci/vulnsort.py" <<<"$json")
				if [ -n "$verdict" ] && [ "${HTTPAUTH_VULN_WARN_ONLY:-}" = 1 ]; then
					log "govulncheck ($name) under $NEW_GO found ${verdict#*:}; not failing (HTTPAUTH_VULN_WARN_ONLY=1)"
				elif [ -n "$verdict" ]; then
					failed+=("govulncheck ($name) under $NEW_GO: ${verdict#*:}")
				fi
			fi ;;
		esac
	fi
done

# Core coverage.
log "== core coverage"
profile=$(mktemp)
trap 'rm -f "$profile" "$covlog"' EXIT
covlog=$(mktemp)
if go test -count=1 -coverprofile="$profile" ./ >"$covlog" 2>&1; then
	total=$(go tool cover -func="$profile" | tail -1)
	echo "$total"
	pct=$(awk '{sub(/%/, "", $NF); print $NF}' <<<"$total")
	if awk -v p="$pct" -v m="$MIN_COVERAGE" 'BEGIN { exit !(p + 0 < m + 0) }'; then
		failed+=("core coverage $pct% is below $MIN_COVERAGE%")
	fi
else
	cat "$covlog"
	failed+=("go test -coverprofile ./ (core)")
fi

if [ "${#failed[@]}" -gt 0 ]; then
	log "FAILED:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
[ -n "$vulndb" ] || log "passed (govulncheck skipped: $vulndb_why)"
[ -z "$vulndb" ] || log "passed"
