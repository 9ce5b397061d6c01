//! The mock enterprise identity provider of SEP-990: its token endpoint
//! exchanges an ID token it issued for an Identity Assertion JWT
//! Authorization Grant (ID-JAG) for the mock authorization server
//! (RFC 8693 token exchange).

use super::auth::ID_JAG_TYP;
use super::jose::{sign, Jws};
use super::util::{json_reply, random_id, text_reply, unix_now, with_header, Form, Reply};
use super::{Req, State, FORM_TYPE};
use serde_json::json;

const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Lifetime of an ID-JAG (seconds).
const ID_JAG_LIFETIME: u64 = 300;

pub(crate) fn handle(st: &mut State, req: &Req) -> Reply {
    match (req.path.as_str(), req.method.as_str()) {
        ("/token", "POST") => token(st, req),
        ("/token", _) => text_reply(405, "method not allowed"),
        _ => text_reply(404, "not found"),
    }
}

fn error(status: u16, error: &str, description: &str) -> Reply {
    let reply = json_reply(
        status,
        &json!({"error": error, "error_description": description}),
    );
    with_header(reply, "cache-control", "no-store")
}

/// The identity provider client the request authenticates as: Basic with
/// its secret, or a public client's `client_id` in the body.
fn authenticate(
    st: &State,
    req: &Req,
    form: &Form,
) -> Result<String, (u16, &'static str, &'static str)> {
    let invalid = (401, "invalid_client", "client authentication failed");
    if let Some(credentials) = req.basic_credentials() {
        if form.contains_key("client_secret") {
            return Err((
                400,
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        let Ok((id, secret)) = credentials else {
            return Err((400, "invalid_request", "malformed Basic credentials"));
        };
        if form.get("client_id").is_some_and(|b| *b != id) {
            return Err((400, "invalid_request", "client_id differs from Basic"));
        }
        return match st.idp_clients.get(&id) {
            Some(c) if c.secret.as_deref() == Some(secret.as_str()) => Ok(id),
            _ => Err(invalid),
        };
    }
    match form.get("client_id") {
        Some(id) if st.idp_clients.get(id).is_some_and(|c| c.secret.is_none()) => Ok(id.clone()),
        _ => Err(invalid),
    }
}

fn token(st: &mut State, req: &Req) -> Reply {
    if !req.has_content_type(FORM_TYPE) {
        let description = format!("the body must be {FORM_TYPE}");
        return error(400, "invalid_request", &description);
    }
    let Ok(form) = req.form() else {
        return error(400, "invalid_request", "a parameter repeats");
    };
    let client_id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err((status, e, d)) => return error(status, e, d),
    };
    let get = |k: &str| form.get(k).map(String::as_str);
    if get("grant_type") != Some(TOKEN_EXCHANGE_GRANT) {
        return error(400, "unsupported_grant_type", "only token exchange");
    }
    if get("requested_token_type") != Some(ID_JAG_TYPE) {
        return error(
            400,
            "invalid_request",
            "requested_token_type must be the ID-JAG type",
        );
    }
    if get("subject_token_type") != Some(ID_TOKEN_TYPE) {
        return error(
            400,
            "invalid_request",
            "subject_token_type must be an ID token",
        );
    }
    let Some(subject_token) = get("subject_token") else {
        return error(400, "invalid_request", "subject_token is missing");
    };
    let now = unix_now();
    let subject = match Jws::parse(subject_token) {
        Ok(jws)
            if jws.verify(st.idp_key.verifying_key()).is_ok()
                && jws.claim_str("iss") == Some(st.idp_issuer.as_str())
                && jws.claim_str("aud") == Some(client_id.as_str())
                && jws.claim_u64("exp").is_some_and(|exp| exp > now) =>
        {
            match jws.claim_str("sub") {
                Some(sub) => sub.to_string(),
                None => return error(400, "invalid_grant", "the ID token has no subject"),
            }
        }
        _ => {
            return error(
                400,
                "invalid_grant",
                "the subject token is not a valid ID token for this client",
            )
        }
    };
    // The ID-JAG is for the authorization server this provider knows.
    if get("audience") != Some(st.issuer.as_str()) {
        return error(
            400,
            "invalid_target",
            "audience is not a known authorization server",
        );
    }
    let resource = get("resource");
    if resource.is_some_and(|r| !r.contains("://") || r.contains('#')) {
        return error(400, "invalid_target", "resource is not an absolute URI");
    }
    let as_client_id = st
        .idp_clients
        .get(&client_id)
        .map(|c| c.as_client_id.clone())
        .unwrap_or_default();
    let mut claims = json!({
        "iss": st.idp_issuer,
        "sub": subject,
        "aud": st.issuer,
        "client_id": as_client_id,
        "jti": random_id("mock-jag-"),
        "iat": now,
        "exp": now + ID_JAG_LIFETIME,
    });
    if let Some(r) = resource {
        claims["resource"] = json!(r);
    }
    if let Some(s) = get("scope") {
        claims["scope"] = json!(s);
    }
    let jag = sign(&st.idp_key, &json!({"typ": ID_JAG_TYP}), &claims);
    let reply = json_reply(
        200,
        &json!({
            "access_token": jag,
            "issued_token_type": ID_JAG_TYPE,
            "token_type": "N_A",
            "expires_in": ID_JAG_LIFETIME,
        }),
    );
    with_header(reply, "cache-control", "no-store")
}
