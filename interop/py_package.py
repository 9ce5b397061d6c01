"""Scenarios of the mcp-oauth Python package (python/) that one CLI run
cannot show, run by interop/python-package.test.mjs with the package's venv:

    midsession URL CONTROL STATE_DIR revoke|revoke-access
        connects with the MCP SDK and `mcp_oauth.OAuth` (headless), lists the
        tools, has the stack revoke the grant (or only the access tokens),
        then calls `whoami`: the 401 at that tool call must end in a renewal
        or a new authorization and a retried call that succeeds.
    httpx-sync URL STATE_DIR
        a plain `httpx.Client` (httpx 0.x, the sync auth flow) posts MCP
        `initialize` with `OAuth` as its auth.

    concurrent URL STATE_DIR N
        N requests at once through one `OAuth` (httpx2.AsyncClient), none
        authorized yet: one authorization serves them all.
    browser URL
        a stand-in for a person's browser ($BROWSER for the package's default
        user agent): follows the authorization URL with the package's
        headless follower, then requests the loopback redirect it ends at.

Prints one JSON line with what it saw; exits non-zero on failure.
"""

from __future__ import annotations

import json
import sys

import anyio


async def midsession(url: str, control: str, state_dir: str, revoke: str) -> dict:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    from mcp_oauth import OAuth, StderrProgress

    auth = OAuth(headless=True, state_dir=state_dir, progress=StderrProgress())
    try:
        async with create_mcp_http_client(auth=auth) as http, \
                streamable_http_client(url, http_client=http) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            async with httpx2.AsyncClient() as plain:
                answer = await plain.post(f"{control}/{revoke}")
                answer.raise_for_status()
            result = await session.call_tool("whoami", {})
            text = result.content[0].text
            return {"tools": tools, "is_error": bool(result.is_error), "whoami": json.loads(text)}
    finally:
        await anyio.to_thread.run_sync(auth.close)


def httpx_sync(url: str, state_dir: str) -> dict:
    import httpx

    from mcp_oauth import OAuth, StderrProgress

    auth = OAuth(headless=True, state_dir=state_dir, progress=StderrProgress())
    assert isinstance(auth, httpx.Auth)
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "httpx-sync", "version": "1"}}}
    try:
        with httpx.Client(auth=auth, timeout=30) as client:
            r = client.post(url, json=body, headers={"accept": "application/json, text/event-stream"})
            return {"status": r.status_code, "server_info": "serverInfo" in r.text,
                    "history": [h.status_code for h in r.history]}
    finally:
        auth.close()


async def concurrent(url: str, state_dir: str, n: str) -> dict:
    import httpx2

    from mcp_oauth import OAuth, StderrProgress

    auth = OAuth(headless=True, state_dir=state_dir, progress=StderrProgress())
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "concurrent", "version": "1"}}}
    statuses: list[int] = []
    try:
        async with httpx2.AsyncClient(auth=auth, timeout=30) as client:
            async def one() -> None:
                r = await client.post(url, json=body,
                                      headers={"accept": "application/json, text/event-stream"})
                statuses.append(r.status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(int(n)):
                    tg.start_soon(one)
    finally:
        await anyio.to_thread.run_sync(auth.close)
    return {"statuses": statuses}


def browser(url: str) -> dict:
    import httpx2
    from urllib.parse import parse_qs, urlsplit

    from mcp_oauth import follow_headless

    redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    callback = follow_headless(url, redirect_uri)
    page = httpx2.get(callback, timeout=10)
    return {"status": page.status_code, "complete": "Authorization complete" in page.text}


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[0] == "midsession":
        out = anyio.run(midsession, *argv[1:])
    elif len(argv) == 4 and argv[0] == "concurrent":
        out = anyio.run(concurrent, *argv[1:])
    elif len(argv) == 2 and argv[0] == "browser":
        out = browser(argv[1])
    elif len(argv) == 3 and argv[0] == "httpx-sync":
        out = httpx_sync(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
