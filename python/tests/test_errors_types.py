"""The component's auth-error values become typed exceptions; configuration
values never show their secrets."""

from wasmtime.component import Variant

from mcp_oauth import errors
from mcp_oauth.types import ClientConfig, IdentityProvider, JwtBearer, TokenExchange, record


def oauth_failure(description: str) -> object:
    return record(step="token", url="https://as.example/token", status=400, error="invalid_grant",
                  error_description=description, error_uri=None)


def test_every_case_maps_to_its_class_with_its_fields() -> None:
    e = errors.from_wit(Variant("token-rejected", oauth_failure("expired")))
    assert isinstance(e, errors.TokenRejected) and isinstance(e, errors.AuthError)
    assert e.kind == "token-rejected"
    assert e.detail == errors.OAuthFailure("token", "https://as.example/token", 400, "invalid_grant",
                                           "expired", None)
    assert str(e) == "token request rejected: token at https://as.example/token: invalid_grant (expired) [HTTP 400]"

    pending = record(authorization_url="https://as.example/authorize?x=1", state="s",
                     redirect_uri="http://127.0.0.1:5/callback", issuer="https://as.example",
                     resource="https://mcp.example/mcp")
    e = errors.from_wit(Variant("authorization-required", pending))
    assert isinstance(e, errors.AuthorizationRequired)
    assert e.pending.state == "s" and e.pending.issuer == "https://as.example"

    attempts = [record(url="https://mcp.example/.well-known/oauth-protected-resource", status=404),
                record(url="https://mcp.example/.well-known/x", status=None)]
    e = errors.from_wit(Variant("no-resource-metadata", attempts))
    assert isinstance(e, errors.NoResourceMetadata)
    assert str(e).endswith("(tried https://mcp.example/.well-known/oauth-protected-resource → 404, "
                           "https://mcp.example/.well-known/x → no response)")

    e = errors.from_wit(Variant("state-mismatch"))
    assert isinstance(e, errors.StateMismatch) and e.detail is None

    e = errors.from_wit(Variant("still-unauthorized",
                                record(step="resource", url="https://mcp.example/mcp", status=401,
                                       body_excerpt="")))
    assert str(e) == "https://mcp.example/mcp still answered HTTP 401 after a new token was obtained"


def test_the_errors_are_the_sdk_oauth_flow_errors() -> None:
    from mcp.client.auth.exceptions import OAuthFlowError

    assert issubclass(errors.AuthError, OAuthFlowError)
    assert issubclass(errors.UserAgentError, OAuthFlowError)
    assert issubclass(errors.StateFileError, OAuthFlowError)


def test_a_case_this_package_does_not_know_is_still_an_auth_error() -> None:
    e = errors.from_wit(Variant("something-new", "x"))
    assert type(e) is errors.AuthError
    assert "something-new" in str(e)


def test_server_text_cannot_drive_the_terminal() -> None:
    e = errors.from_wit(Variant("authorization-denied", record(
        step="authorization", url="https://as.example/authorize", status=None, error="access_denied",
        error_description="no\x1b[2J\x1b]0;pwned\x07\rfake prompt\u202etxt.exe", error_uri=None)))
    shown = str(e)
    assert not any(ord(c) < 32 for c in shown), repr(shown)
    assert "\u202e" not in shown
    assert "\\u{1b}[2J" in shown
    assert errors.printable("two\nlines") == "two\nlines"


def test_secrets_stay_out_of_reprs() -> None:
    config = ClientConfig(
        "n", "http://127.0.0.1:1/callback", client_id="id", client_secret="S3CRET-1",
        private_key_pem="-----BEGIN PRIVATE KEY-----S3CRET-2",
        grant_type=TokenExchange(IdentityProvider("https://idp.example/token", "c",
                                                  id_token="S3CRET-3", client_secret="S3CRET-4")))
    assert "S3CRET" not in repr(config)
    assert "S3CRET" not in repr(JwtBearer("S3CRET-5"))
    assert "id" in repr(config)
