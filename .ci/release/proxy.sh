#!/usr/bin/env bash
# Proves that a release installs: tags a throwaway clone with
# scripts/release.sh, serves the tagged versions from a file-based module
# proxy, and has a module outside the tree `go get` the core, sqlstore and
# redisstore, `go install` the httpauth command, and build and run a program
# (.ci/release/consumer) that uses all three.
#
#     bash .ci/release/proxy.sh
#
# The clone is of HEAD (commit first: uncommitted changes are not in it),
# its own tags are deleted and it is released as $HTTPAUTH_RELEASE_TEST_VERSION
# (default v0.1.0); the repository gets no tag. The consumer's module cache
# is a temporary one, so the made-up versions never reach ~/go/pkg/mod.
# Third-party modules come from the local module cache's download directory
# (offline) and else from the real proxy, checked against sum.golang.org as
# usual; only github.com/gohttpauth/* is exempt (GONOSUMDB), since the
# checksum database has never seen these versions.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
version=${HTTPAUTH_RELEASE_TEST_VERSION:-v0.1.0}
core=github.com/gohttpauth/httpauth

tmp=$(mktemp -d)
cleanup() {
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== release: scripts/release.sh $version in a throwaway clone of $(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain)" ]; then
  echo "(the working tree has uncommitted changes; they are not in the clone)"
fi
git clone -q "$root" "$tmp/repo"
git -C "$tmp/repo" checkout -q -B release-ci "$(git rev-parse HEAD)"
existing=$(git -C "$tmp/repo" tag)
if [ -n "$existing" ]; then
  # shellcheck disable=SC2086
  git -C "$tmp/repo" tag -d $existing >/dev/null
fi
git -C "$tmp/repo" config user.name >/dev/null || git -C "$tmp/repo" config user.name "httpauth CI"
git -C "$tmp/repo" config user.email >/dev/null || git -C "$tmp/repo" config user.email "ci@invalid.example"
bash "$tmp/repo/scripts/release.sh" "$version"
echo "tags: $(git -C "$tmp/repo" tag | paste -sd ' ' -)"

echo "== release: file proxy from the clone's tags"
mkdir -p "$tmp/modproxy"
cp .ci/release/modproxy.go "$tmp/modproxy/"
(
  cd "$tmp/modproxy"
  go mod init modproxy >/dev/null 2>&1
  GOWORK=off go get golang.org/x/mod@v0.42.0 >/dev/null 2>&1
  GOWORK=off go run modproxy.go -repo "$tmp/repo" -out "$tmp/proxy" \
    "$core=.@$version" \
    "$core/sqlstore=sqlstore@sqlstore/$version" \
    "$core/redisstore=redisstore@redisstore/$version" \
    "$core/cmd=cmd@cmd/$version"
)

echo "== release: a consumer module outside the tree, GOPROXY=file://…"
modcache=$(go env GOMODCACHE)
upstream=$(go env GOPROXY)
case $upstream in off | "") upstream=https://proxy.golang.org ;; esac
export GOWORK=off
export GOFLAGS=-modcacherw
export GOMODCACHE="$tmp/modcache"
export GOPROXY="file://$tmp/proxy,file://$modcache/cache/download,$upstream"
export GONOSUMDB=github.com/gohttpauth
export GOPRIVATE='' GONOPROXY=''
export GOBIN="$tmp/bin"
echo "GOPROXY=$GOPROXY"
echo "GONOSUMDB=$GONOSUMDB GOMODCACHE=$GOMODCACHE (temporary)"
mkdir -p "$tmp/consumer"
cp .ci/release/consumer/main.go "$tmp/consumer/"
cd "$tmp/consumer"
go mod init example.com/consumer >/dev/null 2>&1
run() {
  echo "+ $*"
  "$@"
}
run go get "$core@$version"
run go get "$core/sqlstore@$version"
run go get "$core/redisstore@$version"
run go mod tidy
echo "resolved: $(go list -m all | grep "^$core" | paste -sd ';' -)"
if go list -m all | grep "^$core" | grep -q 'v0\.0\.0-00010101000000-000000000000'; then
  echo "release: the consumer's build list still has the zero pseudo-version" >&2
  exit 1
fi
run go build -o consumer .
run ./consumer
run go install "$core/cmd/httpauth@$version"
key=$("$GOBIN/httpauth" keygen)
echo "httpauth keygen: ${#key}-character key"
[ "${#key}" -ge 64 ] || { echo "release: httpauth keygen printed $key" >&2; exit 1; }
echo "release: the $version modules install and build from a module proxy: OK"
