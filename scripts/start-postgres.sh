#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1:$PG_PORT with database mxbridge_test
# (user postgres, no password). Each start begins from an empty cluster.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if pid=$(recorded_pid postgres); then log "postgres already running (pid $pid)"; exit 0; fi
if port_in_use "$PG_PORT"; then
  log "port $PG_PORT is taken by another process: stop it, or set MXBRIDGE_PG_PORT"
  exit 1
fi

# The newest installed server. /usr/local/bin may hold a stray initdb of another version.
BIN=""
for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
  [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && BIN=$d
done
[ -n "$BIN" ] || { log "PostgreSQL server binaries not found: run scripts/install-deps.sh"; exit 1; }

# PostgreSQL refuses to run as root, so the cluster belongs to user postgres, who must be
# able to reach it: a clone under a private home directory would not do.
PGDIR="$STACK_DIR/postgres"
rm -rf "$PGDIR"
mkdir -p "$PGDIR/data" "$PGDIR/sock"
chown -R postgres:postgres "$PGDIR"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if ! as_pg test -w "$PGDIR/data"; then
  log "user postgres cannot reach $PGDIR: set MXBRIDGE_STACK_DIR to a directory it can reach (e.g. under /var/tmp)"
  exit 1
fi

if ! as_pg "$BIN/initdb" --auth=trust -E UTF8 --locale=C.UTF-8 -U postgres -D "$PGDIR/data" >"$STACK_DIR/postgres-initdb.log" 2>&1; then
  log "initdb failed:"; tail -20 "$STACK_DIR/postgres-initdb.log" >&2; exit 1
fi

# fsync and friends are off for speed: the cluster is thrown away after the tests.
# setpriv is started directly (not through a shell function) so that it execs into postgres
# and $! is the server's own PID.
setpriv --reuid=postgres --regid=postgres --init-groups \
  "$BIN/postgres" -D "$PGDIR/data" -p "$PG_PORT" -k "$PGDIR/sock" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
  >"$STACK_DIR/postgres.log" 2>&1 </dev/null &
pid=$!
record_pid postgres "$pid"

if ! wait_ready "$pid" 30 as_pg "$BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q || ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE DATABASE mxbridge_test" >>"$STACK_DIR/postgres.log" 2>&1; then
  log "postgres did not start:"; tail -20 "$STACK_DIR/postgres.log" >&2
  proc_running "$pid" && stop_pid "$pid" INT postgres
  rm -f "$STACK_DIR/postgres.pid"
  exit 1
fi
log "postgres ready on 127.0.0.1:$PG_PORT (pid $pid)"
