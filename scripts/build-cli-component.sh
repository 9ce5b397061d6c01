#!/usr/bin/env bash
# Builds target/mcp-oauth-cli.wasm: the CLI component (cli-component/, a
# wasi:cli/run command importing mcp:oauth/client) composed with the
# mcp-oauth component, for the wasmtime CLI:
#
#   wasmtime run -S http target/mcp-oauth-cli.wasm connect --headless --call whoami URL
#
# 1. the component: cargo build --release --locked --target wasm32-wasip2 -p mcp-oauth,
#    in target/guest (where host-test/build.rs builds the same component, so
#    a test run's build is reused);
# 2. the caller: cargo build --release --locked --target wasm32-wasip2
#    -p mcp-oauth-cli-component (its own cargo run: built together, the two
#    would unify features of shared dependencies and change the component);
# 3. the composition: tools/compose (wac-graph's `plug`, what `wac plug`
#    runs; byte-identical output), installed once into target/tools/compose
#    from its own lock file (about 1 min to compile, against 4-5 min for
#    wac-cli). MCP_OAUTH_COMPOSE=/path/to/tool uses another build of it.
#
# Only step 3's first run needs the network (crates.io, for the tool's
# crates), unless cargo's cache already has them.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

echo "[build-cli-component] the mcp-oauth component" >&2
cargo build --release --locked --quiet --target wasm32-wasip2 -p mcp-oauth --target-dir target/guest
component=target/guest/wasm32-wasip2/release/mcp_oauth.wasm

echo "[build-cli-component] the caller (cli-component)" >&2
cargo build --release --locked --quiet --target wasm32-wasip2 -p mcp-oauth-cli-component
caller=target/wasm32-wasip2/release/mcp-oauth-cli-component.wasm

compose=${MCP_OAUTH_COMPOSE:-target/tools/compose/bin/mcp-oauth-compose}
stamp=target/tools/compose/.source-sha
source_sha=$(cat tools/compose/Cargo.toml tools/compose/Cargo.lock tools/compose/src/*.rs | sha256sum | cut -d' ' -f1)
if [[ -z ${MCP_OAUTH_COMPOSE:-} && ( ! -x $compose || ! -f $stamp || "$(cat "$stamp")" != "$source_sha" ) ]]; then
  echo "[build-cli-component] installing tools/compose into target/tools/compose" >&2
  cargo install --quiet --locked --force --path tools/compose \
    --root target/tools/compose --target-dir target/tools/compose-build
  echo "$source_sha" > "$stamp"
fi

"$compose" "$caller" "$component" target/mcp-oauth-cli.wasm
echo "[build-cli-component] target/mcp-oauth-cli.wasm: $(wc -c < target/mcp-oauth-cli.wasm) bytes" >&2
