// The two clients compare.mjs and bench-compare.mjs put side by side, as
// adapters over the same real-server stack (stack.mjs): mcp-oauth (the CLI,
// harness.mjs's CLI) and the official TS SDK client (ts-client.mjs), each run
// as a user runs it, one process per connect.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, execFileSync } from 'node:child_process';
import { HERE, CLI, stateDir, run, runCli, counts } from './harness.mjs';

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
// steady(url, state, { tool, calls }) → { ok, outcome, callUs, cpuUs,
// vmHwmKib }: the steady state in one process — connected once with the token
// `state` already holds, then `calls` calls of `tool` one after the other on
// that connection, each timed (callUs: µs of each call; cpuUs: the process's
// CPU time, all threads, over the calls; vmHwmKib: its peak RSS).

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
  // Ours: `mcp-oauth proxy`, the stdio bridge that keeps one component
  // instance (and its token) for all the messages of a session.
  steady: (url, dir, opts) => throughProxySteady(url, dir, opts),
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
  async connect(url, file, { call, cc, usage, repeat } = {}) {
    // Client credentials: the SDK's ClientCredentialsProvider, in memory only (no --state).
    const args = cc ? ['--client-credentials', `${cc.id}:${cc.secret}`] : ['--state', file];
    if (call) args.push('--call', call);
    if (repeat) args.push('--repeat', String(repeat));
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
    return { ok: !!out?.ok && r.code === 0, outcome, ms: r.ms, inner: out?.ms, usage: r.usage, repeat: out?.repeat };
  },
  // The SDK's Client + StreamableHTTPClientTransport in one process
  // (ts-client.mjs --repeat), which times the calls itself.
  async steady(url, file, { tool, calls }) {
    const r = await this.connect(url, file, { call: tool, repeat: calls });
    const rep = r.repeat ?? {};
    let { ok, outcome } = r;
    if (ok && rep.call_us?.length !== calls) [ok, outcome] = [false, `${rep.call_us?.length} of ${calls} calls answered`];
    return { ok, outcome, callUs: rep.call_us ?? [], cpuUs: rep.cpu_us, cpuFrom: 'getrusage', vmHwmKib: rep.vm_hwm_kib };
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

// ------------------------------------------------------------------ the proxy, driven

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/// The CPU time (user + sys) process `pid` has used so far, in µs, two ways:
/// `ticks` from /proc/PID/stat (every thread, dead ones included, but in
/// 1/CLK_TCK s steps: 10 ms), and `threads`: tid → ns on CPU, from each
/// live thread's /proc/PID/task/TID/schedstat (nanoseconds, live threads only).
function cpuOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  const ticksUs = ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
  const threads = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch { /* the thread ended meanwhile */ }
  }
  return { ticksUs, threads };
}

/// The CPU µs between two cpuOf() samples, and where from: the threads'
/// nanosecond sums when every thread of the first sample is still there (a
/// thread that started in between counts from 0), else the 10 ms-step figure.
function cpuDelta(a, b) {
  if ([...a.threads.keys()].every((t) => b.threads.has(t))) {
    let ns = 0;
    for (const [t, v] of b.threads) ns += v - (a.threads.get(t) ?? 0);
    return { cpuUs: Math.round(ns / 1000), cpuFrom: 'schedstat' };
  }
  return { cpuUs: Math.round(b.ticksUs - a.ticksUs), cpuFrom: 'stat' };
}

const vmHwmKib = (pid) => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/// `mcp-oauth proxy --headless --state-dir DIR URL` driven over its stdin and
/// stdout with raw JSON-RPC lines, as an MCP host drives a stdio server:
/// initialize, notifications/initialized, tools/list, then `calls` tools/call
/// of `tool`, each sent when the previous answer was read (one at a time, as
/// the TS client awaits each call). A call's time runs from writing its line
/// to reading its answer, so it includes the two pipe hops through this
/// process's event loop, which the TS client's own timing does not have.
/// CPU and VmHWM are read from /proc while the proxy still runs (before the
/// DELETE that ends the session).
async function throughProxySteady(url, dir, { tool, calls, timeoutMs = 120_000 }) {
  const { LATEST_PROTOCOL_VERSION } = await import('@modelcontextprotocol/sdk/types.js');
  const child = spawn(CLI, ['proxy', '--headless', '--state-dir', dir, url], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? `signal ${signal}`)));
  const waiting = new Map(); // id → resolve
  let failed;
  const failure = new Promise((_, reject) => { failed = reject; });
  failure.catch(() => {});
  exited.then((code) => failed(new Error(`the proxy exited (${code}) early`)));
  const timer = setTimeout(() => failed(new Error(`no end in ${timeoutMs} ms`)), timeoutMs);
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      return failed(new Error(`a line that is not JSON: ${line.slice(0, 200)}`));
    }
    const done = m.id !== undefined && waiting.get(m.id);
    if (done) {
      waiting.delete(m.id);
      done(m);
    } // else: a server notification, not ours to time
  });
  const send = (m) => child.stdin.write(`${JSON.stringify(m)}\n`);
  const request = (id, method, params) => {
    const answered = new Promise((resolve) => waiting.set(id, resolve));
    send({ jsonrpc: '2.0', id, method, params });
    return Promise.race([answered, failure]);
  };
  try {
    const init = await request(0, 'initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'bench-compare', version: '0' },
    });
    if (init.error) throw new Error(`initialize: ${init.error.message}`);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const list = await request(1, 'tools/list', {});
    if (!list.result?.tools?.some((t) => t.name === tool)) throw new Error(`tools/list: no ${tool}: ${JSON.stringify(list).slice(0, 300)}`);
    const callUs = [];
    const cpu0 = cpuOf(child.pid);
    for (let i = 0; i < calls; i += 1) {
      const t0 = performance.now();
      const a = await request(2 + i, 'tools/call', { name: tool, arguments: {} });
      callUs.push(Math.round((performance.now() - t0) * 1000));
      if (a.error || a.result?.isError) throw new Error(`call ${i + 1}: ${JSON.stringify(a.error ?? a.result).slice(0, 300)}`);
    }
    const { cpuUs, cpuFrom } = cpuDelta(cpu0, cpuOf(child.pid));
    const hwm = vmHwmKib(child.pid);
    child.stdin.end();
    const code = await Promise.race([exited, failure.catch(() => 'timeout')]);
    if (verbose) console.error(`--- mcp-oauth proxy ${url} exit ${code}\n${stderr}`);
    const r = { callUs, cpuUs, cpuFrom, vmHwmKib: hwm };
    if (code !== 0) return { ok: false, outcome: `exit ${code}: ${firstLine(stderr)}`, ...r };
    return { ok: true, outcome: 'ok', ...r };
  } catch (e) {
    child.kill('SIGKILL');
    return { ok: false, outcome: `${firstLine(e.message)} ${firstLine(stderr)}`.trim(), callUs: [], cpuUs: undefined, vmHwmKib: undefined };
  } finally {
    clearTimeout(timer);
  }
}

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
