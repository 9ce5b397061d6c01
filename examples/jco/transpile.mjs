#!/usr/bin/env node
// Transpiles the mcp-oauth component into out/ with jco (npm run transpile):
//
//   node transpile.mjs [COMPONENT.wasm]
//
// The component is the argument, else $MCP_OAUTH_WASM, else the release
// build target/wasm32-wasip2/release/mcp_oauth.wasm, which this script first
// brings up to date with `cargo build --release --locked --target
// wasm32-wasip2 -p mcp-oauth` (a no-op when it is). out/ is written again
// only when the component or jco changed (out/.source records both).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const OUT = path.join(HERE, 'out');

function fail(message) {
  process.stderr.write(`transpile: ${message}\n`);
  process.exit(1);
}

function run(command, args, options) {
  const r = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (r.error) return r.error;
  if (r.status !== 0) fail(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return undefined;
}

let wasm = process.argv[2] ?? process.env.MCP_OAUTH_WASM;
if (wasm) {
  wasm = path.resolve(wasm);
  if (!fs.existsSync(wasm)) fail(`${wasm} does not exist`);
} else {
  const targetDir = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target');
  wasm = path.join(targetDir, 'wasm32-wasip2', 'release', 'mcp_oauth.wasm');
  const args = ['build', '--release', '--locked', '--target', 'wasm32-wasip2', '-p', 'mcp-oauth'];
  process.stderr.write(`transpile: cargo ${args.join(' ')}\n`);
  const error = run('cargo', args, { cwd: REPO });
  if (error && !fs.existsSync(wasm)) fail(`cannot run cargo (${error.message}) and ${wasm} does not exist`);
  if (error) process.stderr.write(`transpile: cannot run cargo (${error.message}); using ${wasm} as it is\n`);
}

const jcoPackage = path.join(HERE, 'node_modules', '@bytecodealliance', 'jco', 'package.json');
if (!fs.existsSync(jcoPackage)) fail('jco is not installed: run `npm ci` in examples/jco first');
const jcoVersion = JSON.parse(fs.readFileSync(jcoPackage, 'utf8')).version;
const digest = crypto.createHash('sha256').update(fs.readFileSync(wasm)).digest('hex');
const source = `${digest} jco ${jcoVersion}\n`;
const stamp = path.join(OUT, '.source');
if (fs.existsSync(path.join(OUT, 'mcp_oauth.js')) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === source) {
  process.stderr.write(`transpile: out/ is up to date (${path.relative(REPO, wasm)}, jco ${jcoVersion})\n`);
  process.exit(0);
}

fs.rmSync(OUT, { recursive: true, force: true });
const jco = path.join(HERE, 'node_modules', '.bin', 'jco');
process.stderr.write(`transpile: jco ${jcoVersion} transpile ${path.relative(REPO, wasm)} → examples/jco/out/\n`);
const error = run(jco, ['transpile', wasm, '--name', 'mcp_oauth', '--out-dir', OUT, '--quiet'], { cwd: HERE });
if (error) fail(`cannot run ${jco}: ${error.message}`);
fs.writeFileSync(stamp, source);
