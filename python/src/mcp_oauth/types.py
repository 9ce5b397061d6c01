"""The component's data types (wit/world.wit, interface `types`) as Python
dataclasses, and their conversion to and from wasmtime's component values.

Secrets (a client secret, a private key, an assertion, an ID token) are kept
out of every `repr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from wasmtime.component import Record, Variant

Step = Literal[
    "protected-resource-metadata",
    "authorization-server-metadata",
    "registration",
    "authorization",
    "token",
    "resource",
]
TokenState = Literal["none", "fresh", "stale", "renewable"]
DpopMode = Literal["auto", "always", "never"]
CallStep = Literal["deliver", "resend"]


def record(**fields: Any) -> Record:
    """A wasmtime record whose fields are named as in the WIT (kebab-case):
    Python names take `_` for `-`."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def get(r: Any, name: str) -> Any:
    """Field `name` (Python spelling) of a record the component returned."""
    return getattr(r, name.replace("_", "-"))


def from_record(cls: Any, r: Any) -> Any:
    """The dataclass `cls` with each field read from the component's record
    `r` (the same names, in WIT spelling)."""
    return cls(**{name: get(r, name) for name in cls.__dataclass_fields__})


# ---------------------------------------------------------------------------
# Configuration (host → component)


@dataclass(frozen=True)
class AuthorizationCode:
    """Authorization code with PKCE: a user visits the authorization URL."""

    def _wit(self) -> Variant:
        return Variant("authorization-code")


@dataclass(frozen=True)
class ClientCredentials:
    """Client credentials: the client acts on its own behalf (needs a
    `client_secret` or `private_key_pem`)."""

    def _wit(self) -> Variant:
        return Variant("client-credentials")


@dataclass(frozen=True)
class JwtBearer:
    """The JWT bearer grant (RFC 7523) with this assertion."""

    assertion: str = field(repr=False)

    def _wit(self) -> Variant:
        return Variant("jwt-bearer", self.assertion)


@dataclass(frozen=True)
class IdentityProvider:
    """The enterprise identity provider of `TokenExchange` (SEP-990)."""

    token_endpoint: str
    client_id: str
    id_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)

    def _wit(self) -> Record:
        return record(
            token_endpoint=self.token_endpoint,
            client_id=self.client_id,
            client_secret=self.client_secret,
            id_token=self.id_token,
        )


@dataclass(frozen=True)
class TokenExchange:
    """SEP-990: the ID token is exchanged for an ID-JAG at the identity
    provider, which is presented to the authorization server."""

    identity_provider: IdentityProvider

    def _wit(self) -> Variant:
        return Variant("token-exchange", self.identity_provider._wit())


GrantType = Union[AuthorizationCode, ClientCredentials, JwtBearer, TokenExchange]


@dataclass(frozen=True)
class ServerEndpoints:
    """Authorization server values known beforehand."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    registration_endpoint: str | None = None

    def _wit(self) -> Record:
        return record(
            issuer=self.issuer,
            authorization_endpoint=self.authorization_endpoint,
            token_endpoint=self.token_endpoint,
            registration_endpoint=self.registration_endpoint,
        )


@dataclass(frozen=True)
class Relaxations:
    """Checks to switch off for a server that breaks them (all on by default)."""

    accept_issuer_mismatch: bool = False
    allow_pkce_unadvertised: bool = False
    omit_resource: bool = False
    allow_cross_origin_endpoints: bool = False

    def _wit(self) -> Record:
        return record(
            accept_issuer_mismatch=self.accept_issuer_mismatch,
            allow_pkce_unadvertised=self.allow_pkce_unadvertised,
            omit_resource=self.omit_resource,
            allow_cross_origin_endpoints=self.allow_cross_origin_endpoints,
        )


@dataclass(frozen=True)
class ClientConfig:
    """`client-config`: how the component identifies itself. Everything left
    out is discovered. See wit/world.wit for each field."""

    client_name: str
    redirect_uri: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    private_key_pem: str | None = field(default=None, repr=False)
    client_metadata_url: str | None = None
    grant_type: GrantType | None = None
    scope: str | None = None
    authorization_server: ServerEndpoints | None = None
    relaxations: Relaxations | None = None
    dpop: DpopMode | None = None
    timeout_ms: int | None = None
    host_renews: bool | None = None

    def _check(self) -> None:
        """Refuses, naming the field, a value of a type the WIT cannot carry
        (the component checks the values themselves)."""
        from .errors import InvalidArgument

        for name in ("client_name", "redirect_uri"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgument(f"{name.replace('_', '-')} must be a string")
        for name in ("client_id", "client_secret", "private_key_pem", "client_metadata_url", "scope"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidArgument(f"{name.replace('_', '-')} must be a string or None")
        if self.dpop is not None and self.dpop not in ("auto", "always", "never"):
            raise InvalidArgument(f"dpop {self.dpop!r} is not one of auto, always, never")
        t = self.timeout_ms
        if t is not None and (not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < 2**32):
            raise InvalidArgument(f"timeout-ms {t!r} is not a number of milliseconds")
        if self.host_renews is not None and not isinstance(self.host_renews, bool):
            raise InvalidArgument("host-renews must be a bool or None")
        kinds = (AuthorizationCode, ClientCredentials, JwtBearer, TokenExchange)
        if self.grant_type is not None and not isinstance(self.grant_type, kinds):
            raise InvalidArgument(f"grant-type {self.grant_type!r} is not one of the grant types")

    def _wit(self) -> Record:
        self._check()
        return record(
            client_name=self.client_name,
            redirect_uri=self.redirect_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            private_key_pem=self.private_key_pem,
            client_metadata_url=self.client_metadata_url,
            grant_type=None if self.grant_type is None else self.grant_type._wit(),
            scope=self.scope,
            authorization_server=None
            if self.authorization_server is None
            else self.authorization_server._wit(),
            relaxations=None if self.relaxations is None else self.relaxations._wit(),
            dpop=self.dpop,
            timeout_ms=self.timeout_ms,
            host_renews=self.host_renews,
            # wasmtime-py's wasi:http applies its own fixed limits, not
            # timeout-ms: the component keeps its timer (the package does not
            # use wrap-call anyway).
            host_timeouts=None,
        )


# ---------------------------------------------------------------------------
# Results (component → host)


@dataclass(frozen=True)
class TokenInfo:
    """What the component knows about a token (never the token)."""

    resource: str
    issuer: str
    token_type: str
    expires_at: int | None
    scope: str | None
    has_refresh_token: bool

    @classmethod
    def _from(cls, r: Any) -> TokenInfo:
        return from_record(cls, r)


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization that waits for the user: visit `authorization_url`,
    then pass the URL the user agent is redirected to (it starts with
    `redirect_uri`) to `Client.complete_authorization`."""

    authorization_url: str
    state: str
    redirect_uri: str
    issuer: str
    resource: str

    @classmethod
    def _from(cls, r: Any) -> PendingAuthorization:
        return from_record(cls, r)


@dataclass(frozen=True)
class FlowEvent:
    """One HTTP exchange the component made while authorizing (no header or
    body, so no secret)."""

    step: Step
    method: str
    url: str
    status: int | None

    @classmethod
    def _from(cls, r: Any) -> FlowEvent:
        return from_record(cls, r)


@dataclass(frozen=True)
class ServerEntry:
    server: str
    resource: str
    issuer: str


@dataclass(frozen=True)
class TokenEntry:
    token: TokenInfo
    grant_type: str | None


@dataclass(frozen=True)
class ClientEntry:
    issuer: str
    client_id: str
    auth_method: str
    has_secret: bool
    redirect_uri: str
    secret_expires_at: int | None


@dataclass(frozen=True)
class MetadataEntry:
    issuer: str
    fetched_at: int


@dataclass(frozen=True)
class StateSummary:
    """What a client's state holds: never a token, secret or key."""

    servers: list[ServerEntry]
    tokens: list[TokenEntry]
    clients: list[ClientEntry]
    metadata: list[MetadataEntry]
    has_dpop_key: bool

    @classmethod
    def _from(cls, r: Any) -> StateSummary:
        return cls(
            servers=[from_record(ServerEntry, s) for s in get(r, "servers")],
            tokens=[TokenEntry(TokenInfo._from(get(t, "token")), get(t, "grant_type"))
                    for t in get(r, "tokens")],
            clients=[from_record(ClientEntry, c) for c in get(r, "clients")],
            metadata=[from_record(MetadataEntry, m) for m in get(r, "metadata")],
            has_dpop_key=get(r, "has_dpop_key"),
        )


@dataclass(frozen=True)
class Forgotten:
    """What `Client.forget` removed."""

    tokens: list[tuple[str, str]]
    servers: list[str]

    @classmethod
    def _from(cls, r: Any) -> Forgotten:
        return cls(tokens=[tuple(t) for t in get(r, "tokens")], servers=list(get(r, "servers")))
