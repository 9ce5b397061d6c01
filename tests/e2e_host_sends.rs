//! Host-sends mode through the real `.wasm` (WIT `begin-call`, `host-call`):
//! the host sends the MCP requests with its own HTTP client
//! (`mcp_oauth_host::net`), the component says which headers to set and
//! what each response means, and runs discovery, registration and token
//! requests itself through `wasi:http`.

// Shared with e2e.rs and e2e_grants.rs; not every helper is used here.
#[allow(dead_code)]
mod common;

use common::*;
use mcp_oauth_host::harness::{
    AuthError, CallStep, ClientConfig, GrantType, HostCall, HttpRequest, Instance,
};
use mcp_oauth_host::net::{http_request, IncomingResponse, OutgoingRequest};
use mcp_oauth_mock::{ClientAuth, MockWorld, Server};

/// What one host-sends call did.
struct Sent {
    /// The response delivered.
    response: IncomingResponse,
    /// The headers the component gave for each request the host sent.
    headers: Vec<Vec<(String, String)>>,
}

/// One call the host-sends way: `begin-call`, send `req` with the
/// component's headers, report each response, send again while it says
/// `resend`.
async fn host_call(i: &mut Instance, req: &HttpRequest) -> Result<Sent, AuthError> {
    let call = i.begin_call(&req.method, &req.url).await.unwrap()?;
    let mut headers = Vec::new();
    let result = loop {
        let ours = i.call_headers(call).await.unwrap();
        let response = send_with(req, &ours).await;
        headers.push(ours);
        let step = i
            .call_response(
                call,
                response.status,
                response.header("www-authenticate"),
                response.header("dpop-nonce"),
            )
            .await
            .unwrap();
        match step {
            Ok(CallStep::Resend) => continue,
            Ok(CallStep::Deliver) => break Ok(Sent { response, headers }),
            Err(e) => break Err(e),
        }
    };
    i.end_call(call).await.unwrap();
    result
}

/// Sends `req` with the host's own HTTP client, its headers replaced by
/// `ours` where the names match.
async fn send_with(req: &HttpRequest, ours: &[(String, String)]) -> IncomingResponse {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| !ours.iter().any(|(o, _)| o.eq_ignore_ascii_case(n)))
        .map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap()))
        .collect();
    headers.extend(ours.iter().cloned());
    http_request(OutgoingRequest {
        method: req.method.clone(),
        url: req.url.clone(),
        headers,
        body: req.body.clone(),
    })
    .await
    .unwrap()
}

/// The value of header `name` among `headers`.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A host-sends call that needs a user: the headless agent authorizes and
/// the call is made again.
async fn authorized_call(i: &mut Instance, req: &HttpRequest) -> Sent {
    let Err(AuthError::AuthorizationRequired(p)) = host_call(i, req).await else {
        panic!("the first call needs a user")
    };
    i.complete_authorization(&callback(&p).await)
        .await
        .unwrap()
        .unwrap();
    host_call(i, req).await.unwrap()
}

/// The mock world and an instance that authorized with it (through
/// [`authorized_call`]), and the request it sent.
async fn authorized() -> (MockWorld, Instance, HttpRequest) {
    let world = start(Default::default()).await;
    let mut i = instance(&config("host-sends")).await;
    let req = initialize(&world.mcp_url(), 1);
    authorized_call(&mut i, &req).await;
    (world, i, req)
}

/// Reports a 401 with `invalid_token` for the last request of `call`.
async fn refused(i: &mut Instance, call: HostCall) -> Result<CallStep, AuthError> {
    let challenge = r#"Bearer error="invalid_token""#;
    i.call_response(call, 401, Some(challenge), None)
        .await
        .unwrap()
}

/// How many requests the token endpoint got.
fn token_requests(world: &MockWorld) -> usize {
    world.count(Server::AuthorizationServer, "POST", "/token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_sending_itself_gets_the_headers_and_the_authorization_it_needs() {
    let world = start(Default::default()).await;
    let mut i = instance(&config("host-sends")).await;
    let req = initialize(&world.mcp_url(), 1);

    // No token yet: nothing to add; the 401 calls for a user.
    let call = i.begin_call("POST", &req.url).await.unwrap().unwrap();
    assert_eq!(i.call_headers(call).await.unwrap(), vec![]);
    i.end_call(call).await.unwrap();

    let sent = authorized_call(&mut i, &req).await;
    assert_eq!(sent.response.status, 200);
    assert_contains(&String::from_utf8_lossy(&sent.response.body), "mock-mcp");
    assert_eq!(sent.headers.len(), 1, "one request with the new token");
    let authorization = header(&sent.headers[0], "authorization").unwrap();
    assert!(authorization.starts_with("Bearer "), "{authorization}");
    assert_eq!(token_requests(&world), 1, "one code exchange");

    // The next call: the stored token, no flow.
    let again = host_call(&mut i, &req).await.unwrap();
    assert_eq!(again.response.status, 200);
    assert_eq!(
        header(&again.headers[0], "authorization"),
        Some(authorization)
    );
    assert_eq!(token_requests(&world), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refreshed_by_the_component_and_the_host_sends_again() {
    let world = start(Default::default()).await;
    let mut i = instance(&config("host-sends")).await;
    let req = initialize(&world.mcp_url(), 1);
    let first = authorized_call(&mut i, &req).await;
    let old = header(&first.headers[0], "authorization")
        .unwrap()
        .to_string();

    world.revoke_all_tokens();
    let sent = host_call(&mut i, &req).await.unwrap();
    assert_eq!(sent.response.status, 200);
    assert_eq!(
        sent.headers.len(),
        2,
        "sent, refused, refreshed, sent again"
    );
    assert_eq!(
        header(&sent.headers[0], "authorization"),
        Some(old.as_str())
    );
    let new = header(&sent.headers[1], "authorization").unwrap();
    assert!(new.starts_with("Bearer ") && new != old, "{new}");
    assert_eq!(token_requests(&world), 2, "the code exchange, one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_never_handed_out_for_an_insecure_url() {
    let (_world, mut i, _) = authorized().await;
    for url in [
        "http://mcp.example.com/mcp",
        "https://user:pw@mcp.example.com/mcp",
    ] {
        match i.begin_call("POST", url).await.unwrap() {
            Err(AuthError::InsecureUrl(u)) => assert_eq!(u, url),
            Err(e) => panic!("{url}: {e:?}"),
            Ok(_) => panic!("{url}: a call began"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_refusal_after_the_refresh_calls_for_a_user() {
    let (world, mut i, req) = authorized().await;
    let call = i.begin_call("POST", &req.url).await.unwrap().unwrap();
    let step = refused(&mut i, call).await;
    assert!(matches!(step, Ok(CallStep::Resend)), "refreshed: {step:?}");
    let step = refused(&mut i, call).await;
    assert!(
        matches!(step, Err(AuthError::AuthorizationRequired(_))),
        "{step:?}"
    );
    i.end_call(call).await.unwrap();
    assert_eq!(token_requests(&world), 2, "the code exchange, one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_of_a_new_token_is_still_unauthorized_without_the_body() {
    // Client credentials: the component obtains a token without a user; the
    // server refusing that one too ends the call. The body is the host's.
    let world = world_with(|b| {
        b.grant_types = vec!["client_credentials".into()];
        b.auth_methods = vec!["client_secret_basic".into()];
    })
    .await;
    world.add_client("svc", &[], ClientAuth::SecretBasic("s3cret".into()));
    let mut i = instance(&ClientConfig {
        client_id: Some("svc".into()),
        client_secret: Some("s3cret".into()),
        grant_type: Some(GrantType::ClientCredentials),
        ..config("host-sends")
    })
    .await;
    let url = world.mcp_url();
    let call = i.begin_call("POST", &url).await.unwrap().unwrap();
    let step = refused(&mut i, call).await;
    assert!(
        matches!(step, Ok(CallStep::Resend)),
        "a token without a user: {step:?}"
    );
    let headers = i.call_headers(call).await.unwrap();
    assert!(header(&headers, "authorization").is_some_and(|a| a.starts_with("Bearer ")));
    match refused(&mut i, call).await {
        Err(AuthError::StillUnauthorized(f)) => {
            assert_eq!(f.status, 401);
            assert_eq!(f.body_excerpt, "", "the host holds the body");
        }
        other => panic!("{other:?}"),
    }
    i.end_call(call).await.unwrap();
}
