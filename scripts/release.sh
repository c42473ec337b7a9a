#!/usr/bin/env bash
# Tags a release of every published module, in the order the go command
# needs, with each nested module requiring its siblings at the new tags.
#
#     scripts/release.sh VERSION [--dry-run] [--push REMOTE]
#
# VERSION is vMAJOR.MINOR.PATCH (optionally -PRERELEASE), major 0 or 1.
# One version for all four modules (COMPATIBILITY.md: each module may move
# on its own later; this script releases them together).
#
# In a clean checkout of the branch being released, it:
#   1. tags the root module:                     VERSION
#   2. sets the nested modules' requirements on the real tags (replacing
#      the unpublished zero pseudo-version v0.0.0-00010101000000-000000000000):
#        sqlstore/go.mod, redisstore/go.mod  require httpauth VERSION
#        cmd/go.mod                          requires httpauth and sqlstore VERSION
#      adds go.work replace lines for the new versions (the workspace keeps
#      serving the tree offline), checks that the modules build and vet,
#      and commits;
#   3. tags the library modules on that commit:  sqlstore/VERSION, redisstore/VERSION
#   4. then the commands, which require sqlstore: cmd/VERSION
# and prints the push commands, in the same order (root tag first, so that
# the proxy can serve the root by the time a nested module asks for it).
# With --push REMOTE it runs them. examples/* and bench are not released:
# they keep the zero pseudo-version, which go.work's replace lines serve.
#
# --dry-run does all of it in a throwaway clone, prints the result and
# removes the clone: the repository is left as it was.
#
# After pushing, check the published versions from outside the tree:
#     cd "$(mktemp -d)" && go mod init example.com/check &&
#       go get github.com/gohttpauth/httpauth@VERSION github.com/gohttpauth/httpauth/sqlstore@VERSION \
#              github.com/gohttpauth/httpauth/redisstore@VERSION &&
#       go install github.com/gohttpauth/httpauth/cmd/httpauth@VERSION
# (.ci/release/proxy.sh runs the same check against a local file proxy.)
set -euo pipefail

usage() {
  echo "usage: scripts/release.sh VERSION [--dry-run] [--push REMOTE]" >&2
  exit 2
}

version=
dry_run=false
remote=
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=true ;;
    --push)
      [ $# -ge 2 ] || usage
      remote=$2
      shift
      ;;
    -h | --help) usage ;;
    v*) [ -z "$version" ] || usage; version=$1 ;;
    *) usage ;;
  esac
  shift
done
[ -n "$version" ] || usage
if ! [[ $version =~ ^v(0|1)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "release: $version is not vMAJOR.MINOR.PATCH[-PRERELEASE] with major 0 or 1 (v2 needs a /v2 module path)" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)
core=github.com/gohttpauth/httpauth
# Released nested modules, in tagging order, and the siblings each requires.
nested=(sqlstore redisstore cmd)
declare -A requires=(
  [sqlstore]="$core"
  [redisstore]="$core"
  [cmd]="$core $core/sqlstore"
)

if $dry_run; then
  [ -z "$remote" ] || { echo "release: --dry-run and --push do not go together" >&2; exit 2; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  head=$(git -C "$root" rev-parse HEAD)
  git clone -q "$root" "$tmp/repo"
  git -C "$tmp/repo" checkout -q -B release-dry-run "$head"
  echo "release: dry run in a throwaway clone of $head (uncommitted changes are not in it)"
  bash "$tmp/repo/scripts/release.sh" "$version"
  echo
  echo "release: dry run result (the clone is removed now):"
  git -C "$tmp/repo" log --oneline --decorate -2
  git -C "$tmp/repo" show --stat --format='%n%s' HEAD
  exit 0
fi

cd "$root"
if [ -n "$(git status --porcelain)" ]; then
  echo "release: the working tree has changes; commit or stash them first" >&2
  exit 1
fi
if ! git symbolic-ref -q HEAD >/dev/null; then
  echo "release: HEAD is detached; check out the branch to release" >&2
  exit 1
fi
tags=("$version")
for m in "${nested[@]}"; do tags+=("$m/$version"); done
for t in "${tags[@]}"; do
  if git rev-parse -q --verify "refs/tags/$t" >/dev/null; then
    echo "release: tag $t exists already" >&2
    exit 1
  fi
done
for m in . "${nested[@]}"; do
  if grep -q '^replace\b' "$m/go.mod"; then
    echo "release: $m/go.mod has a replace line, which consumers would ignore; remove it" >&2
    exit 1
  fi
done

echo "== release $version: 1. tag the root module"
git tag -a "$version" -m "httpauth $version"
echo "tagged $version at $(git rev-parse --short HEAD)"

echo "== 2. nested modules require the real tags"
for m in "${nested[@]}"; do
  edits=()
  for dep in ${requires[$m]}; do
    grep -q "^[[:space:]]*$dep v" "$m/go.mod" || { echo "release: $m/go.mod does not require $dep" >&2; exit 1; }
    edits+=("-require=$dep@$version")
  done
  (cd "$m" && go mod edit "${edits[@]}")
  echo "$m/go.mod: $(grep -E "^[[:space:]]*$core(/[a-z]+)? v" "$m/go.mod" | tr -s ' \t' ' ' | paste -sd ';' -)"
done
# Inside the repository the workspace must keep serving the siblings from
# the tree: the go command reads the go.mod of every required version, even
# of a workspace module, so go.work gets a replace line for each required
# sibling at the new version (and drops the ones for an older release; the
# zero pseudo-version's stay, for examples/* and bench). Offline and
# before any push, the edited modules must then build and vet.
zero=v0.0.0-00010101000000-000000000000
declare -A dirs=([$core]=./ [$core/sqlstore]=./sqlstore [$core/redisstore]=./redisstore [$core/cmd]=./cmd)
declare -A wanted=()
for m in "${nested[@]}"; do
  for dep in ${requires[$m]}; do wanted[$dep]=1; done
done
work_edits=()
while read -r path ver; do
  if [ "$ver" != "$zero" ] && [ -n "${dirs[$path]:-}" ]; then
    work_edits+=("-dropreplace=$path@$ver")
  fi
done < <(sed -nE 's/^[[:space:]]*(github\.com\/gohttpauth\/httpauth[^[:space:]]*) (v[^[:space:]]+) =>.*/\1 \2/p' go.work)
for dep in "${!wanted[@]}"; do
  work_edits+=("-replace=$dep@$version=${dirs[$dep]}")
done
go work edit "${work_edits[@]}"
echo "go.work: $(printf '%s ' "${work_edits[@]}")"
for m in "${nested[@]}"; do
  (cd "$m" && go vet ./...)
done
while read -r dir; do
  (cd "$dir" && go build ./...)
done < <(go list -m -f '{{.Dir}}')
echo "the workspace vets ${nested[*]} and builds every module"
git add go.work "${nested[@]/%//go.mod}"
git commit -q -m "release $version: ${nested[*]} require the $version tags"
echo "committed $(git rev-parse --short HEAD): $(git log -1 --format=%s)"

echo "== 3. tag the library modules"
for m in sqlstore redisstore; do
  git tag -a "$m/$version" -m "httpauth/$m $version"
  echo "tagged $m/$version"
done
echo "== 4. tag the commands (they require sqlstore)"
git tag -a "cmd/$version" -m "httpauth/cmd $version"
echo "tagged cmd/$version"

branch=$(git symbolic-ref --short HEAD)
push=(
  "git push REMOTE $version"
  "git push REMOTE $branch"
  "git push REMOTE sqlstore/$version redisstore/$version"
  "git push REMOTE cmd/$version"
)
if [ -n "$remote" ]; then
  echo "== push to $remote, in order"
  for p in "${push[@]}"; do
    p=${p/REMOTE/$remote}
    echo "+ $p"
    $p
  done
else
  echo "== to publish, push in this order (REMOTE: your remote, e.g. origin):"
  printf '    %s\n' "${push[@]}"
fi
