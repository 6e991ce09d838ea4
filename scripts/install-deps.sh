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

# venv_package VENV MODULE VERSION SPEC: a venv at VENV in which MODULE imports with
# __version__ VERSION, installing SPEC from PyPI when it does not.
venv_package() {
  local venv=$1 module=$2 version=$3 spec=$4
  ok() { "$venv/bin/python" -c "import $module, sys; sys.exit($module.__version__ != '$version')" 2>/dev/null; }
  ok && return 0
  log "installing $spec into $venv"
  # A venv whose interpreter is gone (its Python was removed or moved) cannot be repaired.
  if ! "$venv/bin/python" -c '' 2>/dev/null; then
    python3 -m venv --clear "$venv"
  fi
  "$venv/bin/pip" install -q --no-input --upgrade pip
  "$venv/bin/pip" install -q --no-input "$spec"
  ok || { log "$spec is not importable from $venv after installing"; exit 1; }
}
venv_package "$VENV" synapse "$SYNAPSE_VERSION" "matrix-synapse==$SYNAPSE_VERSION"
venv_package "$XMPP_VENV" slixmpp "$SLIXMPP_VERSION" "slixmpp==$SLIXMPP_VERSION"
log "dependencies ready"
