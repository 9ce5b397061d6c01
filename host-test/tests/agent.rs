//! The user agents and the HTTP client against the mock servers.

use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::net::{http_request, http_request_within, OutgoingRequest};
use mcp_oauth_mock::{Behaviour, MockWorld, Server};
use std::time::Duration;
use tokio::net::TcpListener;

/// Where the authorization server sends the user agent back to (nothing
/// listens there: the headless agent stops at it).
const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

/// Starts the mock servers with `behaviour`, registers a public client and
/// lets the headless agent follow its authorization URL (with state `s t`)
/// to [`REDIRECT_URI`]; the world and the callback URL it reached.
async fn headless_authorization(behaviour: Behaviour) -> (MockWorld, String) {
    let world = MockWorld::start(behaviour).await.unwrap();
    let url =
        mcp_oauth_mock::test_authorization_url(&world, REDIRECT_URI, &"x".repeat(43), "s t").await;
    let callback = follow_headless(&url, REDIRECT_URI).await.unwrap();
    (world, callback)
}

#[tokio::test]
async fn follows_the_mock_authorization_server() {
    let (world, callback) = headless_authorization(Behaviour::default()).await;
    assert!(
        callback.starts_with("http://127.0.0.1:1/callback?code="),
        "{callback}"
    );
    assert!(callback.contains("&state=s%20t&iss="), "{callback}");
    assert_eq!(
        world.count(Server::AuthorizationServer, "GET", "/authorize"),
        1
    );
    let authorize = world
        .log()
        .into_iter()
        .find(|r| r.path == "/authorize")
        .unwrap();
    assert_eq!(authorize.header("authorization"), None);
}

#[tokio::test]
async fn keeps_cookies_through_a_login() {
    let (world, callback) = headless_authorization(Behaviour {
        require_login: true,
        ..Behaviour::default()
    })
    .await;
    assert!(callback.contains("code=mock-code-"), "{callback}");
    assert_eq!(
        world.count(Server::AuthorizationServer, "GET", "/authorize"),
        2
    );
    assert_eq!(world.count(Server::AuthorizationServer, "GET", "/login"), 1);
    let last = world
        .log()
        .into_iter()
        .rfind(|r| r.path == "/authorize")
        .unwrap();
    assert!(last.header("cookie").unwrap().starts_with("mock_session="));
}

#[tokio::test]
async fn https_is_verified_and_slow_servers_time_out() {
    // A plain-HTTP server spoken to over TLS: the handshake fails.
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let https = world.issuer().replace("http://", "https://");
    let get = |url: String| OutgoingRequest {
        method: "GET".into(),
        url,
        headers: vec![],
        body: vec![],
    };
    let e = http_request(get(format!("{https}/x"))).await.unwrap_err();
    assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");
    let e = follow_headless(&format!("{https}/authorize"), "http://127.0.0.1:1/cb")
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");

    // A server that accepts and never answers.
    let silent = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let e = http_request_within(get(url.clone()), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("timed out after 0.2 s"), "{e:#}");
    keep.abort();
}
