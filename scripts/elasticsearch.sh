#!/usr/bin/env bash
# Starts, stops and reports on a local single-node Elasticsearch, or a local
# three-node Elasticsearch cluster, for development and tests.
#
#   scripts/elasticsearch.sh start|stop|status
#   scripts/elasticsearch.sh cluster start|stop [--wipe]|status|kill N|start-node N
#
# The official distribution is fetched from Maven Central with Maven
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip),
# cached outside the repository and run with the machine's JDK. Elasticsearch
# refuses to run as root, so when this script runs as root it creates an
# unprivileged user and runs the node as that user.
#
# Single node: HTTP on 127.0.0.1:$ES_PORT, transport on $ES_PORT+100, cluster
# name esauth-$ES_PORT, data/logs/pid/stdout.log under $ESAUTH_CACHE/node-$ES_PORT.
#
# Cluster ("cluster ..."): three master-eligible data nodes node-1..node-3 of
# the same distribution on this machine, forming cluster esauth-cluster-$B
# (B = $ES_CLUSTER_PORT): node N has HTTP port B+N-1 (default 9211, 9212, 9213),
# transport port B+N-1+100 (9311..9313), 512 MB heap, and its data, logs,
# elasticsearch.pid and stdout.log under $ESAUTH_CACHE/cluster-$B/node-N.
#   cluster start         starts the nodes that are not running (all three in
#                         parallel), waits until all 3 nodes are in the cluster
#                         and it is green or yellow, prints the three URLs on
#                         stdout; nothing to do if it already is. Exit 1 (with
#                         each node's last log lines) if it does not get there.
#   cluster stop [--wipe] SIGTERM to every node (SIGKILL after 60 s). Data is
#                         kept, so the next start restarts the same cluster;
#                         --wipe also deletes $ESAUTH_CACHE/cluster-$B, so the
#                         next start bootstraps a fresh cluster.
#   cluster status        prints _cat/health and _cat/nodes; exit 0 only when
#                         3 nodes are in the cluster.
#   cluster kill N        kill -9 node N (N in 1..3) to simulate a crash;
#                         prints "killed node-N (pid P) <url>" on stdout.
#   cluster start-node N  starts node N if it is not running and waits until it
#                         is back in the cluster (3 nodes, green or yellow).
# cluster.initial_master_nodes is passed only to a node whose data dir holds
# no cluster state yet (a fresh or wiped cluster); a restarted node rejoins
# the cluster recorded in its data dir.
#
# Settings (environment):
#   ES_VERSION      Elasticsearch version (default 8.19.21, the newest 8.x on
#                   Maven Central when this was written)
#   ES_PORT         HTTP port on 127.0.0.1 of the single node (default 9200)
#   ES_CLUSTER_PORT HTTP port of the cluster's node-1 (default 9211); nodes use
#                   it and the next two ports, transport ports are 100 higher,
#                   so keep the ranges clear of ES_PORT and ES_PORT+100
#   ES_JAVA_HOME    JDK to run it with (default: the first JDK 17+ found)
#   ESAUTH_CACHE    cache dir (default ~/.cache/esauth, or /var/cache/esauth
#                   when run as root, because the node's user cannot enter /root)
#   ES_USER         the unprivileged user used when run as root (default esauth-es)
set -euo pipefail

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9200}"
ES_CLUSTER_PORT="${ES_CLUSTER_PORT:-9211}"
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

CLUSTER_NAME="esauth-cluster-$ES_CLUSTER_PORT"
CLUSTER_DIR="$CACHE/cluster-$ES_CLUSTER_PORT"
CLUSTER_NODES=(1 2 3)

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

# prepare: fetches and unpacks the distribution, picks the JDK (JAVA_HOME_ES)
# and, when run as root, creates the unprivileged user and sets AS_USER to the
# runuser prefix every node is launched with.
JAVA_HOME_ES=""
AS_USER=()
prepare() {
  command -v unzip >/dev/null || { log "unzip is missing"; exit 1; }
  fetch
  JAVA_HOME_ES=$(find_java)
  AS_USER=()
  if [ "$(id -u)" = 0 ]; then
    if ! id "$ES_USER" >/dev/null 2>&1; then
      log "creating unprivileged user $ES_USER to run Elasticsearch"
      useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    fi
    # The node writes its keystore into config/.
    chown -R "$ES_USER" "$HOME_DIR"
    chmod 755 "$CACHE"
    AS_USER=(runuser -u "$ES_USER" --)
  fi
}

# launch_node LABEL RUN_DIR [-Esetting=value ...]: starts one daemonized node
# (call prepare first) with its data and logs under RUN_DIR, its pid in
# RUN_DIR/elasticsearch.pid and the launcher's output in RUN_DIR/stdout.log.
# Returns 1, after printing that output, when the launcher fails.
launch_node() {
  local label=$1 run_dir=$2
  shift 2
  mkdir -p "$run_dir/data" "$run_dir/logs"
  rm -f "$run_dir/elasticsearch.pid"
  if [ "$(id -u)" = 0 ]; then
    chown -R "$ES_USER" "$run_dir"
  fi
  "${AS_USER[@]}" env ES_JAVA_HOME="$JAVA_HOME_ES" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
    "$HOME_DIR/bin/elasticsearch" -d -p "$run_dir/elasticsearch.pid" \
    -Enetwork.host=127.0.0.1 \
    -Epath.data="$run_dir/data" \
    -Epath.logs="$run_dir/logs" \
    -Ecluster.routing.allocation.disk.threshold_enabled=false \
    -Expack.security.enabled=false \
    "$@" \
    >"$run_dir/stdout.log" 2>&1 || {
      log "$label failed to start; its output:"
      tail -n 50 "$run_dir/stdout.log" >&2
      return 1
    }
}

# running PID_FILE: the pid file names a live process.
running() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pid PID_FILE LABEL: SIGTERM, up to 60 s for it to exit, then SIGKILL;
# removes the pid file.
stop_pid() {
  local pid_file=$1 label=$2 pid
  [ -f "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $label (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop in 60s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$pid_file"
}

start() {
  if healthy; then
    log "a healthy node already answers on $URL; nothing to do"
    return 0
  fi
  if running "$PID_FILE"; then
    log "node $(cat "$PID_FILE") is running but not healthy yet; waiting"
  else
    prepare
    log "starting Elasticsearch $ES_VERSION on $URL with $JAVA_HOME_ES"
    launch_node Elasticsearch "$RUN_DIR" \
      -Ediscovery.type=single-node \
      -Ehttp.port="$ES_PORT" \
      -Etransport.port="$((ES_PORT + 100))" \
      -Ecluster.name="esauth-$ES_PORT" || exit 1
  fi
  for _ in $(seq 1 180); do
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
  tail -n 50 "$RUN_DIR/logs/esauth-$ES_PORT.log" "$LOG_FILE" >&2 2>/dev/null || true
  exit 1
}

stop() {
  if [ ! -f "$PID_FILE" ]; then
    log "no node started by this script on port $ES_PORT"
    return 0
  fi
  stop_pid "$PID_FILE" Elasticsearch
}

status() {
  if healthy; then
    echo "healthy on $URL"
    return 0
  fi
  echo "not answering on $URL"
  return 1
}

# ---- three-node cluster ----------------------------------------------------

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_pid_file() { echo "$CLUSTER_DIR/node-$1/elasticsearch.pid"; }
node_port() { echo "$((ES_CLUSTER_PORT + $1 - 1))"; }
node_url() { echo "http://127.0.0.1:$(node_port "$1")"; }

check_node_arg() {
  case "${1:-}" in
    1 | 2 | 3) ;;
    *)
      echo "usage: $0 cluster kill|start-node N (N in 1..3)" >&2
      exit 2
      ;;
  esac
}

# cluster_health: the _cluster/health JSON from the first node that answers.
cluster_health() {
  local n
  for n in "${CLUSTER_NODES[@]}"; do
    curl -fsS --max-time 3 "$(node_url "$n")/_cluster/health" 2>/dev/null && return 0
  done
  return 1
}

# cluster_ready: 3 nodes in the cluster and it is green or yellow. Prints the status.
cluster_ready() {
  local health
  health=$(cluster_health) || return 1
  case "$health" in
    *'"number_of_nodes":3,'*) ;;
    *) return 1 ;;
  esac
  case "$health" in
    *'"status":"green"'*) echo green ;;
    *'"status":"yellow"'*) echo yellow ;;
    *) return 1 ;;
  esac
}

launch_cluster_node() {
  local n=$1 dir seeds="" names="" m
  dir=$(node_dir "$n")
  for m in "${CLUSTER_NODES[@]}"; do
    seeds+="${seeds:+,}127.0.0.1:$(($(node_port "$m") + 100))"
    names+="${names:+,}node-$m"
  done
  local -a args=(
    -Ecluster.name="$CLUSTER_NAME"
    -Enode.name="node-$n"
    -Ehttp.port="$(node_port "$n")"
    -Etransport.port="$(($(node_port "$n") + 100))"
    -Ediscovery.seed_hosts="$seeds"
  )
  # Bootstrap only from a data dir that has never been part of a cluster: on
  # a restart the node already knows its cluster, and Elasticsearch would log
  # a warning about the leftover setting on every start.
  if [ ! -d "$dir/data/_state" ]; then
    args+=(-Ecluster.initial_master_nodes="$names")
  fi
  log "starting node-$n of $CLUSTER_NAME on $(node_url "$n")"
  launch_node "node-$n" "$dir" "${args[@]}"
}

# cluster_launch N...: launches the given nodes in parallel (a node's launcher
# returns only once the node has started, which for a forming cluster waits
# for the other nodes) and waits until all 3 nodes are in the cluster.
cluster_launch() {
  local -a pids=()
  local n p failed=0
  if [ "$#" -gt 0 ]; then
    prepare
    # Every node reads the shared config/; create the keystore once up front
    # rather than letting parallel nodes race to create it.
    if [ ! -f "$HOME_DIR/config/elasticsearch.keystore" ]; then
      "${AS_USER[@]}" env ES_JAVA_HOME="$JAVA_HOME_ES" "$HOME_DIR/bin/elasticsearch-keystore" create >&2
    fi
    mkdir -p "$CLUSTER_DIR"
    for n in "$@"; do
      launch_cluster_node "$n" &
      pids+=("$!")
    done
    for p in "${pids[@]}"; do
      wait "$p" || failed=1
    done
  fi
  local state
  if [ "$failed" = 0 ]; then
    for _ in $(seq 1 180); do
      if state=$(cluster_ready); then
        log "$CLUSTER_NAME is up with 3 nodes ($state)"
        for n in "${CLUSTER_NODES[@]}"; do
          node_url "$n"
        done
        return 0
      fi
      for n in "${CLUSTER_NODES[@]}"; do
        if [ -f "$(node_pid_file "$n")" ] && ! running "$(node_pid_file "$n")"; then
          log "node-$n (pid $(cat "$(node_pid_file "$n")")) exited"
          failed=1
        fi
      done
      [ "$failed" = 0 ] || break
      sleep 1
    done
  fi
  local f
  log "$CLUSTER_NAME did not come up with 3 nodes; last log lines of each node:"
  for n in "${CLUSTER_NODES[@]}"; do
    f="$(node_dir "$n")/logs/$CLUSTER_NAME.log"
    [ -f "$f" ] || f="$(node_dir "$n")/stdout.log"
    echo "---- node-$n: $f" >&2
    tail -n 30 "$f" >&2 2>/dev/null || true
  done
  exit 1
}

cluster_start() {
  local state n
  local -a todo=()
  if state=$(cluster_ready); then
    log "$CLUSTER_NAME already answers with 3 nodes ($state); nothing to do"
    for n in "${CLUSTER_NODES[@]}"; do
      node_url "$n"
    done
    return 0
  fi
  for n in "${CLUSTER_NODES[@]}"; do
    if running "$(node_pid_file "$n")"; then
      log "node-$n (pid $(cat "$(node_pid_file "$n")")) is already running"
    else
      todo+=("$n")
    fi
  done
  cluster_launch "${todo[@]}"
}

cluster_start_node() {
  local n=$1
  if running "$(node_pid_file "$n")"; then
    log "node-$n (pid $(cat "$(node_pid_file "$n")")) is already running; waiting for the cluster"
    cluster_launch
  else
    cluster_launch "$n"
  fi
}

cluster_kill() {
  local n=$1 pid_file pid
  pid_file=$(node_pid_file "$n")
  if ! running "$pid_file"; then
    log "node-$n is not running"
    exit 1
  fi
  pid=$(cat "$pid_file")
  kill -9 "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$pid_file"
  echo "killed node-$n (pid $pid) $(node_url "$n")"
}

cluster_stop() {
  local wipe=0 n
  case "${1:-}" in
    "") ;;
    --wipe) wipe=1 ;;
    *)
      echo "usage: $0 cluster stop [--wipe]" >&2
      exit 2
      ;;
  esac
  local -a pids=()
  for n in "${CLUSTER_NODES[@]}"; do
    if [ -f "$(node_pid_file "$n")" ]; then
      stop_pid "$(node_pid_file "$n")" "node-$n" &
      pids+=("$!")
    fi
  done
  if [ "${#pids[@]}" = 0 ]; then
    log "no node of $CLUSTER_NAME started by this script"
  fi
  local p
  for p in "${pids[@]}"; do
    wait "$p"
  done
  if [ "$wipe" = 1 ] && [ -d "$CLUSTER_DIR" ]; then
    log "removing $CLUSTER_DIR"
    rm -rf "$CLUSTER_DIR"
  fi
}

cluster_status() {
  local n url="" health count
  for n in "${CLUSTER_NODES[@]}"; do
    if running "$(node_pid_file "$n")"; then
      echo "node-$n: pid $(cat "$(node_pid_file "$n")") $(node_url "$n")"
    else
      echo "node-$n: not running"
    fi
  done
  for n in "${CLUSTER_NODES[@]}"; do
    # local=true answers from the node's own state, even without a master.
    if curl -fsS --max-time 3 "$(node_url "$n")/_cluster/health?local=true" >/dev/null 2>&1; then
      url=$(node_url "$n")
      break
    fi
  done
  if [ -z "$url" ]; then
    echo "$CLUSTER_NAME: no node answers on ports $ES_CLUSTER_PORT..$((ES_CLUSTER_PORT + 2))"
    return 1
  fi
  health=$(curl -fsS --max-time 5 "$url/_cluster/health" 2>/dev/null) || health=""
  curl -sS --max-time 5 "$url/_cat/health?v" || true
  curl -sS --max-time 5 "$url/_cat/nodes?v&h=name,ip,http_address,node.role,master,heap.percent" || true
  count=$(printf '%s' "$health" | sed -n 's/.*"number_of_nodes":\([0-9]*\).*/\1/p')
  if [ "${count:-0}" = 3 ]; then
    return 0
  fi
  echo "$CLUSTER_NAME has ${count:-?} of 3 nodes"
  return 1
}

cluster() {
  case "${1:-}" in
    start) cluster_start ;;
    stop) cluster_stop "${2:-}" ;;
    status) cluster_status ;;
    kill)
      check_node_arg "${2:-}"
      cluster_kill "$2"
      ;;
    start-node)
      check_node_arg "${2:-}"
      cluster_start_node "$2"
      ;;
    *)
      echo "usage: $0 cluster start|stop [--wipe]|status|kill N|start-node N" >&2
      exit 2
      ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  # The JDK start would run Elasticsearch with (scripts/deps.sh checks it).
  java-home) find_java 2>/dev/null ;;
  cluster)
    shift
    cluster "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|java-home|cluster start|stop [--wipe]|status|kill N|start-node N" >&2
    exit 2
    ;;
esac
