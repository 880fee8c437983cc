#!/usr/bin/env bash
# Starts, stops and reports on a local single-node Elasticsearch for
# development and tests.
#
#   scripts/elasticsearch.sh start|stop|status
#
# The official distribution is fetched from Maven Central with Maven
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip),
# cached outside the repository and run with the machine's JDK. Elasticsearch
# refuses to run as root, so when this script runs as root it creates an
# unprivileged user and runs the node as that user.
#
# Settings (environment):
#   ES_VERSION      Elasticsearch version (default 8.19.21, the newest 8.x on
#                   Maven Central when this was written)
#   ES_PORT         HTTP port on 127.0.0.1 (default 9200)
#   ES_JAVA_HOME    JDK to run it with (default: the first JDK 17+ found)
#   ESAUTH_CACHE    cache dir (default ~/.cache/esauth, or /var/cache/esauth
#                   when run as root, because the node's user cannot enter /root)
#   ES_USER         the unprivileged user used when run as root (default esauth-es)
set -euo pipefail

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9200}"
ES_USER="${ES_USER:-esauth-es}"
if [ "$(id -u)" = 0 ]; then
  CACHE="${ESAUTH_CACHE:-/var/cache/esauth}"
else
  CACHE="${ESAUTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/esauth}"
fi
ZIP="$CACHE/elasticsearch-$ES_VERSION.zip"
HOME_DIR="$CACHE/elasticsearch-$ES_VERSION"
RUN_DIR="$CACHE/node-$ES_PORT"
PID_FILE="$RUN_DIR/elasticsearch.pid"
LOG_FILE="$RUN_DIR/stdout.log"
URL="http://127.0.0.1:$ES_PORT"

log() { echo "elasticsearch.sh: $*" >&2; }

healthy() {
  local status
  status=$(curl -fsS --max-time 3 "$URL/_cluster/health" 2>/dev/null) || return 1
  case "$status" in
    *'"status":"green"'* | *'"status":"yellow"'*) return 0 ;;
  esac
  return 1
}

find_java() {
  if [ -n "${ES_JAVA_HOME:-}" ]; then
    echo "$ES_JAVA_HOME"
    return
  fi
  local j
  for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/temurin-*; do
    if [ -x "$j/bin/java" ]; then
      echo "$j"
      return
    fi
  done
  if command -v java >/dev/null; then
    dirname "$(dirname "$(readlink -f "$(command -v java)")")"
    return
  fi
  log "no JDK found; set ES_JAVA_HOME"
  exit 1
}

fetch() {
  mkdir -p "$CACHE"
  if [ ! -s "$ZIP" ]; then
    log "fetching Elasticsearch $ES_VERSION from Maven Central"
    mvn -q -B dependency:copy \
      -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
      -DoutputDirectory="$CACHE" >&2
  fi
  if [ ! -x "$HOME_DIR/bin/elasticsearch" ]; then
    log "unpacking $ZIP"
    rm -rf "$HOME_DIR.tmp"
    mkdir -p "$HOME_DIR.tmp"
    unzip -q "$ZIP" -d "$HOME_DIR.tmp"
    mv "$HOME_DIR.tmp/elasticsearch-$ES_VERSION" "$HOME_DIR"
    rm -rf "$HOME_DIR.tmp"
  fi
}

start() {
  if healthy; then
    log "a healthy node already answers on $URL; nothing to do"
    return 0
  fi
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    log "node $(cat "$PID_FILE") is running but not healthy yet; waiting"
  else
    command -v unzip >/dev/null || { log "unzip is missing"; exit 1; }
    fetch
    local java_home
    java_home=$(find_java)
    mkdir -p "$RUN_DIR/data" "$RUN_DIR/logs"
    rm -f "$PID_FILE"
    local -a as_user=()
    if [ "$(id -u)" = 0 ]; then
      if ! id "$ES_USER" >/dev/null 2>&1; then
        log "creating unprivileged user $ES_USER to run Elasticsearch"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
      fi
      # The node writes its keystore into config/, and data and logs into the run dir.
      chown -R "$ES_USER" "$HOME_DIR" "$RUN_DIR"
      chmod 755 "$CACHE"
      as_user=(runuser -u "$ES_USER" --)
    fi
    log "starting Elasticsearch $ES_VERSION on $URL with $java_home"
    "${as_user[@]}" env ES_JAVA_HOME="$java_home" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
      "$HOME_DIR/bin/elasticsearch" -d -p "$PID_FILE" \
      -Ediscovery.type=single-node \
      -Enetwork.host=127.0.0.1 \
      -Ehttp.port="$ES_PORT" \
      -Etransport.port="$((ES_PORT + 100))" \
      -Ecluster.name="esauth-$ES_PORT" \
      -Epath.data="$RUN_DIR/data" \
      -Epath.logs="$RUN_DIR/logs" \
      -Ecluster.routing.allocation.disk.threshold_enabled=false \
      -Expack.security.enabled=false \
      >"$LOG_FILE" 2>&1 || {
        log "Elasticsearch failed to start; its output:"
        tail -n 50 "$LOG_FILE" >&2
        exit 1
      }
  fi
  local i
  for i in $(seq 1 180); do
    if healthy; then
      log "Elasticsearch is up on $URL (pid $(cat "$PID_FILE" 2>/dev/null || echo '?'))"
      return 0
    fi
    if [ -f "$PID_FILE" ] && ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      break
    fi
    sleep 1
  done
  log "Elasticsearch did not become healthy; last log lines:"
  tail -n 50 "$RUN_DIR/logs/esauth-$ES_PORT.log" "$LOG_FILE" 2>/dev/null >&2 || true
  exit 1
}

stop() {
  if [ ! -f "$PID_FILE" ]; then
    log "no node started by this script on port $ES_PORT"
    return 0
  fi
  local pid
  pid=$(cat "$PID_FILE")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping Elasticsearch (pid $pid)"
    kill "$pid"
    local i
    for i in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop in 60s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PID_FILE"
}

status() {
  if healthy; then
    echo "healthy on $URL"
    return 0
  fi
  echo "not answering on $URL"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
