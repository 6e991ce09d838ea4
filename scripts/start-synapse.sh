#!/usr/bin/env bash
# Starts Synapse on 127.0.0.1:$HS_PORT (server name `localhost`) with the given appservice
# registration files. Synapse reads registrations only at start: write them first.
# Registration is open (loopback test homeserver only) and every rate limit is raised.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HS="$STACK_DIR/synapse"
PIDFILE="$STACK_DIR/synapse.pid"
if pid_alive "$PIDFILE"; then log "synapse already running; stop the stack to load new registrations"; exit 0; fi
rm -rf "$HS"; mkdir -p "$HS/media"

regs=""
for r in "$@"; do regs+="  - $(cd "$(dirname "$r")" && pwd)/$(basename "$r")"$'\n'; done
[ -n "$regs" ] || regs="  []"$'\n'
limit="{per_second: 10000, burst_count: 100000}"
cat >"$HS/homeserver.yaml" <<YAML
server_name: localhost
pid_file: $HS/homeserver.pid
listeners:
  - port: $HS_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources: [{names: [client], compress: false}]
database:
  name: sqlite3
  args: {database: $HS/homeserver.db}
log_config: $HS/log.config
media_store_path: $HS/media
signing_key_path: $HS/signing.key
report_stats: false
enable_registration: true
enable_registration_without_verification: true
registration_shared_secret: "mxbridge-test-stack-only"
macaroon_secret_key: "mxbridge-test-stack-macaroon"
form_secret: "mxbridge-test-stack-form"
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
url_preview_enabled: false
presence: {enabled: false}
app_service_config_files:
${regs%$'\n'}
rc_message: $limit
rc_registration: $limit
rc_registration_token_validity: $limit
rc_login: {address: $limit, account: $limit, failed_attempts: $limit}
rc_admin_redaction: $limit
rc_joins: {local: $limit, remote: $limit}
rc_joins_per_room: $limit
rc_invites: {per_room: $limit, per_user: $limit, per_issuer: $limit}
rc_3pid_validation: $limit
rc_third_party_invite: $limit
rc_room_creation: $limit
rc_presence: {per_user: $limit}
rc_delayed_event_mgmt: $limit
rc_reports: $limit
rc_media_create: $limit
YAML
cat >"$HS/log.config" <<YAML
version: 1
formatters: {precise: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: precise, filename: $HS/homeserver.log}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
YAML
"$VENV/bin/python" -m synapse.app.homeserver -c "$HS/homeserver.yaml" --generate-keys >"$STACK_DIR/synapse-keys.log" 2>&1
"$VENV/bin/python" -m synapse.app.homeserver -c "$HS/homeserver.yaml" >"$STACK_DIR/synapse.log" 2>&1 &
echo $! >"$PIDFILE"
if ! wait_for 90 curl -fsS "http://127.0.0.1:$HS_PORT/health"; then
  log "synapse did not become healthy:"; tail -30 "$STACK_DIR/synapse.log" "$HS/homeserver.log" >&2 2>/dev/null || true; exit 1
fi
log "synapse ready on http://127.0.0.1:$HS_PORT"
