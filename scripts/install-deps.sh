#!/usr/bin/env bash
# Installs what the real test stack needs: Debian packages and a venv with Synapse.
# Idempotent and quick when everything is there already.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Debian packages: one per line in this list.
PACKAGES=(
  postgresql
  libssl-dev
  pkg-config
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # Keep package scripts from starting system services: the stack runs its own.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1 && $SUDO cp "$policy" "$STACK_DIR/policy-rc.d.bak"
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod +x "$policy"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ $had_policy = 1 ]; then $SUDO cp "$STACK_DIR/policy-rc.d.bak" "$policy"; else $SUDO rm -f "$policy"; fi
fi

if ! "$VENV/bin/python" -c "import synapse; assert synapse.__version__ == '$SYNAPSE_VERSION'" 2>/dev/null; then
  log "installing matrix-synapse $SYNAPSE_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION"
fi
log "dependencies ready"
