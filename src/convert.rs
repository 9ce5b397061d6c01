//! Conversions between the core's types and the WIT types. Mechanical only.

use crate::bindings::exports::mcp::oauth::types as wit;
use crate::prelude::*;
use mcp_oauth_core as core;
use mcp_oauth_core::{Attempt, Mismatch, OAuthFailure};

/// WIT configuration → core configuration.
pub fn config(c: wit::ClientConfig) -> core::Config {
    let secret = core::Secret::new;
    core::Config {
        client_name: c.client_name,
        redirect_uri: c.redirect_uri,
        client_id: c.client_id,
        client_secret: c.client_secret.map(secret),
        private_key_pem: c.private_key_pem.map(secret),
        client_metadata_url: c.client_metadata_url,
        grant_type: c.grant_type.map(|g| match g {
            wit::GrantType::AuthorizationCode => core::GrantType::AuthorizationCode,
            wit::GrantType::ClientCredentials => core::GrantType::ClientCredentials,
            wit::GrantType::JwtBearer(a) => core::GrantType::JwtBearer {
                assertion: secret(a),
            },
            wit::GrantType::TokenExchange(i) => {
                core::GrantType::TokenExchange(core::IdentityProvider {
                    token_endpoint: i.token_endpoint,
                    client_id: i.client_id,
                    client_secret: i.client_secret.map(secret),
                    id_token: secret(i.id_token),
                })
            }
        }),
        scope: c.scope,
        server: c.authorization_server.map(|s| core::ServerEndpoints {
            issuer: s.issuer,
            authorization_endpoint: s.authorization_endpoint,
            token_endpoint: s.token_endpoint,
            registration_endpoint: s.registration_endpoint,
        }),
        relax: c
            .relaxations
            .map(|r| core::Relaxations {
                accept_issuer_mismatch: r.accept_issuer_mismatch,
                allow_pkce_unadvertised: r.allow_pkce_unadvertised,
                omit_resource: r.omit_resource,
                allow_cross_origin_endpoints: r.allow_cross_origin_endpoints,
            })
            .unwrap_or_default(),
        dpop: match c.dpop {
            None | Some(wit::DpopMode::Auto) => core::DpopMode::Auto,
            Some(wit::DpopMode::Always) => core::DpopMode::Always,
            Some(wit::DpopMode::Never) => core::DpopMode::Never,
        },
        timeout_ms: c.timeout_ms,
        host_renews: c.host_renews.unwrap_or(false),
        host_timeouts: c.host_timeouts.unwrap_or(false),
    }
}

fn step(s: core::Step) -> wit::Step {
    use core::Step as S;
    match s {
        S::ProtectedResourceMetadata => wit::Step::ProtectedResourceMetadata,
        S::AuthorizationServerMetadata => wit::Step::AuthorizationServerMetadata,
        S::Registration => wit::Step::Registration,
        S::Authorization => wit::Step::Authorization,
        S::Token => wit::Step::Token,
        S::Resource => wit::Step::Resource,
    }
}

/// Core token info → WIT.
pub fn token_info(t: core::TokenInfo) -> wit::TokenInfo {
    wit::TokenInfo {
        resource: t.resource,
        issuer: t.issuer,
        token_type: t.token_type.as_str().into(),
        expires_at: t.expires_at,
        scope: t.scope,
        has_refresh_token: t.has_refresh_token,
    }
}

fn pending(p: core::PendingAuthorization) -> wit::PendingAuthorization {
    wit::PendingAuthorization {
        authorization_url: p.authorization_url,
        state: p.state,
        redirect_uri: p.redirect_uri,
        issuer: p.issuer,
        resource: p.resource,
    }
}

/// Core grant → WIT.
pub fn grant(g: core::Grant) -> wit::Grant {
    match g {
        core::Grant::Authorized(t) => wit::Grant::Authorized(token_info(t)),
        core::Grant::Redirect(p) => wit::Grant::Redirect(pending(p)),
    }
}

/// Core event → WIT.
pub fn event(e: core::FlowEvent) -> wit::FlowEvent {
    wit::FlowEvent {
        step: step(e.step),
        method: e.method.to_string(),
        url: e.url,
        status: e.status,
    }
}

fn mismatch(m: Mismatch) -> wit::Mismatch {
    wit::Mismatch {
        url: m.url,
        expected: m.expected,
        found: m.found,
    }
}

fn oauth(o: OAuthFailure) -> wit::OauthFailure {
    wit::OauthFailure {
        step: step(o.step),
        url: o.url,
        status: o.status,
        error: o.error,
        error_description: o.error_description,
        error_uri: o.error_uri,
    }
}

fn attempts(a: Vec<Attempt>) -> Vec<wit::DiscoveryAttempt> {
    a.into_iter()
        .map(|a| wit::DiscoveryAttempt {
            url: a.url,
            status: a.status,
        })
        .collect()
}

/// Core error → WIT error, case for case.
#[inline(never)]
pub fn error(e: core::Error) -> wit::AuthError {
    use core::Error as E;
    use wit::AuthError as W;
    match e {
        // A `client` resource is configured when it exists.
        E::InvalidArgument(m) => W::InvalidArgument(m),
        E::InsecureUrl(u) => W::InsecureUrl(u),
        E::Transport {
            step: s,
            url,
            message,
        } => W::Transport(wit::TransportFailure {
            step: step(s),
            url,
            message,
        }),
        E::ResponseRefused {
            step: s,
            url,
            status,
            detail,
        } => W::ResponseRefused(wit::ResponseRefusal {
            step: step(s),
            url,
            status,
            detail,
        }),
        E::UnexpectedStatus {
            step: s,
            url,
            status,
            body_excerpt,
        } => W::UnexpectedStatus(wit::StatusFailure {
            step: step(s),
            url,
            status,
            body_excerpt,
        }),
        E::InvalidResponse {
            step: s,
            url,
            reason,
        } => W::InvalidResponse(wit::InvalidResponse {
            step: step(s),
            url,
            reason,
        }),
        E::NoResourceMetadata(a) => W::NoResourceMetadata(attempts(a)),
        E::NoAuthorizationServerMetadata(a) => W::NoAuthorizationServerMetadata(attempts(a)),
        E::ResourceMismatch(m) => W::ResourceMismatch(mismatch(m)),
        E::IssuerMismatch(m) => W::IssuerMismatch(mismatch(m)),
        E::CredentialIssuerMismatch(m) => W::CredentialIssuerMismatch(mismatch(m)),
        E::PkceUnsupported(u) => W::PkceUnsupported(u),
        E::ClientIdRequired(i) => W::ClientIdRequired(i),
        E::RegistrationRejected(o) => W::RegistrationRejected(oauth(o)),
        E::StateMismatch => W::StateMismatch,
        E::IssMissing(i) => W::IssMissing(i),
        E::IssMismatch(m) => W::IssMismatch(mismatch(m)),
        E::AuthorizationDenied(o) => W::AuthorizationDenied(oauth(o)),
        E::TokenRejected(o) => W::TokenRejected(oauth(o)),
        E::AuthorizationRequired(p) => W::AuthorizationRequired(pending(p)),
        E::RenewalRequired(u) => W::RenewalRequired(u),
        E::StillUnauthorized {
            url,
            status,
            body_excerpt,
        } => W::StillUnauthorized(wit::StatusFailure {
            step: wit::Step::Resource,
            url,
            status,
            body_excerpt,
        }),
        // The core's errors are `#[non_exhaustive]`; a case this guest does
        // not know yet is reported by its description, never dropped.
        other => W::InvalidArgument(other.to_string()),
    }
}

/// A refused argument (a configuration value, a state document).
pub fn refused(e: mcp_oauth_core::Refused) -> wit::AuthError {
    wit::AuthError::InvalidArgument(e.0)
}

/// What a client's state holds.
pub fn summary(s: mcp_oauth_core::Summary) -> wit::StateSummary {
    wit::StateSummary {
        servers: s
            .servers
            .into_iter()
            .map(|e| wit::ServerEntry {
                server: e.server,
                resource: e.resource,
                issuer: e.issuer,
            })
            .collect(),
        tokens: s
            .tokens
            .into_iter()
            .map(|t| wit::TokenEntry {
                token: token_info(t.token),
                grant_type: t.grant_type.map(|g| g.as_str().into()),
            })
            .collect(),
        clients: s
            .clients
            .into_iter()
            .map(|c| wit::ClientEntry {
                issuer: c.issuer,
                client_id: c.client_id,
                auth_method: c.auth_method,
                has_secret: c.has_secret,
                redirect_uri: c.redirect_uri,
                secret_expires_at: c.secret_expires_at,
            })
            .collect(),
        metadata: s
            .metadata
            .into_iter()
            .map(|(issuer, fetched_at)| wit::MetadataEntry { issuer, fetched_at })
            .collect(),
        has_dpop_key: s.has_dpop_key,
    }
}
