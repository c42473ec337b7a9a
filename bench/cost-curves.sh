#!/usr/bin/env bash
# bench/cost-curves.sh: issue 19's cost curves. Start a Redis server of the
# run's own (10⁷ revocations do not belong on a shared one), run
# bench/cmd/costcurves against it and PostgreSQL, then draw the charts.
#
#     HTTPAUTH_POSTGRES_TEST_DSN=postgres://… bench/cost-curves.sh [costcurves flags, e.g. -max 1e4 -d 2s]
#
# Environment: HTTPAUTH_POSTGRES_TEST_DSN (required); REDIS_PORT (default
# 6390, must be free); OUT (default bench/charts: costcurves.json,
# costcurves.md and the PNGs). Run as root with a local PostgreSQL, the
# script creates a database of its own (as the postgres user) so that the
# bulk inserts and their notifications stay out of the shared one, and
# drops it at the end; otherwise costcurves works in a schema of its own in
# the DSN's database. The full run (-max 1e7, the default) takes about 25
# minutes and needs about 2 GiB for Redis and 3 GiB for the program;
# -max 1e4 takes under a minute.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/charts}
port=${REDIS_PORT:-6390}
pg=${HTTPAUTH_POSTGRES_TEST_DSN:?set HTTPAUTH_POSTGRES_TEST_DSN}
work=$(mktemp -d)
redis_pid=
db=

cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	if [ -n "$db" ]; then
		su postgres -c "dropdb --if-exists $db" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "cost-curves.sh: port $port is taken; set REDIS_PORT" >&2
	exit 1
fi
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
	--logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done

# A database of our own when we can make one (root, local PostgreSQL).
user=$(sed -E 's#^postgres(ql)?://([^:@/]+).*#\2#' <<<"$pg")
if [ "$(id -u)" = 0 ] && [ -n "$user" ]; then
	name="httpauth_costs_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	if su postgres -c "createdb -O $user $name" >/dev/null 2>&1; then
		db=$name
		pg=$(sed -E "s#^(postgres(ql)?://[^/]+/)[^?]*#\1$db#" <<<"$pg")
	fi
fi
echo "PostgreSQL database: ${db:-the DSN's (a schema of the run's own)}" >&2

mkdir -p "$out"
echo "building bench/cmd/costcurves" >&2
(cd "$here" && go build -o "$work/costcurves" ./cmd/costcurves)
echo "go: $(go version | cut -d' ' -f3-), nproc: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), redis: $(redis-server --version | cut -d' ' -f3), commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'), load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/costcurves.md" >&2
status=0
"$work/costcurves" -pg "$pg" -redis "redis://127.0.0.1:$port/0" -flush-redis -json "$out/costcurves.json" "$@" | tee -a "$out/costcurves.md" || status=$?
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/costcurves.md" >&2

if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	/usr/bin/python3 "$here/plot_costs.py" "$out/costcurves.json" "$out"
else
	echo "cost-curves.sh: no matplotlib for /usr/bin/python3 (apt-get install python3-matplotlib): no charts" >&2
fi
# costcurves fails on a wrong answer, a 500 or a transport error, after
# printing and saving what it measured: the charts are drawn either way.
exit $status
