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

from .types import PendingAuthorization, Step, from_record

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


def _case(name: str, kind: str, explain: Any, doc: str | None = None,
          base: type[AuthError] | None = None) -> type[AuthError]:
    """The class of the `auth-error` case `kind`, named `name`, whose
    message is `explain(detail)`."""
    namespace = {
        "kind": kind,
        "explain": lambda self: explain(self.detail),
        "__doc__": doc or f"The component's `{kind}` error.",
        "__module__": __name__,
    }
    return type(name, (base or AuthError,), namespace)


def _mismatch(what: str) -> Any:
    return lambda m: f"{what}: {m.url} has {m.found!r}, expected {m.expected!r}"


def _status(s: StatusFailure, what: str) -> str:
    body = f": {s.body_excerpt.strip()}" if s.body_excerpt else ""
    return f"{s.url} {what}{body}"


InvalidArgument = _case(
    "InvalidArgument", "invalid-argument", lambda d: f"invalid argument: {d}",
    "An argument given by the host (a configuration value, a state document) is malformed "
    "or refused.")
InsecureUrl = _case(
    "InsecureUrl", "insecure-url",
    lambda d: (f"refused insecure URL {d} (https is required, http only on loopback, "
               "and a remote server may not send the flow to loopback)"))
Transport = _case(
    "Transport", "transport",
    lambda t: f"{step_label(t.step)}: request to {t.url} failed: {t.message}")
ResponseRefused = _case(
    "ResponseRefused", "response-refused",
    lambda r: (f"{step_label(r.step)}: refused the "
               f"{f'{r.status} ' if r.status is not None else ''}response from {r.url}: {r.detail}"))
UnexpectedStatus = _case(
    "UnexpectedStatus", "unexpected-status",
    lambda s: f"{step_label(s.step)}: {_status(s, f'answered HTTP {s.status}')}")
InvalidResponse = _case(
    "InvalidResponse", "invalid-response",
    lambda r: f"{step_label(r.step)}: invalid response from {r.url}: {r.reason}")
NoResourceMetadata = _case(
    "NoResourceMetadata", "no-resource-metadata",
    lambda a: f"no protected resource metadata found (tried {_attempts(a)})")
NoAuthorizationServerMetadata = _case(
    "NoAuthorizationServerMetadata", "no-authorization-server-metadata",
    lambda a: f"no authorization server metadata found (tried {_attempts(a)})")
ResourceMismatch = _case(
    "ResourceMismatch", "resource-mismatch",
    _mismatch("protected resource metadata names another resource"))
IssuerMismatch = _case(
    "IssuerMismatch", "issuer-mismatch",
    _mismatch("authorization server metadata names another issuer"))
CredentialIssuerMismatch = _case(
    "CredentialIssuerMismatch", "credential-issuer-mismatch",
    lambda m: (f"refusing to send the configured credentials to {m.found!r} (named via {m.url}): "
               f"they belong to {m.expected!r}"))
PkceUnsupported = _case(
    "PkceUnsupported", "pkce-unsupported",
    lambda d: (f"the authorization server does not offer PKCE S256 (metadata at {d}); "
               "refusing to authorize"))
ClientIdRequired = _case(
    "ClientIdRequired", "client-id-required",
    lambda d: f"{d} offers no client registration: configure a client id for it")
RegistrationRejected = _case(
    "RegistrationRejected", "registration-rejected",
    lambda f: f"registration rejected: {f.describe()}")
StateMismatch = _case(
    "StateMismatch", "state-mismatch",
    lambda _: "the redirect's state matches no pending authorization")
IssMissing = _case(
    "IssMissing", "iss-missing",
    lambda d: f"the redirect lacks the iss parameter that {d} advertises (RFC 9207)")
IssMismatch = _case(
    "IssMismatch", "iss-mismatch",
    _mismatch("the redirect's iss is wrong (possible mix-up attack)"))
AuthorizationDenied = _case(
    "AuthorizationDenied", "authorization-denied",
    lambda f: f"authorization denied: {f.describe()}")
TokenRejected = _case(
    "TokenRejected", "token-rejected",
    lambda f: f"token request rejected: {f.describe()}")
RenewalRequired = _case(
    "RenewalRequired", "renewal-required",
    lambda d: f"the token for {d} must be renewed by the host first (host-renews)",
    "With `host_renews`: renew the token for this server URL under the host's lock "
    "(`Client.renew`), then call again.")
StillUnauthorized = _case(
    "StillUnauthorized", "still-unauthorized",
    lambda s: _status(s, f"still answered HTTP {s.status} after a new token was obtained"))


class AuthorizationRequired(AuthError):
    """A user must authorize first: visit `pending.authorization_url`, then
    call `Client.complete_authorization` with the redirect."""

    kind = "authorization-required"

    @property
    def pending(self) -> PendingAuthorization:
        return self.detail

    def explain(self) -> str:
        return f"authorization required: visit {self.detail.authorization_url}"


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


_PAYLOADS: dict[str, Any] = {
    "transport": lambda r: from_record(TransportFailure, r),
    "response-refused": lambda r: from_record(ResponseRefusal, r),
    "unexpected-status": lambda r: from_record(StatusFailure, r),
    "still-unauthorized": lambda r: from_record(StatusFailure, r),
    "invalid-response": lambda r: from_record(InvalidResponseDetail, r),
    "no-resource-metadata": lambda a: [from_record(DiscoveryAttempt, x) for x in a],
    "no-authorization-server-metadata": lambda a: [from_record(DiscoveryAttempt, x) for x in a],
    "resource-mismatch": lambda r: from_record(Mismatch, r),
    "issuer-mismatch": lambda r: from_record(Mismatch, r),
    "credential-issuer-mismatch": lambda r: from_record(Mismatch, r),
    "iss-mismatch": lambda r: from_record(Mismatch, r),
    "registration-rejected": lambda r: from_record(OAuthFailure, r),
    "authorization-denied": lambda r: from_record(OAuthFailure, r),
    "token-rejected": lambda r: from_record(OAuthFailure, r),
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
