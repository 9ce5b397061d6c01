#!/usr/bin/env bash
# Benchmarks and the load run (issue 12): builds mcp-oauth-bench (bench/) and
# runs it with --check, which exits non-zero when a goal is missed.
#
#   scripts/bench.sh [--quick]
#
# Prints the instantiation time and memory of an instance, the whole flow
# against the mock servers, the hot path over http and https (`hot-path
# ratio`, `native ratio`, `connections: …`) and, last, the load run's
# `load: <n> calls, <f> failed, <r> refresh`. --quick makes fewer rounds.
#
# The binary is built with the `bench` profile (opt-level 3, no LTO; the
# release profile is tuned for the guest's size) into target/release; the
# guest components are built by host-test/build.rs and bench/build.rs with
# --release. The compiled component is cached in target/mcp-oauth-cache, as
# scripts/test.sh does. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

args=(--check)
case "${1-}" in
  --quick) args+=(--quick) ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

rustup target add wasm32-wasip2 >/dev/null
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
export MCP_OAUTH_CACHE_DIR=${MCP_OAUTH_CACHE_DIR-$target_dir/mcp-oauth-cache}
cargo build --profile bench --locked -p mcp-oauth-bench
exec "$target_dir/release/mcp-oauth-bench" "${args[@]}"
