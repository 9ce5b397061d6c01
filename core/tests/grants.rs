//! Whole-flow tests of the client identities, grants and options beyond the
//! basic authorization-code flow: 2025-03-26 fallbacks, Client ID Metadata
//! Documents, client credentials (secret and `private_key_jwt`), the JWT
//! bearer grant, SEP-990 token exchange, DPoP, relaxations and configured
//! endpoints. Numbers in comments are items of spec-checklist.md.

use mcp_oauth_core::{
    Call, CallAction, Client, Config, DpopMode, Entropy, Error, Grant, GrantType, IdentityProvider,
    Reaction, Relaxations, ResourceResponse, Secret, ServerEndpoints, TokenType,
};
use mcp_oauth_core::{HttpRequest, HttpResponse, Method};

mod common;
use common::*;

// ---------------------------------------------------------------- 2025-03-26

/// The RFC 8414 metadata URL of the server's origin, where a client looks
/// when there is no resource metadata.
const ORIGIN_ASM: &str = "https://mcp.example.com/.well-known/oauth-authorization-server";

/// A server of the 2025-03-26 revision: no resource metadata, `metadata`
/// (if any) at [`ORIGIN_ASM`], open registration at `registration` that
/// answers `client_id`; everything else is 404.
fn legacy_server(
    metadata: Option<String>,
    registration: &'static str,
    client_id: &'static str,
) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| match (r.url.as_str(), &metadata) {
        (ORIGIN_ASM, Some(metadata)) => HttpResponse::json(200, metadata),
        (url, _) if url == registration => {
            HttpResponse::json(201, &format!(r#"{{"client_id":"{client_id}"}}"#))
        }
        _ => not_found(),
    }
}

/// A [`legacy_server`] whose metadata declares `issuer` and names endpoints
/// under the origin's `/oauth`.
fn oauth_server(issuer: &str, client_id: &'static str) -> impl Fn(&HttpRequest) -> HttpResponse {
    let metadata = format!(
        r#"{{"issuer":"{issuer}","authorization_endpoint":"https://mcp.example.com/oauth/authorize","token_endpoint":"https://mcp.example.com/oauth/token","registration_endpoint":"https://mcp.example.com/oauth/register","code_challenge_methods_supported":["S256"]}}"#
    );
    legacy_server(
        Some(metadata),
        "https://mcp.example.com/oauth/register",
        client_id,
    )
}

/// [`redirected`] at a server without resource metadata: the client asks
/// for both resource metadata URLs and the origin's metadata, then `then`.
fn legacy_redirect(
    c: &mut Client,
    respond: Responder<'_>,
    then: &[&str],
    authorization_url: &str,
) -> Result<Grant, Error> {
    let requested: Vec<&str> = [PRM, PRM_ROOT, ORIGIN_ASM]
        .iter()
        .chain(then)
        .copied()
        .collect();
    redirected(c, respond, &requested, authorization_url)
}

#[test]
fn without_resource_metadata_the_origin_metadata_is_used() {
    // 29, 30: no PRM (404) → the server's origin is the issuer; its metadata
    // names endpoints under /oauth, which are used as published.
    let respond = oauth_server("https://mcp.example.com", "legacy-client");
    let mut c = client(Config::new("T", REDIRECT));
    let grant = legacy_redirect(
        &mut c,
        &respond,
        &["https://mcp.example.com/oauth/register"],
        "https://mcp.example.com/oauth/authorize?",
    );
    let p = redirect(&grant);
    assert_eq!(p.issuer, "https://mcp.example.com");
    // The resource is the server URL, sent verbatim.
    assert_eq!(get(&query(&p.authorization_url), "resource"), Some(SERVER));
    let (token, log) = complete(&mut c, grant.unwrap(), &|_| token_doc("Bearer"));
    assert!(matches!(token, Ok(Grant::Authorized(_))));
    assert_eq!(urls(&log), ["https://mcp.example.com/oauth/token"]);
}

#[test]
fn without_any_metadata_the_default_endpoints_are_used() {
    // 31: every metadata URL 404 → /authorize, /token, /register at the
    // origin; PKCE S256 is used although nothing advertises it.
    let respond = legacy_server(None, "https://mcp.example.com/register", "fallback-client");
    let mut c = client(Config::new("T", REDIRECT));
    let grant = legacy_redirect(
        &mut c,
        &respond,
        &[
            "https://mcp.example.com/.well-known/openid-configuration",
            "https://mcp.example.com/register",
        ],
        "https://mcp.example.com/authorize?",
    );
    assert_eq!(
        get(
            &query(&redirect(&grant).authorization_url),
            "code_challenge_method"
        ),
        Some("S256")
    );
    let (_, log) = complete(&mut c, grant.unwrap(), &|_| token_doc("Bearer"));
    assert_eq!(urls(&log), ["https://mcp.example.com/token"]);
}

#[test]
fn server_errors_never_lead_to_the_fallbacks() {
    // Only 404 means "not here"; a 5xx is reported with its evidence.
    let prm_fails = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(503, "down"),
        _ => not_found(),
    };
    let mut c = client(Config::new("T", REDIRECT));
    let (e, log) = run(&mut c, CHALLENGE, &prm_fails);
    assert!(
        matches!(e, Err(Error::UnexpectedStatus { status: 503, .. })),
        "{e:?}"
    );
    assert_eq!(log.len(), 1);
    let metadata_fails = |r: &HttpRequest| match r.url.as_str() {
        ORIGIN_ASM => HttpResponse::json(500, "oops"),
        _ => not_found(),
    };
    let (e, log) = run(&mut c, CHALLENGE, &metadata_fails);
    assert!(
        matches!(e, Err(Error::UnexpectedStatus { status: 500, .. })),
        "{e:?}"
    );
    assert!(!urls(&log).iter().any(|u| u.ends_with("/register")));
}

#[test]
fn a_legacy_issuer_that_differs_is_refused_unless_relaxed() {
    // RFC 8414 §3.3 (28): the 0.1.16 backcompat mock publishes `<origin>/oauth`.
    let respond = oauth_server("https://mcp.example.com/oauth", "x");
    let mut c = client(Config::new("T", REDIRECT));
    let (e, _) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(e, Err(Error::IssuerMismatch(_))), "{e:?}");

    let mut relaxed = Config::new("T", REDIRECT);
    relaxed.relax.accept_issuer_mismatch = true;
    let mut c = client(relaxed);
    let (grant, _) = run(&mut c, CHALLENGE, &respond);
    let p = redirect(&grant);
    // The issuer used is the one the metadata was fetched for.
    assert_eq!(p.issuer, "https://mcp.example.com");
}

// ---------------------------------------------------------------- identity

#[test]
fn a_metadata_document_url_is_the_client_id_where_supported() {
    // 39, 41: pre-registered → CIMD → DCR; CIMD needs no registration call.
    let mut config = Config::new("T", REDIRECT);
    config.client_metadata_url = Some(CIMD.into());
    let with_cimd = discovery_with(
        r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register","client_id_metadata_document_supported":true"#,
    );
    let mut c = client(config.clone());
    let (grant, log) = run(&mut c, CHALLENGE, &with_cimd);
    assert_eq!(urls(&log), [PRM, ASM]);
    let p = redirect(&grant);
    assert_eq!(get(&query(&p.authorization_url), "client_id"), Some(CIMD));
    let (_, log) = complete(&mut c, grant.unwrap(), &with_cimd);
    assert_eq!(get(&form(&log[0]), "client_id"), Some(CIMD));

    // Not advertised: dynamic registration.
    let without = discovery_with(
        r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register""#,
    );
    let mut c = client(config.clone());
    let (grant, log) = run(&mut c, CHALLENGE, &without);
    assert_eq!(
        urls(&log).last(),
        Some(&"https://auth.example.com/register")
    );
    let p = redirect(&grant);
    assert_eq!(
        get(&query(&p.authorization_url), "client_id"),
        Some("dcr-client")
    );

    // A pre-registered client wins over CIMD.
    config.client_id = Some("pre".into());
    let mut c = client(config);
    let (grant, _) = run(&mut c, CHALLENGE, &with_cimd);
    let p = redirect(&grant);
    assert_eq!(get(&query(&p.authorization_url), "client_id"), Some("pre"));
}

#[test]
fn metadata_document_urls_are_checked_at_configure() {
    // 42
    for bad in [
        "http://client.example.com/c.json",
        "https://client.example.com",
        "https://client.example.com/",
        "https://client.example.com/c.json?x=1",
        "https://client.example.com/c.json#f",
        "https://u@client.example.com/c.json",
        "https://client.example.com/a/../c.json",
        "not a url",
    ] {
        let mut config = Config::new("T", REDIRECT);
        config.client_metadata_url = Some(bad.into());
        let e = Client::new(config).unwrap_err();
        assert!(e.0.contains("client-metadata-url"), "{bad}: {e}");
    }
}

// ---------------------------------------------------------------- grants

/// An authorization server that offers only `grant`, with `auth` methods.
fn machine_server(
    grant: &'static str,
    auth: &'static str,
    token: fn() -> HttpResponse,
) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:read"]}}"#
            ),
        ),
        ASM => asm_doc(&format!(
            r#","grant_types_supported":["{grant}"],"token_endpoint_auth_methods_supported":["{auth}"]"#
        )),
        TOKEN => token(),
        _ => not_found(),
    }
}

#[test]
fn client_credentials_with_a_secret_are_chosen_when_only_they_are_offered() {
    // SEP-1046; 85, 88: Basic with form-encoded id and secret; resource and
    // scope sent.
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("svc".into());
    config.client_secret = Some(Secret::new("s3cret"));
    let mut c = client(config);
    let respond = machine_server("client_credentials", "client_secret_basic", || {
        token_doc("Bearer")
    });
    let (grant, log) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(grant, Ok(Grant::Authorized(_))), "{grant:?}");
    assert_eq!(urls(&log), [PRM, ASM, TOKEN]);
    let f = form(&log[2]);
    assert_eq!(get(&f, "grant_type"), Some("client_credentials"));
    assert_eq!(get(&f, "resource"), Some(SERVER));
    assert_eq!(get(&f, "scope"), Some("mcp:read"));
    assert_eq!(get(&f, "client_secret"), None);
    assert_eq!(
        log[2].header("authorization"),
        Some("Basic c3ZjOnMzY3JldA==")
    );
    let headers = c.request_headers("POST", SERVER, NOW, &[0; 16]);
    assert_eq!(
        headers,
        [("authorization".to_string(), "Bearer AT-1".to_string())]
    );
    // A refused token is re-minted the same way, without a user.
    let (grant, log) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(grant, Ok(Grant::Authorized(_))));
    assert_eq!(urls(&log), [PRM, TOKEN], "metadata cached, token re-minted");
}

#[test]
fn client_credentials_with_private_key_jwt() {
    // 87: client_assertion_type jwt-bearer, ES256, iss = sub = client_id,
    // aud = issuer, exp, iat, jti.
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("svc-jwt".into());
    config.private_key_pem = Some(Secret::new(TEST_KEY));
    config.grant_type = Some(GrantType::ClientCredentials);
    let mut c = client(config);
    let respond = machine_server("client_credentials", "private_key_jwt", || {
        token_doc("Bearer")
    });
    let (grant, log) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(grant, Ok(Grant::Authorized(_))), "{grant:?}");
    let req = &log[2];
    assert!(req.header("authorization").is_none());
    let f = form(req);
    assert_eq!(
        get(&f, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let (header, claims) = jwt(get(&f, "client_assertion").unwrap());
    assert_eq!(str_of(&header, "alg"), Some("ES256"));
    assert_eq!(str_of(&claims, "iss"), Some("svc-jwt"));
    assert_eq!(str_of(&claims, "sub"), Some("svc-jwt"));
    assert_eq!(str_of(&claims, "aud"), Some(ISSUER));
    assert_eq!(u64_of(&claims, "iat"), NOW);
    assert_eq!(u64_of(&claims, "exp"), NOW + 300);
    assert!(str_of(&claims, "jti").is_some());
    // The key is never in the request or in Debug output.
    let body = String::from_utf8_lossy(&req.body);
    assert!(!body.contains("PRIVATE"));
    assert!(!format!("{c:?}").contains("MIGHAgEA"));
}

#[test]
fn a_bad_private_key_is_refused_at_configure() {
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("svc".into());
    config.private_key_pem = Some(Secret::new(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ));
    let e = Client::new(config).unwrap_err();
    assert!(e.0.starts_with("private-key-pem"), "{e}");
    assert!(!e.0.contains("AAAA"));
}

#[test]
fn jwt_bearer_grant_sends_the_assertion_and_never_retries() {
    // SEP-1933 / RFC 7523 §2.1: one token request; a refusal is reported.
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("workload".into());
    config.grant_type = Some(GrantType::JwtBearer {
        assertion: Secret::new("eyJ.workload.jwt"),
    });
    let mut c = client(config.clone());
    let ok = machine_server(
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "none",
        || token_doc("Bearer"),
    );
    let (grant, log) = run(&mut c, CHALLENGE, &ok);
    assert!(matches!(grant, Ok(Grant::Authorized(_))), "{grant:?}");
    let f = form(&log[2]);
    assert_eq!(
        get(&f, "grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(get(&f, "assertion"), Some("eyJ.workload.jwt"));
    assert_eq!(get(&f, "client_id"), Some("workload"));

    let refused = machine_server(
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "none",
        || HttpResponse::json(400, r#"{"error":"invalid_grant"}"#),
    );
    let mut c = client(config);
    let (e, log) = run(&mut c, CHALLENGE, &refused);
    assert!(matches!(e, Err(Error::TokenRejected(ref f)) if f.error == "invalid_grant"));
    assert_eq!(log.iter().filter(|r| r.url == TOKEN).count(), 1);
    assert!(!format!("{e:?}").contains("eyJ"));
}

#[test]
fn token_exchange_then_jwt_bearer() {
    // SEP-990: RFC 8693 at the IdP (ID token → ID-JAG for this AS and
    // resource), then RFC 7523 at the AS with the client's credentials.
    let idp_token = "https://idp.example.com/token";
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("mcp-client".into());
    config.client_secret = Some(Secret::new("as-secret"));
    config.grant_type = Some(GrantType::TokenExchange(IdentityProvider {
        token_endpoint: idp_token.into(),
        client_id: "idp-client".into(),
        client_secret: None,
        id_token: Secret::new("eyJ.id.token"),
    }));
    let mut c = client(config);
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(
            r#","grant_types_supported":["urn:ietf:params:oauth:grant-type:jwt-bearer"],"token_endpoint_auth_methods_supported":["client_secret_basic"]"#,
        ),
        "https://idp.example.com/token" => HttpResponse::json(
            200,
            r#"{"access_token":"eyJ.id.jag","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}"#,
        ),
        TOKEN => token_doc("Bearer"),
        _ => not_found(),
    };
    let (grant, log) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(grant, Ok(Grant::Authorized(_))), "{grant:?}");
    assert_eq!(urls(&log), [PRM, ASM, idp_token, TOKEN]);
    let idp = form(&log[2]);
    assert_eq!(
        get(&idp, "grant_type"),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(
        get(&idp, "requested_token_type"),
        Some("urn:ietf:params:oauth:token-type:id-jag")
    );
    assert_eq!(get(&idp, "audience"), Some(ISSUER));
    assert_eq!(get(&idp, "resource"), Some(SERVER));
    assert_eq!(get(&idp, "subject_token"), Some("eyJ.id.token"));
    assert_eq!(
        get(&idp, "subject_token_type"),
        Some("urn:ietf:params:oauth:token-type:id_token")
    );
    assert_eq!(get(&idp, "client_id"), Some("idp-client"));
    let at_as = form(&log[3]);
    assert_eq!(
        get(&at_as, "grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(get(&at_as, "assertion"), Some("eyJ.id.jag"));
    assert_eq!(get(&at_as, "resource"), Some(SERVER));
    assert!(log[3]
        .header("authorization")
        .is_some_and(|h| h.starts_with("Basic ")));

    // The IdP must return an ID-JAG, nothing else.
    let wrong = |r: &HttpRequest| match r.url.as_str() {
        "https://idp.example.com/token" => HttpResponse::json(
            200,
            r#"{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}"#,
        ),
        _ => respond(r),
    };
    let (e, log) = run(&mut c, CHALLENGE, &wrong);
    assert!(matches!(e, Err(Error::InvalidResponse { .. })), "{e:?}");
    assert!(!urls(&log).contains(&TOKEN));
}

#[test]
fn grant_configuration_is_checked() {
    let mut config = Config::new("T", REDIRECT);
    config.grant_type = Some(GrantType::ClientCredentials);
    assert!(Client::new(config.clone()).is_err());
    config.client_id = Some("c".into());
    config.client_secret = Some(Secret::new("s"));
    config.private_key_pem = Some(Secret::new(TEST_KEY));
    assert!(Client::new(config).is_err(), "two auth methods");
    let mut config = Config::new("T", REDIRECT);
    config.grant_type = Some(GrantType::JwtBearer {
        assertion: Secret::new(""),
    });
    assert!(Client::new(config).is_err());
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("c".into());
    config.grant_type = Some(GrantType::TokenExchange(IdentityProvider {
        token_endpoint: "http://idp.example.com/token".into(),
        client_id: "i".into(),
        client_secret: None,
        id_token: Secret::new("t"),
    }));
    let e = Client::new(config).unwrap_err();
    assert!(e.0.contains("https"), "{e}");
}

// ---------------------------------------------------------------- DPoP

/// A resource server that accepts DPoP-bound tokens (RFC 9449 §7.1).
const DPOP_CHALLENGE: &str = r#"Bearer, DPoP algs="ES256""#;

fn dpop_server(as_nonce: Option<&'static str>) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(
            r#","code_challenge_methods_supported":["S256"],"dpop_signing_alg_values_supported":["ES256"]"#,
        ),
        TOKEN => {
            let (_, claims) = jwt(r.header("dpop").expect("a DPoP proof"));
            match (as_nonce, str_of(&claims, "nonce")) {
                (Some(n), got) if got != Some(n) => HttpResponse::new(
                    400,
                    &[("content-type", "application/json"), ("DPoP-Nonce", n)],
                    r#"{"error":"use_dpop_nonce"}"#,
                ),
                _ => token_doc("DPoP"),
            }
        }
        _ => not_found(),
    }
}

#[test]
fn dpop_bound_tokens_when_the_server_advertises_es256() {
    // RFC 9449 §4.2, §5, §7.1 (SEP-1932).
    let respond = dpop_server(None);
    let mut c = client(pre_registered());
    let (token, log) = run_and_complete(&mut c, DPOP_CHALLENGE, &respond);
    let Ok(Grant::Authorized(info)) = token else {
        panic!("{token:?}")
    };
    assert_eq!(info.token_type, TokenType::Dpop);
    let (header, claims) = jwt(log[0].header("dpop").unwrap());
    assert_eq!(str_of(&header, "typ"), Some("dpop+jwt"));
    assert_eq!(str_of(&header, "alg"), Some("ES256"));
    let jwk = header.get("jwk").unwrap();
    assert!(jwk.get("d").is_none(), "no private part");
    assert_eq!(str_of(&claims, "htm"), Some("POST"));
    assert_eq!(str_of(&claims, "htu"), Some(TOKEN));
    assert!(claims.get("ath").is_none());

    // Each request: `DPoP <token>` and a fresh proof bound to the token.
    let first = c.request_headers("POST", SERVER, NOW, &[1; 16]);
    let second = c.request_headers("POST", SERVER, NOW, &[2; 16]);
    assert_eq!(first[0], ("authorization".into(), "DPoP AT-1".into()));
    let (h1, c1) = jwt(&first[1].1);
    let (_, c2) = jwt(&second[1].1);
    assert_eq!(first[1].0, "dpop");
    assert_eq!(h1.get("jwk"), Some(jwk), "the key the token is bound to");
    assert_ne!(str_of(&c1, "jti"), str_of(&c2, "jti"));
    assert_eq!(str_of(&c1, "htu"), Some(SERVER));
    assert_eq!(str_of(&c1, "htm"), Some("POST"));
    // base64url(SHA-256("AT-1")), computed with Python's hashlib.
    assert_eq!(
        str_of(&c1, "ath"),
        Some("3csgdAejgtMkuQDinuh5mhyAI55HdQEdy7oRHreaGrI")
    );
    // A DPoP token never goes out as a bare bearer token.
    assert_eq!(c.authorization_header(SERVER, NOW), None);

    // The key survives export and import; a new process proves with it.
    let mut restored = client(pre_registered());
    restored.import_state(&c.export_state()).unwrap();
    let again = restored.request_headers("POST", SERVER, NOW, &[3; 16]);
    assert_eq!(jwt(&again[1].1).0.get("jwk"), Some(jwk));
}

#[test]
fn dpop_nonces_from_the_authorization_server_are_retried_once() {
    // RFC 9449 §8
    let respond = dpop_server(Some("as-nonce-1"));
    let mut c = client(pre_registered());
    let (token, log) = run_and_complete(&mut c, DPOP_CHALLENGE, &respond);
    assert!(matches!(token, Ok(Grant::Authorized(_))), "{token:?}");
    assert_eq!(urls(&log), [TOKEN, TOKEN]);
    let (_, first) = jwt(log[0].header("dpop").unwrap());
    let (_, second) = jwt(log[1].header("dpop").unwrap());
    assert_eq!(str_of(&second, "nonce"), Some("as-nonce-1"));
    assert_ne!(str_of(&first, "jti"), str_of(&second, "jti"));
    assert_eq!(form(&log[0]), form(&log[1]), "the same grant, once more");

    // A server that keeps asking gets no third request.
    let always = |r: &HttpRequest| match r.url.as_str() {
        TOKEN => HttpResponse::new(400, &[("DPoP-Nonce", "n")], r#"{"error":"use_dpop_nonce"}"#),
        _ => respond(r),
    };
    let (grant, _) = run(&mut c, DPOP_CHALLENGE, &respond);
    let (e, log) = complete(&mut c, grant.unwrap(), &always);
    assert!(matches!(e, Err(Error::TokenRejected(ref f)) if f.error == "use_dpop_nonce"));
    assert_eq!(log.len(), 2);
}

#[test]
fn a_dpop_nonce_sent_with_a_token_is_used_in_the_next_token_request() {
    // RFC 9449 §8.2: the newest nonce, from any answer, goes into the next
    // proof for that server, so the refresh needs no retry.
    let respond = |r: &HttpRequest| match r.url.as_str() {
        TOKEN => HttpResponse::new(
            200,
            &[
                ("content-type", "application/json"),
                ("DPoP-Nonce", "next-1"),
            ],
            r#"{"access_token":"AT-1","token_type":"DPoP","expires_in":600,"refresh_token":"RT-1"}"#,
        ),
        _ => dpop_server(None)(r),
    };
    let mut c = client(pre_registered());
    let (_, log) = run_and_complete(&mut c, DPOP_CHALLENGE, &respond);
    assert_eq!(
        str_of(&jwt(log[0].header("dpop").unwrap()).1, "nonce"),
        None
    );
    let flow = c
        .refresh(SERVER, NOW, mcp_oauth_core::Entropy::from_bytes([8; 80]))
        .unwrap()
        .unwrap();
    let mut log = Vec::new();
    drive(&mut c, flow, &respond, &mut log).unwrap();
    assert_eq!(urls(&log), [TOKEN], "no use_dpop_nonce round trip");
    assert_eq!(
        str_of(&jwt(log[0].header("dpop").unwrap()).1, "nonce"),
        Some("next-1")
    );
}

#[test]
fn dpop_nonces_from_the_resource_server_retry_the_request() {
    // RFC 9449 §9
    let respond = dpop_server(None);
    let mut c = client(pre_registered());
    run_and_complete(&mut c, DPOP_CHALLENGE, &respond)
        .0
        .unwrap();
    let nonce_challenge = r#"DPoP error="use_dpop_nonce", error_description="nonce""#;
    fn answer<'a>(nonce: &'a str, challenge: &'a str) -> ResourceResponse<'a> {
        ResourceResponse {
            method: "POST",
            url: SERVER,
            status: 401,
            www_authenticate: Some(challenge),
            dpop_nonce: Some(nonce),
        }
    }
    assert_eq!(
        c.react(&answer("rs-1", nonce_challenge), false),
        Reaction::Retry
    );
    let (_, claims) = jwt(&c.request_headers("POST", SERVER, NOW, &[9; 16])[1].1);
    assert_eq!(str_of(&claims, "nonce"), Some("rs-1"));
    // The same nonce refused again is not a nonce problem: authorize.
    assert!(matches!(
        c.react(&answer("rs-1", nonce_challenge), false),
        Reaction::Authorize(_)
    ));
    // A nonce on a successful response replaces the held one (§9).
    let ok = ResourceResponse {
        status: 200,
        www_authenticate: None,
        dpop_nonce: Some("rs-2"),
        ..answer("", nonce_challenge)
    };
    assert_eq!(c.react(&ok, false), Reaction::Deliver);
    let (_, claims) = jwt(&c.request_headers("POST", SERVER, NOW, &[8; 16])[1].1);
    assert_eq!(str_of(&claims, "nonce"), Some("rs-2"));
}

#[test]
fn a_call_reads_the_dpop_nonce_of_every_answer_to_a_proof_and_nothing_of_a_bearer_200() {
    // RFC 9449 §9, §8.2: a resource server may send a new nonce with any
    // answer to a DPoP request; the driver reads only the headers the call
    // wants (no header of a Bearer call's 200: its hot path).
    let wants = |c: &mut Client, status: u16| {
        let mut call = Call::new("POST", SERVER);
        let action = call.poll(c, &mut || NOW, &mut |b: &mut [u8]| b.fill(5));
        assert!(matches!(action, CallAction::Send(_)), "{action:?}");
        let w = call.wanted_headers(status);
        (w.www_authenticate, w.dpop_nonce)
    };
    let respond = dpop_server(None);
    let mut dpop = client(pre_registered());
    run_and_complete(&mut dpop, DPOP_CHALLENGE, &respond)
        .0
        .unwrap();
    assert_eq!(wants(&mut dpop, 200), (false, true));
    assert_eq!(wants(&mut dpop, 401), (true, true));
    assert_eq!(wants(&mut dpop, 403), (true, true));

    let respond = with_token_endpoint(|_: &HttpRequest| token_doc("Bearer"));
    let mut bearer = client(pre_registered());
    run_and_complete(&mut bearer, CHALLENGE, &respond)
        .0
        .unwrap();
    assert_eq!(wants(&mut bearer, 200), (false, false));
    assert_eq!(wants(&mut bearer, 500), (false, false));
    assert_eq!(wants(&mut bearer, 401), (true, true));
    assert_eq!(wants(&mut bearer, 403), (true, false));
}

#[test]
fn dpop_can_be_switched_off_or_forced() {
    let respond = dpop_server(None);
    let mut never = pre_registered();
    never.dpop = DpopMode::Never;
    let mut c = client(never);
    let (grant, _) = run(&mut c, DPOP_CHALLENGE, &respond);
    let bearer = |r: &HttpRequest| {
        assert!(r.header("dpop").is_none());
        token_doc("Bearer")
    };
    let (token, _) = complete(&mut c, grant.unwrap(), &bearer);
    assert_eq!(token_type(&token), TokenType::Bearer);
    // Without a proof, a DPoP token type is refused (RFC 9449 §5).
    let (grant, _) = run(&mut c, DPOP_CHALLENGE, &respond);
    let (e, _) = complete(&mut c, grant.unwrap(), &|_| token_doc("DPoP"));
    assert!(matches!(e, Err(Error::InvalidResponse { .. })), "{e:?}");

    let mut always = pre_registered();
    always.dpop = DpopMode::Always;
    let mut c = client(always);
    let plain = discovery_with(r#","code_challenge_methods_supported":["S256"]"#);
    let (_, log) = run_and_complete(&mut c, CHALLENGE, &plain);
    assert!(log[0].header("dpop").is_some());
}

#[test]
fn an_authorization_server_offering_dpop_is_not_enough() {
    // The real-server finding: oidc-provider lists ES256 whether or not the
    // resource server takes DPoP, and the TS SDK's `requireBearerAuth`
    // refuses `Authorization: DPoP`. Without a `DPoP` challenge or DPoP
    // members in the protected resource metadata, the token stays Bearer.
    let respond = dpop_server(None);
    let bearer = |r: &HttpRequest| match r.url.as_str() {
        TOKEN => {
            assert!(
                r.header("dpop").is_none(),
                "no proof for a Bearer-only server"
            );
            token_doc("Bearer")
        }
        _ => respond(r),
    };
    let mut c = client(pre_registered());
    let (token, log) = run_and_complete(&mut c, CHALLENGE, &bearer);
    assert_eq!(token_type(&token), TokenType::Bearer);
    assert_eq!(urls(&log), [TOKEN]);
    let headers = c.request_headers("POST", SERVER, NOW, &[1; 16]);
    assert_eq!(
        headers,
        [("authorization".to_string(), "Bearer AT-1".to_string())]
    );
}

#[test]
fn resource_metadata_that_asks_for_dpop_binds_the_token() {
    // RFC 9728 §2: `dpop_bound_access_tokens_required`, or proof algorithms
    // listed, in the protected resource metadata ask for DPoP even when the
    // challenge names only Bearer.
    for member in [
        r#""dpop_bound_access_tokens_required":true"#,
        r#""dpop_signing_alg_values_supported":["ES256"]"#,
    ] {
        let respond = dpop_server(None);
        let prm =
            format!(r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],{member}}}"#);
        let with_prm = |r: &HttpRequest| match r.url.as_str() {
            PRM => HttpResponse::json(200, &prm),
            _ => respond(r),
        };
        let mut c = client(pre_registered());
        let (token, log) = run_and_complete(&mut c, CHALLENGE, &with_prm);
        assert_eq!(token_type(&token), TokenType::Dpop, "{member}");
        assert!(log[0].header("dpop").is_some(), "{member}");
    }
}

// ---------------------------------------------------------------- options

#[test]
fn relaxations_each_switch_off_one_check() {
    let no_pkce = discovery_with("");
    let mut c = client(pre_registered());
    let (e, _) = run(&mut c, CHALLENGE, &no_pkce);
    assert!(matches!(e, Err(Error::PkceUnsupported(_))));
    let mut config = pre_registered();
    config.relax = Relaxations {
        allow_pkce_unadvertised: true,
        omit_resource: true,
        ..Relaxations::default()
    };
    let mut c = client(config);
    let (grant, _) = run(&mut c, CHALLENGE, &no_pkce);
    let p = redirect(&grant);
    let q = query(&p.authorization_url);
    assert_eq!(get(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(get(&q, "resource"), None);
    let (_, log) = complete(&mut c, grant.unwrap(), &no_pkce);
    assert_eq!(get(&form(&log[0]), "resource"), None);
}

#[test]
fn configured_endpoints_replace_discovery() {
    // Explicit endpoints: no metadata request; the issuer is the configured one.
    let mut config = pre_registered();
    config.server = Some(ServerEndpoints {
        issuer: "https://login.example.org".into(),
        authorization_endpoint: Some("https://login.example.org/oauth2/auth".into()),
        token_endpoint: Some("https://login.example.org/oauth2/token".into()),
        registration_endpoint: None,
    });
    let mut c = client(config);
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        _ => token_doc("Bearer"),
    };
    let grant = redirected(
        &mut c,
        &respond,
        &[PRM],
        "https://login.example.org/oauth2/auth?",
    );
    assert_eq!(redirect(&grant).issuer, "https://login.example.org");
    let (_, log) = complete(&mut c, grant.unwrap(), &respond);
    assert_eq!(urls(&log), ["https://login.example.org/oauth2/token"]);

    // Only the issuer: its metadata is fetched, not the PRM's server's.
    let mut config = pre_registered();
    config.server = Some(ServerEndpoints {
        issuer: ISSUER.into(),
        authorization_endpoint: None,
        token_endpoint: Some("https://auth.example.com/other-token".into()),
        registration_endpoint: None,
    });
    let mut c = client(config);
    let other_prm = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["https://else.example.com"]}}"#
            ),
        ),
        ASM => asm_doc(r#","code_challenge_methods_supported":["S256"]"#),
        _ => token_doc("Bearer"),
    };
    let (grant, log) = run(&mut c, CHALLENGE, &other_prm);
    assert_eq!(urls(&log), [PRM, ASM]);
    let (_, log) = complete(&mut c, grant.unwrap(), &other_prm);
    assert_eq!(urls(&log), ["https://auth.example.com/other-token"]);
}

#[test]
fn offline_access_only_when_the_server_lists_it() {
    // 62 (SEP-2207)
    fn respond(with: bool) -> impl Fn(&HttpRequest) -> HttpResponse {
        move |r: &HttpRequest| match r.url.as_str() {
            PRM => HttpResponse::json(
                200,
                &format!(
                    r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:basic"]}}"#
                ),
            ),
            ASM if with => asm_doc(
                r#","code_challenge_methods_supported":["S256"],"scopes_supported":["mcp:basic","offline_access"]"#,
            ),
            ASM => asm_doc(
                r#","code_challenge_methods_supported":["S256"],"scopes_supported":["mcp:basic"]"#,
            ),
            _ => not_found(),
        }
    }
    for (with, expected) in [(true, "mcp:basic offline_access"), (false, "mcp:basic")] {
        let mut c = client(pre_registered());
        let (grant, _) = run(&mut c, CHALLENGE, &respond(with));
        let Ok(Grant::Redirect(p)) = grant else {
            panic!("{grant:?}")
        };
        assert_eq!(get(&query(&p.authorization_url), "scope"), Some(expected));
    }
}

#[test]
fn step_up_asks_for_the_union_of_scopes() {
    // 65 (SEP-2350): the scope held before plus the one the 403 names.
    let respond = discovery_with(r#","code_challenge_methods_supported":["S256"]"#);
    let mut c = client(pre_registered());
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:read""#, &respond);
    let granted = |_: &HttpRequest| {
        HttpResponse::json(
            200,
            r#"{"access_token":"AT-r","token_type":"Bearer","scope":"mcp:read"}"#,
        )
    };
    complete(&mut c, grant.unwrap(), &granted).0.unwrap();
    let (grant, _) = run(
        &mut c,
        r#"Bearer error="insufficient_scope", scope="mcp:write""#,
        &respond,
    );
    let Ok(Grant::Redirect(p)) = grant else {
        panic!("{grant:?}")
    };
    assert_eq!(
        get(&query(&p.authorization_url), "scope"),
        Some("mcp:read mcp:write")
    );
    assert_eq!(Method::Post.as_str(), "POST");
}

/// oidc-provider's shape: the resource lists `mcp:tools` and `mcp:admin`,
/// the authorization server lists both and `offline_access`, and open
/// registration restricts a client to the scope it registered.
fn restricting_server(
    registrations: &std::cell::RefCell<Vec<String>>,
) -> impl Fn(&HttpRequest) -> HttpResponse + '_ {
    move |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:tools","mcp:admin"]}}"#
            ),
        ),
        ASM => asm_doc(
            r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register","scopes_supported":["openid","offline_access","mcp:tools","mcp:admin"]"#,
        ),
        "https://auth.example.com/register" => {
            let body = mcp_oauth_core::strict_json::parse_object(&r.body).unwrap();
            let scope = str_of(&body, "scope").unwrap_or("").to_string();
            let mut regs = registrations.borrow_mut();
            regs.push(scope.clone());
            // It registers less than asked (RFC 7591 §3.2.1 allows that):
            // no `offline_access`.
            let granted: Vec<&str> = scope
                .split(' ')
                .filter(|s| *s != "offline_access")
                .collect();
            HttpResponse::json(
                201,
                &format!(
                    r#"{{"client_id":"dcr-{}","scope":"{}"}}"#,
                    regs.len(),
                    granted.join(" ")
                ),
            )
        }
        TOKEN => token_doc("Bearer"),
        _ => not_found(),
    }
}

#[test]
fn registration_asks_for_every_scope_the_resource_offers_so_step_up_works() {
    // The real-server finding: registered with `mcp:tools offline_access`
    // (what the first request needed), the client got `invalid_scope` when
    // it stepped up to `mcp:admin`. Registered with what the resource lists
    // (spec-checklist §12.9), the step-up uses the same client.
    let registrations = std::cell::RefCell::new(Vec::new());
    let respond = restricting_server(&registrations);
    let mut c = client(Config::new("T", REDIRECT));
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:tools""#, &respond);
    let p = redirect(&grant);
    assert_eq!(
        get(&query(&p.authorization_url), "scope"),
        Some("mcp:tools offline_access"),
        "the request itself asks for no more than needed"
    );
    assert_eq!(
        *registrations.borrow(),
        ["mcp:tools offline_access mcp:admin"]
    );
    complete(&mut c, grant.unwrap(), &respond).0.unwrap();
    let (grant, log) = run(
        &mut c,
        r#"Bearer error="insufficient_scope", scope="mcp:tools mcp:admin""#,
        &respond,
    );
    let Ok(Grant::Redirect(p)) = grant else {
        panic!("{grant:?}")
    };
    assert!(
        p.authorization_url.contains("client_id=dcr-1&"),
        "{}",
        p.authorization_url
    );
    assert!(!urls(&log).contains(&"https://auth.example.com/register"));
    assert_eq!(registrations.borrow().len(), 1);
}

#[test]
fn a_registration_for_less_scope_than_needed_is_renewed() {
    // Registered when the resource listed only `mcp:tools`; it lists
    // `mcp:admin` too by the time a step-up needs it: the stored
    // registration did not ask for that, so a new one is made, once.
    let registrations = std::cell::RefCell::new(Vec::new());
    let respond = restricting_server(&registrations);
    let grown = std::cell::Cell::new(false);
    let prm = |r: &HttpRequest| match r.url.as_str() {
        PRM if !grown.get() => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:tools"]}}"#
            ),
        ),
        _ => respond(r),
    };
    let mut c = client(Config::new("T", REDIRECT));
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:tools""#, &prm);
    complete(&mut c, grant.unwrap(), &prm).0.unwrap();
    assert_eq!(*registrations.borrow(), ["mcp:tools offline_access"]);
    grown.set(true);
    let step_up = r#"Bearer error="insufficient_scope", scope="mcp:tools mcp:admin""#;
    let (grant, log) = run(&mut c, step_up, &prm);
    let Ok(Grant::Redirect(p)) = grant else {
        panic!("{grant:?}")
    };
    assert_eq!(
        urls(&log)
            .iter()
            .filter(|u| u.ends_with("/register"))
            .count(),
        1
    );
    assert!(
        p.authorization_url.contains("client_id=dcr-2&"),
        "{}",
        p.authorization_url
    );
    // Until that authorization completes, the token held (and its refresh
    // token) stays with the client it was issued to.
    assert_eq!(c.store().clients.get(ISSUER).unwrap().client_id, "dcr-1");
    complete(&mut c, Grant::Redirect(p), &prm).0.unwrap();
    assert_eq!(c.store().clients.get(ISSUER).unwrap().client_id, "dcr-2");
    // The server answering with less scope than asked does not make every
    // later authorization register again.
    let (_, log) = run(&mut c, step_up, &prm);
    assert!(!urls(&log).iter().any(|u| u.ends_with("/register")));
}

/// The callback of an `invalid_scope` error redirect for the authorization
/// at `p`.
fn invalid_scope_callback(p: &mcp_oauth_core::PendingAuthorization) -> String {
    let query = query(&p.authorization_url);
    let state = get(&query, "state").unwrap();
    format!("{REDIRECT}?error=invalid_scope&state={state}&iss={ISSUER}")
}

#[test]
fn invalid_scope_from_the_server_drops_the_registration_and_tries_once_more() {
    // A registration the server restricted gets `invalid_scope` at the
    // authorization endpoint: the core drops it and starts the
    // authorization once more, which registers anew and ends at a new URL.
    // A second `invalid_scope` is the error. A pre-registered client is the
    // user's: never dropped, no second try.
    let registrations = std::cell::RefCell::new(Vec::new());
    let respond = restricting_server(&registrations);
    let issuer_client = |c: &Client| c.store().clients.get(ISSUER).map(|r| r.client_id.clone());
    let denied = |r: Result<mcp_oauth_core::Begin, Error>| match r {
        Err(Error::AuthorizationDenied(f)) => f.error,
        other => panic!("{other:?}"),
    };

    let mut c = client(Config::new("T", REDIRECT));
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:tools""#, &respond);
    let Ok(Grant::Redirect(first)) = grant else {
        panic!("{grant:?}")
    };
    assert_eq!(issuer_client(&c).as_deref(), Some("dcr-1"));
    let again = c.complete_authorization(
        &invalid_scope_callback(&first),
        NOW,
        Entropy::from_bytes([4; 80]),
    );
    let Ok(mcp_oauth_core::Begin::Flow(flow)) = again else {
        panic!("{again:?}")
    };
    let mut log = Vec::new();
    let Ok(Grant::Redirect(second)) = drive(&mut c, flow, &respond, &mut log) else {
        panic!("the second try ends at a new authorization URL")
    };
    assert_eq!(
        urls(&log),
        vec![PRM, "https://auth.example.com/register"],
        "discovery again (server metadata cached), then a new registration"
    );
    assert_eq!(issuer_client(&c).as_deref(), Some("dcr-2"));
    assert_ne!(second.state, first.state);
    let refused = c.complete_authorization(
        &invalid_scope_callback(&second),
        NOW,
        Entropy::from_bytes([4; 80]),
    );
    assert_eq!(denied(refused), "invalid_scope", "no third authorization");
    assert_eq!(registrations.borrow().len(), 2);

    let mut c = client(pre_registered());
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:tools""#, &respond);
    let Ok(Grant::Redirect(p)) = grant else {
        panic!("{grant:?}")
    };
    let refused = c.complete_authorization(
        &invalid_scope_callback(&p),
        NOW,
        Entropy::from_bytes([4; 80]),
    );
    assert_eq!(denied(refused), "invalid_scope");
    assert!(issuer_client(&c).is_some(), "the user's client is kept");
}

#[test]
fn a_registration_refused_for_its_extra_scopes_is_made_with_the_request_alone() {
    // A server that rejects scopes it does not know (and lists none) still
    // registers the client for what the request needs.
    let bodies = std::cell::RefCell::new(Vec::new());
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp:tools","vendor:extra"]}}"#
            ),
        ),
        ASM => asm_doc(
            r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register""#,
        ),
        "https://auth.example.com/register" => {
            let body = mcp_oauth_core::strict_json::parse_object(&r.body).unwrap();
            let scope = str_of(&body, "scope").map(str::to_string);
            bodies.borrow_mut().push(scope.clone());
            match scope.as_deref() {
                Some(s) if s.contains("vendor:extra") => HttpResponse::json(
                    400,
                    r#"{"error":"invalid_client_metadata","error_description":"unknown scope"}"#,
                ),
                _ => HttpResponse::json(201, r#"{"client_id":"dcr-1"}"#),
            }
        }
        _ => not_found(),
    };
    let mut c = client(Config::new("T", REDIRECT));
    let (grant, _) = run(&mut c, r#"Bearer scope="mcp:tools""#, &respond);
    assert!(matches!(grant, Ok(Grant::Redirect(_))), "{grant:?}");
    assert_eq!(
        *bodies.borrow(),
        [
            Some("mcp:tools vendor:extra".to_string()),
            Some("mcp:tools".to_string())
        ]
    );
    // A refusal of the request's own scope is final: one fallback, then
    // the typed error.
    bodies.borrow_mut().clear();
    let mut c = client(Config::new("T", REDIRECT));
    let (grant, _) = run(&mut c, r#"Bearer scope="vendor:extra""#, &respond);
    assert!(
        matches!(grant, Err(Error::RegistrationRejected(_))),
        "{grant:?}"
    );
    assert_eq!(
        *bodies.borrow(),
        [
            Some("vendor:extra mcp:tools".to_string()),
            Some("vendor:extra".to_string())
        ]
    );
}

#[test]
fn resource_metadata_listing_other_dpop_algorithms_is_not_followed() {
    // This client signs ES256 proofs only: a resource that lists EdDSA
    // alone would refuse them, so the token stays Bearer.
    let respond = dpop_server(None);
    let prm = format!(
        r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"dpop_bound_access_tokens_required":true,"dpop_signing_alg_values_supported":["EdDSA"]}}"#
    );
    let with_prm = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(200, &prm),
        TOKEN => token_doc("Bearer"),
        _ => respond(r),
    };
    let mut c = client(pre_registered());
    let (token, log) = run_and_complete(&mut c, CHALLENGE, &with_prm);
    assert_eq!(token_type(&token), TokenType::Bearer);
    assert!(log[0].header("dpop").is_none());
}
