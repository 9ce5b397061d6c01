// What the interop tests share: the real-server stack (stack.mjs) started on
// loopback, its control endpoint, and the mcp-oauth CLI run as a user runs it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.dirname(HERE);

/// The CLI binary under test: $MCP_OAUTH_BIN, else the debug build that
/// `cargo test` / `cargo build -p mcp-oauth-cli` leaves.
export const CLI = process.env.MCP_OAUTH_BIN ?? path.join(REPO, 'target', 'debug', 'mcp-oauth');

/// Starts stack.mjs with `args`; resolves to { urls, stop(), log(), reset(),
/// stats(), revoke(), revokeAccess() } once every server answers.
export async function startStack(args = []) {
  const child = spawn(process.execPath, [path.join(HERE, 'stack.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let errText = '';
  child.stderr.on('data', (d) => {
    errText += d;
    if (process.env.INTEROP_VERBOSE) process.stderr.write(d);
  });
  const urls = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack did not start in 30 s:\n${errText}`)), 30_000);
    child.once('exit', (c) => reject(new Error(`stack exited with ${c}:\n${errText}`)));
    readline.createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer);
      resolve(JSON.parse(l));
    });
  });
  const control = async (method, p) => {
    const r = await fetch(`${urls.control}${p}`, { method });
    assert.equal(r.status, 200, `${method} ${p}`);
    const text = await r.text();
    return text ? JSON.parse(text) : undefined;
  };
  return {
    urls,
    log: () => control('GET', '/log'),
    stats: () => control('GET', '/stats'),
    reset: () => control('POST', '/reset'),
    revoke: () => control('POST', '/revoke'),
    revokeAccess: () => control('POST', '/revoke-access'),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
    },
  };
}

/// A fresh state directory (the CLI's --state-dir).
export function stateDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-oauth-interop-'));
}

/// The wait4 wrapper (rusage.c, built by setup.sh) that `run(…, { usage: true })`
/// measures a process with; $RUSAGE_BIN names another.
export const RUSAGE = process.env.RUSAGE_BIN ?? path.join(HERE, '.bin', 'rusage');

/// Runs `command` with `args`; resolves to { code, stdout, stderr, ms }.
/// Never rejects on a non-zero exit: the caller judges. With `usage`, the
/// command runs under RUSAGE and the result also has `usage`: { wallMs,
/// cpuMs (user + sys), userMs, sysMs, maxRssKib } of that process alone
/// (see rusage.c for why not /usr/bin/time or Node's own accounting).
export function run(command, args, { env = {}, timeoutMs = 60_000, usage = false } = {}) {
  let usageDir;
  if (usage) {
    if (!fs.existsSync(RUSAGE)) throw new Error(`${RUSAGE} is missing: run interop/setup.sh (it needs a C compiler)`);
    usageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-oauth-rusage-'));
    args = [path.join(usageDir, 'usage.json'), command, ...args];
    command = RUSAGE;
  }
  const readUsage = () => {
    if (!usageDir) return {};
    try {
      const u = JSON.parse(fs.readFileSync(path.join(usageDir, 'usage.json'), 'utf8'));
      return {
        usage: {
          wallMs: u.wall_us / 1000,
          cpuMs: (u.user_us + u.sys_us) / 1000,
          userMs: u.user_us / 1000,
          sysMs: u.sys_us / 1000,
          maxRssKib: u.maxrss_kib,
        },
      };
    } finally {
      fs.rmSync(usageDir, { recursive: true, force: true });
    }
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      try {
        resolve({ code, stdout, stderr, ms, ...readUsage() });
      } catch (e) {
        reject(new Error(`${path.basename(args[1])}: no usage report (${e.message}):\n${stderr}`));
      }
    });
  });
}

/// Runs the mcp-oauth CLI (see `run`).
export const runCli = (args, opts) => run(CLI, args, opts);

/// `mcp-oauth connect --headless --state-dir DIR [extra...] URL`, asserted to
/// succeed (the output is shown when it does not).
export async function connect(url, dir, extra = [], opts = {}) {
  const r = await runCli(['connect', '--headless', '--state-dir', dir, ...extra, url], opts);
  assert.equal(r.code, 0, `connect ${url} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/// The official TS SDK's stdio client with `mcp-oauth proxy [--headless]
/// --state-dir DIR URL` as its server (with `env` added to its
/// environment): lists the tools and calls `tool`; resolves to { tools,
/// result, stderr }.
export async function throughProxy(url, dir, tool = 'whoami', { headless = true, env = {} } = {}) {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const transport = new StdioClientTransport({
    command: CLI,
    args: ['proxy', ...(headless ? ['--headless'] : []), '--state-dir', dir, url],
    env: { ...process.env, NO_COLOR: '1', ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'interop-proxy', version: '0' });
  try {
    await client.connect(transport);
    const tools = (await client.listTools()).tools.map((t) => t.name);
    const result = await client.callTool({ name: tool, arguments: {} });
    return { tools, result, stderr };
  } catch (e) {
    throw new Error(`through mcp-oauth proxy: ${e.message}\n${stderr}`);
  } finally {
    await client.close();
  }
}

/// Runs `fn` with the stack's log reset before and its counts after.
export async function measured(stack, fn) {
  await stack.reset();
  const result = await fn();
  return { result, c: counts(await stack.log()), log: await stack.log(), stats: await stack.stats() };
}

/// The short-token scenario on a stack whose access tokens live `ttlMs`:
/// `connectOnce()` (a first connect and tool call) refreshes nothing it was
/// just issued; after the token's lifetime, `connectOnce()` again renews it
/// before sending — one refresh, no user, no 401. `note(label, c, ms)`
/// records each run for the report.
export async function renewedAfterExpiry(stack, ttlMs, connectOnce, note, label) {
  const first = await measured(stack, connectOnce);
  note(`${label}: first connect + whoami`, first.c, first.result.ms);
  assert.equal(first.c.token.refresh_token ?? 0, 0, 'no refresh of a token just issued');
  await sleep(ttlMs + 500);
  const later = await measured(stack, connectOnce);
  note(`${label}: connect after expiry`, later.c, later.result.ms);
  assert.deepEqual(later.c.token, { refresh_token: 1 });
  assert.equal(later.stats.authorizations, 0);
  assert.equal(later.c.mcp401, 0, 'renewed before sending');
}

/// Request counts of a /log excerpt, by kind.
export function counts(log) {
  const c = {
    total: 0,
    mcp: 0,
    mcp401: 0,
    mcp403: 0,
    metadata: 0,
    register: 0,
    authorize: 0,
    token: {},
    dpopScheme: 0,
    bearerScheme: 0,
  };
  // The resource servers' own introspection calls are not the client's.
  for (const r of log.filter((e) => !(e.server === 'as' && e.path.startsWith('/token/introspection')))) {
    c.total += 1;
    if (r.server !== 'as') {
      if (r.path.startsWith('/.well-known/')) c.metadata += 1;
      else {
        c.mcp += 1;
        if (r.status === 401) c.mcp401 += 1;
        if (r.status === 403) c.mcp403 += 1;
        if (r.auth_scheme === 'DPoP') c.dpopScheme += 1;
        if (r.auth_scheme === 'Bearer') c.bearerScheme += 1;
      }
      continue;
    }
    // oidc-provider's routes: /reg, /auth (then /interaction/:uid and
    // /auth/:uid, the user agent's hops, counted in `total` only), /token.
    if (r.path.startsWith('/.well-known/')) c.metadata += 1;
    else if (r.path === '/reg') c.register += 1;
    else if (r.path === '/auth') c.authorize += 1;
    else if (r.path === '/token') {
      const g = r.grant_type ?? '?';
      c.token[g] = (c.token[g] ?? 0) + 1;
    }
  }
  return c;
}

/// One line for the report: "12 requests: 3 MCP (1×401), 2 metadata, ...".
export function describe(c) {
  const tokens = Object.entries(c.token).map(([g, n]) => `${n} ${g}`).join(', ') || 'none';
  return `${c.total} requests: ${c.mcp} MCP (${c.mcp401}×401, ${c.mcp403}×403), ${c.metadata} metadata, `
    + `${c.register} registration, ${c.authorize} authorization, token: ${tokens}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
