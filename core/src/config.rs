//! Client configuration and the secret wrapper.

use crate::prelude::*;
use core::fmt;

/// A secret string (token, client secret). `Debug` and `Display` never show
/// it; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Default time limit per HTTP step, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;

/// Which OAuth grant obtains tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantType {
    /// Authorization code with PKCE: a user visits the authorization URL.
    AuthorizationCode,
    /// OAuth 2.1 §4.2 client credentials (MCP extension SEP-1046): the client
    /// acts on its own behalf with its secret or private key.
    ClientCredentials,
    /// RFC 7523 §2.1 JWT bearer grant with an assertion the caller obtained
    /// (workload identity federation, SEP-1933).
    JwtBearer {
        /// The signed JWT issued to the workload.
        assertion: Secret,
    },
    /// Enterprise-managed authorization (SEP-990): an RFC 8693 token
    /// exchange of an identity provider's ID token for an ID-JAG, then the
    /// RFC 7523 JWT bearer grant at the authorization server.
    TokenExchange(IdentityProvider),
}

/// An OAuth `grant_type` value this client sends or stores, by its
/// registered name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GrantKind {
    /// OAuth 2.1 §4.1.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// OAuth 2.1 §4.3.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// OAuth 2.1 §4.2.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 7523 §2.1.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    /// RFC 8693 (SEP-990: the exchange at the identity provider, then the
    /// JWT bearer grant).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantKind {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::AuthorizationCode => "authorization_code",
            GrantKind::RefreshToken => "refresh_token",
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantKind::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Whether a token obtained with this grant can be obtained again
    /// without a user.
    pub fn needs_no_user(self) -> bool {
        !matches!(self, GrantKind::AuthorizationCode | GrantKind::RefreshToken)
    }
}

/// An access token's type (RFC 6749 §7.1): the scheme it is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenType {
    /// RFC 6750.
    Bearer,
    /// A token bound to the client's DPoP key (RFC 9449).
    #[serde(rename = "DPoP")]
    Dpop,
}

impl TokenType {
    /// The scheme name, as sent in `Authorization`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Bearer => "Bearer",
            TokenType::Dpop => "DPoP",
        }
    }
}

/// The enterprise identity provider of [`GrantType::TokenExchange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// Its token endpoint (https, or http on loopback).
    pub token_endpoint: String,
    /// The client id this client has at the identity provider.
    pub client_id: String,
    /// Its secret there, if it is confidential.
    pub client_secret: Option<Secret>,
    /// The ID token the user signed in with.
    pub id_token: Secret,
}

/// Authorization server values the caller knows; discovery fills in the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEndpoints {
    /// The issuer identifier, used instead of the one the protected resource
    /// metadata lists.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: Option<String>,
    /// The RFC 7591 registration endpoint.
    pub registration_endpoint: Option<String>,
}

/// Checks a caller may switch off for one server that breaks them. All
/// `false` (strict) by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relaxations {
    /// Accept authorization server metadata whose `issuer` differs from the
    /// issuer it was fetched for (RFC 8414 §3.3), and a redirect whose `iss`
    /// differs (RFC 9207). The endpoints are still checked.
    pub accept_issuer_mismatch: bool,
    /// Proceed with PKCE S256 when the metadata does not advertise it.
    pub allow_pkce_unadvertised: bool,
    /// Leave out the RFC 8707 `resource` parameter (some servers reject it).
    pub omit_resource: bool,
    /// Accept authorization and token endpoints on another origin than the
    /// issuer at a server without RFC 9207 `iss` (mix-up defence, RFC 9700
    /// §4.4).
    pub allow_cross_origin_endpoints: bool,
}

/// When to bind tokens to a key with DPoP (RFC 9449).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopMode {
    /// When the resource server asks for DPoP (its metadata's
    /// `dpop_bound_access_tokens_required` or
    /// `dpop_signing_alg_values_supported`, or a `DPoP` challenge) and the
    /// authorization server lists `ES256` in
    /// `dpop_signing_alg_values_supported`.
    #[default]
    Auto,
    /// Always, even when the server does not advertise it.
    Always,
    /// Never: bearer tokens only.
    Never,
}

/// How the client identifies itself and what it asks for. `Default` leaves
/// the name and redirect URI empty (see [`Config::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `client_name` for registration.
    pub client_name: String,
    /// The redirect URI (https, or http on loopback).
    pub redirect_uri: String,
    /// A pre-registered client id.
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    pub client_secret: Option<Secret>,
    /// A PKCS#8 or SEC1 PEM P-256 private key: the pre-registered client
    /// authenticates with `private_key_jwt` (RFC 7523 §2.2, ES256).
    pub private_key_pem: Option<Secret>,
    /// The https URL of this client's metadata document, used as `client_id`
    /// where the authorization server supports Client ID Metadata Documents.
    pub client_metadata_url: Option<String>,
    /// The grant; `None` chooses from the credentials and the server's
    /// `grant_types_supported`.
    pub grant_type: Option<GrantType>,
    /// A scope that replaces the automatic choice.
    pub scope: Option<String>,
    /// Authorization server values given instead of discovered.
    pub server: Option<ServerEndpoints>,
    /// Checks switched off.
    pub relax: Relaxations,
    /// DPoP use.
    pub dpop: DpopMode,
    /// Time limit per HTTP step, milliseconds; `None` is
    /// [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: Option<u32>,
    /// The host renews tokens itself, under a lock it shares with other
    /// processes: `wrap-call` never redeems a refresh token and answers
    /// [`crate::Error::RenewalRequired`] instead, both for a stale token and
    /// for a 401 that a refresh would answer.
    pub host_renews: bool,
    /// The host limits connecting and the wait for the response head of
    /// `wrap-call`'s request to the time limit itself: the guest sets no
    /// timer of its own for that wait.
    pub host_timeouts: bool,
}

impl Config {
    /// A configuration with defaults for everything but name and redirect URI.
    pub fn new(client_name: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        Config {
            client_name: client_name.into(),
            redirect_uri: redirect_uri.into(),
            ..Config::default()
        }
    }

    /// A name for the secret credential this configuration holds, if any (a
    /// client secret, a private key, a JWT bearer assertion or an identity
    /// provider's ID token): its client id. Such a credential belongs to one
    /// authorization server and is never sent to another.
    pub fn credential_label(&self) -> Option<String> {
        let secret = self.client_secret.is_some()
            || self.private_key_pem.is_some()
            || matches!(
                self.grant_type,
                Some(GrantType::JwtBearer { .. } | GrantType::TokenExchange(_))
            );
        secret.then(|| {
            self.client_id
                .clone()
                .unwrap_or_else(|| "(assertion without a client id)".into())
        })
    }

    /// Checks the values a caller gave (OAuth 2.1 §8.4.2: loopback or https
    /// redirect URIs only).
    pub fn validate(&self) -> Result<(), crate::error::Refused> {
        use crate::error::Refused as InvalidArgument;
        if self.client_name.trim().is_empty() {
            return Err(InvalidArgument("client-name is empty".into()));
        }
        let redirect = crate::url::Url::parse(&self.redirect_uri)
            .map_err(|e| InvalidArgument(format!("redirect-uri {:?}: {e}", self.redirect_uri)))?;
        if !redirect.is_https_or_loopback_http() {
            return Err(InvalidArgument(format!(
                "redirect-uri {} must be https or http on a loopback address",
                self.redirect_uri
            )));
        }
        if redirect.fragment().is_some() {
            return Err(InvalidArgument(
                "redirect-uri must not have a fragment".into(),
            ));
        }
        if matches!(&self.client_id, Some(id) if id.is_empty()) {
            return Err(InvalidArgument("client-id is empty".into()));
        }
        if self.client_secret.is_some() && self.client_id.is_none() {
            return Err(InvalidArgument(
                "client-secret given without client-id".into(),
            ));
        }
        if self.timeout_ms == Some(0) {
            return Err(InvalidArgument("timeout-ms must be positive".into()));
        }
        if self.client_secret.is_some() && self.private_key_pem.is_some() {
            return Err(InvalidArgument(
                "client-secret and private-key-pem are both given; a client authenticates one way"
                    .into(),
            ));
        }
        if let Some(pem) = &self.private_key_pem {
            if self.client_id.is_none() {
                return Err(InvalidArgument(
                    "private-key-pem given without client-id".into(),
                ));
            }
            crate::jose::SigningKey::from_pem(pem.expose())
                .map_err(|e| InvalidArgument(format!("private-key-pem: {e}")))?;
        }
        if let Some(url) = &self.client_metadata_url {
            check_metadata_url(url)?;
        }
        match &self.grant_type {
            Some(GrantType::ClientCredentials)
                if self.client_secret.is_none() && self.private_key_pem.is_none() =>
            {
                return Err(InvalidArgument(
                    "the client-credentials grant needs client-id with client-secret or private-key-pem"
                        .into(),
                ));
            }
            Some(GrantType::JwtBearer { assertion }) if assertion.expose().is_empty() => {
                return Err(InvalidArgument("the jwt-bearer assertion is empty".into()));
            }
            Some(GrantType::TokenExchange(idp)) => {
                if self.client_id.is_none() {
                    return Err(InvalidArgument(
                        "token exchange needs the client-id registered at the authorization server"
                            .into(),
                    ));
                }
                check_endpoint("identity provider token-endpoint", &idp.token_endpoint)?;
                if idp.client_id.is_empty() || idp.id_token.expose().is_empty() {
                    return Err(InvalidArgument(
                        "the identity provider client-id and id-token must not be empty".into(),
                    ));
                }
            }
            _ => {}
        }
        if let Some(server) = &self.server {
            check_endpoint("authorization server issuer", &server.issuer)?;
            for (name, url) in [
                ("authorization-endpoint", &server.authorization_endpoint),
                ("token-endpoint", &server.token_endpoint),
                ("registration-endpoint", &server.registration_endpoint),
            ] {
                if let Some(url) = url {
                    check_endpoint(name, url)?;
                }
            }
        }
        Ok(())
    }
}

/// An endpoint the caller gave: https, or http on loopback, without
/// fragment or user info.
fn check_endpoint(name: &str, url: &str) -> Result<(), crate::error::Refused> {
    use crate::error::Refused as InvalidArgument;
    let parsed =
        crate::url::Url::parse(url).map_err(|e| InvalidArgument(format!("{name} {url:?}: {e}")))?;
    if !parsed.is_https_or_loopback_http() || parsed.has_userinfo() || parsed.fragment().is_some() {
        return Err(InvalidArgument(format!(
            "{name} {url} must be https (or http on a loopback address), without user info or fragment"
        )));
    }
    Ok(())
}

/// A Client ID Metadata Document URL (CIMD draft §3, MCP 2025-11-25): https,
/// a path other than `/`, no query, fragment, user info or dot segments.
/// spec-checklist 42.
fn check_metadata_url(url: &str) -> Result<(), crate::error::Refused> {
    use crate::error::Refused as InvalidArgument;
    let refuse = |why: &str| {
        Err(InvalidArgument(format!(
            "client-metadata-url {url:?} {why}"
        )))
    };
    let Ok(parsed) = crate::url::Url::parse(url) else {
        return refuse("is not a URL");
    };
    if parsed.scheme() != "https" {
        return refuse("must use https");
    }
    if parsed.path().is_empty() || parsed.path() == "/" {
        return refuse("must have a path");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.has_userinfo() {
        return refuse("must not have a query, fragment or user info");
    }
    if parsed
        .path()
        .split('/')
        .any(|seg| seg == "." || seg == "..")
        || url.contains("/./")
        || url.contains("/../")
    {
        return refuse("must not have dot segments");
    }
    Ok(())
}
