# shellcheck shell=bash
# .ci/services.sh: start the real servers that the store adapters' tests use.
#
# Sourced (not executed) by .ci/run:
#
#     source .ci/services.sh
#
# On a fresh Debian machine, as root, it installs PostgreSQL and Redis if
# they are missing, starts both (or leaves them alone when they already
# answer), creates the database httpauth_test owned by a password user
# reachable over TCP on 127.0.0.1, and exports:
#
#     HTTPAUTH_POSTGRES_TEST_DSN  postgres://httpauth:httpauth@127.0.0.1:5432/httpauth_test?sslmode=disable
#     HTTPAUTH_REDIS_TEST_URL     redis://127.0.0.1:6379/0
#
# It is idempotent: running it twice, or with the servers already up, is
# fine. It changes no shell option of the caller and never calls exit; on
# failure it prints why and `source` returns non-zero, which stops a
# caller running under `set -e`.
#
# Tunables (environment, all optional): HTTPAUTH_CI_PG_USER,
# HTTPAUTH_CI_PG_PASSWORD, HTTPAUTH_CI_PG_DB, HTTPAUTH_CI_REDIS_PORT.
# The PostgreSQL port is read from the installed cluster.

_httpauth_services_log() { printf 'services.sh: %s\n' "$*" >&2; }

# _httpauth_services_wait CMD...: run CMD until it succeeds, up to ~60s.
_httpauth_services_wait() {
	local _
	for _ in $(seq 1 120); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

_httpauth_services_install() {
	local need=()
	if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
		need+=(postgresql)
	fi
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		need+=(redis-server)
	fi
	if [ "${#need[@]}" -eq 0 ]; then
		_httpauth_services_log "postgresql and redis-server already installed"
		return 0
	fi
	_httpauth_services_log "installing ${need[*]}"
	# Wait for another apt/dpkg run (up to 10 min) rather than failing on its lock.
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -q >/dev/null ||
		{ _httpauth_services_log "apt-get update failed"; return 1; }
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q --no-install-recommends \
		"${need[@]}" >/dev/null ||
		{ _httpauth_services_log "apt-get install ${need[*]} failed"; return 1; }
}

# _httpauth_services_postgres sets _httpauth_pg_port.
_httpauth_services_postgres() {
	local user=$1 pass=$2 db=$3
	local ver cluster status
	# Newest installed major version.
	ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)
	if [ -z "$ver" ]; then
		_httpauth_services_log "no PostgreSQL under /usr/lib/postgresql"
		return 1
	fi
	# Some images install the server without creating the main cluster.
	if ! pg_lsclusters -h "$ver" 2>/dev/null | grep -q .; then
		_httpauth_services_log "creating PostgreSQL $ver cluster main"
		pg_createcluster "$ver" main >/dev/null ||
			{ _httpauth_services_log "pg_createcluster $ver main failed"; return 1; }
	fi
	# First cluster of that version: "ver cluster port status owner dir log".
	read -r _ cluster _httpauth_pg_port status _ < <(pg_lsclusters -h "$ver" | head -n 1)
	if [ "$status" != online ]; then
		_httpauth_services_log "starting PostgreSQL $ver/$cluster on port $_httpauth_pg_port"
		pg_ctlcluster "$ver" "$cluster" start ||
			{ _httpauth_services_log "pg_ctlcluster $ver $cluster start failed"; return 1; }
	else
		_httpauth_services_log "PostgreSQL $ver/$cluster already running on port $_httpauth_pg_port"
	fi
	_httpauth_services_wait pg_isready -q -h 127.0.0.1 -p "$_httpauth_pg_port" ||
		{ _httpauth_services_log "PostgreSQL did not answer on 127.0.0.1:$_httpauth_pg_port"; return 1; }

	# Role and database, created once; the password is (re)set every run.
	# Run from / so that psql, as postgres, can read its working directory.
	(cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$_httpauth_pg_port" \
		-v user="$user" -v pass="$pass" -v db="$db" -d postgres) <<'SQL' ||
SELECT format('CREATE ROLE %I LOGIN', :'user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pass';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
		{ _httpauth_services_log "creating role/database in PostgreSQL failed"; return 1; }

	# Prove the DSN works over TCP with the password.
	PGPASSWORD=$pass _httpauth_services_wait psql -X -q -h 127.0.0.1 -p "$_httpauth_pg_port" \
		-U "$user" -d "$db" -c 'SELECT 1' ||
		{ _httpauth_services_log "cannot log in as $user to $db over 127.0.0.1:$_httpauth_pg_port"; return 1; }
}

_httpauth_services_redis() {
	local port=$1
	if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
		_httpauth_services_log "Redis already running on 127.0.0.1:$port"
		# --- issue 18: persistence. Revocations must survive a restart, as
		# in production: turn the append-only file on (at runtime, so a
		# packaged or already running server gets it too).
		redis-cli -h 127.0.0.1 -p "$port" CONFIG SET appendonly yes >/dev/null 2>&1 ||
			_httpauth_services_log "could not turn appendonly on (CONFIG SET refused)"
		return 0
	fi
	_httpauth_services_log "starting Redis on 127.0.0.1:$port"
	# The packaged service (runs as the redis user) serves the default port;
	# otherwise, or when it fails (no init scripts), start a bare daemon.
	if [ "$port" = 6379 ] && [ -x /etc/init.d/redis-server ]; then
		service redis-server start >/dev/null 2>&1 || true
		if _httpauth_services_wait sh -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG"; then
			# --- issue 18: persistence (see above).
			redis-cli -h 127.0.0.1 -p "$port" CONFIG SET appendonly yes >/dev/null 2>&1 ||
				_httpauth_services_log "could not turn appendonly on (CONFIG SET refused)"
			return 0
		fi
	fi
	local dir=/tmp/httpauth-redis-$port
	mkdir -p "$dir"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
		--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		--save '' --appendonly yes --appendfsync everysec --maxmemory-policy noeviction ||
		{ _httpauth_services_log "redis-server failed to start"; return 1; }
	_httpauth_services_wait sh -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG" ||
		{ _httpauth_services_log "Redis did not answer on 127.0.0.1:$port (log: $dir/redis.log)"; return 1; }
}

_httpauth_services() {
	local user=${HTTPAUTH_CI_PG_USER:-httpauth}
	local pass=${HTTPAUTH_CI_PG_PASSWORD:-httpauth}
	local db=${HTTPAUTH_CI_PG_DB:-httpauth_test}
	local redis_port=${HTTPAUTH_CI_REDIS_PORT:-6379}
	local _httpauth_pg_port=5432

	if [ "$(id -u)" != 0 ]; then
		_httpauth_services_log "must run as root"
		return 1
	fi
	_httpauth_services_install || return 1
	_httpauth_services_postgres "$user" "$pass" "$db" || return 1
	_httpauth_services_redis "$redis_port" || return 1

	export HTTPAUTH_POSTGRES_TEST_DSN="postgres://$user:$pass@127.0.0.1:$_httpauth_pg_port/$db?sslmode=disable"
	export HTTPAUTH_REDIS_TEST_URL="redis://127.0.0.1:$redis_port/0"
	_httpauth_services_log "HTTPAUTH_POSTGRES_TEST_DSN=$HTTPAUTH_POSTGRES_TEST_DSN"
	_httpauth_services_log "HTTPAUTH_REDIS_TEST_URL=$HTTPAUTH_REDIS_TEST_URL"
}

_httpauth_services
_httpauth_services_rc=$?
unset -f _httpauth_services _httpauth_services_log _httpauth_services_wait \
	_httpauth_services_install _httpauth_services_postgres _httpauth_services_redis
# `return` works when sourced; the fallback covers `bash .ci/services.sh`.
# shellcheck disable=SC2317
return "$_httpauth_services_rc" 2>/dev/null || exit "$_httpauth_services_rc"
