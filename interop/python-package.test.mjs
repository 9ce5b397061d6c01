// The mcp-oauth Python package (python/) against the real servers of the
// interop stack: `python -m mcp_oauth connect` on the official MCP Python
// SDK client, the httpx Auth in a session whose token is revoked between
// two calls, several processes sharing one state file (and with the Rust
// CLI), and mcp-haystack's MCPToolset. Runs with the package's venv
// ($MCP_OAUTH_PYTHON, else interop/.venv-pkg, made by
// scripts/python-package.sh). Each scenario has its own state directory; the
// request counts it asserts come from the servers' own log.
import { test, before, after, describe as group } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  HERE, REPO, CLI, startStack, stateDir, run, counts, describe, measured, renewedAfterExpiry,
} from './harness.mjs';

const PYTHON = process.env.MCP_OAUTH_PYTHON ?? path.join(HERE, '.venv-pkg', 'bin', 'python');
const SCENARIOS = path.join(HERE, 'py_package.py');
const HAYSTACK_EXAMPLE = path.join(REPO, 'python', 'examples', 'haystack_toolset.py');

const report = [];
const note = (scenario, c, ms) => report.push(`${scenario.padEnd(46)} ${describe(c)}${ms ? ` (${ms} ms)` : ''}`);

after(() => {
  console.log(`mcp-oauth Python package on real servers (requests as the servers logged them):\n  ${report.join('\n  ')}`);
});

/// `python -m mcp_oauth connect --headless --state-dir DIR [extra...] URL`.
const pyRun = (args, opts) => run(PYTHON, ['-m', 'mcp_oauth', ...args], opts);

/// The same, asserted to succeed (its output shown when it does not).
async function pyConnect(url, dir, extra = []) {
  const r = await pyRun(['connect', '--headless', '--state-dir', dir, ...extra, url]);
  assert.equal(r.code, 0, `python -m mcp_oauth connect ${url} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/// The tokens in a state file: none may ever be printed.
function secretsIn(dir) {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  const secrets = doc.tokens.flatMap((t) => [t.access_token, t.refresh_token]).filter(Boolean);
  assert.ok(secrets.length > 0, 'the state holds a token');
  return secrets;
}

function assertNoSecret(dir, ...outputs) {
  for (const secret of secretsIn(dir)) {
    for (const out of outputs) assert.ok(!out.includes(secret), 'a token was printed');
  }
}

const mode = (p) => fs.statSync(p).mode & 0o777;

group('hour-long tokens', () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  test('connect to the TS SDK server with nothing but the URL, then again with the token kept', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => pyConnect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('py pkg → ts: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /connected to interop-ts/);
    assert.match(result.stdout, /admin_action/, 'the tools are listed');
    assert.match(result.stdout, /"sub":"interop-user"/, 'whoami ran with the user\'s token');
    assert.match(result.stderr, /the MCP server wants authorization/, 'progress on stderr');
    assert.match(result.stderr, /token obtained/);
    assert.equal(c.mcp401, 1, 'one 401, then authorized');
    assert.equal(c.dpopScheme, 0, 'Bearer at a Bearer-only server');
    assert.equal(stats.registrations, 1);
    assert.equal(stats.authorizations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });
    assertNoSecret(dir, result.stdout, result.stderr);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(path.join(dir, 'state.json')), 0o600);

    const again = await measured(stack, () => pyConnect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('py pkg → ts: second connect, token fresh', again.c, again.result.ms);
    assert.match(again.result.stdout, /interop-user/);
    assert.equal(again.c.total, again.c.mcp, 'nothing but MCP requests');
    assert.equal(again.c.mcp401, 0);

    // status and logout: what the state holds (never a token), then forgotten.
    const status = await pyRun(['status', '--state-dir', dir]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`token for ${stack.urls.ts} from ${stack.urls.issuer}: Bearer, expires in \\d+ s`));
    assertNoSecret(dir, status.stdout, status.stderr);
    const logout = await pyRun(['logout', '--state-dir', dir, stack.urls.ts]);
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stdout, /forgot the token for/);
    const after = await pyRun(['status', '--state-dir', dir]);
    assert.doesNotMatch(after.stdout, /token for/);
    assert.match(after.stdout, /client at /, 'the registration is kept');
  });

  test('connect to the Python SDK server', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => pyConnect(stack.urls.py, dir, ['--call', 'whoami']));
    note('py pkg → py: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /"sub": "interop-user"/);
    assert.equal(stats.authorizations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('DPoP where the resource server requires it: the proof from the component, sent by httpx', async () => {
    const dir = stateDir();
    const { result, c } = await measured(stack, () => pyConnect(stack.urls.dpop, dir, ['--call', 'whoami']));
    note('py pkg → dpop: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /interop-user/);
    assert.equal(c.bearerScheme, 0, 'never Bearer at a DPoP-only server');
    assert.ok(c.dpopScheme >= 3, JSON.stringify(c));
    assert.match(result.stderr, /DPoP token/);
  });

  test('step-up: 403 insufficient_scope at a tool call → one new authorization', async () => {
    const dir = stateDir();
    await pyConnect(stack.urls.ts, dir);
    const { result, c, stats } = await measured(stack, () => pyConnect(stack.urls.ts, dir, ['--call', 'admin_action']));
    note('py pkg → ts: step-up to mcp:admin', c, result.ms);
    assert.match(result.stdout, /admin action performed/);
    assert.equal(c.mcp403, 1);
    assert.equal(stats.registrations, 0);
    assert.equal(stats.authorizations, 1);
  });

  test('a 401 at connect (grant revoked since the last run) → discovery, authorization, retry', async () => {
    const dir = stateDir();
    await pyConnect(stack.urls.ts, dir);
    await stack.revoke();
    const { result, c, stats } = await measured(stack, () => pyConnect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('py pkg → ts: 401 at connect (revoked)', c, result.ms);
    assert.match(result.stdout, /interop-user/);
    assert.equal(stats.authorizations, 1);
    assert.equal(stats.registrations, 0, 'the stored registration and its redirect port are reused');
    assert.ok((c.token.refresh_token ?? 0) <= 1, 'at most one refresh attempt');
    assert.equal(c.token.authorization_code, 1);
  });

  test('a 401 at a tool call (grant revoked mid-session) → authorization and the call retried', async () => {
    const dir = stateDir();
    const { result, log, stats } = await measured(stack, () => run(PYTHON,
      [SCENARIOS, 'midsession', stack.urls.ts, stack.urls.control, dir, 'revoke']));
    note('py pkg → ts: 401 at tools/call (revoked)', counts(log), result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const out = JSON.parse(result.stdout);
    assert.equal(out.whoami.sub, 'interop-user');
    assert.equal(out.is_error, false);
    const calls = log.filter((e) => e.server === 'ts' && e.rpc_method === 'tools/call').map((e) => e.status);
    assert.equal(calls[0], 401, 'the revoked token was refused at the tool call');
    assert.equal(calls.at(-1), 200, 'the retried call succeeded');
    assert.equal(stats.authorizations, 2, 'the first login and the one after the revocation');
    assert.equal(stats.registrations, 1);
  });

  test('a 401 at a tool call with a good refresh token → one refresh under the lock, no user', async () => {
    const dir = stateDir();
    const { result, log, c, stats } = await measured(stack, () => run(PYTHON,
      [SCENARIOS, 'midsession', stack.urls.ts, stack.urls.control, dir, 'revoke-access']));
    note('py pkg → ts: 401 at tools/call (access revoked)', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(JSON.parse(result.stdout).whoami.sub, 'interop-user');
    assert.equal(c.token.refresh_token, 1);
    assert.equal(stats.authorizations, 1, 'only the first login');
    const calls = log.filter((e) => e.rpc_method === 'tools/call').map((e) => e.status);
    assert.deepEqual(calls, [401, 200]);
  });

  test('two processes refused at once redeem the refresh token once', async () => {
    const dir = stateDir();
    await pyConnect(stack.urls.ts, dir);
    await stack.revokeAccess();
    const { result, c, stats } = await measured(stack, () => Promise.all(
      [0, 1].map(() => pyConnect(stack.urls.ts, dir, ['--call', 'whoami'])),
    ));
    note('py pkg → ts: 2 processes, access revoked', c, Math.max(...result.map((r) => r.ms)));
    assert.equal(c.token.refresh_token, 1, JSON.stringify(c));
    assert.equal(stats.authorizations, 0);
  });

  test('one login for the Python package and the Rust CLI: the same state file', async () => {
    const dir = stateDir();
    await pyConnect(stack.urls.py, dir);
    const { result, c } = await measured(stack, () => run(CLI,
      ['connect', '--headless', '--state-dir', dir, '--call', 'whoami', stack.urls.py]));
    note('Rust CLI after the Python package logged in', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /interop-user/);
    assert.equal(c.total, c.mcp, 'nothing but MCP requests: the Python login was used');
    assert.equal(c.mcp401, 0);
  });

  test('default mode: the browser ($BROWSER here) is sent to the URL, the loopback listener takes the redirect', async () => {
    // A stand-in for a person's browser: it follows the authorization URL and
    // then requests the 127.0.0.1 redirect the listener waits for.
    const env = { BROWSER: `${PYTHON} ${SCENARIOS} browser %s` };
    const dir = stateDir();
    const browse = () => pyRun(['connect', '--state-dir', dir, '--timeout', '30', '--call', 'whoami', stack.urls.ts], { env });
    const { result, c, stats } = await measured(stack, browse);
    note('py pkg → ts: browser + loopback listener', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, /Opening your browser/);
    assert.match(result.stdout, /interop-user/);
    assert.equal(stats.authorizations, 1);
    // After a revocation the next run listens on the registered port again:
    // the same registration serves (oidc-provider ignores the loopback port,
    // but the component only reuses a registration for its redirect URI).
    await stack.revoke();
    const again = await measured(stack, browse);
    assert.equal(again.result.code, 0, `${again.result.stdout}\n${again.result.stderr}`);
    assert.equal(again.stats.registrations, 0, 'the registered redirect port was held again');
    assert.equal(again.stats.authorizations, 1);
  });

  test('mcp-haystack: MCPToolset with McpOAuthConfig lists and invokes the tools', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => run(PYTHON,
      [HAYSTACK_EXAMPLE, '--headless', '--state-dir', dir, '--call', 'whoami', stack.urls.py]));
    note('haystack MCPToolset → py', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^whoami: /m);
    assert.match(result.stdout, /^admin_action: /m);
    assert.match(result.stdout, /interop-user/, 'the tool ran with the user\'s token');
    assert.equal(stats.authorizations, 1);
    assert.equal(c.mcp401, 1);
  });

  test('three requests at once, none authorized yet: one authorization serves them all', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => run(PYTHON, [SCENARIOS, 'concurrent', stack.urls.py, dir, '3']));
    note('httpx2 → py: 3 concurrent requests', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual(JSON.parse(result.stdout), { statuses: [200, 200, 200] });
    assert.equal(c.mcp401, 3);
    assert.equal(stats.authorizations, 1);
    assert.equal(stats.registrations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('a plain httpx.Client (the sync auth flow) with OAuth as its auth', async () => {
    const dir = stateDir();
    const { result, c } = await measured(stack, () => run(PYTHON, [SCENARIOS, 'httpx-sync', stack.urls.ts, dir]));
    note('httpx (sync) → ts: initialize', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual(JSON.parse(result.stdout), { status: 200, server_info: true, history: [401] });
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('--no-state: authorized in memory, nothing written anywhere', async () => {
    const home = stateDir();
    const env = { HOME: home, XDG_STATE_HOME: path.join(home, 'xdg'), MCP_OAUTH_STATE_DIR: '' };
    const { result, c } = await measured(stack, () => pyRun(
      ['connect', '--headless', '--no-state', '--call', 'whoami', stack.urls.py], { env }));
    note('py pkg → py: --no-state', c, result.ms);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /interop-user/);
    assert.deepEqual(fs.readdirSync(home), [], 'no state directory was made');
  });

  test('refusals: a clear line and an exit code, no traceback', async () => {
    const file = path.join(stateDir(), 'not-a-dir');
    fs.writeFileSync(file, '');
    const bad = await pyRun(['connect', '--headless', '--state-dir', file, stack.urls.ts]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: the state directory .*not-a-dir is not a directory$/m);
    const usage = await pyRun(['connect', '--args', '[1]', '--call', 'echo', stack.urls.ts]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--args must be a JSON object/);
    const insecure = await pyRun(['connect', '--headless', '--no-state', 'http://mcp.example.com/mcp']);
    assert.equal(insecure.code, 1);
    assert.match(insecure.stderr, /^error: refused insecure URL http:\/\/mcp\.example\.com\/mcp/m);
    for (const r of [bad, usage, insecure]) assert.doesNotMatch(r.stderr, /Traceback/);
  });
});

group('6-second tokens', () => {
  // Python starts and compiles the component in each process: on a busy
  // machine a first connect took 2.7 s, near a 3-second token's renewal
  // point; 6 seconds leave room for what the assertion means.
  let stack;
  before(async () => { stack = await startStack(['--access-ttl', '6']); });
  after(async () => { await stack?.stop(); });

  test('renewed before sending once expired, not while fresh', async () => {
    const dir = stateDir();
    await renewedAfterExpiry(
      stack, 6_000, () => pyConnect(stack.urls.ts, dir, ['--call', 'whoami']), note, 'py pkg → ts 6 s',
    );
  });
});
