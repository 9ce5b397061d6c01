//! The mock authorization server: RFC 8414 metadata, RFC 7591 registration,
//! client ID metadata documents, the authorization endpoint (with an
//! optional cookie login) and the token endpoint (authorization code with
//! PKCE S256 and RFC 8707 `resource`; rotating refresh tokens with reuse
//! detection; client credentials; RFC 7523 JWT bearer grants, workload
//! assertions and SEP-990 ID-JAGs; client authentication with a secret or
//! `private_key_jwt`; RFC 9449 DPoP-bound tokens with optional nonces).

use super::access::verify_proof;
use super::jose::Jws;
use super::util::{
    form_encode, json_reply, percent_encode, random_id, redirect_reply, s256, text_reply,
    unique_params, unix_now, with_header, Form, Reply,
};
use super::{
    AccessToken, Client, Grant, IssMode, Legacy, NonceMode, RefreshToken, Req, Server, State,
    FORM_TYPE,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Where `metadata_redirect` sends the user agent; serves the metadata.
const MOVED_METADATA_PATH: &str = "/metadata-moved";
/// How long an authorization code can be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Size of the `metadata_huge` document.
const HUGE_METADATA_BYTES: usize = 2 << 20;

const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

/// RFC 7523 §2.2 `client_assertion_type`.
const JWT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// RFC 7523 §2.1 grant type.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The JWT `typ` of an Identity Assertion JWT Authorization Grant (SEP-990).
pub(crate) const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// How long an assertion may be valid at most (seconds).
const MAX_ASSERTION_LIFETIME: u64 = 3600;
/// Clock skew allowed for `iat` (seconds).
const SKEW: u64 = 60;

pub(crate) fn handle(st: &mut State, req: &Req) -> Reply {
    let m = req.method.as_str();
    let no_metadata = st.behaviour.legacy == Some(Legacy::NoMetadata);
    match req.path.as_str() {
        METADATA_PATH if m == "GET" && !no_metadata => metadata_endpoint(st),
        MOVED_METADATA_PATH if m == "GET" => json_reply(200, &metadata(st)),
        p if p.starts_with("/.well-known/") => text_reply(404, "not found"),
        "/register" if !st.behaviour.registration_enabled => text_reply(404, "not found"),
        "/register" if m == "POST" => register(st, req),
        "/authorize" if m == "GET" => authorize(st, req),
        "/login" if m == "GET" => login(st, req),
        "/token" if m == "POST" => token(st, req),
        "/register" | "/authorize" | "/login" | "/token" => text_reply(405, "method not allowed"),
        _ => text_reply(404, "not found"),
    }
}

fn metadata(st: &State) -> Value {
    let b = &st.behaviour;
    let issuer = &st.issuer;
    let mut doc = json!({
        "issuer": b.metadata_issuer.clone().unwrap_or_else(|| issuer.clone()),
        "authorization_endpoint": b
            .authorization_endpoint
            .clone()
            .unwrap_or_else(|| format!("{issuer}/authorize")),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "grant_types_supported": b.grant_types,
        "token_endpoint_auth_methods_supported": b.auth_methods,
    });
    if b.auth_methods.iter().any(|m| m == "private_key_jwt") {
        doc["token_endpoint_auth_signing_alg_values_supported"] = json!(["ES256"]);
    }
    if b.cimd_supported {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    if b.dpop {
        doc["dpop_signing_alg_values_supported"] = json!(["ES256"]);
    }
    if b.registration_enabled {
        doc["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    if !b.omit_pkce_methods {
        doc["code_challenge_methods_supported"] = json!(["S256"]);
    }
    if let Some(scopes) = &b.scopes_supported {
        doc["scopes_supported"] = json!(scopes);
    }
    if b.advertise_iss {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    }
    doc
}

fn metadata_endpoint(st: &State) -> Reply {
    let b = &st.behaviour;
    if let Some(status) = b.metadata_status {
        return text_reply(status, "mock authorization server: metadata unavailable");
    }
    if b.metadata_redirect {
        return redirect_reply(&format!("{}{MOVED_METADATA_PATH}", st.issuer));
    }
    let mut doc = metadata(st);
    if b.metadata_huge {
        doc["x_padding"] = json!("x".repeat(HUGE_METADATA_BYTES));
    }
    json_reply(200, &doc)
}

fn metadata_error(description: &str) -> Reply {
    json_reply(
        400,
        &json!({"error": "invalid_client_metadata", "error_description": description}),
    )
}

fn string_array(value: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

fn register(st: &mut State, req: &Req) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return metadata_error("the body must be a JSON object");
    };
    let redirect_uris = match string_array(body.get("redirect_uris")) {
        Ok(Some(uris)) if !uris.is_empty() => uris,
        _ => return metadata_error("redirect_uris must be a non-empty array of strings"),
    };
    if redirect_uris
        .iter()
        .any(|u| !u.contains(':') || u.contains('#'))
    {
        return json_reply(
            400,
            &json!({"error": "invalid_redirect_uri", "error_description": "redirect URIs must be absolute and without a fragment"}),
        );
    }
    let Ok(grant_types) = string_array(body.get("grant_types")) else {
        return metadata_error("grant_types must be an array of strings");
    };
    let Ok(response_types) = string_array(body.get("response_types")) else {
        return metadata_error("response_types must be an array of strings");
    };
    let method = match body.get("token_endpoint_auth_method") {
        None => "client_secret_basic".to_string(),
        Some(Value::String(m)) if AUTH_METHODS.contains(&m.as_str()) => m.clone(),
        Some(_) => return metadata_error("unsupported token_endpoint_auth_method"),
    };
    let client_id = random_id("mock-client-");
    let secret = (method != "none").then(|| random_id("mock-secret-"));
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": unix_now(),
        "redirect_uris": redirect_uris,
        "grant_types": grant_types.unwrap_or_else(|| vec!["authorization_code".into()]),
        "response_types": response_types.unwrap_or_else(|| vec!["code".into()]),
        "token_endpoint_auth_method": method,
    });
    for field in ["client_name", "scope", "application_type", "client_uri"] {
        if let Some(v) = body.get(field) {
            answer[field] = v.clone();
        }
    }
    if let Some(secret) = &secret {
        answer["client_secret"] = json!(secret);
        answer["client_secret_expires_at"] = json!(0);
    }
    st.clients.insert(
        client_id,
        Client {
            redirect_uris,
            auth_method: method,
            secret,
            public_key: None,
        },
    );
    json_reply(201, &answer)
}

fn bad_authorize(reason: &str) -> Reply {
    text_reply(400, &format!("mock authorization server: {reason}"))
}

/// An absolute URI without a fragment (RFC 8707 §2).
fn valid_resource(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !uri.contains('#')
}

fn has_login(st: &State, req: &Req) -> bool {
    req.header_values("cookie")
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, value)| name == "mock_session" && st.logins.contains(value))
}

fn authorize(st: &mut State, req: &Req) -> Reply {
    let query = req.query.as_deref().unwrap_or("");
    let params = match unique_params(query) {
        Ok(p) => p,
        Err(name) => return bad_authorize(&format!("parameter {name} repeats")),
    };
    let get = |k: &str| params.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return bad_authorize("client_id is missing");
    };
    let Some(client) = find_client(st, client_id) else {
        return bad_authorize("unknown client_id");
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return bad_authorize("redirect_uri is missing");
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return bad_authorize("redirect_uri is not registered for this client");
    }
    if get("response_type") != Some("code") {
        return bad_authorize("response_type must be code");
    }
    let Some(challenge) = get("code_challenge") else {
        return bad_authorize("code_challenge is missing");
    };
    if !(43..=128).contains(&challenge.len()) {
        return bad_authorize("code_challenge has the wrong length");
    }
    if get("code_challenge_method") != Some("S256") {
        return bad_authorize("code_challenge_method must be S256");
    }
    let Some(state) = get("state") else {
        return bad_authorize("state is missing");
    };
    if let Some(resource) = get("resource") {
        if !valid_resource(resource) {
            return bad_authorize("resource must be an absolute URI without a fragment");
        }
        if !st.behaviour.resource_indicators {
            // RFC 6749 §4.1.2.1: the redirect URI is valid, so the error
            // goes back to the client.
            let mut response = vec![
                ("error", "invalid_target"),
                (
                    "error_description",
                    "the resource parameter is not supported",
                ),
                ("state", state),
            ];
            if st.behaviour.advertise_iss {
                response.push(("iss", st.issuer.as_str()));
            }
            let separator = if redirect_uri.contains('?') { '&' } else { '?' };
            return redirect_reply(&format!(
                "{redirect_uri}{separator}{}",
                form_encode(&response)
            ));
        }
    }
    if st.behaviour.require_login && !has_login(st, req) {
        let original = format!("{}?{}", req.path, query);
        return redirect_reply(&format!("/login?return={}", percent_encode(&original)));
    }

    let code = random_id("mock-code-");
    st.codes.insert(
        code.clone(),
        Grant {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.to_string(),
            resource: get("resource").map(str::to_string),
            scope: get("scope").map(str::to_string),
            issued: Instant::now(),
            used: false,
            family: None,
        },
    );
    let b = &st.behaviour;
    let state = b.callback_state.as_deref().unwrap_or(state);
    let mut response = vec![("code", code.as_str()), ("state", state)];
    match &b.callback_iss {
        IssMode::Correct => response.push(("iss", st.issuer.as_str())),
        IssMode::Omit => {}
        IssMode::Wrong(iss) => response.push(("iss", iss.as_str())),
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    redirect_reply(&format!(
        "{redirect_uri}{separator}{}",
        form_encode(&response)
    ))
}

fn login(st: &mut State, req: &Req) -> Reply {
    let params = super::util::form_decode(req.query.as_deref().unwrap_or(""));
    let target = params
        .into_iter()
        .find(|(k, _)| k == "return")
        .map(|(_, v)| v);
    let Some(target) = target.filter(|t| t.starts_with("/authorize?")) else {
        return bad_authorize("login needs a return to /authorize");
    };
    let session = random_id("mock-login-");
    st.logins.insert(session.clone());
    with_header(
        redirect_reply(&target),
        "set-cookie",
        &format!("mock_session={session}; Path=/; HttpOnly"),
    )
}

fn token_error(error: &str, description: &str) -> Reply {
    no_store(json_reply(
        400,
        &json!({"error": error, "error_description": description}),
    ))
}

fn no_store(reply: Reply) -> Reply {
    with_header(
        with_header(reply, "cache-control", "no-store"),
        "pragma",
        "no-cache",
    )
}

/// An OAuth error code and description.
type OAuthError = (&'static str, &'static str);

/// The client `client_id` names: a registered one, or, where supported, the
/// client ID metadata document published at that URL (a public client whose
/// document names itself and lists its redirect URIs).
fn find_client(st: &State, client_id: &str) -> Option<Client> {
    if let Some(c) = st.clients.get(client_id) {
        return Some(c.clone());
    }
    if !st.behaviour.cimd_supported || !client_id.starts_with("https://") {
        return None;
    }
    let doc = st.cimd_documents.get(client_id)?;
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return None;
    }
    let method = doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("none");
    if method != "none" {
        return None;
    }
    let redirect_uris = string_array(doc.get("redirect_uris")).ok()??;
    Some(Client {
        redirect_uris,
        auth_method: "none".into(),
        secret: None,
        public_key: None,
    })
}

/// The client a token request authenticates as, `None` for a request
/// without any client identification (allowed for RFC 7523 grants), or the
/// error. Exactly one method (OAuth 2.1 §2.4).
fn authenticate(st: &mut State, req: &Req, form: &Form) -> Result<Option<String>, OAuthError> {
    let basic = req.basic_credentials();
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    let assertion_type = form.get("client_assertion_type");
    let invalid_client = || Err(("invalid_client", "client authentication failed"));
    let methods = [
        basic.is_some(),
        body_secret.is_some(),
        assertion_type.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err((
            "invalid_request",
            "more than one client authentication method",
        ));
    }
    if let Some(credentials) = basic {
        let Ok((id, secret)) = credentials else {
            return Err(("invalid_request", "malformed Basic credentials"));
        };
        if body_id.is_some_and(|b| *b != id) {
            return Err(("invalid_request", "client_id differs from Basic"));
        }
        return match find_client(st, &id) {
            Some(c)
                if c.auth_method == "client_secret_basic"
                    && c.secret.as_deref() == Some(secret.as_str()) =>
            {
                Ok(Some(id))
            }
            _ => invalid_client(),
        };
    }
    if let Some(kind) = assertion_type {
        if kind != JWT_ASSERTION_TYPE {
            return Err(("invalid_client", "unsupported client_assertion_type"));
        }
        let Some(assertion) = form.get("client_assertion") else {
            return Err(("invalid_request", "client_assertion is missing"));
        };
        let id = client_assertion(st, assertion)?;
        if body_id.is_some_and(|b| *b != id) {
            return Err(("invalid_request", "client_id differs from the assertion"));
        }
        return Ok(Some(id));
    }
    let Some(id) = body_id else {
        if form.contains_key("client_assertion") {
            return Err(("invalid_request", "client_assertion_type is missing"));
        }
        return Ok(None);
    };
    match (find_client(st, id), body_secret) {
        (Some(c), Some(secret))
            if c.auth_method == "client_secret_post" && c.secret.as_ref() == Some(secret) =>
        {
            Ok(Some(id.clone()))
        }
        (Some(c), None) if c.auth_method == "none" => Ok(Some(id.clone())),
        _ => invalid_client(),
    }
}

/// The audience claim names `expected` (a string, or an array holding it).
fn audience_is(claims: &Value, expected: &[&str]) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => expected.contains(&a.as_str()),
        Some(Value::Array(items)) => items
            .iter()
            .any(|a| a.as_str().is_some_and(|a| expected.contains(&a))),
        _ => false,
    }
}

/// Checks `exp` (in the future, at most an hour away), `iat` (not in the
/// future) and records `jti` (required, never seen before) of a JWT.
fn check_lifetime_and_jti(
    st: &mut State,
    jws: &Jws,
    kind: &str,
    error: &'static str,
) -> Result<(), OAuthError> {
    let now = unix_now();
    match jws.claim_u64("exp") {
        Some(exp) if exp <= now => return Err((error, "the JWT expired")),
        Some(exp) if exp > now + MAX_ASSERTION_LIFETIME + SKEW => {
            return Err((error, "the JWT is valid for too long"))
        }
        Some(_) => {}
        None => return Err((error, "exp is missing")),
    }
    if jws.claim_u64("iat").is_some_and(|iat| iat > now + SKEW) {
        return Err((error, "iat is in the future"));
    }
    let Some(jti) = jws.claim_str("jti").filter(|j| !j.is_empty()) else {
        return Err((error, "jti is missing"));
    };
    if !st.seen_jtis.insert(format!("{kind}:{jti}")) {
        return Err((error, "the JWT was used before (jti)"));
    }
    Ok(())
}

/// Verifies a `private_key_jwt` client assertion (RFC 7523 §3): ES256
/// under the registered key of the client named by `iss` = `sub`, `aud`
/// the issuer (or the token endpoint), unexpired, unseen `jti`. Returns the
/// client id.
fn client_assertion(st: &mut State, assertion: &str) -> Result<String, OAuthError> {
    let invalid = |why: &'static str| ("invalid_client", why);
    let jws = Jws::parse(assertion).map_err(invalid)?;
    let Some(id) = jws.claim_str("iss").map(str::to_string) else {
        return Err(invalid("iss is missing"));
    };
    if jws.claim_str("sub") != Some(id.as_str()) {
        return Err(invalid("sub differs from iss"));
    }
    let Some(Client {
        auth_method,
        public_key: Some(key),
        ..
    }) = find_client(st, &id)
    else {
        return Err(invalid("client authentication failed"));
    };
    if auth_method != "private_key_jwt" {
        return Err(invalid("client authentication failed"));
    }
    jws.verify(&key).map_err(invalid)?;
    let token_endpoint = format!("{}/token", st.issuer);
    if !audience_is(&jws.claims, &[st.issuer.as_str(), token_endpoint.as_str()]) {
        return Err(invalid("aud is not this authorization server"));
    }
    check_lifetime_and_jti(st, &jws, "assertion", "invalid_client")?;
    Ok(id)
}

/// Why a token request's DPoP proof is refused: `invalid_dpop_proof` with
/// the reason, or `use_dpop_nonce` with the nonce to use.
enum ProofRefused {
    Invalid(&'static str),
    UseNonce(String),
}

impl ProofRefused {
    fn reply(self) -> Reply {
        match self {
            ProofRefused::Invalid(why) => token_error("invalid_dpop_proof", why),
            ProofRefused::UseNonce(nonce) => {
                let reply = token_error(
                    "use_dpop_nonce",
                    "Authorization server requires nonce in DPoP proof",
                );
                with_header(reply, "dpop-nonce", &nonce)
            }
        }
    }
}

/// Checks the DPoP proof of a token request (RFC 9449 §5): `Ok(None)`
/// without a proof or when the server does not do DPoP, `Ok(Some(jkt))`
/// for a good one (with the current nonce, when one is wanted).
fn token_dpop(st: &mut State, req: &Req) -> Result<Option<String>, ProofRefused> {
    if !st.behaviour.dpop || req.header("dpop").is_none() {
        return Ok(None);
    }
    let htu = format!("{}{}", st.issuer, req.path);
    let proof = verify_proof(st, req, &htu, None).map_err(ProofRefused::Invalid)?;
    let demand = st
        .behaviour
        .dpop_as_nonce
        .demand(st.as_nonce.as_deref(), proof.nonce.as_deref());
    if let Some(nonce) = demand {
        return Err(ProofRefused::UseNonce(
            nonce.unwrap_or_else(|| new_as_nonce(st)),
        ));
    }
    Ok(Some(proof.jkt))
}

fn new_as_nonce(st: &mut State) -> String {
    let nonce = random_id("mock-as-nonce-");
    st.as_nonce = Some(nonce.clone());
    st.nonces_sent
        .push((Server::AuthorizationServer, nonce.clone()));
    nonce
}

/// A `resource` parameter checked: absolute without fragment, and only
/// where RFC 8707 is supported.
fn resource_param(st: &State, form: &Form) -> Result<Option<String>, OAuthError> {
    match form.get("resource") {
        None => Ok(None),
        Some(_) if !st.behaviour.resource_indicators => {
            Err(("invalid_target", "the resource parameter is not supported"))
        }
        Some(r) if !valid_resource(r) => Err((
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        )),
        Some(r) => Ok(Some(r.clone())),
    }
}

fn token(st: &mut State, req: &Req) -> Reply {
    if !req.has_content_type(FORM_TYPE) {
        let description = format!("the body must be {FORM_TYPE}");
        return token_error("invalid_request", &description);
    }
    let form = match req.form() {
        Ok(f) => f,
        Err(name) => return token_error("invalid_request", &format!("parameter {name} repeats")),
    };
    let client_id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err((error, description)) => return token_error(error, description),
    };
    let Some(grant_type) = form.get("grant_type").cloned() else {
        return token_error("invalid_request", "grant_type is missing");
    };
    if !st.behaviour.grant_types.contains(&grant_type) {
        return token_error("unsupported_grant_type", "unsupported grant_type");
    }
    // RFC 7523 §3.1: only the JWT bearer grant may come without a client.
    let client_id = match (client_id, grant_type.as_str()) {
        (Some(id), _) => id,
        (None, JWT_BEARER_GRANT) => String::new(),
        (None, _) => return token_error("invalid_client", "no client identification"),
    };
    let jkt = match token_dpop(st, req) {
        Ok(jkt) => jkt,
        Err(refused) => return refused.reply(),
    };
    let granted = match grant_type.as_str() {
        "authorization_code" => code_grant(st, &form, &client_id),
        "refresh_token" => refresh_grant(st, &form, &client_id, jkt.as_deref()),
        "client_credentials" => client_credentials_grant(st, &form, &client_id),
        JWT_BEARER_GRANT => jwt_bearer_grant(st, &form, &client_id),
        _ => Err(("unsupported_grant_type", "unsupported grant_type")),
    };
    let proved = jkt.is_some();
    let reply = match granted {
        Ok(grant) => issue(st, &client_id, grant, jkt),
        Err((error, description)) => token_error(error, description),
    };
    // RFC 9449 §8: a new nonce may come with any response.
    if proved && st.behaviour.dpop_as_nonce == NonceMode::Rotating && reply.status() == 200 {
        let nonce = new_as_nonce(st);
        return with_header(reply, "dpop-nonce", &nonce);
    }
    reply
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `client_id` is a public client (`none`), whose refresh tokens
/// are bound to its DPoP key (RFC 9449 §5).
fn is_public(st: &State, client_id: &str) -> bool {
    find_client(st, client_id).is_some_and(|c| c.auth_method == "none")
}

fn code_grant(st: &mut State, form: &Form, client_id: &str) -> Result<Issue, OAuthError> {
    let Some(code) = form.get("code") else {
        return Err(("invalid_request", "code is missing"));
    };
    let Some(grant) = st.codes.get_mut(code) else {
        return Err(("invalid_grant", "unknown code"));
    };
    if grant.used {
        if let Some(family) = grant.family {
            st.revoke_family(family);
        }
        return Err(("invalid_grant", "the code was already used"));
    }
    // One attempt per code, successful or not.
    grant.used = true;
    let grant = grant.clone();
    if grant.issued.elapsed() > CODE_LIFETIME {
        return Err(("invalid_grant", "the code expired"));
    }
    if grant.client_id != client_id {
        return Err(("invalid_grant", "the code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(("invalid_grant", "redirect_uri is missing or differs"));
    }
    let Some(verifier) = form.get("code_verifier") else {
        return Err(("invalid_request", "code_verifier is missing"));
    };
    if !valid_verifier(verifier) {
        return Err(("invalid_request", "code_verifier is malformed"));
    }
    if s256(verifier) != grant.challenge {
        return Err((
            "invalid_grant",
            "code_verifier does not match the challenge",
        ));
    }
    if form.get("resource") != grant.resource.as_ref() {
        return Err((
            "invalid_target",
            "resource differs from the authorization request",
        ));
    }
    let issued = Issue::new_family(st, grant.resource, grant.scope, true);
    if let Some(g) = st.codes.get_mut(code) {
        g.family = Some(issued.family);
    }
    Ok(issued)
}

fn refresh_grant(
    st: &mut State,
    form: &Form,
    client_id: &str,
    jkt: Option<&str>,
) -> Result<Issue, OAuthError> {
    let Some(presented) = form.get("refresh_token") else {
        return Err(("invalid_request", "refresh_token is missing"));
    };
    let Some(old) = st.refresh_tokens.get(presented).cloned() else {
        return Err(("invalid_grant", "unknown refresh token"));
    };
    if !old.active {
        st.revoke_family(old.family);
        return Err(("invalid_grant", "the refresh token was already used"));
    }
    if old.client_id != client_id {
        return Err((
            "invalid_grant",
            "the refresh token belongs to another client",
        ));
    }
    // RFC 9449 §5: a bound refresh token needs a proof of the same key.
    if old.jkt.is_some() && old.jkt.as_deref() != jkt {
        return Err((
            "invalid_dpop_proof",
            "the refresh token is bound to another DPoP key",
        ));
    }
    if let Some(resource) = form.get("resource") {
        if old.resource.as_ref() != Some(resource) {
            return Err(("invalid_target", "resource differs from the grant"));
        }
    }
    let scope = match form.get("scope") {
        None => old.scope.clone(),
        Some(requested) => {
            let granted: Vec<&str> = old.scope.as_deref().unwrap_or("").split(' ').collect();
            if requested.split(' ').any(|s| !granted.contains(&s)) {
                return Err(("invalid_scope", "scope exceeds the original grant"));
            }
            Some(requested.clone())
        }
    };
    if let Some(t) = st.refresh_tokens.get_mut(presented) {
        t.active = false;
    }
    // The same family: a reuse of any of its refresh tokens revokes it all.
    Ok(Issue {
        resource: old.resource,
        scope,
        family: old.family,
        refresh: true,
    })
}

/// The audience of a token: the `resource` asked for; without RFC 8707
/// support, the MCP server (the only resource this server knows).
fn audience(st: &State, resource: Option<String>) -> Option<String> {
    match resource {
        None if !st.behaviour.resource_indicators => Some(st.mcp_url.clone()),
        other => other,
    }
}

/// OAuth 2.1 §4.2 (SEP-1046): a confidential client on its own behalf. No
/// refresh token (§4.2.3).
fn client_credentials_grant(
    st: &mut State,
    form: &Form,
    client_id: &str,
) -> Result<Issue, OAuthError> {
    if is_public(st, client_id) {
        return Err((
            "unauthorized_client",
            "the client credentials grant needs a confidential client",
        ));
    }
    let resource = resource_param(st, form)?;
    let scope = form.get("scope").cloned();
    Ok(Issue::new_family(st, resource, scope, false))
}

/// RFC 7523 §2.1: a JWT from a trusted issuer, for this server. An ID-JAG
/// (SEP-990, `typ` `oauth-id-jag+jwt`) must name the authenticated client
/// in `client_id`; its `resource` must match the request's. No refresh
/// token.
fn jwt_bearer_grant(st: &mut State, form: &Form, client_id: &str) -> Result<Issue, OAuthError> {
    let Some(assertion) = form.get("assertion") else {
        return Err(("invalid_request", "assertion is missing"));
    };
    let invalid = |why| ("invalid_grant", why);
    let jws = Jws::parse(assertion).map_err(invalid)?;
    let iss = jws.claim_str("iss").unwrap_or("");
    let Some(key) = st
        .trusted_issuers
        .iter()
        .find(|(i, _)| i == iss)
        .map(|(_, k)| *k)
    else {
        return Err(invalid("the assertion's issuer is not trusted"));
    };
    jws.verify(&key).map_err(invalid)?;
    if !audience_is(&jws.claims, &[st.issuer.as_str()]) {
        return Err(invalid("aud is not this authorization server"));
    }
    if jws.claim_str("sub").is_none_or(str::is_empty) {
        return Err(invalid("sub is missing"));
    }
    let requested = resource_param(st, form)?;
    let mut resource = requested.clone();
    if jws.header_str("typ") == Some(ID_JAG_TYP) {
        if client_id.is_empty() {
            return Err(("invalid_client", "an ID-JAG needs client authentication"));
        }
        if jws.claim_str("client_id") != Some(client_id) {
            return Err(invalid("the ID-JAG was issued for another client"));
        }
        let claimed = jws.claim_str("resource").map(str::to_string);
        if requested.is_some() && claimed.is_some() && requested != claimed {
            return Err(("invalid_target", "resource differs from the ID-JAG"));
        }
        resource = requested.or(claimed);
    }
    // Last: a refused request does not use the assertion up.
    check_lifetime_and_jti(st, &jws, "grant", "invalid_grant")?;
    let scope = form
        .get("scope")
        .cloned()
        .or_else(|| jws.claim_str("scope").map(str::to_string));
    Ok(Issue::new_family(st, resource, scope, false))
}

/// What a token response grants.
struct Issue {
    resource: Option<String>,
    scope: Option<String>,
    family: u64,
    /// Whether a refresh token comes with it.
    refresh: bool,
}

impl Issue {
    /// The first tokens of a new family, for the [`audience`] of `resource`.
    fn new_family(
        st: &mut State,
        resource: Option<String>,
        scope: Option<String>,
        refresh: bool,
    ) -> Issue {
        Issue {
            resource: audience(st, resource),
            scope,
            family: st.new_family(),
            refresh,
        }
    }
}

/// The token response for `grant`, its tokens bound to the DPoP key `jkt`
/// if any.
fn issue(st: &mut State, client_id: &str, grant: Issue, jkt: Option<String>) -> Reply {
    let lifetime = st.behaviour.token_lifetime_secs;
    let access = random_id("mock-at-");
    st.access_tokens.insert(
        access.clone(),
        AccessToken {
            resource: grant.resource.clone(),
            expires: SystemTime::now() + Duration::from_secs(lifetime),
            revoked: false,
            family: grant.family,
            jkt: jkt.clone(),
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime,
    });
    if grant.refresh {
        let refresh = random_id("mock-rt-");
        // RFC 9449 §5: only a public client's refresh token is bound.
        let bound = jkt.filter(|_| is_public(st, client_id));
        st.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                client_id: client_id.to_string(),
                resource: grant.resource,
                scope: grant.scope.clone(),
                family: grant.family,
                active: true,
                jkt: bound,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    if let Some(scope) = grant.scope {
        body["scope"] = json!(scope);
    }
    no_store(json_reply(st.behaviour.token_status.unwrap_or(200), &body))
}
