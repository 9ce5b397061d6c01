// The two clients compare.mjs and bench-compare.mjs put side by side, as
// adapters over the same real-server stack (stack.mjs): mcp-oauth (the CLI,
// harness.mjs's CLI) and the official TS SDK client (ts-client.mjs), each run
// as a user runs it, one process per connect.
import fs from 'node:fs';
import path from 'node:path';
import { HERE, stateDir, run, runCli, counts } from './harness.mjs';

export const TS_CLIENT = path.join(HERE, 'ts-client.mjs');
const CLIENT_TIMEOUT_MS = 60_000;
const verbose = !!process.env.COMPARE_VERBOSE;

// Every state directory made here, removed by removeStateDirs() at the end
// (they hold test tokens) unless COMPARE_KEEP is set.
const made = [];
export const newDir = () => {
  const d = stateDir();
  made.push(d);
  return d;
};

export function removeStateDirs() {
  if (!process.env.COMPARE_KEEP) for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export const firstLine = (s) => String(s ?? '').split('\n').map((l) => l.trim()).find(Boolean) ?? '';

// ------------------------------------------------------------------ clients
// Each adapter: fresh() → a new state, copy(state) → an independent copy,
// connect(url, state, opts) → { ok, outcome, ms, usage? }, scope(state, url)
// → the scope of the token the state holds for url (never a token value).
// opts: call (a tool to call), cc (client credentials { id, secret }), usage
// (run the process under rusage: CPU time and peak RSS, see harness.run).

export const ours = {
  name: 'mcp-oauth',
  fresh: () => newDir(),
  copy(dir) {
    const to = newDir();
    fs.copyFileSync(path.join(dir, 'state.json'), path.join(to, 'state.json'));
    return to;
  },
  async connect(url, dir, { call, cc, usage } = {}) {
    const extra = [];
    const env = {};
    if (cc) {
      extra.push('--client-id', cc.id, '--grant', 'client-credentials');
      env.MCP_OAUTH_CLIENT_SECRET = cc.secret;
    }
    if (call) extra.push('--call', call);
    const r = await runCli(['connect', '--headless', '--state-dir', dir, ...extra, url], { env, timeoutMs: CLIENT_TIMEOUT_MS, usage });
    if (verbose) console.error(`--- mcp-oauth ${url} exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const errLine = r.stderr.split('\n').find((l) => /^error\b/i.test(l.trim()));
    let outcome = 'ok';
    if (r.code !== 0) outcome = firstLine(errLine ?? r.stderr) || firstLine(r.stdout) || `exit ${r.code}`;
    return { ok: r.code === 0, outcome, ms: r.ms, usage: r.usage };
  },
  scope(dir, url) {
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
      const t = (doc.tokens ?? []).find((x) => x.resource === url);
      return t ? t.scope ?? '(none)' : '—';
    } catch {
      return '—';
    }
  },
};

const runTsClient = (args, { usage } = {}) => run(process.execPath, [TS_CLIENT, ...args], { timeoutMs: CLIENT_TIMEOUT_MS, usage });

export const ts = {
  name: 'TS SDK',
  fresh: () => path.join(newDir(), 'ts-client.json'),
  copy(file) {
    const to = path.join(newDir(), 'ts-client.json');
    fs.copyFileSync(file, to);
    return to;
  },
  async connect(url, file, { call, cc, usage } = {}) {
    // Client credentials: the SDK's ClientCredentialsProvider, in memory only (no --state).
    const args = cc ? ['--client-credentials', `${cc.id}:${cc.secret}`] : ['--state', file];
    if (call) args.push('--call', call);
    const r = await runTsClient([...args, url], { usage });
    if (verbose) console.error(`--- ts-client ${url} exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    let out = null;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch { /* judged below */ }
    let outcome;
    if (!out) outcome = `no JSON line (exit ${r.code}): ${firstLine(r.stderr)}`;
    else if (!out.ok) outcome = firstLine(out.error);
    else if (out.call_is_error) outcome = `ok, tool error: ${firstLine(out.call)}`;
    else outcome = 'ok';
    // inner: the client's own measure, without Node's start and the SDK's import.
    return { ok: !!out?.ok && r.code === 0, outcome, ms: r.ms, inner: out?.ms, usage: r.usage };
  },
  scope(file) {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')).tokens?.scope ?? '(none)';
    } catch {
      return '—';
    }
  },
};

export const CLIENTS = [ours, ts];
export const CC = { id: 'interop-confidential', secret: 'interop-secret' };

/// Runs one client connect with the log reset before and read after.
export async function measured(stack, client, url, state, opts) {
  await stack.reset();
  const r = await client.connect(url, state, opts);
  const c = counts(await stack.log());
  return { ...r, c, scope: state ? client.scope(state, url) : '—' };
}

/// The median; of an even count, the rounded mean of the middle two.
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
};
