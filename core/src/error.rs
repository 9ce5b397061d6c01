//! Typed errors. Each keeps the evidence needed to diagnose it; none holds a
//! token, secret, authorization code or code verifier.

use crate::http::Step;
use crate::prelude::*;
use core::fmt;

/// An OAuth error response (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    /// The step that failed.
    pub step: Step,
    /// The endpoint that answered.
    pub url: String,
    /// The HTTP status; `None` for an error redirect.
    pub status: Option<u16>,
    /// The `error` code.
    pub error: String,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `error_uri`.
    pub error_uri: Option<String>,
}

/// Two values that must be identical but are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where the value came from.
    pub url: String,
    /// The value required.
    pub expected: String,
    /// The value found.
    pub found: String,
}

/// One discovery URL and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The URL requested.
    pub url: String,
    /// The status, or `None` if the request failed.
    pub status: Option<u16>,
}

/// A configuration or state document the caller gave was refused; says
/// which value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Refused {}

impl From<Refused> for Error {
    fn from(r: Refused) -> Self {
        Error::InvalidArgument(r.0)
    }
}

/// Everything that can go wrong. Mirrors `auth-error` in `wit/world.wit`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied argument is malformed.
    InvalidArgument(String),
    /// A URL is not https (nor http on loopback), or sends a remote server's
    /// flow to loopback.
    InsecureUrl(String),
    /// The request failed before a complete response.
    Transport {
        /// Step.
        step: Step,
        /// URL.
        url: String,
        /// Description.
        message: String,
    },
    /// A redirect (never followed) or an oversized body.
    ResponseRefused {
        /// Step.
        step: Step,
        /// URL.
        url: String,
        /// Status, when a response arrived.
        status: Option<u16>,
        /// Why.
        detail: String,
    },
    /// A status the step does not accept.
    UnexpectedStatus {
        /// Step.
        step: Step,
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// Start of the body.
        body_excerpt: String,
    },
    /// A malformed response or one that breaks a protocol rule.
    InvalidResponse {
        /// Step.
        step: Step,
        /// URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No PRM at any candidate.
    NoResourceMetadata(Vec<Attempt>),
    /// No AS metadata at any candidate.
    NoAuthorizationServerMetadata(Vec<Attempt>),
    /// PRM `resource` does not match the server (RFC 9728 §3.3).
    ResourceMismatch(Mismatch),
    /// AS metadata `issuer` differs (RFC 8414 §3.3).
    IssuerMismatch(Mismatch),
    /// A configured credential (client secret, private key, assertion) was
    /// first used with another authorization server than the one this flow
    /// would send it to; `expected` is that first issuer, `found` the new
    /// one. Credentials go to one issuer only.
    CredentialIssuerMismatch(Mismatch),
    /// PKCE S256 not advertised; carries the metadata URL.
    PkceUnsupported(String),
    /// No client id and no registration endpoint; carries the issuer.
    ClientIdRequired(String),
    /// Registration refused.
    RegistrationRejected(OAuthFailure),
    /// Unknown or missing `state` in the redirect.
    StateMismatch,
    /// RFC 9207 `iss` required but missing; carries the expected issuer.
    IssMissing(String),
    /// RFC 9207 `iss` differs.
    IssMismatch(Mismatch),
    /// Error redirect from the authorization endpoint.
    AuthorizationDenied(OAuthFailure),
    /// Token endpoint refused.
    TokenRejected(OAuthFailure),
    /// A user must authorize first.
    AuthorizationRequired(crate::authorize::PendingAuthorization),
    /// The token for this server URL must be renewed before the request can
    /// go (it is stale, or the server refused it with a 401 that a refresh
    /// answers), and the host renews tokens itself (`host_renews`): renew it
    /// under the host's lock, then send the request again.
    RenewalRequired(String),
    /// The server refused again with a fresh token.
    StillUnauthorized {
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// Start of the body.
        body_excerpt: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::InsecureUrl(u) => write!(f, "refusing insecure URL {u}: https is required except on loopback"),
            Error::Transport { step, url, message } => write!(f, "{step}: request to {url} failed: {message}"),
            Error::ResponseRefused { step, url, status, detail } => match status {
                Some(s) => write!(f, "{step}: refused response {s} from {url}: {detail}"),
                None => write!(f, "{step}: refused response from {url}: {detail}"),
            },
            Error::UnexpectedStatus { step, url, status, body_excerpt } => {
                write!(f, "{step}: {url} answered {status}")?;
                if !body_excerpt.is_empty() {
                    write!(f, ": {body_excerpt}")?;
                }
                Ok(())
            }
            Error::InvalidResponse { step, url, reason } => write!(f, "{step}: invalid response from {url}: {reason}"),
            Error::NoResourceMetadata(a) => write!(f, "no protected resource metadata found (tried {})", attempts(a)),
            Error::NoAuthorizationServerMetadata(a) => {
                write!(f, "no authorization server metadata found (tried {})", attempts(a))
            }
            Error::ResourceMismatch(m) => write!(
                f,
                "protected resource metadata at {} names resource {:?}, which does not match {:?}",
                m.url, m.found, m.expected
            ),
            Error::CredentialIssuerMismatch(m) => write!(
                f,
                "the configured credentials belong to {:?}; refusing to send them to {:?} (named via {})",
                m.expected, m.found, m.url
            ),
            Error::IssuerMismatch(m) => write!(
                f,
                "authorization server metadata at {} has issuer {:?}, expected {:?}",
                m.url, m.found, m.expected
            ),
            Error::PkceUnsupported(u) => write!(
                f,
                "authorization server metadata at {u} does not list S256 in code_challenge_methods_supported; refusing to authorize without PKCE"
            ),
            Error::ClientIdRequired(i) => write!(
                f,
                "authorization server {i} offers no client registration: configure a client id for it"
            ),
            Error::RegistrationRejected(o) => write!(f, "client registration rejected: {}", oauth(o)),
            Error::StateMismatch => f.write_str("the redirect's state matches no pending authorization"),
            Error::IssMissing(i) => write!(f, "the redirect lacks the iss parameter that {i} advertises (RFC 9207)"),
            Error::IssMismatch(m) => write!(f, "the redirect's iss {:?} is not the expected issuer {:?}", m.found, m.expected),
            Error::AuthorizationDenied(o) => write!(f, "authorization denied: {}", oauth(o)),
            Error::TokenRejected(o) => write!(f, "token request rejected: {}", oauth(o)),
            Error::AuthorizationRequired(p) => write!(f, "authorization required: visit {}", p.authorization_url),
            Error::RenewalRequired(u) => write!(f, "the token for {u} must be renewed by the host first"),
            Error::StillUnauthorized { url, status, .. } => {
                write!(f, "{url} answered {status} again after a new token was obtained")
            }
        }
    }
}

impl core::error::Error for Error {}

/// "url → status" for each attempt, comma-separated.
pub(crate) fn attempts(a: &[Attempt]) -> String {
    let mut out = String::new();
    for (i, a) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&a.url);
        match a.status {
            Some(s) => out.push_str(&format!(" → {s}")),
            None => out.push_str(" → failed"),
        }
    }
    out
}

fn oauth(o: &OAuthFailure) -> String {
    let mut s = o.error.clone();
    if let Some(d) = &o.error_description {
        s.push_str(&format!(" ({d})"));
    }
    match o.status {
        Some(st) => format!("{s} [{st} from {}]", o.url),
        None => format!("{s} [from {}]", o.url),
    }
}
