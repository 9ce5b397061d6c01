//! Client identity: a pre-registered client from the configuration, or RFC
//! 7591 dynamic client registration (request builder and response parser).

use crate::config::{Config, GrantKind, Secret};
use crate::discovery::AuthServerMetadata;
use crate::error::{Error, OAuthFailure};
use crate::http::{HttpRequest, HttpResponse, Method, Step};
use crate::prelude::*;
use crate::store::{AuthMethod, ClientRecord};
use crate::strict_json;
use serde::{Deserialize, Serialize};

/// Largest registration response accepted (bytes).
pub const MAX_REGISTRATION_BYTES: usize = 64 * 1024;

/// The client from the configuration, with the token endpoint authentication
/// method chosen from what the server supports (RFC 8414 §2: an absent list
/// means `client_secret_basic`).
pub fn preregistered(config: &Config, meta: &AuthServerMetadata) -> Option<ClientRecord> {
    let client_id = config.client_id.clone()?;
    let auth_method = match &config.client_secret {
        None if config.private_key_pem.is_some() => AuthMethod::PrivateKeyJwt,
        None => AuthMethod::None,
        Some(_) => {
            let supported = meta.token_endpoint_auth_methods_supported.as_deref();
            let listed = |m: &str| supported.is_none_or(|s| s.iter().any(|x| x == m));
            if listed("client_secret_basic") {
                AuthMethod::ClientSecretBasic
            } else if supported.is_some_and(|s| s.iter().any(|x| x == "client_secret_post")) {
                AuthMethod::ClientSecretPost
            } else {
                AuthMethod::ClientSecretBasic
            }
        }
    };
    Some(ClientRecord {
        client_id,
        client_secret: config.client_secret.clone(),
        auth_method,
        redirect_uri: config.redirect_uri.clone(),
        secret_expires_at: None,
        registered_scope: None,
    })
}

/// The RFC 7591 §2 client metadata this client registers with.
#[derive(Serialize)]
struct RegistrationRequest<'a> {
    client_name: &'a str,
    redirect_uris: [&'a str; 1],
    grant_types: [GrantKind; 2],
    response_types: [&'a str; 1],
    token_endpoint_auth_method: &'a str,
    application_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The RFC 7591 §2 registration request for a public native client
/// (MCP 2026-07-28: `application_type` is required).
pub fn request(endpoint: &str, config: &Config, scope: Option<&str>) -> HttpRequest {
    let body = RegistrationRequest {
        client_name: &config.client_name,
        redirect_uris: [&config.redirect_uri],
        grant_types: [GrantKind::AuthorizationCode, GrantKind::RefreshToken],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
        application_type: "native",
        scope,
    };
    HttpRequest {
        step: Step::Registration,
        method: Method::Post,
        url: endpoint.to_string(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: strict_json::to_vec(&body),
        max_response_body: MAX_REGISTRATION_BYTES,
    }
}

/// The members of a registration response (RFC 7591 §3.2.1) this client uses.
#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_expires_at: Option<u64>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// Parses the registration response (RFC 7591 §3.2). The server may replace
/// requested values, so the returned ones are used (spec-checklist 47).
pub fn parse_response(
    resp: &HttpResponse,
    url: &str,
    redirect_uri: &str,
    requested_scope: Option<&str>,
) -> Result<ClientRecord, Error> {
    let step = Step::Registration;
    if resp.status == 400 {
        if let Some(failure) = oauth_failure(resp, url, step) {
            return Err(Error::RegistrationRejected(failure));
        }
    }
    if resp.status != 201 && resp.status != 200 {
        return Err(Error::UnexpectedStatus {
            step,
            url: url.to_string(),
            status: resp.status,
            body_excerpt: resp.body_withheld(),
        });
    }
    let invalid = |reason: String| Error::InvalidResponse {
        step,
        url: url.to_string(),
        reason,
    };
    let parsed: RegistrationResponse = strict_json::from_slice(&resp.body)
        .map_err(|e| invalid(format!("not a registration response: {e}")))?;
    if parsed.client_id.is_empty() {
        return Err(invalid("client_id is empty".into()));
    }
    let auth_method = match parsed.token_endpoint_auth_method.as_deref() {
        None => match parsed.client_secret {
            Some(_) => AuthMethod::ClientSecretBasic,
            None => AuthMethod::None,
        },
        Some(name) => AuthMethod::from_name(name).ok_or_else(|| {
            invalid(format!(
                "token_endpoint_auth_method {name:?} is not supported by this client"
            ))
        })?,
    };
    if auth_method != AuthMethod::None && parsed.client_secret.as_deref().is_none_or(str::is_empty)
    {
        return Err(invalid(format!(
            "{} was registered but no client_secret was issued",
            auth_method.as_str()
        )));
    }
    Ok(ClientRecord {
        client_id: parsed.client_id,
        client_secret: parsed
            .client_secret
            .filter(|_| auth_method != AuthMethod::None)
            .map(Secret::new),
        auth_method,
        redirect_uri: redirect_uri.to_string(),
        secret_expires_at: parsed.client_secret_expires_at.filter(|t| *t != 0),
        // What was asked: a server that registered less (RFC 7591 §3.2.1)
        // and restricts the client to it answers `invalid_scope` later,
        // which drops this registration (`Client::complete_authorization`);
        // comparing with what it answered would register anew each time.
        registered_scope: requested_scope.map(str::to_string),
    })
}

/// An OAuth error response body (RFC 6749 §5.2 / RFC 7591 §3.2.2).
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
}

/// An OAuth error body (RFC 6749 §5.2 / RFC 7591 §3.2.2), if the response
/// has one.
pub(crate) fn oauth_failure(resp: &HttpResponse, url: &str, step: Step) -> Option<OAuthFailure> {
    // Any member of the wrong type: not an OAuth error body.
    let body: ErrorBody = strict_json::from_slice(&resp.body).ok()?;
    Some(OAuthFailure {
        step,
        url: url.to_string(),
        status: Some(resp.status),
        error: clip(&body.error),
        error_description: body.error_description.as_deref().map(clip),
        error_uri: body.error_uri.as_deref().map(clip),
    })
}

/// Server-supplied text kept as evidence, bounded to 512 bytes.
pub(crate) fn clip(s: &str) -> String {
    crate::http::excerpt(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new("Test Client", "http://127.0.0.1:3000/callback")
    }

    fn meta(methods: Option<&[&str]>) -> AuthServerMetadata {
        AuthServerMetadata {
            authorization_endpoint: Some("https://as/a".into()),
            token_endpoint: Some("https://as/t".into()),
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.iter().map(|s| s.to_string()).collect()),
            ..AuthServerMetadata::assumed("https://as")
        }
    }

    /// The registration response `body`, served with a 201.
    fn registered(body: &str) -> Result<ClientRecord, Error> {
        parse_response(&HttpResponse::json(201, body), "u", "r", None)
    }

    #[test]
    fn request_body_has_the_rfc7591_fields() {
        // spec-checklist 45, 46
        let req = request("https://as/register", &config(), Some("a b"));
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.header("content-type"), Some("application/json"));
        // In this order: what the hand-written JSON writer sent.
        assert_eq!(
            core::str::from_utf8(&req.body).unwrap(),
            r#"{"client_name":"Test Client","redirect_uris":["http://127.0.0.1:3000/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native","scope":"a b"}"#
        );
        let body = strict_json::parse(&req.body).unwrap();
        assert_eq!(
            body["redirect_uris"],
            serde_json::json!(["http://127.0.0.1:3000/callback"])
        );
        assert_eq!(body["client_name"].as_str(), Some("Test Client"));
        assert_eq!(
            body["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(body["response_types"], serde_json::json!(["code"]));
        assert_eq!(body["token_endpoint_auth_method"].as_str(), Some("none"));
        assert_eq!(body["application_type"].as_str(), Some("native"));
        assert_eq!(body["scope"].as_str(), Some("a b"));
        assert_eq!(body.as_object().unwrap().len(), 7);
        let body =
            strict_json::parse(&request("https://as/register", &config(), None).body).unwrap();
        assert!(body.get("scope").is_none());
        // Quotes and backslashes in the configuration stay inside the string.
        let mut odd = config();
        odd.client_name = "Te\"st\\ \u{1}".into();
        let body = strict_json::parse(&request("https://as/register", &odd, None).body).unwrap();
        assert_eq!(body["client_name"].as_str(), Some(odd.client_name.as_str()));
    }

    #[test]
    fn response_values_are_used() {
        // spec-checklist 47
        let r = HttpResponse::json(
            201,
            r#"{"client_id":"abc","client_secret":"s3","token_endpoint_auth_method":"client_secret_post","client_secret_expires_at":0}"#,
        );
        let c = parse_response(&r, "https://as/register", "http://127.0.0.1/cb", None).unwrap();
        assert_eq!(c.client_id, "abc");
        assert_eq!(c.auth_method, AuthMethod::ClientSecretPost);
        assert_eq!(c.client_secret.unwrap().expose(), "s3");
        assert_eq!(c.secret_expires_at, None);
        assert_eq!(
            registered(r#"{"client_id":"abc"}"#).unwrap().auth_method,
            AuthMethod::None
        );
    }

    #[test]
    fn unusable_registrations_are_refused() {
        for body in [
            r#"{"client_id":""}"#,
            r#"{"client_secret":"x"}"#,
            r#"{"client_id":"a","token_endpoint_auth_method":"client_secret_basic"}"#,
            r#"{"client_id":"a","token_endpoint_auth_method":"tls_client_auth","client_secret":"x"}"#,
            "not json",
        ] {
            assert!(
                matches!(registered(body), Err(Error::InvalidResponse { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn registration_type_errors_name_the_member() {
        for (body, member) in [
            (r#"{"client_id":7}"#, "client_id"),
            (r#"{"client_id":null}"#, "client_id"),
            (r#"{"client_id":"a","client_secret":1}"#, "client_secret"),
            (
                r#"{"client_id":"a","client_secret_expires_at":-1}"#,
                "client_secret_expires_at",
            ),
            (
                r#"{"client_id":"a","client_secret_expires_at":1.5}"#,
                "client_secret_expires_at",
            ),
            (
                r#"{"client_id":"a","token_endpoint_auth_method":["none"]}"#,
                "token_endpoint_auth_method",
            ),
            (r#"{"client_id":"a","client_id":"b"}"#, "duplicate"),
            (r#"["abc"]"#, "not a JSON object"),
        ] {
            match registered(body) {
                Err(Error::InvalidResponse { reason, .. }) => {
                    assert!(reason.contains(member), "{body}: {reason}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        // null is absent; unknown members are ignored.
        let c = registered(
            r#"{"client_id":"a","client_secret":null,"client_secret_expires_at":null,"token_endpoint_auth_method":null,"client_id_issued_at":1.0,"x":[]}"#,
        );
        assert_eq!(c.unwrap().auth_method, AuthMethod::None);
    }

    #[test]
    fn only_well_formed_error_bodies_are_oauth_errors() {
        for body in [
            r#"{"error":5}"#,
            r#"{"error":null}"#,
            r#"{"error":"x","error_description":5}"#,
            r#"{"error":"x","error_uri":[]}"#,
            r#"{"error":"x","error":"y"}"#,
            r#"["error"]"#,
            "",
        ] {
            assert!(
                matches!(
                    parse_response(&HttpResponse::json(400, body), "u", "r", None),
                    Err(Error::UnexpectedStatus { status: 400, .. })
                ),
                "{body}"
            );
        }
        let r = HttpResponse::json(
            400,
            r#"{"error":"invalid_client_metadata","error_description":null,"error_uri":"https://as/e","other":1}"#,
        );
        match parse_response(&r, "u", "r", None) {
            Err(Error::RegistrationRejected(f)) => {
                assert_eq!(f.error, "invalid_client_metadata");
                assert_eq!(f.error_description, None);
                assert_eq!(f.error_uri.as_deref(), Some("https://as/e"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejection_keeps_the_oauth_error() {
        // spec-checklist 48
        let r = HttpResponse::json(
            400,
            r#"{"error":"invalid_redirect_uri","error_description":"no loopback"}"#,
        );
        match parse_response(&r, "https://as/register", "r", None) {
            Err(Error::RegistrationRejected(f)) => {
                assert_eq!(f.error, "invalid_redirect_uri");
                assert_eq!(f.error_description.as_deref(), Some("no loopback"));
                assert_eq!(f.status, Some(400));
            }
            other => panic!("{other:?}"),
        }
        let r = HttpResponse::json(503, "busy");
        assert!(matches!(
            parse_response(&r, "u", "r", None),
            Err(Error::UnexpectedStatus { status: 503, .. })
        ));
    }

    #[test]
    fn preregistered_picks_a_supported_method() {
        let mut c = config();
        assert!(preregistered(&c, &meta(None)).is_none());
        c.client_id = Some("id".into());
        assert_eq!(
            preregistered(&c, &meta(None)).unwrap().auth_method,
            AuthMethod::None
        );
        c.client_secret = Some(Secret::new("s"));
        assert_eq!(
            preregistered(&c, &meta(None)).unwrap().auth_method,
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            preregistered(&c, &meta(Some(&["client_secret_post"])))
                .unwrap()
                .auth_method,
            AuthMethod::ClientSecretPost
        );
        assert_eq!(
            preregistered(
                &c,
                &meta(Some(&["client_secret_post", "client_secret_basic"]))
            )
            .unwrap()
            .auth_method,
            AuthMethod::ClientSecretBasic
        );
    }

    #[test]
    fn an_unexpected_status_never_shows_the_body() {
        // Security review finding 6: a registration answered with 202 and a
        // client secret must not put the secret into the error.
        let r = HttpResponse::json(202, r#"{"client_id":"c","client_secret":"s3cr3t-value"}"#);
        let e = parse_response(&r, "https://as/register", "r", None).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(
            matches!(e, Error::UnexpectedStatus { status: 202, .. }),
            "{e:?}"
        );
    }
}
