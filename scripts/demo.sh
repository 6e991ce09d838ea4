#!/usr/bin/env bash
# A local demo of every bridge on loopback: Synapse (server name `localhost`) on
# 127.0.0.1:$HS_PORT, InspIRCd with Atheme, Prosody, and five bridges: the demo network, IRC,
# XMPP, and the simulated Telegram and WhatsApp (nothing leaves the machine). Each bridge runs
# from its config/example-*.yaml adapted to this stack, kept in $STACK_DIR/demo/<bridge>/.
# Run it again and it reuses what exists: configs and tokens, servers that still run, and the
# bridges' databases as long as the same Synapse runs. Ctrl-C stops what this run started.
# Ports: lib.sh's variables, and MXBRIDGE_DEMO_<BRIDGE>_PORT for the bridges' listeners.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
DEMO="$STACK_DIR/demo"
BIN="$REPO_ROOT/target/debug/mxbridge"
BRIDGES=(demo irc xmpp telegram whatsapp)
declare -A PORT=(
  [demo]="${MXBRIDGE_DEMO_DEMO_PORT:-29340}"
  [irc]="${MXBRIDGE_DEMO_IRC_PORT:-29356}"
  [xmpp]="${MXBRIDGE_DEMO_XMPP_PORT:-29357}"
  [telegram]="${MXBRIDGE_DEMO_TELEGRAM_PORT:-29358}"
  [whatsapp]="${MXBRIDGE_DEMO_WHATSAPP_PORT:-29359}"
)
STEPS=7
step() { log "($1/$STEPS) $2"; }

STARTED=()     # servers this run started, stopped again on exit
BRIDGE_PIDS=() # the bridges' processes, and the welcome user's
cleanup() {
  trap - EXIT INT TERM
  [ ${#BRIDGE_PIDS[@]} -gt 0 ] || [ ${#STARTED[@]} -gt 0 ] || return 0
  log "stopping what this run started"
  for pid in "${BRIDGE_PIDS[@]}"; do
    stop_pid "$pid" TERM "bridge (pid $pid)"
  done
  for name in "${STARTED[@]}"; do
    if pid=$(recorded_pid "$name"); then
      stop_pid "$pid" TERM "$name"
      log "stopped $name (pid $pid)"
    fi
    rm -f "$STACK_DIR/$name.pid"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_servers "NAME..." SCRIPT [ARGS...]: starts the servers NAME... with SCRIPT unless
# they all run already, and remembers which ones this run started.
start_servers() {
  local names=$1 script=$2 name before=""; shift 2
  for name in $names; do
    recorded_pid "$name" >/dev/null && before+=" $name"
  done
  if [ "$before" = " ${names// / }" ]; then
    log "reusing $names (already running)"
    return 0
  fi
  bash "scripts/$script" "$@"
  for name in $names; do
    [[ "$before " == *" $name "* ]] || STARTED+=("$name")
  done
}

# config/example-BRIDGE.yaml with this stack's addresses: the homeserver, the bridge's own
# listener, the local IRC and XMPP servers, and the simulated backends.
adapt_config() {
  local bridge=$1 port=${PORT[$1]}
  sed -E \
    -e "/^homeserver:/,/^[a-z]/ s|^(    address: ).*|\1http://127.0.0.1:$HS_PORT|" \
    -e "/^homeserver:/,/^[a-z]/ s|^(    domain: ).*|\1localhost|" \
    -e "/^appservice:/,/^[a-z]/ s|^(    address: ).*|\1http://127.0.0.1:$port|" \
    -e "/^appservice:/,/^[a-z]/ s|^(    port: ).*|\1$port|" \
    -e 's|^(        )"example\.org": user|\1"localhost": user|' \
    -e 's|^(        )"@admin:example\.org": admin|\1"@demo:localhost": admin|' \
    -e "/^network:/,/^[a-z]/ {
          s|^(    server: )irc\..*|\1127.0.0.1|
          s|^(    port: ).*|\1$IRC_PORT|
          s|^(    tls: ).*|\1false|
          s|^(    name: ).*|\1demo|
          s|^(    component: ).*|\1matrix.localhost|
          s|^(    server: )127\.0\.0\.1:.*|\1127.0.0.1:$XMPP_COMPONENT_PORT|
          s|^(    secret: ).*|\1$XMPP_COMPONENT_SECRET|
          s|^(    backend: )real|\1simulated|
        }" \
    "config/example-$bridge.yaml"
}

step 1 "dependencies and the mxbridge binary"
bash scripts/install-deps.sh
cargo build -p mxbridge

step 2 "bridge configs and registrations in $DEMO"
mkdir -p "$DEMO/registrations"
REGISTRATIONS=()
for bridge in "${BRIDGES[@]}"; do
  REGISTRATIONS+=("$DEMO/registrations/$bridge.yaml")
  dir="$DEMO/$bridge"
  mkdir -p "$dir"
  if [ -f "$dir/config.yaml" ]; then
    log "  $bridge: reusing $dir/config.yaml"
  else
    adapt_config "$bridge" >"$dir/config.yaml"
    log "  $bridge: wrote $dir/config.yaml from config/example-$bridge.yaml"
  fi
  for command in "generate-registration -o $DEMO/registrations/$bridge.yaml" check-config; do
    # shellcheck disable=SC2086 # the command's words
    if ! out=$("$BIN" -c "$dir/config.yaml" $command 2>&1); then
      printf '%s\n' "$out" >&2
      log "fix $dir/config.yaml, or delete it to start again from config/example-$bridge.yaml"
      exit 1
    fi
  done
  if port_in_use "${PORT[$bridge]}"; then
    log "port ${PORT[$bridge]} ($bridge bridge) is taken: stop what uses it, or set MXBRIDGE_DEMO_${bridge^^}_PORT"
    exit 1
  fi
done

step 3 "Synapse on 127.0.0.1:$HS_PORT"
sums=$(sha256sum "${REGISTRATIONS[@]}")
if pid=$(recorded_pid synapse) && [ "$sums" = "$(cat "$DEMO/synapse-registrations.sum" 2>/dev/null)" ]; then
  log "reusing synapse (pid $pid), which has these registrations"
else
  if pid=$(recorded_pid synapse); then
    log "synapse (pid $pid) runs with other registrations: restarting it"
    stop_pid "$pid" TERM synapse
    rm -f "$STACK_DIR/synapse.pid"
  fi
  start_servers synapse start-synapse.sh "${REGISTRATIONS[@]}"
  printf '%s\n' "$sums" >"$DEMO/synapse-registrations.sum"
  # A new Synapse starts empty: the bridges' rooms and ghosts of the last run are gone, so
  # their databases go too (configs, tokens and key files stay).
  for bridge in "${BRIDGES[@]}"; do
    rm -rf "$DEMO/$bridge"/mxbridge-*.db* "$DEMO/$bridge/whatsapp-data"
  done
fi
# A ready-made user, so a client can log in straight away (an error means it exists).
curl -fsS -X POST "http://127.0.0.1:$HS_PORT/_matrix/client/v3/register" -H 'Content-Type: application/json' \
  -d '{"username": "demo", "password": "demo", "auth": {"type": "m.login.dummy"}}' >/dev/null 2>&1 || true

step 4 "IRC (InspIRCd and Atheme on 127.0.0.1:$IRC_PORT)"
start_servers "inspircd atheme" start-inspircd.sh

step 5 "XMPP (Prosody on 127.0.0.1:$XMPP_C2S_PORT)"
start_servers prosody start-prosody.sh

step 6 "the bridges"
for bridge in "${BRIDGES[@]}"; do
  dir="$DEMO/$bridge"
  [ -f "$dir/bridge.log" ] && mv "$dir/bridge.log" "$dir/bridge.log.1"
  # From its folder: relative paths in the config (WhatsApp's sessions) land there.
  (cd "$dir" && exec "$BIN" -c config.yaml >"$dir/bridge.log" 2>&1) &
  pid=$!
  BRIDGE_PIDS+=("$pid")
  # "bridge running" comes after the start-up checks, which log an ERROR when the
  # homeserver refuses the bridge (a registration Synapse did not load).
  if ! wait_ready "$pid" 90 grep -q "bridge running" "$dir/bridge.log" || grep -q " ERROR " "$dir/bridge.log"; then
    log "the $bridge bridge did not start cleanly; end of $dir/bridge.log:"
    tail -n 20 "$dir/bridge.log" >&2
    exit 1
  fi
  log "  $bridge bridge ready on 127.0.0.1:${PORT[$bridge]} (log: $dir/bridge.log)"
done

step 7 "the welcome user in #welcome (IRC) and welcome@conference.localhost (XMPP)"
# Someone on the other side of both bridges, who answers every line (scripts/demo-welcome.py).
mkdir -p "$DEMO/welcome-user"
"$XMPP_VENV/bin/python" scripts/demo-welcome.py --irc "127.0.0.1:$IRC_PORT" --xmpp "127.0.0.1:$XMPP_C2S_PORT" \
  >"$DEMO/welcome-user/bridge.log" 2>&1 </dev/null &
BRIDGE_PIDS+=("$!")
BRIDGES+=(welcome-user)

cat >&2 <<TXT

  Homeserver: http://127.0.0.1:$HS_PORT, server name localhost. Log in with any Matrix client
  as demo / demo (a bridge admin), or register your own user.
  Start a direct message (without encryption) with a bridge bot and send: help

  @demobot:localhost      the demo network: login, any user name, then the code 123456
  @ircbot:localhost       IRC: !join #welcome (or join #welcome; no login needed, your nick
                          is your display name with [m]), or /join #_irc_#welcome:localhost;
                          the user "welcome" there answers everything you say.
                          IRC clients: 127.0.0.1:$IRC_PORT, no TLS
  @xmppbot:localhost      XMPP: no login. /join #_xmpp_welcome_conference.localhost:localhost
                          (the MUC where "welcome" answers too). XMPP clients: 127.0.0.1:$XMPP_C2S_PORT,
                          no TLS, register any account in-band; write to
                          demo_localhost@matrix.localhost to reach demo here
  @telegram:localhost     simulated Telegram: login, any phone number, code 12345;
                          then pm +15550001001 (Echo answers everything)
  @whatsappbot:localhost  simulated WhatsApp: login (the QR code is "scanned" after 5 s);
                          then pm +447700900001 (Echo)

  Logs: $DEMO/<bridge>/bridge.log.   Stop with Ctrl-C.

TXT
# Until Ctrl-C, or until a bridge stops by itself.
while true; do
  for i in "${!BRIDGE_PIDS[@]}"; do
    if ! proc_running "${BRIDGE_PIDS[$i]}"; then
      log "the ${BRIDGES[$i]} bridge stopped; end of its log:"
      tail -n 20 "$DEMO/${BRIDGES[$i]}/bridge.log" >&2
      exit 1
    fi
  done
  sleep 1
done
