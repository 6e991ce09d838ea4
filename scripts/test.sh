#!/usr/bin/env bash
# Runs every test: format, lints, unit tests, and end-to-end tests against a real Synapse
# and PostgreSQL that this script installs and starts on 127.0.0.1 (and stops again).
# This is the command the README gives and the one CI runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
export CARGO_INCREMENTAL=0
export MXBRIDGE_STACK_DIR="$STACK_DIR"

step() { printf '\n==> %s\n' "$*" >&2; CURRENT_STEP="$*"; }
CURRENT_STEP="start"
trap 'status=$?; bash "$REPO_ROOT/scripts/stop-stack.sh" >/dev/null 2>&1; if [ $status -ne 0 ]; then printf "\nFAILED at step: %s\n" "$CURRENT_STEP" >&2; fi; exit $status' EXIT

step "install dependencies"
bash scripts/install-deps.sh
step "stop a stack left running"
bash scripts/stop-stack.sh
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo build"
cargo build --workspace --all-targets --locked

step "generate the test bridges' registrations with the real binary"
rm -rf "$STACK_DIR/registrations" "$STACK_DIR/e2e"; mkdir -p "$STACK_DIR/registrations"
regs=()
for cfg in tests/fixtures/*.config.yaml; do
  name=$(basename "$cfg" .config.yaml)
  target/debug/mxbridge -c "$cfg" generate-registration -o "$STACK_DIR/registrations/$name.yaml"
  regs+=("$STACK_DIR/registrations/$name.yaml")
done

step "start PostgreSQL"
bash scripts/start-postgres.sh
step "start Synapse"
bash scripts/start-synapse.sh "${regs[@]}"

export MXBRIDGE_TEST_HOMESERVER="http://127.0.0.1:$HS_PORT"
export MXBRIDGE_TEST_SERVER_NAME=localhost
export MXBRIDGE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/mxbridge_test"
step "cargo test"
cargo test --workspace --locked
