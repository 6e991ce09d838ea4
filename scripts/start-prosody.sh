#!/usr/bin/env bash
# Starts Prosody (virtual host `localhost`) on 127.0.0.1: clients on $XMPP_C2S_PORT, XEP-0114
# components on $XMPP_COMPONENT_PORT. Besides the host it serves the MUC service
# `conference.localhost` (room history in MAM, XEP-0313) and the external components
# ($XMPP_COMPONENTS: `matrix.localhost` for the bridge, spares for tests that run more
# bridges or connect a component themselves), all with $XMPP_COMPONENT_SECRET.
# Test users register themselves in-band (XEP-0077): any name, no limits from 127.0.0.1.
# Each start begins from an empty data directory. Ready means a client is offered in-band
# registration and PLAIN, and the component handshake with the secret succeeds.
# Loopback test server only: no TLS, plain-text passwords, no s2s, no HTTP.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PROSODY_DIR="$STACK_DIR/prosody"
START=$SECONDS

if pid=$(recorded_pid prosody); then
  log "prosody already running (pid $pid)"
  exit 0
fi
rm -f "$STACK_DIR/prosody.pid"
for port in "$XMPP_C2S_PORT" "$XMPP_COMPONENT_PORT"; do
  if port_in_use "$port"; then
    log "port $port is taken by another process: stop it, or set MXBRIDGE_XMPP_C2S_PORT / MXBRIDGE_XMPP_COMPONENT_PORT"
    exit 1
  fi
done
command -v prosody >/dev/null || { log "prosody not installed: run scripts/install-deps.sh"; exit 1; }

# Prosody warns against running as root; it runs as Debian's `prosody` user, who owns its dir.
rm -rf "$PROSODY_DIR"
# certs/ stays empty (no TLS); Prosody only looks for it beside its config.
mkdir -p "$PROSODY_DIR/data" "$PROSODY_DIR/certs"

# Prosody refuses a second connection for a component that is connected (its default
# component_conflict_resolve = "kick_new"): tests running at once need a domain each.
components=""
for domain in "${XMPP_COMPONENTS[@]}"; do
  components+="Component \"$domain\""$'\n'"  component_secret = \"$XMPP_COMPONENT_SECRET\""$'\n'
done

# posix is off because it would daemonize and write a pid file of its own (the PID recorded
# here is the server's, see below); offline because messages to a user who is not online
# must not reach a later test's client with the same name; limits because every test client
# comes from 127.0.0.1. Ports not listed stay closed: s2s is off, and nothing loads mod_http.
cat >"$PROSODY_DIR/prosody.cfg.lua" <<CONF
-- mxbridge test XMPP server: loopback only, no TLS, no limits. Written by scripts/start-prosody.sh.
data_path = "$PROSODY_DIR/data"
log = { { levels = { min = "info" }, to = "console" } }
interfaces = { "127.0.0.1" }
c2s_ports = { $XMPP_C2S_PORT }
component_ports = { $XMPP_COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
c2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
modules_disabled = { "s2s", "tls", "limits", "offline", "posix" }
modules_enabled = {
  "roster"; "saslauth"; "disco"; "carbons"; "pep"; "private"; "blocklist";
  "vcard4"; "vcard_legacy"; "version"; "uptime"; "time"; "ping"; "register"; "mam";
}
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

-- In-band registration (XEP-0077) without throttling for clients on loopback.
allow_registration = true
registration_allowlist = { "127.0.0.1", "::1" }
min_seconds_between_registrations = 0

-- Every user's messages are archived (XEP-0313) and kept for the whole run.
default_archive_policy = true
archive_expires_after = "never"
max_archive_query_results = 1000

VirtualHost "localhost"

Component "conference.localhost" "muc"
  modules_enabled = { "muc_mam" }
  -- A room exists as soon as its first occupant joins: no XEP-0045 instant-room dance.
  muc_room_locking = false
  restrict_room_creation = false
  muc_log_by_default = true
  muc_log_expires_after = "never"

$components
CONF
chown -R prosody:prosody "$PROSODY_DIR"
if ! setpriv --reuid=prosody --regid=prosody --init-groups test -w "$PROSODY_DIR/data"; then
  log "user prosody cannot reach $PROSODY_DIR: set MXBRIDGE_STACK_DIR to a directory it can reach (e.g. under /var/tmp)"
  exit 1
fi

# setpriv execs into prosody (a Lua script: the interpreter execs in place too), so $! is
# the server's own PID. -F: stay in the foreground.
setpriv --reuid=prosody --regid=prosody --init-groups \
  prosody -F --config "$PROSODY_DIR/prosody.cfg.lua" >"$STACK_DIR/prosody.log" 2>&1 </dev/null &
prosody_pid=$!
record_pid prosody "$prosody_pid"

fail() {
  log "$1; end of its log ($STACK_DIR/prosody.log):"
  tail -n 30 "$STACK_DIR/prosody.log" >&2 || true
  proc_running "$prosody_pid" && stop_pid "$prosody_pid" TERM prosody
  rm -f "$STACK_DIR/prosody.pid"
  exit 1
}

# Reads from FD up to and including the next '>' into REPLY_XML; the server sends no
# newlines, so line reads would block.
read_tag() {
  local chunk
  IFS= read -r -t 5 -d '>' -u "$1" chunk || return 1
  REPLY_XML="$chunk>"
}

# Opens a client stream and succeeds if the features offer in-band registration and PLAIN.
c2s_probe() {
  local fd features="" ok=1
  exec {fd}<>"/dev/tcp/127.0.0.1/$XMPP_C2S_PORT" || return 1
  printf "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>" >&"$fd"
  while read_tag "$fd"; do
    features+=$REPLY_XML
    if [[ $features == *"</stream:features>"* ]]; then
      [[ $features == *"http://jabber.org/features/iq-register"* && $features == *"<mechanism>PLAIN</mechanism>"* ]] && ok=0
      break
    fi
  done
  printf '</stream:stream>' >&"$fd" 2>/dev/null || true
  exec {fd}<&-
  [ "$ok" = 0 ] || C2S_FEATURES=$features
  return "$ok"
}

# XEP-0114 handshake as the bridge's component (the others are configured alike): hex
# SHA-1 of the stream id and the secret.
component_probe() {
  local fd id="" ok=1 digest
  exec {fd}<>"/dev/tcp/127.0.0.1/$XMPP_COMPONENT_PORT" || return 1
  printf "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${XMPP_COMPONENTS[0]}'>" >&"$fd"
  while read_tag "$fd"; do
    if [[ $REPLY_XML =~ \<stream:stream[^\>]*[[:space:]]id=[\'\"]([^\'\"]+) ]]; then
      id=${BASH_REMATCH[1]}
      break
    fi
  done
  if [ -n "$id" ]; then
    digest=$(printf '%s%s' "$id" "$XMPP_COMPONENT_SECRET" | sha1sum)
    printf '<handshake>%s</handshake>' "${digest%% *}" >&"$fd"
    read_tag "$fd" && [[ $REPLY_XML == "<handshake/>" || $REPLY_XML == "<handshake>" ]] && ok=0
    [ "$ok" = 0 ] || COMPONENT_REPLY=$REPLY_XML
  fi
  printf '</stream:stream>' >&"$fd" 2>/dev/null || true
  exec {fd}<&-
  return "$ok"
}

# Prosody opens its ports one after another (seen in CI: the component port a moment before
# the client port), so each gets its own wait.
wait_ready "$prosody_pid" 30 port_in_use "$XMPP_COMPONENT_PORT" || fail "prosody did not open its component port"
wait_ready "$prosody_pid" 30 port_in_use "$XMPP_C2S_PORT" || fail "prosody opened the component port but not the client port"
C2S_FEATURES=""
wait_ready "$prosody_pid" 10 c2s_probe || fail "prosody's client stream offers no in-band registration or PLAIN; features: ${C2S_FEATURES:-none}"
COMPONENT_REPLY=""
wait_ready "$prosody_pid" 10 component_probe || fail "prosody refused the handshake of component ${XMPP_COMPONENTS[0]}; reply: ${COMPONENT_REPLY:-none}"
log "prosody ready on 127.0.0.1: clients $XMPP_C2S_PORT, components $XMPP_COMPONENT_PORT (pid $prosody_pid), in $((SECONDS - START)) s"
