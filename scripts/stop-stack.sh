#!/usr/bin/env bash
# Stops every server of the stack by the PID it recorded.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
for pidfile in "$STACK_DIR"/*.pid; do
  [ -e "$pidfile" ] || continue
  name=$(basename "$pidfile" .pid)
  if pid_alive "$pidfile"; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    if ! wait_for 15 bash -c "! { [ -e /proc/$pid ] && ! grep -q '^[^)]*) Z' /proc/$pid/stat; }"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "stopped $name"
  fi
  rm -f "$pidfile"
done
