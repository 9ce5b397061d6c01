"""`OAuth`: an `httpx2.Auth` (the HTTP client of the MCP Python SDK 2.x; also
an `httpx.Auth` when httpx is installed) that authorizes every request
through the component in host-sends mode.

For each request: `begin-call` → its headers go on the request → the
request is sent → the response's status, `WWW-Authenticate` and `DPoP-Nonce`
go to `host-call.response` → `deliver`, or `resend` with new headers. When a
user is needed the user agent authorizes (`HeadlessAgent`, or
`BrowserAgent`: the system browser and a loopback listener), then
`complete-authorization`, then the request is sent again. The component
runs discovery, registration and token requests itself through wasi:http.

**The access token leaves the component**: it is in the headers this auth
sets, and the HTTP client sends it. It goes only to the request's URL, the
one the component issued it for (the MCP SDK follows no redirect to another
origin; httpx drops `Authorization` on one).

The component is not thread-safe: every call holds the client's lock, and
async flows run the blocking calls (component, state file lock, user agent)
in a worker thread, so the event loop is never blocked.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import AsyncGenerator, Generator
from os import PathLike
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from .agent import BrowserAgent, HeadlessAgent, UserAgent
from .client import Client, HostCall, Runtime
from .errors import (
    AuthError,
    AuthorizationRequired,
    RenewalRequired,
    StateFileError,
    printable,
    step_label,
)
from .state import Persistence, StateFile, registered_port, state_dir
from .types import ClientConfig, FlowEvent, PendingAuthorization, TokenInfo

log = logging.getLogger("mcp_oauth")

MAX_RENEWALS = 2
"""How often one request may have its token renewed under the state lock
(`renewal-required`): once because it was stale, once because the server
refused it."""

MAX_AUTHORIZATIONS = 1
"""How many authorizations one request may need before giving up (the
component's own second try after `invalid_scope` is part of one)."""

def describe_event(e: FlowEvent) -> str:
    """One progress line for an exchange the component made."""
    status = "no response" if e.status is None else str(e.status)
    if e.step == "resource" and e.status == 401:
        what = "the MCP server wants authorization"
    elif e.step == "resource" and e.status == 403:
        what = "the MCP server wants more scope"
    elif e.step == "protected-resource-metadata" and e.status == 200:
        what = "protected resource metadata found"
    elif e.step == "authorization-server-metadata" and e.status == 200:
        what = "authorization server metadata found"
    elif e.step == "registration" and e.status in (200, 201):
        what = "client registered"
    elif e.step == "token" and e.status == 200:
        what = "token obtained"
    else:
        what = f"{step_label(e.step)} (not this one)"
    return printable(f"{e.method:<4} {e.url} → {status}   {what}")


def describe_token(info: TokenInfo) -> str:
    expiry = ("no expiry given" if info.expires_at is None
              else f"expires in {max(0, info.expires_at - int(time.time()))} s")
    refresh = ", with a refresh token" if info.has_refresh_token else ""
    return printable(f"{info.token_type} token for {info.resource} from {info.issuer}, {expiry}, "
                     f"scope {info.scope or '(none)'}{refresh}")


class Progress:
    """What an `OAuth` reports as it goes. This default logs to the
    `mcp_oauth` logger; nothing reported holds a secret."""

    def event(self, event: FlowEvent) -> None:
        log.info("%s", describe_event(event))

    def authorization_needed(self, pending: PendingAuthorization, agent: UserAgent) -> None:
        log.info("authorization at %s: %s", pending.issuer, pending.authorization_url)

    def authorized(self, info: TokenInfo) -> None:
        log.info("authorization completed: %s", describe_token(info))

    def note(self, line: str) -> None:
        log.info("%s", line)


class StderrProgress(Progress):
    """Progress lines on standard error (the CLI's)."""

    def _print(self, line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    def event(self, event: FlowEvent) -> None:
        self._print(describe_event(event))

    def authorization_needed(self, pending: PendingAuthorization, agent: UserAgent) -> None:
        if isinstance(agent, HeadlessAgent):
            self._print(f"authorization at {pending.issuer} — the headless user agent follows:")
            self._print(f"  {pending.authorization_url}")

    def authorized(self, info: TokenInfo) -> None:
        self._print(f"authorization completed: {describe_token(info)}")

    def note(self, line: str) -> None:
        self._print(line)


_CONFIG_FIELDS = set(ClientConfig.__dataclass_fields__) - {"client_name", "redirect_uri", "host_renews"}

_bases: list[type] = [httpx2.Auth]
try:  # An httpx.Auth too, for code on httpx (0.x) rather than httpx2.
    import httpx

    if httpx.Auth is not httpx2.Auth:
        _bases.append(httpx.Auth)
except ImportError:  # pragma: no cover - httpx is optional
    pass


class OAuth(*_bases):  # type: ignore[misc]
    """Zero-config OAuth for an httpx2 (or httpx) client, e.g. the MCP SDK's:

        auth = OAuth()                      # the browser; OAuth(headless=True) follows itself
        async with create_mcp_http_client(auth=auth) as http, \\
                streamable_http_client(url, http_client=http) as (read, write): ...

    - `headless`: follow the authorization URL without a browser (servers
      that consent by themselves); else `user_agent`, else a `BrowserAgent`.
    - `state_dir`: where the state is kept (default: the per-user one the
      Rust CLI uses too); `persist=False` keeps it in memory only.
    - every other keyword is a `ClientConfig` field (`client_id`,
      `client_secret`, `scope`, `grant_type`, `dpop`, …); `client_name`
      defaults to "mcp-oauth (Python)". The redirect URI is
      `http://127.0.0.1:<port>/callback`, the port of a stored registration
      when there is one.
    - `progress`: a `Progress` (default: the `mcp_oauth` logger).
    """

    requires_request_body = True
    requires_response_body = False

    def __init__(self, *, headless: bool = False, user_agent: UserAgent | None = None,
                 state_dir: str | PathLike[str] | None = None, persist: bool = True,
                 client_name: str = "mcp-oauth (Python)", progress: Progress | None = None,
                 runtime: Runtime | None = None, **config: Any) -> None:
        unknown = set(config) - _CONFIG_FIELDS
        if unknown:
            raise TypeError(f"OAuth() got unknown options: {', '.join(sorted(unknown))}")
        self.agent: UserAgent = user_agent or (HeadlessAgent() if headless else BrowserAgent())
        self.progress = progress or Progress()
        self._client_name = client_name
        self._config = config
        self._state_dir = state_dir
        self._persist = persist
        self._runtime = runtime
        self._open_lock = threading.Lock()
        self._authorizing = threading.Lock()
        self._generation = 0
        self.client: Client | None = None
        self.persistence: Persistence | None = None

    def __repr__(self) -> str:
        where = "memory" if not self._persist else str(self._state_dir or "default state dir")
        return f"OAuth(client_name={self._client_name!r}, agent={self.agent!r}, state={where})"

    # -- the client ---------------------------------------------------------

    def open(self, server_url: str) -> Client:
        """Opens the component client (once): reads the stored state, picks
        the redirect port its registration names, configures the client
        and imports the state. Called by the first request; call it to fail
        early on an unusable state file or configuration."""
        with self._open_lock:
            if self.client is not None:
                return self.client
            file = StateFile(state_dir(self._state_dir)) if self._persist else None
            doc = file.read() if file is not None else None
            registered = None
            if doc is not None:
                probe = Client.open(ClientConfig(self._client_name, "http://127.0.0.1:1/callback"),
                                    self._runtime)
                try:
                    probe.import_state(doc)
                    registered = registered_port(probe.summary(), server_url)
                except AuthError as e:
                    raise StateFileError(
                        f"the state file {file.path} cannot be used: {e}. It was left as it is; "
                        "delete it to start over") from None
                finally:
                    probe.close()
            port = self.agent.redirect_port(registered)
            config = ClientConfig(client_name=self._client_name,
                                  redirect_uri=f"http://127.0.0.1:{port}/callback",
                                  host_renews=file is not None, **self._config)
            client = Client.open(config, self._runtime)
            if file is not None:
                self.persistence = Persistence.attach(file, doc, client)
            self.client = client
            return client

    def close(self) -> None:
        """Writes the state back, forgets the client and releases the
        loopback port."""
        try:
            self.save()
        finally:
            if self.client is not None:
                self.client.close()
                self.client = None
            self.agent.close()

    def save(self) -> None:
        """Writes the state back if it changed (merged with what other
        processes wrote meanwhile)."""
        if self.client is not None and self.persistence is not None:
            self.persistence.save(self.client, self._waiting)

    def _waiting(self) -> None:
        self.progress.note("waiting for another mcp-oauth process (state lock)")

    def _events(self) -> None:
        if self.client is not None:
            for event in self.client.take_events():
                self.progress.event(event)

    def _prepare(self, url: str) -> None:
        """Renews a stale token under the state lock (with persistence; the
        component renews by itself otherwise)."""
        if self.client is None or self.persistence is None:
            return
        renewal = self.persistence.prepare(self.client, url, self._waiting)
        self._events()
        if renewal.kind == "by-another-process":
            self.progress.note("token renewed by another mcp-oauth process; using it")
        elif renewal.kind == "renewed" and renewal.info is not None:
            self.progress.note(f"token renewed without the user: {describe_token(renewal.info)}")
        elif renewal.kind == "failed":
            self.progress.note(f"the token could not be renewed: {renewal.error}")

    def _complete(self, pending: PendingAuthorization) -> None:
        """The user agent visits `pending`; the redirect completes it. The
        component may ask once more (after an `invalid_scope` redirect it
        registered anew)."""
        assert self.client is not None
        while True:
            self.progress.authorization_needed(pending, self.agent)
            callback = self.agent.authorize(pending)
            try:
                info = self.client.complete_authorization(callback)
            except AuthorizationRequired as again:
                self._events()
                self.progress.note(
                    "invalid_scope: the authorization server refused the scope for this client; "
                    "the component registered anew, authorizing once more")
                self.save()
                pending = again.pending
                continue
            except BaseException:
                self._events()
                self.save()
                raise
            self._events()
            self.progress.authorized(info)
            self.save()
            return

    # -- httpx ----------------------------------------------------------------

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        request.read()
        call = _Call(self, request.method, str(request.url))
        try:
            headers = call.start()
            while True:
                call.apply(request, headers)
                response = yield request
                headers = call.respond(response.status_code, _www_authenticate(response),
                                       response.headers.get("dpop-nonce"))
                if headers is None:
                    return
        finally:
            call.close()

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        await request.aread()
        call = _Call(self, request.method, str(request.url))
        try:
            headers = await anyio.to_thread.run_sync(call.start)
            while True:
                call.apply(request, headers)
                response = yield request
                headers = await anyio.to_thread.run_sync(
                    call.respond, response.status_code, _www_authenticate(response),
                    response.headers.get("dpop-nonce"))
                if headers is None:
                    return
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(call.close)


def _www_authenticate(response: Any) -> str | None:
    values = response.headers.get_list("www-authenticate")
    return ", ".join(values) if values else None


class _Call:
    """One request's way through the component: begin-call, responses, and
    the renewals and authorizations they call for. Its methods block."""

    def __init__(self, oauth: OAuth, method: str, url: str) -> None:
        self.oauth = oauth
        self.method = method
        self.url = url
        self.call: HostCall | None = None
        self.renewals = 0
        self.authorizations = 0
        self.generation = oauth._generation
        self.applied: set[str] = set()

    def apply(self, request: Any, headers: list[tuple[str, str]]) -> None:
        names = {n.lower() for n, _ in headers}
        for stale in self.applied - names:
            request.headers.pop(stale, None)
        for name, value in headers:
            request.headers[name] = value
        self.applied = names

    def start(self) -> list[tuple[str, str]]:
        client = self.oauth.open(self.url)
        self.oauth._prepare(self.url)
        self._begin(client)
        assert self.call is not None
        return self.call.headers()

    def respond(self, status: int, www_authenticate: str | None,
                dpop_nonce: str | None) -> list[tuple[str, str]] | None:
        assert self.call is not None and self.oauth.client is not None
        try:
            step = self.call.response(status, www_authenticate, dpop_nonce)
        except AuthorizationRequired as e:
            self.oauth._events()
            self._authorize(e.pending)
            self._begin(self.oauth.client)
            return self.call.headers()
        except RenewalRequired as e:
            self.oauth._events()
            self._renew(e)
            self._begin(self.oauth.client)
            return self.call.headers()
        finally:
            self.oauth._events()
            self.oauth.save()
        return None if step == "deliver" else self.call.headers()

    def _begin(self, client: Client) -> None:
        self.close()
        while True:
            try:
                self.call = client.begin_call(self.method, self.url)
                return
            except RenewalRequired as e:
                self._renew(e)
            except AuthorizationRequired as e:
                self._authorize(e.pending)
            finally:
                self.oauth._events()

    def _renew(self, e: RenewalRequired) -> None:
        if self.renewals >= MAX_RENEWALS:
            raise e
        self.renewals += 1
        self.oauth._prepare(self.url)

    def _authorize(self, pending: PendingAuthorization) -> None:
        oauth = self.oauth
        with oauth._authorizing:
            if oauth._generation != self.generation:
                # Another request authorized while this one waited: its token
                # is the one to try.
                self.generation = oauth._generation
                return
            if self.authorizations >= MAX_AUTHORIZATIONS:
                raise AuthorizationRequired(pending)
            self.authorizations += 1
            oauth.save()
            oauth._complete(pending)
            oauth._generation += 1
            self.generation = oauth._generation

    def close(self) -> None:
        if self.call is not None:
            call, self.call = self.call, None
            call.close()
