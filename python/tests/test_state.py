"""The state file: where it is, its modes, its lock, refusals, and the
three-way merge of processes that write it."""

import os
import stat
from pathlib import Path

import pytest

from mcp_oauth import Client, ClientConfig, StateFileError
from mcp_oauth.state import Persistence, StateFile, registered_port, state_dir
from mcp_oauth.types import ClientEntry, ServerEntry, StateSummary


def test_the_state_directory_follows_the_argument_the_variable_then_xdg() -> None:
    env = {"MCP_OAUTH_STATE_DIR": "/var/s", "XDG_STATE_HOME": "/x", "HOME": "/h"}
    assert state_dir("/flag", env) == Path("/flag")
    assert state_dir(None, env) == Path("/var/s")
    assert state_dir(None, {**env, "MCP_OAUTH_STATE_DIR": ""}) == Path("/x/mcp-oauth")
    assert state_dir(None, {"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path("/h/.local/state/mcp-oauth")
    with pytest.raises(StateFileError, match="MCP_OAUTH_STATE_DIR"):
        state_dir(None, {})


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_files_are_written_atomically_with_mode_0600_under_the_lock(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "nested")
    assert file.read() is None
    with file.lock() as lock:
        assert file.try_lock() is None, "the lock is exclusive"
        lock.write(b'{"version":2}')
    again = file.try_lock()
    assert again is not None
    again.release()
    assert file.read() == b'{"version":2}'
    assert (mode(file.path), mode(file.lock_path), mode(file.dir)) == (0o600, 0o600, 0o700)
    assert sorted(os.listdir(file.dir)) == ["state.json", "state.lock"], "no temporary file left"


def test_a_state_directory_others_could_tamper_with_is_refused(tmp_path: Path) -> None:
    good = StateFile(tmp_path / "good")
    with good.lock() as lock:
        lock.write(b'{"version":2}')
    os.chmod(good.dir, 0o777)
    with pytest.raises(StateFileError, match="can be written by other users"):
        good.read()
    with pytest.raises(StateFileError):
        good.lock()
    os.chmod(good.dir, 0o700)

    (tmp_path / "link").symlink_to(good.dir)
    with pytest.raises(StateFileError, match="symbolic link"):
        StateFile(tmp_path / "link").read()

    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(b'{"version":2}')
    linked = StateFile(tmp_path / "linked")
    linked.dir.mkdir(mode=0o700)
    linked.path.symlink_to(elsewhere)
    with pytest.raises(StateFileError, match="not a regular file"):
        linked.read()
    linked.path.unlink()
    linked.lock_path.symlink_to(elsewhere)
    with pytest.raises(StateFileError, match="not a regular file"):
        linked.lock()
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(StateFileError, match="not a directory"):
        StateFile(tmp_path / "plain").read()


def client() -> Client:
    return Client.open(ClientConfig("t", "http://127.0.0.1:1/callback"))


def test_a_file_the_component_refuses_is_named_and_left_as_it_is(tmp_path: Path) -> None:
    file = StateFile(tmp_path)
    for content, reason in ((b"{not json", "not a valid state document"),
                            (b'{"version":3}', "state version 3 is not supported")):
        with file.lock() as lock:
            lock.write(content)
        with pytest.raises(StateFileError) as e:
            Persistence.attach(file, file.read(), client())
        assert str(file.path) in str(e.value) and reason in str(e.value)
        assert "left as it is" in str(e.value)
        assert file.path.read_bytes() == content, "never overwritten"


def token(resource: str, secret: str) -> str:
    return (f'{{"resource":"{resource}","issuer":"https://as.example","access_token":"{secret}",'
            f'"token_type":"Bearer","expires_at":4102444800,"grant_type":"authorization_code"}}')


def test_two_processes_changes_are_merged_not_overwritten(tmp_path: Path) -> None:
    a_url, b_url = "https://a.example/mcp", "https://b.example/mcp"
    doc = (f'{{"version":2,"tokens":[{token(a_url, "AT-A")},{token(b_url, "AT-B")}],'
           '"clients":{},"bindings":{},"metadata":{}}').encode()
    file = StateFile(tmp_path)
    with file.lock() as lock:
        lock.write(doc)
    one, two = client(), client()
    p1 = Persistence.attach(file, file.read(), one)
    p2 = Persistence.attach(file, file.read(), two)
    one.forget(a_url)
    p1.save(one)
    two.forget(b_url)
    p2.save(two)  # merged with what the first wrote: a's token stays gone
    third = client()
    Persistence.attach(file, file.read(), third)
    assert third.summary().tokens == []
    assert two.token_status(a_url) == "none", "the second took in the first's change"
    assert mode(file.path) == 0o600


def test_the_registered_loopback_port_is_found() -> None:
    def c(issuer: str, uri: str) -> ClientEntry:
        return ClientEntry(issuer, "c", "none", False, uri, None)

    summary = StateSummary([ServerEntry("http://127.0.0.1:5000/mcp", "r", "i")], [],
                           [c("i", "http://127.0.0.1:41234/callback")], [], False)
    assert registered_port(summary, "http://127.0.0.1:5000/mcp#x") == 41234
    other_issuer = StateSummary([ServerEntry("https://mcp.example.com/mcp", "r", "j")], [],
                                [c("i", "http://127.0.0.1:1111/callback"),
                                 c("j", "http://127.0.0.1:2222/callback")], [], False)
    assert registered_port(other_issuer, "HTTPS://MCP.Example.com/mcp") == 2222
    assert registered_port(summary, "http://127.0.0.1:5001/mcp") == 41234
    odd = StateSummary([ServerEntry("s", "r", "i")], [],
                       [c("i", "http://localhost:41234/callback"), c("j", "http://127.0.0.1:1/callback")],
                       [], False)
    assert registered_port(odd, "s") is None
    assert registered_port(StateSummary([], [], [], [], False), "s") is None
