"""Typed errors.

`AuthError` and its subclasses are the component's `auth-error` variant:
one class per case, carrying that case's fields (`kind` is the WIT case
name). The component's errors never carry a token, secret or verifier, so
neither do these; their text escapes control characters, because servers
choose much of it (`error_description`, body excerpts, URLs).

Every exception this package raises is a `McpOAuthError`, which is the MCP
SDK's `OAuthFlowError`: code that catches the SDK's OAuth failures (such as
mcp-haystack, which then fails the connection at once) catches these too.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar

from mcp.client.auth.exceptions import OAuthFlowError

from .types import PendingAuthorization, Step, get

_STEP_LABELS = {
    "protected-resource-metadata": "protected resource metadata",
    "authorization-server-metadata": "authorization server metadata",
    "registration": "client registration",
    "authorization": "authorization",
    "token": "token",
    "resource": "MCP request",
}


def step_label(step: str) -> str:
    """A short label for a protocol step, for messages."""
    return _STEP_LABELS.get(step, step)


_BIDI = {"\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def printable(text: str) -> str:
    """`text` with every control character but the line feed (and the
    bidirectional overrides) written as an escape, so server-chosen text
    printed on a terminal shows what it holds and does nothing else."""
    out = []
    for c in text:
        if (c != "\n" and unicodedata.category(c) == "Cc") or c in _BIDI:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)


class McpOAuthError(OAuthFlowError):
    """Anything this package reports as a failure."""


class UserAgentError(McpOAuthError):
    """The user agent could not complete an authorization (a page that needs
    a person in headless mode, no redirect in time, a browser that could not
    be opened)."""


class StateFileError(McpOAuthError):
    """The state directory or file cannot be used."""


# ---------------------------------------------------------------------------
# The evidence records of `auth-error`


@dataclass(frozen=True)
class TransportFailure:
    step: Step
    url: str
    message: str


@dataclass(frozen=True)
class StatusFailure:
    step: Step
    url: str
    status: int
    body_excerpt: str


@dataclass(frozen=True)
class ResponseRefusal:
    step: Step
    url: str
    status: int | None
    detail: str


@dataclass(frozen=True)
class InvalidResponseDetail:
    step: Step
    url: str
    reason: str


@dataclass(frozen=True)
class OAuthFailure:
    step: Step
    url: str
    status: int | None
    error: str
    error_description: str | None
    error_uri: str | None

    def describe(self) -> str:
        s = f"{step_label(self.step)} at {self.url}: {self.error}"
        if self.error_description:
            s += f" ({self.error_description})"
        if self.status is not None:
            s += f" [HTTP {self.status}]"
        return s


@dataclass(frozen=True)
class Mismatch:
    url: str
    expected: str
    found: str


@dataclass(frozen=True)
class DiscoveryAttempt:
    url: str
    status: int | None


def _attempts(list_: list[DiscoveryAttempt]) -> str:
    return ", ".join(f"{a.url} → {a.status if a.status is not None else 'no response'}"
                     for a in list_)


# ---------------------------------------------------------------------------
# The cases


class AuthError(McpOAuthError):
    """One case of the component's `auth-error`. `kind` is the WIT case name,
    `detail` its payload (a string, an evidence record, a list, or None)."""

    kind: ClassVar[str] = ""

    def __init__(self, detail: Any = None) -> None:
        self.detail = detail
        super().__init__(printable(self.explain()))

    def explain(self) -> str:
        # Only a case this package does not know (a newer component) gets here.
        return f"auth error: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class InvalidArgument(AuthError):
    """An argument given by the host (a configuration value, a state
    document) is malformed or refused."""

    kind = "invalid-argument"

    def explain(self) -> str:
        return f"invalid argument: {self.detail}"


class InsecureUrl(AuthError):
    kind = "insecure-url"

    def explain(self) -> str:
        return (f"refused insecure URL {self.detail} (https is required, http only on loopback, "
                "and a remote server may not send the flow to loopback)")


class Transport(AuthError):
    kind = "transport"

    def explain(self) -> str:
        t = self.detail
        return f"{step_label(t.step)}: request to {t.url} failed: {t.message}"


class ResponseRefused(AuthError):
    kind = "response-refused"

    def explain(self) -> str:
        r = self.detail
        status = f"{r.status} " if r.status is not None else ""
        return f"{step_label(r.step)}: refused the {status}response from {r.url}: {r.detail}"


class UnexpectedStatus(AuthError):
    kind = "unexpected-status"

    def explain(self) -> str:
        s = self.detail
        out = f"{step_label(s.step)}: {s.url} answered HTTP {s.status}"
        return out + (f": {s.body_excerpt.strip()}" if s.body_excerpt else "")


class InvalidResponse(AuthError):
    kind = "invalid-response"

    def explain(self) -> str:
        r = self.detail
        return f"{step_label(r.step)}: invalid response from {r.url}: {r.reason}"


class NoResourceMetadata(AuthError):
    kind = "no-resource-metadata"

    def explain(self) -> str:
        return f"no protected resource metadata found (tried {_attempts(self.detail)})"


class NoAuthorizationServerMetadata(AuthError):
    kind = "no-authorization-server-metadata"

    def explain(self) -> str:
        return f"no authorization server metadata found (tried {_attempts(self.detail)})"


class ResourceMismatch(AuthError):
    kind = "resource-mismatch"

    def explain(self) -> str:
        m = self.detail
        return (f"protected resource metadata names another resource: {m.url} has {m.found!r}, "
                f"expected {m.expected!r}")


class IssuerMismatch(AuthError):
    kind = "issuer-mismatch"

    def explain(self) -> str:
        m = self.detail
        return (f"authorization server metadata names another issuer: {m.url} has {m.found!r}, "
                f"expected {m.expected!r}")


class CredentialIssuerMismatch(AuthError):
    kind = "credential-issuer-mismatch"

    def explain(self) -> str:
        m = self.detail
        return (f"refusing to send the configured credentials to {m.found!r} (named via {m.url}): "
                f"they belong to {m.expected!r}")


class PkceUnsupported(AuthError):
    kind = "pkce-unsupported"

    def explain(self) -> str:
        return (f"the authorization server does not offer PKCE S256 (metadata at {self.detail}); "
                "refusing to authorize")


class ClientIdRequired(AuthError):
    kind = "client-id-required"

    def explain(self) -> str:
        return f"{self.detail} offers no client registration: configure a client id for it"


class RegistrationRejected(AuthError):
    kind = "registration-rejected"

    def explain(self) -> str:
        return f"registration rejected: {self.detail.describe()}"


class StateMismatch(AuthError):
    kind = "state-mismatch"

    def explain(self) -> str:
        return "the redirect's state matches no pending authorization"


class IssMissing(AuthError):
    kind = "iss-missing"

    def explain(self) -> str:
        return f"the redirect lacks the iss parameter that {self.detail} advertises (RFC 9207)"


class IssMismatch(AuthError):
    kind = "iss-mismatch"

    def explain(self) -> str:
        m = self.detail
        return (f"the redirect's iss is wrong (possible mix-up attack): {m.url} has {m.found!r}, "
                f"expected {m.expected!r}")


class AuthorizationDenied(AuthError):
    kind = "authorization-denied"

    def explain(self) -> str:
        return f"authorization denied: {self.detail.describe()}"


class TokenRejected(AuthError):
    kind = "token-rejected"

    def explain(self) -> str:
        return f"token request rejected: {self.detail.describe()}"


class AuthorizationRequired(AuthError):
    """A user must authorize first: visit `pending.authorization_url`, then
    call `Client.complete_authorization` with the redirect."""

    kind = "authorization-required"

    @property
    def pending(self) -> PendingAuthorization:
        return self.detail

    def explain(self) -> str:
        return f"authorization required: visit {self.detail.authorization_url}"


class RenewalRequired(AuthError):
    """With `host_renews`: renew the token for this server URL under the
    host's lock (`Client.renew`), then call again."""

    kind = "renewal-required"

    def explain(self) -> str:
        return f"the token for {self.detail} must be renewed by the host first (host-renews)"


class StillUnauthorized(AuthError):
    kind = "still-unauthorized"

    def explain(self) -> str:
        s = self.detail
        body = f": {s.body_excerpt.strip()}" if s.body_excerpt else ""
        return f"{s.url} still answered HTTP {s.status} after a new token was obtained{body}"


CASES: dict[str, type[AuthError]] = {
    cls.kind: cls
    for cls in (
        InvalidArgument, InsecureUrl, Transport, ResponseRefused, UnexpectedStatus,
        InvalidResponse, NoResourceMetadata, NoAuthorizationServerMetadata, ResourceMismatch,
        IssuerMismatch, CredentialIssuerMismatch, PkceUnsupported, ClientIdRequired,
        RegistrationRejected, StateMismatch, IssMissing, IssMismatch, AuthorizationDenied,
        TokenRejected, AuthorizationRequired, RenewalRequired, StillUnauthorized,
    )
}


def _fields(cls: type, r: Any) -> Any:
    return cls(**{name: get(r, name) for name in cls.__dataclass_fields__})


_PAYLOADS: dict[str, Any] = {
    "transport": lambda r: _fields(TransportFailure, r),
    "response-refused": lambda r: _fields(ResponseRefusal, r),
    "unexpected-status": lambda r: _fields(StatusFailure, r),
    "still-unauthorized": lambda r: _fields(StatusFailure, r),
    "invalid-response": lambda r: _fields(InvalidResponseDetail, r),
    "no-resource-metadata": lambda a: [_fields(DiscoveryAttempt, x) for x in a],
    "no-authorization-server-metadata": lambda a: [_fields(DiscoveryAttempt, x) for x in a],
    "resource-mismatch": lambda r: _fields(Mismatch, r),
    "issuer-mismatch": lambda r: _fields(Mismatch, r),
    "credential-issuer-mismatch": lambda r: _fields(Mismatch, r),
    "iss-mismatch": lambda r: _fields(Mismatch, r),
    "registration-rejected": lambda r: _fields(OAuthFailure, r),
    "authorization-denied": lambda r: _fields(OAuthFailure, r),
    "token-rejected": lambda r: _fields(OAuthFailure, r),
    "authorization-required": PendingAuthorization._from,
}


def from_wit(variant: Any) -> AuthError:
    """The exception for an `auth-error` value the component returned."""
    tag = variant.tag
    cls = CASES.get(tag)
    if cls is None:
        # A newer component with a case this package does not know yet.
        return AuthError(f"{tag} (a case this version of the package does not know)")
    convert = _PAYLOADS.get(tag)
    payload = variant.payload
    return cls(convert(payload) if convert is not None else payload)
