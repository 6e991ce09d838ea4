#!/usr/bin/env bash
# Installs what the real test stack needs: Debian packages, a venv with Synapse and a venv
# with slixmpp (the XMPP client library that plays XMPP users in the tests).
# Idempotent: when everything is there it only checks, in about a second.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Debian packages, one per line.
PACKAGES=(
  postgresql
  libssl-dev
  pkg-config
  curl
  python3-venv
  inspircd
  atheme-services
  prosody # its Lua libraries (expat, socket, filesystem, sec) are dependencies
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  # The stack runs its own throwaway servers: package scripts must not start system
  # services (postgresql's would take port 5432, and some pull in an MTA).
  policy=/usr/sbin/policy-rc.d
  policy_backup=""
  if [ -e "$policy" ]; then
    policy_backup=$(mktemp)
    $SUDO cp -p "$policy" "$policy_backup"
  fi
  restore_policy() {
    if [ -n "$policy_backup" ]; then
      $SUDO cp -p "$policy_backup" "$policy" && rm -f "$policy_backup"
    else
      $SUDO rm -f "$policy"
    fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi

synapse_ok() { "$VENV/bin/python" -c "import synapse, sys; sys.exit(synapse.__version__ != '$SYNAPSE_VERSION')" 2>/dev/null; }
if ! synapse_ok; then
  log "installing matrix-synapse $SYNAPSE_VERSION into $VENV"
  # A venv whose interpreter is gone (its Python was removed or moved) cannot be repaired.
  if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    python3 -m venv --clear "$VENV"
  fi
  "$VENV/bin/pip" install -q --no-input --upgrade pip
  "$VENV/bin/pip" install -q --no-input "matrix-synapse==$SYNAPSE_VERSION"
  synapse_ok || { log "matrix-synapse $SYNAPSE_VERSION is not importable from $VENV after installing"; exit 1; }
fi
slixmpp_ok() { "$XMPP_VENV/bin/python" -c "import slixmpp, sys; sys.exit(slixmpp.__version__ != '$SLIXMPP_VERSION')" 2>/dev/null; }
if ! slixmpp_ok; then
  log "installing slixmpp $SLIXMPP_VERSION into $XMPP_VENV"
  if ! "$XMPP_VENV/bin/python" -c '' 2>/dev/null; then
    python3 -m venv --clear "$XMPP_VENV"
  fi
  "$XMPP_VENV/bin/pip" install -q --no-input --upgrade pip
  "$XMPP_VENV/bin/pip" install -q --no-input "slixmpp==$SLIXMPP_VERSION"
  slixmpp_ok || { log "slixmpp $SLIXMPP_VERSION is not importable from $XMPP_VENV after installing"; exit 1; }
fi
log "dependencies ready"
