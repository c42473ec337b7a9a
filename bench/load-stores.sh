#!/usr/bin/env bash
# bench/load-stores.sh: the load target set for issue 10. Start examples/api
# three ways at once (in memory, -db sqlite:…, -db postgres://… -redis
# redis://…) and measure them side by side with bench/cmd/loadstores: token
# and cached-Basic GET /api/v1/me at 32 connections, in rounds that alternate
# between the setups, with each rate and p99 as a ratio to memory's.
#
#     HTTPAUTH_POSTGRES_TEST_DSN=postgres://… HTTPAUTH_REDIS_TEST_URL=redis://… \
#         bench/load-stores.sh [extra loadstores flags, e.g. -rounds 4 -d 3s]
#
# Environment: HTTPAUTH_POSTGRES_TEST_DSN and HTTPAUTH_REDIS_TEST_URL (without
# them, only memory and SQLite run); CONNS (default 32); PORT (first of three
# ports, default 18081); API_BIN (a prebuilt examples/api binary, e.g. an
# older commit's, instead of building this tree's); BEFORE_BIN (another
# binary, measured in the same run as three more setups named "…-before";
# an older commit's tree builds with its own module wiring, e.g.
# git archive C | tar -x -C DIR && (cd DIR/examples/api && go build -o BIN .)).
# Each PostgreSQL setup gets a schema of its own and a Redis key prefix of
# its own, removed on exit, so a run never touches other users of those
# servers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${PORT:-18081}
conns=${CONNS:-32}
work=$(mktemp -d)
pids=()
suffix=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
schemas=()
prefix="bench:$suffix:"
pg=${HTTPAUTH_POSTGRES_TEST_DSN:-}
redis=${HTTPAUTH_REDIS_TEST_URL:-}
# One random 32-byte key for every instance (a made-up one such as 00…2a
# is refused); tokens only need to outlive this run.
secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for schema in "${schemas[@]}"; do
		psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
	done
	if [ -n "$redis" ]; then
		redis-cli -u "$redis" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$redis" DEL >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

api=${API_BIN:-}
if [ -z "$api" ]; then
	echo "building examples/api" >&2
	(cd "$root/examples/api" && go build -o "$work/api" .)
	api="$work/api"
fi
echo "building bench/cmd/loadstores" >&2
(cd "$here" && go build -o "$work/loadstores" ./cmd/loadstores)

# start BIN NAME PORT [api flags]: run one instance, wait until it listens.
start() {
	local bin=$1 name=$2 p=$3
	shift 3
	HTTPAUTH_SECRET=$secret "$bin" -addr "127.0.0.1:$p" "$@" 2>"$work/$name.log" &
	pids+=($!)
	local pid=$!
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$work/$name.log" >&2
			echo "load-stores.sh: the $name server exited" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "load-stores.sh: the $name server did not listen" >&2
	exit 1
}

# setups BIN SUFFIX PORT: start memory, SQLite and (with the environment)
# PostgreSQL + Redis on BIN, on PORT and the next two.
setups() {
	local bin=$1 sfx=$2 p=$3 demo=()
	# Binaries that know -demo-users create the demo users in SQL only when asked.
	case $("$bin" -h 2>&1 || true) in *-demo-users*) demo=(-demo-users) ;; esac
	start "$bin" "memory$sfx" "$p"
	targets+=(-target "memory$sfx=http://127.0.0.1:$p")
	start "$bin" "sqlite$sfx" "$((p + 1))" -db "sqlite:$work/users$sfx.db" "${demo[@]}"
	targets+=(-target "sqlite$sfx=http://127.0.0.1:$((p + 1))")
	if [ -n "$pg" ] && [ -n "$redis" ]; then
		local schema="bench_${suffix}_${#schemas[@]}" sep='?'
		psql -q "$pg" -c "CREATE SCHEMA $schema" >/dev/null
		schemas+=("$schema")
		case "$pg" in *\?*) sep='&' ;; esac
		start "$bin" "pg+redis$sfx" "$((p + 2))" -db "$pg${sep}search_path=$schema" "${demo[@]}" \
			-redis "$redis" -redis-prefix "$prefix${#schemas[@]}:"
		targets+=(-target "pg+redis$sfx=http://127.0.0.1:$((p + 2))")
	fi
}

targets=()
setups "$api" "" "$port"
if [ -n "${BEFORE_BIN:-}" ]; then
	setups "$BEFORE_BIN" "-before" "$((port + 3))"
fi
if [ -z "$pg" ] || [ -z "$redis" ]; then
	echo "load-stores.sh: HTTPAUTH_POSTGRES_TEST_DSN or HTTPAUTH_REDIS_TEST_URL unset: skipping PostgreSQL + Redis" >&2
fi

echo "go: $(go version | cut -d' ' -f3-), nproc: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" >&2
"$work/loadstores" -c "$conns" "${targets[@]}" "$@"
