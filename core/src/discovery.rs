//! Finding the authorization server: RFC 9728 protected resource metadata,
//! then RFC 8414 / OpenID Connect Discovery authorization server metadata.
//!
//! Pure functions: candidate URL lists, the URL policy, and validating
//! parsers. The order of requests lives in [`crate::flow`].

use crate::config::GrantKind;
use crate::error::{Error, Mismatch};
use crate::http::{HttpResponse, Step};
use crate::prelude::*;
use crate::strict_json;
use crate::url::{well_known_append, well_known_insert, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest metadata document accepted (bytes).
pub const MAX_METADATA_BYTES: usize = 1 << 20;

const PRM_SUFFIX: &str = "oauth-protected-resource";
const OAUTH_SUFFIX: &str = "oauth-authorization-server";
const OIDC_SUFFIX: &str = "openid-configuration";

/// Where a protected resource metadata URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrmSource {
    /// The `resource_metadata` parameter of the challenge (RFC 9728 §5.1).
    Challenge,
    /// The well-known URL with the server's path inserted (RFC 9728 §3.1).
    PathWellKnown,
    /// The well-known URL at the server's origin.
    RootWellKnown,
}

/// How many of the authorization servers a resource's metadata lists are
/// tried, in order (RFC 9728 §7.6 leaves the choice to the client): a
/// document listing thousands cannot make one 401 cost thousands of
/// requests.
pub const MAX_AUTHORIZATION_SERVERS: usize = 3;

/// The most scopes a metadata document's `scopes_supported` or a challenge's
/// `scope` may list; more is refused with a typed error (scope lists are
/// joined and compared, and no real server needs more).
pub const MAX_SCOPES: usize = 64;

/// Refuses a scope list longer than [`MAX_SCOPES`].
pub(crate) fn check_scope_count<'a>(
    scopes: impl Iterator<Item = &'a str>,
    step: Step,
    url: &str,
    what: &str,
) -> Result<(), Error> {
    let n = scopes.filter(|s| !s.is_empty()).count();
    if n > MAX_SCOPES {
        return Err(Error::InvalidResponse {
            step,
            url: url.to_string(),
            reason: format!("{what} lists {n} scopes; at most {MAX_SCOPES} are accepted"),
        });
    }
    Ok(())
}

/// The URL policy (OAuth 2.1 §1.5, MCP Communication Security, SBP SSRF):
/// every URL the flow uses must be `https`, or `http` on a loopback host; and
/// a flow that started at a non-loopback server must not be sent to a
/// loopback host (that would let a remote server aim requests at the user's
/// machine). URLs with user info or a fragment are refused as well.
pub fn check_url(url: &str, server: &Url) -> Result<Url, Error> {
    let parsed = Url::parse(url).map_err(|_| Error::InsecureUrl(url.to_string()))?;
    let allowed = parsed.is_https_or_loopback_http()
        && !parsed.has_userinfo()
        && parsed.fragment().is_none()
        && (server.is_loopback() || !parsed.reaches_local_machine());
    if allowed {
        Ok(parsed)
    } else {
        Err(Error::InsecureUrl(url.to_string()))
    }
}

/// Protected resource metadata URLs in the order MCP 2025-11-25 prescribes:
/// the challenge's `resource_metadata` (resolved against the server URL),
/// then the path-inserted well-known URL, then the root one (skipped when
/// the server has no path, as it would be the same URL). The header URL comes
/// first; the well-known ones are only asked if it answers 4xx.
pub fn prm_candidates(
    server: &Url,
    from_challenge: Option<&str>,
) -> Result<Vec<(String, PrmSource)>, Error> {
    let mut out = Vec::with_capacity(3);
    if let Some(raw) = from_challenge {
        let joined = server
            .join(raw)
            .map_err(|e| Error::InvalidResponse {
                step: Step::Resource,
                url: server.without_fragment(),
                reason: format!("resource_metadata {raw:?} is not a URL: {e}"),
            })?
            .to_string();
        check_url(&joined, server)?;
        out.push((joined, PrmSource::Challenge));
    }
    let path = well_known_insert(server, PRM_SUFFIX);
    let root = format!("{}/.well-known/{PRM_SUFFIX}", server.origin());
    for (url, source) in [
        (path, PrmSource::PathWellKnown),
        (root, PrmSource::RootWellKnown),
    ] {
        if !out.iter().any(|(u, _)| *u == url) {
            out.push((url, source));
        }
    }
    Ok(out)
}

/// Authorization server metadata URLs for `issuer`, in MCP 2025-11-25 order:
/// with a path, RFC 8414 insertion, OIDC insertion, OIDC appending; without,
/// RFC 8414 then OIDC at the root.
pub fn as_metadata_candidates(issuer: &Url) -> Vec<String> {
    let has_path = !issuer.path().trim_end_matches('/').is_empty();
    let mut out = vec![
        well_known_insert(issuer, OAUTH_SUFFIX),
        well_known_insert(issuer, OIDC_SUFFIX),
    ];
    if has_path {
        out.push(well_known_append(issuer, OIDC_SUFFIX));
    }
    out
}

/// RFC 9728 §2 protected resource metadata, the members MCP uses (read
/// with [`strict_json`]: unknown members ignored, `null` as absent, errors
/// naming the member that is missing or of the wrong type).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceMetadata {
    /// Where the document was read (empty when it was not: the 2025-03-26
    /// fallback assumes one).
    #[serde(skip)]
    pub source: String,
    /// The resource identifier, used verbatim as RFC 8707 `resource`.
    pub resource: String,
    /// Issuer identifiers of the authorization servers.
    #[serde(default, deserialize_with = "strict_json::null_as_default")]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// RFC 9728 §2: DPoP proof algorithms the resource accepts.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 9728 §2: whether the resource accepts only DPoP-bound tokens.
    #[serde(default, deserialize_with = "strict_json::null_as_default")]
    pub dpop_bound_access_tokens_required: bool,
}

impl ResourceMetadata {
    /// Whether the resource asks for DPoP-bound tokens this client can make
    /// (ES256 proofs) in its metadata: it requires them, or lists ES256
    /// among its proof algorithms (RFC 9728 §2). A list without ES256 is
    /// not followed, even with the requirement.
    pub fn asks_for_dpop(&self) -> bool {
        let es256 = |a: &Vec<String>| a.iter().any(|x| x == "ES256");
        match &self.dpop_signing_alg_values_supported {
            Some(algs) => es256(algs),
            None => self.dpop_bound_access_tokens_required,
        }
    }
}

/// Whether the metadata's `resource` may stand for `server`: same scheme,
/// host and port, and a path equal to the server's path or a whole-segment
/// prefix of it (RFC 9728 §3.3 requires identity with the identifier the
/// well-known URL was built from; the root document names the origin). Never
/// a different origin, never a query or fragment.
pub fn resource_matches(server: &Url, resource: &str) -> bool {
    let Ok(res) = Url::parse(resource) else {
        return false;
    };
    if !res.same_origin(server)
        || res.query().is_some()
        || res.fragment().is_some()
        || res.has_userinfo()
    {
        return false;
    }
    let prefix = res.path().trim_end_matches('/');
    let path = server.path();
    prefix.is_empty()
        || path == res.path()
        || path.trim_end_matches('/') == prefix
        || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
}

/// Parses and validates a protected resource metadata response.
pub fn parse_resource_metadata(
    resp: &HttpResponse,
    url: &str,
    server: &Url,
) -> Result<ResourceMetadata, Error> {
    let step = Step::ProtectedResourceMetadata;
    let mut prm: ResourceMetadata = parse_json(resp, url, step)?;
    prm.source = url.to_string();
    if !resource_matches(server, &prm.resource) {
        return Err(Error::ResourceMismatch(Mismatch {
            url: url.to_string(),
            expected: server.without_fragment(),
            found: prm.resource,
        }));
    }
    check_scope_count(
        prm.scopes_supported.iter().flatten().map(String::as_str),
        step,
        url,
        "scopes_supported",
    )?;
    if prm.authorization_servers.is_empty() {
        return Err(Error::InvalidResponse {
            step,
            url: url.to_string(),
            reason: "authorization_servers is missing or empty".into(),
        });
    }
    for issuer in &prm.authorization_servers {
        check_url(issuer, server)?;
    }
    Ok(prm)
}

/// RFC 8414 §2 / OpenID Discovery §3 metadata, the members MCP uses.
///
/// Read with [`strict_json`] (unknown members ignored, `null` as absent, but
/// for the two booleans, where `null` is not a boolean) and written into the
/// state document in this order, absent members left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// RFC 7591 registration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Supported `response_type` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<String>>,
    /// PKCE methods (RFC 7636 / RFC 8414).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Token endpoint client authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Scopes the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// RFC 9207: whether redirects carry `iss` (absent: false).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Grant types the server supports (RFC 8414 §2; absent means
    /// `authorization_code` and `implicit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// RFC 9449 §5.1: DPoP proof algorithms the server accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether a Client ID Metadata Document URL may be used as `client_id`
    /// (absent: false; written only when true).
    #[serde(default, skip_serializing_if = "is_false")]
    pub client_id_metadata_document_supported: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl AuthServerMetadata {
    /// Metadata for a server the caller or the 2025-03-26 fallback describes
    /// instead of a fetched document: nothing is advertised.
    pub fn assumed(issuer: &str) -> AuthServerMetadata {
        AuthServerMetadata {
            issuer: issuer.to_string(),
            authorization_endpoint: None,
            token_endpoint: None,
            registration_endpoint: None,
            response_types_supported: None,
            code_challenge_methods_supported: None,
            token_endpoint_auth_methods_supported: None,
            scopes_supported: None,
            authorization_response_iss_parameter_supported: false,
            grant_types_supported: None,
            dpop_signing_alg_values_supported: None,
            client_id_metadata_document_supported: false,
        }
    }

    /// Whether the server lists `grant` in `grant_types_supported`.
    pub fn lists_grant(&self, grant: GrantKind) -> bool {
        self.grant_types_supported
            .as_ref()
            .is_some_and(|g| g.iter().any(|x| x == grant.as_str()))
    }

    /// Whether DPoP with ES256 is advertised (RFC 9449 §5.1).
    pub fn supports_dpop_es256(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|a| a.iter().any(|x| x == "ES256"))
    }

    /// Whether PKCE S256 is advertised (MCP 2025-11-25: refuse otherwise).
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == crate::pkce::METHOD_S256))
    }
}

/// Parses and validates authorization server metadata fetched for
/// `expected_issuer`: the `issuer` must be identical (RFC 8414 §3.3, OpenID
/// Discovery §4.3), the endpoints must pass [`check_url`], and
/// `response_types_supported`, when given, must include `code`.
pub fn parse_as_metadata(
    resp: &HttpResponse,
    url: &str,
    expected_issuer: &str,
    server: &Url,
    accept_issuer_mismatch: bool,
) -> Result<AuthServerMetadata, Error> {
    let step = Step::AuthorizationServerMetadata;
    let meta: AuthServerMetadata = parse_json(resp, url, step)?;
    if meta.issuer != expected_issuer && !accept_issuer_mismatch {
        return Err(Error::IssuerMismatch(Mismatch {
            url: url.to_string(),
            expected: expected_issuer.to_string(),
            found: meta.issuer,
        }));
    }
    let invalid = |reason: String| Error::InvalidResponse {
        step,
        url: url.to_string(),
        reason,
    };
    for (name, endpoint) in [
        ("authorization_endpoint", &meta.authorization_endpoint),
        ("token_endpoint", &meta.token_endpoint),
    ] {
        match endpoint {
            None => return Err(invalid(format!("{name} is missing"))),
            Some(e) => {
                check_url(e, server)?;
            }
        }
    }
    if let Some(reg) = &meta.registration_endpoint {
        check_url(reg, server)?;
    }
    check_scope_count(
        meta.scopes_supported.iter().flatten().map(String::as_str),
        step,
        url,
        "scopes_supported",
    )?;
    if let Some(types) = &meta.response_types_supported {
        if !types.iter().any(|t| t == "code") {
            return Err(invalid(
                "response_types_supported does not include \"code\"".into(),
            ));
        }
    }
    Ok(meta)
}

/// Decodes a 200 response holding a JSON object into `T`, with typed errors
/// for anything else.
fn parse_json<T: DeserializeOwned>(resp: &HttpResponse, url: &str, step: Step) -> Result<T, Error> {
    if resp.status != 200 {
        return Err(Error::UnexpectedStatus {
            step,
            url: url.to_string(),
            status: resp.status,
            body_excerpt: resp.body_excerpt(),
        });
    }
    strict_json::from_slice(&resp.body).map_err(|e| invalid_document(step, url, e))
}

fn invalid_document(step: Step, url: &str, reason: String) -> Error {
    Error::InvalidResponse {
        step,
        url: url.to_string(),
        reason: format!("not a valid metadata document: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS_SUPPORTED: &str = "authorization_response_iss_parameter_supported";

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn prm_candidates_header_then_path_then_root() {
        // spec-checklist 11, 14-16: header URL first, then path-inserted, then root.
        let server = u("https://example.com/public/mcp");
        let c = prm_candidates(
            &server,
            Some("https://example.com/.well-known/oauth-protected-resource/public/mcp"),
        )
        .unwrap();
        let urls: Vec<&str> = c.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://example.com/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(c[0].1, PrmSource::Challenge);
        let c = prm_candidates(&server, None).unwrap();
        assert_eq!(
            c[0].0,
            "https://example.com/.well-known/oauth-protected-resource/public/mcp"
        );
        assert_eq!(
            c[1].0,
            "https://example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn prm_candidates_server_at_root_has_one_well_known() {
        let c = prm_candidates(&u("https://example.com"), None).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].0,
            "https://example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn prm_candidates_resolve_relative_header_url() {
        let c = prm_candidates(&u("https://example.com/mcp"), Some("/custom/prm.json")).unwrap();
        assert_eq!(c[0].0, "https://example.com/custom/prm.json");
    }

    #[test]
    fn prm_header_url_must_pass_policy() {
        let remote = u("https://example.com/mcp");
        assert!(matches!(
            prm_candidates(&remote, Some("http://example.com/prm")),
            Err(Error::InsecureUrl(_))
        ));
        assert!(matches!(
            prm_candidates(&remote, Some("https://127.0.0.1/prm")),
            Err(Error::InsecureUrl(_))
        ));
        assert!(prm_candidates(&remote, Some("javascript:alert(1)")).is_err());
        let local = u("http://127.0.0.1:8080/mcp");
        assert!(prm_candidates(&local, Some("http://127.0.0.1:8080/prm")).is_ok());
    }

    #[test]
    fn as_candidates_with_path() {
        // spec-checklist 22-26, MCP 2025-11-25 exact order for an issuer with a path.
        assert_eq!(
            as_metadata_candidates(&u("https://auth.example.com/tenant1")),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        // RFC 8414 §3.1: a terminating slash is removed before inserting.
        assert_eq!(
            as_metadata_candidates(&u("https://auth.example.com/tenant1/"))[0],
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant1"
        );
    }

    #[test]
    fn as_candidates_without_path() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            assert_eq!(
                as_metadata_candidates(&u(issuer)),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server",
                    "https://auth.example.com/.well-known/openid-configuration",
                ]
            );
        }
    }

    #[test]
    fn resource_match_rules() {
        let s = u("https://mcp.example.com/public/mcp");
        assert!(resource_matches(&s, "https://mcp.example.com/public/mcp"));
        assert!(resource_matches(&s, "https://mcp.example.com"));
        assert!(resource_matches(&s, "https://mcp.example.com/"));
        assert!(resource_matches(&s, "https://mcp.example.com/public"));
        assert!(resource_matches(
            &s,
            "https://MCP.example.com:443/public/mcp"
        ));
        assert!(!resource_matches(&s, "https://mcp.example.com/pub"));
        assert!(!resource_matches(&s, "https://evil.example.com/mcp"));
        assert!(!resource_matches(&s, "http://mcp.example.com/public/mcp"));
        assert!(!resource_matches(
            &s,
            "https://mcp.example.com:8443/public/mcp"
        ));
        assert!(!resource_matches(
            &s,
            "https://mcp.example.com/public/mcp#f"
        ));
        assert!(!resource_matches(
            &s,
            "https://mcp.example.com/public/mcp/other"
        ));
        assert!(!resource_matches(&s, "not a url"));
    }

    const SERVER: &str = "https://mcp.example.com/mcp";
    const AS: &str = "https://as.example.com";

    fn prm_body(resource: &str, issuer: &str) -> String {
        format!(r#"{{"resource":"{resource}","authorization_servers":["{issuer}"],"extra":1}}"#)
    }

    /// The protected resource metadata `body`, served with a 200, for the
    /// server at `SERVER`.
    fn prm(body: &str) -> Result<ResourceMetadata, Error> {
        parse_resource_metadata(&HttpResponse::json(200, body), "https://x", &u(SERVER))
    }

    #[test]
    fn prm_parse_accepts_and_ignores_unknown_members() {
        let m = prm(&prm_body(SERVER, AS)).unwrap();
        assert_eq!(m.authorization_servers, [AS]);
    }

    #[test]
    fn prm_parse_refuses_mismatch_empty_servers_bad_json_and_status() {
        // spec-checklist 17-19
        match prm(&prm_body("https://evil.example.com/mcp", AS)) {
            Err(Error::ResourceMismatch(m)) => assert_eq!(m.found, "https://evil.example.com/mcp"),
            other => panic!("{other:?}"),
        }
        for body in [
            r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":[]}"#,
            "[1,2]",
            r#"{"resource":5}"#,
        ] {
            assert!(
                matches!(prm(body), Err(Error::InvalidResponse { .. })),
                "{body}"
            );
        }
        let r = HttpResponse::json(500, "oops");
        assert!(matches!(
            parse_resource_metadata(&r, "https://x", &u(SERVER)),
            Err(Error::UnexpectedStatus { status: 500, .. })
        ));
        assert!(matches!(
            prm(&prm_body(SERVER, "http://as.example.com")),
            Err(Error::InsecureUrl(_))
        ));
    }

    fn asm(issuer: &str, extra: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize","token_endpoint":"{issuer}/token"{extra}}}"#
        )
    }

    /// The authorization server metadata `body`, served with a 200, from
    /// the issuer `expected` for the server at `SERVER`.
    fn as_metadata_of(expected: &str, body: &str) -> Result<AuthServerMetadata, Error> {
        let r = HttpResponse::json(200, body);
        parse_as_metadata(&r, "https://x", expected, &u(SERVER), false)
    }

    /// [`as_metadata_of`] the issuer `AS`.
    fn as_metadata(body: &str) -> Result<AuthServerMetadata, Error> {
        as_metadata_of(AS, body)
    }

    /// [`as_metadata`] of `AS`'s usual document with the `extra` members.
    fn as_metadata_with(extra: &str) -> Result<AuthServerMetadata, Error> {
        as_metadata(&asm(AS, extra))
    }

    #[test]
    fn as_metadata_issuer_must_be_identical() {
        // spec-checklist 28: RFC 8414 §3.3, no normalisation (not even a trailing slash).
        assert!(as_metadata_with("").is_ok());
        match as_metadata_of("https://as.example.com/", &asm(AS, "")) {
            Err(Error::IssuerMismatch(m)) => {
                assert_eq!(m.expected, "https://as.example.com/");
                assert_eq!(m.found, "https://as.example.com");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            as_metadata(&asm("https://attacker.example.com", "")),
            Err(Error::IssuerMismatch(_))
        ));
    }

    #[test]
    fn as_metadata_endpoints_checked() {
        assert!(matches!(
            as_metadata(
                r#"{"issuer":"https://as.example.com","token_endpoint":"https://as.example.com/t"}"#
            ),
            Err(Error::InvalidResponse { .. })
        ));
        assert!(matches!(
            as_metadata(
                r#"{"issuer":"https://as.example.com","authorization_endpoint":"http://as.example.com/a","token_endpoint":"https://as.example.com/t"}"#
            ),
            Err(Error::InsecureUrl(_))
        ));
        assert!(matches!(
            as_metadata_with(r#","response_types_supported":["token"]"#),
            Err(Error::InvalidResponse { .. })
        ));
    }

    fn reason(e: Error) -> String {
        match e {
            Error::InvalidResponse { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_errors_name_the_member() {
        let r = reason(prm(r#"{"resource":5}"#).unwrap_err());
        assert!(
            r.starts_with("not a valid metadata document: resource "),
            "{r}"
        );
        for (body, says) in [
            (
                r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":"https://as"}"#,
                "authorization_servers",
            ),
            (
                r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as"],"scopes_supported":[1]}"#,
                "scopes_supported",
            ),
            ("[1,2]", "not a JSON object"),
            (r#"{"resource":"#, "at byte"),
        ] {
            let r = reason(prm(body).unwrap_err());
            assert!(r.contains(says), "{body}: {r}");
        }
        // null optional members are absent; unknown members are ignored.
        let m = prm(r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example.com"],"scopes_supported":null,"x":{"y":[1.5e3]}}"#)
            .unwrap();
        assert_eq!(m.scopes_supported, None);

        for (extra, member) in [
            (r#","registration_endpoint":false"#, "registration_endpoint"),
            (
                r#","code_challenge_methods_supported":"S256""#,
                "code_challenge_methods_supported",
            ),
            (
                r#","authorization_response_iss_parameter_supported":"true""#,
                ISS_SUPPORTED,
            ),
            (
                r#","authorization_response_iss_parameter_supported":null"#,
                ISS_SUPPORTED,
            ),
        ] {
            let r = reason(as_metadata_with(extra).unwrap_err());
            assert!(r.contains(member), "{extra}: {r}");
        }
        let m = as_metadata_with(r#","registration_endpoint":null,"authorization_response_iss_parameter_supported":true"#)
            .unwrap();
        assert!(m.registration_endpoint.is_none());
        assert!(m.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn duplicate_members_are_refused() {
        // A parser differential on "issuer" must not let one document pass
        // as two different servers.
        let e = as_metadata_with(r#","issuer":"https://attacker.example.com""#).unwrap_err();
        assert!(reason(e).contains("duplicate member name"));
        assert!(matches!(
            prm(
                r#"{"resource":"https://mcp.example.com/mcp","resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example.com"]}"#
            ),
            Err(Error::InvalidResponse { .. })
        ));
    }

    #[test]
    fn metadata_json_round_trip() {
        let mut m = as_metadata_with(
            r#","scopes_supported":["a","b"],"code_challenge_methods_supported":["S256"],"unknown":[{}]"#,
        )
        .unwrap();
        // Declaration order, absent members left out, unknown ones dropped;
        // the RFC 9207 flag always written, the CIMD one only when true.
        let text = String::from_utf8(strict_json::to_vec(&m)).unwrap();
        assert_eq!(
            text,
            r#"{"issuer":"https://as.example.com","authorization_endpoint":"https://as.example.com/authorize","token_endpoint":"https://as.example.com/token","code_challenge_methods_supported":["S256"],"scopes_supported":["a","b"],"authorization_response_iss_parameter_supported":false}"#
        );
        assert_eq!(
            strict_json::from_slice::<AuthServerMetadata>(text.as_bytes()).unwrap(),
            m
        );
        m.client_id_metadata_document_supported = true;
        let text = String::from_utf8(strict_json::to_vec(&m)).unwrap();
        assert!(text.ends_with(r#""client_id_metadata_document_supported":true}"#));
        assert_eq!(
            strict_json::from_slice::<AuthServerMetadata>(text.as_bytes()).unwrap(),
            m
        );
    }

    #[test]
    fn s256_support() {
        let s256 = |extra: &str| as_metadata_with(extra).unwrap().supports_s256();
        assert!(!s256(""));
        assert!(!s256(r#","code_challenge_methods_supported":["plain"]"#));
        assert!(s256(
            r#","code_challenge_methods_supported":["plain","S256"]"#
        ));
    }
}
