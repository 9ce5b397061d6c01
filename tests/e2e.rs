//! End-to-end tests of the real component (`mcp_oauth.wasm`, built by
//! host-test/build.rs) in wasmtime, against the mock MCP server and mock
//! authorization server on 127.0.0.1. Numbers in comments refer to
//! ../shared/spec-checklist.md §13.

mod common;

use common::{assert_contains, callback, initialize, instance, ok, start, world_with};
use mcp_oauth_cli::mcp::McpSession;
use mcp_oauth_cli::session::{ComponentTransport, Silent, UserAgent};
use mcp_oauth_host::agent::LoopbackPort;
use mcp_oauth_host::harness::{AuthError, ClientConfig, Instance, InvalidResponse};
use mcp_oauth_mock::{Behaviour, IssMode, LoggedRequest, MockWorld, Server};

/// The client of these tests.
fn config() -> ClientConfig {
    common::config("e2e")
}

/// An MCP session through a fresh instance, with the headless user agent.
async fn session(world: &MockWorld) -> McpSession<ComponentTransport<Silent>> {
    McpSession::new(
        &world.mcp_url(),
        ComponentTransport::new(instance(&config()).await, UserAgent::Headless, Silent),
    )
}

use mcp_oauth_mock::log_lines as lines;

/// How many `method path` requests the authorization server received.
fn as_requests(world: &MockWorld, method: &str, path: &str) -> usize {
    world.count(Server::AuthorizationServer, method, path)
}

/// How many token requests the authorization server received.
fn token_requests(world: &MockWorld) -> usize {
    as_requests(world, "POST", "/token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_connect_runs_the_whole_flow_and_retries() {
    let world = start(Behaviour::default()).await;
    let mut s = session(&world).await;
    let init = s.initialize("e2e").await.unwrap();
    assert_eq!(init["serverInfo"]["name"], "mock-mcp");
    let tools = s.list_tools().await.unwrap();
    assert!(tools.iter().any(|t| t["name"] == "echo"));
    let result = s
        .call_tool("echo", serde_json::json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], "hi");

    let log = world.log();
    assert_eq!(
        lines(&log)[..7],
        [
            "mcp POST /mcp",
            "mcp GET /.well-known/oauth-protected-resource/mcp",
            "as GET /.well-known/oauth-authorization-server",
            "as POST /register",
            "as GET /authorize",
            "as POST /token",
            "mcp POST /mcp",
        ]
    );
    // Lazy: the first request went out without credentials (the mock would
    // have had nothing to accept anyway) and discovery started on the 401.
    assert!(log[0].header("authorization").is_none());
    // 92: the bearer token on every MCP request after the flow, never in a URL (93).
    for r in log.iter().skip(6).filter(|r| r.server == Server::Mcp) {
        assert!(
            r.header("authorization")
                .is_some_and(|v| v.starts_with("Bearer ")),
            "{r:?}"
        );
        assert!(r.query.as_deref().is_none_or(|q| !q.contains("token")));
    }
    // 95: no token ever sent to the authorization server.
    for r in log
        .iter()
        .filter(|r| r.server == Server::AuthorizationServer)
    {
        assert!(
            r.header("authorization")
                .is_none_or(|v| !v.starts_with("Bearer")),
            "{r:?}"
        );
    }
    // 52, 53: the same resource in the authorization and token requests.
    let authorize = log.iter().find(|r| r.path == "/authorize").unwrap();
    let token = log.iter().find(|r| r.path == "/token").unwrap();
    let resource = format!("resource={}", form(&world.mcp_url()));
    assert!(authorize.query.as_deref().unwrap().contains(&resource));
    assert!(token.body.contains(&resource));
    assert!(token.body.contains("code_verifier="));
    // Nothing after the flow but MCP requests: no discovery per call.
    assert_eq!(
        log.iter()
            .filter(|r| r.server == Server::AuthorizationServer)
            .count(),
        4
    );
}

/// A form value as the component encodes it (`form_urlencoded`).
fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_a_revoked_token_is_refreshed_once_and_the_call_succeeds() {
    let world = start(Behaviour::default()).await;
    let mut s = session(&world).await;
    s.initialize("e2e").await.unwrap();
    world.revoke_all_tokens();
    world.clear_log();
    let result = s
        .call_tool("add", serde_json::json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], "5");
    assert_eq!(
        lines(&world.log()),
        [
            "mcp POST /mcp",
            // The refresh token still works (only access tokens were
            // revoked): one refresh, no new authorization.
            "as POST /token",
            "mcp POST /mcp",
        ]
    );
    let refresh = &world.log()[1];
    assert_contains(&refresh.body, "grant_type=refresh_token");
    assert!(refresh
        .body
        .contains(&format!("resource={}", form(&world.mcp_url()))));
    assert!(world.log()[0]
        .headers
        .iter()
        .any(|(n, v)| n == "authorization" && v.starts_with("Bearer ")));
}

/// Runs wrap-call once and, if the component needs the user agent, the
/// authorization the headless agent completes; returns the component's
/// error (of wrap-call or complete-authorization).
async fn refused_flow(world: &MockWorld) -> AuthError {
    let mut i = instance(&config()).await;
    match i.wrap_call(&initialize(&world.mcp_url(), 1)).await.unwrap() {
        Ok(r) => panic!("expected a refusal, got status {}", r.status),
        Err(AuthError::AuthorizationRequired(p)) => i
            .complete_authorization(&callback(&p).await)
            .await
            .unwrap()
            .unwrap_err(),
        Err(e) => e,
    }
}

/// The error of a refused flow in `world` ([`refused_flow`]), which must be
/// an invalid response.
async fn invalid_response(world: &MockWorld) -> InvalidResponse {
    match refused_flow(world).await {
        AuthError::InvalidResponse(r) => r,
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_resource_mismatch_is_refused() {
    // 17-19
    let world = world_with(|b| b.prm_resource = Some("https://evil.example.com/mcp".into())).await;
    match refused_flow(&world).await {
        AuthError::ResourceMismatch(m) => assert_eq!(m.found, "https://evil.example.com/mcp"),
        e => panic!("{e:?}"),
    }
    assert_eq!(as_requests(&world, "GET", "/authorize"), 0);
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_issuer_mismatch_is_refused() {
    // 28
    let world =
        world_with(|b| b.metadata_issuer = Some("https://attacker.example.com".into())).await;
    match refused_flow(&world).await {
        AuthError::IssuerMismatch(m) => {
            assert_eq!(m.found, "https://attacker.example.com");
            assert_eq!(m.expected, world.issuer());
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(as_requests(&world, "POST", "/register"), 0);
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_pkce_not_advertised_is_refused() {
    // 36
    let world = world_with(|b| b.omit_pkce_methods = true).await;
    assert!(matches!(
        refused_flow(&world).await,
        AuthError::PkceUnsupported(_)
    ));
    assert_eq!(as_requests(&world, "GET", "/authorize"), 0);
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_state_mismatch_is_refused() {
    // 74
    let world = world_with(|b| b.callback_state = Some("forged".into())).await;
    assert!(matches!(
        refused_flow(&world).await,
        AuthError::StateMismatch
    ));
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_iss_mismatch_and_missing_iss_are_refused() {
    // 76, 77
    let world =
        world_with(|b| b.callback_iss = IssMode::Wrong("https://evil.example.com".into())).await;
    match refused_flow(&world).await {
        AuthError::IssMismatch(m) => assert_eq!(m.found, "https://evil.example.com"),
        e => panic!("{e:?}"),
    }
    assert_eq!(token_requests(&world), 0);
    let world = world_with(|b| b.callback_iss = IssMode::Omit).await;
    assert!(matches!(
        refused_flow(&world).await,
        AuthError::IssMissing(_)
    ));
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_gets_typed_errors() {
    let world = world_with(|b| b.metadata_redirect = true).await;
    match refused_flow(&world).await {
        AuthError::ResponseRefused(r) => assert_eq!(r.status, Some(302)),
        e => panic!("{e:?}"),
    }
    let world = world_with(|b| b.metadata_huge = true).await;
    match refused_flow(&world).await {
        AuthError::ResponseRefused(r) => assert_contains(&r.detail, "larger than"),
        e => panic!("{e:?}"),
    }
    let world = world_with(|b| b.metadata_status = Some(500)).await;
    match refused_flow(&world).await {
        AuthError::UnexpectedStatus(s) => assert_eq!(s.status, 500),
        e => panic!("{e:?}"),
    }
    // 5xx is not a reason to try the OIDC URL next.
    assert_eq!(
        as_requests(&world, "GET", "/.well-known/openid-configuration"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_without_resource_metadata_in_the_challenge() {
    // 14-16: no resource_metadata → the path-inserted well-known URL.
    let world = world_with(|b| b.resource_metadata_in_challenge = false).await;
    let mut s = session(&world).await;
    s.initialize("e2e").await.unwrap();
    let prm_requests = |path| world.count(Server::Mcp, "GET", path);
    assert_eq!(prm_requests("/.well-known/oauth-protected-resource/mcp"), 1);
    assert_eq!(prm_requests("/.well-known/oauth-protected-resource"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_bodies_stream_through_wrap_call() {
    let world = world_with(|b| {
        b.sse_responses = true;
        b.require_login = true;
    })
    .await;
    let mut s = session(&world).await;
    s.initialize("e2e").await.unwrap();
    let tools = s.list_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    // The response comes back as a live stream.
    let i = s.transport_mut().instance_mut();
    let mut resp = i
        .wrap_call(&initialize(&world.mcp_url(), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status, 200);
    let ct = resp
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .unwrap();
    assert!(String::from_utf8_lossy(&ct.1).starts_with("text/event-stream"));
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8_lossy(&body).contains("data: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_state_lets_a_new_instance_skip_the_flow() {
    let world = start(Behaviour::default()).await;
    let mut s = session(&world).await;
    s.initialize("e2e").await.unwrap();
    let state = s
        .transport_mut()
        .instance_mut()
        .export_state()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&state);
    assert!(text.contains("\"version\":2"));
    let mut fresh = instance(&config()).await;
    fresh.import_state(&state).await.unwrap().unwrap();
    world.clear_log();
    let resp = fresh
        .wrap_call(&initialize(&world.mcp_url(), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(lines(&world.log()), ["mcp POST /mcp"]);
    assert!(fresh.take_events().await.unwrap().is_empty());
}

/// A server that needs no auth: answers 200 to everything and records what
/// it received.
async fn open_server() -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    seen.push(text[..end].to_string());
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .await
            .unwrap();
        seen
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_auth_sees_exactly_the_callers_request() {
    let (url, server) = open_server().await;
    let mut i = instance(&config()).await;
    let resp = i.wrap_call(&initialize(&url, 1)).await.unwrap().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.bytes(1024).await.unwrap(), b"{}");
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 1);
    let head = seen[0].to_ascii_lowercase();
    assert!(head.starts_with("post /mcp http/1.1"));
    assert!(!head.contains("authorization"));
    assert!(i.take_events().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let mut i = instance(&config()).await;
    match i.wrap_call(&initialize(&url, 1)).await.unwrap() {
        Err(AuthError::Transport(t)) => assert_eq!(t.url, url),
        Err(e) => panic!("{e:?}"),
        Ok(r) => panic!("status {}", r.status),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_goes_to_its_own_url_after_a_call_to_another() {
    // wrap-call keeps the request target of the URL it sent to last; a call
    // to another URL goes there, and back.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn server(name: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/{name}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 << 10];
                    let mut received = Vec::new();
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        received.extend_from_slice(&buf[..n]);
                        let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if received.len() < end + 4 + length {
                            continue;
                        }
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        received.drain(..end + 4 + length);
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name} {path}",
                            name.len() + 1 + path.len()
                        );
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }
    let (a, b) = (server("a").await, server("b").await);
    let mut i = instance(&config()).await;
    for (url, answer) in [(&a, "a /a"), (&b, "b /b"), (&a, "a /a"), (&a, "a /a")] {
        let response = match i.wrap_call(&initialize(url, 1)).await.unwrap() {
            Ok(r) => r,
            Err(e) => panic!("{url}: {e:?}"),
        };
        assert_eq!(
            response.bytes(100).await.unwrap(),
            answer.as_bytes(),
            "{url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_request_body_goes_out_whole_in_pieces() {
    // The body is written in pieces as the host's stream has room (each
    // at most 4 KiB); the server counts and checks every byte.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let body: Vec<u8> = (0..(3 << 20) + 123).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let end = loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before the head");
            received.extend_from_slice(&buf[..n]);
            if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let mut content = received.split_off(end);
        while content.len() < expected.len() {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the body ended after {} bytes", content.len());
            content.extend_from_slice(&buf[..n]);
        }
        let same = content == expected;
        let answer = if same { "whole" } else { "damaged" };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        content.len()
    });
    let mut request = initialize(&url, 1);
    request.body = body;
    let mut i = instance(&config()).await;
    let response = match i.wrap_call(&request).await.unwrap() {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(response.status, 200);
    assert_eq!(response.bytes(100).await.unwrap(), b"whole");
    assert_eq!(server.await.unwrap(), (3 << 20) + 123);
}

/// Sends `request` (to `url`'s origin, replaced) through an instance with a
/// 300 ms timeout (and `host-timeouts` as given) to a server that takes
/// connections and then neither reads nor answers; checks the call ends in
/// `timed out` and returns how long it took.
async fn timed_out_at_a_silent_server(
    mut request: mcp_oauth_host::harness::HttpRequest,
    host_timeouts: Option<bool>,
) -> std::time::Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    request.url.clone_from(&url);
    let config = ClientConfig {
        timeout_ms: Some(300),
        host_timeouts,
        ..config()
    };
    let mut i = instance(&config).await;
    let started = std::time::Instant::now();
    match i.wrap_call(&request).await.unwrap() {
        Err(AuthError::Transport(t)) => assert_eq!(
            (t.url.as_str(), t.message.as_str()),
            (url.as_str(), "timed out")
        ),
        Err(e) => panic!("{e:?}"),
        Ok(r) => panic!("status {}", r.status),
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_within_twice_the_timeout() {
    // wrap-call bounds the wait for the response head itself (2 ×
    // timeout_ms for connecting and the first byte), whatever the host's
    // own limits.
    let took = timed_out_at_a_silent_server(initialize("http://127.0.0.1:9/mcp", 1), None).await;
    assert!(
        took >= std::time::Duration::from_millis(550) && took < std::time::Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_host_timeouts_the_host_ends_the_wait_for_a_silent_server() {
    // `host-timeouts`: wrap-call sets no timer of its own, and the harness,
    // which promised the limit, ends the wait for the response head after
    // 2 × timeout_ms (300 ms), the bound the component keeps without it
    // (the harness's sender would wait 120 s).
    let request = initialize("http://127.0.0.1:9/mcp", 1);
    let took = timed_out_at_a_silent_server(request, Some(true)).await;
    assert!(
        took >= std::time::Duration::from_millis(550) && took < std::time::Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_reads_a_large_body_times_out_within_the_timeout() {
    // A body larger than every buffer on the way, to a server that takes
    // the connection and then neither reads nor answers: each wait for
    // room in the body stream has the time limit, so the call fails in
    // bounded time instead of blocking in the host (before: still blocked
    // after 60 s). With `host-timeouts` too: the waits for room in the
    // body stream stay the component's.
    for host_timeouts in [None, Some(true)] {
        let mut request = initialize("http://127.0.0.1:9/mcp", 1);
        request.body = vec![b' '; 16 << 20];
        let took = timed_out_at_a_silent_server(request, host_timeouts).await;
        assert!(
            took < std::time::Duration::from_secs(5),
            "{host_timeouts:?}: {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_before_reading_the_body_is_heard() {
    // A server may answer before it has read the request body (a 413 or
    // 401 from a front end) and close the connection: the rest of the body
    // cannot be written then, but the answer arrived and is the caller's.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket
                .write_all(
                    b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large",
                )
                .await;
            drop(socket);
        }
    });
    let mut request = initialize(&url, 1);
    request.body = vec![b' '; 8 << 20];
    let mut i = instance(&config()).await;
    match i.wrap_call(&request).await.unwrap() {
        Ok(r) => assert_eq!(r.status, 413),
        Err(e) => panic!("{e:?}"),
    }
}

/// A person with a browser: when the authorization URL is shown, visits it
/// and lands on the loopback redirect.
struct Browser;

impl mcp_oauth_cli::session::Progress for Browser {
    fn event(&mut self, _: &mcp_oauth_host::harness::FlowEvent) {}
    fn authorized(&mut self, _: &mcp_oauth_host::harness::TokenInfo) {}
    fn authorization_needed(
        &mut self,
        pending: &mcp_oauth_host::harness::PendingAuthorization,
        _: &UserAgent,
    ) {
        let pending = pending.clone();
        tokio::spawn(async move {
            let callback = callback(&pending).await;
            // The listener opens right after the URL is shown.
            for _ in 0..100 {
                let req = mcp_oauth_cli::mcp::OutgoingRequest {
                    method: "GET".into(),
                    url: callback.clone(),
                    headers: Vec::new(),
                    body: Vec::new(),
                };
                if let Ok(page) = mcp_oauth_host::net::http_request(req).await {
                    assert_eq!(page.status, 200);
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("the loopback listener never answered");
        });
    }
}

/// A free loopback port and an instance whose redirect URI names it.
async fn interactive_instance() -> (LoopbackPort, Instance) {
    let port = LoopbackPort::reserve(0).unwrap();
    let config = ClientConfig {
        redirect_uri: format!("http://127.0.0.1:{}/callback", port.port()),
        ..config()
    };
    (port, instance(&config).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_completes_through_the_loopback_listener() {
    // 72, 73: a 127.0.0.1 redirect URI, a listener open only during the flow.
    let world = start(Behaviour::default()).await;
    let (port, i) = interactive_instance().await;
    let number = port.port();
    // Security review finding 8: the port is held from configuration on
    // (it used to be found by binding and releasing it), so another local
    // process can neither take it nor connect to it before the flow.
    assert!(std::net::TcpListener::bind(("127.0.0.1", number)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", number)).is_err());
    let agent = UserAgent::Interactive {
        port,
        timeout: std::time::Duration::from_secs(10),
        open_browser: false,
    };
    let mut s = McpSession::new(&world.mcp_url(), ComponentTransport::new(i, agent, Browser));
    s.initialize("e2e").await.unwrap();
    assert_eq!(token_requests(&world), 1);
    // The listener is closed again, and the port still held.
    assert!(std::net::TcpStream::connect(("127.0.0.1", number)).is_err());
    assert!(std::net::TcpListener::bind(("127.0.0.1", number)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_times_out_with_a_clear_message() {
    let world = start(Behaviour::default()).await;
    let (port, i) = interactive_instance().await;
    let agent = UserAgent::Interactive {
        port,
        timeout: std::time::Duration::from_millis(300),
        open_browser: false,
    };
    let mut s = McpSession::new(&world.mcp_url(), ComponentTransport::new(i, agent, Silent));
    let err = format!("{:#}", s.initialize("e2e").await.unwrap_err());
    assert!(
        err.contains("no authorization redirect reached") && err.contains("giving up"),
        "{err}"
    );
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_answering_201_gets_no_token_into_the_error() {
    // Security review finding 6: the token response's body, token included,
    // went into the error's excerpt, which the CLI prints.
    let world = world_with(|b| b.token_status = Some(201)).await;
    let e = refused_flow(&world).await;
    let AuthError::UnexpectedStatus(s) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(s.status, 201);
    let shown = format!("{e:?} {}", mcp_oauth_cli::report::describe(&e));
    assert!(!shown.contains("mock-at-"), "a token in {shown}");
    assert!(!shown.contains("mock-rt-"), "a refresh token in {shown}");
    assert_contains(&s.body_excerpt, "not shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_listing_thousands_of_authorization_servers_costs_a_few_requests() {
    // Security review finding 3: every `authorization_servers` entry was
    // tried (a 689 KB document made 60,001 requests).
    let world = start(Behaviour::default()).await;
    let issuer = world.issuer();
    let listed: Vec<String> = (0..5_000).map(|i| format!("{issuer}/t{i}")).collect();
    world.set_behaviour(|b| b.authorization_servers = Some(listed));
    let r = invalid_response(&world).await;
    assert_contains(&r.url, "/.well-known/oauth-protected-resource");
    assert_contains(
        &r.reason,
        "lists 5000 authorization servers; only the first 3 are tried",
    );
    assert!(
        r.reason.contains(&format!("{issuer}/t2")),
        "the evidence: {}",
        r.reason
    );
    let log = world.log();
    let as_requests = log
        .iter()
        .filter(|r| r.server == Server::AuthorizationServer)
        .count();
    assert!(as_requests <= 3 * 3, "{:?}", lines(&log));
    assert!(
        log.iter().all(|r| !r.path.contains("/t3")),
        "{:?}",
        lines(&log)
    );
    assert_eq!(token_requests(&world), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_listing_too_many_scopes_is_refused_before_anything_is_sent() {
    // Security review finding 3: a 1 MiB `scopes_supported` cost 16.6 s of
    // CPU in the scope union.
    let world =
        world_with(|b| b.scopes_supported = Some((0..5_000).map(|i| format!("s{i}")).collect()))
            .await;
    let r = invalid_response(&world).await;
    assert_contains(&r.reason, "lists 5000 scopes; at most 64");
    assert!(
        world
            .log()
            .iter()
            .all(|r| r.server == Server::Mcp || r.path.contains("oauth-protected-resource")),
        "nothing after the refused document: {:?}",
        lines(&world.log())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_path_claiming_anothers_resource_gets_no_token_without_its_own_consent() {
    // Security review finding 4: after /mcp got a token for the resource
    // `http://host/`, one 401 from /bob/mcp claiming the same resource bound
    // bob when its authorization began, and bob's next request carried the
    // token of /mcp, with no consent for bob.
    let world = start(Behaviour::default()).await;
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    world.set_behaviour(|b| {
        b.prm_resource = Some(format!("{origin}/"));
        b.sibling_path = Some("/bob/mcp".into());
    });
    let bob = format!("{origin}/bob/mcp");
    let mut i = instance(&config()).await;

    // /mcp: a token for the resource at the origin.
    let to_mcp = ok(&mut i, &initialize(&world.mcp_url(), 1)).await;
    assert!(to_mcp.authorized.is_some(), "an authorization for /mcp");

    // /bob/mcp claims the same resource: its user must consent first.
    for _ in 0..2 {
        let Err(AuthError::AuthorizationRequired(p)) =
            i.wrap_call(&initialize(&bob, 1)).await.unwrap()
        else {
            panic!("bob needs its own authorization")
        };
        assert!(p.authorization_url.starts_with(&world.issuer()));
    }
    let to_bob: Vec<LoggedRequest> = world
        .log()
        .into_iter()
        .filter(|r| r.server == Server::Mcp && r.path == "/bob/mcp")
        .collect();
    assert_eq!(to_bob.len(), 2);
    assert!(
        to_bob.iter().all(|r| r.header("authorization").is_none()),
        "a token reached /bob/mcp before its authorization completed"
    );

    // Once bob's own authorization completes, bob has a token.
    let bob_call = ok(&mut i, &initialize(&bob, 1)).await;
    assert!(bob_call.authorized.is_some(), "an authorization for bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_the_host_refuses_is_named_without_its_value() {
    // The headers go to the host in one `fields.from-list`; when it refuses
    // the list, the error names the header (never its value) and nothing
    // is sent.
    for (name, value, why) in [
        ("connection", "secret-value", "forbidden by the host"),
        ("bad name", "secret-value", "invalid syntax"),
    ] {
        let mut request = initialize("http://127.0.0.1:9/mcp", 1);
        request
            .headers
            .push((name.into(), value.as_bytes().to_vec()));
        let mut i = instance(&config()).await;
        match i.wrap_call(&request).await.unwrap() {
            Err(AuthError::Transport(t)) => {
                assert_eq!(
                    t.message,
                    format!("request header {name:?} refused: {why}"),
                    "{name}"
                );
                assert!(!format!("{t:?}").contains("secret-value"));
            }
            Err(e) => panic!("{name}: {e:?}"),
            Ok(r) => panic!("{name}: status {}", r.status),
        }
    }
}
