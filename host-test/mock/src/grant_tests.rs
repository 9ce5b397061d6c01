//! The mocks' strictness for the grants, client authentication, DPoP,
//! identity provider, CIMD and legacy modes: what a real server refuses,
//! they refuse (tested through a real HTTP client, without the component).

use super::util::{base64, base64url, random_id, unix_now};
use super::*;
use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::net::IncomingResponse;
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:1/callback";
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

use super::tests::send;

async fn post_form(url: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> IncomingResponse {
    let mut all = vec![FORM];
    all.extend_from_slice(headers);
    send("POST", url, &all, form_encode(form).as_bytes()).await
}

fn json_of(r: &IncomingResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// The OAuth `error` of a response.
fn error_of(r: &IncomingResponse) -> String {
    json_of(r)["error"].as_str().unwrap_or("").to_string()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64(format!("{id}:{secret}").as_bytes()))
}

/// A DPoP proof by `key` with the usual claims, `extra` merged in (a null
/// removes a claim).
fn proof(key: &TestKey, htm: &str, htu: &str, extra: Value) -> String {
    let mut claims = json!({"jti": random_id(""), "htm": htm, "htu": htu, "iat": unix_now()});
    for (k, v) in extra.as_object().into_iter().flatten() {
        match v {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(k);
            }
            v => claims[k] = v.clone(),
        }
    }
    key.sign_with_header(
        &json!({"typ": "dpop+jwt", "jwk": key.public_jwk()}),
        &claims,
    )
}

fn ath(token: &str) -> String {
    s256(token)
}

/// A world offering client credentials to `svc` (Basic, secret `s`), with
/// `behaviour` changes.
async fn machine_world(f: impl FnOnce(&mut Behaviour)) -> MockWorld {
    let mut b = Behaviour {
        grant_types: vec!["client_credentials".into(), JWT_BEARER.into()],
        ..Behaviour::default()
    };
    f(&mut b);
    let world = MockWorld::start(b).await.unwrap();
    world.add_client("svc", &[], ClientAuth::SecretBasic("s".into()));
    world
}

async fn client_credentials(world: &MockWorld, headers: &[(&str, &str)]) -> IncomingResponse {
    let auth = basic("svc", "s");
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let mcp = world.mcp_url();
    post_form(
        &format!("{}/token", world.issuer()),
        &all,
        &[("grant_type", "client_credentials"), ("resource", &mcp)],
    )
    .await
}

async fn mcp_call(world: &MockWorld, headers: &[(&str, &str)]) -> IncomingResponse {
    let mut all = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}});
    send("POST", &world.mcp_url(), &all, body.to_string().as_bytes()).await
}

#[tokio::test]
async fn grant_types_are_advertised_and_enforced() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    world.add_client("svc", &[], ClientAuth::SecretBasic("s".into()));
    let r = client_credentials(&world, &[]).await;
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (400, "unsupported_grant_type")
    );

    let world = machine_world(|b| b.auth_methods = vec!["private_key_jwt".into()]).await;
    let meta = json_of(
        &send(
            "GET",
            &format!("{}/.well-known/oauth-authorization-server", world.issuer()),
            &[],
            b"",
        )
        .await,
    );
    assert_eq!(
        meta["grant_types_supported"],
        json!(["client_credentials", JWT_BEARER])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert!(meta.get("dpop_signing_alg_values_supported").is_none());
    let r = client_credentials(&world, &[]).await;
    assert_eq!(r.status, 200);
    let body = json_of(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "OAuth 2.1 §4.2.3");
    // A public client may not use client credentials.
    world.add_client("pub", &[], ClientAuth::None);
    let r = post_form(
        &format!("{}/token", world.issuer()),
        &[],
        &[("grant_type", "client_credentials"), ("client_id", "pub")],
    )
    .await;
    assert_eq!(error_of(&r), "unauthorized_client");
    // Without RFC 8707 support, `resource` is refused.
    world.set_behaviour(|b| b.resource_indicators = false);
    let r = client_credentials(&world, &[]).await;
    assert_eq!(error_of(&r), "invalid_target");
}

#[tokio::test]
async fn private_key_jwt_assertions_are_verified() {
    let world = machine_world(|_| {}).await;
    let key = TestKey::generate();
    world.add_client("kid", &[], ClientAuth::PrivateKeyJwt(*key.verifying_key()));
    let issuer = world.issuer();
    let now = unix_now();
    let claims = |extra: Value| {
        let mut c = json!({"iss": "kid", "sub": "kid", "aud": issuer, "iat": now,
                           "exp": now + 300, "jti": random_id("")});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let token = |assertion: String, extra: Vec<(&'static str, String)>| {
        let url = format!("{}/token", world.issuer());
        async move {
            let mut form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_assertion_type", ASSERTION_TYPE.to_string()),
                ("client_assertion", assertion),
            ];
            form.extend(extra);
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&url, &[], &pairs).await
        }
    };
    let good = key.sign_jwt("JWT", &claims(json!({})));
    let r = token(good.clone(), vec![]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Replayed.
    assert_eq!(error_of(&token(good, vec![]).await), "invalid_client");
    // The token endpoint URL is an accepted audience too (RFC 7523 §3).
    let to_endpoint = key.sign_jwt("JWT", &claims(json!({"aud": format!("{issuer}/token")})));
    assert_eq!(token(to_endpoint, vec![]).await.status, 200);
    for bad in [
        key.sign_jwt("JWT", &claims(json!({"aud": "https://other.example"}))),
        key.sign_jwt("JWT", &claims(json!({"exp": now - 1}))),
        key.sign_jwt("JWT", &claims(json!({"exp": now + 7200}))),
        key.sign_jwt("JWT", &claims(json!({"sub": "someone"}))),
        key.sign_jwt("JWT", &claims(json!({"jti": ""}))),
        key.sign_jwt("JWT", &claims(json!({"iss": "svc", "sub": "svc"}))),
        TestKey::generate().sign_jwt("JWT", &claims(json!({}))),
        "not.a.jwt".to_string(),
    ] {
        let r = token(bad.clone(), vec![]).await;
        assert_eq!(
            (r.status, error_of(&r).as_str()),
            (400, "invalid_client"),
            "{bad}"
        );
    }
    // client_id must match; only one authentication method.
    let other_id = token(
        key.sign_jwt("JWT", &claims(json!({}))),
        vec![("client_id", "svc".into())],
    )
    .await;
    assert_eq!(error_of(&other_id), "invalid_request");
    let two = token(
        key.sign_jwt("JWT", &claims(json!({}))),
        vec![("client_secret", "s".into())],
    )
    .await;
    assert_eq!(error_of(&two), "invalid_request");
}

#[tokio::test]
async fn jwt_bearer_grants_need_a_trusted_unexpired_assertion_for_this_server() {
    let world = machine_world(|_| {}).await;
    let workload = TestKey::generate();
    world.trust_assertion_issuer("https://wl.example", workload.verifying_key());
    let now = unix_now();
    let issuer = world.issuer();
    let assertion = |extra: Value| {
        let mut c = json!({"iss": "https://wl.example", "sub": "agent", "aud": issuer,
                           "exp": now + 60, "jti": random_id("")});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        workload.sign_jwt("JWT", &c)
    };
    let url = format!("{}/token", world.issuer());
    let grant = |a: String| {
        let url = url.clone();
        async move { post_form(&url, &[], &[("grant_type", JWT_BEARER), ("assertion", &a)]).await }
    };
    let good = assertion(json!({}));
    let r = grant(good.clone()).await;
    assert_eq!(
        r.status, 200,
        "anonymous clients may use it (RFC 7523 §3.1)"
    );
    assert!(json_of(&r).get("refresh_token").is_none());
    assert_eq!(error_of(&grant(good).await), "invalid_grant", "replayed");
    for bad in [
        assertion(json!({"aud": "https://else.example"})),
        assertion(json!({"exp": now - 5})),
        assertion(json!({"iss": "https://untrusted.example"})),
        assertion(json!({"sub": ""})),
        TestKey::generate().sign_jwt("JWT", &json!({"iss": "https://wl.example", "sub": "a", "aud": issuer, "exp": now + 60, "jti": "x"})),
    ] {
        assert_eq!(error_of(&grant(bad).await), "invalid_grant");
    }
}

#[tokio::test]
async fn the_identity_provider_exchanges_only_its_own_id_tokens() {
    let world = machine_world(|b| b.grant_types = vec![JWT_BEARER.into()]).await;
    world.add_idp_client("idp-c", Some("idp-s"), "svc");
    world.add_idp_client("idp-pub", None, "svc");
    let idp = world.idp_token_endpoint();
    let exchange = |auth: Option<String>, id_token: String, audience: String| {
        let idp = idp.clone();
        async move {
            let mut form = vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange".to_string(),
                ),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:id-jag".into(),
                ),
                ("audience", audience),
                ("subject_token", id_token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token".into(),
                ),
            ];
            let auth_header;
            let mut headers = Vec::new();
            match auth {
                Some(a) => {
                    auth_header = a;
                    headers.push(("Authorization", auth_header.as_str()));
                }
                None => form.push(("client_id", "idp-pub".into())),
            }
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&idp, &headers, &pairs).await
        }
    };
    let issuer = world.issuer();
    let id_token = world.issue_id_token("idp-c", "alice");
    let r = exchange(
        Some(basic("idp-c", "idp-s")),
        id_token.clone(),
        issuer.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json_of(&r);
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:id-jag"
    );
    let jag = body["access_token"].as_str().unwrap().to_string();
    let parsed = Jws::parse(&jag).unwrap();
    assert_eq!(parsed.header_str("typ"), Some("oauth-id-jag+jwt"));
    assert_eq!(parsed.claim_str("client_id"), Some("svc"));
    assert_eq!(parsed.claim_str("sub"), Some("alice"));
    let public = exchange(None, world.issue_id_token("idp-pub", "bob"), issuer.clone()).await;
    assert_eq!(public.status, 200);
    // Refusals: wrong secret, someone else's ID token, unknown audience.
    let r = exchange(
        Some(basic("idp-c", "nope")),
        id_token.clone(),
        issuer.clone(),
    )
    .await;
    assert_eq!((r.status, error_of(&r).as_str()), (401, "invalid_client"));
    let r = exchange(
        Some(basic("idp-c", "idp-s")),
        world.issue_id_token("idp-pub", "x"),
        issuer.clone(),
    )
    .await;
    assert_eq!(error_of(&r), "invalid_grant");
    let r = exchange(
        Some(basic("idp-c", "idp-s")),
        id_token,
        "https://other.example".into(),
    )
    .await;
    assert_eq!(error_of(&r), "invalid_target");

    // At the AS: only the client the ID-JAG names, authenticated.
    let url = format!("{}/token", world.issuer());
    let anonymous = post_form(
        &url,
        &[],
        &[("grant_type", JWT_BEARER), ("assertion", &jag)],
    )
    .await;
    assert_eq!(error_of(&anonymous), "invalid_client");
    world.add_client("other", &[], ClientAuth::SecretBasic("o".into()));
    let other = basic("other", "o");
    let r = post_form(
        &url,
        &[("Authorization", &other)],
        &[("grant_type", JWT_BEARER), ("assertion", &jag)],
    )
    .await;
    assert_eq!(error_of(&r), "invalid_grant");
    let svc = basic("svc", "s");
    let r = post_form(
        &url,
        &[("Authorization", &svc)],
        &[("grant_type", JWT_BEARER), ("assertion", &jag)],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn dpop_proofs_at_the_token_endpoint_are_verified() {
    let world = machine_world(|b| b.dpop = true).await;
    let key = TestKey::generate();
    let htu = format!("{}/token", world.issuer());
    let meta = json_of(
        &send(
            "GET",
            &format!("{}/.well-known/oauth-authorization-server", world.issuer()),
            &[],
            b"",
        )
        .await,
    );
    assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["ES256"]));
    let good = proof(&key, "POST", &htu, json!({}));
    let r = client_credentials(&world, &[("DPoP", &good)]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(json_of(&r)["token_type"], "DPoP");
    // Without a proof: a bearer token.
    assert_eq!(
        json_of(&client_credentials(&world, &[]).await)["token_type"],
        "Bearer"
    );
    let wrong_typ = key.sign_with_header(
        &json!({"typ": "JWT", "jwk": key.public_jwk()}),
        &json!({"jti": "t1", "htm": "POST", "htu": htu, "iat": unix_now()}),
    );
    let mut private_jwk = key.public_jwk();
    private_jwk["d"] = json!(base64url(&[1; 32]));
    let with_private = key.sign_with_header(
        &json!({"typ": "dpop+jwt", "jwk": private_jwk}),
        &json!({"jti": "t2", "htm": "POST", "htu": htu, "iat": unix_now()}),
    );
    let other_key = TestKey::generate().sign_with_header(
        &json!({"typ": "dpop+jwt", "jwk": key.public_jwk()}),
        &json!({"jti": "t3", "htm": "POST", "htu": htu, "iat": unix_now()}),
    );
    for bad in [
        good.clone(), // replayed jti
        proof(&key, "GET", &htu, json!({})),
        proof(&key, "POST", &format!("{htu}x"), json!({})),
        proof(&key, "POST", &htu, json!({"iat": unix_now() - 600})),
        proof(&key, "POST", &htu, json!({"iat": null})),
        proof(&key, "POST", &htu, json!({"jti": null})),
        wrong_typ,
        with_private,
        other_key,
    ] {
        let r = client_credentials(&world, &[("DPoP", &bad)]).await;
        assert_eq!(
            (r.status, error_of(&r).as_str()),
            (400, "invalid_dpop_proof"),
            "{bad}"
        );
    }
    let a = proof(&key, "POST", &htu, json!({}));
    let b = proof(&key, "POST", &htu, json!({}));
    let r = client_credentials(&world, &[("DPoP", &a), ("DPoP", &b)]).await;
    assert_eq!(error_of(&r), "invalid_dpop_proof", "two proofs");

    // The nonce (RFC 9449 §8).
    world.set_behaviour(|b| b.dpop_as_nonce = NonceMode::Required);
    let r = client_credentials(&world, &[("DPoP", &proof(&key, "POST", &htu, json!({})))]).await;
    assert_eq!((r.status, error_of(&r).as_str()), (400, "use_dpop_nonce"));
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    let stale = proof(&key, "POST", &htu, json!({"nonce": "stale"}));
    assert_eq!(
        error_of(&client_credentials(&world, &[("DPoP", &stale)]).await),
        "use_dpop_nonce"
    );
    let fresh = proof(&key, "POST", &htu, json!({"nonce": nonce}));
    assert_eq!(
        client_credentials(&world, &[("DPoP", &fresh)]).await.status,
        200
    );
}

#[tokio::test]
async fn dpop_bound_tokens_need_a_proof_of_their_key_at_the_mcp_server() {
    let world = machine_world(|b| b.dpop = true).await;
    let key = TestKey::generate();
    let htu = format!("{}/token", world.issuer());
    let r = client_credentials(&world, &[("DPoP", &proof(&key, "POST", &htu, json!({})))]).await;
    let token = json_of(&r)["access_token"].as_str().unwrap().to_string();
    let mcp = world.mcp_url();
    let scheme = format!("DPoP {token}");
    let good = proof(&key, "POST", &mcp, json!({"ath": ath(&token)}));
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &good)]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let challenge = |r: &IncomingResponse| r.header("www-authenticate").unwrap_or("").to_string();
    // Replayed proof, wrong ath, no proof, other key, bearer use.
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &good)]).await;
    assert!(
        challenge(&r).starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        challenge(&r)
    );
    let wrong_ath = proof(&key, "POST", &mcp, json!({"ath": ath("other")}));
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &wrong_ath)]).await;
    assert!(challenge(&r).contains("invalid_dpop_proof"));
    let r = mcp_call(&world, &[("Authorization", &scheme)]).await;
    assert!(challenge(&r).contains("invalid_dpop_proof"));
    let stranger = TestKey::generate();
    let other = proof(&stranger, "POST", &mcp, json!({"ath": ath(&token)}));
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &other)]).await;
    assert_eq!(r.status, 401);
    assert!(
        challenge(&r).starts_with("DPoP error=\"invalid_token\""),
        "{}",
        challenge(&r)
    );
    let bearer = format!("Bearer {token}");
    let r = mcp_call(&world, &[("Authorization", &bearer)]).await;
    assert!(challenge(&r).starts_with("Bearer error=\"invalid_token\""));
    // A bearer token is no DPoP token.
    let plain = json_of(&client_credentials(&world, &[]).await)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let as_dpop = format!("DPoP {plain}");
    let p = proof(&key, "POST", &mcp, json!({"ath": ath(&plain)}));
    assert_eq!(
        mcp_call(&world, &[("Authorization", &as_dpop), ("DPoP", &p)])
            .await
            .status,
        401
    );
    // The first challenge names both schemes.
    let r = mcp_call(&world, &[]).await;
    assert!(challenge(&r).starts_with("Bearer resource_metadata="));
    assert!(challenge(&r).ends_with(", DPoP algs=\"ES256\""));

    // Nonces (RFC 9449 §9).
    world.set_behaviour(|b| b.dpop_rs_nonce = NonceMode::Required);
    let p = proof(&key, "POST", &mcp, json!({"ath": ath(&token)}));
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &p)]).await;
    assert!(challenge(&r).starts_with("DPoP error=\"use_dpop_nonce\""));
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    let p = proof(
        &key,
        "POST",
        &mcp,
        json!({"ath": ath(&token), "nonce": nonce}),
    );
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &p)]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("dpop-nonce").is_none());
    world.set_behaviour(|b| b.dpop_rs_nonce = NonceMode::Rotating);
    let p = proof(
        &key,
        "POST",
        &mcp,
        json!({"ath": ath(&token), "nonce": nonce}),
    );
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &p)]).await;
    assert_eq!(r.status, 200);
    let next = r.header("dpop-nonce").unwrap().to_string();
    assert_ne!(next, nonce);
    let p = proof(
        &key,
        "POST",
        &mcp,
        json!({"ath": ath(&token), "nonce": nonce}),
    );
    let r = mcp_call(&world, &[("Authorization", &scheme), ("DPoP", &p)]).await;
    assert_eq!(
        r.header("dpop-nonce"),
        Some(next.as_str()),
        "the old one is stale"
    );
}

#[tokio::test]
async fn dpop_bound_refresh_tokens_of_public_clients() {
    let world = MockWorld::start(Behaviour {
        dpop: true,
        ..Behaviour::default()
    })
    .await
    .unwrap();
    world.add_client("pub", &[REDIRECT], ClientAuth::None);
    let verifier = "v".repeat(43);
    let mcp = world.mcp_url();
    let url = format!(
        "{}/authorize?{}",
        world.issuer(),
        form_encode(&[
            ("response_type", "code"),
            ("client_id", "pub"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &s256(&verifier)),
            ("code_challenge_method", "S256"),
            ("state", "st"),
            ("resource", &mcp),
        ])
    );
    let callback = follow_headless(&url, REDIRECT).await.unwrap();
    let code = form_decode(callback.split_once('?').unwrap().1)
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    let key = TestKey::generate();
    let htu = format!("{}/token", world.issuer());
    let r = post_form(
        &htu,
        &[("DPoP", &proof(&key, "POST", &htu, json!({})))],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "pub"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("resource", &mcp),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let refresh = json_of(&r)["refresh_token"].as_str().unwrap().to_string();
    let refresh_with = |p: Option<String>| {
        let (htu, refresh) = (htu.clone(), refresh.clone());
        async move {
            let headers: Vec<(&str, &str)> = p.iter().map(|p| ("DPoP", p.as_str())).collect();
            post_form(
                &htu,
                &headers,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", "pub"),
                ],
            )
            .await
        }
    };
    assert_eq!(error_of(&refresh_with(None).await), "invalid_dpop_proof");
    let stranger = proof(&TestKey::generate(), "POST", &htu, json!({}));
    assert_eq!(
        error_of(&refresh_with(Some(stranger)).await),
        "invalid_dpop_proof"
    );
    let r = refresh_with(Some(proof(&key, "POST", &htu, json!({})))).await;
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["token_type"], "DPoP");
}

#[tokio::test]
async fn client_metadata_documents_are_checked() {
    let world = MockWorld::start(Behaviour {
        cimd_supported: true,
        ..Behaviour::default()
    })
    .await
    .unwrap();
    let meta = json_of(
        &send(
            "GET",
            &format!("{}/.well-known/oauth-authorization-server", world.issuer()),
            &[],
            b"",
        )
        .await,
    );
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let good = "https://app.example/client.json";
    world.publish_client_metadata(
        good,
        json!({"client_id": good, "redirect_uris": [REDIRECT]}),
    );
    let wrong_id = "https://app.example/wrong.json";
    world.publish_client_metadata(
        wrong_id,
        json!({"client_id": good, "redirect_uris": [REDIRECT]}),
    );
    let secret = "https://app.example/secret.json";
    world.publish_client_metadata(
        secret,
        json!({"client_id": secret, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}),
    );
    let authorize = |client_id: &str, redirect: &str| {
        format!(
            "{}/authorize?{}",
            world.issuer(),
            form_encode(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", &s256(&"c".repeat(43))),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ])
        )
    };
    assert_eq!(
        send("GET", &authorize(good, REDIRECT), &[], b"")
            .await
            .status,
        302
    );
    for (id, redirect) in [
        (good, "http://127.0.0.1:2/elsewhere"),
        (wrong_id, REDIRECT),
        (secret, REDIRECT),
        ("https://app.example/unpublished.json", REDIRECT),
    ] {
        assert_eq!(
            send("GET", &authorize(id, redirect), &[], b"").await.status,
            400,
            "{id}"
        );
    }
    world.set_behaviour(|b| b.cimd_supported = false);
    assert_eq!(
        send("GET", &authorize(good, REDIRECT), &[], b"")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn legacy_servers_keep_the_authorization_server_at_the_origin() {
    let world = MockWorld::start(Behaviour {
        legacy: Some(Legacy::OriginMetadata),
        ..Behaviour::default()
    })
    .await
    .unwrap();
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    assert_eq!(world.issuer(), origin);
    let prm = send(
        "GET",
        &format!("{origin}/.well-known/oauth-protected-resource/mcp"),
        &[],
        b"",
    )
    .await;
    assert_eq!(prm.status, 404);
    let meta = send(
        "GET",
        &format!("{origin}/.well-known/oauth-authorization-server"),
        &[],
        b"",
    )
    .await;
    assert_eq!(json_of(&meta)["issuer"], json!(origin));
    assert_eq!(
        json_of(&meta)["token_endpoint"],
        json!(format!("{origin}/token"))
    );
    let r = mcp_call(&world, &[]).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let world = MockWorld::start(Behaviour {
        legacy: Some(Legacy::NoMetadata),
        ..Behaviour::default()
    })
    .await
    .unwrap();
    let origin = world.issuer();
    for path in ["oauth-authorization-server", "openid-configuration"] {
        let r = send("GET", &format!("{origin}/.well-known/{path}"), &[], b"").await;
        assert_eq!(r.status, 404);
    }
    let r = send(
        "POST",
        &format!("{origin}/register"),
        &[("Content-Type", "application/json")],
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201);
}
