"""User agents: who visits the authorization URL.

- `HeadlessAgent` follows the redirects itself (httpx2 with its cookie jar),
  for servers that consent without a person (oidc-provider's dev
  interactions, test servers).
- `BrowserAgent` opens the system browser (`webbrowser`) and waits on a
  127.0.0.1 loopback listener for the redirect whose `state` is the pending
  authorization's.

Both block; async code runs them in a worker thread.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from typing import Callable, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx2

from .errors import UserAgentError, printable
from .types import PendingAuthorization

MAX_HOPS = 20
"""The most requests `follow_headless` makes."""

EXCERPT_CHARS = 160
SECRET_PARAMS = ("code", "access_token", "refresh_token", "id_token", "client_secret",
                 "code_verifier")


def shown(url: str) -> str:
    """`url` for messages: without its fragment, and the values of
    secret-bearing query parameters (an authorization code that went astray)
    replaced by `…`."""
    parts = urlsplit(url)
    if not parts.query:
        return urlunsplit(parts._replace(fragment=""))
    pairs = []
    for pair in parts.query.split("&"):
        name, sep, _ = pair.partition("=")
        pairs.append(f"{name}=…" if sep and name in SECRET_PARAMS else pair)
    return urlunsplit(parts._replace(query="&".join(pairs), fragment=""))


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


def same_endpoint(a: str, b: str) -> bool:
    """Whether `a` and `b` name the same endpoint: scheme, host, port (the
    scheme's default when absent) and path; the query may differ."""
    x, y = urlsplit(a), urlsplit(b)
    try:
        px = x.port or _default_port(x.scheme.lower())
        py = y.port or _default_port(y.scheme.lower())
    except ValueError:
        return False
    return (x.scheme.lower() == y.scheme.lower() and (x.hostname or "") == (y.hostname or "")
            and px == py and (x.path or "/") == (y.path or "/"))


def _excerpt(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + "…"
    return printable(text)


def follow_headless(authorization_url: str, redirect_uri: str, timeout: float = 30.0,
                    transport: httpx2.BaseTransport | None = None) -> str:
    """Completes an authorization URL without a browser: GETs it with
    redirects off, keeps cookies, follows each `Location` (relative ones
    resolved against the current URL) until one names `redirect_uri`
    (scheme, host, port and path; the query may differ), and returns that
    callback URL without requesting it. At most `MAX_HOPS` requests; a page
    (it needs a person), a 4xx/5xx, a loop or a redirect to another scheme
    raises `UserAgentError` naming the URL and status. Never sends an
    `Authorization` header."""
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        raise UserAgentError(f"the redirect URI {redirect_uri} is not an http(s) URL")
    current = authorization_url
    seen: set[tuple[str, str]] = set()
    with httpx2.Client(follow_redirects=False, timeout=timeout, transport=transport) as client:
        for _ in range(MAX_HOPS):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UserAgentError(
                    f"{shown(current)} is not an http(s) URL; a headless agent cannot visit it")
            page = urlunsplit(parts._replace(fragment=""))
            request = client.build_request(
                "GET", page, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
            cookie = request.headers.get("cookie", "")
            if (page, cookie) in seen:
                raise UserAgentError(
                    f"redirect loop: {shown(page)} was reached twice with the same cookies")
            seen.add((page, cookie))
            try:
                response = client.send(request)
            except httpx2.HTTPError as e:
                raise UserAgentError(f"GET {shown(page)}: {e}") from None
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if location is None:
                    raise UserAgentError(f"{shown(page)} answered {status} without a Location header")
                try:
                    nxt = str(httpx2.URL(page).join(location.strip()))
                except (httpx2.InvalidURL, ValueError) as e:
                    raise UserAgentError(
                        f"{shown(page)} answered {status} with an unusable Location: {e}") from None
                if same_endpoint(nxt, redirect_uri):
                    return nxt
                scheme = urlsplit(nxt).scheme
                if scheme not in ("http", "https"):
                    raise UserAgentError(
                        f"{shown(page)} answered {status} with a redirect to a {printable(scheme)}: "
                        "URL, which is neither the redirect URI nor http(s)")
                current = nxt
            elif 200 <= status < 300:
                raise UserAgentError(
                    f"{shown(page)} answered {status} with a page instead of a redirect: it needs a "
                    "person (use a browser instead of headless mode)")
            else:
                body = _excerpt(response.content)
                raise UserAgentError(f"{shown(page)} answered {status}" + (f": {body}" if body else ""))
    raise UserAgentError(f"more than {MAX_HOPS} redirects starting at {shown(authorization_url)}")


# ---------------------------------------------------------------------------
# Loopback redirect listener

DONE_PAGE = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             b"<title>Authorization complete</title></head><body>"
             b"<h1>Authorization complete</h1><p>You can close this window.</p></body></html>\n")
MAX_REQUEST_HEAD = 16 * 1024


def _hold(port: int) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:`port` and not listening: no other
    socket can listen on the port while it is held, and a connection to it
    is refused. Bound with SO_REUSEADDR (an earlier run's callback
    connections may be in TIME_WAIT), which is cleared once bound."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except OSError as e:
        s.close()
        raise UserAgentError(
            f"binding 127.0.0.1:{port} for the authorization redirect: {e.strerror}") from None
    return s


class LoopbackPort:
    """A loopback port held for a redirect URI from the moment the URI is
    configured until `close`: bound but listening only while a flow waits
    for its redirect."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock
        self.port: int = sock.getsockname()[1]

    @classmethod
    def reserve(cls, port: int = 0) -> LoopbackPort:
        """Binds 127.0.0.1:`port` (0: a free one) without listening."""
        return cls(_hold(port))

    def __repr__(self) -> str:
        return f"LoopbackPort({self.port})"

    def listen_for(self, redirect_uri: str) -> LoopbackListener:
        """Starts listening on the held port for redirects to the path of
        `redirect_uri`, which must be `http://127.0.0.1:<this port>/…`."""
        parts = urlsplit(redirect_uri)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "http" or parts.hostname != "127.0.0.1" or port != self.port:
            raise UserAgentError(f"the redirect URI {redirect_uri} is not http://127.0.0.1:{self.port}/…")
        sock = self._sock if self._sock is not None else _hold(self.port)
        self._sock = None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.listen(8)
        return LoopbackListener(sock, self.port, parts.path or "/")

    def hold_again(self) -> None:
        """Holds the port again after a flow; best effort (`listen_for`
        tries again and says why it cannot)."""
        if self._sock is None:
            try:
                self._sock = _hold(self.port)
            except UserAgentError:
                pass

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _page(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\ncache-control: no-store\r\n"
            "content-security-policy: default-src 'none'\r\nreferrer-policy: no-referrer\r\n"
            "connection: close\r\n\r\n")
    return head.encode() + body


class LoopbackListener:
    """Listens on 127.0.0.1 for the browser's redirect."""

    def __init__(self, sock: socket.socket, port: int, path: str) -> None:
        self._sock = sock
        self.port = port
        self.path = path

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def wait(self, timeout: float, state: str) -> str:
        """Waits for the GET to the callback path whose `state` is `state`,
        answers it with a static page (no script, no echo of query values)
        and returns the callback URL. Any other request — another path, a
        callback with another or no `state`, which any local process could
        send first — gets an error page and is ignored. Gives up after
        `timeout` seconds. Closes the listening socket."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UserAgentError(
                        f"no authorization redirect reached {self.redirect_uri} within "
                        f"{timeout:g} s; giving up")
                self._sock.settimeout(remaining)
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                with conn:
                    url = self._serve(conn, state)
                if url is not None:
                    return url
        finally:
            self._sock.close()

    def _serve(self, conn: socket.socket, state: str) -> str | None:
        conn.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_HEAD:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            return None
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        found = None
        if len(parts) != 3 or not parts[1].startswith("/"):
            reply = _page(400, "Bad Request", "text/plain; charset=utf-8", b"bad request\n")
        else:
            method, target = parts[0], parts[1]
            path, _, query = target.partition("?")
            ours = any(n == "state" and v == state for n, v in parse_qsl(query, keep_blank_values=True))
            if path != self.path:
                reply = _page(404, "Not Found", "text/plain; charset=utf-8", b"not found\n")
            elif method != "GET":
                reply = _page(405, "Method Not Allowed", "text/plain; charset=utf-8",
                              b"method not allowed\n")
            elif not ours:
                reply = _page(400, "Bad Request", "text/plain; charset=utf-8",
                              b"not the authorization response this client waits for\n")
            else:
                reply = _page(200, "OK", "text/html; charset=utf-8", DONE_PAGE)
                found = f"http://127.0.0.1:{self.port}{target}"
        try:
            conn.sendall(reply)
        except OSError:
            pass
        return found


# ---------------------------------------------------------------------------
# The agents


class UserAgent(Protocol):
    """Who visits authorization URLs for an `OAuth`."""

    def redirect_port(self, registered: int | None) -> int:
        """The loopback port for the redirect URI, given the one a stored
        registration uses (reusing it avoids a new registration)."""
        ...

    def authorize(self, pending: PendingAuthorization) -> str:
        """Visits `pending.authorization_url`; the URL redirected back to."""
        ...

    def close(self) -> None:
        ...


@dataclass
class HeadlessAgent:
    """Follows the authorization URL itself (no browser): for servers that
    consent without a person."""

    timeout: float = 30.0

    def redirect_port(self, registered: int | None) -> int:
        # A headless run never listens: the port only names the URI.
        if registered:
            return registered
        held = LoopbackPort.reserve(0)
        held.close()
        return held.port

    def authorize(self, pending: PendingAuthorization) -> str:
        return follow_headless(pending.authorization_url, pending.redirect_uri, self.timeout)

    def close(self) -> None:
        pass


def _announce(pending: PendingAuthorization, opening: bool, timeout: float) -> None:
    how = ("Opening your browser; if it does not open, visit this URL" if opening
           else "Open this URL in your browser")
    print(f"\n{how} to authorize (waiting {timeout:g} s):\n\n    {pending.authorization_url}\n\n"
          f"The authorization server is {pending.issuer}.\n", file=sys.stderr, flush=True)


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:  # noqa: BLE001 - the URL is printed anyway
        pass


@dataclass
class BrowserAgent:
    """Opens the system browser at the authorization URL and waits on a
    loopback listener for the redirect. The port is held from configuration
    on (bound, listening only while a flow waits)."""

    port: int = 0
    timeout: float = 300.0
    open_browser: bool = True
    announce: Callable[[PendingAuthorization, bool, float], None] = _announce
    """Tells the person what to do: (pending, whether a browser is being
    opened, the timeout); default: the URL on standard error."""
    _held: LoopbackPort | None = field(default=None, init=False, repr=False)

    def redirect_port(self, registered: int | None) -> int:
        wanted = self.port or registered or 0
        try:
            self._held = LoopbackPort.reserve(wanted)
        except UserAgentError:
            if self.port or not wanted:
                raise
            # The registered port is busy now: another one (the component
            # then registers that one).
            self._held = LoopbackPort.reserve(0)
        return self._held.port

    def authorize(self, pending: PendingAuthorization) -> str:
        held = self._held
        if held is None:
            held = self._held = LoopbackPort.reserve(urlsplit(pending.redirect_uri).port or 0)
        listener = held.listen_for(pending.redirect_uri)
        self.announce(pending, self.open_browser, self.timeout)
        if self.open_browser:
            # In a thread: a console browser (lynx, w3m) or a $BROWSER command
            # may not return before it has visited the redirect, which only
            # the listener below answers.
            threading.Thread(target=_open_browser, args=(pending.authorization_url,),
                             daemon=True).start()
        try:
            return listener.wait(self.timeout, pending.state)
        finally:
            held.hold_again()

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
