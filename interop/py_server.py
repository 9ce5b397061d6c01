"""Official Python MCP SDK 2.x server for the interop stack (started by stack.mjs).

Binds 127.0.0.1 on an ephemeral port, then writes one line `{"ready": "<mcp url>"}` on stdout;
after that one `{"log": {...}}` line per HTTP request. Human-readable logs go to stderr.

Environment: INTEROP_ISSUER, INTEROP_INTROSPECTION, INTEROP_RS_CLIENT_ID, INTEROP_RS_CLIENT_SECRET.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import warnings
from typing import Any

import httpx
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer

warnings.simplefilter("ignore")

ISSUER = os.environ["INTEROP_ISSUER"]
INTROSPECTION = os.environ["INTEROP_INTROSPECTION"]
RS_ID = os.environ.get("INTEROP_RS_CLIENT_ID", "interop-rs")
RS_SECRET = os.environ.get("INTEROP_RS_CLIENT_SECRET", "interop-rs-secret")

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
PORT = sock.getsockname()[1]
MCP_URL = f"http://127.0.0.1:{PORT}/mcp"


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class IntrospectionVerifier:
    """TokenVerifier: RFC 7662 introspection at the AS as interop-rs; Bearer only."""

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(timeout=10)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            r = await self.client.post(
                INTROSPECTION,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(RS_ID, RS_SECRET),
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as e:
            print(f"[py] introspection failed: {e}", file=sys.stderr)
            return None
        if r.status_code != 200:
            return None
        data = r.json()
        if not data.get("active"):
            return None
        aud = data.get("aud")
        auds = aud if isinstance(aud, list) else ([aud] if aud else [])
        if MCP_URL not in auds:
            return None
        exp = data.get("exp")
        if not isinstance(exp, int) or exp <= time.time():
            return None
        if (data.get("cnf") or {}).get("jkt"):
            # DPoP-bound token presented with the Bearer scheme (RFC 9449 section 7.1)
            return None
        return AccessToken(
            token=token,
            client_id=data.get("client_id", ""),
            scopes=(data.get("scope") or "").split(),
            expires_at=exp,
            resource=MCP_URL,
            subject=data.get("sub"),
            claims={"iss": data.get("iss")},
        )


mcp = MCPServer(
    name="interop-py",
    token_verifier=IntrospectionVerifier(),
    auth=AuthSettings(
        issuer_url=ISSUER,
        resource_server_url=MCP_URL,
        required_scopes=["mcp:tools"],
        validate_token_resource=True,
    ),
)


def _token(ctx: Context | None) -> AccessToken | None:
    tok = get_access_token()
    if tok is not None:
        return tok
    try:
        user = ctx.request_context.request.user  # type: ignore[union-attr]
        return user.access_token
    except Exception:
        return None


@mcp.tool(description="Describe the access token used for this call")
def whoami(ctx: Context) -> str:
    tok = _token(ctx)
    return json.dumps(
        {
            "sub": tok.subject if tok else None,
            "client_id": tok.client_id if tok else None,
            "scope": " ".join(tok.scopes) if tok else None,
            "server": "py",
        }
    )


@mcp.tool(description="Echo the text back")
def echo(text: str) -> str:
    return text


@mcp.tool(description="Needs scope mcp:admin")
def admin_action(ctx: Context) -> str:
    tok = _token(ctx)
    if not tok or "mcp:admin" not in tok.scopes:
        raise ValueError("insufficient_scope: mcp:admin required")
    return "admin action performed"


class RequestLog:
    """ASGI middleware: one {"log": ...} line per HTTP request, written when the response starts."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def recv() -> dict:
            msg = await receive()
            if msg.get("type") == "http.request" and len(body) < 4_000_000:
                body.extend(msg.get("body", b""))
            return msg

        logged = False

        def entry(status: int) -> dict:
            auth = None
            for k, v in scope.get("headers", []):
                if k == b"authorization":
                    auth = v.decode("latin-1").split(" ")[0] or None
            rpc = None
            if scope["method"] == "POST" and body:
                try:
                    parsed = json.loads(body)
                    first = parsed[0] if isinstance(parsed, list) and parsed else parsed
                    if isinstance(first, dict) and isinstance(first.get("method"), str):
                        rpc = first["method"]
                except Exception:
                    pass
            return {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "auth_scheme": auth,
                "rpc_method": rpc,
                "t": int(time.time() * 1000),
            }

        async def snd(msg: dict) -> None:
            nonlocal logged
            if msg["type"] == "http.response.start" and not logged:
                logged = True
                emit({"log": entry(msg["status"])})
            await send(msg)

        await self.app(scope, recv, snd)


async def main() -> None:
    app = RequestLog(mcp.streamable_http_app(host="127.0.0.1"))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        emit({"ready": MCP_URL})

    asyncio.create_task(announce())
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
