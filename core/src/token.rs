//! The token endpoint: client authentication, the authorization-code
//! request, and the token response parser (OAuth 2.1 §3.2, §4.1.3).

use crate::config::{GrantKind, Secret, TokenType};
use crate::encode::{base64_std, form_component, form_encode};
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Method, Step};
use crate::prelude::*;
use crate::registration::{clip, oauth_failure};
use crate::store::{AuthMethod, ClientRecord, TokenRecord};
use crate::strict_json;
use core::fmt;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Largest token response accepted (bytes).
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// RFC 8693 §3 token type of an OpenID Connect ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The Identity Assertion JWT Authorization Grant token type (SEP-990).
pub const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// A form POST to the token endpoint with the client's authentication
/// applied: exactly one method (OAuth 2.1 §2.4). `params` come first, in
/// order; `client_id` is added for public clients and `client_secret_post`;
/// `private_key_jwt` adds the signed `assertion`. Without a client, no
/// authentication is sent (RFC 7523 §2.1 grants may be anonymous).
pub fn token_request(
    endpoint: &str,
    client: Option<&ClientRecord>,
    assertion: Option<&str>,
    params: &[(&str, &str)],
) -> HttpRequest {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    if let Some(client) = client {
        let secret = client
            .client_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or("");
        match client.auth_method {
            AuthMethod::None => pairs.push(("client_id", &client.client_id)),
            AuthMethod::ClientSecretPost => {
                pairs.push(("client_id", &client.client_id));
                pairs.push(("client_secret", secret));
            }
            AuthMethod::ClientSecretBasic => {
                // OAuth 2.1 §2.4.1: id and secret are form-urlencoded, then base64.
                let raw = format!(
                    "{}:{}",
                    form_component(&client.client_id),
                    form_component(secret)
                );
                headers.push((
                    "authorization".to_string(),
                    format!("Basic {}", base64_std(raw.as_bytes())),
                ));
            }
            AuthMethod::PrivateKeyJwt => {
                pairs.push(("client_id", &client.client_id));
                pairs.push(("client_assertion_type", JWT_BEARER_ASSERTION));
                pairs.push(("client_assertion", assertion.unwrap_or("")));
            }
        }
    }
    HttpRequest {
        step: Step::Token,
        method: Method::Post,
        url: endpoint.to_string(),
        headers,
        body: form_encode(&pairs).into_bytes(),
        max_response_body: MAX_TOKEN_BYTES,
    }
}

/// A token endpoint request kept as data, so that it can be built again
/// with a fresh client assertion or DPoP proof (RFC 9449 §8 nonce retry).
#[derive(Clone)]
pub struct TokenCall {
    /// The token endpoint.
    pub endpoint: String,
    /// The issuer of the server: the audience of a client assertion.
    pub issuer: String,
    /// The client that authenticates, if any.
    pub client: Option<ClientRecord>,
    /// The grant parameters (values may be secrets: codes, verifiers,
    /// assertions).
    pub params: Vec<(&'static str, Secret)>,
}

impl core::fmt::Debug for TokenCall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenCall")
            .field("endpoint", &self.endpoint)
            .field(
                "params",
                &self.params.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TokenCall {
    /// The HTTP request, with `assertion` for a `private_key_jwt` client.
    pub fn request(&self, assertion: Option<&str>) -> HttpRequest {
        let params: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (*n, v.expose())).collect();
        token_request(&self.endpoint, self.client.as_ref(), assertion, &params)
    }
}

/// `(name, value)` pairs, dropping absent values.
fn params(pairs: &[(&'static str, Option<&str>)]) -> Vec<(&'static str, Secret)> {
    pairs
        .iter()
        .filter_map(|(n, v)| v.map(|v| (*n, Secret::new(v))))
        .collect()
}

/// The authorization-code exchange (OAuth 2.1 §4.1.3 plus RFC 8707
/// `resource` and the `redirect_uri` OAuth 2.0 servers require).
pub fn code_exchange(
    code: &str,
    verifier: &crate::pkce::CodeVerifier,
    redirect_uri: &str,
    resource: Option<&str>,
) -> Vec<(&'static str, Secret)> {
    params(&[
        ("grant_type", Some(GrantKind::AuthorizationCode.as_str())),
        ("code", Some(code)),
        ("code_verifier", Some(verifier.secret())),
        ("redirect_uri", Some(redirect_uri)),
        ("resource", resource),
    ])
}

/// The client credentials grant (OAuth 2.1 §4.2, SEP-1046).
pub fn client_credentials(
    scope: Option<&str>,
    resource: Option<&str>,
) -> Vec<(&'static str, Secret)> {
    params(&[
        ("grant_type", Some(GrantKind::ClientCredentials.as_str())),
        ("scope", scope),
        ("resource", resource),
    ])
}

/// The JWT bearer grant (RFC 7523 §2.1) with `assertion`.
pub fn jwt_bearer(
    assertion: &str,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Vec<(&'static str, Secret)> {
    params(&[
        ("grant_type", Some(GrantKind::JwtBearer.as_str())),
        ("assertion", Some(assertion)),
        ("scope", scope),
        ("resource", resource),
    ])
}

/// RFC 8693 token exchange of an ID token for an ID-JAG (SEP-990): the
/// `audience` is the authorization server's issuer, `resource` the MCP
/// server's resource identifier.
pub fn id_jag_exchange(
    id_token: &str,
    audience: &str,
    resource: Option<&str>,
    scope: Option<&str>,
) -> Vec<(&'static str, Secret)> {
    params(&[
        ("grant_type", Some(GrantKind::TokenExchange.as_str())),
        ("requested_token_type", Some(ID_JAG_TYPE)),
        ("audience", Some(audience)),
        ("resource", resource),
        ("scope", scope),
        ("subject_token", Some(id_token)),
        ("subject_token_type", Some(ID_TOKEN_TYPE)),
    ])
}

/// Reads an RFC 8693 §2.2.1 response that must carry an ID-JAG.
pub fn parse_id_jag(resp: &HttpResponse, url: &str) -> Result<Secret, Error> {
    let invalid = |reason: &str| invalid_token_response(url, reason);
    /// The members of an RFC 8693 §2.2.1 response this client uses.
    #[derive(serde::Deserialize)]
    struct ExchangeBody {
        #[serde(default)]
        issued_token_type: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    let body: ExchangeBody = success_body(resp, url, "a token exchange response")?;
    let issued = body.issued_token_type.as_deref();
    if issued != Some(ID_JAG_TYPE) {
        return Err(invalid(&format!(
            "issued_token_type is {:?}, not {ID_JAG_TYPE}",
            issued.map(clip)
        )));
    }
    body.access_token
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| invalid("access_token is missing"))
}

/// An invalid answer of the token endpoint at `url`.
fn invalid_token_response(url: &str, reason: &str) -> Error {
    Error::InvalidResponse {
        step: Step::Token,
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// The body of a successful token endpoint answer, read as `T` (`what` it
/// must be, for the error); an error answer as [`check_status`] says.
fn success_body<T: serde::de::DeserializeOwned>(
    resp: &HttpResponse,
    url: &str,
    what: &str,
) -> Result<T, Error> {
    check_status(resp, url)?;
    strict_json::from_slice(&resp.body)
        .map_err(|e| invalid_token_response(url, &format!("not {what}: {}", clip(&e))))
}

/// Errors for a token endpoint answer that is not a success: an OAuth error
/// (also one sent with 200, as GitHub does) or an unexpected status.
fn check_status(resp: &HttpResponse, url: &str) -> Result<(), Error> {
    let step = Step::Token;
    if resp.status != 200 {
        if (400..500).contains(&resp.status) {
            if let Some(f) = oauth_failure(resp, url, step) {
                return Err(Error::TokenRejected(f));
            }
        }
        return Err(Error::UnexpectedStatus {
            step,
            url: url.to_string(),
            status: resp.status,
            body_excerpt: resp.body_withheld(),
        });
    }
    if let Some(f) = oauth_failure(resp, url, step) {
        return Err(Error::TokenRejected(f));
    }
    Ok(())
}

/// The members of a token response (OAuth 2.1 §3.2.3) this client uses.
#[derive(serde::Deserialize)]
struct TokenBody {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Seconds>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `expires_in`: a non-negative integer, or (tolerated: some servers send
/// the number as a string) a string of one. `3600.0` is not one.
struct Seconds(u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        struct Expected;
        impl Visitor<'_> for Expected {
            type Value = Seconds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer")
            }

            fn visit_u64<E>(self, n: u64) -> Result<Seconds, E> {
                Ok(Seconds(n))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Seconds, E> {
                s.parse()
                    .map(Seconds)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(Expected)
    }
}

/// Parses a token response (OAuth 2.1 §3.2.3): unknown members ignored,
/// `token_type` compared case-insensitively, `expires_in` turned into an
/// absolute time with `now`. `requested_scope` is recorded when the server
/// does not say which scope it granted.
pub fn parse_token_response(
    resp: &HttpResponse,
    url: &str,
    now: u64,
    resource: &str,
    issuer: &str,
    requested_scope: Option<&str>,
    dpop: bool,
) -> Result<TokenRecord, Error> {
    let invalid = |reason: &str| invalid_token_response(url, reason);
    let body: TokenBody = success_body(resp, url, "a token response")?;
    let access_token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("access_token is missing"))?;
    let token_type = body
        .token_type
        .ok_or_else(|| invalid("token_type is missing"))?;
    // RFC 9449 §5: a DPoP-bound token only when a proof was sent.
    let token_type = if token_type.eq_ignore_ascii_case("bearer") {
        TokenType::Bearer
    } else if dpop && token_type.eq_ignore_ascii_case("dpop") {
        TokenType::Dpop
    } else {
        return Err(invalid(&format!(
            "token_type {:?} is not supported",
            clip(&token_type)
        )));
    };
    let expires_in = body.expires_in.map(|Seconds(s)| s);
    Ok(TokenRecord {
        resource: resource.to_string(),
        issuer: issuer.to_string(),
        access_token: Secret::new(access_token),
        token_type,
        expires_at: expires_in.map(|s| now.saturating_add(s)),
        issued_at: Some(now),
        refresh_token: body
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        scope: body.scope.or(requested_scope.map(str::to_string)),
        token_endpoint: Some(url.to_string()),
        grant_type: None,
    })
}

/// The refresh token grant (OAuth 2.1 §4.3): the same `resource`, no
/// `scope` (the same scope as before, never a broader one; spec-checklist
/// 96-98).
pub fn refresh(refresh_token: &str, resource: Option<&str>) -> Vec<(&'static str, Secret)> {
    params(&[
        ("grant_type", Some(GrantKind::RefreshToken.as_str())),
        ("refresh_token", Some(refresh_token)),
        ("resource", resource),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::form_decode;
    use crate::pkce::CodeVerifier;

    fn client(method: AuthMethod, secret: Option<&str>) -> ClientRecord {
        ClientRecord {
            client_id: "my client".into(),
            client_secret: secret.map(Secret::new),
            auth_method: method,
            redirect_uri: "http://127.0.0.1/cb".into(),
            secret_expires_at: None,
            registered_scope: None,
        }
    }

    /// A token request to `https://as/token` from `client(method, Some(secret))`.
    fn request_as(method: AuthMethod, secret: &str) -> HttpRequest {
        token_request(
            "https://as/token",
            Some(&client(method, Some(secret))),
            None,
            &[("grant_type", "x")],
        )
    }

    fn form(req: &HttpRequest) -> Vec<(String, String)> {
        form_decode(core::str::from_utf8(&req.body).unwrap())
    }

    #[test]
    fn code_exchange_for_a_public_client() {
        // spec-checklist 82, 83, 35, 53
        let v = CodeVerifier::from_entropy(&[7; 32]);
        let call = TokenCall {
            endpoint: "https://as/token".into(),
            issuer: "https://as".into(),
            client: Some(client(AuthMethod::None, None)),
            params: code_exchange("c0de", &v, "http://127.0.0.1/cb", Some("https://mcp/x")),
        };
        let req = call.request(None);
        assert_eq!(req.method, Method::Post);
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(req.header("authorization").is_none());
        let f = form(&req);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("authorization_code"));
        assert_eq!(get("code"), Some("c0de"));
        assert_eq!(get("code_verifier"), Some(v.secret()));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1/cb"));
        assert_eq!(get("resource"), Some("https://mcp/x"));
        assert_eq!(get("client_id"), Some("my client"));
        assert_eq!(get("client_secret"), None);
        // no parameter repeated (OAuth 2.1 §3.2)
        let mut names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), f.len());
    }

    #[test]
    fn client_secret_basic_is_form_encoded_then_base64() {
        // spec-checklist 85, 88
        let req = request_as(AuthMethod::ClientSecretBasic, "p@ss word");
        let expected = format!("Basic {}", base64_std(b"my+client:p%40ss+word"));
        assert_eq!(req.header("authorization"), Some(expected.as_str()));
        let f = form(&req);
        assert!(f
            .iter()
            .all(|(n, _)| n != "client_id" && n != "client_secret"));
    }

    #[test]
    fn client_secret_post_in_body_only() {
        // spec-checklist 86
        let req = request_as(AuthMethod::ClientSecretPost, "s");
        assert!(req.header("authorization").is_none());
        assert_eq!(req.url, "https://as/token");
        let f = form(&req);
        assert!(f.contains(&("client_secret".into(), "s".into())));
        assert!(!format!("{req:?}").contains("client_secret"));
    }

    #[test]
    fn parses_a_token_response() {
        // spec-checklist 90
        let r = HttpResponse::json(
            200,
            r#"{"access_token":"at","token_type":"bEaReR","expires_in":3600,"refresh_token":"rt","scope":"a","x":1}"#,
        );
        let t = parse_token_response(&r, "u", 1000, "res", "iss", Some("req"), false).unwrap();
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.expires_at, Some(4600));
        assert_eq!(t.refresh_token.unwrap().expose(), "rt");
        assert_eq!(t.scope.as_deref(), Some("a"));
        let r = HttpResponse::json(
            200,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":"60"}"#,
        );
        let t = parse_token_response(&r, "u", 0, "res", "iss", Some("req"), false).unwrap();
        assert_eq!(t.expires_at, Some(60));
        assert_eq!(t.scope.as_deref(), Some("req"));
        assert!(t.refresh_token.is_none());
    }

    #[test]
    fn refuses_bad_token_responses() {
        for body in [
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"a","token_type":"mac"}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":[1]}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600.0}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3.6e3}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551616}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"-5"}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":true}"#,
            r#"{"access_token":7,"token_type":"Bearer"}"#,
            r#"{"access_token":"a","token_type":"Bearer","refresh_token":{}}"#,
            r#"{"access_token":"a","token_type":"Bearer","scope":["a"]}"#,
            r#"{"access_token":"a","access_token":"b","token_type":"Bearer"}"#,
            r#"["at","Bearer"]"#,
            "<html>",
        ] {
            let r = HttpResponse::json(200, body);
            assert!(
                matches!(
                    parse_token_response(&r, "u", 0, "r", "i", None, false),
                    Err(Error::InvalidResponse { .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn token_type_errors_name_the_member_and_nulls_are_absent() {
        let r = HttpResponse::json(200, r#"{"access_token":7,"token_type":"Bearer"}"#);
        match parse_token_response(&r, "u", 0, "r", "i", None, false) {
            Err(Error::InvalidResponse { reason, .. }) => {
                assert_eq!(reason, "not a token response: access_token is not a string")
            }
            other => panic!("{other:?}"),
        }
        let r = HttpResponse::json(
            200,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":null,"refresh_token":null,"scope":null,"id_token":{"x":1}}"#,
        );
        let t = parse_token_response(&r, "u", 5, "r", "i", Some("s"), false).unwrap();
        assert_eq!(t.expires_at, None);
        assert!(t.refresh_token.is_none());
        assert_eq!(t.scope.as_deref(), Some("s"));
        let r = HttpResponse::json(
            200,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":18446744073709551615}"#,
        );
        let t = parse_token_response(&r, "u", 5, "r", "i", None, false).unwrap();
        assert_eq!(t.expires_at, Some(u64::MAX));
    }

    #[test]
    fn oauth_errors_are_typed() {
        let r = HttpResponse::json(
            400,
            r#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        match parse_token_response(&r, "https://as/token", 0, "r", "i", None, false) {
            Err(Error::TokenRejected(f)) => {
                assert_eq!(f.error, "invalid_grant");
                assert_eq!(f.status, Some(400));
            }
            other => panic!("{other:?}"),
        }
        let r = HttpResponse::json(200, r#"{"error":"bad_verification_code"}"#);
        assert!(matches!(
            parse_token_response(&r, "u", 0, "r", "i", None, false),
            Err(Error::TokenRejected(_))
        ));
        let r = HttpResponse::json(502, "bad gateway");
        assert!(matches!(
            parse_token_response(&r, "u", 0, "r", "i", None, false),
            Err(Error::UnexpectedStatus { status: 502, .. })
        ));
    }
}
