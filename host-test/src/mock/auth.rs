//! The mock authorization server: RFC 8414 metadata, RFC 7591 registration,
//! the authorization endpoint (with an optional cookie login) and the token
//! endpoint (authorization code with PKCE S256 and RFC 8707 `resource`;
//! rotating refresh tokens with reuse detection).

use super::util::{
    base64_decode, form_encode, form_unescape, json_reply, percent_encode, random_id,
    redirect_reply, s256, text_reply, unique_params, unix_now, with_header, Reply,
};
use super::{AccessToken, Client, Grant, IssMode, RefreshToken, Req, State};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Where `metadata_redirect` sends the user agent; serves the metadata.
const MOVED_METADATA_PATH: &str = "/metadata-moved";
/// How long an authorization code can be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Size of the `metadata_huge` document.
const HUGE_METADATA_BYTES: usize = 2 << 20;

const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

pub(crate) fn handle(st: &mut State, req: &Req) -> Reply {
    let m = req.method.as_str();
    match req.path.as_str() {
        METADATA_PATH if m == "GET" => metadata_endpoint(st),
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
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
    });
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
    req.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
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
    let Some(client) = st.clients.get(client_id) else {
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

/// The client a token request authenticates as, or the error.
fn authenticate(
    st: &State,
    req: &Req,
    form: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let basic = req.header("authorization").and_then(|v| {
        let (scheme, creds) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then_some(creds.trim())
    });
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    let invalid_client = || Err(("invalid_client", "client authentication failed"));
    if let Some(creds) = basic {
        if body_secret.is_some() {
            return Err((
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        let decoded = base64_decode(creds).and_then(|b| String::from_utf8(b).ok());
        let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(("invalid_request", "malformed Basic credentials"));
        };
        let (id, secret) = (form_unescape(id), form_unescape(secret));
        if body_id.is_some_and(|b| *b != id) {
            return Err(("invalid_request", "client_id differs from Basic"));
        }
        return match st.clients.get(&id) {
            Some(c)
                if c.auth_method == "client_secret_basic"
                    && c.secret.as_deref() == Some(secret.as_str()) =>
            {
                Ok(id)
            }
            _ => invalid_client(),
        };
    }
    let Some(id) = body_id else {
        return Err(("invalid_client", "no client identification"));
    };
    match (st.clients.get(id), body_secret) {
        (Some(c), Some(secret))
            if c.auth_method == "client_secret_post" && c.secret.as_ref() == Some(secret) =>
        {
            Ok(id.clone())
        }
        (Some(c), None) if c.auth_method == "none" => Ok(id.clone()),
        _ => invalid_client(),
    }
}

fn token(st: &mut State, req: &Req) -> Reply {
    let content_type = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return token_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form = match unique_params(&String::from_utf8_lossy(&req.body)) {
        Ok(f) => f,
        Err(name) => return token_error("invalid_request", &format!("parameter {name} repeats")),
    };
    let client_id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err((error, description)) => return token_error(error, description),
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(st, &form, &client_id),
        Some("refresh_token") => refresh_grant(st, &form, &client_id),
        Some(_) => token_error("unsupported_grant_type", "unsupported grant_type"),
        None => token_error("invalid_request", "grant_type is missing"),
    }
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn code_grant(st: &mut State, form: &HashMap<String, String>, client_id: &str) -> Reply {
    let Some(code) = form.get("code") else {
        return token_error("invalid_request", "code is missing");
    };
    let Some(grant) = st.codes.get_mut(code) else {
        return token_error("invalid_grant", "unknown code");
    };
    if grant.used {
        if let Some(family) = grant.family {
            st.revoke_family(family);
        }
        return token_error("invalid_grant", "the code was already used");
    }
    // One attempt per code, successful or not.
    grant.used = true;
    let grant = grant.clone();
    if grant.issued.elapsed() > CODE_LIFETIME {
        return token_error("invalid_grant", "the code expired");
    }
    if grant.client_id != client_id {
        return token_error("invalid_grant", "the code was issued to another client");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error("invalid_grant", "redirect_uri is missing or differs");
    }
    let Some(verifier) = form.get("code_verifier") else {
        return token_error("invalid_request", "code_verifier is missing");
    };
    if !valid_verifier(verifier) {
        return token_error("invalid_request", "code_verifier is malformed");
    }
    if s256(verifier) != grant.challenge {
        return token_error(
            "invalid_grant",
            "code_verifier does not match the challenge",
        );
    }
    if form.get("resource") != grant.resource.as_ref() {
        return token_error(
            "invalid_target",
            "resource differs from the authorization request",
        );
    }
    let family = st.next_family;
    st.next_family += 1;
    if let Some(g) = st.codes.get_mut(code) {
        g.family = Some(family);
    }
    issue(st, client_id, grant.resource, grant.scope, family)
}

fn refresh_grant(st: &mut State, form: &HashMap<String, String>, client_id: &str) -> Reply {
    let Some(presented) = form.get("refresh_token") else {
        return token_error("invalid_request", "refresh_token is missing");
    };
    let Some(old) = st.refresh_tokens.get(presented).cloned() else {
        return token_error("invalid_grant", "unknown refresh token");
    };
    if !old.active {
        st.revoke_family(old.family);
        return token_error("invalid_grant", "the refresh token was already used");
    }
    if old.client_id != client_id {
        return token_error(
            "invalid_grant",
            "the refresh token belongs to another client",
        );
    }
    if let Some(resource) = form.get("resource") {
        if old.resource.as_ref() != Some(resource) {
            return token_error("invalid_target", "resource differs from the grant");
        }
    }
    let scope = match form.get("scope") {
        None => old.scope.clone(),
        Some(requested) => {
            let granted: Vec<&str> = old.scope.as_deref().unwrap_or("").split(' ').collect();
            if requested.split(' ').any(|s| !granted.contains(&s)) {
                return token_error("invalid_scope", "scope exceeds the original grant");
            }
            Some(requested.clone())
        }
    };
    if let Some(t) = st.refresh_tokens.get_mut(presented) {
        t.active = false;
    }
    issue(st, client_id, old.resource, scope, old.family)
}

fn issue(
    st: &mut State,
    client_id: &str,
    resource: Option<String>,
    scope: Option<String>,
    family: u64,
) -> Reply {
    let lifetime = st.behaviour.token_lifetime_secs;
    let access = random_id("mock-at-");
    let refresh = random_id("mock-rt-");
    st.access_tokens.insert(
        access.clone(),
        AccessToken {
            resource: resource.clone(),
            expires: SystemTime::now() + Duration::from_secs(lifetime),
            revoked: false,
            family,
        },
    );
    st.refresh_tokens.insert(
        refresh.clone(),
        RefreshToken {
            client_id: client_id.to_string(),
            resource,
            scope: scope.clone(),
            family,
            active: true,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": refresh,
    });
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    no_store(json_reply(200, &body))
}
