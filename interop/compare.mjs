#!/usr/bin/env node
// mcp-oauth next to the official TypeScript SDK client (interop/ts-client.mjs):
// the same scenarios, on the same real-server stack (stack.mjs), each client run
// as a user runs it; the requests each run caused come from the servers' own
// /log (reset before, read after), counted by harness.mjs.
//
//   node interop/compare.mjs [--runs N]       (default 1; wall ms = median over runs)
//
// Prints a markdown table (also written to $COMPARE_OUT when set). Needs
// interop/setup.sh and the CLI built (target/debug/mcp-oauth or $MCP_OAUTH_BIN).
// INTEROP_VERBOSE=1 shows the stack's logs; COMPARE_VERBOSE=1 each run's output.
// COMPARE_KEEP=1 keeps the state directories (in $TMPDIR) it made.
//
// Scenarios (each client from a fresh state unless said):
//   1 ts: first connect + whoami         2 ts: again with the state of 1 (token fresh)
//   3 py: first connect + whoami         4 ts: admin_action from (a copy of) the state of 1
//   5 ts: after POST /revoke, a copy of the state of 1, whoami
//   6 py: client credentials (interop-confidential / interop-secret)
//   7 dpop: first connect + whoami       8 ts, stack with --access-ttl 3: first
//     connect + whoami, 3.5 s later connect + whoami again (the second is reported)
import fs from 'node:fs';
import { startStack, sleep } from './harness.mjs';
import { CLIENTS, CC, measured, median, removeStateDirs } from './clients.mjs';

function parseArgs(argv) {
  let runs = 1;
  for (let i = 0; i < argv.length; i += 1) {
    const [k, inline] = argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    if (k === '--runs') {
      runs = Number(inline ?? argv[++i]);
      if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs needs a positive integer');
    } else if (k === '-h' || k === '--help') {
      console.error('usage: node interop/compare.mjs [--runs N]');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return { runs };
}

// ------------------------------------------------------------------ scenarios

/// One pass of scenarios 1–7 for one client on the hour-long-token stack.
async function mainScenarios(stack, client, record) {
  const { ts: tsUrl, py: pyUrl, dpop: dpopUrl } = stack.urls;

  const s1 = client.fresh();
  record('1', await measured(stack, client, tsUrl, s1, { call: 'whoami' }));
  const snap1 = client.copy(s1); // "the state of 1", for 4 and 5

  record('2', await measured(stack, client, tsUrl, s1, { call: 'whoami' }));

  record('3', await measured(stack, client, pyUrl, client.fresh(), { call: 'whoami' }));

  record('4', await measured(stack, client, tsUrl, client.copy(snap1), { call: 'admin_action' }));

  const s5 = client.copy(snap1);
  await stack.revoke();
  record('5', await measured(stack, client, tsUrl, s5, { call: 'whoami' }));

  const s6 = client.fresh();
  record('6', await measured(stack, client, pyUrl, s6, { call: 'whoami', cc: CC }));

  record('7', await measured(stack, client, dpopUrl, client.fresh(), { call: 'whoami' }));
}

/// Scenario 8 for one client on the 3-second-token stack.
async function shortTokenScenario(stack, client, record) {
  const s = client.fresh();
  record('8a', await measured(stack, client, stack.urls.ts, s, { call: 'whoami' }));
  await sleep(3_500);
  record('8', await measured(stack, client, stack.urls.ts, s, { call: 'whoami' }));
}

const SCENARIOS = [
  ['1', 'ts: first connect + whoami'],
  ['2', 'ts: second connect, token fresh'],
  ['3', 'py: first connect + whoami'],
  ['4', 'ts: admin_action from the state of 1'],
  ['5', 'ts: after POST /revoke, state of 1'],
  ['6', 'py: client credentials'],
  ['7', 'dpop: first connect + whoami'],
  ['8', 'ts, 3 s tokens: connect 3.5 s after the first'],
];

// ------------------------------------------------------------------ table

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const tokens = (c) => Object.entries(c.token).sort(([a], [b]) => a.localeCompare(b)).map(([g, n]) => `${n} ${g}`).join(', ') || '–';

/// The distinct values of f over the runs, "a" or "a ×2 / b ×1".
function distinct(runs, f) {
  const seen = new Map();
  for (const r of runs) {
    const v = f(r);
    seen.set(v, (seen.get(v) ?? 0) + 1);
  }
  if (seen.size === 1) return [...seen.keys()][0];
  return [...seen].map(([v, n]) => `${v} ×${n}`).join(' / ');
}

function table(results, runs) {
  const lines = [
    `| # | scenario | client | requests | MCP (401/403) | metadata | registration | /auth | token requests | wall ms (median of ${runs}) | token scope after | outcome |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [id, title] of SCENARIOS) {
    for (const client of CLIENTS) {
      const rs = results.get(`${id}/${client.name}`) ?? [];
      if (!rs.length) continue;
      const col = (f) => cell(distinct(rs, f));
      lines.push(`| ${id} | ${cell(title)} | ${client.name} | ${col((r) => r.c.total)} | `
        + `${col((r) => `${r.c.mcp} (${r.c.mcp401}/${r.c.mcp403})`)} | ${col((r) => r.c.metadata)} | `
        + `${col((r) => r.c.register)} | ${col((r) => r.c.authorize)} | ${col((r) => tokens(r.c))} | `
        + `${median(rs.map((r) => r.ms))} | ${col((r) => r.scope)} | ${col((r) => r.outcome)} |`);
    }
  }
  lines.push('', 'requests: all the client caused (the resource servers\' introspection calls left out); '
    + 'MCP: requests to the MCP endpoint (how many answered 401/403); metadata: protected resource + '
    + 'authorization server metadata; /auth: authorization requests; token scope after: the scope of the '
    + 'token the state holds afterwards (— : none stored; the TS client keeps client-credentials tokens in memory). '
    + 'A cell with "×n" differed between runs.');
  return lines.join('\n');
}

// ------------------------------------------------------------------ main

const { runs } = parseArgs(process.argv.slice(2));
const results = new Map();
const recorder = (client, run) => (id, r) => {
  const key = `${id}/${client.name}`;
  if (!results.has(key)) results.set(key, []);
  results.get(key).push(r);
  const inner = r.inner === undefined ? '' : ` (in-process ${r.inner} ms)`;
  console.error(`run ${run + 1}/${runs} ${id.padEnd(2)} ${client.name.padEnd(9)} ${String(r.ms).padStart(5)} ms${inner}  `
    + `${r.c.total} requests (${r.c.mcp} MCP ${r.c.mcp401}×401 ${r.c.mcp403}×403, ${r.c.metadata} metadata, `
    + `${r.c.register} reg, ${r.c.authorize} auth, token: ${tokens(r.c)})  scope ${r.scope}  ${r.outcome}`);
};
// Alternate which client goes first, so neither always runs on a colder stack.
const order = (run) => (run % 2 ? [...CLIENTS].reverse() : CLIENTS);

const main = await startStack();
try {
  for (let run = 0; run < runs; run += 1) {
    for (const client of order(run)) await mainScenarios(main, client, recorder(client, run));
  }
} finally {
  await main.stop();
}
const short = await startStack(['--access-ttl', '3']);
try {
  for (let run = 0; run < runs; run += 1) {
    for (const client of order(run)) await shortTokenScenario(short, client, recorder(client, run));
  }
} finally {
  await short.stop();
}

removeStateDirs();

const out = `${table(results, runs)}\n`;
process.stdout.write(`\n${out}`);
if (process.env.COMPARE_OUT) fs.writeFileSync(process.env.COMPARE_OUT, out);
