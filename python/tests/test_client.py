"""The component hosted in wasmtime-py: its errors are typed, bad input is
refused with InvalidArgument, nothing is sent before a server asks."""

import pytest

from mcp_oauth import Client, ClientConfig, InvalidArgument, OAuth
from mcp_oauth import errors
from mcp_oauth.types import ClientCredentials, Relaxations


def client(**extra: object) -> Client:
    return Client.open(ClientConfig("test", "http://127.0.0.1:1/callback", **extra))


def test_a_configuration_the_component_refuses_names_the_value() -> None:
    with pytest.raises(InvalidArgument, match="redirect-uri ftp://x"):
        Client.open(ClientConfig("test", "ftp://x"))
    with pytest.raises(InvalidArgument, match="client-secret given without client-id"):
        client(client_secret="S3CRET")
    with pytest.raises(InvalidArgument, match="dpop 'sometimes'"):
        client(dpop="sometimes")
    with pytest.raises(InvalidArgument, match="timeout-ms 'soon'"):
        client(timeout_ms="soon")
    with pytest.raises(InvalidArgument, match="scope must be a string"):
        client(scope=["mcp:tools"])
    with pytest.raises(InvalidArgument, match="wrong type"):
        client(relaxations=Relaxations(omit_resource="yes"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="ClientConfig"):
        Client.open({"client_name": "x"})  # type: ignore[arg-type]


def test_a_new_client_holds_nothing_and_adds_no_header() -> None:
    with client() as c:
        assert c.token_status("http://127.0.0.1:9/mcp") == "none"
        s = c.summary()
        assert (s.servers, s.tokens, s.clients, s.has_dpop_key) == ([], [], [], False)
        with c.begin_call("POST", "http://127.0.0.1:9/mcp") as call:
            assert call.headers() == []
            assert repr(call) == "HostCall(POST http://127.0.0.1:9/mcp)"
        assert c.take_events() == []


def test_a_token_is_never_handed_out_for_an_insecure_url() -> None:
    with client() as c:
        for url in ("http://mcp.example.com/mcp", "https://user:pw@mcp.example.com/mcp"):
            with pytest.raises(errors.InsecureUrl) as e:
                c.begin_call("POST", url)
            assert e.value.detail == url


def test_a_401_from_an_unreachable_server_is_a_transport_error_with_its_events() -> None:
    with client() as c, c.begin_call("POST", "http://127.0.0.1:9/mcp") as call:
        with pytest.raises(errors.Transport) as e:
            call.response(401, 'Bearer resource_metadata="http://127.0.0.1:9/prm"')
        assert e.value.detail.url == "http://127.0.0.1:9/prm"
        assert e.value.detail.step == "protected-resource-metadata"
        events = c.take_events()
        assert [(ev.step, ev.status) for ev in events] == [("resource", 401),
                                                          ("protected-resource-metadata", None)]


def test_bad_input_is_refused_with_a_typed_error() -> None:
    c = client()
    with c.begin_call("POST", "http://127.0.0.1:9/mcp") as call:
        for status in (-1, 70000, "401", True):
            with pytest.raises(InvalidArgument):
                call.response(status)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="www_authenticate"):
            call.response(401, b"Bearer")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="closed"):
        call.headers()
    with pytest.raises(InvalidArgument, match="url must be a str"):
        c.begin_call("POST", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not a valid state document"):
        c.import_state(b"{not json")
    with pytest.raises(InvalidArgument, match="state version 3 is not supported"):
        c.import_state(b'{"version":3}')
    with pytest.raises(InvalidArgument, match="bytes"):
        c.import_state('{"version":2}')  # type: ignore[arg-type]
    c.close()
    with pytest.raises(InvalidArgument, match="closed"):
        c.summary()


def test_the_state_round_trips_and_forget_reports_what_went() -> None:
    doc = (b'{"version":2,"clients":{},"tokens":[{"resource":"https://mcp.example/mcp",'
           b'"issuer":"https://as.example","access_token":"AT-S3CRET","token_type":"Bearer",'
           b'"expires_at":4102444800,"refresh_token":"RT-S3CRET","grant_type":"authorization_code"}],'
           b'"bindings":{"https://mcp.example/mcp":{"resource":"https://mcp.example/mcp",'
           b'"issuer":"https://as.example"}},"metadata":{}}')
    with client() as c:
        c.import_state(doc)
        assert c.token_status("https://mcp.example/mcp") == "fresh"
        with c.begin_call("GET", "https://mcp.example/mcp") as call:
            assert call.headers() == [("authorization", "Bearer AT-S3CRET")]
        summary = c.summary()
        assert "S3CRET" not in repr(summary)
        assert summary.tokens[0].token.has_refresh_token
        gone = c.forget("https://mcp.example/mcp")
        assert gone.tokens == [("https://mcp.example/mcp", "https://as.example")]
        assert c.token_status("https://mcp.example/mcp") == "none"


def test_oauth_takes_client_config_options_only_and_hides_secrets() -> None:
    with pytest.raises(TypeError, match="unknown options: redirect_uri"):
        OAuth(redirect_uri="http://127.0.0.1:1/callback")
    auth = OAuth(headless=True, persist=False, client_id="svc", client_secret="S3CRET",
                 grant_type=ClientCredentials())
    assert "S3CRET" not in repr(auth)
