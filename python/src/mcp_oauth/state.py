"""The persisted state: the component's `export-state` document in one file,
shared by every process of the user — the Rust `mcp-oauth` CLI's too (the
same directory, file name, lock file and format: host-test/src/state.rs).

- Where: `state.json` in the state directory — the one given, else
  `$MCP_OAUTH_STATE_DIR`, else `$XDG_STATE_HOME/mcp-oauth`, else
  `~/.local/state/mcp-oauth`. The directory is created with mode 0700, the
  file written with mode 0600: it holds tokens, refresh tokens, client
  secrets and the DPoP key.
- How: atomically (a temporary file in the same directory, fsync, rename,
  fsync of the directory), and only while holding an exclusive `flock` on
  `state.lock` next to it. The lock is held for a read-modify-write and for
  a token refresh, never while a user authorizes or a response streams.
- One refresh at a time: before a request, `Persistence.prepare` asks the
  component for `token-status`; when it says `renewable`, it takes the lock,
  reads the file again and imports it, calls `renew` only if the token still
  needs it, writes the result and releases the lock.
- Concurrent writers: changes are written back with the component's
  three-way merge (`import-state` with the document last read or written as
  the base), so entries another process wrote meanwhile are kept.
- A directory or file another user could tamper with (a symbolic link,
  another owner, writable by others), or a document the component refuses,
  raises `StateFileError` naming it; a refused file is never overwritten.

This module moves the document's bytes and never reads them.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .client import Client
from .errors import AuthError, InvalidArgument, StateFileError
from .types import StateSummary, TokenInfo

STATE_DIR_VAR = "MCP_OAUTH_STATE_DIR"
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"


def state_dir(given: str | os.PathLike[str] | None = None,
              env: Mapping[str, str] = os.environ) -> Path:
    """The state directory: `given`, else `$MCP_OAUTH_STATE_DIR`, else
    `$XDG_STATE_HOME/mcp-oauth` (when absolute), else
    `$HOME/.local/state/mcp-oauth`. Empty variables count as unset."""
    if given:
        return Path(given)
    if env.get(STATE_DIR_VAR):
        return Path(env[STATE_DIR_VAR])
    xdg = env.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "mcp-oauth"
    home = env.get("HOME")
    if home:
        return Path(home) / ".local" / "state" / "mcp-oauth"
    raise StateFileError(
        f"cannot find a state directory: HOME is not set; give a state directory or set {STATE_DIR_VAR}")


def _check_owner_and_mode(path: Path, st: os.stat_result, what: str) -> None:
    me = os.geteuid()
    if st.st_uid != me:
        raise StateFileError(
            f"the {what} {path} belongs to another user (uid {st.st_uid}, this process runs as "
            f"{me}); refusing it")
    if st.st_mode & 0o022:
        raise StateFileError(
            f"the {what} {path} can be written by other users (mode {st.st_mode & 0o777:o}); "
            "run chmod go-w on it")


def _lstat(path: Path, what: str) -> os.stat_result | None:
    """`lstat` of `path` (the `what` it is, for the error), `None` when it
    does not exist yet."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateFileError(f"cannot inspect {what} {path}: {e.strerror}") from None


def _check_dir(path: Path) -> None:
    st = _lstat(path, "the state directory")
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise StateFileError(
            f"the state directory {path} is a symbolic link; refusing to follow it (give the real "
            "directory)")
    if not stat.S_ISDIR(st.st_mode):
        raise StateFileError(f"the state directory {path} is not a directory")
    _check_owner_and_mode(path, st, "state directory")


def _check_file(path: Path) -> None:
    st = _lstat(path, "the state file")
    if st is None:
        return
    if not stat.S_ISREG(st.st_mode):
        raise StateFileError(f"{path} is not a regular file (a symbolic link?); refusing to use it")
    _check_owner_and_mode(path, st, "file")


class StateFile:
    """The state file in a state directory (created when first written)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    def __repr__(self) -> str:
        return f"StateFile({str(self.dir)!r})"

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    @property
    def lock_path(self) -> Path:
        return self.dir / LOCK_FILE

    def read(self) -> bytes | None:
        """The document as stored; None when there is no file."""
        _check_dir(self.dir)
        _check_file(self.path)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateFileError(f"cannot read the state file {self.path}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def _create_dir(self) -> None:
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        except OSError as e:
            raise StateFileError(f"cannot create the state directory {self.dir}: {e.strerror}") from None
        _check_dir(self.dir)

    def _open_lock_file(self) -> int:
        self._create_dir()
        _check_file(self.lock_path)
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise StateFileError(f"cannot open the lock file {self.lock_path}: {e.strerror}") from None

    def lock(self, waiting: Callable[[], None] | None = None) -> StateLock:
        """Takes the exclusive lock, waiting for another process to release
        it (`waiting` is called once if it has to)."""
        fd = self._open_lock_file()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting is not None:
                    waiting()
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            os.close(fd)
            raise StateFileError(f"cannot lock {self.lock_path}: {e.strerror}") from None
        return StateLock(self, fd)

    def try_lock(self) -> StateLock | None:
        """Takes the exclusive lock if no other holder has it."""
        fd = self._open_lock_file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as e:
            os.close(fd)
            raise StateFileError(f"cannot lock {self.lock_path}: {e.strerror}") from None
        return StateLock(self, fd)


class StateLock:
    """The exclusive lock on a state file; released by `release` or at the
    end of a `with` block."""

    def __init__(self, file: StateFile, fd: int) -> None:
        self.file = file
        self._fd: int | None = fd

    def read(self) -> bytes | None:
        return self.file.read()

    def write(self, data: bytes) -> None:
        """Replaces the state file with `data`: a temporary file in the same
        directory with mode 0600, synced, renamed over the state file, then
        the directory synced."""
        path = self.file.path
        temp = self.file.dir / f"{STATE_FILE}.tmp-{os.getpid()}-{time.time_ns()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, path)
        except OSError as e:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise StateFileError(f"cannot write the state file {path}: {e.strerror}") from None
        try:
            dfd = os.open(self.file.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unusable(path: Path, reason: str) -> StateFileError:
    advice = ("it was written by a newer mcp-oauth: use that one" if "is not supported" in reason
              else "delete it to start over")
    return StateFileError(f"the state file {path} cannot be used: {reason}. It was left as it is; "
                          f"{advice}")


def _refusal(e: AuthError) -> str:
    return str(e.detail) if isinstance(e, InvalidArgument) else str(e)


@dataclass(frozen=True)
class Renewal:
    """What `Persistence.prepare` did: `kind` is `not-needed`,
    `by-another-process`, `renewed` (with `info`) or `failed` (with
    `error`; the request goes on and the component authorizes again if it
    must)."""

    kind: str
    info: TokenInfo | None = None
    error: AuthError | None = None


class Persistence:
    """Keeps a `Client`'s state in a `StateFile`."""

    def __init__(self, file: StateFile, base: bytes) -> None:
        self.file = file
        self._base = base

    def __repr__(self) -> str:
        return f"Persistence({self.file!r})"

    @classmethod
    def attach(cls, file: StateFile, doc: bytes | None, client: Client) -> Persistence:
        """Imports `doc` (read from `file`) into `client` and keeps its state
        there. A document the component refuses raises `StateFileError`
        naming the file; the file is left as it is."""
        with client.lock:
            if doc is not None:
                try:
                    client.import_state(doc)
                except AuthError as e:
                    raise _unusable(file.path, _refusal(e)) from None
            return cls(file, client.export_state())

    def _sync_locked(self, lock: StateLock, client: Client) -> None:
        disk = lock.read()
        if disk is not None:
            try:
                client.import_state(disk, self._base)
            except AuthError as e:
                raise _unusable(self.file.path, _refusal(e)) from None
        merged = client.export_state()
        if disk != merged:
            lock.write(merged)
        self._base = merged

    def save(self, client: Client, waiting: Callable[[], None] | None = None) -> None:
        """Writes the client's state if it changed since the last read or
        write, merged with what other processes wrote meanwhile."""
        with client.lock:
            if client.export_state() == self._base:
                return
            with self.file.lock(waiting) as lock:
                self._sync_locked(lock, client)

    def prepare(self, client: Client, url: str, waiting: Callable[[], None] | None = None) -> Renewal:
        """Before a request to `url`: when `token-status` says `renewable`,
        takes the lock, imports the newest state, renews the token only if it
        still needs it, writes the state and releases the lock."""
        with client.lock:
            if client.token_status(url) != "renewable":
                return Renewal("not-needed")
            with self.file.lock(waiting) as lock:
                self._sync_locked(lock, client)
                status = client.token_status(url)
                if status == "renewable":
                    try:
                        info = client.renew(url)
                        renewal = Renewal("renewed", info) if info else Renewal("not-needed")
                    except AuthError as e:
                        renewal = Renewal("failed", error=e)
                elif status == "fresh":
                    renewal = Renewal("by-another-process")
                else:
                    renewal = Renewal("not-needed")
                self._sync_locked(lock, client)
            return renewal


def _callback_port(uri: str) -> int | None:
    prefix, suffix = "http://127.0.0.1:", "/callback"
    if not (uri.startswith(prefix) and uri.endswith(suffix)):
        return None
    digits = uri[len(prefix):-len(suffix)]
    if not digits.isdigit() or str(int(digits)) != digits or not 0 < int(digits) < 65536:
        return None
    return int(digits)


def _same_server(stored: str, url: str) -> bool:
    def norm(u: str) -> tuple[str, str, int | None, str, str] | None:
        p = urlsplit(u)
        try:
            port = p.port
        except ValueError:
            return None
        return (p.scheme.lower(), (p.hostname or "").lower(), port, p.path or "/", p.query)

    a, b = norm(stored), norm(url)
    return a == b if a is not None and b is not None else stored == url


def registered_port(summary: StateSummary, server_url: str) -> int | None:
    """The loopback port of the redirect URI a stored registration uses —
    that of the issuer `server_url` is bound to, else the first one's — if it
    is `http://127.0.0.1:<port>/callback`: redirecting there again reuses
    the registration instead of registering anew."""
    bound = next((s for s in summary.servers if _same_server(s.server, server_url)), None)
    if bound is not None:
        client = next((c for c in summary.clients if c.issuer == bound.issuer), None)
        return _callback_port(client.redirect_uri) if client else None
    for c in summary.clients:
        port = _callback_port(c.redirect_uri)
        if port is not None:
            return port
    return None


__all__ = ["StateFile", "StateLock", "Persistence", "Renewal", "state_dir", "registered_port",
           "STATE_DIR_VAR", "STATE_FILE", "LOCK_FILE"]
