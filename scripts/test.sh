#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing,
# builds the WebAssembly component (host-test/build.rs does that), runs the
# core unit and whole-flow tests, the host tests and the end-to-end tests of
# the real .wasm in wasmtime against the mock servers, then the real-server
# suite (scripts/interop.sh: oidc-provider and the official SDK servers;
# needs Node.js and Python 3).
#
# The compiled component is cached in target/mcp-oauth-cache (unless
# MCP_OAUTH_CACHE_DIR says otherwise; set and empty disables the cache), so
# only the first test process compiles it and nothing is written outside the
# checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
export MCP_OAUTH_CACHE_DIR=${MCP_OAUTH_CACHE_DIR-$target_dir/mcp-oauth-cache}
cargo test --workspace --locked "$@"
./scripts/interop.sh
