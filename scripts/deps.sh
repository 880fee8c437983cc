#!/usr/bin/env bash
# Checks for what "make run", "make test" and CI need beyond Go, and installs
# what is missing with Debian's apt-get when it can; otherwise stops at once,
# naming the command to run. Takes well under a second when nothing is missing.
#
#   scripts/deps.sh run   curl, unzip, Java 17+ and Maven (to fetch and run
#                         the local Elasticsearch; "make run" calls it only
#                         when ELASTICSEARCH_URL is unset)
#   scripts/deps.sh test  python3 and curl (scripts/smoke.sh), Chromium (the
#                         page tests, web/browser_test.go) and nginx (the
#                         forward-auth test, v1/forward_nginx_test.go); and,
#                         unless ELASTICSEARCH_URL is set, run's as well
#   scripts/deps.sh ci    test's and run's whatever ELASTICSEARCH_URL says
#                         ("make test-cluster" always starts its own nodes),
#                         and make (.ci/run)
#
# Each check finds the tool the way its user does: Chromium as chromium,
# chromium-browser or google-chrome on PATH; nginx on PATH or at
# /usr/sbin/nginx (not on a non-root PATH); Java as scripts/elasticsearch.sh's
# find_java picks it (ES_JAVA_HOME, /usr/lib/jvm/java-17-openjdk*,
# /usr/lib/jvm/temurin-*, then java on PATH), and it must be 17 or newer.
#
# When something is missing: as root, or with passwordless sudo (sudo -n),
# runs apt-get update and apt-get install -y for Debian's packages (curl,
# unzip, openjdk-17-jdk-headless or else default-jdk-headless, maven,
# python3, chromium, nginx, make), then checks again. Otherwise prints
# "sudo apt-get update && sudo apt-get install -y <packages>" and exits 1
# (without the sudos, as root, when apt-get itself failed).
#
# DEPS_HIDE (for testing this script): tools to treat as missing in the first
# check, e.g. DEPS_HIDE="chromium nginx", to try the install or the message on
# a machine that has them. The check after an install ignores it.
set -euo pipefail

usage() { echo "usage: scripts/deps.sh run|test|ci" >&2; exit 2; }
[ $# -eq 1 ] || usage

es_tools=(curl unzip java mvn)
test_tools=(python3 curl chromium nginx)
case "$1" in
  run) tools=("${es_tools[@]}") ;;
  test)
    tools=("${test_tools[@]}")
    if [ -z "${ELASTICSEARCH_URL:-}" ]; then tools+=(unzip java mvn); fi
    ;;
  ci) tools=("${test_tools[@]}" unzip java mvn make) ;;
  *) usage ;;
esac

log() { echo "deps.sh: $*" >&2; }

hidden=" ${DEPS_HIDE:-} "

# java_home: the JDK scripts/elasticsearch.sh would run Elasticsearch
# with (its find_java), or nothing.
java_home() {
  "$(dirname "$0")/elasticsearch.sh" java-home || true
}

# java_ok: that JDK runs and is Java 17 or newer.
java_ok() {
  local home spec
  home=$(java_home)
  [ -n "$home" ] && [ -x "$home/bin/java" ] || return 1
  spec=$("$home/bin/java" -XshowSettings:properties -version 2>&1 |
    awk -F' = ' '$1 ~ /java\.specification\.version$/ {print $2; exit}') || return 1
  # "1.8" and older report 1.x.
  case "$spec" in
    '' | 1.*) return 1 ;;
  esac
  [ "${spec%%.*}" -ge 17 ] 2>/dev/null
}

# have TOOL: TOOL is there as its user looks for it.
have() {
  case "$1" in
    chromium) command -v chromium || command -v chromium-browser || command -v google-chrome ;;
    nginx) command -v nginx || [ -e /usr/sbin/nginx ] ;;
    java) java_ok ;;
    *) command -v "$1" ;;
  esac >/dev/null 2>&1
}

# missing [--ignore-hide]: the tools not there, one a line.
missing() {
  local t
  for t in "${tools[@]}"; do
    if [ "${1:-}" != --ignore-hide ] && [[ $hidden == *" $t "* ]]; then
      echo "$t"
    elif ! have "$t"; then
      echo "$t"
    fi
  done | awk '!seen[$0]++'
}

jdk_package() {
  if apt-cache show openjdk-17-jdk-headless >/dev/null 2>&1; then
    echo openjdk-17-jdk-headless
  else
    echo default-jdk-headless
  fi
}

# packages TOOL...: Debian's packages for them.
packages() {
  local t
  for t in "$@"; do
    case "$t" in
      mvn) echo maven ;;
      java) jdk_package ;;
      *) echo "$t" ;;
    esac
  done
}

mapfile -t need < <(missing)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

# A JDK that ES_JAVA_HOME names is the user's choice: installing another
# would not change it.
if [ -n "${ES_JAVA_HOME:-}" ] && [[ " ${need[*]} " == *" java "* ]] && [[ $hidden != *" java "* ]]; then
  log "ES_JAVA_HOME=$ES_JAVA_HOME is not a JDK 17 or newer (no bin/java, or an older one): point it at one, or unset it"
  exit 1
fi

mapfile -t pkgs < <(packages "${need[@]}")
as_root=()
can_install=0
if command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    can_install=1
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    can_install=1
    as_root=(sudo -n)
  fi
fi

print_cmd() {
  local s=""
  if [ "$(id -u)" != 0 ]; then s="sudo "; fi
  echo >&2
  echo "    ${s}apt-get update && ${s}apt-get install -y ${pkgs[*]}" >&2
  echo >&2
}
if [ $can_install = 0 ]; then
  if command -v apt-get >/dev/null; then
    log "missing: ${need[*]}. Install with:"
  else
    log "missing: ${need[*]}. No apt-get here; on Debian, install with:"
  fi
  print_cmd
  log "then try again (run as root or with passwordless sudo, this step installs them itself)"
  exit 1
fi

log "missing: ${need[*]}; installing them with ${as_root[*]:+${as_root[*]} }apt-get"
apt() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
# The package lists may be empty before the update (a fresh container), and
# the JDK's package is picked from them.
if ! apt update -qq || ! mapfile -t pkgs < <(packages "${need[@]}") ||
  ! { log "apt-get install ${pkgs[*]}"; apt install -y -qq "${pkgs[@]}"; }; then
  log "apt-get failed. Install with:"
  print_cmd
  exit 1
fi

mapfile -t still < <(missing --ignore-hide)
if [ ${#still[@]} -gt 0 ]; then
  log "still missing after apt-get install ${pkgs[*]}: ${still[*]}"
  exit 1
fi
log "installed ${pkgs[*]}"
