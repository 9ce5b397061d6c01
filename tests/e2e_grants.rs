//! End-to-end tests of the real component in wasmtime for the identities,
//! grants and options beyond the basic authorization-code flow: 2025-03-26
//! fallbacks, Client ID Metadata Documents, client credentials (secret and
//! `private_key_jwt`), the JWT bearer grant, SEP-990 token exchange, DPoP
//! (RFC 9449) with nonces at both servers, relaxations, configured
//! endpoints, and that no secret leaks into errors, events or `Debug`.
//!
//! The mocks (host-test/src/mock/) verify what they receive — assertions
//! and DPoP proofs with the `p256` crate — so a request they accept is one a
//! strict server accepts; the tests then check the request log.

mod common;

use common::{
    assert_contains, initialize, instance, ok, send, start, world_with, Outcome, REDIRECT,
};
use mcp_oauth_cli::report::describe;
use mcp_oauth_host::harness::{
    redacted, AuthError, ClientConfig, DpopMode, FlowEvent, GrantType, IdentityProvider, Instance,
    Relaxations, ServerEndpoints,
};
use mcp_oauth_mock::{
    key_from_jwk, s256, thumbprint, Behaviour, ClientAuth, IssMode, Jws, Legacy, LoggedRequest,
    MockWorld, NonceMode, Server, TestKey,
};
use serde_json::json;
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CIMD_URL: &str = "https://client.example.com/mcp-oauth-e2e.json";

/// The client of these tests with nothing configured but its name, redirect
/// URI and timeout.
fn base() -> ClientConfig {
    common::config("e2e grants")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh instance with `config` and its first call to the MCP server of
/// `world`, which must succeed ([`ok`]).
async fn connected(world: &MockWorld, config: &ClientConfig) -> (Instance, Outcome) {
    let mut i = instance(config).await;
    let outcome = ok(&mut i, &initialize(&world.mcp_url(), 1)).await;
    (i, outcome)
}

/// A fresh instance with `config` and the error its first call to the MCP
/// server of `world` ends in ([`send`], which must fail).
async fn refused(world: &MockWorld, config: &ClientConfig) -> (Instance, AuthError) {
    let mut i = instance(config).await;
    let e = send(&mut i, &initialize(&world.mcp_url(), 1))
        .await
        .expect_err("refused");
    (i, e)
}

use mcp_oauth_mock::log_lines as lines;

fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn requests<'a>(log: &'a [LoggedRequest], server: Server, path: &str) -> Vec<&'a LoggedRequest> {
    log.iter()
        .filter(|r| r.server == server && r.path == path)
        .collect()
}

/// The one request to `path` at `server`.
fn only<'a>(log: &'a [LoggedRequest], server: Server, path: &str) -> &'a LoggedRequest {
    let found = requests(log, server, path);
    assert_eq!(found.len(), 1, "{:?}", lines(log));
    found[0]
}

/// The form of the one token request at the authorization server.
fn token_form(log: &[LoggedRequest]) -> Vec<(String, String)> {
    only(log, Server::AuthorizationServer, "/token").form_params()
}

/// The query of the one authorization request at the authorization server.
fn authorize_query(log: &[LoggedRequest]) -> Vec<(String, String)> {
    only(log, Server::AuthorizationServer, "/authorize").query_params()
}

/// The requests of the current discovery: the refused MCP request, the
/// protected resource metadata and the authorization server metadata.
const DISCOVERY: [&str; 3] = [
    "mcp POST /mcp",
    "mcp GET /.well-known/oauth-protected-resource/mcp",
    "as GET /.well-known/oauth-authorization-server",
];

/// The requests of a 2025-03-26 discovery, all at the MCP origin: the
/// refused MCP request, both protected resource metadata URLs (404) and the
/// origin's authorization server metadata.
const LEGACY_DISCOVERY: [&str; 4] = [
    "mcp POST /mcp",
    "mcp GET /.well-known/oauth-protected-resource/mcp",
    "mcp GET /.well-known/oauth-protected-resource",
    "mcp GET /.well-known/oauth-authorization-server",
];

/// The log (as [`lines`]) of a call that needed a token: the requests of
/// `discovery`, then `steps`, then the retried MCP request.
fn flow(discovery: &[&str], steps: &[&str]) -> Vec<String> {
    let retry = "mcp POST /mcp";
    discovery
        .iter()
        .chain(steps)
        .chain([&retry])
        .map(|l| l.to_string())
        .collect()
}

/// A JWS verified with the public JWK in its own header (DPoP proofs).
fn self_signed(token: &str) -> Jws {
    let jws = Jws::parse(token).unwrap();
    let key = key_from_jwk(&jws.header["jwk"]).unwrap();
    jws.verify(&key).unwrap();
    jws
}

/// The thumbprint of a proof's key.
fn jkt(jws: &Jws) -> String {
    thumbprint(&key_from_jwk(&jws.header["jwk"]).unwrap())
}

// ------------------------------------------------------------ 2025-03-26

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_server_with_metadata_at_its_origin() {
    // MCP 2025-03-26: every PRM URL 404 → the MCP origin is the issuer; its
    // RFC 8414 metadata is used. Everything happens at the MCP origin.
    let world = world_with(|b| b.legacy = Some(Legacy::OriginMetadata)).await;
    let (_, outcome) = connected(&world, &base()).await;
    let info = outcome.authorized.expect("a user authorized");
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    assert_eq!(world.issuer(), origin);
    assert_eq!(info.issuer, origin);
    assert_eq!(info.resource, world.mcp_url());
    let log = world.log();
    assert_eq!(
        lines(&log),
        flow(
            &LEGACY_DISCOVERY,
            &[
                "mcp POST /register",
                "mcp GET /authorize",
                "mcp POST /token"
            ]
        )
    );
    let token = only(&log, Server::Mcp, "/token").form_params();
    assert_eq!(param(&token, "resource"), Some(world.mcp_url()));
    assert_eq!(
        param(&token, "grant_type").as_deref(),
        Some("authorization_code")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_server_without_metadata_gets_the_default_endpoints() {
    // MCP 2025-03-26 "Fallbacks for Servers without Metadata Discovery":
    // every metadata URL 404 → /authorize, /token, /register at the origin.
    let world = world_with(|b| b.legacy = Some(Legacy::NoMetadata)).await;
    let (mut i, _) = connected(&world, &base()).await;
    let log = world.log();
    assert_eq!(
        lines(&log),
        flow(
            &LEGACY_DISCOVERY,
            &[
                "mcp GET /.well-known/openid-configuration",
                "mcp POST /register",
                "mcp GET /authorize",
                "mcp POST /token",
            ]
        )
    );
    // PKCE S256 although nothing advertised it; the mock checked the verifier.
    let authorize = only(&log, Server::Mcp, "/authorize").query_params();
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    // Once authorized, only the caller's requests.
    world.clear_log();
    ok(&mut i, &initialize(&world.mcp_url(), 2)).await;
    assert_eq!(lines(&world.log()), ["mcp POST /mcp"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_fallbacks_never_follow_a_server_error() {
    // Only 404 means "not here": a 500 from the origin's metadata is an error.
    let world = world_with(|b| {
        b.legacy = Some(Legacy::OriginMetadata);
        b.metadata_status = Some(500);
    })
    .await;
    match refused(&world, &base()).await.1 {
        AuthError::UnexpectedStatus(s) => {
            assert_eq!(s.status, 500);
            assert!(s.url.ends_with("/.well-known/oauth-authorization-server"));
        }
        e => panic!("{e:?}"),
    }
    let log = lines(&world.log());
    assert_eq!(
        log.last().unwrap(),
        "mcp GET /.well-known/oauth-authorization-server"
    );
    assert!(!log
        .iter()
        .any(|l| l.ends_with("/register") || l.ends_with("/token")));
}

// ------------------------------------------------------------ identity

fn cimd_document() -> serde_json::Value {
    json!({
        "client_id": CIMD_URL,
        "client_name": "e2e grants",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// The client configured with the URL of its metadata document,
/// [`CIMD_URL`], which `world` publishes.
fn cimd_client(world: &MockWorld) -> ClientConfig {
    world.publish_client_metadata(CIMD_URL, cimd_document());
    ClientConfig {
        client_metadata_url: Some(CIMD_URL.into()),
        ..base()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_metadata_document_url_is_the_client_id() {
    // SEP-991: the AS advertises client_id_metadata_document_supported, so
    // the URL is the client id and nothing is registered.
    let world = world_with(|b| b.cimd_supported = true).await;
    connected(&world, &cimd_client(&world)).await;
    let log = world.log();
    assert_eq!(
        lines(&log),
        flow(&DISCOVERY, &["as GET /authorize", "as POST /token"])
    );
    let authorize = authorize_query(&log);
    assert_eq!(param(&authorize, "client_id").as_deref(), Some(CIMD_URL));
    let token = only(&log, Server::AuthorizationServer, "/token");
    assert_eq!(
        param(&token.form_params(), "client_id").as_deref(),
        Some(CIMD_URL)
    );
    assert!(token.header("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metadata_document_support_the_client_registers() {
    let world = start(Behaviour::default()).await;
    connected(&world, &cimd_client(&world)).await;
    let log = world.log();
    only(&log, Server::AuthorizationServer, "/register");
    assert!(param(&authorize_query(&log), "client_id")
        .unwrap()
        .starts_with("mock-client-"));
}

// ------------------------------------------------------------ grants without a user

/// An AS that offers only `grants`, with `auth` client authentication, for
/// a server whose PRM lists `mcp:tools`.
fn machine_world(grants: &[&str], auth: &[&str]) -> Behaviour {
    Behaviour {
        grant_types: grants.iter().map(|g| g.to_string()).collect(),
        auth_methods: auth.iter().map(|a| a.to_string()).collect(),
        scopes_supported: Some(vec!["mcp:tools".into()]),
        ..Behaviour::default()
    }
}

/// Starts the mock servers as a [`machine_world`] whose AS offers only the
/// client credentials grant, with the one client authentication `auth`.
async fn client_credentials_world(auth: &str) -> MockWorld {
    start(machine_world(&["client_credentials"], &[auth])).await
}

/// Registers the client `id` with `auth` at the authorization server of
/// `world`; the configuration of that client: its id and, for
/// `client_secret_basic` and `client_secret_post`, its secret.
fn registered(world: &MockWorld, id: &str, auth: ClientAuth) -> ClientConfig {
    let client_secret = match &auth {
        ClientAuth::SecretBasic(secret) | ClientAuth::SecretPost(secret) => Some(secret.clone()),
        _ => None,
    };
    world.add_client(id, &[], auth);
    ClientConfig {
        client_id: Some(id.into()),
        client_secret,
        ..base()
    }
}

/// Registers the client `id` with `private_key_jwt` under `key` at the
/// authorization server of `world`; the configuration of that client with
/// the private key.
fn registered_with_key(world: &MockWorld, id: &str, key: &TestKey) -> ClientConfig {
    ClientConfig {
        private_key_pem: Some(key.pkcs8_pem()),
        ..registered(world, id, ClientAuth::PrivateKeyJwt(*key.verifying_key()))
    }
}

/// The SEP-990 grant: `id_token` exchanged at the identity provider of
/// `world` by its client `idp_client` (with `idp_secret`).
fn token_exchange(
    world: &MockWorld,
    idp_client: &str,
    idp_secret: Option<&str>,
    id_token: String,
) -> Option<GrantType> {
    Some(GrantType::TokenExchange(IdentityProvider {
        token_endpoint: world.idp_token_endpoint(),
        client_id: idp_client.into(),
        client_secret: idp_secret.map(str::to_string),
        id_token,
    }))
}

/// The log of a flow that needed no user: the 401, discovery, one token
/// request, the retried call.
fn machine_flow() -> Vec<String> {
    flow(&DISCOVERY, &["as POST /token"])
}

/// A fresh instance with `config` whose first call to the MCP server of
/// `world` succeeds without a user, in a [`machine_flow`]; the instance and
/// the token request.
async fn machine_call(world: &MockWorld, config: &ClientConfig) -> (Instance, LoggedRequest) {
    let (i, outcome) = connected(world, config).await;
    assert!(outcome.authorized.is_none(), "no user involved");
    let log = world.log();
    assert_eq!(lines(&log), machine_flow());
    (i, only(&log, Server::AuthorizationServer, "/token").clone())
}

/// Revokes every token the authorization server of `world` issued, and
/// empties the request log.
fn revoke_all(world: &MockWorld) {
    world.revoke_all_tokens();
    world.clear_log();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_client_secret_basic() {
    // SEP-1046: a client with a secret at a server that offers only client
    // credentials gets them chosen, without a user.
    let world = client_credentials_world("client_secret_basic").await;
    let secret = "s3cret: with/odd+chars";
    let config = registered(&world, "svc", ClientAuth::SecretBasic(secret.into()));
    let (mut i, token) = machine_call(&world, &config).await;
    let form = token.form_params();
    assert_eq!(
        param(&form, "grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(param(&form, "resource"), Some(world.mcp_url()));
    assert_eq!(param(&form, "scope").as_deref(), Some("mcp:tools"));
    assert_eq!(param(&form, "client_secret"), None);
    assert!(token.header("authorization").unwrap().starts_with("Basic "));
    // A revoked token is minted again the same way, still without a user.
    revoke_all(&world);
    let outcome = ok(&mut i, &initialize(&world.mcp_url(), 2)).await;
    assert!(outcome.authorized.is_none());
    let log = lines(&world.log());
    assert_eq!(log.first().unwrap(), "mcp POST /mcp");
    assert_eq!(log.iter().filter(|l| *l == "as POST /token").count(), 1);
    assert_eq!(log.last().unwrap(), "mcp POST /mcp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_client_secret_post() {
    let world = client_credentials_world("client_secret_post").await;
    let config = registered(&world, "svc-post", ClientAuth::SecretPost("p0st".into()));
    let (_, token) = machine_call(&world, &config).await;
    let form = token.form_params();
    assert_eq!(param(&form, "client_id").as_deref(), Some("svc-post"));
    assert_eq!(param(&form, "client_secret").as_deref(), Some("p0st"));
    assert!(token.header("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_private_key_jwt() {
    // RFC 7523 §2.2: an ES256 assertion, iss = sub = client id, aud = the
    // issuer; the mock verified it with the registered public key.
    let world = client_credentials_world("private_key_jwt").await;
    let key = TestKey::generate();
    let config = ClientConfig {
        grant_type: Some(GrantType::ClientCredentials),
        ..registered_with_key(&world, "svc-jwt", &key)
    };
    let (mut i, token) = machine_call(&world, &config).await;
    assert!(token.header("authorization").is_none());
    let form = token.form_params();
    assert_eq!(
        param(&form, "client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = Jws::parse(&param(&form, "client_assertion").unwrap()).unwrap();
    assertion.verify(key.verifying_key()).unwrap();
    assert_eq!(assertion.claim_str("iss"), Some("svc-jwt"));
    assert_eq!(assertion.claim_str("sub"), Some("svc-jwt"));
    assert_eq!(assertion.claim_str("aud"), Some(world.issuer().as_str()));
    let (iat, exp) = (
        assertion.claim_u64("iat").unwrap(),
        assertion.claim_u64("exp").unwrap(),
    );
    assert!(iat.abs_diff(now()) < 60 && exp > iat && exp - iat <= 3600);
    let first_jti = assertion.claim_str("jti").unwrap().to_string();
    // The private key never leaves the component.
    let pem = key.pkcs8_pem();
    let key_body = pem.lines().nth(1).unwrap();
    assert!(world.log().iter().all(|r| !r.body.contains(key_body)
        && !r.body.contains("PRIVATE KEY")
        && r.headers.iter().all(|(_, v)| !v.contains(key_body))));
    // Re-minted after revocation: a new assertion (the mock refuses a jti
    // it has seen).
    revoke_all(&world);
    ok(&mut i, &initialize(&world.mcp_url(), 2)).await;
    let again = token_form(&world.log());
    let again = Jws::parse(&param(&again, "client_assertion").unwrap()).unwrap();
    assert_ne!(again.claim_str("jti"), Some(first_jti.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_grant_with_a_workload_assertion() {
    // RFC 7523 §2.1 (SEP-1933): the configured assertion is the grant; a
    // refusal is reported, never retried with another grant.
    let world = start(machine_world(&[JWT_BEARER], &["none"])).await;
    let workload = TestKey::generate();
    let workload_issuer = "https://workload.example.com";
    world.trust_assertion_issuer(workload_issuer, workload.verifying_key());
    let t = now();
    let assertion = workload.sign_jwt(
        "JWT",
        &json!({"iss": workload_issuer, "sub": "spiffe://example.com/agent", "aud": world.issuer(),
                "iat": t, "exp": t + 300, "jti": "workload-jti-1"}),
    );
    let config = ClientConfig {
        grant_type: Some(GrantType::JwtBearer(assertion.clone())),
        ..registered(&world, "workload", ClientAuth::None)
    };
    let (mut i, token) = machine_call(&world, &config).await;
    let form = token.form_params();
    assert_eq!(param(&form, "grant_type").as_deref(), Some(JWT_BEARER));
    assert_eq!(param(&form, "assertion"), Some(assertion.clone()));
    assert_eq!(param(&form, "client_id").as_deref(), Some("workload"));
    assert_eq!(param(&form, "resource"), Some(world.mcp_url()));

    // After revocation the same assertion comes again; the mock refuses a
    // replayed jti, and the component reports it after one token request.
    revoke_all(&world);
    match send(&mut i, &initialize(&world.mcp_url(), 2)).await {
        Err(AuthError::TokenRejected(f)) => {
            assert_eq!(f.error, "invalid_grant");
            assert!(!format!("{f:?}").contains(&assertion));
        }
        other => panic!("{other:?}"),
    }
    let log = world.log();
    assert_eq!(
        requests(&log, Server::AuthorizationServer, "/token").len(),
        1
    );
    assert_eq!(
        requests(&log, Server::AuthorizationServer, "/authorize").len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchange_at_the_identity_provider_then_jwt_bearer() {
    // SEP-990: the ID token is exchanged at the IdP (RFC 8693) for an ID-JAG
    // for this AS and resource, which the client presents (RFC 7523) with
    // its own credentials.
    let world = start(machine_world(&[JWT_BEARER], &["client_secret_basic"])).await;
    world.add_idp_client("idp-client", Some("idp-s3cret"), "mcp-client");
    let id_token = world.issue_id_token("idp-client", "alice@example.com");
    let config = ClientConfig {
        grant_type: token_exchange(&world, "idp-client", Some("idp-s3cret"), id_token.clone()),
        ..registered(
            &world,
            "mcp-client",
            ClientAuth::SecretBasic("as-s3cret".into()),
        )
    };
    let (_, outcome) = connected(&world, &config).await;
    assert!(outcome.authorized.is_none());
    let log = world.log();
    assert_eq!(
        lines(&log),
        flow(&DISCOVERY, &["idp POST /token", "as POST /token"])
    );
    let at_idp = only(&log, Server::IdentityProvider, "/token");
    assert!(at_idp
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
    assert!(at_idp.header("dpop").is_none());
    let idp = at_idp.form_params();
    assert_eq!(
        param(&idp, "grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(
        param(&idp, "requested_token_type").as_deref(),
        Some("urn:ietf:params:oauth:token-type:id-jag")
    );
    assert_eq!(param(&idp, "subject_token"), Some(id_token));
    assert_eq!(
        param(&idp, "subject_token_type").as_deref(),
        Some("urn:ietf:params:oauth:token-type:id_token")
    );
    assert_eq!(param(&idp, "audience"), Some(world.issuer()));
    assert_eq!(param(&idp, "resource"), Some(world.mcp_url()));
    let at_as = only(&log, Server::AuthorizationServer, "/token");
    assert!(at_as.header("authorization").unwrap().starts_with("Basic "));
    let form = at_as.form_params();
    assert_eq!(param(&form, "grant_type").as_deref(), Some(JWT_BEARER));
    let jag = Jws::parse(&param(&form, "assertion").unwrap()).unwrap();
    assert_eq!(jag.header_str("typ"), Some("oauth-id-jag+jwt"));
    assert_eq!(jag.claim_str("client_id"), Some("mcp-client"));
    assert_eq!(jag.claim_str("sub"), Some("alice@example.com"));
    assert_eq!(jag.claim_str("aud"), Some(world.issuer().as_str()));
    assert_eq!(param(&form, "resource"), Some(world.mcp_url()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchange_with_dpop_binds_only_the_access_token() {
    // The IdP issues no access token for this client: no proof there. The
    // AS binds its token (with a nonce retry), the MCP server checks it.
    let world = start(Behaviour {
        dpop: true,
        dpop_as_nonce: NonceMode::Required,
        ..machine_world(&[JWT_BEARER], &["client_secret_post"])
    })
    .await;
    world.add_idp_client("idp-public", None, "mcp-client");
    let id_token = world.issue_id_token("idp-public", "bob");
    let config = ClientConfig {
        grant_type: token_exchange(&world, "idp-public", None, id_token),
        ..registered(
            &world,
            "mcp-client",
            ClientAuth::SecretPost("as-s3cret".into()),
        )
    };
    connected(&world, &config).await;
    let log = world.log();
    assert_eq!(
        lines(&log),
        flow(
            &DISCOVERY,
            &["idp POST /token", "as POST /token", "as POST /token"]
        )
    );
    let at_idp = only(&log, Server::IdentityProvider, "/token");
    assert!(at_idp.header("dpop").is_none());
    assert!(at_idp.header("authorization").is_none());
    assert_eq!(
        param(&at_idp.form_params(), "client_id").as_deref(),
        Some("idp-public")
    );
    let at_as = requests(&log, Server::AuthorizationServer, "/token");
    // The same ID-JAG both times (the nonce refusal did not use it up).
    assert_eq!(
        param(&at_as[0].form_params(), "assertion"),
        param(&at_as[1].form_params(), "assertion")
    );
    let (_, bound_to) = token_proof(&world, Server::AuthorizationServer);
    assert_eq!(check_resource_proofs(&world, &bound_to).len(), 1);
}

// ------------------------------------------------------------ DPoP

/// Checks every MCP request after the first token request: `DPoP <token>`
/// (never `Bearer`), a proof verified with its own key, that key the one
/// the token was bound to at the token endpoint, `htm`/`htu` of the
/// request, `ath` of the token, `iat` now, and a `jti` never used before.
/// Returns the proofs in order.
fn check_resource_proofs(world: &MockWorld, bound_to: &str) -> Vec<Jws> {
    let log = world.log();
    let first_token = log.iter().position(|r| r.path == "/token").unwrap();
    let mut jtis = HashSet::new();
    let mut proofs = Vec::new();
    for r in log[first_token..]
        .iter()
        .filter(|r| r.server == Server::Mcp && r.path == "/mcp")
    {
        let auth = r.header("authorization").unwrap();
        let token = auth
            .strip_prefix("DPoP ")
            .unwrap_or_else(|| panic!("{auth}"));
        let proof = self_signed(r.header("dpop").expect("a DPoP proof"));
        assert_eq!(proof.header_str("typ"), Some("dpop+jwt"));
        assert_eq!(jkt(&proof), bound_to);
        assert!(proof.header["jwk"].get("d").is_none());
        assert_eq!(proof.claim_str("htm"), Some("POST"));
        assert_eq!(proof.claim_str("htu"), Some(world.mcp_url().as_str()));
        assert_eq!(proof.claim_str("ath"), Some(s256(token).as_str()));
        assert!(proof.claim_u64("iat").unwrap().abs_diff(now()) < 60);
        assert!(jtis.insert(proof.claim_str("jti").unwrap().to_string()));
        proofs.push(proof);
    }
    proofs
}

/// The proof of the (last) token request and its key's thumbprint.
fn token_proof(world: &MockWorld, server: Server) -> (Jws, String) {
    let log = world.log();
    let token = requests(&log, server, "/token").pop().unwrap();
    let proof = self_signed(token.header("dpop").expect("a proof at the token endpoint"));
    let jkt = jkt(&proof);
    (proof, jkt)
}

/// The key the authorization server bound the (last) token to, checked
/// against every proof at the MCP server ([`check_resource_proofs`]);
/// returns those proofs.
fn resource_proofs(world: &MockWorld) -> Vec<Jws> {
    let (_, bound_to) = token_proof(world, Server::AuthorizationServer);
    check_resource_proofs(world, &bound_to)
}

/// Starts the mock servers with DPoP on, and the default behaviour as
/// `change` alters it.
async fn dpop_world(change: impl FnOnce(&mut Behaviour)) -> MockWorld {
    world_with(|b| {
        b.dpop = true;
        change(b);
    })
    .await
}

/// Starts a [`client_credentials_world`] with DPoP on, whose token endpoint
/// asks for DPoP nonces as `nonces` says.
async fn dpop_client_credentials_world(auth: &str, nonces: NonceMode) -> MockWorld {
    start(Behaviour {
        dpop: true,
        dpop_as_nonce: nonces,
        ..machine_world(&["client_credentials"], &[auth])
    })
    .await
}

/// The DPoP nonces the mock servers sent, in order.
fn nonces(world: &MockWorld) -> Vec<String> {
    world
        .dpop_nonces_sent()
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_tokens_and_a_fresh_proof_per_request() {
    // RFC 9449 §5, §7 (SEP-1932): the AS advertises ES256 → proof at the
    // token endpoint, a DPoP token, and each request proves the key again.
    let world = dpop_world(|_| ()).await;
    let (mut i, outcome) = connected(&world, &base()).await;
    assert_eq!(outcome.authorized.unwrap().token_type, "DPoP");
    for id in 2..5 {
        ok(&mut i, &initialize(&world.mcp_url(), id)).await;
    }
    let (proof, bound_to) = token_proof(&world, Server::AuthorizationServer);
    assert_eq!(proof.claim_str("htm"), Some("POST"));
    assert_eq!(
        proof.claim_str("htu"),
        Some(format!("{}/token", world.issuer()).as_str())
    );
    assert!(proof.claims.get("ath").is_none());
    assert_eq!(check_resource_proofs(&world, &bound_to).len(), 4);
    // The authorization request, metadata and registration carry no proof.
    for r in world
        .log()
        .iter()
        .filter(|r| r.path != "/token" && r.path != "/mcp")
    {
        assert!(r.header("dpop").is_none(), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_can_be_switched_off() {
    let world = dpop_world(|_| ()).await;
    let config = ClientConfig {
        dpop: Some(DpopMode::Never),
        ..base()
    };
    let (_, outcome) = connected(&world, &config).await;
    assert_eq!(outcome.authorized.unwrap().token_type, "Bearer");
    assert!(world.log().iter().all(|r| r.header("dpop").is_none()));
    let last = world.log().pop().unwrap();
    assert!(last.header("authorization").unwrap().starts_with("Bearer "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_nonce_from_the_authorization_server_is_used_on_the_retry() {
    // RFC 9449 §8: 400 use_dpop_nonce + DPoP-Nonce → the same grant once
    // more with a new proof carrying the nonce.
    let world = dpop_world(|b| b.dpop_as_nonce = NonceMode::Required).await;
    let (_, outcome) = connected(&world, &base()).await;
    assert_eq!(outcome.authorized.unwrap().token_type, "DPoP");
    let log = world.log();
    let tokens = requests(&log, Server::AuthorizationServer, "/token");
    assert_eq!(tokens.len(), 2);
    let first = self_signed(tokens[0].header("dpop").unwrap());
    let second = self_signed(tokens[1].header("dpop").unwrap());
    assert_eq!(first.claim_str("nonce"), None);
    let nonces = world.dpop_nonces_sent();
    assert_eq!(nonces.len(), 1);
    assert_eq!(nonces[0].0, Server::AuthorizationServer);
    assert_eq!(second.claim_str("nonce"), Some(nonces[0].1.as_str()));
    assert_ne!(first.claim_str("jti"), second.claim_str("jti"));
    assert_eq!(jkt(&first), jkt(&second));
    assert_eq!(tokens[0].form_params(), tokens[1].form_params());
    check_resource_proofs(&world, &jkt(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_nonce_with_private_key_jwt_sends_a_fresh_assertion() {
    // The nonce retry rebuilds the request: a new client assertion too (the
    // mock refuses a replayed assertion jti).
    let world = dpop_client_credentials_world("private_key_jwt", NonceMode::Required).await;
    let config = registered_with_key(&world, "svc-jwt", &TestKey::generate());
    connected(&world, &config).await;
    let log = world.log();
    let tokens = requests(&log, Server::AuthorizationServer, "/token");
    assert_eq!(tokens.len(), 2);
    let assertion = |r: &LoggedRequest| {
        let a = Jws::parse(&param(&r.form_params(), "client_assertion").unwrap()).unwrap();
        a.claim_str("jti").unwrap().to_string()
    };
    assert_ne!(assertion(tokens[0]), assertion(tokens[1]));
    assert_eq!(resource_proofs(&world).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_nonce_from_the_resource_server_is_retried() {
    // RFC 9449 §9: 401 `DPoP error="use_dpop_nonce"` + DPoP-Nonce → the
    // same request again with a proof carrying it; later requests use it
    // from the start.
    let world = dpop_world(|b| b.dpop_rs_nonce = NonceMode::Required).await;
    let (mut i, _) = connected(&world, &base()).await;
    ok(&mut i, &initialize(&world.mcp_url(), 2)).await;
    let log = world.log();
    let after_token: Vec<String> = lines(&log)
        .into_iter()
        .skip_while(|l| l != "as POST /token")
        .collect();
    assert_eq!(
        after_token,
        [
            "as POST /token",
            "mcp POST /mcp",
            "mcp POST /mcp",
            "mcp POST /mcp"
        ]
    );
    let nonces = world.dpop_nonces_sent();
    assert_eq!(nonces, [(Server::Mcp, nonces[0].1.clone())]);
    let proofs = resource_proofs(&world);
    assert_eq!(proofs.len(), 3);
    assert_eq!(proofs[0].claim_str("nonce"), None);
    assert_eq!(proofs[1].claim_str("nonce"), Some(nonces[0].1.as_str()));
    assert_eq!(proofs[2].claim_str("nonce"), Some(nonces[0].1.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_nonces_at_both_servers_and_rotating_resource_nonces() {
    // Both servers want nonces; the MCP server sends a new one with every
    // success, which the next proof carries without another 401.
    let world = dpop_world(|b| {
        b.dpop_as_nonce = NonceMode::Required;
        b.dpop_rs_nonce = NonceMode::Rotating;
    })
    .await;
    let mut i = instance(&base()).await;
    for id in 1..5 {
        ok(&mut i, &initialize(&world.mcp_url(), id)).await;
    }
    let log = world.log();
    assert_eq!(
        requests(&log, Server::AuthorizationServer, "/token").len(),
        2
    );
    let proofs = resource_proofs(&world);
    // 401 for the nonce, then the four calls.
    assert_eq!(proofs.len(), 5);
    let rs_nonces: Vec<String> = world
        .dpop_nonces_sent()
        .into_iter()
        .filter(|(s, _)| *s == Server::Mcp)
        .map(|(_, n)| n)
        .collect();
    assert_eq!(rs_nonces.len(), 5, "one refusal, then one per success");
    assert_eq!(proofs[0].claim_str("nonce"), None);
    for (proof, nonce) in proofs[1..].iter().zip(&rs_nonces) {
        assert_eq!(proof.claim_str("nonce"), Some(nonce.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_always_wants_a_new_nonce_gets_two_retries() {
    let world = dpop_world(|b| b.dpop_rs_nonce = NonceMode::Churn).await;
    match refused(&world, &base()).await.1 {
        AuthError::StillUnauthorized(s) => {
            assert_eq!(s.status, 401);
            assert_contains(&s.body_excerpt, "use_dpop_nonce");
        }
        e => panic!("{e:?}"),
    }
    let proofs = resource_proofs(&world);
    assert_eq!(proofs.len(), 3, "the request and two nonce retries");
    let nonces = nonces(&world);
    assert_eq!(proofs[1].claim_str("nonce"), Some(nonces[0].as_str()));
    assert_eq!(proofs[2].claim_str("nonce"), Some(nonces[1].as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_refresh_tokens_are_redeemed_with_the_same_key() {
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key
    // (the mock refuses a refresh without a proof of that key).
    let world = dpop_world(|_| ()).await;
    let (mut i, _) = connected(&world, &base()).await;
    let (_, bound_to) = token_proof(&world, Server::AuthorizationServer);
    revoke_all(&world);
    let outcome = ok(&mut i, &initialize(&world.mcp_url(), 2)).await;
    assert!(outcome.authorized.is_none(), "no user for a refresh");
    let log = world.log();
    assert_eq!(
        lines(&log),
        ["mcp POST /mcp", "as POST /token", "mcp POST /mcp"]
    );
    let refusal = log[0].header("authorization").unwrap();
    assert!(refusal.starts_with("DPoP "));
    let refresh = &log[1];
    assert_eq!(
        param(&refresh.form_params(), "grant_type").as_deref(),
        Some("refresh_token")
    );
    let (proof, key) = token_proof(&world, Server::AuthorizationServer);
    assert_eq!(key, bound_to);
    assert!(proof.claims.get("ath").is_none());
    let proofs = check_resource_proofs(&world, &bound_to);
    assert_eq!(proofs.len(), 1);
    assert_ne!(
        log[2].header("authorization"),
        Some(refusal),
        "the refreshed token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_server_that_always_wants_a_new_nonce_gets_one_retry() {
    let world = dpop_client_credentials_world("client_secret_basic", NonceMode::Churn).await;
    let config = registered(&world, "svc", ClientAuth::SecretBasic("s".into()));
    match refused(&world, &config).await.1 {
        AuthError::TokenRejected(f) => {
            assert_eq!(f.error, "use_dpop_nonce");
            assert_eq!(f.status, Some(400));
        }
        e => panic!("{e:?}"),
    }
    let log = world.log();
    let tokens = requests(&log, Server::AuthorizationServer, "/token");
    assert_eq!(tokens.len(), 2, "{:?}", lines(&log));
    let second = self_signed(tokens[1].header("dpop").unwrap());
    assert_eq!(second.claim_str("nonce"), Some(nonces(&world)[0].as_str()));
}

// ------------------------------------------------------------ relaxations, endpoints

/// The base configuration with the relaxations `change` switches on (all
/// off otherwise).
fn relaxed(change: impl FnOnce(&mut Relaxations)) -> ClientConfig {
    let mut relaxations = Relaxations {
        accept_issuer_mismatch: false,
        allow_pkce_unadvertised: false,
        omit_resource: false,
        allow_cross_origin_endpoints: false,
    };
    change(&mut relaxations);
    ClientConfig {
        relaxations: Some(relaxations),
        ..base()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_issuer_mismatch_relaxation() {
    let behaviour = |issuer: &str| Behaviour {
        metadata_issuer: Some(format!("{issuer}/tenant")),
        callback_iss: IssMode::Wrong(format!("{issuer}/tenant")),
        ..Behaviour::default()
    };
    let world = start(Behaviour::default()).await;
    let issuer = world.issuer();
    world.set_behaviour(|b| *b = behaviour(&issuer));
    assert!(matches!(
        refused(&world, &base()).await.1,
        AuthError::IssuerMismatch(_)
    ));
    connected(&world, &relaxed(|r| r.accept_issuer_mismatch = true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_pkce_unadvertised_relaxation() {
    let world = world_with(|b| b.omit_pkce_methods = true).await;
    assert!(matches!(
        refused(&world, &base()).await.1,
        AuthError::PkceUnsupported(_)
    ));
    assert!(requests(&world.log(), Server::AuthorizationServer, "/authorize").is_empty());
    connected(&world, &relaxed(|r| r.allow_pkce_unadvertised = true)).await;
    let log = world.log();
    assert_eq!(
        param(&authorize_query(&log), "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(&token_form(&log), "code_verifier").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omit_resource_relaxation() {
    // A server without RFC 8707 refuses `resource` (invalid_target).
    let world = world_with(|b| b.resource_indicators = false).await;
    match refused(&world, &base()).await.1 {
        AuthError::AuthorizationDenied(f) => assert_eq!(f.error, "invalid_target"),
        e => panic!("{e:?}"),
    }
    world.clear_log();
    connected(&world, &relaxed(|r| r.omit_resource = true)).await;
    let log = world.log();
    assert_eq!(param(&authorize_query(&log), "resource"), None);
    assert_eq!(param(&token_form(&log), "resource"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_endpoints_replace_metadata_discovery() {
    let world = start(Behaviour::default()).await;
    world.add_client("pre", &[REDIRECT], ClientAuth::None);
    let issuer = world.issuer();
    let config = ClientConfig {
        client_id: Some("pre".into()),
        authorization_server: Some(ServerEndpoints {
            issuer: issuer.clone(),
            authorization_endpoint: Some(format!("{issuer}/authorize")),
            token_endpoint: Some(format!("{issuer}/token")),
            registration_endpoint: None,
        }),
        ..base()
    };
    let (_, outcome) = connected(&world, &config).await;
    assert_eq!(outcome.authorized.unwrap().issuer, issuer);
    // The protected resource metadata, and no authorization server metadata.
    assert_eq!(
        lines(&world.log()),
        flow(&DISCOVERY[..2], &["as GET /authorize", "as POST /token"])
    );
}

// ------------------------------------------------------------ secrets

/// Everything a host can see of a run: the error (Debug and the CLI's
/// description), the events, and the redacted configuration.
async fn visible(i: &mut Instance, config: &ClientConfig, error: Option<&AuthError>) -> String {
    let events: Vec<FlowEvent> = i.take_events().await.unwrap();
    let mut text = format!("{events:?}\n{:?}\n", redacted(config));
    if let Some(e) = error {
        text.push_str(&format!("{e:?}\n{}\n", describe(e)));
    }
    text
}

fn assert_hidden(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret), "{secret:?} leaked into:\n{text}");
    }
}

/// The first call with `config` to the MCP server of `world` is refused
/// with a token error `error`, and none of `secrets` is [`visible`].
async fn assert_rejected_without_secrets(
    world: &MockWorld,
    config: &ClientConfig,
    error: &str,
    secrets: &[&str],
) {
    let (mut i, e) = refused(world, config).await;
    assert!(matches!(&e, AuthError::TokenRejected(f) if f.error == error));
    assert_hidden(&visible(&mut i, config, Some(&e)).await, secrets);
}

/// The access tokens the MCP server saw.
fn access_tokens(world: &MockWorld) -> Vec<String> {
    world
        .log()
        .iter()
        .filter(|r| r.server == Server::Mcp)
        .filter_map(|r| r.header("authorization"))
        .filter_map(|v| v.split_once(' ').map(|(_, t)| t.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_errors_events_or_debug_output() {
    // A refused client secret.
    let world = client_credentials_world("client_secret_basic").await;
    let config = ClientConfig {
        client_secret: Some("wrong-secret-4711".into()),
        ..registered(
            &world,
            "svc",
            ClientAuth::SecretBasic("the-right-one".into()),
        )
    };
    assert_rejected_without_secrets(&world, &config, "invalid_client", &["wrong-secret-4711"])
        .await;

    // A private key the server does not know: its assertion is refused.
    let world = client_credentials_world("private_key_jwt").await;
    let pem = TestKey::generate().pkcs8_pem();
    let config = ClientConfig {
        private_key_pem: Some(pem.clone()),
        ..registered_with_key(&world, "svc-jwt", &TestKey::generate())
    };
    let (mut i, e) = refused(&world, &config).await;
    assert!(matches!(&e, AuthError::TokenRejected(f) if f.error == "invalid_client"));
    let assertion = param(&token_form(&world.log()), "client_assertion").unwrap();
    let key_body = pem.lines().nth(1).unwrap();
    assert_hidden(
        &visible(&mut i, &config, Some(&e)).await,
        &[key_body, &assertion],
    );

    // An untrusted JWT bearer assertion, and a refused token exchange.
    let world = start(machine_world(&[JWT_BEARER], &["client_secret_basic"])).await;
    world.add_idp_client("idp-client", Some("idp-s3cret"), "mcp-client");
    let untrusted = TestKey::generate().sign_jwt(
        "JWT",
        &json!({"iss": "https://nobody.example", "sub": "x", "aud": world.issuer(),
                "exp": now() + 60, "jti": "j"}),
    );
    let config = ClientConfig {
        grant_type: Some(GrantType::JwtBearer(untrusted.clone())),
        ..registered(
            &world,
            "mcp-client",
            ClientAuth::SecretBasic("as-s3cret".into()),
        )
    };
    assert_rejected_without_secrets(&world, &config, "invalid_grant", &[&untrusted, "as-s3cret"])
        .await;
    let stranger_id_token = world.issue_id_token("someone-else", "mallory");
    let config = ClientConfig {
        grant_type: token_exchange(
            &world,
            "idp-client",
            Some("idp-s3cret"),
            stranger_id_token.clone(),
        ),
        ..config
    };
    assert_rejected_without_secrets(
        &world,
        &config,
        "invalid_grant",
        &[&stranger_id_token, "idp-s3cret", "as-s3cret"],
    )
    .await;

    // DPoP tokens and refusals: neither the token nor a proof shows.
    let world = dpop_world(|b| b.dpop_rs_nonce = NonceMode::Churn).await;
    let config = base();
    let (mut i, e) = refused(&world, &config).await;
    assert!(matches!(e, AuthError::StillUnauthorized(_)));
    let tokens = access_tokens(&world);
    assert!(!tokens.is_empty());
    let proofs: Vec<String> = world
        .log()
        .iter()
        .filter_map(|r| r.header("dpop").map(str::to_string))
        .collect();
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.extend(proofs.iter().map(String::as_str));
    assert_hidden(&visible(&mut i, &config, Some(&e)).await, &secrets);

    // And a successful DPoP call: its response's Debug shows no token.
    let world = dpop_world(|_| ()).await;
    let (mut i, outcome) = connected(&world, &config).await;
    let resp = i
        .wrap_call(&initialize(&world.mcp_url(), 2))
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{outcome:?}\n{resp:?}\n{}",
        visible(&mut i, &config, None).await
    );
    let tokens = access_tokens(&world);
    assert_eq!(tokens.len(), 2);
    assert_hidden(&text, &[&tokens[0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_credentials_never_reach_a_second_authorization_server() {
    // Security review finding 1: a client secret went to whatever
    // authorization server an MCP server's metadata named — a hostile
    // server's AS received `Basic svc:<the secret>`. The secret belongs to
    // the first issuer it was used with (recorded in the state).
    let honest = client_credentials_world("client_secret_basic").await;
    let hostile = client_credentials_world("client_secret_basic").await;
    let config = registered(&honest, "svc", ClientAuth::SecretBasic("s3cret".into()));
    let hostile_tokens = || hostile.count(Server::AuthorizationServer, "POST", "/token");
    let (mut i, _) = connected(&honest, &config).await;
    let e = send(&mut i, &initialize(&hostile.mcp_url(), 2))
        .await
        .expect_err("refused");
    let AuthError::CredentialIssuerMismatch(m) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(m.expected, honest.issuer());
    assert_eq!(m.found, hostile.issuer());
    assert_eq!(hostile_tokens(), 0, "the secret never went there");
    // A new process with the saved state refuses as well.
    let state = i.export_state().await.unwrap();
    let mut next = instance(&config).await;
    next.import_state(&state).await.unwrap().unwrap();
    assert!(matches!(
        send(&mut next, &initialize(&hostile.mcp_url(), 3)).await,
        Err(AuthError::CredentialIssuerMismatch(_))
    ));
    assert_eq!(hostile_tokens(), 0);
    // Given explicitly, the issuer decides: the configured one only.
    let pinned = ClientConfig {
        authorization_server: Some(ServerEndpoints {
            issuer: honest.issuer(),
            authorization_endpoint: None,
            token_endpoint: None,
            registration_endpoint: None,
        }),
        ..config.clone()
    };
    let mut explicit = instance(&pinned).await;
    assert!(send(&mut explicit, &initialize(&hostile.mcp_url(), 4))
        .await
        .is_err());
    assert_eq!(hostile_tokens(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_up_without_iss_is_refused_before_the_user_is_sent_anywhere() {
    // Security review finding 2: a hostile authorization server without
    // RFC 9207 `iss` names an honest server's authorization endpoint and
    // its own token endpoint; the honest code and its verifier were posted
    // to the hostile endpoint. Now such metadata is refused (RFC 9700 §4.4)
    // unless the user opts out for that server.
    let honest = start(Behaviour::default()).await;
    let hostile = world_with(|b| {
        b.advertise_iss = false;
        b.authorization_endpoint = Some(format!("{}/authorize", honest.issuer()));
    })
    .await;
    let (_, e) = refused(&hostile, &base()).await;
    let AuthError::InvalidResponse(r) = &e else {
        panic!("{e:?}")
    };
    assert_contains(&r.reason, "mix-up");
    assert_eq!(
        honest.count(Server::AuthorizationServer, "GET", "/authorize"),
        0
    );
    assert_eq!(
        hostile.count(Server::AuthorizationServer, "POST", "/token"),
        0
    );

    // Opted out for that server, the user is sent there (their choice).
    let mut i = instance(&relaxed(|r| r.allow_cross_origin_endpoints = true)).await;
    let req = initialize(&hostile.mcp_url(), 2);
    match i.wrap_call(&req).await.unwrap() {
        Err(AuthError::AuthorizationRequired(p)) => {
            assert!(
                p.authorization_url.starts_with(&honest.issuer()),
                "{}",
                p.authorization_url
            )
        }
        other => panic!("{:?}", other.map(|r| r.status)),
    }
}
