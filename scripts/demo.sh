#!/usr/bin/env bash
# A local demo: Synapse on 127.0.0.1:18008 (server name `localhost`) and the bridge with the
# simulated demo network. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
DEMO="$STACK_DIR/demo"

bash scripts/install-deps.sh
bash scripts/stop-stack.sh
cargo build -p mxbridge
mkdir -p "$DEMO"
if [ ! -f "$DEMO/config.yaml" ]; then
  sed -e "s|address: http://127.0.0.1:8008|address: http://127.0.0.1:$HS_PORT|" \
      -e "s|domain: example.org|domain: localhost|" \
      -e 's|"example.org": user|"localhost": user|' \
      -e 's|"@admin:example.org": admin|"@admin:localhost": admin|' \
      config/example-demo.yaml >"$DEMO/config.yaml"
fi
target/debug/mxbridge -c "$DEMO/config.yaml" generate-registration -o "$DEMO/registration.yaml"
bash scripts/start-synapse.sh "$DEMO/registration.yaml"
trap 'bash scripts/stop-stack.sh' EXIT

# A ready-made user, so a client can log in straight away.
curl -fsS -X POST "http://127.0.0.1:$HS_PORT/_matrix/client/v3/register" -H 'Content-Type: application/json' \
  -d '{"username": "demo", "password": "demo", "auth": {"type": "m.login.dummy"}}' >/dev/null 2>&1 || true
cat >&2 <<TXT

  Homeserver: http://127.0.0.1:$HS_PORT  (user: demo, password: demo; or register your own)
  Bridge bot: @demobot:localhost  -- start a DM with it (without encryption) and send: help
  The demo login code is 123456.   Stop with Ctrl-C.

TXT
target/debug/mxbridge -c "$DEMO/config.yaml"
