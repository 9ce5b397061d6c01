//! Whole-flow tests of the core: a fake MCP server and authorization server
//! as a closure, a bounded driver loop, and assertions on every request.
//! Numbers in comments refer to ../shared/spec-checklist.md §13.

use mcp_oauth_core::CodeVerifier;
use mcp_oauth_core::{
    Action, Begin, Client, Config, Entropy, Error, Grant, Reaction, ResourceResponse, Secret,
};
use mcp_oauth_core::{HttpRequest, HttpResponse, Method, Step, TransportError};
use serde_json::json;

/// A form or query, decoded.
fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

const NOW: u64 = 1_800_000_000;
/// `Client::react` for a POST to [`SERVER`] without a DPoP nonce.
fn react(c: &mut Client, status: u16, www_authenticate: Option<&str>, retried: bool) -> Reaction {
    c.react(
        &ResourceResponse {
            method: "POST",
            url: SERVER,
            status,
            www_authenticate,
            dpop_nonce: None,
        },
        retried,
    )
}

const SERVER: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
const REDIRECT: &str = "http://127.0.0.1:8976/callback";

/// A configurable fake of both servers.
#[derive(Clone)]
struct World {
    prm_resource: String,
    prm_scopes: Option<&'static str>,
    issuer: String,
    metadata_issuer: String,
    pkce: bool,
    registration: bool,
    iss_supported: bool,
    /// Paths answering 404 on the AS.
    missing: Vec<String>,
    /// Overrides: URL → response.
    overrides: Vec<(String, Result<HttpResponse, TransportError>)>,
}

impl Default for World {
    fn default() -> Self {
        World {
            prm_resource: SERVER.into(),
            prm_scopes: None,
            issuer: ISSUER.into(),
            metadata_issuer: ISSUER.into(),
            pkce: true,
            registration: true,
            iss_supported: true,
            missing: Vec::new(),
            overrides: Vec::new(),
        }
    }
}

fn query_of(url: &str) -> Vec<(String, String)> {
    form_decode(url.split_once('?').map(|(_, q)| q).unwrap_or(""))
}

fn body_form(req: &HttpRequest) -> Vec<(String, String)> {
    form_decode(std::str::from_utf8(&req.body).unwrap())
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl World {
    fn answer(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        if let Some((_, r)) = self.overrides.iter().find(|(u, _)| *u == req.url) {
            return r.clone();
        }
        let path = req.url.split_once("://").map(|(_, r)| r).unwrap_or("");
        let path = &path[path.find('/').unwrap_or(path.len())..];
        if self.missing.iter().any(|m| m == path) {
            return Ok(HttpResponse::json(404, r#"{"error":"not_found"}"#));
        }
        if req.url == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" {
            let scopes = self
                .prm_scopes
                .map(|s| {
                    format!(
                        r#","scopes_supported":{}"#,
                        json!(s.split(' ').collect::<Vec<_>>())
                    )
                })
                .unwrap_or_default();
            return Ok(HttpResponse::json(
                200,
                &format!(
                    r#"{{"resource":"{}","authorization_servers":["{}"]{scopes}}}"#,
                    self.prm_resource, self.issuer
                ),
            ));
        }
        let base = self.issuer.trim_end_matches('/');
        let origin = "https://auth.example.com";
        let md_urls = [
            format!(
                "{origin}/.well-known/oauth-authorization-server{}",
                base.strip_prefix(origin).unwrap_or("")
            ),
            format!(
                "{origin}/.well-known/openid-configuration{}",
                base.strip_prefix(origin).unwrap_or("")
            ),
            format!("{base}/.well-known/openid-configuration"),
        ];
        if md_urls.contains(&req.url) {
            let mut doc = json!({
                "issuer": self.metadata_issuer,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "response_types_supported": ["code"],
                "authorization_response_iss_parameter_supported": self.iss_supported,
            });
            if self.pkce {
                doc["code_challenge_methods_supported"] = json!(["S256"]);
            }
            if self.registration {
                doc["registration_endpoint"] = json!(format!("{base}/register"));
            }
            return Ok(HttpResponse::json(200, &doc.to_string()));
        }
        if req.url == format!("{base}/register") && self.registration {
            assert_eq!(req.method, Method::Post);
            return Ok(HttpResponse::json(
                201,
                r#"{"client_id":"dyn-client","token_endpoint_auth_method":"none"}"#,
            ));
        }
        if req.url == format!("{base}/token") {
            return Ok(HttpResponse::json(
                200,
                r#"{"access_token":"AT-secret","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-secret"}"#,
            ));
        }
        Ok(HttpResponse::json(404, "{}"))
    }
}

/// Drives `flow` against `world`, at most 20 requests, recording each.
fn drive(
    client: &mut Client,
    flow: mcp_oauth_core::Flow,
    world: &World,
    log: &mut Vec<HttpRequest>,
) -> Result<Grant, Error> {
    let mut flow = flow;
    for _ in 0..20 {
        match flow.poll() {
            Action::Send(req) => {
                let resp = world.answer(&req);
                log.push(req);
                flow.handle_response(resp, NOW);
            }
            Action::Finished => return client.finish(flow, NOW),
        }
    }
    panic!("flow did not finish in 20 requests");
}

fn client() -> Client {
    Client::new(Config::new("Test", REDIRECT)).unwrap()
}

fn start(
    c: &mut Client,
    challenge: Option<&str>,
    world: &World,
    log: &mut Vec<HttpRequest>,
) -> Result<Grant, Error> {
    match c.authorize(SERVER, challenge, NOW, Entropy::from_bytes([9; 80]))? {
        Begin::Ready(info) => Ok(Grant::Authorized(info)),
        Begin::Flow(flow) => drive(c, flow, world, log),
    }
}

/// A client whose authorization at `world` after [`CHALLENGE`] waits for
/// its callback, and that authorization's URL.
fn waiting(world: &World) -> (Client, String) {
    let mut c = client();
    let Grant::Redirect(p) = start(&mut c, Some(CHALLENGE), world, &mut Vec::new()).unwrap() else {
        panic!()
    };
    (c, p.authorization_url)
}

const CHALLENGE: &str = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:basic""#;

/// The code exchange flow for the authorization at `authorization_url`,
/// its callback carrying `iss`.
fn exchange(c: &mut Client, authorization_url: &str) -> mcp_oauth_core::Flow {
    let callback = callback_for(authorization_url, Some(ISSUER));
    match c.complete_authorization(&callback, NOW, Entropy::from_bytes([5; 80])) {
        Ok(Begin::Flow(flow)) => flow,
        other => panic!("no exchange flow: {other:?}"),
    }
}

fn callback_for(authorization_url: &str, iss: Option<&str>) -> String {
    let q = query_of(authorization_url);
    let mut cb = format!(
        "{REDIRECT}?code=the-code&state={}",
        get(&q, "state").unwrap()
    );
    if let Some(iss) = iss {
        cb.push_str(&format!(
            "&iss={}",
            form_urlencoded::byte_serialize(iss.as_bytes()).collect::<String>()
        ));
    }
    cb
}

#[test]
fn complete_flow_from_401_to_bearer_header() {
    let world = World::default();
    let mut c = client();
    let mut log = Vec::new();
    assert_eq!(
        c.authorization_header(SERVER, NOW),
        None,
        "lazy: no token before a 401"
    );
    assert_eq!(
        react(&mut c, 401, Some(CHALLENGE), false),
        Reaction::Authorize(Some(CHALLENGE.into()))
    );
    let Grant::Redirect(pending) = start(&mut c, Some(CHALLENGE), &world, &mut log).unwrap() else {
        panic!("expected a redirect")
    };
    let urls: Vec<&str> = log.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            "https://auth.example.com/.well-known/oauth-authorization-server",
            "https://auth.example.com/register",
        ]
    );
    // The authorization URL: 52, 58, 69, 34.
    let q = query_of(&pending.authorization_url);
    assert!(pending
        .authorization_url
        .starts_with("https://auth.example.com/authorize?"));
    assert_eq!(get(&q, "client_id"), Some("dyn-client"));
    assert_eq!(get(&q, "resource"), Some(SERVER));
    assert_eq!(get(&q, "scope"), Some("mcp:basic"));
    assert_eq!(get(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(get(&q, "redirect_uri"), Some(REDIRECT));
    assert_eq!(get(&q, "state"), Some(pending.state.as_str()));
    assert_eq!(pending.issuer, ISSUER);

    let flow = exchange(&mut c, &pending.authorization_url);
    log.clear();
    let Grant::Authorized(info) = drive(&mut c, flow, &world, &mut log).unwrap() else {
        panic!()
    };
    assert_eq!(info.expires_at, Some(NOW + 3600));
    assert!(info.has_refresh_token);
    assert_eq!(info.scope.as_deref(), Some("mcp:basic"));
    // The token request: 35, 53, 83.
    assert_eq!(log.len(), 1);
    let f = body_form(&log[0]);
    assert_eq!(get(&f, "grant_type"), Some("authorization_code"));
    assert_eq!(get(&f, "code"), Some("the-code"));
    assert_eq!(get(&f, "resource"), get(&q, "resource"));
    assert_eq!(get(&f, "redirect_uri"), Some(REDIRECT));
    let verifier = CodeVerifier::new(get(&f, "code_verifier").unwrap()).unwrap();
    assert_eq!(
        Some(verifier.challenge_s256().as_str()),
        get(&q, "code_challenge")
    );

    assert_eq!(
        c.authorization_header(SERVER, NOW).as_deref(),
        Some("Bearer AT-secret")
    );
    assert_eq!(
        c.authorization_header("https://other.example.com/mcp", NOW),
        None,
        "94: never to another server"
    );
    assert_eq!(
        c.authorization_header(SERVER, NOW + 3600),
        None,
        "expired tokens are not sent"
    );
    assert_eq!(react(&mut c, 200, None, true), Reaction::Deliver);
    assert_eq!(react(&mut c, 401, Some(CHALLENGE), true), Reaction::Refused);
    // A plain 403 is not an auth challenge; insufficient_scope is.
    assert_eq!(
        react(&mut c, 403, Some("Bearer realm=\"x\""), false),
        Reaction::Deliver
    );
    assert!(matches!(
        react(
            &mut c,
            403,
            Some(r#"Bearer error="insufficient_scope""#),
            false
        ),
        Reaction::Authorize(_)
    ));
    let events = c.take_events();
    let steps: Vec<Step> = events.iter().map(|e| e.step).collect();
    assert_eq!(
        steps,
        [
            Step::Resource,
            Step::ProtectedResourceMetadata,
            Step::AuthorizationServerMetadata,
            Step::Registration,
            Step::Token,
            Step::Resource,
            Step::Resource,
        ]
    );
    assert!(c.take_events().is_empty());
}

#[test]
fn well_known_fallbacks_and_path_issuer() {
    // 14-16, 22-26: no header → path PRM (404) → root PRM; issuer with a path
    // → RFC 8414 insert (404) → OIDC insert (404) → OIDC append.
    let world = World {
        prm_resource: "https://mcp.example.com".into(),
        issuer: "https://auth.example.com/tenant1".into(),
        metadata_issuer: "https://auth.example.com/tenant1".into(),
        missing: vec![
            "/.well-known/oauth-protected-resource/mcp".into(),
            "/.well-known/oauth-authorization-server/tenant1".into(),
            "/.well-known/openid-configuration/tenant1".into(),
        ],
        ..World::default()
    };
    let mut world = world;
    world.overrides.push((
        "https://mcp.example.com/.well-known/oauth-protected-resource".into(),
        Ok(HttpResponse::json(
            200,
            r#"{"resource":"https://mcp.example.com","authorization_servers":["https://auth.example.com/tenant1"]}"#,
        )),
    ));
    let mut c = client();
    let mut log = Vec::new();
    let Grant::Redirect(pending) = start(&mut c, Some("Bearer"), &world, &mut log).unwrap() else {
        panic!()
    };
    let urls: Vec<&str> = log.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            "https://mcp.example.com/.well-known/oauth-protected-resource",
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
            "https://auth.example.com/.well-known/openid-configuration/tenant1",
            "https://auth.example.com/tenant1/.well-known/openid-configuration",
            "https://auth.example.com/tenant1/register",
        ]
    );
    // 56: resource exactly as published, no slash added.
    assert_eq!(
        get(&query_of(&pending.authorization_url), "resource"),
        Some("https://mcp.example.com")
    );
}

#[test]
fn scope_from_prm_when_the_challenge_has_none() {
    let world = World {
        prm_scopes: Some("mcp:basic mcp:read mcp:write"),
        ..World::default()
    };
    let mut c = client();
    let Grant::Redirect(p) = start(&mut c, Some("Bearer"), &world, &mut Vec::new()).unwrap() else {
        panic!()
    };
    assert_eq!(
        get(&query_of(&p.authorization_url), "scope"),
        Some("mcp:basic mcp:read mcp:write")
    );
}

fn refused(world: World, challenge: &str) -> (Error, Vec<HttpRequest>) {
    let mut c = client();
    let mut log = Vec::new();
    let e = start(&mut c, Some(challenge), &world, &mut log).unwrap_err();
    (e, log)
}

/// [`refused`] after [`CHALLENGE`] at the default world with `change` made.
fn refused_at(change: impl FnOnce(&mut World)) -> (Error, Vec<HttpRequest>) {
    let mut world = World::default();
    change(&mut world);
    refused(world, CHALLENGE)
}

fn no_step(log: &[HttpRequest], step: Step) -> bool {
    log.iter().all(|r| r.step != step)
}

#[test]
fn resource_mismatch_is_refused_before_anything_else() {
    // 17-19
    let (e, log) = refused_at(|w| w.prm_resource = "https://evil.example.com/mcp".into());
    assert!(
        matches!(e, Error::ResourceMismatch(ref m) if m.found == "https://evil.example.com/mcp"),
        "{e:?}"
    );
    assert_eq!(log.len(), 1);
}

#[test]
fn issuer_mismatch_is_refused() {
    // 28
    let (e, log) = refused_at(|w| w.metadata_issuer = "https://attacker.example.com".into());
    assert!(matches!(e, Error::IssuerMismatch(_)), "{e:?}");
    assert!(no_step(&log, Step::Registration) && no_step(&log, Step::Token));
}

#[test]
fn pkce_not_advertised_is_refused() {
    // 36
    let (e, log) = refused_at(|w| w.pkce = false);
    assert!(matches!(e, Error::PkceUnsupported(_)), "{e:?}");
    assert!(no_step(&log, Step::Registration));
}

#[test]
fn server_errors_stop_discovery() {
    // 5xx is an error, never a reason to try the next URL.
    let mut world = World::default();
    world.overrides.push((
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into(),
        Ok(HttpResponse::json(503, "maintenance")),
    ));
    let (e, log) = refused(world, "Bearer");
    assert!(
        matches!(e, Error::UnexpectedStatus { status: 503, ref body_excerpt, .. } if body_excerpt == "maintenance")
    );
    assert_eq!(log.len(), 1);
}

#[test]
fn redirects_oversized_bodies_and_timeouts_are_typed() {
    let md = "https://auth.example.com/.well-known/oauth-authorization-server";
    type Case = (Result<HttpResponse, TransportError>, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        (
            Ok(HttpResponse::new(
                302,
                &[("location", "https://elsewhere/")],
                "",
            )),
            |e| matches!(e, Error::ResponseRefused { status: Some(302), detail, .. } if detail.contains("https://elsewhere/")),
        ),
        (Err(TransportError::BodyTooLarge), |e| {
            matches!(e, Error::ResponseRefused { status: None, .. })
        }),
        (
            Err(TransportError::TimedOut),
            |e| matches!(e, Error::Transport { message, .. } if message == "timed out"),
        ),
        (Ok(HttpResponse::json(200, "{not json")), |e| {
            matches!(e, Error::InvalidResponse { .. })
        }),
    ];
    for (resp, check) in cases {
        let mut world = World::default();
        world.overrides.push((md.into(), resp));
        let (e, log) = refused(world, CHALLENGE);
        assert!(check(&e), "{e:?}");
        assert_eq!(log.len(), 2);
    }
}

#[test]
fn no_metadata_anywhere_lists_every_attempt() {
    // Refusals other than 404 are not a 2025-03-26 server: no fallback.
    let forbidden = || Ok(HttpResponse::json(403, "{}"));
    let world = World {
        overrides: vec![
            (
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into(),
                forbidden(),
            ),
            (
                "https://mcp.example.com/.well-known/oauth-protected-resource".into(),
                forbidden(),
            ),
        ],
        ..World::default()
    };
    let (e, log) = refused(world, "Bearer");
    match e {
        Error::NoResourceMetadata(a) => {
            assert_eq!(a.len(), 2);
            assert!(a.iter().all(|a| a.status == Some(403)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.len(), 2);
}

#[test]
fn state_and_iss_are_checked_before_the_token_request() {
    // 74-79
    let world = World::default();
    let (mut c, authorization_url) = waiting(&world);
    assert_eq!(
        c.complete_authorization(
            &format!("{REDIRECT}?code=x&state=forged&iss={ISSUER}"),
            NOW,
            Entropy::from_bytes([5; 80])
        )
        .unwrap_err(),
        Error::StateMismatch
    );
    let wrong = callback_for(&authorization_url, Some("https://evil.example.com"));
    assert!(matches!(
        c.complete_authorization(&wrong, NOW, Entropy::from_bytes([5; 80])),
        Err(Error::IssMismatch(_))
    ));
    // The transaction is gone after a failed check: no second try with it.
    let right = callback_for(&authorization_url, Some(ISSUER));
    assert_eq!(
        c.complete_authorization(&right, NOW, Entropy::from_bytes([5; 80]))
            .unwrap_err(),
        Error::StateMismatch
    );
}

#[test]
fn second_authorization_reuses_metadata_and_client() {
    let world = World::default();
    let mut c = client();
    let mut log = Vec::new();
    start(&mut c, Some(CHALLENGE), &world, &mut log).unwrap();
    log.clear();
    start(&mut c, Some(CHALLENGE), &world, &mut log).unwrap();
    let urls: Vec<&str> = log.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        ["https://mcp.example.com/.well-known/oauth-protected-resource/mcp"]
    );
}

#[test]
fn preregistered_client_skips_registration_and_authenticates() {
    // 40, 85
    let world = World {
        registration: false,
        ..World::default()
    };
    let mut cfg = Config::new("Test", REDIRECT);
    cfg.client_id = Some("pre".into());
    cfg.client_secret = Some(Secret::new("pre-secret"));
    let mut c = Client::new(cfg).unwrap();
    let mut log = Vec::new();
    let Grant::Redirect(p) = start(&mut c, Some(CHALLENGE), &world, &mut log).unwrap() else {
        panic!()
    };
    assert!(no_step(&log, Step::Registration));
    assert_eq!(
        get(&query_of(&p.authorization_url), "client_id"),
        Some("pre")
    );
    let flow = exchange(&mut c, &p.authorization_url);
    log.clear();
    drive(&mut c, flow, &world, &mut log).unwrap();
    assert!(log[0]
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
}

#[test]
fn no_client_id_and_no_registration_is_a_clear_error() {
    let (e, _) = refused_at(|w| w.registration = false);
    assert_eq!(e, Error::ClientIdRequired(ISSUER.into()));
}

#[test]
fn a_remote_server_cannot_point_discovery_at_loopback() {
    let (e, log) = refused(
        World::default(),
        r#"Bearer resource_metadata="http://127.0.0.1:22/x""#,
    );
    assert!(matches!(e, Error::InsecureUrl(_)));
    assert!(log.is_empty());
    // Security review finding 5: names and addresses that land on the
    // user's machine as well, not only literal loopback addresses.
    for host in [
        "0.0.0.0",
        "[::]",
        "[::ffff:127.0.0.1]",
        "localhost.",
        "admin.localhost",
    ] {
        let (e, log) = refused(
            World::default(),
            &format!(r#"Bearer resource_metadata="https://{host}:8443/x""#),
        );
        assert!(matches!(e, Error::InsecureUrl(_)), "{host}: {e:?}");
        assert!(log.is_empty(), "{host}: nothing sent");
    }
    let mut c = client();
    assert!(matches!(
        c.authorize(
            "http://mcp.example.com/mcp",
            None,
            NOW,
            Entropy::from_bytes([0; 80])
        ),
        Err(Error::InsecureUrl(_))
    ));
}

#[test]
fn malformed_challenge_is_a_typed_error() {
    let mut c = client();
    let e = c
        .authorize(
            SERVER,
            Some(r#"Bearer resource_metadata="unterminated"#),
            NOW,
            Entropy::from_bytes([0; 80]),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidResponse {
                step: Step::Resource,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn state_survives_export_and_import() {
    let world = World::default();
    let (mut c, authorization_url) = waiting(&world);
    let flow = exchange(&mut c, &authorization_url);
    drive(&mut c, flow, &world, &mut Vec::new()).unwrap();
    let state = c.export_state();
    let mut fresh = client();
    fresh.import_state(&state).unwrap();
    assert_eq!(
        fresh.authorization_header(SERVER, NOW).as_deref(),
        Some("Bearer AT-secret")
    );
    // Without a challenge, a stored token is returned without any request.
    assert!(matches!(
        fresh
            .authorize(SERVER, None, NOW, Entropy::from_bytes([0; 80]))
            .unwrap(),
        Begin::Ready(_)
    ));
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let world = World::default();
    let (mut c, authorization_url) = waiting(&world);
    let flow = exchange(&mut c, &authorization_url);
    let text = format!("{flow:?}");
    drive(&mut c, flow, &world, &mut Vec::new()).unwrap();
    let text = format!("{text}{c:?}");
    for secret in ["AT-secret", "RT-secret", "the-code"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(!c.take_events().iter().any(|e| e.url.contains("code=")));
}
