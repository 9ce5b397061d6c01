"""The user agents: the headless follower and the loopback listener."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import httpx2
import pytest

from mcp_oauth import UserAgentError
from mcp_oauth.agent import LoopbackPort, follow_headless, same_endpoint, shown

ROUTES = {
    "/page": (200, None, None),
    "/a": (302, "b", None),
    "/b": (303, "/a", None),
    "/gone": (302, "/missing", None),
    "/js": (302, "javascript:alert(1)", None),
    "/nolocation": (302, None, None),
    "/ok": (307, "http://localhost:7/cb?code=1#frag", None),
    "/astray": (302, "/elsewhere?state=s&code=secret-code", None),
    # Cookie-gated: /login sets a cookie, /consent needs it (as oidc-provider's interactions).
    "/login": (303, "/consent", "sid=abc; Path=/; HttpOnly"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/consent":
            ok = "sid=abc" in (self.headers.get("cookie") or "")
            status, location, cookie = (302, "http://127.0.0.1:7/cb?code=c&state=s", None) if ok \
                else (400, None, None)
        else:
            status, location, cookie = ROUTES.get(path, (404, None, None))
        body = b"<p>Sign in</p>"
        self.send_response(status)
        if location:
            self.send_header("location", location)
        if cookie:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_urls_compare_and_show_without_secrets() -> None:
    assert same_endpoint("http://h/cb?x=1", "HTTP://h:80/cb")
    assert not same_endpoint("http://h/cb2", "http://h/cb")
    assert not same_endpoint("http://h:81/cb", "http://h/cb")
    assert not same_endpoint("https://h/cb", "http://h/cb")
    assert shown("http://h/cb?code=secret&state=s&iss=x#f") == "http://h/cb?code=…&state=s&iss=x"


def test_the_headless_follower_reports_pages_loops_errors_and_bad_schemes(origin: str) -> None:
    cb = "http://localhost:7/cb"

    def err(path: str) -> str:
        with pytest.raises(UserAgentError) as e:
            follow_headless(f"{origin}{path}", cb)
        return str(e.value)

    e = err("/page")
    assert "/page answered 200" in e and "needs a person" in e
    e = err("/a")
    assert "redirect loop" in e and "/a" in e
    e = err("/gone")
    assert "/missing answered 404" in e and "Sign in" in e
    e = err("/js")
    assert "javascript:" in e and "/js answered 302" in e
    assert "without a Location" in err("/nolocation")
    e = err("/astray")
    assert "/elsewhere?state=s&code=… answered 404" in e and "secret-code" not in e
    with pytest.raises(UserAgentError, match="not an http"):
        follow_headless("ftp://x/", cb)
    assert follow_headless(f"{origin}/ok", cb) == "http://localhost:7/cb?code=1#frag"


def test_the_headless_follower_keeps_cookies(origin: str) -> None:
    assert (follow_headless(f"{origin}/login", "http://127.0.0.1:7/cb")
            == "http://127.0.0.1:7/cb?code=c&state=s")


def test_the_headless_follower_stops_after_twenty_hops() -> None:
    def hop(request: httpx2.Request) -> httpx2.Response:
        n = int(request.url.path[1:] or 0)
        return httpx2.Response(302, headers={"location": f"/{n + 1}"})

    with pytest.raises(UserAgentError, match="more than 20 redirects"):
        follow_headless("http://as.test/0", "http://127.0.0.1:1/cb",
                        transport=httpx2.MockTransport(hop))


def get(url: str) -> httpx2.Response:
    return httpx2.get(url, timeout=5)


def test_the_loopback_listener_takes_only_its_own_redirect() -> None:
    port = LoopbackPort.reserve(0)
    listener = port.listen_for(f"http://127.0.0.1:{port.port}/callback")
    uri = listener.redirect_uri
    result: dict[str, object] = {}
    waiter = threading.Thread(target=lambda: result.update(url=listener.wait(10, "x<b>")))
    waiter.start()
    origin = uri.removesuffix("/callback")
    assert get(f"{origin}/favicon.ico").status_code == 404
    # Another local process that gets there first with its own code, or none.
    for forged in ("?code=evil", "?code=evil&state=other", "?code=evil&state=x"):
        assert get(f"{uri}{forged}").status_code == 400, forged
    done = get(f"{uri}?code=c%20d&state=x%3Cb%3E")
    assert done.status_code == 200
    assert "Authorization complete" in done.text and "<script" not in done.text
    assert "c%20d" not in done.text and "x%3C" not in done.text
    assert done.headers["content-security-policy"] == "default-src 'none'"
    waiter.join(10)
    assert result["url"] == f"{uri}?code=c%20d&state=x%3Cb%3E"
    port.close()


def test_a_held_port_is_ours_between_flows_and_open_only_during_them() -> None:
    port = LoopbackPort.reserve(0)

    def taken() -> bool:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port.port))
            s.listen(1)
            return False
        except OSError:
            return True
        finally:
            s.close()

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port.port), timeout=2).close()
            return False
        except OSError:
            return True

    assert taken() and refused(), "held before the first flow"
    for round_ in range(2):
        listener = port.listen_for(f"http://127.0.0.1:{port.port}/callback?x=1")
        t = threading.Thread(target=listener.wait, args=(10, "s"))
        t.start()
        assert get(f"{listener.redirect_uri}?code=c&state=s").status_code == 200, round_
        t.join(10)
        port.hold_again()
        assert taken() and refused(), f"held after flow {round_}"
    for other in (f"http://127.0.0.1:{port.port + 1}/callback", f"http://localhost:{port.port}/callback",
                  f"https://127.0.0.1:{port.port}/callback"):
        with pytest.raises(UserAgentError, match="is not http://127.0.0.1:"):
            port.listen_for(other)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    busy = squatter.getsockname()[1]
    with pytest.raises(UserAgentError, match=f"127.0.0.1:{busy}"):
        LoopbackPort.reserve(busy)
    squatter.close()
    port.close()


def test_the_loopback_listener_times_out() -> None:
    port = LoopbackPort.reserve(0)
    listener = port.listen_for(f"http://127.0.0.1:{port.port}/cb")
    started = time.monotonic()
    with pytest.raises(UserAgentError, match=r"within 0.2 s") as e:
        listener.wait(0.2, "s")
    assert listener.redirect_uri in str(e.value)
    assert time.monotonic() - started < 5
    port.close()
