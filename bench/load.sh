#!/usr/bin/env bash
# bench/load.sh: build examples/api and bench/cmd/load, start the example
# server on loopback, and measure /healthz, token-authenticated
# /api/v1/me and cached-Basic /api/v1/me at 64 connections.
#
#     bench/load.sh [extra load flags, e.g. -d 5s -n 100000]
#
# Environment (optional): PORT (default 18080), CONNS (default 64). The
# server's log (one Info line per password login, cached or not) goes to
# $TMPDIR; the server is stopped on exit.
#
# To compare stores (memory, SQLite, PostgreSQL + Redis) side by side at 32
# connections, use bench/load-stores.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${PORT:-18080}
conns=${CONNS:-64}
work=$(mktemp -d)
server_pid=

cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building examples/api and bench/cmd/load" >&2
(cd "$root/examples/api" && go build -o "$work/api" .)
(cd "$here" && go build -o "$work/load" ./cmd/load)

# A random 32-byte key (a made-up one such as 00…2a is refused): tokens
# only need to outlive this run.
HTTPAUTH_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') "$work/api" -addr "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!

for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		break
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$work/server.log" >&2
		echo "load.sh: the server exited" >&2
		exit 1
	fi
	sleep 0.1
done

echo "go: $(go version | cut -d' ' -f3-), nproc: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" >&2
"$work/load" -url "http://127.0.0.1:$port" -c "$conns" "$@"
