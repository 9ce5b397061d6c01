#!/usr/bin/env node
// Real-server interop stack for mcp-oauth tests.
//
//   node interop/stack.mjs [--access-ttl SECONDS] [--refresh-ttl SECONDS]
//
// Starts, on 127.0.0.1 with ephemeral ports:
//   as      - oidc-provider (certified OpenID provider) with an automatic interaction handler
//   ts      - official TypeScript MCP SDK server behind the SDK's requireBearerAuth
//   py      - official Python MCP SDK 2.x server (child process, interop/py_server.py)
//   dpop    - TS SDK MCP transport behind a DPoP-only auth middleware (jose)
//   control - /log, /reset, /revoke, /revoke-access, /stats
// and prints exactly one JSON line on stdout once everything answers. All logs go to stderr.
// Exits (killing the Python child) when stdin closes or on SIGTERM/SIGINT.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import querystring from 'node:querystring';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import express from 'express';
import * as jose from 'jose';
import Provider, { errors as oidcErrors } from 'oidc-provider';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const T0 = Date.now();
const log = (...a) => console.error('[stack]', ...a);

// ---------------------------------------------------------------- args
function parseArgs(argv) {
  const out = { accessTtl: 3600, refreshTtl: 86400, loginPages: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const [k, inline] = a.includes('=') ? a.split(/=(.*)/s, 2) : [a, undefined];
    const val = () => {
      const v = inline ?? argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${k} needs a positive integer, got ${v}`);
      return n;
    };
    if (k === '--access-ttl') out.accessTtl = val();
    else if (k === '--refresh-ttl') out.refreshTtl = val();
    else if (k === '--login-pages') out.loginPages = true;
    else if (k === '-h' || k === '--help') {
      console.error('usage: node stack.mjs [--access-ttl SECONDS] [--refresh-ttl SECONDS] [--login-pages]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return out;
}
const ARGS = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- request log + stats
let requestLog = [];
let stats = { registrations: 0, authorizations: 0, token_by_grant: {} };
function resetLog() {
  requestLog = [];
  stats = { registrations: 0, authorizations: 0, token_by_grant: {} };
}
function record(entry) {
  requestLog.push(entry);
  if (entry.server === 'as') {
    if (entry.method === 'POST' && entry.path === '/reg' && entry.status === 201) stats.registrations += 1;
    if (entry.method === 'POST' && entry.path === '/token' && entry.status === 200 && entry.grant_type) {
      stats.token_by_grant[entry.grant_type] = (stats.token_by_grant[entry.grant_type] ?? 0) + 1;
    }
  }
}
function authScheme(req) {
  const h = req.headers.authorization;
  if (!h) return null;
  const s = h.split(' ')[0];
  return s ? s : null;
}
function rpcMethodOf(body) {
  if (!body || typeof body !== 'object') return null;
  if (Array.isArray(body)) return body.length && typeof body[0]?.method === 'string' ? body[0].method : null;
  return typeof body.method === 'string' ? body.method : null;
}
// Records one entry per request when the response is done (or the connection closed).
function logRequests(server, extra = () => ({})) {
  return (req, res) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      record({
        server,
        method: req.method,
        path: (req.originalUrl ?? req.url).split('?')[0],
        status: res.statusCode,
        grant_type: null,
        auth_scheme: authScheme(req),
        rpc_method: null,
        ...extra(req, res),
        t: Date.now(),
      });
    };
    res.on('finish', finish);
    res.on('close', finish);
  };
}

// ---------------------------------------------------------------- listen helpers
function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

const asServer = http.createServer();
const tsServer = http.createServer();
const dpopServer = http.createServer();
const controlServer = http.createServer();
const [asPort, tsPort, dpopPort, controlPort] = await Promise.all(
  [asServer, tsServer, dpopServer, controlServer].map(listen),
);
const ISSUER = `http://127.0.0.1:${asPort}`;
const TS_URL = `http://127.0.0.1:${tsPort}/mcp`;
const DPOP_URL = `http://127.0.0.1:${dpopPort}/mcp`;
const CONTROL_URL = `http://127.0.0.1:${controlPort}`;
let PY_URL = null; // learnt from the child
const RS_SCOPE = 'mcp:tools mcp:admin';
const resourceServers = () => new Set([TS_URL, DPOP_URL, PY_URL].filter(Boolean));

// ---------------------------------------------------------------- python child (started early, in parallel)
const venvPython = path.join(HERE, '.venv', 'bin', 'python');
if (!fs.existsSync(venvPython)) {
  log(`missing ${venvPython}; run interop/setup.sh first`);
  process.exit(1);
}
const py = spawn(venvPython, [path.join(HERE, 'py_server.py')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...process.env,
    PYTHONUNBUFFERED: '1',
    INTEROP_ISSUER: ISSUER,
    INTEROP_INTROSPECTION: `${ISSUER}/token/introspection`,
    INTEROP_RS_CLIENT_ID: 'interop-rs',
    INTEROP_RS_CLIENT_SECRET: 'interop-rs-secret',
  },
});
let shuttingDown = false;
const pyReady = new Promise((resolve, reject) => {
  py.once('exit', (code, sig) => {
    if (!shuttingDown) {
      log(`python server exited (code ${code}, signal ${sig})`);
      reject(new Error('python server exited'));
      shutdown(1);
    }
  });
  py.once('error', reject);
  readline.createInterface({ input: py.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { log('[py stdout]', line); return; }
    if (msg.ready) { PY_URL = msg.ready; resolve(msg.ready); }
    else if (msg.log) record({ server: 'py', grant_type: null, auth_scheme: null, rpc_method: null, ...msg.log });
  });
});

// ---------------------------------------------------------------- oidc-provider adapter (enumerable in-memory store)
const store = new Map(); // key `${model}:${id}` -> { payload, exp(ms)|undefined }
const alive = (e) => e && (e.exp === undefined || e.exp > Date.now());
class InteropAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, exp: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined });
  }
  async find(id) {
    const e = store.get(this.key(id));
    if (!alive(e)) { store.delete(this.key(id)); return undefined; }
    return e.payload;
  }
  async findByUid(uid) {
    for (const [k, e] of store) if (k.startsWith(`${this.model}:`) && alive(e) && e.payload.uid === uid) return e.payload;
    return undefined;
  }
  async findByUserCode(userCode) {
    for (const [k, e] of store) if (k.startsWith(`${this.model}:`) && alive(e) && e.payload.userCode === userCode) return e.payload;
    return undefined;
  }
  async consume(id) {
    const e = store.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const [k, e] of store) if (e.payload?.grantId === grantId) store.delete(k);
  }
}
function destroyModels(models) {
  let n = 0;
  for (const k of [...store.keys()]) {
    if (models.includes(k.slice(0, k.indexOf(':')))) { store.delete(k); n += 1; }
  }
  return n;
}

// ---------------------------------------------------------------- oidc-provider
const jwtPem = fs.readFileSync(path.join(HERE, 'keys', 'interop-jwt.pem'));
const jwtPublicJwk = crypto.createPublicKey(crypto.createPrivateKey(jwtPem)).export({ format: 'jwk' });
const ACCOUNT = 'interop-user';
const LOOPBACK_CALLBACK = 'http://127.0.0.1/callback';

const provider = new Provider(ISSUER, {
  adapter: InteropAdapter,
  clients: [
    {
      client_id: 'interop-confidential',
      client_secret: 'interop-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      // native => oidc-provider lets the loopback port vary (RFC 8252 §7.3)
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
    },
    {
      client_id: 'interop-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [{ ...jwtPublicJwk, use: 'sig', alg: 'ES256', kid: 'interop-jwt' }] },
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
    },
    {
      client_id: 'interop-rs',
      client_secret: 'interop-rs-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'mcp:tools', 'mcp:admin'],
  claims: { openid: ['sub'] },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['interop-cookie-key-not-secret'] },
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false },
    dPoP: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // resource servers (confidential clients) may introspect anything; public clients only their own tokens
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (!resourceServers().has(resourceIndicator)) throw new oidcErrors.InvalidTarget();
        return {
          scope: RS_SCOPE,
          audience: resourceIndicator,
          accessTokenTTL: ARGS.accessTtl,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
  ttl: {
    AccessToken: ARGS.accessTtl,
    ClientCredentials: ARGS.accessTtl,
    RefreshToken: ARGS.refreshTtl,
    Grant: Math.max(ARGS.refreshTtl, 14 * 24 * 3600),
  },
  rotateRefreshToken: true,
  // default: grantTypeAllowed('refresh_token') && scopes.has('offline_access') -- see README
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // tokens outlive the (headless) browser session
  expiresWithSession: async () => false,
});

provider.on('authorization.success', (ctx) => {
  if (ctx.oidc?.params?.response_type?.includes('code')) stats.authorizations += 1;
});
provider.on('server_error', (_ctx, err) => log('AS server_error', err));

// With --login-pages a person (or a browser driven like one) signs in on an
// HTML form and approves on a consent page; the password is the account
// name reversed. Without, the interaction is automatic.
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>`
  + `<body><h1>${title}</h1>${body}</body></html>`;
const escapeHtml = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formFields(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

async function loginPages(req, res, url) {
  const uid = url.pathname.split('/')[2];
  const html = (status, body) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  };
  if (req.method === 'GET') {
    const details = await provider.interactionDetails(req, res);
    stats.loginPagesShown = (stats.loginPagesShown ?? 0) + 1;
    return html(200, page('Sign in', `<p>Client ${escapeHtml(details.params.client_id)} asks for `
      + `${escapeHtml(details.params.scope ?? '')}.</p><form method="post" action="/interaction/${uid}/login">`
      + '<label>User <input name="login" id="login" autocomplete="username"></label>'
      + '<label>Password <input name="password" id="password" type="password"></label>'
      + '<button type="submit" id="sign-in">Sign in</button></form>'));
  }
  if (req.method === 'POST' && url.pathname.endsWith('/login')) {
    const { login, password } = await formFields(req);
    if (login !== ACCOUNT || password !== [...ACCOUNT].reverse().join('')) {
      return html(401, page('Sign in', '<p id="error">Wrong user or password.</p>'));
    }
    stats.signIns = (stats.signIns ?? 0) + 1;
    return html(200, page('Approve', `<form method="post" action="/interaction/${uid}/consent">`
      + '<button type="submit" id="approve">Approve</button></form>'));
  }
  if (req.method === 'POST' && url.pathname.endsWith('/consent')) {
    stats.consents = (stats.consents ?? 0) + 1;
    return interaction(req, res);
  }
  return html(404, page('Not found', ''));
}

// Automatic interaction: log in interop-user and grant everything that was asked for.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { params, prompt, grantId } = details;
    if (process.env.INTEROP_DEBUG) log('interaction', prompt.name, JSON.stringify(prompt.reasons), JSON.stringify(prompt.details), grantId);
    const clientId = params.client_id;
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: ACCOUNT, clientId });
    const requested = new Set(String(params.scope ?? '').split(' ').filter(Boolean));
    const rsScopes = new Set(RS_SCOPE.split(' '));
    // every scope listed in `scopes` (mcp:* included) is also an "OIDC scope" to oidc-provider; grant all requested
    const oidcScopes = [...requested];
    const resScopes = [...requested].filter((s) => rsScopes.has(s));
    for (const s of prompt.details?.missingOIDCScope ?? []) oidcScopes.push(s);
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    for (const c of prompt.details?.missingOIDCClaims ?? []) grant.addOIDCClaims([c]);
    const resources = [params.resource ?? []].flat();
    for (const r of resources) if (resScopes.length) grant.addResourceScope(r, resScopes.join(' '));
    for (const [r, scopes] of Object.entries(prompt.details?.missingResourceScopes ?? {})) {
      grant.addResourceScope(r, scopes.join(' '));
    }
    const newGrantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId: ACCOUNT },
      consent: { grantId: newGrantId },
    }, { mergeWithLastSubmission: false });
  } catch (err) {
    log('interaction error', err);
    if (!res.headersSent) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'interaction_failed', error_description: String(err.message ?? err) }));
    }
  }
}

const providerCallback = provider.callback();
asServer.on('request', async (req, res) => {
  const url = new URL(req.url, ISSUER);
  let grantType = null;
  logRequests('as', () => ({ grant_type: grantType }))(req, res);
  try {
    if (ARGS.loginPages && url.pathname.startsWith('/interaction/')) {
      await loginPages(req, res, url);
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
      await interaction(req, res);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/token'
      && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      // Pre-read the form (oidc-provider then uses req.body) to learn grant_type for the log and to
      // default client_credentials scope to mcp:tools.
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = querystring.parse(Buffer.concat(chunks).toString('utf8'));
      grantType = typeof body.grant_type === 'string' ? body.grant_type : null;
      if (grantType === 'client_credentials' && !body.scope) body.scope = 'mcp:tools';
      req.body = body;
    }
  } catch (err) {
    log('AS pre-processing error', err);
  }
  providerCallback(req, res);
});

// ---------------------------------------------------------------- token introspection (as interop-rs)
const INTROSPECTION = `${ISSUER}/token/introspection`;
const RS_BASIC = `Basic ${Buffer.from('interop-rs:interop-rs-secret').toString('base64')}`;
async function introspect(token) {
  const r = await fetch(INTROSPECTION, {
    method: 'POST',
    headers: { authorization: RS_BASIC, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  if (!r.ok) throw new Error(`introspection HTTP ${r.status}`);
  return r.json();
}
// Returns the introspection result when the token is usable at `resource`, else a string reason.
async function checkToken(token, resource) {
  const data = await introspect(token);
  if (!data.active) return 'token is not active';
  const aud = [data.aud ?? []].flat();
  if (!aud.includes(resource)) return 'token was not issued for this resource';
  if (typeof data.exp !== 'number' || data.exp <= Date.now() / 1000) return 'token has expired';
  return data;
}
function authInfoFrom(token, data, resource) {
  return {
    token,
    clientId: data.client_id,
    scopes: String(data.scope ?? '').split(' ').filter(Boolean),
    expiresAt: data.exp,
    resource: new URL(resource),
    extra: { sub: data.sub ?? null, scheme: data.cnf?.jkt ? 'DPoP' : 'Bearer' },
  };
}

// ---------------------------------------------------------------- MCP servers (shared tool set)
function buildMcpServer(name) {
  const server = new McpServer({ name: `interop-${name}`, version: '1.0.0' });
  server.registerTool('whoami', { description: 'Describe the access token used for this call' }, async (extra) => {
    const a = extra.authInfo;
    const out = { sub: a?.extra?.sub ?? null, client_id: a?.clientId ?? null, scope: a?.scopes?.join(' ') ?? null, server: name };
    return { content: [{ type: 'text', text: JSON.stringify(out) }] };
  });
  server.registerTool('echo', { description: 'Echo the text back', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('admin_action', { description: 'Needs scope mcp:admin' }, async (extra) => {
    if (!extra.authInfo?.scopes?.includes('mcp:admin')) {
      return { isError: true, content: [{ type: 'text', text: 'insufficient_scope: mcp:admin required' }] };
    }
    return { content: [{ type: 'text', text: 'admin action performed' }] };
  });
  return server;
}

// Stateful streamable HTTP (session ids), one McpServer per session.
function mcpHandlers(name) {
  const transports = new Map();
  const handle = async (req, res) => {
    try {
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? transports.get(sid) : undefined;
      if (!transport) {
        if (sid || req.method !== 'POST' || !isInitializeRequest(req.body)) {
          res.status(sid ? 404 : 400).json({
            jsonrpc: '2.0',
            error: { code: -32000, message: sid ? 'Session not found' : 'Bad Request: no valid session id' },
            id: null,
          });
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          onsessioninitialized: (id) => transports.set(id, transport),
        });
        transport.onclose = () => { if (transport.sessionId) transports.delete(transport.sessionId); };
        await buildMcpServer(name).connect(transport);
      }
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      log(`${name} MCP error`, err);
      if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  };
  return handle;
}

const oauthMetadataFor = () => ({
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/auth`,
  token_endpoint: `${ISSUER}/token`,
  response_types_supported: ['code'],
});

function baseApp(name) {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    logRequests(name, () => ({ rpc_method: req.method === 'POST' ? rpcMethodOf(req.body) : null }))(req, res);
    next();
  });
  app.use('/mcp', express.json({ limit: '4mb' }));
  return app;
}

// ---- ts: SDK requireBearerAuth + SDK metadata router + step-up middleware
{
  const app = baseApp('ts');
  const prmUrl = getOAuthProtectedResourceMetadataUrl(new URL(TS_URL));
  app.use(mcpAuthMetadataRouter({
    oauthMetadata: oauthMetadataFor(),
    resourceServerUrl: new URL(TS_URL),
    scopesSupported: ['mcp:tools', 'mcp:admin'],
    resourceName: 'interop ts (TypeScript SDK)',
  }));
  const verifier = {
    async verifyAccessToken(token) {
      let data;
      try { data = await checkToken(token, TS_URL); } catch (err) { throw new InvalidTokenError(`introspection failed: ${err.message}`); }
      if (typeof data === 'string') throw new InvalidTokenError(data);
      if (data.cnf?.jkt) throw new InvalidTokenError('DPoP-bound token presented as Bearer');
      return authInfoFrom(token, data, TS_URL);
    },
  };
  const stepUp = (req, res, next) => {
    const msgs = [req.body].flat();
    const needsAdmin = msgs.some((m) => m?.method === 'tools/call' && m?.params?.name === 'admin_action');
    if (needsAdmin && !req.auth?.scopes?.includes('mcp:admin')) {
      res.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${RS_SCOPE}", resource_metadata="${prmUrl}", error_description="admin_action requires mcp:admin"`);
      res.status(403).json({ error: 'insufficient_scope', error_description: 'admin_action requires mcp:admin' });
      return;
    }
    next();
  };
  // requiredScopes: its 401 names scope="mcp:tools" (what a server that needs
  // only that for most tools says), so admin_action is a real step-up.
  app.all('/mcp', requireBearerAuth({ verifier, resourceMetadataUrl: prmUrl, requiredScopes: ['mcp:tools'] }), stepUp, mcpHandlers('ts'));
  tsServer.on('request', app);
}

// ---- dpop: own DPoP-only middleware (jose) in front of the SDK transport
{
  const app = baseApp('dpop');
  const prmUrl = getOAuthProtectedResourceMetadataUrl(new URL(DPOP_URL));
  const prm = {
    resource: DPOP_URL,
    authorization_servers: [ISSUER],
    scopes_supported: ['mcp:tools', 'mcp:admin'],
    bearer_methods_supported: ['header'],
    resource_name: 'interop dpop (DPoP required)',
    dpop_bound_access_tokens_required: true,
    dpop_signing_alg_values_supported: ['ES256'],
  };
  app.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => res.json(prm));
  const seenJti = new Map(); // jti -> expiry ms
  const fail = (res, status, error, description) => {
    const parts = ['algs="ES256"'];
    if (error) parts.push(`error="${error}"`, `error_description="${description}"`);
    parts.push(`resource_metadata="${prmUrl}"`);
    res.set('WWW-Authenticate', `DPoP ${parts.join(', ')}`);
    res.status(status).json(error ? { error, error_description: description } : { error: 'invalid_token', error_description: description });
  };
  const requireDpop = async (req, res, next) => {
    try {
      const h = req.headers.authorization ?? '';
      const m = /^DPoP\s+(\S+)$/i.exec(h);
      if (!m) return fail(res, 401, h ? 'invalid_token' : null, h ? 'DPoP authorization scheme required' : 'missing DPoP access token');
      const token = m[1];
      const proof = req.headers.dpop;
      if (!proof || Array.isArray(proof) || proof.includes(',')) return fail(res, 401, 'invalid_dpop_proof', 'exactly one DPoP proof required');
      let header;
      let payload;
      try {
        header = jose.decodeProtectedHeader(proof);
        if (header.typ !== 'dpop+jwt') throw new Error('typ must be dpop+jwt');
        if (header.alg !== 'ES256') throw new Error('alg must be ES256');
        if (!header.jwk || header.jwk.d) throw new Error('jwk header must hold a public key');
        const key = await jose.importJWK(header.jwk, 'ES256');
        ({ payload } = await jose.jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: ['ES256'] }));
      } catch (err) {
        return fail(res, 401, 'invalid_dpop_proof', `bad DPoP proof: ${err.message}`);
      }
      const htu = `http://127.0.0.1:${dpopPort}${req.originalUrl.split('?')[0]}`;
      const now = Date.now() / 1000;
      const ath = jose.base64url.encode(crypto.createHash('sha256').update(token).digest());
      if (payload.htm !== req.method) return fail(res, 401, 'invalid_dpop_proof', 'htm mismatch');
      if (payload.htu !== htu) return fail(res, 401, 'invalid_dpop_proof', 'htu mismatch');
      if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > 60) return fail(res, 401, 'invalid_dpop_proof', 'iat not within 60s');
      if (typeof payload.jti !== 'string' || !payload.jti) return fail(res, 401, 'invalid_dpop_proof', 'jti missing');
      for (const [j, exp] of seenJti) if (exp < Date.now()) seenJti.delete(j);
      if (seenJti.has(payload.jti)) return fail(res, 401, 'invalid_dpop_proof', 'jti replayed');
      seenJti.set(payload.jti, Date.now() + 130_000);
      if (payload.ath !== ath) return fail(res, 401, 'invalid_dpop_proof', 'ath mismatch');
      let data;
      try { data = await checkToken(token, DPOP_URL); } catch (err) { return fail(res, 401, 'invalid_token', `introspection failed: ${err.message}`); }
      if (typeof data === 'string') return fail(res, 401, 'invalid_token', data);
      const jkt = await jose.calculateJwkThumbprint(header.jwk, 'sha256');
      if (!data.cnf?.jkt) return fail(res, 401, 'invalid_token', 'token is not DPoP-bound');
      if (data.cnf.jkt !== jkt) return fail(res, 401, 'invalid_token', 'DPoP key does not match token cnf.jkt');
      req.auth = authInfoFrom(token, data, DPOP_URL);
      return next();
    } catch (err) {
      log('dpop auth error', err);
      return fail(res, 500, 'server_error', 'internal error');
    }
  };
  app.all('/mcp', requireDpop, mcpHandlers('dpop'));
  dpopServer.on('request', app);
}

// ---------------------------------------------------------------- control
controlServer.on('request', async (req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const p = new URL(req.url, CONTROL_URL).pathname;
  try {
    if (req.method === 'GET' && p === '/log') {
      await new Promise((r) => { setTimeout(r, 30); }); // let the python child's log lines arrive
      return send(200, [...requestLog].sort((a, b) => a.t - b.t));
    }
    if (req.method === 'GET' && p === '/stats') {
      await new Promise((r) => { setTimeout(r, 30); });
      return send(200, stats);
    }
    if (req.method === 'POST' && p === '/reset') { resetLog(); return send(200, { ok: true }); }
    if (req.method === 'POST' && p === '/revoke') {
      const n = destroyModels(['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode', 'Grant', 'DeviceCode', 'BackchannelAuthenticationRequest']);
      log(`control: revoked everything (${n} entries)`);
      return send(200, { ok: true, destroyed: n });
    }
    if (req.method === 'POST' && p === '/revoke-access') {
      const n = destroyModels(['AccessToken', 'ClientCredentials']);
      log(`control: revoked access tokens (${n} entries)`);
      return send(200, { ok: true, destroyed: n });
    }
    return send(404, { error: 'not_found' });
  } catch (err) {
    return send(500, { error: String(err) });
  }
});

// ---------------------------------------------------------------- shutdown
let exiting = false;
function shutdown(code = 0) {
  if (exiting) return;
  exiting = true;
  shuttingDown = true;
  try { py.kill('SIGTERM'); } catch { /* ignore */ }
  const killTimer = setTimeout(() => { try { py.kill('SIGKILL'); } catch { /* ignore */ } process.exit(code); }, 2000);
  killTimer.unref();
  if (py.exitCode !== null || py.signalCode !== null) process.exit(code);
  py.once('exit', () => process.exit(code));
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('close', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

// ---------------------------------------------------------------- readiness
async function waitOk(url, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return r.json();
    } catch { /* retry */ }
    if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url}`);
    await new Promise((r) => { setTimeout(r, 50); });
  }
}
try {
  await Promise.race([pyReady, new Promise((_, rej) => { setTimeout(() => rej(new Error('python server did not start in 20s')), 20_000); })]);
  const prmOf = (u) => getOAuthProtectedResourceMetadataUrl(new URL(u));
  await Promise.all([
    waitOk(`${ISSUER}/.well-known/openid-configuration`, 'as'),
    waitOk(prmOf(TS_URL), 'ts'),
    waitOk(prmOf(PY_URL), 'py'),
    waitOk(prmOf(DPOP_URL), 'dpop'),
  ]);
} catch (err) {
  log('startup failed:', err.message);
  shutdown(1);
  await new Promise(() => {});
}
resetLog();
log(`ready in ${Date.now() - T0} ms (access-ttl ${ARGS.accessTtl}s, refresh-ttl ${ARGS.refreshTtl}s)`);
process.stdout.write(`${JSON.stringify({ issuer: ISSUER, ts: TS_URL, py: PY_URL, dpop: DPOP_URL, control: CONTROL_URL })}\n`);
