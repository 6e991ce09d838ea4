#!/usr/bin/env bash
# Usage: start-synapse.sh [REGISTRATION_FILE...]
# Starts Synapse on 127.0.0.1:$HS_PORT (server name `localhost`) with the given appservice
# registration files, from an empty database. Synapse reads registrations only at start:
# write them first. Registration is open (loopback test homeserver only) and every rate
# limit is raised so tests never see 429.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HS="$STACK_DIR/synapse"
if pid=$(recorded_pid synapse); then
  log "synapse already running (pid $pid); stop the stack first to load other registrations"
  exit 0
fi
if port_in_use "$HS_PORT"; then
  log "port $HS_PORT is taken by another process: stop it, or set MXBRIDGE_HS_PORT"
  exit 1
fi
[ -x "$VENV/bin/python" ] || { log "no Synapse venv at $VENV: run scripts/install-deps.sh"; exit 1; }

regs=""
for r in "$@"; do
  [ -f "$r" ] || { log "registration file not found: $r"; exit 1; }
  regs+="  - '$(realpath "$r")'"$'\n'
done
[ -n "$regs" ] || regs="  []"$'\n'

rm -rf "$HS"
mkdir -p "$HS/media"
limit="{per_second: 1000, burst_count: 10000}"
# Every rc_* key Synapse 1.163 reads (synapse/config/ratelimiting.py), except rc_federation:
# there is no federation here.
cat >"$HS/homeserver.yaml" <<YAML
server_name: localhost
pid_file: '$HS/homeserver.pid'
public_baseurl: 'http://127.0.0.1:$HS_PORT/'
listeners:
  - port: $HS_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources: [{names: [client], compress: false}]
database:
  name: sqlite3
  args: {database: '$HS/homeserver.db'}
log_config: '$HS/log.config'
media_store_path: '$HS/media'
signing_key_path: '$HS/signing.key'
report_stats: false
enable_registration: true
enable_registration_without_verification: true
# Test users may publish rooms in the directory (Synapse's default lets only admins), so
# the XMPP gateway has public rooms to list.
room_list_publication_rules: [{action: allow}]
registration_shared_secret: "mxbridge-test-stack-only"
macaroon_secret_key: "mxbridge-test-stack-macaroon"
form_secret: "mxbridge-test-stack-form"
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
url_preview_enabled: false
app_service_config_files:
${regs%$'\n'}
rc_message: $limit
rc_registration: $limit
rc_registration_token_validity: $limit
rc_login: {address: $limit, account: $limit, failed_attempts: $limit}
rc_admin_redaction: $limit
rc_joins: {local: $limit, remote: $limit}
rc_joins_per_room: $limit
rc_key_requests: $limit
rc_3pid_validation: $limit
rc_invites: {per_room: $limit, per_user: $limit, per_issuer: $limit}
rc_third_party_invite: $limit
rc_media_create: $limit
rc_presence: {per_user: $limit}
rc_delayed_event_mgmt: $limit
rc_room_creation: $limit
rc_reports: $limit
rc_user_directory: $limit
rc_profile: $limit
YAML
# WARNING keeps the log small; MXBRIDGE_SYNAPSE_LOG_LEVEL=INFO logs every request.
cat >"$HS/log.config" <<YAML
version: 1
formatters: {precise: {format: '%(asctime)s %(levelname)s %(name)s %(request)s %(message)s'}}
filters: {context: {(): synapse.logging.context.LoggingContextFilter, request: ""}}
handlers: {file: {class: logging.FileHandler, formatter: precise, filters: [context], filename: '$HS/homeserver.log'}}
root: {level: ${MXBRIDGE_SYNAPSE_LOG_LEVEL:-WARNING}, handlers: [file]}
disable_existing_loggers: false
YAML

if ! "$VENV/bin/python" -m synapse.app.homeserver -c "$HS/homeserver.yaml" --generate-keys >"$STACK_DIR/synapse.log" 2>&1; then
  log "synapse could not generate its keys:"; tail -30 "$STACK_DIR/synapse.log" >&2; exit 1
fi
"$VENV/bin/python" -m synapse.app.homeserver -c "$HS/homeserver.yaml" >>"$STACK_DIR/synapse.log" 2>&1 </dev/null &
pid=$!
record_pid synapse "$pid"

if ! wait_ready "$pid" 60 curl -fsS --max-time 2 "http://127.0.0.1:$HS_PORT/health"; then
  log "synapse did not become healthy; end of its logs:"
  tail -n 40 "$STACK_DIR/synapse.log" "$HS/homeserver.log" >&2 2>/dev/null || true
  proc_running "$pid" && stop_pid "$pid" TERM synapse
  rm -f "$STACK_DIR/synapse.pid"
  exit 1
fi
log "synapse ready on http://127.0.0.1:$HS_PORT (pid $pid)"
