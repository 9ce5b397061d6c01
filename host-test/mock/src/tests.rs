//! Tests of the mock servers through a real HTTP client.

use super::util::base64;
use super::*;
use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::net::http_request;
use mcp_oauth_host::net::{IncomingResponse, OutgoingRequest};
use serde_json::{json, Value};

pub(super) const REDIRECT: &str = "http://127.0.0.1:1/callback";
const ACCEPT: &str = "application/json, text/event-stream";
/// The protected resource metadata of `/mcp`, below the MCP origin.
const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

pub(super) async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> IncomingResponse {
    http_request(OutgoingRequest {
        method: method.into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    })
    .await
    .unwrap()
}

pub(super) async fn get(url: &str) -> IncomingResponse {
    send("GET", url, &[], b"").await
}

/// The default behaviour changed by `f`.
pub(super) fn behaviour_with(f: impl FnOnce(&mut Behaviour)) -> Behaviour {
    let mut behaviour = Behaviour::default();
    f(&mut behaviour);
    behaviour
}

/// Mocks started with the default behaviour changed by `f`.
pub(super) async fn world_with(f: impl FnOnce(&mut Behaviour)) -> MockWorld {
    MockWorld::start(behaviour_with(f)).await.unwrap()
}

pub(super) fn json_of(r: &IncomingResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&r.body));
    })
}

/// The OAuth `error` of a response.
pub(super) fn error_of(r: &IncomingResponse) -> String {
    json_of(r)["error"].as_str().unwrap_or("").to_string()
}

/// The authorization server's metadata.
pub(super) async fn as_metadata(world: &MockWorld) -> Value {
    let issuer = world.issuer();
    json_of(&get(&format!("{issuer}/.well-known/oauth-authorization-server")).await)
}

async fn register(world: &MockWorld, body: Value) -> IncomingResponse {
    send(
        "POST",
        &format!("{}/register", world.issuer()),
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&body).unwrap(),
    )
    .await
}

/// Registers a client of [`REDIRECT`] that authenticates with
/// `auth_method`: the registration response.
pub(super) async fn register_client(world: &MockWorld, auth_method: &str) -> Value {
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": auth_method});
    let r = register(world, body).await;
    assert_eq!(r.status, 201);
    json_of(&r)
}

async fn public_client(world: &MockWorld) -> String {
    let client = register_client(world, "none").await;
    client["client_id"].as_str().unwrap().to_string()
}

fn verifier(tag: char) -> String {
    tag.to_string().repeat(64)
}

fn authorize_url(
    world: &MockWorld,
    client_id: &str,
    verifier: &str,
    extra: &[(&str, &str)],
) -> String {
    let mcp = world.mcp_url();
    let mut rest = vec![("state", "xyz"), ("resource", mcp.as_str())];
    rest.extend_from_slice(extra);
    super::authorize_url(&world.issuer(), client_id, REDIRECT, verifier, &rest)
}

/// The code of the callback after an authorization.
async fn code_for(world: &MockWorld, client_id: &str, verifier: &str) -> String {
    let callback = follow_headless(&authorize_url(world, client_id, verifier, &[]), REDIRECT)
        .await
        .unwrap();
    param(&callback, "code").unwrap()
}

/// A query parameter of `url`.
pub(super) fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_decode(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

async fn token(world: &MockWorld, form: &[(&str, &str)], basic: Option<&str>) -> IncomingResponse {
    let mut headers = vec![("Content-Type", FORM_TYPE)];
    let auth;
    if let Some(b) = basic {
        auth = format!("Basic {}", base64(b.as_bytes()));
        headers.push(("Authorization", auth.as_str()));
    }
    send(
        "POST",
        &format!("{}/token", world.issuer()),
        &headers,
        form_encode(form).as_bytes(),
    )
    .await
}

/// The form of a token request redeeming `code` of `client_id`, sent back
/// to [`REDIRECT`], for `resource`.
pub(super) fn code_form<'a>(
    code: &'a str,
    client_id: &'a str,
    verifier: &'a str,
    resource: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("resource", resource),
    ]
}

async fn redeem(
    world: &MockWorld,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> IncomingResponse {
    let mcp = world.mcp_url();
    token(world, &code_form(code, client_id, verifier, &mcp), None).await
}

/// Registers, authorizes and redeems: the token response.
async fn obtain_tokens(world: &MockWorld) -> (String, Value) {
    let client_id = public_client(world).await;
    let v = verifier('a');
    let code = code_for(world, &client_id, &v).await;
    let r = redeem(world, &client_id, &code, &v).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    (client_id, json_of(&r))
}

/// A JSON-RPC message to the MCP endpoint with `headers` besides the
/// content type and `Accept`.
pub(super) async fn mcp_send(
    world: &MockWorld,
    headers: &[(&str, &str)],
    body: &Value,
) -> IncomingResponse {
    let mut all = vec![("Content-Type", "application/json"), ("Accept", ACCEPT)];
    all.extend_from_slice(headers);
    send(
        "POST",
        &world.mcp_url(),
        &all,
        &serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn mcp_post(
    world: &MockWorld,
    token: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> IncomingResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    mcp_send(world, &headers, &body).await
}

/// The status of an `initialize` with bearer token `token`.
async fn initialize_status(world: &MockWorld, token: &str) -> u16 {
    mcp_post(world, Some(token), None, initialize_body())
        .await
        .status
}

pub(super) fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

#[tokio::test]
async fn serves_protected_resource_metadata() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    let prm_url = format!("{origin}{PRM_PATH}");
    let r = get(&prm_url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let prm = json_of(&r);
    assert_eq!(prm["resource"], world.mcp_url());
    assert_eq!(prm["authorization_servers"], json!([world.issuer()]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    assert!(prm.get("scopes_supported").is_none());
    for document in ["oauth-protected-resource", "oauth-authorization-server"] {
        let r = get(&format!("{origin}/.well-known/{document}")).await;
        assert_eq!(r.status, 404, "{document}");
    }

    world.set_behaviour(|b| {
        b.prm_resource = Some("https://evil.example.com/mcp".into());
        b.scopes_supported = Some(vec!["mcp:read".into(), "mcp:write".into()]);
    });
    let prm = json_of(&get(&prm_url).await);
    assert_eq!(prm["resource"], "https://evil.example.com/mcp");
    assert_eq!(prm["scopes_supported"], json!(["mcp:read", "mcp:write"]));
    for (server, fetches) in [(Server::Mcp, 2), (Server::AuthorizationServer, 0)] {
        assert_eq!(world.count(server, "GET", PRM_PATH), fetches, "{server:?}");
    }
}

#[tokio::test]
async fn serves_authorization_server_metadata_and_its_misbehaviours() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let issuer = world.issuer();
    let url = format!("{issuer}/.well-known/oauth-authorization-server");
    let m = json_of(&get(&url).await);
    assert_eq!(m["issuer"], issuer);
    assert_eq!(m["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(m["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(m["registration_endpoint"], format!("{issuer}/register"));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        get(&format!("{issuer}/.well-known/openid-configuration"))
            .await
            .status,
        404
    );

    world.set_behaviour(|b| {
        b.metadata_issuer = Some("https://attacker.example.com".into());
        b.omit_pkce_methods = true;
        b.advertise_iss = false;
        b.registration_enabled = false;
        b.scopes_supported = Some(vec!["a".into()]);
    });
    let m = json_of(&get(&url).await);
    assert_eq!(m["issuer"], "https://attacker.example.com");
    assert!(m.get("code_challenge_methods_supported").is_none());
    assert!(m
        .get("authorization_response_iss_parameter_supported")
        .is_none());
    assert!(m.get("registration_endpoint").is_none());
    assert_eq!(m["scopes_supported"], json!(["a"]));
    assert_eq!(
        register(&world, json!({"redirect_uris": [REDIRECT]}))
            .await
            .status,
        404
    );

    world.set_behaviour(|b| *b = behaviour_with(|b| b.metadata_status = Some(500)));
    assert_eq!(get(&url).await.status, 500);

    world.set_behaviour(|b| *b = behaviour_with(|b| b.metadata_redirect = true));
    let r = get(&url).await;
    assert_eq!(r.status, 302);
    let moved = r.header("location").unwrap().to_string();
    assert!(moved.starts_with(&issuer));
    assert_eq!(json_of(&get(&moved).await)["issuer"], issuer);

    world.set_behaviour(|b| *b = behaviour_with(|b| b.metadata_huge = true));
    let r = get(&url).await;
    assert!(r.body.len() >= 2 << 20, "{}", r.body.len());
    assert_eq!(json_of(&r)["issuer"], issuer);
}

#[tokio::test]
async fn registers_clients() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let r = register(
        &world,
        json!({
            "redirect_uris": [REDIRECT],
            "client_name": "test client",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    assert_eq!(r.status, 201);
    let c = json_of(&r);
    assert!(c["client_id"].as_str().unwrap().len() > 20);
    assert!(c["client_id_issued_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(c["redirect_uris"], json!([REDIRECT]));
    assert_eq!(c["client_name"], "test client");
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(c["token_endpoint_auth_method"], "none");
    assert!(c.get("client_secret").is_none());

    let c = register_client(&world, "client_secret_post").await;
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_post");
    assert!(c["client_secret"].is_string());
    assert_eq!(c["client_secret_expires_at"], 0);

    for bad in [
        json!({}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": "x"}),
        json!([1]),
    ] {
        let r = register(&world, bad).await;
        assert_eq!(r.status, 400);
        assert_eq!(json_of(&r)["error"], "invalid_client_metadata");
    }
    let r = send(
        "POST",
        &format!("{}/register", world.issuer()),
        &[],
        b"not json",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn authorize_redirects_with_code_state_and_iss() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let client_id = public_client(&world).await;
    let url = authorize_url(&world, &client_id, &verifier('a'), &[("scope", "mcp:read")]);
    let r = get(&url).await;
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert_eq!(param(location, "state").as_deref(), Some("xyz"));
    assert_eq!(param(location, "iss"), Some(world.issuer()));

    world.set_behaviour(|b| {
        b.callback_state = Some("other".into());
        b.callback_iss = IssMode::Wrong("https://evil.example".into());
    });
    let location = get(&url).await.header("location").unwrap().to_string();
    assert_eq!(param(&location, "state").as_deref(), Some("other"));
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some("https://evil.example")
    );
    world.set_behaviour(|b| b.callback_iss = IssMode::Omit);
    let location = get(&url).await.header("location").unwrap().to_string();
    assert_eq!(param(&location, "iss"), None);

    // Bad requests get a 400 page, never a redirect.
    let v = verifier('a');
    let bad = [
        authorize_url(&world, "unknown", &v, &[]),
        authorize_url(
            &world,
            &client_id,
            &v,
            &[("code_challenge_method", "plain")],
        ),
        url.replace("redirect_uri=http", "redirect_uri=https"),
        url.replace("response_type=code", "response_type=token"),
        url.replace("&state=xyz", ""),
        url.replace("code_challenge=", "x="),
    ];
    for u in bad {
        let r = get(&u).await;
        assert_eq!(r.status, 400, "{u}");
        assert!(r.header("location").is_none());
    }
}

#[tokio::test]
async fn authorize_requires_a_login_cookie_when_asked() {
    let world = world_with(|b| b.require_login = true).await;
    let client_id = public_client(&world).await;
    let url = authorize_url(&world, &client_id, &verifier('a'), &[]);
    let r = get(&url).await;
    assert_eq!(r.status, 302);
    let login = r.header("location").unwrap().to_string();
    assert!(
        login.starts_with("/login?return=%2Fauthorize%3F"),
        "{login}"
    );

    let r = get(&format!("{}{login}", world.issuer())).await;
    assert_eq!(r.status, 302);
    let back = r.header("location").unwrap().to_string();
    assert_eq!(format!("{}{back}", world.issuer()), url);
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.starts_with("mock_session=")
            && cookie.contains("Path=/")
            && cookie.contains("HttpOnly")
    );
    let session = cookie.split(';').next().unwrap();

    let r = send("GET", &url, &[("Cookie", session)], b"").await;
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().starts_with(REDIRECT));
    let r = send("GET", &url, &[("Cookie", "mock_session=forged")], b"").await;
    assert!(r.header("location").unwrap().starts_with("/login"));
    assert_eq!(
        get(&format!(
            "{}/login?return=https://evil.example/",
            world.issuer()
        ))
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn token_exchange_checks_pkce_and_the_code() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let client_id = public_client(&world).await;

    let wrong = code_for(&world, &client_id, &verifier('a')).await;
    let r = redeem(&world, &client_id, &wrong, &verifier('b')).await;
    assert_eq!(r.status, 400);
    assert_eq!(json_of(&r)["error"], "invalid_grant");

    let code = code_for(&world, &client_id, &verifier('a')).await;
    let r = redeem(&world, &client_id, &code, &verifier('a')).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = json_of(&r);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["access_token"].as_str().unwrap().len() > 20);
    assert!(t["refresh_token"].is_string());
    assert!(t.get("scope").is_none());

    // Reuse is refused and revokes what the code produced.
    let r = redeem(&world, &client_id, &code, &verifier('a')).await;
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(initialize_status(&world, access).await, 401);

    // Resource, redirect_uri, client and form checks.
    let mcp = world.mcp_url();
    let code = code_for(&world, &client_id, &verifier('a')).await;
    let v = verifier('a');
    let mut form = code_form(&code, &client_id, &v, "http://127.0.0.1:1/other");
    assert_eq!(
        error_of(&token(&world, &form, None).await),
        "invalid_target"
    );
    let code = code_for(&world, &client_id, &verifier('a')).await;
    form[1].1 = &code;
    form[5].1 = &mcp;
    form[3].1 = "http://127.0.0.1:2/callback";
    assert_eq!(error_of(&token(&world, &form, None).await), "invalid_grant");
    form[3].1 = REDIRECT;
    form[2].1 = "unknown";
    assert_eq!(
        error_of(&token(&world, &form, None).await),
        "invalid_client"
    );
    form[2].1 = &client_id;
    form[0].1 = "password";
    assert_eq!(
        error_of(&token(&world, &form, None).await),
        "unsupported_grant_type"
    );
    let r = send(
        "POST",
        &format!("{}/token", world.issuer()),
        &[("Content-Type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(json_of(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn confidential_clients_authenticate() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let c = register_client(&world, "client_secret_basic").await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    let v = verifier('q');
    let code = code_for(&world, id, &v).await;
    let mcp = world.mcp_url();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", v.as_str()),
        ("resource", mcp.as_str()),
    ];
    let r = token(&world, &form, Some(&format!("{id}:wrong"))).await;
    assert_eq!(json_of(&r)["error"], "invalid_client");
    let code = code_for(&world, id, &v).await;
    let mut form = form;
    form[1].1 = &code;
    let r = token(&world, &form, Some(&format!("{id}:{secret}"))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let (client_id, t) = obtain_tokens(&world).await;
    let first_rt = t["refresh_token"].as_str().unwrap().to_string();
    let mcp = world.mcp_url();
    let refresh = |rt: String| {
        let client_id = client_id.clone();
        let mcp = mcp.clone();
        let world = &world;
        async move {
            token(
                world,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &client_id),
                    ("resource", &mcp),
                ],
                None,
            )
            .await
        }
    };
    let r = refresh(first_rt.clone()).await;
    assert_eq!(r.status, 200);
    let t2 = json_of(&r);
    let second_rt = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_rt, first_rt);
    let access2 = t2["access_token"].as_str().unwrap().to_string();
    assert_eq!(initialize_status(&world, &access2).await, 200);

    // Reusing the old one fails and revokes the whole family.
    let r = refresh(first_rt).await;
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    assert_eq!(initialize_status(&world, &access2).await, 401);
    assert_eq!(json_of(&refresh(second_rt).await)["error"], "invalid_grant");
}

#[tokio::test]
async fn mcp_challenges_without_a_valid_token() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    let r = mcp_post(&world, None, None, initialize_body()).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\""
            )
            .as_str()
        )
    );
    let r = mcp_post(&world, Some("made-up"), None, initialize_body()).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", resource_metadata="),
        "{challenge}"
    );

    world.set_behaviour(|b| {
        b.resource_metadata_in_challenge = false;
    });
    let r = mcp_post(&world, None, None, initialize_body()).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    world.set_behaviour(|b| b.challenge_scope = Some("mcp:read mcp:write".into()));
    let r = mcp_post(&world, None, None, initialize_body()).await;
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer scope=\"mcp:read mcp:write\"")
    );
}

#[tokio::test]
async fn mcp_initializes_lists_and_calls_with_a_valid_token() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let (_, t) = obtain_tokens(&world).await;
    let access = t["access_token"].as_str().unwrap();

    // Accept must list both types.
    let r = send(
        "POST",
        &world.mcp_url(),
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        &serde_json::to_vec(&initialize_body()).unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);

    let r = mcp_post(&world, Some(access), None, initialize_body()).await;
    assert_eq!(r.status, 200);
    let session = r.header("mcp-session-id").unwrap().to_string();
    let init = json_of(&r);
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["result"]["serverInfo"],
        json!({"name": "mock-mcp", "version": "0.1.0"})
    );
    assert_eq!(init["result"]["capabilities"], json!({"tools": {}}));

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(
        mcp_post(&world, Some(access), None, list.clone())
            .await
            .status,
        400
    );
    assert_eq!(
        mcp_post(&world, Some(access), Some("nope"), list.clone())
            .await
            .status,
        404
    );
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = mcp_post(&world, Some(access), Some(&session), note).await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());

    let tools = json_of(&mcp_post(&world, Some(access), Some(&session), list).await);
    assert_eq!(tools["result"]["tools"][0]["name"], "echo");
    assert_eq!(
        tools["result"]["tools"][1]["inputSchema"]["properties"]["b"]["type"],
        "number"
    );
    let call = |id: u64, name: &str, args: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}});
    let echo = json_of(
        &mcp_post(
            &world,
            Some(access),
            Some(&session),
            call(3, "echo", json!({"text": "hé"})),
        )
        .await,
    );
    assert_eq!(
        echo["result"],
        json!({"content": [{"type": "text", "text": "hé"}], "isError": false})
    );
    let add = json_of(
        &mcp_post(
            &world,
            Some(access),
            Some(&session),
            call(4, "add", json!({"a": 1.5, "b": 2})),
        )
        .await,
    );
    assert_eq!(add["result"]["content"][0]["text"], "3.5");
    let unknown = json_of(
        &mcp_post(
            &world,
            Some(access),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 5, "method": "nope"}),
        )
        .await,
    );
    assert_eq!(unknown["error"]["code"], -32601);

    assert_eq!(get(&world.mcp_url()).await.status, 405);
    let auth = format!("Bearer {access}");
    let r = send(
        "DELETE",
        &world.mcp_url(),
        &[("Authorization", &auth), ("Mcp-Session-Id", &session)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);

    // Revocation and expiry.
    world.revoke_all_tokens();
    let r = mcp_post(&world, Some(access), None, initialize_body()).await;
    assert_eq!(r.status, 401);
    world.set_behaviour(|b| b.token_lifetime_secs = 0);
    let (_, t) = obtain_tokens(&world).await;
    assert_eq!(t["expires_in"], 0);
    let r = mcp_post(&world, t["access_token"].as_str(), None, initialize_body()).await;
    assert_eq!(r.status, 401);

    // The log saw it all, in order, with lowercased header names.
    let log = world.log();
    assert!(log
        .iter()
        .any(|r| r.server == Server::AuthorizationServer && r.path == "/token"));
    let first_mcp = log.iter().find(|r| r.server == Server::Mcp).unwrap();
    assert!(first_mcp
        .headers
        .iter()
        .all(|(n, _)| n == &n.to_ascii_lowercase()));
    assert!(first_mcp.body.contains("initialize"));
    world.clear_log();
    assert!(world.log().is_empty());
}

#[tokio::test]
async fn tokens_for_another_resource_are_refused() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let client_id = public_client(&world).await;
    let v = verifier('z');
    let url = authorize_url(&world, &client_id, &v, &[]).replace(
        &format!("resource={}", super::util::percent_encode(&world.mcp_url())),
        "resource=https%3A%2F%2Fother.example%2Fmcp",
    );
    let callback = follow_headless(&url, REDIRECT).await.unwrap();
    let code = param(&callback, "code").unwrap();
    let form = code_form(&code, &client_id, &v, "https://other.example/mcp");
    let r = token(&world, &form, None).await;
    assert_eq!(r.status, 200);
    let access = json_of(&r)["access_token"].as_str().unwrap().to_string();
    let r = mcp_post(&world, Some(&access), None, initialize_body()).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn sse_mode_answers_with_an_event_stream() {
    let world = world_with(|b| b.sse_responses = true).await;
    let (_, t) = obtain_tokens(&world).await;
    let access = t["access_token"].as_str().unwrap();
    let r = mcp_post(&world, Some(access), None, initialize_body()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.header("mcp-session-id").is_some());
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.starts_with("event: message\ndata: {") && text.ends_with("}\n\n"),
        "{text}"
    );
    // One event, one data line.
    let data = text
        .strip_prefix("event: message\ndata: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .unwrap();
    assert!(!data.contains('\n'), "{text}");
    let message: Value = serde_json::from_str(data).unwrap();
    assert_eq!(message["result"]["serverInfo"]["name"], "mock-mcp");
}

#[tokio::test]
async fn dropping_the_world_stops_the_servers() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let url = format!("{}/.well-known/oauth-authorization-server", world.issuer());
    assert_eq!(get(&url).await.status, 200);
    drop(world);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let r = http_request(OutgoingRequest {
        method: "GET".into(),
        url,
        headers: vec![],
        body: vec![],
    })
    .await;
    assert!(r.is_err());
}
