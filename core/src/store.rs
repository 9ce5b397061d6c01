//! What the client keeps between calls, serialisable as a versioned document:
//! clients per authorization server issuer, tokens per (resource, issuer),
//! which server uses which resource and issuer, and discovered metadata.

use crate::config::Secret;
use crate::discovery::AuthServerMetadata;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state document's format version.
pub const STATE_VERSION: u32 = 1;

/// How discovered authorization server metadata may be reused, in seconds.
pub const METADATA_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// Client authentication at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Public client: `client_id` in the body.
    None,
    /// HTTP Basic with the form-urlencoded id and secret (OAuth 2.1 §2.4.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses an RFC 7591 name this client implements.
    pub fn from_name(name: &str) -> Option<AuthMethod> {
        match name {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }
}

/// A client identity at one authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// The secret, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// How to authenticate at the token endpoint.
    pub auth_method: AuthMethod,
    /// The redirect URI it was registered with.
    pub redirect_uri: String,
    /// When the secret expires (RFC 7591 `client_secret_expires_at`; 0 or
    /// absent = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<u64>,
}

/// A token for one resource from one issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The RFC 8707 resource it was requested for.
    pub resource: String,
    /// The issuer that issued it.
    pub issuer: String,
    /// The access token.
    pub access_token: Secret,
    /// `Bearer`.
    pub token_type: String,
    /// Absolute expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The granted scope (or the requested one when the server did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl TokenRecord {
    /// Whether the token is past its expiry at `now` (unknown expiry: no).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// Which resource and authorization server a server URL was found to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The resource identifier from its metadata.
    pub resource: String,
    /// The issuer chosen.
    pub issuer: String,
}

/// Metadata with the time it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedMetadata {
    /// The validated metadata.
    pub metadata: AuthServerMetadata,
    /// When it was fetched, seconds since the Unix epoch.
    pub fetched_at: u64,
}

/// Everything the client keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Client identities per issuer. Never presented to another issuer.
    #[serde(default)]
    pub clients: BTreeMap<String, ClientRecord>,
    /// Tokens, at most one per (resource, issuer).
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
    /// Server URL → resource and issuer.
    #[serde(default)]
    pub bindings: BTreeMap<String, Binding>,
    /// Authorization server metadata per issuer.
    #[serde(default)]
    pub metadata: BTreeMap<String, CachedMetadata>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            version: STATE_VERSION,
            clients: BTreeMap::new(),
            tokens: Vec::new(),
            bindings: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }
}

impl Store {
    /// The token for (resource, issuer).
    pub fn token(&self, resource: &str, issuer: &str) -> Option<&TokenRecord> {
        self.tokens
            .iter()
            .find(|t| t.resource == resource && t.issuer == issuer)
    }

    /// Stores a token, replacing the one for the same (resource, issuer).
    pub fn put_token(&mut self, token: TokenRecord) {
        self.remove_token(&token.resource.clone(), &token.issuer.clone());
        self.tokens.push(token);
    }

    /// Forgets the token for (resource, issuer).
    pub fn remove_token(&mut self, resource: &str, issuer: &str) {
        self.tokens
            .retain(|t| !(t.resource == resource && t.issuer == issuer));
    }

    /// Metadata for `issuer` if fetched less than [`METADATA_MAX_AGE_SECS`] ago.
    pub fn fresh_metadata(&self, issuer: &str, now: u64) -> Option<&AuthServerMetadata> {
        self.metadata
            .get(issuer)
            .filter(|c| {
                now.saturating_sub(c.fetched_at) < METADATA_MAX_AGE_SECS && c.fetched_at <= now
            })
            .map(|c| &c.metadata)
    }

    /// Serialises the store as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A Store holds only strings, numbers and maps with string keys:
        // serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a document written by [`Store::to_bytes`] of this or an older
    /// version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Store, crate::Error> {
        let store: Store = serde_json::from_slice(bytes).map_err(|e| {
            crate::Error::InvalidArgument(format!("state is not a valid state document: {e}"))
        })?;
        if store.version == 0 || store.version > STATE_VERSION {
            return Err(crate::Error::InvalidArgument(format!(
                "state version {} is not supported (this component reads 1..={STATE_VERSION})",
                store.version
            )));
        }
        Ok(Store {
            version: STATE_VERSION,
            ..store
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(resource: &str, issuer: &str, at: &str) -> TokenRecord {
        TokenRecord {
            resource: resource.into(),
            issuer: issuer.into(),
            access_token: Secret::new(at),
            token_type: "Bearer".into(),
            expires_at: Some(100),
            refresh_token: None,
            scope: None,
        }
    }

    #[test]
    fn tokens_are_keyed_by_resource_and_issuer() {
        // spec-checklist 94
        let mut s = Store::default();
        s.put_token(token("r", "i1", "a"));
        s.put_token(token("r", "i2", "b"));
        s.put_token(token("r", "i1", "c"));
        assert_eq!(s.tokens.len(), 2);
        assert_eq!(s.token("r", "i1").unwrap().access_token.expose(), "c");
        assert_eq!(s.token("r", "i2").unwrap().access_token.expose(), "b");
        assert!(s.token("other", "i1").is_none());
    }

    #[test]
    fn round_trip_and_version_check() {
        let mut s = Store::default();
        s.put_token(token("r", "i", "secret-token"));
        let back = Store::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert!(matches!(
            Store::from_bytes(br#"{"version":99}"#),
            Err(crate::Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Store::from_bytes(b"garbage"),
            Err(crate::Error::InvalidArgument(_))
        ));
        assert!(Store::from_bytes(br#"{"version":1}"#).is_ok());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut s = Store::default();
        s.put_token(token("r", "i", "secret-token"));
        assert!(!format!("{s:?}").contains("secret-token"));
    }

    #[test]
    fn expiry() {
        let t = token("r", "i", "a");
        assert!(!t.is_expired(99));
        assert!(t.is_expired(100));
    }
}
