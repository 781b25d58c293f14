# shellcheck shell=bash
# Shared code for the local stack scripts (install, up, status, down, test, env).
#
# Sourced, never run. It settles the paths and ports of one stack (docs/LOCAL_STACK.md), and holds the
# helpers every script needs: logging, pid files checked against /proc/PID/cmdline, bounded readiness
# waits, starting and stopping a background service. The services themselves live in services/*.sh,
# one file each; stack.sh strings them together into `up`.

set -euo pipefail
# No job control even if a caller turned it on: start_bg relies on `setsid` exec'ing in place, which it
# does only when the background job is not a process group leader.
set +m

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
readonly LOCAL_DIR REPO_ROOT

# Tools (node_modules, the Python venv) are shared by every stack of this clone.
TOOLS_DIR="$REPO_ROOT/.stack/tools"
readonly TOOLS_DIR

# Root runs this, but a login shell without sbin or ~/.cargo/bin on PATH would not find nginx or s3s-fs.
export PATH="$PATH:$HOME/.cargo/bin:/usr/local/sbin:/usr/sbin:/sbin"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/funnyhat-target}"

# How long one service may take to become ready, in seconds.
WAIT_TIMEOUT="${STACK_WAIT_TIMEOUT:-60}"
# How long a stopping service gets between TERM and KILL, in seconds.
STOP_TIMEOUT=10

# The services `up` starts, in start order. `down` stops them in reverse order.
INFRA_SERVICES=(mariadb postgres s3 nginx maildev oauth localstripe chromedriver)
APP_SERVICES=(bridge shop)
ALL_SERVICES=("${INFRA_SERVICES[@]}" "${APP_SERVICES[@]}")

# ---------------------------------------------------------------------------------------------------
# Logging

# Bold and colour only for a terminal: CI logs stay plain text.
if [[ -t 2 ]]; then
  _B=$'\033[1m' _Y=$'\033[1;33m' _R=$'\033[1;31m' _N=$'\033[0m'
else
  _B="" _Y="" _R="" _N=""
fi
log() { printf '%sstack:%s %s\n' "$_B" "$_N" "$*" >&2; }
warn() { printf '%sstack: warning:%s %s\n' "$_Y" "$_N" "$*" >&2; }
error() { printf '%sstack: error:%s %s\n' "$_R" "$_N" "$*" >&2; }
die() {
  error "$*"
  exit 1
}

# ---------------------------------------------------------------------------------------------------
# Which stack: its directory and port base

# select_stack DEFAULT_DIR DEFAULT_BASE
# Sets STACK (absolute), PORT_BASE and every port, from STACK_DIR / STACK_PORT_BASE when set.
# A stack that already has an env file keeps the port base recorded there unless told otherwise.
select_stack() {
  local dir="${STACK_DIR:-$1}" base
  [[ "$dir" == /* ]] || dir="$REPO_ROOT/$dir"
  mkdir -p "$dir"
  STACK="$(cd "$dir" && pwd)"
  [[ "$STACK" != "$TOOLS_DIR" ]] || die "STACK_DIR must not be the tools directory"
  if [[ -n "${STACK_PORT_BASE:-}" ]]; then
    base="$STACK_PORT_BASE"
  elif [[ -f "$STACK/env" ]] && base="$(sed -n "s/^export STACK_PORT_BASE='\([0-9]*\)'$/\1/p" "$STACK/env")" &&
    [[ -n "$base" ]]; then
    :
  else
    base="$2"
  fi
  if ! [[ "$base" =~ ^[0-9]+$ ]] || ((base < 1024 || base + 30 >= 32768)); then
    die "STACK_PORT_BASE must be a number from 1024 to 32737, not '$base'"
  fi
  PORT_BASE="$base"
  export STACK_DIR="$STACK" STACK_PORT_BASE="$PORT_BASE"

  PORT_SHOP=$((base + 0))
  PORT_SHOP_ADMIN=$((base + 1))
  PORT_BRIDGE_ADMIN=$((base + 2))
  PORT_MARIADB=$((base + 10))
  PORT_POSTGRES=$((base + 11))
  PORT_S3=$((base + 12))
  PORT_CDN=$((base + 13))
  PORT_SMTP=$((base + 14))
  PORT_MAIL_WEB=$((base + 15))
  PORT_GOOGLE=$((base + 16))
  PORT_FACEBOOK=$((base + 17))
  PORT_OAUTH_CONTROL=$((base + 18))
  PORT_STRIPE=$((base + 19))
  PORT_CHROMEDRIVER=$((base + 30))

  BIN_DIR="$CARGO_TARGET_DIR/debug"
  MARIADB_SOCKET="$STACK/mariadb/mysqld.sock"
  PG_SOCKET_DIR="$STACK/postgres"
  # The kernel limits a unix socket path to 107 bytes.
  ((${#MARIADB_SOCKET} < 100 && ${#PG_SOCKET_DIR} + 20 < 100)) ||
    die "the stack directory path is too long for unix sockets: $STACK"
}

# require_root: the stack runs MariaDB, PostgreSQL and nginx's workers as their own system users.
require_root() { ((EUID == 0)) || die "run this as root (it starts servers as the mysql, postgres and nobody users)"; }

# lock_stack SECONDS: one up/down/test at a time per stack; waits up to SECONDS (0: fail at once).
# fd 8 holds the lock; start_bg closes it in the services so that they never hold it.
lock_stack() {
  exec 8>"$STACK/.lock"
  flock -w "$1" 8 || die "another deploy/local up, down or test is using $STACK; try again when it ends"
}

# The default stack of `up`, `down`, `status` and `env`; STACK_DIR=.stack/test alone selects the
# test stack with its own port base.
select_up_stack() {
  local base=18100
  [[ "${STACK_DIR:-}" != .stack/test && "${STACK_DIR:-}" != "$REPO_ROOT/.stack/test" ]] ||
    base=18200
  select_stack .stack "$base"
}

# ---------------------------------------------------------------------------------------------------
# Pid files

pid_file() { printf '%s/run/%s.pid' "$STACK" "$1"; }
log_file() { printf '%s/logs/%s.log' "$STACK" "$1"; }

# The command line of a process, NULs as spaces; fails when the process is gone.
proc_cmdline() {
  local pid="$1" cmd
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  # The process may end between the test above and the read: keep the shell's own error quiet too.
  { cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline")"; } 2>/dev/null || return 1
  [[ -n "$cmd" ]] || return 1 # a zombie has an empty command line
  printf '%s' "$cmd"
}

# pid_is_ours SERVICE PID: the process lives and its command line holds every string that
# svc_SERVICE_signature prints (one per line), so a recycled pid is never taken for ours.
pid_is_ours() {
  local svc="$1" pid="$2" cmd needle
  cmd="$(proc_cmdline "$pid")" || return 1
  while IFS= read -r needle; do
    [[ -z "$needle" || "$cmd" == *"$needle"* ]] || return 1
  done < <("svc_${svc}_signature")
}

# running_pid SERVICE: prints the pid of our live process for SERVICE, or fails.
running_pid() {
  local pid
  pid="$(recorded_pid "$1")" || return 1
  pid_is_ours "$1" "$pid" || return 1
  printf '%s' "$pid"
}

# recorded_pid SERVICE: prints the number in SERVICE's pid file, or fails.
recorded_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -s "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s' "$pid"
}

# pid_alive SERVICE: the pid file's process still exists. Right after `start_bg` its command line
# may still be the forking shell's (not yet the service's, so not `running_pid`): on a loaded
# machine that window is long enough to be seen.
pid_alive() {
  local pid
  pid="$(recorded_pid "$1")" && kill -0 "$pid" 2>/dev/null
}

# clear_stale SERVICE: removes a pid file whose process is gone or is not ours (after a crash, a reboot,
# or a recycled pid).
clear_stale() {
  local file
  file="$(pid_file "$1")"
  if [[ -e "$file" ]] && ! running_pid "$1" >/dev/null; then
    warn "$1: removing stale pid file (pid $(cat "$file" 2>/dev/null || echo '?') is gone or not ours)"
    rm -f "$file"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Starting, waiting, stopping

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_free_port SERVICE PORT...: dies when another program already listens there.
require_free_port() {
  local svc="$1" port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      die "$svc: port $port is already taken by another program (see: ss -ltnp 'sport = :$port')"
    fi
  done
}

# start_bg SERVICE COMMAND...: runs COMMAND in its own session (so a terminal's Ctrl-C or hang-up does not
# reach it, and `down` can stop its whole process group), output appended to the service's log, and
# records its pid.
start_bg() {
  local svc="$1" log
  shift
  log="$(log_file "$svc")"
  printf '\n=== %s: starting %s\n' "$(date -Is)" "$*" >>"$log"
  setsid "$@" </dev/null >>"$log" 2>&1 8>&- &
  printf '%s\n' "$!" >"$(pid_file "$svc")"
}

# fail_service SERVICE MESSAGE: prints the last lines of the service's log and exits.
fail_service() {
  local svc="$1" log
  log="$(log_file "$svc")"
  error "$svc: $2"
  if [[ -s "$log" ]]; then
    printf -- '--- last 20 lines of %s\n' "$log" >&2
    tail -n 20 "$log" >&2
    printf -- '---\n' >&2
  fi
  exit 1
}

# wait_ready SERVICE: polls svc_SERVICE_health until it passes; fails (with the log's tail) when the
# process dies or WAIT_TIMEOUT seconds pass.
wait_ready() {
  local svc="$1" deadline=$((SECONDS + WAIT_TIMEOUT))
  until "svc_${svc}_health" >/dev/null 2>&1; do
    running_pid "$svc" >/dev/null || pid_alive "$svc" || fail_service "$svc" "exited before it was ready"
    ((SECONDS < deadline)) || fail_service "$svc" "not ready after ${WAIT_TIMEOUT}s"
    sleep 0.2
  done
}

# adopt_listener SERVICE: when the pid file is lost but our process still listens on the service's first
# port (a wiped run/ directory, a pid file overwritten by hand), records its pid again.
adopt_listener() {
  local svc="$1" port pid
  read -r port _ < <("svc_${svc}_ports")
  for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if pid_is_ours "$svc" "$pid"; then
      warn "$svc: adopting our process $pid that still listens on $port"
      printf '%s\n' "$pid" >"$(pid_file "$svc")"
      return 0
    fi
  done
  return 1
}

# ensure_service SERVICE: starts SERVICE unless it already runs, then waits until it is ready.
ensure_service() {
  local svc="$1" pid
  clear_stale "$svc"
  running_pid "$svc" >/dev/null || adopt_listener "$svc" || true
  if pid="$(running_pid "$svc")"; then
    wait_ready "$svc"
    log "$svc: already running (pid $pid)"
    return
  fi
  # shellcheck disable=SC2046 # one word per port
  require_free_port "$svc" $("svc_${svc}_ports")
  "svc_${svc}_start"
  wait_ready "$svc"
  log "$svc: ready (pid $(running_pid "$svc"))"
}

# signal_service PID SIGNAL: signals the process group when PID leads one (start_bg's setsid), else PID.
signal_service() {
  local pid="$1" sig="$2" pgid
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" || pgid=""
  if [[ "$pgid" == "$pid" ]]; then
    kill "-$sig" -- "-$pid" 2>/dev/null || true
  else
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

# session_pids SID: every process still in the session that start_bg opened.
session_pids() { ps -eo pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'; }

# stop_service SERVICE: stops our process (TERM, up to STOP_TIMEOUT s, then KILL) and anything left in its
# session. A pid file pointing at someone else's process is dropped without touching that process.
stop_service() {
  local svc="$1" file pid deadline left
  file="$(pid_file "$svc")"
  [[ -e "$file" ]] || adopt_listener "$svc" || return 0
  if ! pid="$(running_pid "$svc")"; then
    clear_stale "$svc"
    return 0
  fi
  log "$svc: stopping (pid $pid)"
  if declare -F "svc_${svc}_stop" >/dev/null; then
    "svc_${svc}_stop" "$pid" || true
  else
    signal_service "$pid" TERM
  fi
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && pid_is_ours "$svc" "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && pid_is_ours "$svc" "$pid"; then
    warn "$svc: still running after ${STOP_TIMEOUT}s, sending KILL"
    signal_service "$pid" KILL
  fi
  # Children that outlived their parent (a browser chromedriver started, a forked worker).
  left="$(session_pids "$pid")"
  if [[ -n "$left" ]]; then
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $left 2>/dev/null || true
  fi
  deadline=$((SECONDS + 5))
  while kill -0 "$pid" 2>/dev/null && pid_is_ours "$svc" "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  rm -f "$file"
}


# ---------------------------------------------------------------------------------------------------
# Small checks used by the services' health functions

# http_status URL [CURL ARGS...]: prints the HTTP status code (000 when nothing answers).
http_status() {
  local url="$1"
  shift
  curl -s -o /dev/null -m 3 -w '%{http_code}' "$@" "$url" || true
}

http_ok() { [[ "$(http_status "$@")" == 200 ]]; }

# ensure_traversable DIR USER: USER (postgres, mysql) must be able to reach DIR. A clone under a private
# home directory is the usual obstacle; grant search (x) permission on the ancestors that lack it.
ensure_traversable() {
  local dir="$1" user="$2" d="" part
  runuser -u "$user" -- test -x "$dir" 2>/dev/null && return 0
  local -a parts
  IFS=/ read -ra parts <<<"${dir#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
      warn "granting o+x on $d so that the $user user can reach its data directory"
      chmod o+x "$d"
    fi
  done
}

# Services, one file each, and the `up` sequence.
for _service_file in "$LOCAL_DIR"/services/*.sh; do
  # shellcheck source=/dev/null
  source "$_service_file"
done
unset _service_file
# shellcheck source=deploy/local/stack.sh
source "$LOCAL_DIR/stack.sh"
