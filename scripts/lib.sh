# Shared settings for the stack scripts. Sourced, not run.
# Everything binds 127.0.0.1; state lives under $MXBRIDGE_STACK_DIR (default <repo>/.stack).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${MXBRIDGE_STACK_DIR:-$REPO_ROOT/.stack}"
VENV="${MXBRIDGE_VENV:-/var/tmp/mxbridge-synapse-venv}"
SYNAPSE_VERSION="${MXBRIDGE_SYNAPSE_VERSION:-1.163.0}"
HS_PORT="${MXBRIDGE_HS_PORT:-18008}"
PG_PORT="${MXBRIDGE_PG_PORT:-5433}"
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"

log() { printf '[stack] %s\n' "$*" >&2; }

# Waits until a command succeeds, up to N seconds.
wait_for() {
  local seconds=$1; shift
  local i
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# True while the process in PIDFILE runs (a zombie counts as stopped).
pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -e "/proc/$pid" ] && ! grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}
