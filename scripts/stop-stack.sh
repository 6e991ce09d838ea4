#!/usr/bin/env bash
# Stops every server of the stack by the PID it recorded in $STACK_DIR/NAME.pid.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

for pidfile in "$STACK_DIR"/*.pid; do
  [ -e "$pidfile" ] || continue
  name=$(basename "$pidfile" .pid)
  if pid=$(recorded_pid "$name"); then
    # SIGTERM would make postgres wait for every client to disconnect; SIGINT is its
    # fast shutdown.
    signal=TERM
    [ "$name" = postgres ] && signal=INT
    stop_pid "$pid" "$signal" "$name"
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
done

# Postgres also records its own PID in its data directory: a cluster whose recorded PID
# was lost or wrong would otherwise keep the port.
pm="$STACK_DIR/postgres/data/postmaster.pid"
if [ -f "$pm" ]; then
  pid=$(head -n1 "$pm")
  if [ -n "$pid" ] && proc_running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-D $STACK_DIR/postgres/data"; then
    stop_pid "$pid" INT postgres
    log "stopped postgres (pid $pid, from postmaster.pid)"
  fi
fi
exit 0
