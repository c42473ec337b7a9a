# shellcheck shell=bash
# .ci/redis-cluster.sh: start a three-master Redis Cluster for redisstore's
# and examples/api's cluster tests.
#
# Sourced (not executed) by .ci/run, after .ci/services.sh:
#
#     source .ci/redis-cluster.sh
#
# As root on Debian, it installs redis-server and redis-sentinel if they
# are missing (the failover tests start Sentinel processes of their own),
# starts three redis-server processes with --cluster-enabled yes on
# 127.0.0.1 ports BASE, BASE+1, BASE+2 (BASE is HTTPAUTH_CI_CLUSTER_PORT,
# default 7000), joins them with `redis-cli --cluster create`, waits until
# every node reports cluster_state:ok, and exports (go-redis's
# ParseClusterURL form):
#
#     HTTPAUTH_REDIS_CLUSTER_TEST_URL  redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002
#
# It is idempotent: a cluster already answering cluster_state:ok on those
# ports is left alone. Like services.sh it changes no shell option of the
# caller and never calls exit; on failure `source` returns non-zero.
# Data lives in /tmp/httpauth-cluster-PORT (no persistence).

_httpauth_cluster_log() { printf 'redis-cluster.sh: %s\n' "$*" >&2; }

# _httpauth_cluster_ok PORT: the node answers and its cluster is whole.
_httpauth_cluster_ok() {
	redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

_httpauth_cluster() {
	local base=${HTTPAUTH_CI_CLUSTER_PORT:-7000}
	local ports=("$base" "$((base + 1))" "$((base + 2))")
	local p _ need=()

	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		need+=(redis-server)
	fi
	if ! command -v redis-sentinel >/dev/null 2>&1; then
		need+=(redis-sentinel)
	fi
	if [ "${#need[@]}" -gt 0 ]; then
		if [ "$(id -u)" != 0 ]; then
			_httpauth_cluster_log "missing ${need[*]} and not root"
			return 1
		fi
		_httpauth_cluster_log "installing ${need[*]}"
		local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -q >/dev/null &&
			DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q --no-install-recommends \
				"${need[@]}" >/dev/null ||
			{ _httpauth_cluster_log "apt-get install ${need[*]} failed"; return 1; }
	fi

	local whole=1
	for p in "${ports[@]}"; do
		_httpauth_cluster_ok "$p" || whole=0
	done
	if [ "$whole" = 1 ]; then
		_httpauth_cluster_log "cluster already running on ports ${ports[*]}"
	else
		for p in "${ports[@]}"; do
			if redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null | grep -q PONG; then
				# A node from an earlier, unfinished run: start it over.
				redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
				for _ in $(seq 1 40); do
					redis-cli -h 127.0.0.1 -p "$p" ping >/dev/null 2>&1 || break
					sleep 0.25
				done
			fi
			local dir=/tmp/httpauth-cluster-$p
			rm -rf "$dir" && mkdir -p "$dir"
			redis-server --daemonize yes --bind 127.0.0.1 --port "$p" \
				--cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
				--cluster-node-timeout 2000 \
				--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
				--save '' --appendonly no --maxmemory-policy noeviction ||
				{ _httpauth_cluster_log "redis-server on port $p failed to start"; return 1; }
		done
		for p in "${ports[@]}"; do
			local up=0
			for _ in $(seq 1 120); do
				if redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null | grep -q PONG; then
					up=1
					break
				fi
				sleep 0.5
			done
			[ "$up" = 1 ] || { _httpauth_cluster_log "node $p did not answer (log: /tmp/httpauth-cluster-$p/redis.log)"; return 1; }
		done
		redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null ||
			{ _httpauth_cluster_log "redis-cli --cluster create failed"; return 1; }
		for p in "${ports[@]}"; do
			local ok=0
			for _ in $(seq 1 120); do
				if _httpauth_cluster_ok "$p"; then
					ok=1
					break
				fi
				sleep 0.5
			done
			[ "$ok" = 1 ] || { _httpauth_cluster_log "node $p never reported cluster_state:ok"; return 1; }
		done
		_httpauth_cluster_log "three-master cluster up on ports ${ports[*]}"
	fi
	export HTTPAUTH_REDIS_CLUSTER_TEST_URL="redis://127.0.0.1:${ports[0]}?addr=127.0.0.1:${ports[1]}&addr=127.0.0.1:${ports[2]}"
	_httpauth_cluster_log "HTTPAUTH_REDIS_CLUSTER_TEST_URL=$HTTPAUTH_REDIS_CLUSTER_TEST_URL"
}

_httpauth_cluster
_httpauth_cluster_rc=$?
unset -f _httpauth_cluster _httpauth_cluster_log _httpauth_cluster_ok
# shellcheck disable=SC2317
return "$_httpauth_cluster_rc" 2>/dev/null || exit "$_httpauth_cluster_rc"
