//! Client configuration and the secret wrapper.

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

/// How the client identifies itself and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `client_name` for registration.
    pub client_name: String,
    /// The redirect URI (https, or http on loopback).
    pub redirect_uri: String,
    /// A pre-registered client id.
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    pub client_secret: Option<Secret>,
    /// A scope that replaces the automatic choice.
    pub scope: Option<String>,
    /// Time limit per HTTP step, milliseconds.
    pub timeout_ms: u32,
}

impl Config {
    /// A configuration with defaults for everything but name and redirect URI.
    pub fn new(client_name: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        Config {
            client_name: client_name.into(),
            redirect_uri: redirect_uri.into(),
            client_id: None,
            client_secret: None,
            scope: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
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
        if self.timeout_ms == 0 {
            return Err(InvalidArgument("timeout-ms must be positive".into()));
        }
        Ok(())
    }
}
