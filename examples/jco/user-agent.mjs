// The two user agents connect.mjs can hand an authorization URL to:
//
// - headless(): follows the authorization server's redirects with a cookie
//   jar, as a browser would, until it is sent to the redirect URI, and
//   returns that URL without visiting it. That gets through an authorization
//   server that logs the user in and asks for consent with redirects only
//   (interop/stack.mjs's oidc-provider: /auth → 303 /interaction/:uid → 303
//   /auth/:uid → 303 redirect_uri?code&state&iss). A page that wants a person
//   (a login form, a consent button) is an error: run without --headless.
// - loopbackListener(): an HTTP listener on 127.0.0.1 that a real browser is
//   redirected to; it takes the callback whose `state` is the pending
//   authorization's and refuses others.
//
// Both use Node's own networking (fetch, node:http), never the component's
// wasi:http shim, and run only between component calls: the shim blocks the
// event loop while the component runs, not while the host awaits.
import http from 'node:http';

/// A cookie jar of name → { value, host, path }, per host (no Domain
/// cookies: the authorization server sets host-only cookies).
export class CookieJar {
  #cookies = [];

  /// Takes the Set-Cookie headers of `response`, a fetch Response for `url`.
  store(url, response) {
    const { hostname, pathname } = new URL(url);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (key) => attributes.find((a) => a.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      // RFC 6265 §5.1.4: the default path is the request path up to its last '/'.
      const path = attr('path') ?? (pathname.slice(0, pathname.lastIndexOf('/')) || '/');
      const expires = attr('expires');
      const maxAge = attr('max-age');
      const expired = value === '' || (maxAge !== undefined && Number(maxAge) <= 0)
        || (expires !== undefined && Date.parse(expires) <= Date.now());
      this.#cookies = this.#cookies.filter((c) => !(c.name === name && c.host === hostname && c.path === path));
      if (!expired) this.#cookies.push({ name, value, host: hostname, path });
    }
  }

  /// The Cookie header for `url`, or undefined.
  header(url) {
    const { hostname, pathname } = new URL(url);
    const matches = this.#cookies.filter((c) => c.host === hostname
      && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    return matches.length ? matches.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

/// Whether `url` is the redirect URI (same origin and path; the query is the
/// authorization response).
const isRedirect = (url, redirectUri) => {
  const a = new URL(url);
  const b = new URL(redirectUri);
  return a.origin === b.origin && a.pathname === b.pathname;
};

/// Follows `authorizationUrl` through redirects (at most `maxHops`) until the
/// authorization server sends the user agent to `redirectUri`; resolves to
/// that URL (with the code or error), which it does not visit. `log` gets
/// one line per hop, without query strings (they may carry a code).
export async function headless(authorizationUrl, redirectUri, { jar = new CookieJar(), maxHops = 20, log = () => {} } = {}) {
  let url = authorizationUrl;
  for (let hop = 0; hop < maxHops; hop += 1) {
    const headers = {};
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    const response = await fetch(url, { redirect: 'manual', headers });
    jar.store(url, response);
    const location = response.headers.get('location');
    const { origin, pathname } = new URL(url);
    log(`GET ${origin}${pathname} → ${response.status}`);
    if (response.status < 300 || response.status > 399 || !location) {
      const excerpt = (await response.text()).slice(0, 200).replace(/\s+/g, ' ');
      throw new Error(`the authorization server answered ${response.status} at ${origin}${pathname} instead of redirecting`
        + ` (a page for a person? run without --headless): ${excerpt}`);
    }
    await response.body?.cancel();
    const next = new URL(location, url).href;
    if (isRedirect(next, redirectUri)) return next;
    url = next;
  }
  throw new Error(`no redirect to ${redirectUri} after ${maxHops} hops`);
}

/// Listens on 127.0.0.1 (`port` 0: any free port). Resolves to { port,
/// redirectUri, wait(state, timeoutMs), close() }; `wait` resolves to the
/// full callback URL of the first request to the redirect path whose `state`
/// is `state`, answers it with a short page, and refuses (400) other
/// requests to that path, and 404 elsewhere, while it keeps waiting.
export async function loopbackListener({ port = 0, path = '/callback', log = () => {} } = {}) {
  let waiting;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host ?? '127.0.0.1'}`);
    const reply = (status, text) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`${text}\n`);
    };
    if (req.method !== 'GET' || url.pathname !== path) return reply(404, 'not found');
    if (!waiting || url.searchParams.get('state') !== waiting.state) {
      log(`refused a callback whose state is not the pending authorization's`);
      return reply(400, 'This is not the authorization this client is waiting for.');
    }
    reply(200, 'Authorization received; you can close this window and return to the terminal.');
    const { resolve } = waiting;
    waiting = undefined;
    resolve(`http://127.0.0.1:${server.address().port}${req.url}`);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actual = server.address().port;
  return {
    port: actual,
    redirectUri: `http://127.0.0.1:${actual}${path}`,
    wait(state, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting = undefined;
          reject(new Error(`no callback with the pending state within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiting = { state, resolve: (u) => { clearTimeout(timer); resolve(u); } };
      });
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/// A free loopback port (bound, then released): for a redirect URI that a
/// headless user agent never visits.
export async function freePort() {
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
