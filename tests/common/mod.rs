//! What the end-to-end tests (e2e.rs, e2e_grants.rs) share: configured
//! instances of the component, the mock world, the `initialize` request
//! they send, and a call that lets the headless user agent authorize when
//! the component needs a user.

use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::harness::{
    AuthError, ClientConfig, HostOptions, HttpRequest, Instance, PendingAuthorization, Runtime,
    TokenInfo,
};
use mcp_oauth_mock::{Behaviour, MockWorld};
use serde_json::json;

/// The redirect URI of the configured clients: a loopback URL nobody
/// listens on (the headless user agent stops when it is redirected there).
pub const REDIRECT: &str = "http://127.0.0.1:8976/callback";

/// A client named `name` with the redirect URI [`REDIRECT`] and a 5 s
/// timeout; everything else is discovered.
pub fn config(name: &str) -> ClientConfig {
    ClientConfig {
        timeout_ms: Some(5_000),
        ..ClientConfig::new(name, REDIRECT)
    }
}

/// A fresh instance of the component, configured with `config`.
pub async fn instance(config: &ClientConfig) -> Instance {
    Runtime::embedded_instance(HostOptions::default(), config)
        .await
        .unwrap()
}

/// Starts the mock servers with `behaviour`.
pub async fn start(behaviour: Behaviour) -> MockWorld {
    MockWorld::start(behaviour).await.unwrap()
}

/// Starts the mock servers with the default behaviour as `change` alters
/// it.
pub async fn world_with(change: impl FnOnce(&mut Behaviour)) -> MockWorld {
    let mut behaviour = Behaviour::default();
    change(&mut behaviour);
    start(behaviour).await
}

/// A JSON-RPC `initialize` to `url` (allowed at any time by the mock: each
/// opens a session), the request the tests send.
pub fn initialize(url: &str, id: u32) -> HttpRequest {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "e2e", "version": "0"}},
    });
    HttpRequest::mcp_post(url, body.to_string().into_bytes())
}

/// The headless user agent visits the authorization URL of `pending` and
/// returns the callback URL it was redirected to.
pub async fn callback(pending: &PendingAuthorization) -> String {
    follow_headless(&pending.authorization_url, &pending.redirect_uri)
        .await
        .unwrap()
}

/// What a call through the component produced.
#[derive(Debug)]
pub struct Outcome {
    /// The status of the response.
    pub status: u16,
    /// The body of the response.
    pub body: String,
    /// The token of an authorization the call needed a user for.
    pub authorized: Option<TokenInfo>,
}

/// `wrap-call`; when a user is needed, the headless agent visits the
/// authorization URL, `complete-authorization` redeems the code, and the
/// request is sent once more.
pub async fn send(i: &mut Instance, req: &HttpRequest) -> Result<Outcome, AuthError> {
    let mut authorized = None;
    for _ in 0..2 {
        match i.wrap_call(req).await.unwrap() {
            Ok(resp) => {
                let status = resp.status;
                let body = resp.bytes(1 << 20).await.unwrap();
                return Ok(Outcome {
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    authorized,
                });
            }
            Err(AuthError::AuthorizationRequired(p)) if authorized.is_none() => {
                authorized = Some(
                    i.complete_authorization(&callback(&p).await)
                        .await
                        .unwrap()?,
                );
            }
            Err(e) => return Err(e),
        }
    }
    panic!("authorization was needed twice")
}

/// A call that must succeed with 200 and the mock MCP server's answer.
pub async fn ok(i: &mut Instance, req: &HttpRequest) -> Outcome {
    let outcome = send(i, req).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    assert!(outcome.body.contains("mock-mcp"), "{}", outcome.body);
    outcome
}

/// Asserts that `text` contains `part`, and shows `text` when it does not.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} is not in:\n{text}");
}
