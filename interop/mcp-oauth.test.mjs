// mcp-oauth against real servers: oidc-provider in front of the official TS
// and Python SDK MCP servers and a DPoP-requiring resource server
// (stack.mjs), driven through the real component by the CLI as a user runs
// it. `node --test interop/mcp-oauth.test.mjs` (after interop/setup.sh and
// a build of the CLI). Each scenario starts from its own state directory;
// the request counts it asserts come from the servers' own log.
import { test, before, after, describe as group } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  HERE, startStack, stateDir, connect, runCli, counts, describe, sleep, throughProxy, measured,
  renewedAfterExpiry,
} from './harness.mjs';

const report = [];
const note = (scenario, c, ms) => report.push(`${scenario.padEnd(44)} ${describe(c)}${ms ? ` (${ms} ms)` : ''}`);

after(() => {
  console.log(`mcp-oauth on real servers (requests as the servers logged them):\n  ${report.join('\n  ')}`);
  const out = process.env.INTEROP_REPORT;
  if (out) fs.writeFileSync(out, `${report.join('\n')}\n`);
});

group('hour-long tokens', () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  test('default connect to the TS SDK server: Bearer, although the AS offers DPoP', async () => {
    // Finding 1: the AS lists dpop_signing_alg_values_supported; the TS SDK's
    // requireBearerAuth accepts only Bearer. Default `connect` must work.
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('ts: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /interop-user/, 'whoami ran with the user\'s token');
    assert.equal(c.dpopScheme, 0, 'no DPoP scheme sent to a Bearer-only server');
    assert.equal(c.mcp401, 1, 'one 401, then authorized');
    assert.equal(stats.registrations, 1);
    assert.equal(stats.authorizations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });

    // The second connect while the token is fresh: MCP requests only.
    const again = await measured(stack, () => connect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('ts: second connect, token fresh', again.c, again.result.ms);
    assert.equal(again.c.total, again.c.mcp, 'nothing but MCP requests');
    assert.equal(again.c.mcp401, 0);
  });

  test('default connect to the Python SDK server', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.py, dir, ['--call', 'whoami']));
    note('py: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /interop-user/);
    assert.equal(c.dpopScheme, 0);
    assert.equal(stats.authorizations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('step-up: 403 insufficient_scope → one new authorization with the same registration', async () => {
    // Finding 2: registered with `mcp:tools offline_access`, the client got
    // invalid_scope for mcp:admin. Now it registers what the resource lists.
    const dir = stateDir();
    await connect(stack.urls.ts, dir);
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.ts, dir, ['--call', 'admin_action']));
    note('ts: step-up to mcp:admin', c, result.ms);
    assert.match(result.stdout, /admin/i);
    assert.equal(c.mcp403, 1);
    assert.equal(stats.registrations, 0, 'the registration already allows mcp:admin');
    assert.equal(stats.authorizations, 1);
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('a registration restricted to less scope is renewed once', async () => {
    // A state written by a client that registered only `mcp:tools
    // offline_access` (as 0.1 did): the step-up registers once more.
    const dir = stateDir();
    await connect(stack.urls.ts, dir);
    const file = path.join(dir, 'state.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    const [issuer] = Object.keys(doc.clients);
    const narrow = await fetch(`${stack.urls.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'narrow', redirect_uris: [doc.clients[issuer].redirect_uri],
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        token_endpoint_auth_method: 'none', application_type: 'native', scope: 'mcp:tools offline_access',
      }),
    }).then((r) => r.json());
    doc.clients[issuer].client_id = narrow.client_id;
    delete doc.clients[issuer].registered_scope; // as an older version stored it
    fs.writeFileSync(file, JSON.stringify(doc));
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.ts, dir, ['--call', 'admin_action']));
    note('ts: step-up with a narrow old registration', c, result.ms);
    assert.match(result.stdout, /invalid_scope.*authorizing once more/);
    assert.equal(stats.registrations, 1, 'registered once more');
    assert.equal(stats.authorizations, 1, 'the invalid_scope redirect issues no code');
  });

  test('a revoked grant → exactly one new authorization', async () => {
    const dir = stateDir();
    await connect(stack.urls.ts, dir);
    await stack.revoke();
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.ts, dir, ['--call', 'whoami']));
    note('ts: after the grant was revoked', c, result.ms);
    assert.equal(stats.authorizations, 1);
    assert.equal(stats.registrations, 0);
    assert.ok((c.token.refresh_token ?? 0) <= 1, 'at most one refresh attempt');
  });

  test('client credentials with a pre-registered confidential client', async () => {
    const dir = stateDir();
    const env = { MCP_OAUTH_CLIENT_SECRET: 'interop-secret' };
    const args = ['--client-id', 'interop-confidential', '--grant', 'client-credentials', '--call', 'whoami'];
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.py, dir, args, { env }));
    note('py: client credentials (secret, basic)', c, result.ms);
    assert.match(result.stdout, /interop-confidential/);
    assert.deepEqual(c.token, { client_credentials: 1 });
    assert.equal(stats.authorizations + stats.registrations, 0);
    assert.equal(c.dpopScheme, 0);
  });

  test('configured credentials stay with their issuer, used again for a second server', async () => {
    // The issuer the secret was first used with is recorded in the state;
    // the same issuer behind another MCP server gets it again, on a real
    // authorization server (the hostile case is in tests/e2e_grants.rs).
    const dir = stateDir();
    const env = { MCP_OAUTH_CLIENT_SECRET: 'interop-secret' };
    const args = ['--client-id', 'interop-confidential', '--grant', 'client-credentials', '--call', 'whoami'];
    await connect(stack.urls.py, dir, args, { env });
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    assert.deepEqual(state.credential_issuers, { 'interop-confidential': stack.urls.issuer });
    const { result, c } = await measured(stack, () => connect(stack.urls.ts, dir, args, { env }));
    note('ts: same credentials, second server', c, result.ms);
    assert.match(result.stdout, /interop-confidential/);
    assert.deepEqual(c.token, { client_credentials: 1 });
  });

  test('authorization code with a pre-registered confidential client', async () => {
    const dir = stateDir();
    const env = { MCP_OAUTH_CLIENT_SECRET: 'interop-secret' };
    const { result, c, stats } = await measured(stack, () => connect(stack.urls.ts, dir, ['--client-id', 'interop-confidential', '--call', 'whoami'], { env }));
    note('ts: pre-registered confidential client', c, result.ms);
    assert.match(result.stdout, /interop-user/);
    assert.equal(stats.registrations, 0);
    assert.deepEqual(c.token, { authorization_code: 1 });
  });

  test('private_key_jwt (ES256 assertion, aud = issuer)', async () => {
    const dir = stateDir();
    const args = ['--client-id', 'interop-jwt', '--private-key', path.join(HERE, 'keys', 'interop-jwt.pem'),
      '--grant', 'client-credentials', '--call', 'whoami'];
    const { result, c } = await measured(stack, () => connect(stack.urls.ts, dir, args));
    note('ts: client credentials, private_key_jwt', c, result.ms);
    assert.match(result.stdout, /interop-jwt/);
    assert.deepEqual(c.token, { client_credentials: 1 });
  });

  test('DPoP end to end where the resource server requires it', async () => {
    const dir = stateDir();
    const { result, c } = await measured(stack, () => connect(stack.urls.dpop, dir, ['--call', 'whoami']));
    note('dpop: first connect + whoami', c, result.ms);
    assert.match(result.stdout, /interop-user/);
    assert.equal(c.bearerScheme, 0, 'never Bearer at a DPoP-only server');
    assert.ok(c.dpopScheme >= 2);
    assert.match(result.stdout, /DPoP token/);
  });

  test('two processes refused at once redeem the refresh token once', async () => {
    // Every refresh goes through the CLI's lock, also the one a 401 calls for
    // (access tokens revoked early, refresh tokens still good). Without it
    // both processes redeemed the same rotating refresh token.
    const dir = stateDir();
    await connect(stack.urls.ts, dir);
    await stack.revokeAccess();
    const { result, c, stats } = await measured(stack, () => Promise.all(
      [0, 1].map(() => connect(stack.urls.ts, dir, ['--call', 'whoami'])),
    ));
    note('ts: 2 processes, access tokens revoked', c, Math.max(...result.map((r) => r.ms)));
    assert.equal(c.token.refresh_token, 1, JSON.stringify(c));
    assert.equal(stats.authorizations, 0);
  });
});

group('mcp-oauth proxy with the official TS SDK stdio client', () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  const text = (result) => result.content.map((c) => c.text ?? '').join(' ');

  test('the SDK\'s stdio client lists and calls tools through the proxy', async () => {
    const dir = stateDir();
    const { result: r, c, stats } = await measured(stack, () => throughProxy(stack.urls.ts, dir));
    note('proxy: ts stdio client, first run', c);
    // The server offers a GET stream for its own messages: the proxy opened
    // it (with the token) after initialized, and closed it at the end.
    await sleep(200);
    const gets = (await stack.log()).filter((e) => e.method === 'GET' && e.path === new URL(stack.urls.ts).pathname);
    assert.deepEqual(gets.map((e) => [e.status, e.auth_scheme]), [[200, 'Bearer']], JSON.stringify(gets));
    assert.ok(r.tools.includes('whoami'), r.tools.join(' '));
    assert.match(text(r.result), /interop-user/);
    assert.equal(stats.registrations, 1);
    assert.equal(stats.authorizations, 1);
    assert.doesNotMatch(r.stderr, /panicked/);
  });

  test('three proxies started together: one registration, one authorization', async () => {
    const dir = stateDir();
    const { result, c, stats } = await measured(stack, () => Promise.all(
      [0, 1, 2].map(() => throughProxy(stack.urls.ts, dir)),
    ));
    note('proxy: 3 started together', c);
    for (const r of result) assert.match(text(r.result), /interop-user/, r.stderr);
    assert.equal(stats.registrations, 1, JSON.stringify(stats));
    assert.equal(stats.authorizations, 1, JSON.stringify(stats));
    assert.deepEqual(c.token, { authorization_code: 1 });
  });
});

group('the system browser: headless Chromium on sign-in and consent pages', () => {
  let stack;
  before(async () => { stack = await startStack(['--login-pages']); });
  after(async () => { await stack?.stop(); });

  test('connect opens $BROWSER; the user signs in and approves; the redirect reaches the loopback listener', async () => {
    const dir = stateDir();
    const steps = path.join(dir, 'browser.log');
    const env = { BROWSER: path.join(HERE, 'browser.mjs'), BROWSER_LOG: steps };
    const { result, c, stats } = await measured(stack, () => runCli(
      ['connect', '--state-dir', dir, '--timeout', '60', '--call', 'whoami', stack.urls.ts],
      { env, timeoutMs: 120_000 },
    ));
    note('ts: connect through headless Chromium', c, result.ms);
    const seen = fs.existsSync(steps) ? fs.readFileSync(steps, 'utf8') : '(no browser log)';
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\n${seen}`);
    assert.match(result.stdout, /opened in the system browser/);
    assert.match(result.stdout, /interop-user/);
    assert.match(
      seen,
      /sign-in page: Sign in\n[^]*consent page: Approve\nat http:\/\/127\.0\.0\.1:\d+\/callback\napproved\ndone\n$/,
      'signed in, approved, and landed on the loopback callback',
    );
    assert.deepEqual(
      [stats.loginPagesShown, stats.signIns, stats.consents, stats.authorizations, stats.registrations],
      [1, 1, 1, 1, 1],
    );
  });

  test('the proxy opens it too, for the SDK\'s stdio client', async () => {
    const dir = stateDir();
    const steps = path.join(dir, 'browser.log');
    const env = { BROWSER: path.join(HERE, 'browser.mjs'), BROWSER_LOG: steps };
    const { result: r, c, stats } = await measured(
      stack, () => throughProxy(stack.urls.ts, dir, 'whoami', { headless: false, env }),
    );
    note('proxy: ts stdio client, headless Chromium', c);
    const seen = fs.existsSync(steps) ? fs.readFileSync(steps, 'utf8') : '(no browser log)';
    assert.match(r.result.content.map((x) => x.text ?? '').join(' '), /interop-user/, `${r.stderr}\n${seen}`);
    assert.match(r.stderr, /opened in the system browser/);
    assert.match(seen, /approved\ndone\n$/);
    assert.deepEqual([stats.signIns, stats.consents, stats.authorizations], [1, 1, 1]);
  });
});

group('3-second tokens', () => {
  let stack;
  before(async () => { stack = await startStack(['--access-ttl', '3']); });
  after(async () => { await stack?.stop(); });

  test('refreshed after expiry, not while fresh', async () => {
    // Finding 3: with the fixed 60 s skew a 3 s token was stale on arrival
    // and every request redeemed the refresh token (9 times for 5 requests).
    const dir = stateDir();
    await renewedAfterExpiry(stack, 3_000, () => connect(stack.urls.ts, dir, ['--call', 'whoami']), note, 'ts 3 s');
  });

  test('three processes on an expired token make one refresh request', async () => {
    const dir = stateDir();
    await connect(stack.urls.ts, dir);
    await sleep(3_500);
    const { result, c, stats } = await measured(stack, () => Promise.all(
      [0, 1, 2].map(() => connect(stack.urls.ts, dir, ['--call', 'whoami'])),
    ));
    note('ts 3 s: 3 processes, expired token', c, Math.max(...result.map((r) => r.ms)));
    assert.equal(c.token.refresh_token, 1, JSON.stringify(c));
    assert.equal(stats.authorizations, 0);
  });

  test('DPoP-bound tokens are refreshed with the same key', async () => {
    const dir = stateDir();
    await connect(stack.urls.dpop, dir);
    await sleep(3_500);
    const { result, c } = await measured(stack, () => connect(stack.urls.dpop, dir, ['--call', 'whoami']));
    note('dpop 3 s: connect after expiry', c, result.ms);
    assert.deepEqual(c.token, { refresh_token: 1 });
    assert.equal(c.bearerScheme, 0);
  });
});
