# Sourced by scripts that test a live esauth: builds the binary, starts it on
# a free loopback port against ELASTICSEARCH_URL with its own index prefix,
# and on exit stops it and deletes its indices.
#   NAME=smoke; source "$(dirname "$0")/serve-lib.sh"; serve_start
# Sets ROOT, WORK, ES_URL, PREFIX, PORT, BASE and SERVER_PID.

ES_URL="${ELASTICSEARCH_URL:-http://127.0.0.1:9200}"
ES_URL="${ES_URL%%,*}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
PREFIX="esauth-${NAME:-script}-$$-"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
SERVER_PID=""

serve_cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true; fi
  local index
  for index in users sessions audit attempts identities leases tokens; do
    curl -fsS -XDELETE "$ES_URL/_index_template/${PREFIX}$index" >/dev/null 2>&1 || true
    # The index behind the alias first (a delete must name it; that also
    # removes the alias), then one made before aliases, if any.
    curl -fsS -XDELETE "$ES_URL/${PREFIX}$index-000001?ignore_unavailable=true" >/dev/null 2>&1 || true
    curl -fsS -XDELETE "$ES_URL/${PREFIX}$index?ignore_unavailable=true" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap serve_cleanup EXIT

# serve_start builds and starts the server with the caller's ESAUTH_*
# environment, and waits until it listens.
serve_start() {
  (cd "$ROOT" && go build -o "$WORK/esauth" .)
  ESAUTH_ADDR="127.0.0.1:$PORT" ELASTICSEARCH_URL="$ES_URL" ESAUTH_INDEX_PREFIX="$PREFIX" \
    "$WORK/esauth" serve >"$WORK/server.out" 2>"$WORK/server.log" &
  SERVER_PID=$!
  local _
  for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/server.out" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "${NAME:-script}: the server did not start:" >&2
  tail -n 20 "$WORK/server.log" >&2
  exit 1
}
