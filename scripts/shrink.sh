#!/usr/bin/env bash
# Optional release step: builds the component and shrinks it with binaryen's
# wasm-opt (installed from npm on first use, or MCP_OAUTH_WASM_OPT=/path/to/wasm-opt).
# Usage: scripts/shrink.sh [output.wasm]   (default: target/mcp_oauth.shrunk.wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/mcp_oauth.shrunk.wasm}
cargo build --release --locked --target wasm32-wasip2 -p mcp-oauth
cargo run --quiet --locked -p mcp-oauth-host --example shrink -- \
  target/wasm32-wasip2/release/mcp_oauth.wasm "$out"
