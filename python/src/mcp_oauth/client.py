"""The component hosted in wasmtime-py: `Runtime` (engine, compiled
component, linker with wasmtime's WASI 0.2 and wasi:http) and `Client`, the
WIT `client` resource, with `HostCall`, the `host-call` resource of
host-sends mode.

The component is not thread-safe: every call into an instance holds that
instance's lock (`Client.lock`, re-entrant, so a host can hold it across a
sequence of calls). Calls block; async code runs them in a worker thread.

`wrap-call` is not offered: it returns a `wasi:http` `incoming-response`, a
resource that wasmtime-py's built-in wasi:http defines in Rust and gives
Python no methods to read. Host-sends mode (`begin_call`) is the way for
Python: the host's HTTP client sends, and the component's own requests
(discovery, registration, tokens) still go through wasi:http.
"""

from __future__ import annotations

import threading
from importlib import resources
from os import environ
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc
from wasmtime.component import Variant

from . import errors
from .errors import InvalidArgument, McpOAuthError
from .types import (
    CallStep,
    ClientConfig,
    FlowEvent,
    Forgotten,
    PendingAuthorization,
    StateSummary,
    TokenInfo,
    TokenState,
)

INTERFACE = "mcp:oauth/client@0.2.0"
WASM_VAR = "MCP_OAUTH_WASM"


class ComponentTrap(McpOAuthError):
    """The component trapped (a bug, or a resource limit); the instance that
    trapped cannot be used again."""


def component_bytes() -> bytes:
    """The component: `$MCP_OAUTH_WASM` if set, else the one the package
    ships (`mcp_oauth/mcp_oauth.wasm`)."""
    given = environ.get(WASM_VAR)
    if given:
        try:
            return Path(given).read_bytes()
        except OSError as e:
            raise McpOAuthError(f"{WASM_VAR}={given} cannot be read: {e.strerror}") from None
    packaged = resources.files("mcp_oauth").joinpath("mcp_oauth.wasm")
    try:
        return packaged.read_bytes()
    except (FileNotFoundError, OSError):
        raise McpOAuthError(
            "the package has no mcp_oauth.wasm (an editable install?): install it with "
            f"`pip install ./python`, or set {WASM_VAR} to a built component"
        ) from None


class Runtime:
    """An engine, the compiled component and a linker with WASI 0.2 and
    wasi:http: made once (compiling takes a fraction of a second), then
    instantiated once per `Client`."""

    _shared: Runtime | None = None
    _shared_lock = threading.Lock()

    def __init__(self, wasm: bytes | None = None) -> None:
        self.engine = wasmtime.Engine()
        try:
            self.component = wc.Component(self.engine, wasm if wasm is not None else component_bytes())
        except wasmtime.WasmtimeError as e:
            raise McpOAuthError(f"the component cannot be compiled: {e}") from None
        self.linker = wc.Linker(self.engine)
        self.linker.add_wasip2()
        self.linker.add_wasi_http()

    @classmethod
    def shared(cls) -> Runtime:
        """The process's runtime, made on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = Runtime()
            return cls._shared

    def instantiate(self) -> _Instance:
        return _Instance(self)


class _Instance:
    """One component instance in its own store, with its lock. WASI gets no
    arguments, environment, standard streams or directories: the component
    uses only wasi:http, clocks and random."""

    def __init__(self, runtime: Runtime) -> None:
        self.lock = threading.RLock()
        self.store = wasmtime.Store(runtime.engine)
        self.store.set_wasi(wasmtime.WasiConfig())
        self.store.set_wasi_http()
        self.instance = runtime.linker.instantiate(self.store, runtime.component)
        iface = self.instance.get_export_index(self.store, INTERFACE)
        if iface is None:
            raise McpOAuthError(f"the component does not export {INTERFACE}")
        self._iface = iface
        self._funcs: dict[str, tuple[Any, str]] = {}
        self.poisoned = False

    def _func(self, name: str) -> tuple[Any, str]:
        found = self._funcs.get(name)
        if found is None:
            index = self.instance.get_export_index(self.store, name, self._iface)
            func = self.instance.get_func(self.store, index) if index is not None else None
            if func is None:
                raise McpOAuthError(f"the component does not export {name}")
            found = self._funcs[name] = (func, _result_mode(func.type(self.store).result))
        return found

    def call(self, name: str, *args: Any) -> Any:
        """Calls export `name`; a `result` that is an error raises its
        `AuthError`, an ok result returns its value."""
        with self.lock:
            if self.poisoned:
                raise ComponentTrap("this component instance trapped earlier and cannot be used")
            func, mode = self._func(name)
            try:
                value = func(self.store, *args)
            except wasmtime.WasmtimeError as e:
                self.poisoned = True
                raise ComponentTrap(f"the component trapped in {name}: {e}") from None
        if mode == "tagged":
            if value.tag == "err":
                raise errors.from_wit(value.payload)
            return value.payload
        if mode == "untagged" and isinstance(value, Variant):
            raise errors.from_wit(value)
        return value

    def drop(self, resource: Any) -> None:
        with self.lock:
            if not self.poisoned:
                resource.drop(self.store)


def _result_mode(result_ty: Any) -> str:
    """How wasmtime-py hands back a function's result: `plain` (no
    `result`), `tagged` (Variant('ok' | 'err', value): the ok and error
    values could be of one Python class) or `untagged` (the ok value itself,
    or the error's Variant; auth-error is always a Variant and the ok value
    never is)."""
    if not isinstance(result_ty, wc.ResultType):
        return "plain"
    return "tagged" if result_ty._tagged() else "untagged"


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a str, not {type(value).__name__}")
    return value


def _opt_str(name: str, value: Any) -> str | None:
    return None if value is None else _str(name, value)


class _Resource:
    """A component resource this package holds: usable until `close`, which
    drops it in its instance (also on leaving a `with` block)."""

    _what = "resource"

    def __init__(self, inst: _Instance, resource: Any) -> None:
        self._inst = inst
        self._resource = resource

    def _live(self) -> Any:
        if self._resource is None:
            raise InvalidArgument(f"this {self._what} is closed")
        return self._resource

    def close(self) -> None:
        """Drops the resource in the component."""
        if self._resource is not None:
            resource, self._resource = self._resource, None
            self._inst.drop(resource)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostCall(_Resource):
    """One request in host-sends mode (`Client.begin_call`): set `headers()`
    on the request, send it, report the response to `response()`, which
    says `"deliver"` or `"resend"` (with new `headers()`). The headers carry
    the access token: send them to this call's URL only. Close it when done
    (or use it as a context manager)."""

    _what = "host call"

    def __init__(self, client: Client, resource: Any, method: str, url: str) -> None:
        super().__init__(client._inst, resource)
        self._client = client
        self.method = method
        self.url = url

    def __repr__(self) -> str:
        return f"HostCall({self.method} {self.url})"

    def headers(self) -> list[tuple[str, str]]:
        """The headers to set now (`authorization`, and `dpop` for a
        DPoP-bound token), replacing any of the same names."""
        return [tuple(h) for h in self._client._inst.call("[method]host-call.headers", self._live())]

    def response(self, status: int, www_authenticate: str | None = None,
                 dpop_nonce: str | None = None) -> CallStep:
        """Reports the response to the request sent with `headers()`:
        `"deliver"` it, or `"resend"` the request with the new headers.
        Raises `AuthorizationRequired` when a user is needed."""
        if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 0xFFFF:
            raise InvalidArgument(f"status must be an HTTP status code, not {status!r}")
        return self._client._inst.call(
            "[method]host-call.response", self._live(), status,
            _opt_str("www_authenticate", www_authenticate), _opt_str("dpop_nonce", dpop_nonce))


class Client(_Resource):
    """The WIT `client` resource: one MCP client identity (configuration,
    tokens, registrations, cached metadata) in its own component instance.
    Methods raise the component's errors as `AuthError` subclasses."""

    _what = "client"

    def __init__(self, inst: _Instance, resource: Any, config: ClientConfig) -> None:
        super().__init__(inst, resource)
        self.config = config

    @classmethod
    def open(cls, config: ClientConfig, runtime: Runtime | None = None) -> Client:
        """A client with this configuration and an empty state. A value the
        component cannot use raises `InvalidArgument` naming it."""
        if not isinstance(config, ClientConfig):
            raise InvalidArgument(f"config must be a ClientConfig, not {type(config).__name__}")
        inst = (runtime or Runtime.shared()).instantiate()
        try:
            resource = inst.call("[static]client.open", config._wit())
        except (TypeError, ValueError) as e:
            # wasmtime-py's conversion refused a value of the wrong type (in
            # a nested record the checks above do not look into).
            raise InvalidArgument(f"a client-config value has the wrong type: {e}") from None
        return cls(inst, resource, config)

    @property
    def lock(self) -> threading.RLock:
        """The instance's lock: held by every call; hold it to make a
        sequence of calls that no other thread interleaves."""
        return self._inst.lock

    def __repr__(self) -> str:
        return f"Client({self.config.client_name!r}, redirect_uri={self.config.redirect_uri!r})"


    def _call(self, method: str, *args: Any) -> Any:
        return self._inst.call(f"[method]client.{method}", self._live(), *args)

    def authorize(self, resource: str, challenge: str | None = None) -> TokenInfo | PendingAuthorization:
        """A usable token's `TokenInfo`, or the `PendingAuthorization` a user
        must visit first."""
        grant = self._call("authorize", _str("resource", resource), _opt_str("challenge", challenge))
        if grant.tag == "authorized":
            return TokenInfo._from(grant.payload)
        return PendingAuthorization._from(grant.payload)

    def complete_authorization(self, callback_url: str) -> TokenInfo:
        """Finishes a pending authorization with the URL the user agent was
        redirected to. May raise `AuthorizationRequired` once more (an
        `invalid_scope` redirect for a client the component registered)."""
        return TokenInfo._from(self._call("complete-authorization", _str("callback_url", callback_url)))

    def begin_call(self, method: str, url: str) -> HostCall:
        """Host-sends mode: renews a stale token and returns the `HostCall`
        whose headers go on the host's `method` request to `url`."""
        resource = self._call("begin-call", _str("method", method), _str("url", url))
        return HostCall(self, resource, method, url)

    def token_status(self, resource: str) -> TokenState:
        return self._call("token-status", _str("resource", resource))

    def renew(self, resource: str) -> TokenInfo | None:
        info = self._call("renew", _str("resource", resource))
        return None if info is None else TokenInfo._from(info)

    def take_events(self) -> list[FlowEvent]:
        return [FlowEvent._from(e) for e in self._call("take-events")]

    def export_state(self) -> bytes:
        """The state document (JSON). It contains secrets: store it as such."""
        return bytes(self._call("export-state"))

    def import_state(self, state: bytes, base: bytes | None = None) -> None:
        """Replaces the state with `state`, or with `base` (the document
        this client last read or wrote) merges it entry by entry."""
        if not isinstance(state, bytes) or (base is not None and not isinstance(base, bytes)):
            raise InvalidArgument("state and base must be bytes")
        self._call("import-state", state, base)

    def summary(self) -> StateSummary:
        return StateSummary._from(self._call("summary"))

    def forget(self, server: str | None = None) -> Forgotten:
        return Forgotten._from(self._call("forget", _opt_str("server", server)))

    def close(self) -> None:
        """Drops the client: what was not exported is forgotten."""
        super().close()


__all__ = ["Client", "HostCall", "Runtime", "ComponentTrap", "component_bytes"]
