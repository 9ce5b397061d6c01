#!/usr/bin/env node
// mcp-oauth against the official TypeScript SDK client (ts-client.mjs) on the
// real-server stack (stack.mjs, its TS SDK server), for BENCHMARKS.md: what
// each costs, not what each does (compare.mjs has the behaviour).
//
//   node interop/bench-compare.mjs [--runs N] [--calls N] [--warmup N] [--out FILE]
//     --runs    paired runs (default 9); medians over them
//     --calls   tool calls per steady-state run (default 200)
//     --warmup  runs of each part first, not counted (default 1: the first
//               process of a binary pays for a cold page cache)
//     --out     also write the markdown to FILE (or $BENCH_OUT)
//
// Needs interop/setup.sh (npm deps and .bin/rusage, which needs a C compiler)
// and the CLI: $MCP_OAUTH_BIN, else target/debug/mcp-oauth — measure a release
// build (cargo build --release -p mcp-oauth-cli;
// MCP_OAUTH_BIN=target/release/mcp-oauth). By hand only: minutes, and noisy
// on a shared machine (the report carries the load average).
//
// 1. Whole process, one process per connect as a user runs it, each under
//    rusage (rusage.c: wall time, CPU time user + sys in µs, peak RSS):
//      a. from nothing (a fresh state) to the result of `whoami`;
//      b. again with the state of a (token fresh: no OAuth requests).
// 2. In process, the steady state: one process connected once with a cached
//    token (a first connect made it, not timed), then --calls `tools/call
//    whoami`, one after the other, each timed: the TS SDK's Client +
//    StreamableHTTPClientTransport with its OAuthClientProvider
//    (ts-client.mjs --repeat), and `mcp-oauth proxy` (one component instance
//    for all the messages) driven over stdin/stdout by this process.
// Paired: in every run both clients go, in alternating order, on the same
// stack. COMPARE_VERBOSE=1 shows each process's output, INTEROP_VERBOSE=1 the
// stack's logs, COMPARE_KEEP=1 keeps the state directories.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CLI, HERE, REPO, startStack, counts, run } from './harness.mjs';
import { CLIENTS, measured, removeStateDirs } from './clients.mjs';

const TOOL = 'whoami';

function parseArgs(argv) {
  const o = { runs: 9, calls: 200, warmup: 1, out: process.env.BENCH_OUT ?? null };
  for (let i = 0; i < argv.length; i += 1) {
    const [k, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const val = () => inline ?? argv[++i];
    const count = (min = 1) => {
      const n = Number(val());
      if (!Number.isInteger(n) || n < min) throw new Error(`${k} needs an integer ≥ ${min}`);
      return n;
    };
    if (k === '--runs') o.runs = count();
    else if (k === '--calls') o.calls = count();
    else if (k === '--warmup') o.warmup = count(0);
    else if (k === '--out') o.out = val();
    else if (k === '-h' || k === '--help') {
      console.error('usage: node interop/bench-compare.mjs [--runs N] [--calls N] [--warmup N] [--out FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return o;
}

// ------------------------------------------------------------------ numbers

/// The q-quantile of xs, nearest rank (q = 0.5: the median; of an even
/// count, the lower middle).
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)];
}
const med = (xs) => quantile(xs, 0.5);
const fmt = (x, digits = 0) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
/// "median (min–max)".
const spread = (xs, digits = 0) => `${fmt(med(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
const mib = (kib) => kib / 1024;
const ratio = (a, b) => (b ? `×${(a / b).toFixed(1)}` : '–');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const tokens = (c) => Object.entries(c.token).map(([g, n]) => `${n} ${g}`).join(', ') || 'none';

/// The distinct values of xs, "a" or "a ×2 / b ×1".
function distinct(xs) {
  const seen = new Map();
  for (const v of xs) seen.set(v, (seen.get(v) ?? 0) + 1);
  if (seen.size === 1) return [...seen.keys()][0];
  return [...seen].map(([v, n]) => `${v} ×${n}`).join(' / ');
}

// ------------------------------------------------------------------ the machine

function environment() {
  const sh = (cmd, args, opts) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...opts }).trim();
    } catch {
      return '?';
    }
  };
  const cpu = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  const commit = sh('git', ['rev-parse', 'HEAD'], { cwd: REPO });
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO });
  return {
    cpu,
    nproc: sh('nproc', []),
    node: process.version,
    python: sh(path.join(HERE, '.venv', 'bin', 'python'), ['--version']),
    commit: `${commit}${dirty && dirty !== '?' ? ' (with uncommitted changes)' : ''}`,
    cli: CLI,
  };
}

// ------------------------------------------------------------------ main

const opts = parseArgs(process.argv.slice(2));
if (!fs.existsSync(CLI)) throw new Error(`no CLI at ${CLI}: build it (cargo build --release -p mcp-oauth-cli) and set MCP_OAUTH_BIN`);
const env = environment();
const loads = [];
const sampleLoad = () => loads.push(os.loadavg()[0]);
sampleLoad();

// The peak RSS any process measured under rusage starts from (see rusage.c).
const floor = (await run('true', [], { usage: true })).usage.maxRssKib;

const whole = new Map(); // "a/mcp-oauth" → [{ usage, c, outcome }]
const steady = new Map(); // client name → [{ callUs, cpuUs, vmHwmKib, c, outcome }]
const push = (m, k, v) => (m.has(k) ? m.get(k).push(v) : m.set(k, [v]));
// Alternate which client goes first, so neither always runs on a colder stack.
const order = (i) => (i % 2 ? [...CLIENTS].reverse() : CLIENTS);
// Runs numbered from -warmup; those below 0 are not counted.
const runName = (i) => (i < 0 ? 'warm-up' : `run ${i + 1}/${opts.runs}`);
const failures = [];
const check = (what, r) => {
  if (!r.ok) failures.push(`${what}: ${r.outcome}`);
};

const stack = await startStack();
try {
  const url = stack.urls.ts;
  for (let i = -opts.warmup; i < opts.runs; i += 1) {
    if (i >= 0) sampleLoad();
    for (const client of order(i)) {
      const state = client.fresh();
      for (const step of ['a', 'b']) {
        const r = await measured(stack, client, url, state, { call: TOOL, usage: true });
        check(`whole ${step} ${client.name} ${runName(i)}`, r);
        if (i >= 0) push(whole, `${step}/${client.name}`, r);
        const u = r.usage;
        const inner = r.inner === undefined ? '' : ` (its own ${r.inner} ms)`;
        console.error(`${runName(i)} whole ${step} ${client.name.padEnd(9)} ${fmt(u.wallMs, 1).padStart(6)} ms wall${inner}, `
          + `${fmt(u.cpuMs, 1)} ms CPU, ${fmt(mib(u.maxRssKib), 1)} MiB, ${r.c.total} requests, ${r.outcome}`);
      }
    }
  }
  for (let i = -opts.warmup; i < opts.runs; i += 1) {
    if (i >= 0) sampleLoad();
    for (const client of order(i)) {
      const state = client.fresh();
      const first = await client.connect(url, state, { call: TOOL });
      check(`steady-state setup ${client.name} ${runName(i)}`, first);
      await stack.reset();
      const r = await client.steady(url, state, { tool: TOOL, calls: opts.calls });
      r.c = counts(await stack.log());
      check(`steady ${client.name} ${runName(i)}`, r);
      if (i >= 0) push(steady, client.name, r);
      console.error(`${runName(i)} steady  ${client.name.padEnd(9)} ${r.callUs.length} calls, `
        + `median ${fmt(med(r.callUs))} µs, p90 ${fmt(quantile(r.callUs, 0.9))} µs, `
        + `CPU ${fmt(r.cpuUs / r.callUs.length)} µs/call (${r.cpuFrom}), ${fmt(mib(r.vmHwmKib), 1)} MiB, ${r.c.total} requests, ${r.outcome}`);
    }
  }
} finally {
  await stack.stop();
  removeStateDirs();
}
sampleLoad();

// ------------------------------------------------------------------ report

const [ours, ts] = CLIENTS;
const lines = [
  `### Whole process (median of ${opts.runs} paired runs after ${opts.warmup} warm-up, min–max in brackets)`,
  '',
  '| scenario | client | wall ms | CPU ms (user + sys) | peak RSS MiB | requests | outcome |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];
const SCENARIOS = [
  ['a', 'a. TS server: first connect + `whoami`, from nothing'],
  ['b', 'b. TS server: connect + `whoami` again, token fresh'],
];
for (const [step, title] of SCENARIOS) {
  for (const client of CLIENTS) {
    const rs = whole.get(`${step}/${client.name}`) ?? [];
    if (!rs.length) continue;
    const u = (f) => rs.map((r) => f(r.usage));
    lines.push(`| ${title} | ${client.name} | ${spread(u((x) => x.wallMs))} | ${spread(u((x) => x.cpuMs), 1)} | `
      + `${spread(u((x) => mib(x.maxRssKib)), 1)} | ${cell(distinct(rs.map((r) => `${r.c.total} (token: ${tokens(r.c)})`)))} | `
      + `${cell(distinct(rs.map((r) => r.outcome)))} |`);
  }
  const m = (client, f) => med((whole.get(`${step}/${client.name}`) ?? []).map((r) => f(r.usage)));
  lines.push(`| | TS SDK / mcp-oauth | ${ratio(m(ts, (x) => x.wallMs), m(ours, (x) => x.wallMs))} | `
    + `${ratio(m(ts, (x) => x.cpuMs), m(ours, (x) => x.cpuMs))} | ${ratio(m(ts, (x) => x.maxRssKib), m(ours, (x) => x.maxRssKib))} | | |`);
}
lines.push(
  '',
  `### In process: ${opts.calls} \`tools/call whoami\` on one connection, cached token (${opts.runs} paired runs after ${opts.warmup} warm-up)`,
  '',
  '| client | µs per call, median | p90 | ms for all calls (median of runs) | CPU µs per call (median of runs) | peak RSS MiB (median) | requests per run | outcome |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
);
const DRIVEN = {
  [ours.name]: '`mcp-oauth proxy` (stdio, driven by the bench)',
  [ts.name]: 'TS SDK `Client` + `StreamableHTTPClientTransport`',
};
for (const client of CLIENTS) {
  const rs = steady.get(client.name) ?? [];
  if (!rs.length) continue;
  const all = rs.flatMap((r) => r.callUs);
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  lines.push(`| ${DRIVEN[client.name]} | ${fmt(med(all))} | ${fmt(quantile(all, 0.9))} | `
    + `${fmt(med(rs.map((r) => sum(r.callUs) / 1000)), 1)} | ${fmt(med(rs.map((r) => r.cpuUs / r.callUs.length)))} | `
    + `${fmt(med(rs.map((r) => mib(r.vmHwmKib))), 1)} | ${cell(distinct(rs.map((r) => `${r.c.total}: ${r.c.mcp} MCP, token: ${tokens(r.c)}`)))} | `
    + `${cell(distinct(rs.map((r) => r.outcome)))} |`);
}
lines.push(
  '',
  `Machine: ${env.cpu}, nproc ${env.nproc}; load average (1 min) during the runs ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}. `
    + `Node.js ${env.node}, ${env.python}; mcp-oauth ${env.cli} at commit ${env.commit}.`,
  '',
  'Whole process: each client process run under interop/rusage.c (fork, exec, wait4): wall time from fork to reap, '
    + 'CPU time user + sys of the process (all its threads), peak RSS = wait4\'s ru_maxrss '
    + `(a floor of ${fmt(mib(floor), 1)} MiB: the wrapper's own, measured with /bin/true). `
    + 'The TS client\'s time includes Node.js start-up and the SDK\'s import, as a user\'s does; its own measure, '
    + 'from after its imports to its result, has the median '
    + `${SCENARIOS.map(([step]) => `${fmt(med((whole.get(`${step}/${ts.name}`) ?? []).map((r) => r.inner)))} ms (${step})`).join(', ')}. `
    + 'requests: all the client caused (the resource server\'s introspection calls left out).',
  '',
  'In process: a call\'s time runs from sending it to its answer; the TS client times its own awaits '
    + '(ts-client.mjs --repeat), the proxy\'s calls are timed by the bench from writing the line to its stdin to reading the '
    + 'answer from its stdout (two pipe hops more). µs per call over all the calls of all runs; '
    + 'CPU: the process\'s CPU time over the calls only (TS: process.cpuUsage(); proxy: the sum over its threads of '
    + '/proc/PID/task/TID/schedstat, or /proc/PID/stat in 10 ms steps if a thread ended meanwhile; used here: '
    + `${[...new Set((steady.get(ours.name) ?? []).map((r) => r.cpuFrom))].join(', ') || '–'}), `
    + 'peak RSS: VmHWM of the whole process (connect included). requests: those of the measured process '
    + '(initialize, initialized, the GET stream, tools/list, the calls, DELETE; no token request: the token was cached).',
);
if (failures.length) lines.push('', `**Failures** (${failures.length}): ${failures.slice(0, 5).map(cell).join('; ')}`);
const out = `${lines.join('\n')}\n`;
process.stdout.write(`\n${out}`);
if (opts.out) fs.writeFileSync(opts.out, out);
if (failures.length) process.exitCode = 1;
