#!/usr/bin/env bash
# Usage: scripts/bench.sh
# Runs the IRC and XMPP bridges' benchmarks and rewrites BENCHMARKS.md with the machine,
# the commands and the numbers. Builds what it needs (release profile), starts its own
# servers on its own ports (Synapse, InspIRCd + Atheme, Prosody; no PostgreSQL: the bridges
# use SQLite or files), runs everything, and stops what it started. Takes about 20 minutes;
# CI does not run it.
#   1. idle puppets: RSS with 1,000 and 10,000 connected puppets, in-process (bench/src/bin/puppets.rs)
#   2. reconnect: the same puppets after InspIRCd is killed and started again
#   3. latency both ways and messages/s: Synapse + the mxbridge binary + InspIRCd (bench/src/bin/latency.rs)
#   4. the same for heisenbridge (PyPI, in its own venv) on the same Synapse
#   5. XMPP: RSS with 1,000 Matrix users joined to MUCs, in-process (bench/src/bin/xmpp_users.rs)
#   6. XMPP: latency both ways, Synapse + the mxbridge binary + Prosody (bench/src/bin/xmpp_latency.rs)
set -euo pipefail
# Ports of their own, so a test stack or another bench can run beside it.
export MXBRIDGE_STACK_DIR="${MXBRIDGE_STACK_DIR:-/tmp/mxbridge-bench-stack}"
export MXBRIDGE_HS_PORT="${MXBRIDGE_HS_PORT:-18308}"
export MXBRIDGE_PG_PORT="${MXBRIDGE_PG_PORT:-5733}"
export MXBRIDGE_IRC_PORT="${MXBRIDGE_IRC_PORT:-16967}"
export MXBRIDGE_IRC_LINK_PORT="${MXBRIDGE_IRC_LINK_PORT:-17300}"
export MXBRIDGE_XMPP_C2S_PORT="${MXBRIDGE_XMPP_C2S_PORT:-15822}"
export MXBRIDGE_XMPP_COMPONENT_PORT="${MXBRIDGE_XMPP_COMPONENT_PORT:-15847}"
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

MX_PORT="${MXBRIDGE_BENCH_AS_PORT:-29390}" # the mxbridge binary's appservice port
HB_PORT="${MXBRIDGE_BENCH_HB_PORT:-29391}" # heisenbridge's appservice port
MXX_PORT="${MXBRIDGE_BENCH_XMPP_AS_PORT:-29392}" # the XMPP bridge's appservice port
HB_VENV="${MXBRIDGE_HB_VENV:-/var/tmp/mxbridge-heisenbridge-venv}"
HB_VERSION="${MXBRIDGE_HB_VERSION:-1.15.4}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$STACK_DIR/bench"
HS_URL="http://127.0.0.1:$HS_PORT"
KILL_IRCD="kill \$(cut -d' ' -f1 '$STACK_DIR/inspircd.pid')"
START_IRCD="bash '$REPO_ROOT/scripts/start-inspircd.sh'"

bridge_pids=()
on_exit() {
  local status=$?
  for pid in "${bridge_pids[@]}"; do
    proc_running "$pid" && stop_pid "$pid" TERM bridge
  done
  bash "$REPO_ROOT/scripts/stop-stack.sh" || true
  [ "$status" -eq 0 ] || log "bench FAILED (exit $status); logs are in $WORK"
  exit "$status"
}
trap on_exit EXIT
step() { printf '\n==> %s\n' "$*" >&2; }
# Runs a benchmark command of the current part, echoes it into that part's commands list,
# and keeps its table rows. Each part keeps its own files in $WORK, so running one part
# again leaves the others' results for the report.
PART=""
run() {
  local a shown=()
  for a in "$@"; do
    a=${a//$REPO_ROOT\//}
    [[ $a =~ [^-[:alnum:]_./:@=,] ]] && a="'${a//\'/\'\\\'\'}'"
    shown+=("$a")
  done
  printf '%s\n' "${shown[*]}" >>"$WORK/commands-$PART.txt"
  log "running: $*"
  "$@" | tee -a "$WORK/rows-$PART.txt"
}
begin_part() {
  PART=$1
  : >"$WORK/rows-$PART.txt"
  : >"$WORK/commands-$PART.txt"
}

# MXBRIDGE_BENCH_PARTS="latency" (or "puppets", "xmpp") runs those parts, for working on
# them; "report" only writes BENCHMARKS.md again from the results in $WORK.
PARTS="${MXBRIDGE_BENCH_PARTS:-puppets latency xmpp}"
PUPPET_COUNTS="${MXBRIDGE_BENCH_PUPPETS:-1000 10000}"
if [ "$PARTS" != report ]; then
step "install dependencies"
bash scripts/install-deps.sh
if ! "$HB_VENV/bin/heisenbridge" --version 2>/dev/null | grep -qx "$HB_VERSION"; then
  python3 -m venv "$HB_VENV"
  "$HB_VENV/bin/pip" install -q --no-input "heisenbridge==$HB_VERSION"
fi

step "build (release profile)"
cargo build --release --locked -p mxbridge -p mxbridge-bench

step "start InspIRCd + Atheme"
bash scripts/stop-stack.sh
mkdir -p "$WORK"
rm -f "$WORK"/*.db "$WORK"/*.key "$WORK"/*.log
# One file descriptor per client on each side: the puppets' process and InspIRCd both
# inherit this (InspIRCd sizes its socket engine from it at start).
ulimit -n "$(ulimit -Hn)"
bash scripts/start-inspircd.sh

if [[ " $PARTS " == *" puppets "* ]]; then
step "idle puppets: memory and reconnect"
begin_part puppets
for n in $PUPPET_COUNTS; do
  run "$BIN/puppets" --mode raw --count "$n" --port "$IRC_PORT"
  run "$BIN/puppets" --mode irc-crate --count "$n" --port "$IRC_PORT"
  run "$BIN/puppets" --mode puppets --count "$n" --port "$IRC_PORT" --restarts 3 \
    --kill-cmd "$KILL_IRCD" --start-cmd "$START_IRCD >/dev/null"
done
# The same with connects not held back (default: 50 registrations at a time).
run "$BIN/puppets" --mode puppets --count 10000 --port "$IRC_PORT" --restarts 1 \
  --network-json '{"max_concurrent_connects": 10000}' --label "puppets, max_concurrent_connects 10000" \
  --kill-cmd "$KILL_IRCD" --start-cmd "$START_IRCD >/dev/null"
fi

if [[ " $PARTS " == *" latency "* ]]; then
step "latency: Synapse + mxbridge + heisenbridge"
begin_part latency
# mxbridge: the IRC network pointed at this InspIRCd. Flood control is raised for the main
# run (see BENCHMARKS.md); a second run uses the defaults (5 lines per 4 s).
mx_config() {
  cat >"$WORK/mxbridge.yaml" <<YAML
homeserver: {address: "$HS_URL", domain: localhost}
appservice:
    address: http://127.0.0.1:$MX_PORT
    hostname: 127.0.0.1
    port: $MX_PORT
    id: bench-irc
    bot: {username: ircbot, displayname: "IRC bridge bot"}
    as_token: ${AS_TOKEN:-generate}
    hs_token: ${HS_TOKEN:-generate}
    username_template: "_mxb_{{.}}"
    alias_template: "_mxb_{{.}}"
database: {type: sqlite3, uri: mxbridge.db}
bridge:
    permissions: {"*": relay, "localhost": user}
network: {type: irc, name: bench, server: 127.0.0.1, port: $IRC_PORT$1}
logging: {level: "warn"}
YAML
}
mx_config ", max_messages_in_burst: 1000, burst_window_secs: 1"
"$BIN/mxbridge" -c "$WORK/mxbridge.yaml" generate-registration -o "$WORK/mxbridge.registration.yaml"
AS_TOKEN=$(sed -n 's/^ *as_token: *//p' "$WORK/mxbridge.yaml" | tr -d '"')
HS_TOKEN=$(sed -n 's/^ *hs_token: *//p' "$WORK/mxbridge.yaml" | tr -d '"')
"$HB_VENV/bin/heisenbridge" -c "$WORK/heisenbridge.yaml" --generate --listen-address 127.0.0.1 --listen-port "$HB_PORT" >/dev/null
bash scripts/start-synapse.sh "$WORK/mxbridge.registration.yaml" "$WORK/heisenbridge.yaml"

start_mxbridge() {
  "$BIN/mxbridge" -c "$WORK/mxbridge.yaml" run >>"$WORK/mxbridge.log" 2>&1 </dev/null &
  mx_pid=$!
  bridge_pids+=("$mx_pid")
  wait_ready "$mx_pid" 30 port_in_use "$MX_PORT" || { tail -30 "$WORK/mxbridge.log" >&2; exit 1; }
}
start_mxbridge
"$HB_VENV/bin/heisenbridge" -c "$WORK/heisenbridge.yaml" -l 127.0.0.1 -p "$HB_PORT" "$HS_URL" >"$WORK/heisenbridge.log" 2>&1 </dev/null &
hb_pid=$!
bridge_pids+=("$hb_pid")
wait_ready "$hb_pid" 60 port_in_use "$HB_PORT" || { tail -30 "$WORK/heisenbridge.log" >&2; exit 1; }

LAT="$BIN/latency --homeserver $HS_URL --irc 127.0.0.1:$IRC_PORT --channel #bench"
# Paced Matrix → IRC at one message per 1.1 s where flood control applies: heisenbridge's
# fixed send queue (irc.py) holds every line 1.5 s once more than ~5 went out within
# whole seconds, and mxbridge's default allows 5 lines per 4 s.
# MXBRIDGE_BENCH_LATENCY_ARGS (e.g. "--i2m-paced 10 --m2i-paced 10") overrides the counts, for a quick try.
EXTRA=(${MXBRIDGE_BENCH_LATENCY_ARGS:-})
run $LAT --bridge mxbridge --bot @ircbot:localhost "${EXTRA[@]}"
run $LAT --bridge heisenbridge --bot @heisenbridge:localhost --m2i-paced 100 --m2i-interval-ms 1100 --m2i-b2b 50 --drain-secs 180 "${EXTRA[@]}"

stop_pid "$mx_pid" TERM mxbridge
mx_config ""
start_mxbridge
run $LAT --bridge mxbridge --bot @ircbot:localhost --label "mxbridge (default flood control)" \
  --i2m-paced 0 --i2m-b2b 0 --m2i-paced 100 --m2i-interval-ms 1100 --m2i-b2b 50 --drain-secs 180 "${EXTRA[@]}"
stop_pid "$mx_pid" TERM mxbridge
stop_pid "$hb_pid" TERM heisenbridge
bash scripts/stop-stack.sh
fi

if [[ " $PARTS " == *" xmpp "* ]]; then
step "XMPP: Matrix users in MUCs (memory), and latency through Synapse + mxbridge + Prosody"
begin_part xmpp
bash scripts/stop-stack.sh
bash scripts/start-prosody.sh
prosody_pid=$(cut -d' ' -f1 "$STACK_DIR/prosody.pid")
# The spread matters (see BENCHMARKS.md): every join is announced to every occupant.
for per_muc in 100 10 1000; do
  run "$BIN/xmpp_users" --count 1000 --per-muc "$per_muc" --server "127.0.0.1:$XMPP_COMPONENT_PORT" \
    --secret "$XMPP_COMPONENT_SECRET" --server-pid "$prosody_pid"
done
cat >"$WORK/mxbridge-xmpp.yaml" <<YAML
homeserver: {address: "$HS_URL", domain: localhost}
appservice:
    address: http://127.0.0.1:$MXX_PORT
    hostname: 127.0.0.1
    port: $MXX_PORT
    id: bench-xmpp
    bot: {username: xmppbot, displayname: "XMPP bridge bot"}
    as_token: generate
    hs_token: generate
    username_template: "_xmpp_{{.}}"
    alias_template: "_xmpp_{{.}}"
database: {type: sqlite3, uri: mxbridge-xmpp.db}
bridge:
    permissions: {"*": relay, "localhost": user}
network: {type: xmpp, component: matrix.localhost, server: "127.0.0.1:$XMPP_COMPONENT_PORT", secret: "$XMPP_COMPONENT_SECRET"}
logging: {level: "warn"}
YAML
"$BIN/mxbridge" -c "$WORK/mxbridge-xmpp.yaml" generate-registration -o "$WORK/mxbridge-xmpp.registration.yaml"
bash scripts/start-synapse.sh "$WORK/mxbridge-xmpp.registration.yaml"
"$BIN/mxbridge" -c "$WORK/mxbridge-xmpp.yaml" run >>"$WORK/mxbridge-xmpp.log" 2>&1 </dev/null &
mxx_pid=$!
bridge_pids+=("$mxx_pid")
wait_ready "$mxx_pid" 30 port_in_use "$MXX_PORT" || { tail -30 "$WORK/mxbridge-xmpp.log" >&2; exit 1; }
EXTRA=(${MXBRIDGE_BENCH_LATENCY_ARGS:-})
run "$BIN/xmpp_latency" --homeserver "$HS_URL" --xmpp "127.0.0.1:$XMPP_C2S_PORT" "${EXTRA[@]}"
fi

fi

step "write BENCHMARKS.md"
rows() { cat "$WORK"/rows-*.txt 2>/dev/null | grep "^$1|" | sed "s/^$1|/|/"; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
  cat <<EOF
# Benchmarks

Written by \`bash scripts/bench.sh\` (do not edit by hand; CI does not run it). Speed and
memory are measured here, never in timed unit tests.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bench || echo ' (with uncommitted changes)')
- Machine: $cpu, $(nproc) cores, $mem RAM, Linux $(uname -r), shared with other work while running
- Toolchain: $(rustc --version)
- Build: \`cargo build --release --locked -p mxbridge -p mxbridge-bench\` (profile \`release\`: opt-level 3, no LTO, 16 codegen units, debuginfo stripped)
- Servers: InspIRCd $(dpkg-query -W -f='${Version}' inspircd) with Atheme on 127.0.0.1:$IRC_PORT, Prosody $(dpkg-query -W -f='${Version}' prosody) on 127.0.0.1:$XMPP_C2S_PORT (components $XMPP_COMPONENT_PORT), Synapse $SYNAPSE_VERSION (SQLite) on 127.0.0.1:$HS_PORT, heisenbridge $HB_VERSION
- Parts and when each last ran: $(for f in "$WORK"/rows-*.txt; do [ -s "$f" ] || continue; p=${f##*/rows-}; printf '%s %s; ' "${p%.txt}" "$(date -u -r "$f" '+%Y-%m-%d %H:%M UTC')"; done)

## 1. Idle puppets: memory

Each run is its own process. Baseline is the process's RSS before any connection; "per
puppet" is (RSS after all connected and 3 s of settling − baseline) / count, in KB
(1000 bytes); "anon" counts only anonymous memory (heap, stacks). Target: under 50 KB per puppet.

- \`puppets\`: \`IrcNetwork::new\`, then \`load_login\` + \`connect()\` for every puppet at once, connected when each reported \`LoginState::Connected\` (no \`Network::start\`, so no stored passwords; the network section's defaults unless the row says otherwise).
- \`irc-crate\`: only \`mxbridge_irc::connection::connect\` (the \`irc\` crate's client and the task driving it) plus a task reading each connection: the part of a puppet below \`IrcClient\`.
- \`raw\`: a tokio socket per connection that registered with NICK/USER and answers PING from a 1 KiB buffer: the floor of one socket and one task per puppet.

| mode | puppets | all connected after (s) | baseline RSS (MiB) | RSS (MiB) | **per puppet (KB)** | anon per puppet (KB) | threads |
|---|---|---|---|---|---|---|---|
$(rows MEM)

## 2. Reconnect after the IRC server restarts

InspIRCd is stopped (SIGTERM) and started again by \`scripts/start-inspircd.sh\` (which
returns once NickServ answers a client); the clock starts at the kill. Three restarts per
run, so memory growth across reconnects shows. Target: under 60 s for 10,000. \`puppets\` uses
the network section's defaults, among them \`max_concurrent_connects: 500\` (registrations in
flight at once); the last run lifts that limit to show what it costs.

| run | puppets | restart | all saw the disconnect (s) | server ready again (s) | **all reconnected (s)** | of which after the server was ready (s) | RSS after (MiB) | RSS change |
|---|---|---|---|---|---|---|---|---|
$(rows RECONNECT)

## 3. and 4. Message latency, mxbridge and heisenbridge

One Matrix user (client-server API; arrivals seen through \`/sync\` long-polling) in the
bridged room of \`#bench\`, one plain IRC client (TCP_NODELAY) in \`#bench\`, Synapse and
both bridges on this machine. Matrix → IRC: from just before \`PUT /send\` to the PRIVMSG at
the IRC client; IRC → Matrix: from just before the PRIVMSG is written to the \`/sync\`
response carrying the event. Each message is numbered; three warm-up messages each way
(which create the IRC user's ghost) are not counted. "msgs/s" is messages delivered / (first
send → last arrival); back-to-back Matrix sends wait for each \`PUT\` to return, IRC lines are
written at once.

Flood control: \`mxbridge\` ran with \`max_messages_in_burst: 1000, burst_window_secs: 1\`,
\`mxbridge (default flood control)\` with the defaults (5 lines per 4 s), applied by the
bridge's own token bucket in front of each connection (\`pacing.rs\`). heisenbridge's own send queue is fixed (1.5 s per line once
more than ~5 lines went out within whole seconds), so its paced Matrix → IRC run sends one
message per 1.1 s, and so does the matching mxbridge run. heisenbridge also holds IRC lines
for 100 ms (up to 1 s) and merges one sender's lines into one Matrix event: its IRC → Matrix
latency includes that wait, and its back-to-back "msgs/s" counts lines that arrived merged.

| bridge | direction | mode | messages | interval | **p50 (ms)** | **p99 (ms)** | max (ms) | msgs/s | lost |
|---|---|---|---|---|---|---|---|---|---|
$(rows LAT)

## 5. XMPP: Matrix users joined to MUCs, memory

\`XmppNetwork::start\` with a session store on a SQLite file (opened before the baseline),
then \`load_login\` + \`connect\` + \`ChatMembership::join\` for every user, against Prosody
on this machine; a user counts as joined when the network reported the MUC's self-presence,
then 3 s of settling. "per user" = (RSS − baseline) / users, in KB. The last column is
Prosody's RSS change over the run. The spread matters: each join makes the MUC send the
newcomer every occupant's presence and every occupant the newcomer's, all on the one
component connection, so stanzas grow with the square of a room's size.

| users | MUCs × occupants | all joined after (s) | baseline RSS (MiB) | RSS (MiB) | **per user (KB)** | anon per user (KB) | threads | Prosody RSS change (MiB) |
|---|---|---|---|---|---|---|---|---|
$(rows XMEM)

## 6. XMPP: message latency

One Matrix user (client-server API, \`/sync\` long-polling) in the portal of a MUC, joined
by its alias, and one plain XMPP client in the MUC; Synapse, the mxbridge binary (XMPP
network as a component) and Prosody on this machine. Matrix → XMPP: from just before
\`PUT /send\` to the groupchat message at the XMPP client; XMPP → Matrix: from just before
the stanza is written to the \`/sync\` response carrying the event. Three warm-up messages
each way are not counted.

| bridge | direction | mode | messages | interval | **p50 (ms)** | **p99 (ms)** | mean (ms) | max (ms) | msgs/s | lost |
|---|---|---|---|---|---|---|---|---|---|---|
$(rows XLAT)

## Commands

\`\`\`
$(cat "$WORK"/commands-*.txt 2>/dev/null)
\`\`\`
(environment: MXBRIDGE_STACK_DIR=$STACK_DIR MXBRIDGE_HS_PORT=$HS_PORT MXBRIDGE_IRC_PORT=$IRC_PORT MXBRIDGE_IRC_LINK_PORT=$IRC_LINK_PORT MXBRIDGE_XMPP_C2S_PORT=$XMPP_C2S_PORT MXBRIDGE_XMPP_COMPONENT_PORT=$XMPP_COMPONENT_PORT, ulimit -n $(ulimit -n))
EOF
  [ ! -f bench/NOTES.md ] || { echo; cat bench/NOTES.md; }
} >BENCHMARKS.md
log "BENCHMARKS.md written"
