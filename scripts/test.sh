#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing,
# builds the WebAssembly component (host-test/build.rs does that), runs the
# core unit and whole-flow tests, the host tests and the end-to-end tests of
# the real .wasm in wasmtime against the mock servers.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo test --workspace --locked "$@"
