// The component in Node.js: examples/jco/connect.mjs runs the transpiled
// component (jco 1.35, preview2-shim) against the real servers of stack.mjs.
// `node --test interop/jco.test.mjs` after interop/setup.sh (which installs
// examples/jco's npm packages) and `node examples/jco/transpile.mjs`.
// Each scenario starts from a new client (connect.mjs keeps no state); the
// request counts it asserts come from the servers' own log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { REPO, startStack, run, counts, describe } from './harness.mjs';
import { headless, freePort } from '../examples/jco/user-agent.mjs';

const EXAMPLE = path.join(REPO, 'examples', 'jco');
const CONNECT = path.join(EXAMPLE, 'connect.mjs');
const report = [];
let stack;

before(async () => {
  assert.ok(fs.existsSync(path.join(EXAMPLE, 'out', 'mcp_oauth.js')),
    'examples/jco/out/mcp_oauth.js is missing: run `node examples/jco/transpile.mjs` (scripts/interop.sh does)');
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
  console.log(`jco (Node.js) on real servers (requests as the servers logged them):\n  ${report.join('\n  ')}`);
});

/// `node connect.mjs ARGS`, with the log reset before; resolves to the run
/// ({ code, stdout, stderr, ms }), the request counts, the log and the stats.
async function connect(args, scenario) {
  await stack.reset();
  const result = await run(process.execPath, [CONNECT, ...args]);
  const log = await stack.log();
  const c = counts(log);
  report.push(`${scenario.padEnd(40)} ${describe(c)} (${result.ms} ms)`);
  return { result, c, log, stats: await stack.stats() };
}

/// Asserts a successful run; returns what the `NAME:` result line of stdout
/// says (the tool's text, parsed when it is JSON).
function toolResult({ code, stdout, stderr }, name) {
  assert.equal(code, 0, `connect.mjs failed:\n${stdout}\n${stderr}`);
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}: `));
  assert.ok(line, `no ${name} result in:\n${stdout}`);
  const text = line.slice(name.length + 2);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/// What the output must never hold: token values and authorization codes.
function assertNoSecrets({ stdout, stderr }) {
  const all = stdout + stderr;
  assert.doesNotMatch(all, /access_token|refresh_token|[?&]code=|(Bearer|DPoP) [A-Za-z0-9_.~+/-]{16,}/);
}

/// The MCP requests one server logged, as "METHOD rpc-method status".
const mcpRequests = (log, server) => log
  .filter((e) => e.server === server && !e.path.startsWith('/.well-known/'))
  .map((e) => `${e.method} ${e.rpc_method ?? '-'} ${e.status}`);

test('TS SDK server, headless: one registration, one authorization, whoami as the user', async () => {
  const { result, c, log, stats } = await connect(['--headless', '--call', 'whoami', stack.urls.ts], 'ts: headless connect + whoami');
  const who = toolResult(result, 'whoami');
  assert.equal(who.sub, 'interop-user', 'the user oidc-provider logged in');
  assert.equal(who.server, 'ts');
  assert.equal(who.scope, 'mcp:tools', 'the challenge\'s scope');
  assert.ok(!['interop-confidential', 'interop-jwt'].includes(who.client_id), 'a client the component registered');
  assert.match(result.stdout, /^connected: interop-ts \S+, protocol 2025-06-18$/m);
  assert.match(result.stdout, /^tools: whoami, echo, admin_action$/m);
  assert.deepEqual(mcpRequests(log, 'ts'), [
    'POST initialize 401', 'POST initialize 200', 'POST notifications/initialized 202',
    'POST tools/list 200', 'POST tools/call 200', 'DELETE - 200',
  ]);
  assert.equal(stats.registrations, 1);
  assert.equal(stats.authorizations, 1);
  assert.deepEqual(stats.token_by_grant, { authorization_code: 1 });
  assert.equal(c.dpopScheme, 0, 'Bearer at a Bearer-only server');
  assert.equal(c.bearerScheme, 5, 'every request after the 401 carries the token');
  // Progress on stderr: the component's exchanges, in order.
  assert.match(result.stderr, /POST \S+\/mcp → 401[\s\S]*oauth-protected-resource\/mcp → 200[\s\S]*\/reg → 201[\s\S]*\/token → 200/);
  assertNoSecrets(result);
});

test('Python SDK server, browser path: the loopback listener takes only the pending state', async () => {
  await stack.reset();
  const child = spawn(process.execPath, [CONNECT, '--call', 'whoami', '--timeout', '30', stack.urls.py], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // A run that hangs (no URL printed, no callback taken) is killed: its
  // stderr then ends and the assertions below say what it printed.
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    // connect.mjs prints the authorization URL, then the redirect URI it waits on.
    const lines = readline.createInterface({ input: child.stderr });
    let authorizationUrl;
    let redirectUri;
    for await (const line of lines) {
      stderr += `${line}\n`;
      if (/^ {4}http:\/\/\S+\/auth\?/.test(line)) authorizationUrl = line.trim();
      const waiting = line.match(/waiting for the redirect to (\S+)$/);
      if (waiting) {
        redirectUri = waiting[1];
        break;
      }
    }
    assert.ok(authorizationUrl && redirectUri, `no authorization URL and redirect URI in:\n${stderr}`);
    child.stderr.on('data', (d) => { stderr += d; });
    assert.equal(new URL(authorizationUrl).searchParams.get('redirect_uri'), redirectUri);

    // A callback for another authorization is refused, and the wait goes on.
    const forged = await fetch(`${redirectUri}?code=forged&state=not-the-pending-one`);
    assert.equal(forged.status, 400);
    // The browser: the authorization server's redirects, then the listener.
    const callback = await headless(authorizationUrl, redirectUri);
    assert.equal(new URL(callback).searchParams.get('state'), new URL(authorizationUrl).searchParams.get('state'));
    const answer = await fetch(callback);
    assert.equal(answer.status, 200);
    await answer.text();
  } finally {
    await exited;
    clearTimeout(guard);
  }
  const result = { code: child.exitCode, stdout, stderr };
  const log = await stack.log();
  const c = counts(log);
  report.push(`${'py: browser path (loopback listener)'.padEnd(40)} ${describe(c)}`);
  const who = toolResult(result, 'whoami');
  assert.equal(who.sub, 'interop-user');
  assert.equal(who.server, 'py');
  assert.match(stderr, /refused a callback whose state is not the pending authorization's/);
  const stats = await stack.stats();
  assert.equal(stats.registrations, 1);
  assert.equal(stats.authorizations, 1);
  assert.deepEqual(stats.token_by_grant, { authorization_code: 1 }, 'the forged callback reached no token endpoint');
  assert.equal(c.mcp401, 1);
  assertNoSecrets(result);
});

test('DPoP-requiring server: a DPoP-bound token, never Bearer', async () => {
  const { result, c, stats } = await connect(['--headless', '--call', 'whoami', stack.urls.dpop], 'dpop: headless connect + whoami');
  const who = toolResult(result, 'whoami');
  assert.equal(who.sub, 'interop-user');
  assert.equal(who.server, 'dpop');
  assert.match(result.stderr, /authorized: DPoP token/);
  assert.equal(c.bearerScheme, 0);
  assert.equal(c.dpopScheme, 5, 'initialize, initialized, tools/list, tools/call, DELETE with DPoP');
  assert.equal(stats.authorizations, 1);
  assertNoSecrets(result);
});

test('step-up: 403 insufficient_scope → one more authorization, the same registration', async () => {
  const { result, c, stats } = await connect(['--headless', '--call', 'admin_action', stack.urls.ts], 'ts: admin_action (step-up)');
  assert.equal(toolResult(result, 'admin_action'), 'admin action performed');
  assert.equal(c.mcp401, 1);
  assert.equal(c.mcp403, 1);
  assert.equal(stats.registrations, 1);
  assert.equal(stats.authorizations, 2);
  assert.deepEqual(stats.token_by_grant, { authorization_code: 2 });
  assert.match(result.stderr, /scope mcp:tools mcp:admin/);
});

test('an auth-error is printed with its fields and the exit status is 1', async () => {
  const url = `http://127.0.0.1:${await freePort()}/mcp`; // nothing listens there
  const result = await run(process.execPath, [CONNECT, '--headless', url]);
  assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, new RegExp(
    `auth-error: transport\\n {2}step: resource\\n {2}url: ${url.replace(/[.]/g, '\\.')}\\n {2}message: connection refused\\n`,
  ));
});
