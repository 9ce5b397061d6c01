// Self-check of the interop stack: node --test interop/smoke.mjs
// Starts stack.mjs and drives it with plain fetch (manual redirects, a cookie jar).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { HERE, startStack } from './harness.mjs';

let stack;
let S; // the JSON line
const secrets = new Set(); // every token value seen, to check /log never contains one
const summary = [];

before(async () => {
  const t0 = Date.now();
  stack = await startStack();
  S = stack.urls;
  summary.push(`stack up in ${Date.now() - t0} ms: ${JSON.stringify(S)}`);
});

after(async () => {
  await stack?.stop();
  console.log(`smoke summary:\n  ${summary.join('\n  ')}`);
});

// ---------------------------------------------------------------- helpers
const jar = new Map();
function storeCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const form = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined));

async function getJson(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: r.status, headers: r.headers, body };
}

// Headless user agent: follows redirects by hand, stops at the client's redirect_uri.
async function authorize({ clientId, redirectUri, scope, resource, state = b64u(crypto.randomBytes(8)) }) {
  const verifier = b64u(crypto.randomBytes(32));
  const challenge = b64u(crypto.createHash('sha256').update(verifier).digest());
  const u = new URL(`${S.issuer}/auth`);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, resource, state,
    code_challenge: challenge, code_challenge_method: 'S256',
  })) if (v !== undefined) u.searchParams.set(k, v);
  let url = u.href;
  const hops = [];
  for (let i = 0; i < 10; i += 1) {
    const r = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader() } });
    storeCookies(r);
    hops.push(r.status);
    const loc = r.headers.get('location');
    assert.ok(r.status === 303 || r.status === 302, `expected a redirect at ${new URL(url).pathname}, got ${r.status}: ${await r.text()}`);
    const next = new URL(loc, url);
    if (!next.href.startsWith(S.issuer)) {
      return { callback: next, params: Object.fromEntries(next.searchParams), verifier, state, hops };
    }
    url = next.href;
  }
  throw new Error('too many redirects');
}

async function dpopProof(keys, htm, htu, { ath, nonce } = {}) {
  const jwk = await jose.exportJWK(keys.publicKey);
  return new jose.SignJWT({ htm, htu, jti: crypto.randomUUID(), ...(ath ? { ath } : {}), ...(nonce ? { nonce } : {}) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(keys.privateKey);
}

async function token(params, { basic, dpopKeys } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${basic[0]}:${basic[1]}`).toString('base64')}`;
  let nonce;
  for (let i = 0; i < 2; i += 1) {
    if (dpopKeys) headers.dpop = await dpopProof(dpopKeys, 'POST', `${S.issuer}/token`, { nonce });
    const r = await getJson(`${S.issuer}/token`, { method: 'POST', headers, body: form(params) });
    if (r.status === 400 && r.body?.error === 'use_dpop_nonce' && r.headers.get('dpop-nonce')) {
      nonce = r.headers.get('dpop-nonce');
      continue;
    }
    for (const k of ['access_token', 'refresh_token']) if (r.body?.[k]) secrets.add(r.body[k]);
    return r;
  }
  throw new Error('dpop nonce loop');
}

function parseMcpBody(contentType, text) {
  if (contentType?.includes('text/event-stream')) {
    const msgs = [];
    for (const block of text.split(/\n\n/)) {
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) msgs.push(JSON.parse(data));
    }
    return msgs.find((m) => m.id !== undefined) ?? msgs[0];
  }
  return text ? JSON.parse(text) : undefined;
}

// Minimal MCP streamable HTTP client session.
function mcpSession(url, authFor) {
  let sessionId;
  let protocolVersion;
  let nextId = 1;
  const post = async (message) => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(await authFor('POST', url)),
    };
    if (sessionId) headers['mcp-session-id'] = sessionId;
    if (protocolVersion) headers['mcp-protocol-version'] = protocolVersion;
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(message) });
    const text = await r.text();
    return { status: r.status, headers: r.headers, text, body: r.ok ? parseMcpBody(r.headers.get('content-type'), text) : text };
  };
  return {
    post,
    async initialize() {
      const r = await post({
        jsonrpc: '2.0', id: nextId++, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'interop-smoke', version: '0' } },
      });
      assert.equal(r.status, 200, `initialize at ${url}: ${r.status} ${r.text} ${r.headers.get('www-authenticate')}`);
      sessionId = r.headers.get('mcp-session-id') ?? undefined;
      protocolVersion = r.body.result.protocolVersion;
      const n = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      assert.equal(n.status, 202, `initialized notification: ${n.status} ${n.text}`);
      return r;
    },
    call(name, args = {}) {
      return post({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });
    },
  };
}
const bearer = (tok) => async () => ({ authorization: `Bearer ${tok}` });
const dpopAuth = (tok, keys) => async (htm, htu) => ({
  authorization: `DPoP ${tok}`,
  dpop: await dpopProof(keys, htm, htu, { ath: b64u(crypto.createHash('sha256').update(tok).digest()) }),
});
const toolText = (r) => r.body?.result?.content?.[0]?.text;

// An initialized MCP session at `url` with `authFor`, and what its whoami tool says of the caller.
async function whoami(url, authFor) {
  const s = mcpSession(url, authFor);
  await s.initialize();
  return { s, who: JSON.parse(toolText(await s.call('whoami'))) };
}

// ---------------------------------------------------------------- the flow
const REDIRECT = 'http://127.0.0.1:53999/callback';
let client; // dynamic registration
let tsTokens;
let pyTokens;

// The dynamically registered client's authorization for `scope` at `resource`, redirected to REDIRECT.
const authorizeClient = (scope, resource) => authorize({ clientId: client.client_id, redirectUri: REDIRECT, scope, resource });
// The token for the code of the client's authorization `a` (see authorizeClient) at `resource`.
const redeem = (a, resource, opts) => token({ grant_type: 'authorization_code', code: a.params.code, redirect_uri: REDIRECT, code_verifier: a.verifier, client_id: client.client_id, resource }, opts);
// The client's token for its refresh token `refreshToken` at `resource`.
const refresh = (refreshToken, resource) => token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id, resource });

test('authorization server metadata', async () => {
  const r = await getJson(`${S.issuer}/.well-known/openid-configuration`);
  assert.equal(r.status, 200);
  const m = r.body;
  assert.equal(m.issuer, S.issuer);
  assert.equal(m.authorization_response_iss_parameter_supported, true);
  assert.ok(m.dpop_signing_alg_values_supported.includes('ES256'));
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.ok(m.registration_endpoint && m.introspection_endpoint && m.revocation_endpoint);
  for (const s of ['openid', 'offline_access', 'mcp:tools', 'mcp:admin']) assert.ok(m.scopes_supported.includes(s), s);
  assert.ok(m.grant_types_supported.includes('client_credentials'));
  const rfc8414 = await getJson(`${S.issuer}/.well-known/oauth-authorization-server`);
  assert.equal(rfc8414.status, 200);
  assert.equal(rfc8414.body.issuer, S.issuer);
  summary.push('AS metadata served at both /.well-known/openid-configuration and /.well-known/oauth-authorization-server');
});

test('protected resource metadata and 401 challenges', async () => {
  for (const [name, url] of [['ts', S.ts], ['py', S.py], ['dpop', S.dpop]]) {
    const prmUrl = `${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`;
    const prm = await getJson(prmUrl);
    assert.equal(prm.status, 200, name);
    assert.equal(prm.body.resource, url, name);
    assert.deepEqual(prm.body.authorization_servers, [S.issuer], name);
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(r.status, 401, name);
    const wa = r.headers.get('www-authenticate');
    assert.match(wa, new RegExp(`^${name === 'dpop' ? 'DPoP' : 'Bearer'} `), name);
    assert.ok(wa.includes(`resource_metadata="${prmUrl}"`), `${name}: ${wa}`);
    if (name === 'dpop') {
      assert.ok(wa.includes('algs="ES256"'));
      assert.equal(prm.body.dpop_bound_access_tokens_required, true);
      assert.deepEqual(prm.body.dpop_signing_alg_values_supported, ['ES256']);
    }
  }
});

test('dynamic registration (native, public)', async () => {
  const r = await getJson(`${S.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'interop smoke', application_type: 'native', token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      scope: 'mcp:tools offline_access',
    }),
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  client = r.body;
  assert.ok(client.client_id);
});

test('authorization code + PKCE for ts, token, MCP whoami, step-up 403', async () => {
  const a = await authorizeClient('mcp:tools offline_access', S.ts);
  assert.deepEqual(a.hops, [303, 303, 303]);
  assert.equal(a.callback.origin + a.callback.pathname, REDIRECT);
  assert.ok(a.params.code);
  assert.equal(a.params.state, a.state);
  assert.equal(a.params.iss, S.issuer);
  const t = await redeem(a, S.ts);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.token_type, 'Bearer');
  assert.equal(t.body.scope, 'mcp:tools');
  assert.ok(t.body.refresh_token, 'refresh token issued');
  tsTokens = t.body;

  const { s, who } = await whoami(S.ts, bearer(tsTokens.access_token));
  assert.equal(who.sub, 'interop-user');
  assert.equal(who.client_id, client.client_id);
  assert.equal(who.scope, 'mcp:tools');
  assert.equal(toolText(await s.call('echo', { text: 'hi' })), 'hi');
  const adm = await s.call('admin_action');
  assert.equal(adm.status, 403);
  const wa = adm.headers.get('www-authenticate');
  assert.match(wa, /^Bearer error="insufficient_scope", scope="mcp:tools mcp:admin", resource_metadata="/);
  summary.push('ts: auth code + PKCE, initialize, whoami, echo, step-up 403 ok');
});

test('loopback port may vary for native clients; scope restriction gives invalid_scope', async () => {
  const other = 'http://127.0.0.1:54111/callback';
  const a = await authorize({ clientId: client.client_id, redirectUri: other, scope: 'mcp:tools', resource: S.ts });
  assert.equal(a.callback.origin, 'http://127.0.0.1:54111');
  assert.ok(a.params.code);
  // static native confidential client registered with port-less http://127.0.0.1/callback
  const conf = 'http://127.0.0.1:50123/callback';
  const c = await authorize({ clientId: 'interop-confidential', redirectUri: conf, scope: 'mcp:tools mcp:admin', resource: S.ts });
  assert.ok(c.params.code, JSON.stringify(c.params));
  const ct = await token({ grant_type: 'authorization_code', code: c.params.code, redirect_uri: conf, code_verifier: c.verifier, resource: S.ts }, { basic: ['interop-confidential', 'interop-secret'] });
  assert.equal(ct.status, 200, JSON.stringify(ct.body));
  assert.equal(ct.body.scope, 'mcp:tools mcp:admin');
  assert.ok(ct.body.refresh_token);
  const bad = await authorizeClient('mcp:tools mcp:admin', S.ts);
  assert.equal(bad.params.error, 'invalid_scope');
  assert.equal(bad.params.iss, S.issuer);
});

test('token for ts is refused at py; py with its own token', async () => {
  const wrong = await fetch(S.py, {
    method: 'POST',
    headers: { authorization: `Bearer ${tsTokens.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '0' } } }),
  });
  assert.equal(wrong.status, 401);
  const t = await redeem(await authorizeClient('mcp:tools offline_access', S.py), S.py);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  pyTokens = t.body;
  const { s, who } = await whoami(S.py, bearer(pyTokens.access_token));
  assert.equal(who.sub, 'interop-user');
  assert.equal(who.client_id, client.client_id);
  assert.equal(toolText(await s.call('echo', { text: 'py' })), 'py');
  summary.push('py: auth code, initialize, whoami, echo ok; ts token refused at py');
});

test('refresh token rotation', async () => {
  const r = await refresh(tsTokens.refresh_token, S.ts);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.refresh_token && r.body.refresh_token !== tsTokens.refresh_token, 'rotated');
  tsTokens = r.body;
  const s = mcpSession(S.ts, bearer(tsTokens.access_token));
  await s.initialize();
});

test('client credentials: interop-confidential for py, interop-jwt (private_key_jwt, aud=issuer) for ts', async () => {
  const c = await token({ grant_type: 'client_credentials', resource: S.py }, { basic: ['interop-confidential', 'interop-secret'] });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(c.body.scope, 'mcp:tools');
  const { who } = await whoami(S.py, bearer(c.body.access_token));
  assert.equal(who.client_id, 'interop-confidential');

  const key = crypto.createPrivateKey(fs.readFileSync(path.join(HERE, 'keys', 'interop-jwt.pem')));
  const assertion = await new jose.SignJWT({})
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('interop-jwt').setSubject('interop-jwt').setAudience(S.issuer)
    .setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('60s')
    .sign(key);
  const j = await token({
    grant_type: 'client_credentials', resource: S.ts, scope: 'mcp:tools mcp:admin', client_id: 'interop-jwt',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
  });
  assert.equal(j.status, 200, JSON.stringify(j.body));
  assert.equal(j.body.scope, 'mcp:tools mcp:admin');
  const s2 = mcpSession(S.ts, bearer(j.body.access_token));
  await s2.initialize();
  const adm = await s2.call('admin_action');
  assert.equal(adm.status, 200);
  assert.equal(toolText(adm), 'admin action performed');
  summary.push('client_credentials: basic (py) and private_key_jwt aud=issuer (ts, admin_action ok)');
});

test('DPoP-bound token at dpop; Bearer refused at dpop; DPoP token refused as Bearer at ts', async () => {
  const keys = await jose.generateKeyPair('ES256');
  const t = await redeem(await authorizeClient('mcp:tools', S.dpop), S.dpop, { dpopKeys: keys });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.token_type, 'DPoP');
  const { who } = await whoami(S.dpop, dpopAuth(t.body.access_token, keys));
  assert.equal(who.sub, 'interop-user');

  const asBearer = mcpSession(S.dpop, bearer(t.body.access_token));
  const r = await asBearer.post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^DPoP /);

  const otherKeys = await jose.generateKeyPair('ES256');
  const wrongKey = await mcpSession(S.dpop, dpopAuth(t.body.access_token, otherKeys)).post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
  assert.equal(wrongKey.status, 401);

  // a DPoP-bound token for ts, presented as Bearer, must be refused (RFC 9449 §7.1)
  const t2 = await redeem(await authorizeClient('mcp:tools', S.ts), S.ts, { dpopKeys: keys });
  assert.equal(t2.body.token_type, 'DPoP');
  const r2 = await mcpSession(S.ts, bearer(t2.body.access_token)).post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
  assert.equal(r2.status, 401);
  summary.push('dpop: DPoP-bound token ok, Bearer / wrong key refused; DPoP token refused as Bearer at ts');
});

test('control: /log and /stats', async () => {
  const logR = await getJson(`${S.control}/log`);
  assert.equal(logR.status, 200);
  const entries = logR.body;
  const raw = JSON.stringify(entries);
  for (const s of secrets) assert.ok(!raw.includes(s), 'log must not contain token values');
  const servers = new Set(entries.map((e) => e.server));
  for (const s of ['as', 'ts', 'py', 'dpop']) assert.ok(servers.has(s), `log has ${s}`);
  for (const e of entries) {
    for (const k of ['server', 'method', 'path', 'status', 'grant_type', 'auth_scheme', 'rpc_method', 't']) assert.ok(k in e, `${k} in ${JSON.stringify(e)}`);
  }
  assert.ok(entries.some((e) => e.server === 'as' && e.path === '/token' && e.grant_type === 'refresh_token' && e.status === 200));
  assert.ok(entries.some((e) => e.server === 'py' && e.rpc_method === 'tools/call' && e.auth_scheme === 'Bearer' && e.status === 200));
  assert.ok(entries.some((e) => e.server === 'dpop' && e.auth_scheme === 'DPoP' && e.rpc_method === 'initialize' && e.status === 200));
  assert.ok(entries.some((e) => e.server === 'ts' && e.rpc_method === 'tools/call' && e.status === 403));
  for (let i = 1; i < entries.length; i += 1) assert.ok(entries[i].t >= entries[i - 1].t, 'ordered');

  const st = (await getJson(`${S.control}/stats`)).body;
  assert.equal(st.registrations, 1);
  assert.equal(st.authorizations, 6, JSON.stringify(st)); // ts, port-variant, confidential, py, dpop, dpop-for-ts (invalid_scope is not one)
  assert.equal(st.token_by_grant.authorization_code, 5);
  assert.equal(st.token_by_grant.refresh_token, 1);
  assert.equal(st.token_by_grant.client_credentials, 2);
  summary.push(`log: ${entries.length} entries; stats: ${JSON.stringify(st)}`);

  assert.equal((await getJson(`${S.control}/reset`, { method: 'POST' })).status, 200);
  assert.deepEqual((await getJson(`${S.control}/log`)).body, []);
  assert.deepEqual((await getJson(`${S.control}/stats`)).body, { registrations: 0, authorizations: 0, token_by_grant: {} });
});

test('control: /revoke-access keeps refresh tokens, /revoke kills everything', async () => {
  const call = (tok) => mcpSession(S.ts, bearer(tok)).post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
  assert.equal((await call(tsTokens.access_token)).status, 200);
  assert.equal((await getJson(`${S.control}/revoke-access`, { method: 'POST' })).status, 200);
  assert.equal((await call(tsTokens.access_token)).status, 401);
  const r = await refresh(tsTokens.refresh_token, S.ts);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  tsTokens = r.body;
  assert.equal((await call(tsTokens.access_token)).status, 200);
  assert.equal((await getJson(`${S.control}/revoke`, { method: 'POST' })).status, 200);
  assert.equal((await call(tsTokens.access_token)).status, 401);
  const dead = await refresh(tsTokens.refresh_token, S.ts);
  assert.equal(dead.status, 400);
  assert.equal(dead.body.error, 'invalid_grant');
  // a fresh authorization still works after /revoke
  const a = await authorizeClient('mcp:tools', S.ts);
  assert.ok(a.params.code, JSON.stringify(a.params));
  summary.push('revoke-access / revoke ok');
});
