//! The authorization request (OAuth 2.1 §4.1.1, RFC 8707, RFC 7636) and the
//! validation of the redirect that ends it (`state`, RFC 9207 `iss`).

use crate::prelude::*;
/// An authorization that waits for the user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// The URL the user agent must visit.
    pub authorization_url: String,
    /// The `state` the redirect must carry back.
    pub state: String,
    /// The redirect URI used.
    pub redirect_uri: String,
    /// The issuer recorded before redirecting (RFC 9207).
    pub issuer: String,
    /// The protected resource the token is for.
    pub resource: String,
}

use crate::encode::form_decode;
use crate::error::{Error, Mismatch, OAuthFailure};
use crate::http::Step;
use crate::pkce::{CodeVerifier, METHOD_S256};
use crate::registration::clip;
use crate::url::{append_query, Url};

/// What the client remembers about an authorization between the redirect
/// and the callback (MCP 2026-07-28: the issuer is recorded with the code
/// verifier and `state`). Holds the verifier, so it is neither `Clone` nor
/// printable.
pub struct PendingRecord {
    /// What the host is told.
    pub public: PendingAuthorization,
    /// The PKCE verifier for this transaction only.
    pub verifier: CodeVerifier,
    /// Whether the server advertised RFC 9207 `iss`.
    pub iss_supported: bool,
    /// The token endpoint of that issuer.
    pub token_endpoint: String,
    /// The client id used.
    pub client_id: String,
    /// The client the authorization is for. It is stored for the issuer only
    /// when the code is redeemed: until then, the tokens held keep the
    /// client they were issued to, and a refresh authenticates as that one.
    pub client: crate::store::ClientRecord,
    /// The scope requested, if any.
    pub scope: Option<String>,
    /// The server URL the flow is for.
    pub server: String,
    /// The issuer the metadata declares: the one `iss` must equal. The same
    /// as `public.issuer` unless the caller accepted an issuer mismatch.
    pub declared_issuer: String,
    /// Whether the token request carries a DPoP proof (RFC 9449).
    pub dpop: bool,
    /// Whether `resource` is sent (it is unless the caller opted out).
    pub send_resource: bool,
    /// The challenge the authorization answers, to start it again with.
    pub challenge: Option<String>,
    /// Whether this authorization is already the one more try after an
    /// `invalid_scope` error redirect (see `Client::complete_authorization`).
    pub after_invalid_scope: bool,
}

impl core::fmt::Debug for PendingRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingRecord")
            .field("public", &self.public)
            .field("iss_supported", &self.iss_supported)
            .finish_non_exhaustive()
    }
}

/// The parameters of an authorization request (OAuth 2.1 §4.1.1).
pub struct AuthorizationRequest<'a> {
    /// The `authorization_endpoint`.
    pub endpoint: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// The redirect URI.
    pub redirect_uri: &'a str,
    /// The PKCE S256 challenge.
    pub code_challenge: &'a str,
    /// The `state`.
    pub state: &'a str,
    /// The scope, omitted when `None`.
    pub scope: Option<&'a str>,
    /// The RFC 8707 resource, verbatim; `None` when the caller opted out.
    pub resource: Option<&'a str>,
}

/// Builds the authorization URL, keeping any query the endpoint already has
/// (OAuth 2.1 §3.1). spec-checklist 52, 69.
pub fn authorization_url(r: &AuthorizationRequest<'_>) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", r.client_id),
        ("redirect_uri", r.redirect_uri),
        ("code_challenge", r.code_challenge),
        ("code_challenge_method", METHOD_S256),
        ("state", r.state),
    ];
    if let Some(scope) = r.scope {
        pairs.push(("scope", scope));
    }
    if let Some(resource) = r.resource {
        pairs.push(("resource", resource));
    }
    append_query(r.endpoint, &pairs)
}

/// The URL without query and fragment: evidence that holds no code.
fn base(url: &Url) -> String {
    format!("{}{}", url.origin(), url.path())
}

/// The parts of a validated callback.
#[derive(Debug, PartialEq, Eq)]
pub struct Callback {
    /// Index of the matching pending record.
    pub index: usize,
    /// The authorization code.
    pub code: String,
}

/// Validates the URL the user agent was redirected to, against the pending
/// authorizations: `state` first (it selects the transaction), then RFC 9207
/// `iss` (spec-checklist 76-80; before acting on anything else, error
/// responses included), then an error response, then the code.
pub fn validate_callback(callback_url: &str, pending: &[PendingRecord]) -> Result<Callback, Error> {
    let url = Url::parse(callback_url)
        .map_err(|e| Error::InvalidArgument(format!("callback URL is not a URL: {e}")))?;
    let params = form_decode(url.query().unwrap_or(""));
    let single = |name: &str| -> Result<Option<&str>, Error> {
        let mut values = params
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            // OAuth 2.1 §3.1: parameters MUST NOT be repeated.
            return Err(Error::InvalidResponse {
                step: Step::Authorization,
                url: base(&url),
                reason: format!("parameter {name} is repeated"),
            });
        }
        Ok(first)
    };
    let state = single("state")?.ok_or(Error::StateMismatch)?;
    let index = pending
        .iter()
        .position(|p| p.public.state == state)
        .ok_or(Error::StateMismatch)?;
    let record = &pending[index];
    let expected_redirect = Url::parse(&record.public.redirect_uri)
        .map_err(|e| Error::InvalidArgument(format!("redirect URI: {e}")))?;
    if !url.same_origin(&expected_redirect) || url.path() != expected_redirect.path() {
        return Err(Error::InvalidArgument(format!(
            "callback URL {} does not start with the redirect URI {}",
            base(&url),
            record.public.redirect_uri
        )));
    }
    let issuer = &record.declared_issuer;
    match single("iss")? {
        // RFC 9207 §2.4: exact string comparison, no normalisation.
        Some(iss) if iss != issuer => {
            return Err(Error::IssMismatch(Mismatch {
                url: base(&url),
                expected: issuer.clone(),
                found: clip(iss),
            }))
        }
        None if record.iss_supported => return Err(Error::IssMissing(issuer.clone())),
        _ => {}
    }
    if let Some(error) = single("error")? {
        return Err(Error::AuthorizationDenied(OAuthFailure {
            step: Step::Authorization,
            url: record.public.issuer.clone(),
            status: None,
            error: clip(error),
            error_description: single("error_description")?.map(clip),
            error_uri: single("error_uri")?.map(clip),
        }));
    }
    match single("code")? {
        Some(code) if !code.is_empty() => Ok(Callback {
            index,
            code: code.to_string(),
        }),
        _ => Err(Error::InvalidResponse {
            step: Step::Authorization,
            url: base(&url),
            reason: "the redirect carries neither code nor error".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::form_decode;

    fn record(state: &str, iss_supported: bool) -> PendingRecord {
        PendingRecord {
            public: PendingAuthorization {
                authorization_url: "https://as/authorize?x".into(),
                state: state.into(),
                redirect_uri: "http://127.0.0.1:3000/callback".into(),
                issuer: "https://as.example.com".into(),
                resource: "https://mcp.example.com/mcp".into(),
            },
            verifier: CodeVerifier::from_entropy(&[1; 32]),
            iss_supported,
            token_endpoint: "https://as/token".into(),
            client_id: "c".into(),
            client: crate::store::ClientRecord {
                client_id: "c".into(),
                client_secret: None,
                auth_method: crate::store::AuthMethod::None,
                redirect_uri: "http://127.0.0.1:3000/callback".into(),
                secret_expires_at: None,
                registered_scope: None,
            },
            scope: None,
            server: "https://mcp.example.com/mcp".into(),
            declared_issuer: "https://as.example.com".into(),
            dpop: false,
            send_resource: true,
            challenge: None,
            after_invalid_scope: false,
        }
    }

    #[test]
    fn url_has_every_parameter_and_keeps_the_endpoint_query() {
        // spec-checklist 34, 52, 60, 69
        let u = authorization_url(&AuthorizationRequest {
            endpoint: "https://as.example.com/authorize?tenant=a",
            client_id: "cid",
            redirect_uri: "http://127.0.0.1:3000/callback",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            state: "st",
            scope: None,
            resource: Some("https://mcp.example.com/mcp"),
        });
        assert!(u.starts_with("https://as.example.com/authorize?tenant=a&"));
        let q = form_decode(u.split_once('?').unwrap().1);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("tenant"), Some("a"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("cid"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:3000/callback"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("resource"), Some("https://mcp.example.com/mcp"));
        assert_eq!(get("scope"), None);
        assert!(!u.contains("scope="));
    }

    #[test]
    fn callback_happy_path_and_iss_table() {
        // spec-checklist 74-80
        let p = [record("s1", true), record("s2", false)];
        let cb = |q: &str| validate_callback(&format!("http://127.0.0.1:3000/callback?{q}"), &p);
        assert_eq!(
            cb("code=abc&state=s1&iss=https%3A%2F%2Fas.example.com").unwrap(),
            Callback {
                index: 0,
                code: "abc".into()
            }
        );
        // advertised + absent → reject
        assert_eq!(
            cb("code=abc&state=s1"),
            Err(Error::IssMissing("https://as.example.com".into()))
        );
        // not advertised + absent → proceed
        assert_eq!(cb("code=abc&state=s2").unwrap().index, 1);
        // present + wrong, advertised or not → reject
        assert!(matches!(
            cb("code=abc&state=s2&iss=https%3A%2F%2Fevil"),
            Err(Error::IssMismatch(_))
        ));
        // no normalisation: trailing slash, case
        assert!(matches!(
            cb("code=abc&state=s1&iss=https%3A%2F%2Fas.example.com%2F"),
            Err(Error::IssMismatch(_))
        ));
        assert!(matches!(
            cb("code=abc&state=s1&iss=https%3A%2F%2FAS.example.com"),
            Err(Error::IssMismatch(_))
        ));
    }

    #[test]
    fn callback_state_checks() {
        let p = [record("s1", false)];
        let cb = |q: &str| validate_callback(&format!("http://127.0.0.1:3000/callback?{q}"), &p);
        assert_eq!(cb("code=abc"), Err(Error::StateMismatch));
        assert_eq!(cb("code=abc&state=other"), Err(Error::StateMismatch));
        assert!(matches!(
            cb("code=abc&state=s1&state=s1"),
            Err(Error::InvalidResponse { .. })
        ));
        assert!(matches!(cb("state=s1"), Err(Error::InvalidResponse { .. })));
        assert!(matches!(
            validate_callback("http://127.0.0.1:3001/callback?code=a&state=s1", &p),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            validate_callback("not a url", &p),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn error_redirects_are_checked_for_iss_first() {
        // spec-checklist 79
        let p = [record("s1", true)];
        let cb = |q: &str| validate_callback(&format!("http://127.0.0.1:3000/callback?{q}"), &p);
        match cb(
            "error=access_denied&error_description=nope&state=s1&iss=https%3A%2F%2Fas.example.com",
        ) {
            Err(Error::AuthorizationDenied(f)) => {
                assert_eq!(f.error, "access_denied");
                assert_eq!(f.error_description.as_deref(), Some("nope"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cb("error=access_denied&state=s1&iss=https%3A%2F%2Fevil.example.com"),
            Err(Error::IssMismatch(_))
        ));
    }

    #[test]
    fn debug_hides_the_verifier() {
        let r = record("s1", true);
        assert!(!format!("{r:?}").contains(r.verifier.secret()));
    }
}
