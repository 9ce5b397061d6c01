//! Helpers shared by the whole-flow tests: a fake server given as a
//! function from request to response, drivers, and decoders.
#![allow(dead_code)] // each test file uses a different part

/// A form or query, decoded (`form_urlencoded`).
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// Base64url without padding, decoded.
pub fn base64url_nopad_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}
use mcp_oauth_core::strict_json;
use mcp_oauth_core::{
    Action, Begin, Client, Config, Entropy, Error, Grant, PendingAuthorization, TokenType,
};
use mcp_oauth_core::{HttpRequest, HttpResponse};
use serde_json::Value;

mod fixtures;
pub use fixtures::*;

pub type Responder<'a> = &'a dyn Fn(&HttpRequest) -> HttpResponse;

/// Drives `flow` with `respond`, at most 20 requests, and finishes it.
pub fn drive(
    c: &mut Client,
    mut flow: mcp_oauth_core::Flow,
    respond: Responder<'_>,
    log: &mut Vec<HttpRequest>,
) -> Result<Grant, Error> {
    for _ in 0..20 {
        match flow.poll() {
            Action::Send(req) => {
                let resp = respond(&req);
                log.push(req);
                flow.handle_response(Ok(resp), NOW);
            }
            Action::Finished => return c.finish(flow, NOW),
        }
    }
    panic!("flow did not finish in 20 requests")
}

/// `authorize` after a 401 with `challenge`, driven to its end.
pub fn run(
    c: &mut Client,
    challenge: &str,
    respond: Responder<'_>,
) -> (Result<Grant, Error>, Vec<HttpRequest>) {
    let mut log = Vec::new();
    let result = match c.authorize(SERVER, Some(challenge), NOW, Entropy::from_bytes([3; 80])) {
        Ok(Begin::Flow(flow)) => drive(c, flow, respond, &mut log),
        Ok(Begin::Ready(info)) => Ok(Grant::Authorized(info)),
        Err(e) => Err(e),
    };
    (result, log)
}

/// Completes a redirect: the callback for `pending`, then the exchange.
pub fn complete(
    c: &mut Client,
    grant: Grant,
    respond: Responder<'_>,
) -> (Result<Grant, Error>, Vec<HttpRequest>) {
    let Grant::Redirect(p) = grant else {
        panic!("expected a redirect, got {grant:?}")
    };
    let state = query(&p.authorization_url)
        .into_iter()
        .find(|(n, _)| n == "state")
        .unwrap()
        .1;
    let callback = format!("{REDIRECT}?code=the-code&state={state}");
    let Ok(Begin::Flow(flow)) =
        c.complete_authorization(&callback, NOW, Entropy::from_bytes([4; 80]))
    else {
        panic!("no exchange flow")
    };
    let mut log = Vec::new();
    (drive(c, flow, respond, &mut log), log)
}

/// The pending authorization of a redirect (fails the test on anything else).
pub fn redirect(grant: &Result<Grant, Error>) -> &PendingAuthorization {
    match grant {
        Ok(Grant::Redirect(p)) => p,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// The type of the token a flow ended with (fails the test without one).
pub fn token_type(result: &Result<Grant, Error>) -> TokenType {
    match result {
        Ok(Grant::Authorized(info)) => info.token_type,
        other => panic!("expected a token, got {other:?}"),
    }
}

/// [`run`] with [`CHALLENGE`], checked: it requests `requested` in this
/// order and ends in a redirect to an authorization URL that starts with
/// `authorization_url`.
pub fn redirected(
    c: &mut Client,
    respond: Responder<'_>,
    requested: &[&str],
    authorization_url: &str,
) -> Result<Grant, Error> {
    let (grant, log) = run(c, CHALLENGE, respond);
    assert_eq!(urls(&log), requested);
    let url = &redirect(&grant).authorization_url;
    assert!(url.starts_with(authorization_url), "{url}");
    grant
}

/// [`run`], then [`complete`] the redirect: the exchange's result and
/// requests.
pub fn run_and_complete(
    c: &mut Client,
    challenge: &str,
    respond: Responder<'_>,
) -> (Result<Grant, Error>, Vec<HttpRequest>) {
    let (grant, _) = run(c, challenge, respond);
    complete(c, grant.unwrap(), respond)
}

pub fn client(config: Config) -> Client {
    Client::new(config).unwrap()
}

pub fn query(url: &str) -> Vec<(String, String)> {
    form_decode(url.split_once('?').map_or("", |(_, q)| q))
}

pub fn form(req: &HttpRequest) -> Vec<(String, String)> {
    form_decode(std::str::from_utf8(&req.body).unwrap())
}

pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The header and claims of a compact JWS, decoded (signatures are checked
/// in the `jose` unit tests).
pub fn jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |p: &str| strict_json::parse_object(&base64url_nopad_decode(p).unwrap()).unwrap();
    assert_eq!(base64url_nopad_decode(parts[2]).unwrap().len(), 64);
    (decode(parts[0]), decode(parts[1]))
}

/// Optional string member `name` (absent or `null`: `None`; any other type
/// fails the test).
pub fn str_of<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    match v.get(name) {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_str()
                .unwrap_or_else(|| panic!("{name} is not a string")),
        ),
    }
}

pub fn u64_of(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a non-negative integer"))
}

pub fn prm_doc() -> HttpResponse {
    HttpResponse::json(
        200,
        &format!(r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"]}}"#),
    )
}

/// Authorization server metadata with the usual endpoints and `extra`
/// members (a JSON fragment starting with a comma, or empty).
pub fn asm_doc(extra: &str) -> HttpResponse {
    HttpResponse::json(
        200,
        &format!(
            r#"{{"issuer":"{ISSUER}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{TOKEN}","response_types_supported":["code"]{extra}}}"#
        ),
    )
}

pub fn token_doc(token_type: &str) -> HttpResponse {
    HttpResponse::json(
        200,
        &format!(r#"{{"access_token":"AT-1","token_type":"{token_type}","expires_in":600}}"#),
    )
}

pub fn not_found() -> HttpResponse {
    HttpResponse::json(404, r#"{"error":"not_found"}"#)
}

pub const CHALLENGE: &str = "Bearer";

pub fn urls(log: &[HttpRequest]) -> Vec<&str> {
    log.iter().map(|r| r.url.as_str()).collect()
}

pub fn discovery_with(extra: &'static str) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(extra),
        "https://auth.example.com/register" => {
            HttpResponse::json(201, r#"{"client_id":"dcr-client"}"#)
        }
        TOKEN => token_doc("Bearer"),
        _ => not_found(),
    }
}

pub fn pre_registered() -> Config {
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("pre".into());
    config
}

/// An authorization server with metadata, open registration and `token`
/// as its token endpoint.
pub fn with_token_endpoint(
    token: impl Fn(&HttpRequest) -> HttpResponse,
) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(
            r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register""#,
        ),
        "https://auth.example.com/register" => {
            HttpResponse::json(201, r#"{"client_id":"dcr-client"}"#)
        }
        TOKEN => token(r),
        _ => not_found(),
    }
}
