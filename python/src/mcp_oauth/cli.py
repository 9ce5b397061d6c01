"""`python -m mcp_oauth`: connect to an MCP server through the component.

    python -m mcp_oauth connect [--headless] [--call NAME [--args JSON]] [--state-dir DIR] URL
    python -m mcp_oauth status [--state-dir DIR]
    python -m mcp_oauth logout [--state-dir DIR] [URL]

`connect` uses the official MCP Python SDK (streamable HTTP): it initializes,
lists the tools and optionally calls one, printing the results on standard
output and the authorization's progress on standard error. Exit codes: 0
done, 1 failed (authorization, network, MCP, or the tool reported an error),
2 bad usage, 130 interrupted. Nothing printed holds a token, secret or code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from .agent import BrowserAgent, HeadlessAgent
from .auth import OAuth, StderrProgress
from .client import Client
from .errors import McpOAuthError, printable
from .state import Persistence, StateFile, state_dir
from .types import AuthorizationCode, ClientConfig, ClientCredentials

SECRET_VAR = "MCP_OAUTH_CLIENT_SECRET"


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mcp_oauth",
                                description="Zero-config OAuth for MCP clients (the mcp-oauth component).")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("connect", help="initialize, list the tools, optionally call one")
    c.add_argument("url", help="the MCP server's streamable HTTP URL")
    c.add_argument("--headless", action="store_true",
                   help="follow the authorization URL without a browser (servers that consent by themselves)")
    c.add_argument("--call", metavar="NAME", help="call this tool after listing")
    c.add_argument("--args", metavar="JSON", default="{}", help="the tool's arguments, a JSON object")
    c.add_argument("--state-dir", metavar="DIR",
                   help="where the state is kept (default: $MCP_OAUTH_STATE_DIR, else "
                        "$XDG_STATE_HOME/mcp-oauth, else ~/.local/state/mcp-oauth)")
    c.add_argument("--no-state", action="store_true", help="keep nothing between runs")
    c.add_argument("--client-name", default="mcp-oauth (Python)", help="client_name at registration")
    c.add_argument("--client-id", help=f"a pre-registered client; its secret from ${SECRET_VAR}")
    c.add_argument("--grant", choices=["authorization-code", "client-credentials"],
                   help="the grant (default: chosen by the component)")
    c.add_argument("--scope", help="the scope to request instead of the automatic choice")
    c.add_argument("--dpop", choices=["auto", "always", "never"], help="DPoP use (default auto)")
    c.add_argument("--port", type=int, default=0, help="loopback redirect port (default: the "
                                                      "registered one, else a free one)")
    c.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for the browser's redirect (default 300)")

    for name, help_ in (("status", "what the state holds (never a token or secret)"),
                        ("logout", "forget the tokens of one server (or all)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--state-dir", metavar="DIR")
        if name == "logout":
            s.add_argument("url", nargs="?", help="the server (default: every server)")
    return p


def _out(line: str = "") -> None:
    print(printable(line), flush=True)


def _err(line: str) -> None:
    print(printable(line), file=sys.stderr, flush=True)


def _auth(args: argparse.Namespace) -> OAuth:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number")
    secret = os.environ.get(SECRET_VAR) or None
    if secret is not None and args.client_id is None:
        raise UsageError(f"${SECRET_VAR} is set but --client-id is not: the secret would go unused")
    if args.grant == "client-credentials" and (args.client_id is None or secret is None):
        raise UsageError(f"--grant client-credentials needs --client-id and ${SECRET_VAR}")
    grant = {"authorization-code": AuthorizationCode(), "client-credentials": ClientCredentials(),
             None: None}[args.grant]
    agent = HeadlessAgent() if args.headless else BrowserAgent(port=args.port, timeout=args.timeout)
    return OAuth(user_agent=agent, state_dir=args.state_dir, persist=not args.no_state,
                 client_name=args.client_name, progress=StderrProgress(), client_id=args.client_id,
                 client_secret=secret, grant_type=grant, scope=args.scope, dpop=args.dpop)


def _content(result: Any) -> list[str]:
    lines = []
    for item in result.content:
        text = getattr(item, "text", None)
        lines.append(text if isinstance(text, str) else item.model_dump_json(exclude_none=True))
    return lines


async def _connect(args: argparse.Namespace) -> int:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    try:
        arguments = json.loads(args.args)
    except json.JSONDecodeError as e:
        raise UsageError(f"--args is not JSON: {e}") from None
    if not isinstance(arguments, dict):
        raise UsageError("--args must be a JSON object")
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{args.url!r} is not an http(s) URL of an MCP server")
    auth = _auth(args)
    try:
        _err(f"→ connect {args.url}")
        # A state file that cannot be used stops here, before a request.
        await anyio.to_thread.run_sync(auth.open, args.url)
        if auth.persistence is not None:
            _err(f"  state: {auth.persistence.file.path}")
        async with create_mcp_http_client(auth=auth) as http, \
                streamable_http_client(args.url, http_client=http) as (read, write), \
                ClientSession(read, write) as session:
            init = await session.initialize()
            info = init.server_info
            _out(f"connected to {info.name} {info.version}, protocol {init.protocol_version}")
            tools = (await session.list_tools()).tools
            _out("tools:")
            width = max((len(t.name) for t in tools), default=0)
            for t in tools:
                _out(f"  {t.name:<{width}}  {(t.description or '').splitlines()[0] if t.description else ''}")
            failed = False
            if args.call:
                _out(f"→ tools/call {args.call} {json.dumps(arguments)}")
                result = await session.call_tool(args.call, arguments)
                for line in _content(result):
                    _out(f"  {line}")
                failed = bool(result.is_error)
        if failed:
            _err("error: the tool reported an error")
            return 1
        return 0
    finally:
        await anyio.to_thread.run_sync(auth.close)


def _leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in _leaves(sub)]
    return [e]


def _explain(e: BaseException) -> str:
    """One line for a failure: ours first (they say what the component or
    the user agent found), then network and MCP errors."""
    import httpx2
    from mcp.shared.exceptions import MCPError

    leaves = _leaves(e)
    for kind in (McpOAuthError, httpx2.HTTPError, MCPError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                if isinstance(leaf, httpx2.HTTPError):
                    url = getattr(getattr(leaf, "_request", None), "url", None)
                    return f"HTTP request failed{f' ({url})' if url else ''}: {leaf}"
                if isinstance(leaf, MCPError):
                    return f"the MCP server answered with an error: {leaf}"
                return str(leaf)
    leaf = leaves[0]
    return f"{type(leaf).__name__}: {leaf}"


def _status(args: argparse.Namespace) -> int:
    file = StateFile(state_dir(args.state_dir))
    doc = file.read()
    if doc is None:
        _out(f"no state yet ({file.path})")
        return 0
    with Client.open(ClientConfig("mcp-oauth status", "http://127.0.0.1:1/callback")) as client:
        Persistence.attach(file, doc, client)
        s = client.summary()
    _out(f"state: {file.path}")
    now = int(time.time())
    for server in s.servers:
        _out(f"server {server.server}: resource {server.resource}, issuer {server.issuer}")
    for t in s.tokens:
        exp = "no expiry" if t.token.expires_at is None else (
            f"expires in {t.token.expires_at - now} s" if t.token.expires_at > now else "expired")
        _out(f"token for {t.token.resource} from {t.token.issuer}: {t.token.token_type}, {exp}, "
             f"scope {t.token.scope or '(none)'}{', refresh token' if t.token.has_refresh_token else ''}")
    for c in s.clients:
        _out(f"client at {c.issuer}: {c.client_id} ({c.auth_method}), redirect {c.redirect_uri}")
    return 0


def _logout(args: argparse.Namespace) -> int:
    file = StateFile(state_dir(args.state_dir))
    doc = file.read()
    if doc is None:
        _out("nothing to forget: no state yet")
        return 0
    with Client.open(ClientConfig("mcp-oauth logout", "http://127.0.0.1:1/callback")) as client:
        persistence = Persistence.attach(file, doc, client)
        gone = client.forget(args.url)
        persistence.save(client)
    for resource, issuer in gone.tokens:
        _out(f"forgot the token for {resource} from {issuer}")
    if not gone.tokens:
        _out("no token to forget")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "connect":
            return anyio.run(_connect, args)
        if args.command == "status":
            return _status(args)
        return _logout(args)
    except UsageError as e:
        _err(f"usage error: {e}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BaseException as e:  # noqa: BLE001 - one line, no traceback (it could hold request data)
        if isinstance(e, SystemExit):
            raise
        _err(f"error: {_explain(e)}")
        return 1
