//! Shared pieces of the fuzz targets: configurations, a fake server that
//! answers well, a text format for fuzzed HTTP responses, and a flow driver.
//!
//! Everything goes through `mcp-oauth-core`'s public API, the way a host
//! calls it.
//!
//! # Response format
//! The `documents`, `callback` and `call` targets read HTTP responses from
//! text, so that seeds are readable documents: responses are separated by a
//! line `%%`; each is a status line, header lines `name: value`, an empty
//! line and the body (the rest). A status line that is not a number is a
//! transport failure (`timeout`, `too-large`, anything else: failed).

use mcp_oauth_core::{
    Action, Begin, Client, Config, DpopMode, Entropy, Error, Flow, Grant, GrantType, HttpRequest,
    HttpResponse, Relaxations, Secret, TransportError,
};

#[path = "../../core/tests/common/fixtures.rs"]
mod fixtures;
pub use fixtures::*;

/// The most requests a fuzzed flow is driven for (the core stops at
/// `MAX_REQUESTS_PER_FLOW` itself; this only bounds a bug).
pub const MAX_STEPS: usize = 40;

/// Number of configurations [`config`] chooses from.
pub const CONFIGS: u8 = 8;

/// One of a few configurations that take different paths through a flow.
pub fn config(selector: u8) -> Config {
    let mut c = Config::new("Fuzz", REDIRECT);
    match selector % CONFIGS {
        // Dynamic client registration.
        0 => {}
        // A pre-registered public client.
        1 => c.client_id = Some("pre".into()),
        // A Client ID Metadata Document.
        2 => c.client_metadata_url = Some(CIMD.into()),
        // Client credentials with a secret.
        3 => {
            c.client_id = Some("pre".into());
            c.client_secret = Some(Secret::new("s3cret"));
            c.grant_type = Some(GrantType::ClientCredentials);
        }
        // DPoP always.
        4 => c.dpop = DpopMode::Always,
        // private_key_jwt, client credentials.
        5 => {
            c.client_id = Some("pre".into());
            c.private_key_pem = Some(Secret::new(TEST_KEY));
            c.grant_type = Some(GrantType::ClientCredentials);
        }
        // Every check a caller may switch off, off.
        6 => {
            c.relax = Relaxations {
                accept_issuer_mismatch: true,
                allow_pkce_unadvertised: true,
                omit_resource: true,
                allow_cross_origin_endpoints: true,
            };
        }
        // JWT bearer with a given assertion, a fixed scope.
        _ => {
            c.client_id = Some("pre".into());
            c.grant_type = Some(GrantType::JwtBearer {
                assertion: Secret::new("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
            });
            c.scope = Some("read write".into());
        }
    }
    c
}

/// A client for `config(selector)`; the configurations are valid.
pub fn client(selector: u8) -> Client {
    Client::new(config(selector)).expect("the fuzz configurations are valid")
}

/// Entropy from a byte (the values matter little: they are PKCE verifiers,
/// states and keys).
pub fn entropy(seed: u8) -> Entropy {
    let mut bytes = [0u8; Entropy::LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(7) | 1;
    }
    Entropy::from_bytes(bytes)
}

/// A server that answers every step well: metadata, open registration,
/// tokens with a refresh token.
pub fn good(req: &HttpRequest) -> HttpResponse {
    match req.url.as_str() {
        PRM => HttpResponse::json(
            200,
            &format!(
                r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["read","write"]}}"#
            ),
        ),
        ASM => HttpResponse::json(
            200,
            &format!(
                r#"{{"issuer":"{ISSUER}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{TOKEN}","registration_endpoint":"{REGISTER}","response_types_supported":["code"],"code_challenge_methods_supported":["S256"],"grant_types_supported":["authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:jwt-bearer"],"authorization_response_iss_parameter_supported":true,"client_id_metadata_document_supported":true,"dpop_signing_alg_values_supported":["ES256"]}}"#
            ),
        ),
        REGISTER => HttpResponse::json(201, r#"{"client_id":"dcr-client"}"#),
        TOKEN => HttpResponse::json(
            200,
            r#"{"access_token":"AT-1","token_type":"Bearer","expires_in":600,"refresh_token":"RT-1","scope":"read write"}"#,
        ),
        _ => HttpResponse::json(404, r#"{"error":"not_found"}"#),
    }
}

/// Responses in the text format of the module documentation.
pub fn parse_responses(text: &str) -> Vec<Result<HttpResponse, TransportError>> {
    split_records(text)
        .into_iter()
        .map(parse_response)
        .collect()
}

/// `text` split at lines `%%`.
pub fn split_records(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\n%%\n") {
        out.push(&rest[..i]);
        rest = &rest[i + 4..];
    }
    out.push(rest);
    out
}

/// One response in the text format.
pub fn parse_response(text: &str) -> Result<HttpResponse, TransportError> {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, ""),
    };
    let mut lines = head.split('\n');
    let status_line = lines.next().unwrap_or("").trim();
    let status = match status_line.parse::<u16>() {
        Ok(s) => s,
        Err(_) => {
            return Err(match status_line {
                "timeout" => TransportError::TimedOut,
                "too-large" => TransportError::BodyTooLarge,
                other => TransportError::Failed(other.to_string()),
            })
        }
    };
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.trim().to_string(), v.trim().as_bytes().to_vec()),
            None => (l.to_string(), Vec::new()),
        })
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

/// Drives `flow`, answering each request with the next of `responses`
/// (the good server once they run out, or a 404 if `good_after` is false),
/// at most [`MAX_STEPS`] requests, then finishes it.
pub fn drive(
    client: &mut Client,
    mut flow: Flow,
    responses: &mut dyn Iterator<Item = Result<HttpResponse, TransportError>>,
    good_after: bool,
    now: u64,
) -> Result<Grant, Error> {
    for _ in 0..MAX_STEPS {
        match flow.poll() {
            Action::Send(req) => {
                let resp = match responses.next() {
                    Some(r) => r,
                    None if good_after => Ok(good(&req)),
                    None => Ok(HttpResponse::json(404, "{}")),
                };
                flow.handle_response(resp, now);
            }
            Action::Finished => break,
        }
    }
    client.finish(flow, now)
}

/// `Begin` driven to a grant with `responses`.
pub fn begin(
    client: &mut Client,
    begin: Result<Begin, Error>,
    responses: &mut dyn Iterator<Item = Result<HttpResponse, TransportError>>,
    good_after: bool,
    now: u64,
) -> Result<Grant, Error> {
    match begin? {
        Begin::Ready(info) => Ok(Grant::Authorized(info)),
        Begin::Flow(flow) => drive(client, flow, responses, good_after, now),
    }
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

/// Exercises the read-only parts of the public API on a client (summaries,
/// token state, headers), which must not panic whatever the store holds.
pub fn inspect(client: &mut Client, now: u64) {
    let _ = client.summary();
    let _ = client.token_state(SERVER, now);
    let _ = client.has_usable_token(SERVER, now);
    let _ = client.before_send(SERVER, now);
    let _ = client.authorization_header(SERVER, now);
    let _ = client.request_headers("POST", SERVER, now, &[9u8; 16]);
    let _ = client.take_events();
    let exported = client.export_state();
    client
        .import_state(&exported)
        .expect("a client's own exported state imports again");
}
