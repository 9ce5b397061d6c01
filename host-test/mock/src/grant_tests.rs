//! The mocks' strictness for the grants, client authentication, DPoP,
//! identity provider, CIMD and legacy modes: what a real server refuses,
//! they refuse (tested through a real HTTP client, without the component).

use super::tests::{
    as_metadata, code_form, error_of, get, initialize_body, json_of, mcp_send, param,
    register_client, send, world_with, REDIRECT,
};
use super::util::{base64, base64url, random_id, unix_now};
use super::*;
use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::net::IncomingResponse;
use serde_json::{json, Value};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn post_form(url: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> IncomingResponse {
    let mut all = vec![("Content-Type", FORM_TYPE)];
    all.extend_from_slice(headers);
    send("POST", url, &all, form_encode(form).as_bytes()).await
}

/// `form` with borrowed values, for [`post_form`].
fn borrowed<'a>(form: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An `Authorization` header with `value`, if any.
fn authorization(value: &Option<String>) -> Vec<(&str, &str)> {
    value
        .iter()
        .map(|v| ("Authorization", v.as_str()))
        .collect()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64(format!("{id}:{secret}").as_bytes()))
}

/// `claims` with the members of `extra` set (a null removes a claim).
fn with_claims(mut claims: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().into_iter().flatten() {
        match v {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(k);
            }
            v => claims[k] = v.clone(),
        }
    }
    claims
}

/// A DPoP proof by `key` with the usual claims, `extra` merged in (a null
/// removes a claim).
fn proof(key: &TestKey, htm: &str, htu: &str, extra: Value) -> String {
    let claims = json!({"jti": random_id(""), "htm": htm, "htu": htu, "iat": unix_now()});
    key.sign_with_header(
        &json!({"typ": "dpop+jwt", "jwk": key.public_jwk()}),
        &with_claims(claims, extra),
    )
}

/// A proof of a POST to `htu` with `jti`, signed by `signer` under `header`.
fn proof_under(signer: &TestKey, header: Value, jti: &str, htu: &str) -> String {
    let claims = json!({"jti": jti, "htm": "POST", "htu": htu, "iat": unix_now()});
    signer.sign_with_header(&header, &claims)
}

fn ath(token: &str) -> String {
    s256(token)
}

/// A world offering client credentials to `svc` (Basic, secret `s`), with
/// `behaviour` changes.
async fn machine_world(f: impl FnOnce(&mut Behaviour)) -> MockWorld {
    let world = world_with(|b| {
        b.grant_types = vec!["client_credentials".into(), JWT_BEARER.into()];
        f(b);
    })
    .await;
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

/// An `initialize` at the MCP server with `headers`.
async fn mcp_call(world: &MockWorld, headers: &[(&str, &str)]) -> IncomingResponse {
    mcp_send(world, headers, &initialize_body()).await
}

/// An `initialize` with `token` as a DPoP-bound token, and `proof`.
async fn dpop_call(world: &MockWorld, token: &str, proof: &str) -> IncomingResponse {
    let scheme = format!("DPoP {token}");
    mcp_call(world, &[("Authorization", &scheme), ("DPoP", proof)]).await
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
    let meta = as_metadata(&world).await;
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
        let c = json!({"iss": "kid", "sub": "kid", "aud": issuer, "iat": now,
                       "exp": now + 300, "jti": random_id("")});
        with_claims(c, extra)
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
            post_form(&url, &[], &borrowed(&form)).await
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
        let c = json!({"iss": "https://wl.example", "sub": "agent", "aud": issuer,
                       "exp": now + 60, "jti": random_id("")});
        workload.sign_jwt("JWT", &with_claims(c, extra))
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
    // Token exchange by "idp-c" with this secret, or by "idp-pub".
    let exchange = |secret: Option<&str>, id_token: String, audience: String| {
        let idp = idp.clone();
        let auth = secret.map(|s| basic("idp-c", s));
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
            if auth.is_none() {
                form.push(("client_id", "idp-pub".into()));
            }
            post_form(&idp, &authorization(&auth), &borrowed(&form)).await
        }
    };
    let issuer = world.issuer();
    let id_token = world.issue_id_token("idp-c", "alice");
    let r = exchange(Some("idp-s"), id_token.clone(), issuer.clone()).await;
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
    let r = exchange(Some("nope"), id_token.clone(), issuer.clone()).await;
    assert_eq!((r.status, error_of(&r).as_str()), (401, "invalid_client"));
    let someone_else = world.issue_id_token("idp-pub", "x");
    let r = exchange(Some("idp-s"), someone_else, issuer.clone()).await;
    assert_eq!(error_of(&r), "invalid_grant");
    let r = exchange(Some("idp-s"), id_token, "https://other.example".into()).await;
    assert_eq!(error_of(&r), "invalid_target");

    // At the AS: only the client the ID-JAG names, authenticated.
    let url = format!("{}/token", world.issuer());
    let redeem_jag = |auth: Option<String>| {
        let (url, jag) = (url.clone(), jag.clone());
        async move {
            let form = [("grant_type", JWT_BEARER), ("assertion", &jag)];
            post_form(&url, &authorization(&auth), &form).await
        }
    };
    let anonymous = redeem_jag(None).await;
    assert_eq!(error_of(&anonymous), "invalid_client");
    world.add_client("other", &[], ClientAuth::SecretBasic("o".into()));
    let r = redeem_jag(Some(basic("other", "o"))).await;
    assert_eq!(error_of(&r), "invalid_grant");
    let r = redeem_jag(Some(basic("svc", "s"))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn dpop_proofs_at_the_token_endpoint_are_verified() {
    let world = machine_world(|b| b.dpop = true).await;
    let key = TestKey::generate();
    let htu = format!("{}/token", world.issuer());
    let meta = as_metadata(&world).await;
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
    let wrong_typ = proof_under(
        &key,
        json!({"typ": "JWT", "jwk": key.public_jwk()}),
        "t1",
        &htu,
    );
    let mut private_jwk = key.public_jwk();
    private_jwk["d"] = json!(base64url(&[1; 32]));
    let with_private = proof_under(
        &key,
        json!({"typ": "dpop+jwt", "jwk": private_jwk}),
        "t2",
        &htu,
    );
    let other_key = proof_under(
        &TestKey::generate(),
        json!({"typ": "dpop+jwt", "jwk": key.public_jwk()}),
        "t3",
        &htu,
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
    // A proof of `key` for the MCP endpoint presenting `token`, `extra` merged in.
    let token_proof = |extra: Value| {
        let claims = with_claims(json!({"ath": ath(&token)}), extra);
        proof(&key, "POST", &mcp, claims)
    };
    let good = token_proof(json!({}));
    let r = dpop_call(&world, &token, &good).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let challenge = |r: &IncomingResponse| r.header("www-authenticate").unwrap_or("").to_string();
    // Replayed proof, wrong ath, no proof, other key, bearer use.
    let r = dpop_call(&world, &token, &good).await;
    assert!(
        challenge(&r).starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        challenge(&r)
    );
    let wrong_ath = token_proof(json!({"ath": ath("other")}));
    let r = dpop_call(&world, &token, &wrong_ath).await;
    assert!(challenge(&r).contains("invalid_dpop_proof"));
    let scheme = format!("DPoP {token}");
    let r = mcp_call(&world, &[("Authorization", &scheme)]).await;
    assert!(challenge(&r).contains("invalid_dpop_proof"));
    let stranger = TestKey::generate();
    let other = proof(&stranger, "POST", &mcp, json!({"ath": ath(&token)}));
    let r = dpop_call(&world, &token, &other).await;
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
    let p = proof(&key, "POST", &mcp, json!({"ath": ath(&plain)}));
    assert_eq!(dpop_call(&world, &plain, &p).await.status, 401);
    // The first challenge names both schemes.
    let r = mcp_call(&world, &[]).await;
    assert!(challenge(&r).starts_with("Bearer resource_metadata="));
    assert!(challenge(&r).ends_with(", DPoP algs=\"ES256\""));

    // Nonces (RFC 9449 §9).
    world.set_behaviour(|b| b.dpop_rs_nonce = NonceMode::Required);
    let r = dpop_call(&world, &token, &token_proof(json!({}))).await;
    assert!(challenge(&r).starts_with("DPoP error=\"use_dpop_nonce\""));
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    let with_nonce = || token_proof(json!({"nonce": nonce}));
    let r = dpop_call(&world, &token, &with_nonce()).await;
    assert_eq!(r.status, 200);
    assert!(r.header("dpop-nonce").is_none());
    world.set_behaviour(|b| b.dpop_rs_nonce = NonceMode::Rotating);
    let r = dpop_call(&world, &token, &with_nonce()).await;
    assert_eq!(r.status, 200);
    let next = r.header("dpop-nonce").unwrap().to_string();
    assert_ne!(next, nonce);
    let r = dpop_call(&world, &token, &with_nonce()).await;
    assert_eq!(
        r.header("dpop-nonce"),
        Some(next.as_str()),
        "the old one is stale"
    );
}

#[tokio::test]
async fn dpop_bound_refresh_tokens_of_public_clients() {
    let world = world_with(|b| b.dpop = true).await;
    world.add_client("pub", &[REDIRECT], ClientAuth::None);
    let verifier = "v".repeat(43);
    let mcp = world.mcp_url();
    let rest = [("state", "st"), ("resource", mcp.as_str())];
    let url = authorize_url(&world.issuer(), "pub", REDIRECT, &verifier, &rest);
    let callback = follow_headless(&url, REDIRECT).await.unwrap();
    let code = param(&callback, "code").unwrap();
    let key = TestKey::generate();
    let htu = format!("{}/token", world.issuer());
    let r = post_form(
        &htu,
        &[("DPoP", &proof(&key, "POST", &htu, json!({})))],
        &code_form(&code, "pub", &verifier, &mcp),
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
    let world = world_with(|b| b.cimd_supported = true).await;
    let meta = as_metadata(&world).await;
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
    let issuer = world.issuer();
    let verifier = "c".repeat(43);
    let authorize = |client_id: &str, redirect: &str| {
        authorize_url(&issuer, client_id, redirect, &verifier, &[("state", "s")])
    };
    assert_eq!(get(&authorize(good, REDIRECT)).await.status, 302);
    for (id, redirect) in [
        (good, "http://127.0.0.1:2/elsewhere"),
        (wrong_id, REDIRECT),
        (secret, REDIRECT),
        ("https://app.example/unpublished.json", REDIRECT),
    ] {
        assert_eq!(get(&authorize(id, redirect)).await.status, 400, "{id}");
    }
    world.set_behaviour(|b| b.cimd_supported = false);
    assert_eq!(get(&authorize(good, REDIRECT)).await.status, 400);
}

#[tokio::test]
async fn legacy_servers_keep_the_authorization_server_at_the_origin() {
    let world = world_with(|b| b.legacy = Some(Legacy::OriginMetadata)).await;
    let origin = world.mcp_url().trim_end_matches("/mcp").to_string();
    assert_eq!(world.issuer(), origin);
    let prm = get(&format!(
        "{origin}/.well-known/oauth-protected-resource/mcp"
    ))
    .await;
    assert_eq!(prm.status, 404);
    // The metadata at the origin (the issuer).
    let meta = as_metadata(&world).await;
    assert_eq!(meta["issuer"], json!(origin));
    assert_eq!(meta["token_endpoint"], json!(format!("{origin}/token")));
    let r = mcp_call(&world, &[]).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let world = world_with(|b| b.legacy = Some(Legacy::NoMetadata)).await;
    let origin = world.issuer();
    for path in ["oauth-authorization-server", "openid-configuration"] {
        let r = get(&format!("{origin}/.well-known/{path}")).await;
        assert_eq!(r.status, 404);
    }
    // Registration at the origin (asserts the 201).
    register_client(&world, "none").await;
}
