#!/usr/bin/env node
// Reference client: the official TypeScript MCP SDK's *own* client-side OAuth,
// driven the way its docs/examples describe, so its behaviour and request counts
// can be compared with mcp-oauth against the same servers (see stack.mjs).
//
//   node interop/ts-client.mjs [--state FILE] [--call TOOL [--repeat N]]
//                              [--client-credentials ID:SECRET [--issuer URL]]
//                              [--minimal-provider] <mcp-url>
//
// Authorization-code flow: Client + StreamableHTTPClientTransport with an
// OAuthClientProvider (DCR as a native public client, PKCE). The provider's
// redirectToAuthorization() plays a headless user agent: it follows the
// authorization URL (redirect: 'manual', cookie jar) until it reaches our
// redirect URI and keeps the code; we then call transport.finishAuth(code) and
// retry, as the SDK example (simpleOAuthClient) does. Nothing listens on the
// redirect URI; it only has to be stable across runs because it is registered.
//
// Client credentials: the SDK's built-in ClientCredentialsProvider
// (@modelcontextprotocol/sdk/client/auth-extensions.js), used as in its
// simpleClientCredentials example; it keeps tokens in memory only.
//
// Everything else (when to refresh, step-up on 403 insufficient_scope,
// re-registration) is left to the SDK. The provider only stores what it is
// given. --minimal-provider omits the optional invalidateCredentials() hook
// (the SDK example's InMemoryOAuthClientProvider has none) to show the
// difference it makes.
//
// --repeat N (bench-compare.mjs, the steady state): after connecting and
// listing the tools once, calls TOOL N times one after the other on the same
// Client and transport, each call timed; the JSON line gets
// "repeat": {"call_us": [µs of each call], "cpu_us": CPU time (user + sys,
// all threads) over the N calls, "vm_hwm_kib": the process's peak RSS}.
//
// stdout: exactly one JSON line
//   {"ok":true,"tools":[...],"call":<text|null>,"error":null,...}
//   {"ok":false,"error":"..."}  (exit 1)
// Tokens are never printed (error texts are scrubbed of stored secrets).

import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

// The SDK or its deps must not write to stdout: it carries our one JSON line.
console.log = (...a) => console.error(...a);
console.info = (...a) => console.error(...a);

const REDIRECT_URL = 'http://127.0.0.1:53682/callback';
const MAX_AUTH_ROUNDS = 3;
const MAX_UA_HOPS = 20;

function parseArgs(argv) {
  const o = { state: null, call: null, repeat: 0, cc: null, issuer: null, minimal: false, url: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--state') o.state = val();
    else if (a === '--call') o.call = val();
    else if (a === '--repeat') o.repeat = Number(val());
    else if (a === '--client-credentials') o.cc = val();
    else if (a === '--issuer') o.issuer = val();
    else if (a === '--minimal-provider') o.minimal = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else if (o.url) throw new Error('only one <mcp-url> expected');
    else o.url = a;
  }
  if (!o.url) throw new Error('usage: ts-client.mjs [--state FILE] [--call TOOL] [--client-credentials ID:SECRET [--issuer URL]] <mcp-url>');
  if (o.cc && !o.cc.includes(':')) throw new Error('--client-credentials expects ID:SECRET');
  if (o.repeat !== 0 && !(Number.isInteger(o.repeat) && o.repeat > 0 && o.call)) throw new Error('--repeat needs a positive integer and --call');
  return o;
}

// ---------------------------------------------------------------- state file

function loadState(file) {
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return {};
    throw new Error(`cannot read state file ${file}: ${e.message}`);
  }
}

function saveState(file, state) {
  if (!file) return;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

// ------------------------------------------------------ headless user agent

class CookieJar {
  constructor() {
    this.byHost = new Map(); // host -> Map(name -> value); paths ignored (harmless here)
  }
  store(url, response) {
    const host = new URL(url).host;
    const jar = this.byHost.get(host) ?? new Map();
    for (const line of response.headers.getSetCookie?.() ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some(x => {
        const [k, v = ''] = x.split('=').map(s => s.trim());
        if (/^max-age$/i.test(k)) return Number(v) <= 0;
        if (/^expires$/i.test(k)) return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    this.byHost.set(host, jar);
  }
  header(url) {
    const jar = this.byHost.get(new URL(url).host);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function isRedirectTarget(url) {
  const u = new URL(url);
  const r = new URL(REDIRECT_URL);
  return u.origin === r.origin && u.pathname === r.pathname;
}

/** Follow an authorization URL like a browser with an already-consenting user; return the redirect's query. */
async function followAuthorization(authorizationUrl) {
  const jar = new CookieJar();
  let url = String(authorizationUrl);
  for (let hop = 0; hop < MAX_UA_HOPS; hop++) {
    if (isRedirectTarget(url)) return new URL(url).searchParams;
    const headers = { accept: 'text/html' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(url, { redirect: 'manual', headers });
    jar.store(url, res);
    const location = res.headers.get('location');
    await res.body?.cancel();
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).href;
      continue;
    }
    throw new Error(`authorization did not redirect back: HTTP ${res.status} at ${new URL(url).pathname}`);
  }
  throw new Error('authorization: too many redirects');
}

// ------------------------------------------------- the OAuthClientProvider

class FileOAuthProvider {
  constructor(stateFile, { minimal }) {
    this.stateFile = stateFile;
    this.store = loadState(stateFile);
    this.pendingCode = null;
    if (!minimal) {
      // Optional hook of the interface: lets the SDK drop credentials it found to be bad.
      this.invalidateCredentials = scope => {
        if (scope === 'all' || scope === 'client') delete this.store.clientInformation;
        if (scope === 'all' || scope === 'tokens') delete this.store.tokens;
        if (scope === 'all' || scope === 'verifier') delete this.store.codeVerifier;
        this.persist();
      };
    }
  }
  persist() {
    saveState(this.stateFile, this.store);
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: 'ts-sdk interop client',
      application_type: 'native',
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    };
  }
  clientInformation() {
    return this.store.clientInformation;
  }
  saveClientInformation(info) {
    this.store.clientInformation = info;
    this.persist();
  }
  tokens() {
    return this.store.tokens;
  }
  saveTokens(tokens) {
    this.store.tokens = tokens;
    this.persist();
  }
  async redirectToAuthorization(authorizationUrl) {
    const params = await followAuthorization(authorizationUrl);
    const error = params.get('error');
    if (error) {
      throw new Error(`authorization failed: ${error}${params.get('error_description') ? ` (${params.get('error_description')})` : ''}`);
    }
    const code = params.get('code');
    if (!code) throw new Error('authorization redirect carried no code');
    this.pendingCode = code;
  }
  saveCodeVerifier(verifier) {
    this.store.codeVerifier = verifier;
    this.persist();
  }
  codeVerifier() {
    if (!this.store.codeVerifier) throw new Error('No code verifier saved');
    return this.store.codeVerifier;
  }
  takeCode() {
    const c = this.pendingCode;
    this.pendingCode = null;
    return c;
  }
}

// ------------------------------------------------------------------- main

/** The peak RSS of this process (VmHWM). Not process.resourceUsage().maxRSS:
 *  getrusage's ru_maxrss starts from the parent's peak RSS when a process
 *  was forked from a larger one (as from the Node.js benchmark driver). */
function vmHwmKib() {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : null;
}

function secretsOf(provider, opts) {
  const s = [];
  const t = provider?.store?.tokens;
  if (t?.access_token) s.push(t.access_token);
  if (t?.refresh_token) s.push(t.refresh_token);
  if (provider?.store?.codeVerifier) s.push(provider.store.codeVerifier);
  const ccTokens = provider?.tokens?.();
  if (ccTokens?.access_token) s.push(ccTokens.access_token);
  if (opts?.cc) s.push(opts.cc.slice(opts.cc.indexOf(':') + 1));
  return s.filter(x => typeof x === 'string' && x.length >= 6);
}

function scrub(text, secrets) {
  let out = String(text);
  for (const s of secrets) out = out.split(s).join('[redacted]');
  // Belt and braces: anything shaped like a JWT or a Bearer credential.
  out = out.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[redacted]').replace(/(Bearer|DPoP)\s+[\w~+/.-]{20,}=*/gi, '$1 [redacted]');
  return out;
}

function describe(err) {
  if (!err) return 'unknown error';
  const parts = [`${err.name || 'Error'}: ${err.message}`];
  if (err.code !== undefined && !String(err.message).includes(String(err.code))) parts.push(`(code ${err.code})`);
  let c = err.cause;
  while (c) {
    parts.push(`<- ${c.name || 'Error'}: ${c.message}`);
    c = c.cause;
  }
  return parts.join(' ');
}

async function run(opts) {
  const serverUrl = new URL(opts.url);
  let provider;
  let userAuth = false;
  if (opts.cc) {
    const i = opts.cc.indexOf(':');
    provider = new ClientCredentialsProvider({
      clientId: opts.cc.slice(0, i),
      clientSecret: opts.cc.slice(i + 1),
      ...(opts.issuer ? { expectedIssuer: opts.issuer } : {})
    });
  } else {
    provider = new FileOAuthProvider(opts.state, { minimal: opts.minimal });
    userAuth = true;
  }
  const ctx = { provider, authRounds: 0 };

  // The SDK throws UnauthorizedError after it called redirectToAuthorization();
  // our headless agent already has the code, so finish and try again.
  const finishIfRedirected = async (err, transport) => {
    if (!(userAuth && err instanceof UnauthorizedError && provider.pendingCode)) return false;
    if (++ctx.authRounds > MAX_AUTH_ROUNDS) throw new Error(`gave up after ${MAX_AUTH_ROUNDS} authorization rounds`);
    await transport.finishAuth(provider.takeCode());
    return true;
  };

  let client;
  let transport;
  for (;;) {
    client = new Client({ name: 'ts-sdk-interop-client', version: '1.0.0' }, { capabilities: {} });
    transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
    try {
      await client.connect(transport);
      break;
    } catch (err) {
      await client.close().catch(() => {});
      if (!(await finishIfRedirected(err, transport))) throw err;
    }
  }

  const withAuth = async fn => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!(await finishIfRedirected(err, transport))) throw err;
      }
    }
  };

  try {
    const listed = await withAuth(() => client.listTools());
    const tools = listed.tools.map(t => t.name);
    let call = null;
    let callIsError = false;
    let repeat;
    if (opts.call) {
      const callOnce = () => withAuth(() => client.callTool({ name: opts.call, arguments: {} }));
      let result;
      if (opts.repeat) {
        const callUs = [];
        const cpu = process.cpuUsage();
        for (let i = 0; i < opts.repeat; i++) {
          const t0 = performance.now();
          result = await callOnce();
          callUs.push(Math.round((performance.now() - t0) * 1000));
          if (result.isError) break;
        }
        const { user, system } = process.cpuUsage(cpu);
        repeat = { call_us: callUs, cpu_us: user + system, vm_hwm_kib: vmHwmKib() };
      } else {
        result = await callOnce();
      }
      callIsError = !!result.isError;
      call = (result.content ?? [])
        .filter(c => c.type === 'text')
        .map(c => c.text)
        .join('\n');
    }
    return { ok: true, tools, call, call_is_error: callIsError, error: null, auth_rounds: ctx.authRounds, ...(repeat ? { repeat } : {}) };
  } finally {
    await client.close().catch(() => {});
  }
}

const started = Date.now();
let opts;
let out;
try {
  opts = parseArgs(process.argv.slice(2));
  out = await run(opts);
} catch (err) {
  out = { ok: false, error: describe(err) };
}
out.ms = Date.now() - started;
let secrets = [];
try {
  secrets = secretsOf(opts?.state ? { store: loadState(opts.state) } : null, opts);
} catch {
  /* ignore */
}
const line = scrub(JSON.stringify(out), secrets);
process.stdout.write(line + '\n', () => process.exit(out.ok ? 0 : 1));
