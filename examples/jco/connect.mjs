#!/usr/bin/env node
// An MCP client in Node.js whose OAuth is the mcp-oauth component, transpiled
// by jco (see README.md):
//
//   node connect.mjs [--headless] [--call NAME] [--arguments JSON] <url>
//
// It opens a `client` (redirect URI http://127.0.0.1:<port>/callback), sends
// MCP `initialize`, `notifications/initialized`, `tools/list` and, with
// --call, `tools/call NAME` through `wrap-call`, and ends the session with a
// DELETE. When `wrap-call` says `authorization-required`, a user agent visits
// the authorization URL — with --headless one that follows redirects with a
// cookie jar (user-agent.mjs), otherwise the user's browser, redirected to a
// loopback listener here — and the callback goes to `complete-authorization`;
// then the request is sent again. Progress goes to stderr, results to stdout;
// no token is ever printed (the component never hands one out). An auth-error
// is printed with its fields and the exit status is 1 (2 for a usage error).
import { parseArgs } from 'node:util';
import { headless, loopbackListener, freePort } from './user-agent.mjs';

const USAGE = 'usage: node connect.mjs [--headless] [--call NAME] [--arguments JSON] [--timeout SECONDS] <url>';
const PROTOCOL_VERSION = '2025-06-18';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const progress = (line) => process.stderr.write(`${line}\n`);

/// An error for the user, printed as it is (exit status `code`).
class Failure extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

/// The component's auth-error in a caught exception (jco throws a
/// ComponentError whose `payload` is the variant), or undefined.
const authError = (e) => (e && Object.hasOwn(e, 'payload') && e.payload?.tag ? e.payload : undefined);

/// An auth-error as lines: its case, then each field (nested records and
/// lists indented). The WIT guarantees no case carries a token or secret.
function describeAuthError({ tag, val }) {
  const lines = [`auth-error: ${tag}`];
  const field = (name, value, indent) => {
    const pad = ' '.repeat(indent);
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      lines.push(`${pad}${name}:${value.length ? '' : ' (none)'}`);
      value.forEach((item, i) => field(`[${i}]`, item, indent + 2));
    } else if (typeof value === 'object') {
      lines.push(`${pad}${name}:`);
      for (const [k, v] of Object.entries(value)) field(k, v, indent + 2);
    } else {
      lines.push(`${pad}${name}: ${value}`);
    }
  };
  if (val !== undefined && val !== null && typeof val === 'object' && !Array.isArray(val)) {
    for (const [k, v] of Object.entries(val)) field(k, v, 2);
  } else {
    field('value', val, 2);
  }
  return lines.join('\n');
}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        headless: { type: 'boolean', default: false },
        call: { type: 'string' },
        arguments: { type: 'string', default: '{}' },
        timeout: { type: 'string', default: '300' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new Failure(`${e.message}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (positionals.length !== 1) throw new Failure(USAGE, 2);
  let args;
  try {
    args = JSON.parse(values.arguments);
  } catch (e) {
    throw new Failure(`--arguments is not JSON: ${e.message}`, 2);
  }
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new Failure(`--timeout must be a positive number of seconds`, 2);
  return { url: positionals[0], headless: values.headless, call: values.call, args, timeoutMs };
}

/// The transpiled component (npm run transpile writes it to out/).
async function loadComponent() {
  try {
    return await import('./out/mcp_oauth.js');
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('mcp_oauth.js')) {
      throw new Failure('out/mcp_oauth.js is missing: run `npm run transpile` in examples/jco first');
    }
    throw e;
  }
}

/// Prints the exchanges the component made since the last call.
function showEvents(client) {
  for (const e of client.takeEvents()) {
    progress(`  ${e.method.padEnd(4)} ${e.url} → ${e.status ?? 'failed'}   (${e.step})`);
  }
}

/// The whole body of `response` (a wasi:http incoming-response), read
/// through the shim's input stream; for an SSE body, reading stops once
/// `done(messages)` says the messages so far are enough.
function readBody(response, sse, done) {
  const body = response.consume();
  const stream = body.stream();
  const chunks = [];
  let text = '';
  const messages = [];
  // An SSE event ends with a blank line; its data lines make one message.
  const takeEvents = (events) => {
    for (const event of events) {
      const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (data) messages.push(JSON.parse(data));
    }
  };
  try {
    for (;;) {
      let chunk;
      try {
        chunk = stream.blockingRead(65536n);
      } catch (e) {
        if (e?.tag !== 'closed') throw new Failure(`reading the response body failed: ${e?.val?.toDebugString?.() ?? e?.tag ?? e}`);
        if (sse) takeEvents([text + decoder.decode()]); // the last event, if the stream ended without a blank line
        break;
      }
      if (!sse) {
        chunks.push(chunk);
        continue;
      }
      text += decoder.decode(chunk, { stream: true });
      const events = text.replace(/\r\n?/g, '\n').split('\n\n');
      text = events.pop();
      takeEvents(events);
      if (done(messages)) break;
    }
  } finally {
    stream[Symbol.dispose]();
    body[Symbol.dispose]();
  }
  if (sse) return { messages };
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return { text: decoder.decode(all) };
}

/// One MCP session at `url` whose requests go through `client.wrap-call`.
class Session {
  #sessionId;
  #protocolVersion;
  #nextId = 1;

  constructor(client, url, authorizeUser) {
    this.client = client;
    this.url = url;
    this.authorizeUser = authorizeUser;
  }

  /// Sends `request` through wrap-call; on authorization-required the user
  /// agent authorizes and the request goes once more (twice at most).
  async #send(request) {
    for (let round = 0; ; round += 1) {
      try {
        const response = this.client.wrapCall(request);
        showEvents(this.client);
        return response;
      } catch (e) {
        showEvents(this.client);
        const err = authError(e);
        if (err?.tag !== 'authorization-required' || round >= 2) throw e;
        await this.authorizeUser(err.val);
      }
    }
  }

  #headers(extra = []) {
    const headers = [['content-type', 'application/json'], ['accept', 'application/json, text/event-stream'], ...extra];
    if (this.#sessionId) headers.push(['mcp-session-id', this.#sessionId]);
    if (this.#protocolVersion) headers.push(['mcp-protocol-version', this.#protocolVersion]);
    return headers.map(([k, v]) => [k, encoder.encode(v)]);
  }

  /// POSTs one JSON-RPC message; resolves to the response to it (a request)
  /// or undefined (a notification, answered 202).
  async post(message) {
    const what = message.method;
    progress(`→ ${what}`);
    const response = await this.#send({
      method: 'POST', url: this.url, headers: this.#headers(), body: encoder.encode(JSON.stringify(message)),
    });
    const status = response.status();
    const header = (name) => {
      const values = response.headers().get(name);
      return values.length ? values.map((v) => decoder.decode(v)).join(', ') : undefined;
    };
    const contentType = header('content-type') ?? '';
    const sessionId = header('mcp-session-id');
    if (sessionId) this.#sessionId = sessionId;
    const isResponse = (m) => m.id === message.id && ('result' in m || 'error' in m);
    const sse = contentType.startsWith('text/event-stream');
    const body = readBody(response, sse, (msgs) => msgs.some(isResponse));
    if (status < 200 || status > 299) {
      const text = body.text ?? JSON.stringify(body.messages);
      throw new Failure(`${what}: the server answered ${status}: ${text.slice(0, 512)}`);
    }
    if (message.id === undefined) return undefined;
    const messages = sse ? body.messages : (body.text ? [JSON.parse(body.text)].flat() : []);
    for (const m of messages.filter((m) => !isResponse(m))) {
      progress(`  (server message ignored: ${m.method ?? JSON.stringify(m).slice(0, 80)})`);
    }
    const answer = messages.find(isResponse);
    if (!answer) throw new Failure(`${what}: no response in the ${sse ? 'event stream' : 'body'}`);
    if (answer.error) throw new Failure(`${what}: JSON-RPC error ${answer.error.code}: ${answer.error.message}`);
    return answer.result;
  }

  request(method, params = {}) {
    return this.post({ jsonrpc: '2.0', id: this.#nextId++, method, params });
  }

  async initialize() {
    const result = await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-oauth-jco-example', version: '0.1.0' },
    });
    this.#protocolVersion = result.protocolVersion;
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return result;
  }

  /// Ends the session (DELETE with its id); a server may refuse (405).
  async close() {
    if (!this.#sessionId) return;
    progress('→ DELETE session');
    const response = await this.#send({ method: 'DELETE', url: this.url, headers: this.#headers(), body: new Uint8Array() });
    readBody(response, false);
  }
}

async function main() {
  const options = parse(process.argv.slice(2));
  const { client: { Client } } = await loadComponent();

  // The redirect URI: the loopback listener's, or a free port the headless
  // user agent stops at without connecting.
  const listener = options.headless ? undefined : await loopbackListener({ log: progress });
  const redirectUri = listener?.redirectUri ?? `http://127.0.0.1:${await freePort()}/callback`;
  const client = Client.open({ clientName: 'mcp-oauth jco example', redirectUri });

  /// A user agent visits the pending authorization; its callback completes it.
  const authorizeUser = async (pending) => {
    for (let round = 0; ; round += 1) {
      progress(`  authorization at ${pending.issuer} for ${pending.resource}`);
      let callback;
      if (options.headless) {
        progress(`  the headless user agent follows ${pending.authorizationUrl}`);
        callback = await headless(pending.authorizationUrl, pending.redirectUri, { log: (l) => progress(`    ${l}`) });
      } else {
        progress(`  open this URL in a browser:\n\n    ${pending.authorizationUrl}\n\n  waiting for the redirect to ${pending.redirectUri}`);
        callback = await listener.wait(pending.state, options.timeoutMs);
      }
      try {
        const info = client.completeAuthorization(callback);
        showEvents(client);
        const expires = info.expiresAt === undefined ? 'no expiry given' : `expires in ${Number(info.expiresAt) - Math.floor(Date.now() / 1000)} s`;
        progress(`  authorized: ${info.tokenType} token for ${info.resource} from ${info.issuer}, ${expires}, `
          + `scope ${info.scope ?? '(none)'}${info.hasRefreshToken ? ', with a refresh token' : ''}`);
        return;
      } catch (e) {
        showEvents(client);
        const err = authError(e);
        // An invalid_scope redirect for a client the component registered:
        // it registered anew and asks for one more visit (wit/world.wit).
        if (err?.tag !== 'authorization-required' || round >= 1) throw e;
        progress('  the component asks for the authorization once more');
        pending = err.val;
      }
    }
  };

  const session = new Session(client, options.url, authorizeUser);
  try {
    progress(`connect ${options.url}`);
    const init = await session.initialize();
    const info = init.serverInfo ?? {};
    console.log(`connected: ${[info.name ?? '?', info.version].filter(Boolean).join(' ')}, protocol ${init.protocolVersion}`);
    const { tools = [] } = await session.request('tools/list');
    console.log(`tools: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
    if (options.call) {
      const result = await session.request('tools/call', { name: options.call, arguments: options.args });
      const text = (result.content ?? []).map((c) => (c.type === 'text' ? c.text : JSON.stringify(c))).join('\n');
      console.log(`${options.call}: ${text}`);
      if (result.isError) throw new Failure(`tools/call ${options.call}: the tool reported an error`);
    }
    await session.close();
  } finally {
    await listener?.close();
  }
}

try {
  await main();
} catch (e) {
  const err = authError(e);
  if (err) progress(describeAuthError(err));
  else progress(`error: ${e instanceof Failure ? e.message : e?.stack ?? e}`);
  process.exitCode = e instanceof Failure ? e.code : 1;
}
