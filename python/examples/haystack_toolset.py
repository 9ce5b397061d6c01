"""Lists (and optionally calls) an MCP server's tools through Haystack's
`MCPToolset`, authorized by mcp-oauth with nothing but the URL.

    python examples/haystack_toolset.py [--headless] [--state-dir DIR] [--call NAME] URL

Needs `pip install ./python[haystack]`.
"""

from __future__ import annotations

import argparse
import sys

from haystack_integrations.tools.mcp import MCPToolset, StreamableHttpServerInfo

from mcp_oauth import McpOAuthError
from mcp_oauth.haystack import McpOAuthConfig


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--headless", action="store_true", help="no browser: follow the redirects")
    p.add_argument("--state-dir", help="where the login is kept (default: the per-user one)")
    p.add_argument("--call", metavar="NAME", help="invoke this tool (no arguments) after listing")
    args = p.parse_args()

    oauth = McpOAuthConfig(headless=args.headless, state_dir=args.state_dir)
    server_info = StreamableHttpServerInfo(url=args.url, oauth_config=oauth)
    # The browser flow may wait for a person: connect for longer than it waits.
    toolset = MCPToolset(server_info=server_info, connection_timeout=oauth.browser_timeout + 30)
    try:
        toolset.warm_up()
        for tool in toolset.tools:
            print(f"{tool.name}: {tool.description}")
        if args.call:
            tool = next((t for t in toolset.tools if t.name == args.call), None)
            if tool is None:
                print(f"error: no tool named {args.call}", file=sys.stderr)
                return 1
            print(tool.invoke())
    except Exception as e:  # noqa: BLE001 - one line for the user, no traceback
        # mcp-haystack wraps the cause (mcp-oauth's error says what failed).
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, McpOAuthError):
            cause = cause.__cause__
        print(f"error: {cause or e}", file=sys.stderr)
        return 1
    finally:
        toolset.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
