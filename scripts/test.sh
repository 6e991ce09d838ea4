#!/usr/bin/env bash
# Runs every test: format, lints, build, unit tests, and end-to-end tests against a real
# Synapse, PostgreSQL, InspIRCd + Atheme and Prosody that this script installs and starts on
# 127.0.0.1 (and stops again). This is the command the README gives and the one CI runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
# Incremental artifacts only cost time and disk on a build that is run once.
export CARGO_INCREMENTAL=0
export MXBRIDGE_STACK_DIR="$STACK_DIR"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

CURRENT_STEP="start"
STEP_START=$SECONDS
step() {
  printf '\n==> %s\n' "$*" >&2
  CURRENT_STEP="$*"
  STEP_START=$SECONDS
}
on_exit() {
  local status=$?
  bash "$REPO_ROOT/scripts/stop-stack.sh" || true
  if [ "$status" -ne 0 ]; then
    printf '\nFAILED at step: %s (exit %s, after %ss in that step)\n' "$CURRENT_STEP" "$status" "$((SECONDS - STEP_START))" >&2
  fi
  exit "$status"
}
trap on_exit EXIT

step "install dependencies"
bash scripts/install-deps.sh
step "stop a stack left running by an earlier run"
bash scripts/stop-stack.sh
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo build"
cargo build --workspace --all-targets --locked

step "generate the e2e bridges' registrations with the real binary"
# The previous run's registrations and bridge state belong to a Synapse that is gone.
rm -rf "$STACK_DIR/registrations" "$STACK_DIR/e2e"
mkdir -p "$STACK_DIR/registrations"
regs=()
shopt -s nullglob
for cfg in tests/fixtures/*.config.yaml; do
  name=$(basename "$cfg" .config.yaml)
  "$TARGET_DIR/debug/mxbridge" -c "$cfg" generate-registration -o "$STACK_DIR/registrations/$name.registration.yaml"
  regs+=("$STACK_DIR/registrations/$name.registration.yaml")
done
shopt -u nullglob
[ ${#regs[@]} -gt 0 ] || log "no tests/fixtures/*.config.yaml: Synapse starts without appservices"

step "start PostgreSQL"
bash scripts/start-postgres.sh
step "start Synapse"
bash scripts/start-synapse.sh ${regs[@]+"${regs[@]}"}
step "start InspIRCd + Atheme"
bash scripts/start-inspircd.sh
step "start Prosody"
bash scripts/start-prosody.sh

export MXBRIDGE_TEST_HOMESERVER="http://127.0.0.1:$HS_PORT"
export MXBRIDGE_TEST_SERVER_NAME=localhost
export MXBRIDGE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/mxbridge_test"
# InspIRCd (plain text) with Atheme linked: NickServ, ChanServ, SASL PLAIN.
export MXBRIDGE_TEST_IRC="127.0.0.1:$IRC_PORT"
# Prosody (plain text, host `localhost`, MUC `conference.localhost`, in-band registration)
# and its XEP-0114 components ($XMPP_COMPONENTS) with their secret; the driver plays XMPP
# users (tests/src/harness/xmpp_user.rs).
export MXBRIDGE_TEST_XMPP_C2S="127.0.0.1:$XMPP_C2S_PORT"
export MXBRIDGE_TEST_XMPP_COMPONENT="127.0.0.1:$XMPP_COMPONENT_PORT"
export MXBRIDGE_TEST_XMPP_SECRET="$XMPP_COMPONENT_SECRET"
export MXBRIDGE_TEST_XMPP_DRIVER="$XMPP_VENV/bin/python $REPO_ROOT/tests/xmpp/driver.py"
step "cargo test"
cargo test --workspace --locked
step "done"
