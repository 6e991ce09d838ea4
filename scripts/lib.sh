# shellcheck shell=bash disable=SC2034  # sourced: the settings are used by the scripts
# Shared settings and helpers for the stack scripts. Sourced, not run.
# Everything binds 127.0.0.1; state lives under $MXBRIDGE_STACK_DIR (default <repo>/.stack).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${MXBRIDGE_STACK_DIR:-$REPO_ROOT/.stack}"
VENV="${MXBRIDGE_VENV:-/var/tmp/mxbridge-synapse-venv}"
SYNAPSE_VERSION="${MXBRIDGE_SYNAPSE_VERSION:-1.163.2}"
HS_PORT="${MXBRIDGE_HS_PORT:-18008}"
PG_PORT="${MXBRIDGE_PG_PORT:-5433}"
IRC_PORT="${MXBRIDGE_IRC_PORT:-16667}"           # InspIRCd, clients (plain text)
IRC_LINK_PORT="${MXBRIDGE_IRC_LINK_PORT:-17000}" # InspIRCd, server link for Atheme
XMPP_VENV="${MXBRIDGE_XMPP_VENV:-/var/tmp/mxbridge-xmpp-venv}" # slixmpp, for the test users' driver
SLIXMPP_VERSION="${MXBRIDGE_SLIXMPP_VERSION:-1.17.0}"
XMPP_C2S_PORT="${MXBRIDGE_XMPP_C2S_PORT:-15222}"             # Prosody, clients (plain text)
XMPP_COMPONENT_PORT="${MXBRIDGE_XMPP_COMPONENT_PORT:-15347}" # Prosody, XEP-0114 components
XMPP_COMPONENT_SECRET="mxbridge-test-stack-component"       # of every component below
# XEP-0114 components Prosody accepts: the bridge's, two more for tests that run several
# bridges at once, and one each for the stack smoke tests that connect a component themselves.
XMPP_COMPONENTS=(matrix.localhost matrix2.localhost matrix3.localhost matrix4.localhost smoke1.localhost smoke2.localhost)
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"

log() { printf '[stack] %s\n' "$*" >&2; }

# Field N (1-based, as in proc(5)) of /proc/PID/stat. The command name in field 2 may hold
# spaces and parentheses, so the fields are counted from its closing parenthesis.
proc_stat_field() {
  local stat f
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a f <<<"${stat##*) }"
  printf '%s\n' "${f[$(($2 - 3))]}"
}

# True while PID runs. A killed daemon lingers as a zombie for a moment here, and
# `kill -0` still succeeds on a zombie, so the state field decides.
proc_running() {
  local state
  state=$(proc_stat_field "$1" 3) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

# Records a server's PID with its start time: a PID alone may have been reused by an
# unrelated process by the time the stack is stopped (after a crash or a reboot).
record_pid() {
  printf '%s %s\n' "$2" "$(proc_stat_field "$2" 22)" >"$STACK_DIR/$1.pid"
}

# Prints the recorded PID of server NAME if that very process still runs.
recorded_pid() {
  local file="$STACK_DIR/$1.pid" pid start
  [ -f "$file" ] || return 1
  read -r pid start <"$file" || true
  [ -n "${pid:-}" ] && proc_running "$pid" || return 1
  if [ -n "${start:-}" ]; then
    [ "$(proc_stat_field "$pid" 22)" = "$start" ] || return 1
  else
    # A PID file from before start times were recorded: trust it only for a process
    # whose command line names this stack's directory.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STACK_DIR/" || return 1
  fi
  printf '%s\n' "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to SECONDS for a server's readiness command to succeed; gives up at once if the
# server process PID has exited, so a crash at start fails fast with its log.
wait_ready() {
  local pid=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    proc_running "$pid" || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Waits up to SECONDS for PID to end.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while proc_running "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Sends SIGNAL to PID, waits for it to end, and kills it hard if it takes too long.
stop_pid() {
  local pid=$1 signal=$2 name=$3
  kill "-$signal" "$pid" 2>/dev/null || return 0
  if ! wait_gone "$pid" 20; then
    log "$name did not stop on SIG$signal; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || true
  fi
}
