#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1:$PG_PORT with database mxbridge_test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PGDIR="$STACK_DIR/postgres"
PIDFILE="$STACK_DIR/postgres.pid"
if pid_alive "$PIDFILE"; then log "postgres already running"; exit 0; fi

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$BIN/postgres" ] || { log "PostgreSQL server binaries not found: run scripts/install-deps.sh"; exit 1; }
rm -rf "$PGDIR"; mkdir -p "$PGDIR/data" "$PGDIR/sock"
chown -R postgres:postgres "$PGDIR"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_pg "$BIN/initdb" --auth=trust -E UTF8 --locale=C.UTF-8 -D "$PGDIR/data" >"$STACK_DIR/postgres-initdb.log" 2>&1
as_pg "$BIN/postgres" -D "$PGDIR/data" -p "$PG_PORT" -k "$PGDIR/sock" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
  >"$STACK_DIR/postgres.log" 2>&1 &
echo $! >"$PIDFILE"
if ! wait_for 30 as_pg "$BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q; then
  log "postgres did not start:"; tail -20 "$STACK_DIR/postgres.log" >&2; exit 1
fi
as_pg "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE DATABASE mxbridge_test" >/dev/null
log "postgres ready on 127.0.0.1:$PG_PORT"
