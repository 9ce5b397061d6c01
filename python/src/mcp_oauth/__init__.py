"""mcp-oauth for Python: zero-config OAuth for MCP clients.

The mcp-oauth WebAssembly component (discovery, registration, PKCE, tokens,
refresh, DPoP) runs in wasmtime; `OAuth` is the `httpx2.Auth` (and
`httpx.Auth`) that puts it in front of the MCP Python SDK's HTTP client:

    from mcp_oauth import OAuth
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.client.streamable_http import streamable_http_client

    async with create_mcp_http_client(auth=OAuth()) as http, \\
            streamable_http_client(url, http_client=http) as (read, write):
        ...

`python -m mcp_oauth connect URL` does that from the command line.
"""

from .agent import BrowserAgent, HeadlessAgent, LoopbackPort, UserAgent, follow_headless
from .auth import OAuth, Progress, StderrProgress
from .client import Client, ComponentTrap, HostCall, Runtime
from .errors import (
    AuthError,
    AuthorizationRequired,
    InvalidArgument,
    McpOAuthError,
    RenewalRequired,
    StateFileError,
    UserAgentError,
)
from .state import Persistence, StateFile, state_dir
from .types import (
    AuthorizationCode,
    ClientConfig,
    ClientCredentials,
    FlowEvent,
    IdentityProvider,
    JwtBearer,
    PendingAuthorization,
    Relaxations,
    ServerEndpoints,
    StateSummary,
    TokenExchange,
    TokenInfo,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError", "AuthorizationCode", "AuthorizationRequired", "BrowserAgent", "Client",
    "ClientConfig", "ClientCredentials", "ComponentTrap", "FlowEvent", "HeadlessAgent", "HostCall",
    "IdentityProvider", "InvalidArgument", "JwtBearer", "LoopbackPort", "McpOAuthError", "OAuth",
    "PendingAuthorization", "Persistence", "Progress", "Relaxations", "RenewalRequired", "Runtime",
    "ServerEndpoints", "StateFile", "StateFileError", "StateSummary", "StderrProgress",
    "TokenExchange", "TokenInfo", "UserAgent", "UserAgentError", "follow_headless", "state_dir",
]
