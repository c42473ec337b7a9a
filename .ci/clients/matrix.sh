#!/usr/bin/env bash
# Client interop matrix: real HTTP clients get a token from examples/api.
#
#     bash .ci/clients/matrix.sh
#
# Builds examples/api, starts it in memory on a free loopback port, and
# asks each client for a token (POST /api/v1/tokens/ with Basic
# credentials) as two demo users: alice (ASCII password) and carol
# (pässwörd-ü42). Each token is then checked on GET /api/v1/me.
#
# Clients, and the bytes they send for carol's password:
#   curl                                UTF-8
#   Python requests, str credentials    ISO-8859-1 (requests encodes str as latin-1)
#   Python requests, bytes credentials  UTF-8
#   httpie (http)                       UTF-8
#   Node fetch + btoa                   ISO-8859-1 (as browsers)
#   Node fetch + Buffer                 UTF-8
# Every cell is expected to succeed: the server reads Basic credentials
# that are not valid UTF-8 as ISO-8859-1 (RFC 7617 allows it).
#
# A client that is not installed is skipped with a message. Python is
# Debian's /usr/bin/python3 (apt-get install python3-requests; a pyenv
# python3 on PATH has no Debian packages); override with
# HTTPAUTH_CLIENTS_PYTHON. Prints a client × user table and exits 1 if any
# client that ran did not get a working token.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C.UTF-8

here=.ci/clients
python=${HTTPAUTH_CLIENTS_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
api_pid=
cleanup() {
  if [ -n "$api_pid" ]; then
    kill "$api_pid" 2>/dev/null || true
    wait "$api_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== client matrix: building and starting examples/api (in memory)"
go build -o "$tmp/api" ./examples/api
"$tmp/api" -addr 127.0.0.1:0 2>"$tmp/api.log" &
api_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$tmp/api.log" | head -n 1 | sed 's/^listening on //' || true)
  [ -n "$url" ] && break
  if ! kill -0 "$api_pid" 2>/dev/null; then break; fi
  sleep 0.2
done
if [ -z "$url" ]; then
  echo "examples/api did not start; its log:"
  cat "$tmp/api.log"
  exit 1
fi
echo "examples/api at $url"

users=("alice@example.com" "carol@example.com")
declare -A passwords=(
  ["alice@example.com"]="wonderland-42"
  ["carol@example.com"]="pässwörd-ü42"
)

# Each client function: CLIENT URL LOGIN PASSWORD -> prints "STATUS TOKEN".
client_curl() {
  local body code
  code=$(curl -sS -o "$tmp/body" -w '%{http_code}' -X POST -u "$2:$3" "$1/api/v1/tokens/") || code=000
  body=$(cat "$tmp/body" 2>/dev/null || true)
  echo "$code $(token_of "$body")"
}
client_requests_str() { HTTPAUTH_CLIENT_PASSWORD=$3 "$python" "$here/requests_client.py" "$1" "$2" str; }
client_requests_bytes() { HTTPAUTH_CLIENT_PASSWORD=$3 "$python" "$here/requests_client.py" "$1" "$2" bytes; }
client_httpie() {
  local out code
  out=$(http --ignore-stdin --pretty=none --print=hb --timeout=30 POST "$1/api/v1/tokens/" -a "$2:$3" 2>&1) || true
  code=$(printf '%s\n' "$out" | head -n 1 | awk '{print $2}')
  echo "${code:-000} $(token_of "$out")"
}
client_fetch_btoa() { HTTPAUTH_CLIENT_PASSWORD=$3 node "$here/fetch_client.mjs" "$1" "$2" btoa; }
client_fetch_buffer() { HTTPAUTH_CLIENT_PASSWORD=$3 node "$here/fetch_client.mjs" "$1" "$2" buffer; }

token_of() { printf '%s' "$1" | grep -o '"token":"[^"]*"' | head -n 1 | sed 's/^"token":"//; s/"$//' || true; }

# Why a client cannot run here, or nothing when it can.
missing() {
  case $1 in
    curl) command -v curl >/dev/null || echo "no curl (apt-get install curl)" ;;
    requests_str | requests_bytes)
      if [ ! -x "$python" ]; then
        echo "no $python (Debian's python3)"
      elif ! "$python" -c 'import requests' 2>/dev/null; then
        echo "$python has no requests module (apt-get install python3-requests)"
      fi
      ;;
    httpie) command -v http >/dev/null || echo "no http command (apt-get install httpie)" ;;
    fetch_btoa | fetch_buffer)
      if ! command -v node >/dev/null; then
        echo "no node"
      elif ! node -e 'process.exit(typeof fetch === "function" && typeof btoa === "function" ? 0 : 1)' 2>/dev/null; then
        echo "node $(node --version) has no global fetch/btoa (Node 18 or newer)"
      fi
      ;;
  esac
}

clients=(curl requests_str requests_bytes httpie fetch_btoa fetch_buffer)
declare -A label=(
  [curl]="curl"
  [requests_str]="Python requests, str (latin-1)"
  [requests_bytes]="Python requests, bytes (UTF-8)"
  [httpie]="httpie (UTF-8)"
  [fetch_btoa]="Node fetch + btoa (latin-1)"
  [fetch_buffer]="Node fetch + Buffer (UTF-8)"
)
declare -A cell=()
failures=0
ran=0
for c in "${clients[@]}"; do
  why=$(missing "$c")
  if [ -n "$why" ]; then
    echo "SKIP ${label[$c]}: $why"
    for u in "${users[@]}"; do cell[$c,$u]="skipped"; done
    continue
  fi
  for u in "${users[@]}"; do
    ran=$((ran + 1))
    result=$("client_$c" "$url" "$u" "${passwords[$u]}" 2>"$tmp/err") || true
    code=${result%% *}
    token=${result#* }
    [ -n "$code" ] || code=000
    me=
    if [ "$code" = 200 ] && [ -n "$token" ] && [ "$token" != - ]; then
      me=$(curl -sS -H "Authorization: Bearer $token" "$url/api/v1/me" || true)
    fi
    if [[ $me == *"\"email\":\"$u\""* ]]; then
      cell[$c,$u]="$code ok"
    else
      failures=$((failures + 1))
      cell[$c,$u]="$code FAIL"
      echo "FAIL ${label[$c]} as $u: status $code; $(head -c 300 "$tmp/err" | tr '\n' ' ')${me:+ /api/v1/me: $me}"
    fi
  done
done

echo
printf '%-32s' "client"
for u in "${users[@]}"; do printf '  %-20s' "$u"; done
echo
for c in "${clients[@]}"; do
  printf '%-32s' "${label[$c]}"
  for u in "${users[@]}"; do printf '  %-20s' "${cell[$c,$u]}"; done
  echo
done
echo
echo "client matrix: $((ran - failures)) of $ran requests got a working token, $failures failed"
if [ "$failures" -gt 0 ]; then
  echo "client matrix: FAILED (every client is expected to get a token for every user)"
  exit 1
fi
