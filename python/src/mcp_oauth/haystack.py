"""mcp-haystack integration: zero-config OAuth for `MCPToolset`.

    from haystack_integrations.tools.mcp import MCPToolset, StreamableHttpServerInfo
    from mcp_oauth.haystack import McpOAuthConfig

    server_info = StreamableHttpServerInfo(url=url, oauth_config=McpOAuthConfig())
    toolset = MCPToolset(server_info=server_info, connection_timeout=330)

mcp-haystack calls `oauth_config.create_auth(server_url=...)` when it
connects and wraps the returned auth (an `httpx2.Auth`); this one is the
component's `OAuth`: discovery, registration (or a pre-registered client),
the authorization code flow in the browser (or `headless=True`), refresh,
DPoP, and the state kept where the CLI keeps it, so one login serves
every process. Needs the `haystack` extra (`pip install ./python[haystack]`).

Serialization: `to_dict` writes this configuration (a client secret as a
haystack `Secret`, never its value), but mcp-haystack 2.1.1's
`StreamableHttpServerInfo.from_dict` reads `oauth_config` as its own
`OAuthConfig`: rebuild it with `McpOAuthConfig.from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from haystack.utils import Secret, deserialize_secrets_inplace

from .auth import OAuth


@dataclass
class McpOAuthConfig:
    """What `StreamableHttpServerInfo(oauth_config=...)` takes.

    :param headless: follow the authorization URL without a browser.
    :param state_dir: where the state is kept (default: the per-user one).
    :param persist: keep the state between processes (default true).
    :param client_name: `client_name` at registration.
    :param client_id: a pre-registered client (no registration).
    :param client_secret: its secret, as a haystack `Secret`.
    :param scope: the scope to request instead of the automatic choice.
    :param browser_timeout: seconds to wait for the browser's redirect; give
        `MCPToolset` a `connection_timeout` longer than this.
    """

    headless: bool = False
    state_dir: str | None = None
    persist: bool = True
    client_name: str = "mcp-oauth (Haystack)"
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    scope: str | None = None
    browser_timeout: float = 300.0

    def create_auth(self, server_url: str) -> OAuth:
        """The `httpx2.Auth` for the MCP server at `server_url`; its client
        is opened (the state read) on the first request."""
        from .agent import BrowserAgent, HeadlessAgent

        secret = self.client_secret.resolve_value() if self.client_secret is not None else None
        agent = HeadlessAgent() if self.headless else BrowserAgent(timeout=self.browser_timeout)
        return OAuth(user_agent=agent, state_dir=self.state_dir, persist=self.persist,
                     client_name=self.client_name, client_id=self.client_id,
                     client_secret=secret or None, scope=self.scope)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": f"{type(self).__module__}.{type(self).__qualname__}",
            "headless": self.headless,
            "state_dir": self.state_dir,
            "persist": self.persist,
            "client_name": self.client_name,
            "client_id": self.client_id,
            "client_secret": self.client_secret.to_dict() if self.client_secret else None,
            "scope": self.scope,
            "browser_timeout": self.browser_timeout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> McpOAuthConfig:
        data = {k: v for k, v in data.items() if k != "type"}
        deserialize_secrets_inplace(data, keys=["client_secret"])
        return cls(**data)
