//! What the client keeps between calls, serialisable as a versioned document:
//! clients per authorization server issuer, tokens per (resource, issuer),
//! which server uses which resource and issuer, and discovered metadata.

use crate::config::{GrantKind, Secret, TokenType};
use crate::discovery::AuthServerMetadata;
use crate::prelude::*;
use crate::strict_json;
use core::fmt;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The state document's format version.
pub const STATE_VERSION: u32 = 2;

/// How discovered authorization server metadata may be reused, in seconds.
pub const METADATA_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// A map from string keys, kept sorted by key. It holds a handful of entries
/// (issuers, servers): sorted `Vec`s are as fast as a tree and much smaller.
#[derive(Clone, PartialEq, Eq)]
pub struct Map<V> {
    keys: Vec<String>,
    values: Vec<V>,
}

/// Where `key` is, or would be inserted, in sorted `keys`.
fn find(keys: &[String], key: &str) -> Result<usize, usize> {
    keys.binary_search_by(|k| k.as_str().cmp(key))
}

impl<V> Map<V> {
    /// An empty map.
    pub const fn new() -> Self {
        Map {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        find(&self.keys, key).ok().map(|i| &self.values[i])
    }

    /// Sets the value for `key`, returning the one it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match find(&self.keys, &key) {
            Ok(i) => Some(core::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, value);
                None
            }
        }
    }

    /// Removes and returns the value for `key`.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = find(&self.keys, key).ok()?;
        self.keys.remove(i);
        Some(self.values.remove(i))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.keys.iter()
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.values.iter()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.keys.iter().zip(&self.values)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A JSON object of the entries, in key order.
impl<V: Serialize> Serialize for Map<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// From a JSON object (whose names [`strict_json`] has made unique).
impl<'de, V: Deserialize<'de>> Deserialize<'de> for Map<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<V>(core::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Map<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map<V>, A::Error> {
                let mut map = Map::new();
                while let Some((k, v)) = access.next_entry::<String, V>()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Entries(core::marker::PhantomData))
    }
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map::new()
    }
}

impl<V: fmt::Debug> fmt::Debug for Map<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> FromIterator<(String, V)> for Map<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

/// Client authentication at the token endpoint (RFC 7591 §2), written as
/// its RFC 7591 name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Public client: `client_id` in the body.
    None,
    /// HTTP Basic with the form-urlencoded id and secret (OAuth 2.1 §2.4.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// RFC 7523 §2.2: a JWT signed with the client's private key (ES256).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses an RFC 7591 name this client implements.
    pub fn from_name(name: &str) -> Option<AuthMethod> {
        match name {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }
}

/// A client identity at one authorization server (a member of the state
/// document's `clients`; absent members left out).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// The secret, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret")]
    pub client_secret: Option<Secret>,
    /// How to authenticate at the token endpoint.
    pub auth_method: AuthMethod,
    /// The redirect URI it was registered with.
    pub redirect_uri: String,
    /// When the secret expires (RFC 7591 `client_secret_expires_at`; 0 or
    /// absent = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<u64>,
    /// For a dynamically registered client, the scope it registered with
    /// (RFC 7591 §2), which some servers restrict it to: a request for more
    /// registers anew. `None`: not registered here, or without a scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_scope: Option<String>,
}

/// A token for one resource from one issuer (an item of the state
/// document's `tokens`; absent members left out).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// The RFC 8707 resource it was requested for.
    pub resource: String,
    /// The issuer that issued it.
    pub issuer: String,
    /// The access token.
    #[serde(with = "secret::required")]
    pub access_token: Secret,
    /// `Bearer` or `DPoP`.
    pub token_type: TokenType,
    /// Absolute expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When it was received, seconds since the Unix epoch: with
    /// `expires_at`, its lifetime, which sets how early it is renewed
    /// (version 2; absent in older documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<u64>,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret")]
    pub refresh_token: Option<Secret>,
    /// The granted scope (or the requested one when the server did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The token endpoint that issued it: where it is refreshed (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The grant that obtained it (`authorization_code`, `client_credentials`,
    /// …), so that a token without a refresh token can be obtained again the
    /// same way (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<GrantKind>,
}

/// The most seconds before expiry at which a token counts as stale and is
/// renewed before use, so that it does not expire in flight. A token whose
/// lifetime is known is renewed a tenth of that lifetime early, at most this
/// much: an hour-long token a minute early, a 3-second one when it expires.
/// A refresh for every request would burn rotating refresh tokens, and
/// rotation-strict servers revoke a whole token family over bursts of them.
pub const REFRESH_SKEW_SECS: u64 = 60;

impl TokenRecord {
    /// Whether the token is past its expiry at `now` (unknown expiry: no).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// How many seconds before its expiry the token is renewed: a tenth of
    /// its lifetime, at most [`REFRESH_SKEW_SECS`]; that maximum when the
    /// lifetime is unknown.
    pub fn refresh_skew(&self) -> u64 {
        match (self.issued_at, self.expires_at) {
            (Some(issued), Some(expires)) => {
                (expires.saturating_sub(issued) / 10).min(REFRESH_SKEW_SECS)
            }
            _ => REFRESH_SKEW_SECS,
        }
    }

    /// Whether the token expires within [`TokenRecord::refresh_skew`] of
    /// `now`.
    pub fn is_stale(&self, now: u64) -> bool {
        self.expires_at
            .is_some_and(|t| t <= now.saturating_add(self.refresh_skew()))
    }
}

/// Which resource and authorization server a server URL was found to use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Binding {
    /// The resource identifier from its metadata.
    pub resource: String,
    /// The issuer chosen.
    pub issuer: String,
}

/// Metadata with the time it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CachedMetadata {
    /// The validated metadata.
    pub metadata: AuthServerMetadata,
    /// When it was fetched, seconds since the Unix epoch.
    pub fetched_at: u64,
}

/// Everything the client keeps: the state document, members in this order
/// (`dpop_key` and `credential_issuers` only when present).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Store {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Client identities per issuer. Never presented to another issuer.
    #[serde(default)]
    pub clients: Map<ClientRecord>,
    /// Tokens, at most one per (resource, issuer).
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
    /// Server URL → resource and issuer.
    #[serde(default)]
    pub bindings: Map<Binding>,
    /// Authorization server metadata per issuer.
    #[serde(default)]
    pub metadata: Map<CachedMetadata>,
    /// The P-256 key DPoP-bound tokens are bound to (RFC 9449), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret")]
    pub dpop_key: Option<Secret>,
    /// The issuer each configured credential (by
    /// [`crate::Config::credential_label`]) was first used with: it is
    /// never sent to another (security review finding 1).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub credential_issuers: Map<String>,
}

/// `#[serde(with)]` for the secrets the state document holds as plain
/// strings ([`Secret`] itself has no `Serialize`: nothing else writes one).
mod secret {
    use super::*;

    pub fn serialize<S: Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_str(s.expose()),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }

    /// For a secret that must be there.
    pub mod required {
        use super::*;

        pub fn serialize<S: Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
            ser.serialize_str(s.expose())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
            String::deserialize(d).map(Secret::new)
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            version: STATE_VERSION,
            clients: Map::new(),
            tokens: Vec::new(),
            bindings: Map::new(),
            metadata: Map::new(),
            dpop_key: None,
            credential_issuers: Map::new(),
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

    /// Metadata for `issuer` if fetched less than `METADATA_MAX_AGE_SECS` ago.
    pub fn fresh_metadata(&self, issuer: &str, now: u64) -> Option<&AuthServerMetadata> {
        self.metadata
            .get(issuer)
            .filter(|c| {
                now.saturating_sub(c.fetched_at) < METADATA_MAX_AGE_SECS && c.fetched_at <= now
            })
            .map(|c| &c.metadata)
    }

    /// Keeps `metadata` for `issuer`, fetched at `now`.
    pub(crate) fn cache_metadata(
        &mut self,
        issuer: String,
        metadata: AuthServerMetadata,
        now: u64,
    ) {
        let cached = CachedMetadata {
            metadata,
            fetched_at: now,
        };
        self.metadata.insert(issuer, cached);
    }

    /// Serialises the store as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        strict_json::to_vec(self)
    }

    /// Every URL the document holds that a request or a user may be sent to
    /// (endpoints of tokens and cached metadata, redirect URIs) passes the URL
    /// policy, as when it was discovered: a document edited by someone else
    /// cannot send a refresh token or a code to a plain-http or userinfo
    /// URL (security review finding 7).
    fn check_urls(&self) -> Result<(), String> {
        let check = |what: &str, url: &str| -> Result<(), String> {
            let ok = crate::url::Url::parse(url)
                .is_ok_and(|u| u.is_https_or_loopback_http() && !u.has_userinfo());
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{what} {url:?} is not an https (or loopback http) URL"
                ))
            }
        };
        for t in &self.tokens {
            if let Some(e) = &t.token_endpoint {
                check("a token's token_endpoint", e)?;
            }
        }
        for m in self.metadata.values() {
            let endpoints = [
                &m.metadata.authorization_endpoint,
                &m.metadata.token_endpoint,
                &m.metadata.registration_endpoint,
            ];
            for e in endpoints.into_iter().flatten() {
                check("a cached endpoint", e)?;
            }
        }
        for c in self.clients.values() {
            check("a client's redirect_uri", &c.redirect_uri)?;
        }
        Ok(())
    }

    /// Reads a document written by [`Store::to_bytes`] of this or an older
    /// version. Unknown members are ignored; URLs are checked again
    /// (`check_urls`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Store, crate::error::Refused> {
        let invalid =
            |e: String| crate::error::Refused(format!("state is not a valid state document: {e}"));
        let doc = strict_json::parse_object(bytes).map_err(invalid)?;
        // The version first: a newer document is refused as such, whatever
        // its other members hold.
        #[derive(serde::Deserialize)]
        struct Version {
            version: u64,
        }
        let Version { version } =
            strict_json::from_value(&doc).map_err(|e| invalid(e.to_string()))?;
        if version == 0 || version > u64::from(STATE_VERSION) {
            return Err(crate::error::Refused(format!(
                "state version {version} is not supported (this component reads 1..={STATE_VERSION})"
            )));
        }
        let mut store: Store = strict_json::from_value(&doc).map_err(|e| invalid(e.to_string()))?;
        // Upgraded as it is read.
        store.version = STATE_VERSION;
        store.check_urls().map_err(invalid)?;
        Ok(store)
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
            token_type: TokenType::Bearer,
            expires_at: Some(100),
            issued_at: None,
            refresh_token: None,
            scope: None,
            token_endpoint: None,
            grant_type: None,
        }
    }

    #[test]
    fn tokens_are_renewed_early_in_proportion_to_their_lifetime() {
        // A 3-second token (oidc-provider in tests) is used until it
        // expires: with the fixed 60 s skew it was stale on arrival, and
        // every request redeemed the refresh token again.
        let mut t = token("r", "i", "a");
        (t.issued_at, t.expires_at) = (Some(1_000), Some(1_003));
        assert_eq!(t.refresh_skew(), 0);
        assert!(!t.is_stale(1_000) && !t.is_stale(1_002));
        assert!(t.is_stale(1_003));
        // Two minutes: 12 s early.
        (t.issued_at, t.expires_at) = (Some(0), Some(120));
        assert!(!t.is_stale(107) && t.is_stale(108));
        // An hour: a minute early, never more.
        (t.issued_at, t.expires_at) = (Some(0), Some(3_600));
        assert!(!t.is_stale(3_539) && t.is_stale(3_540));
        (t.issued_at, t.expires_at) = (Some(0), Some(86_400));
        assert_eq!(t.refresh_skew(), REFRESH_SKEW_SECS);
        // Unknown lifetime (older documents): the full minute.
        (t.issued_at, t.expires_at) = (None, Some(100));
        assert!(!t.is_stale(39) && t.is_stale(40));
        // The issue time survives export and import.
        (t.issued_at, t.expires_at) = (Some(7), Some(10));
        let back: TokenRecord = strict_json::from_slice(&strict_json::to_vec(&t)).unwrap();
        assert_eq!(back, t);
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
            Err(crate::error::Refused(_))
        ));
        assert!(matches!(
            Store::from_bytes(b"garbage"),
            Err(crate::error::Refused(_))
        ));
        assert!(Store::from_bytes(br#"{"version":1}"#).is_ok());
    }

    /// A document written by the first serde-based implementation (before
    /// the core had its own JSON module for a while), byte for byte.
    const V1_DOCUMENT: &str = r#"{"version":1,"clients":{"https://a2.example.com/t":{"client_id":"pub","auth_method":"none","redirect_uri":"http://127.0.0.1:8976/callback"},"https://as.example.com":{"client_id":"cid","client_secret":"csecret","auth_method":"client_secret_basic","redirect_uri":"http://127.0.0.1:8976/callback","secret_expires_at":1900000000}},"tokens":[{"resource":"https://mcp.example.com/mcp","issuer":"https://as.example.com","access_token":"AT \"q\" \\ é","token_type":"Bearer","expires_at":1800003600,"refresh_token":"RT","scope":"mcp:basic mcp:read"},{"resource":"https://mcp2.example.com","issuer":"https://a2.example.com/t","access_token":"AT2","token_type":"Bearer"}],"bindings":{"https://mcp.example.com/mcp":{"resource":"https://mcp.example.com/mcp","issuer":"https://as.example.com"},"https://mcp2.example.com/x?y=1":{"resource":"https://mcp2.example.com","issuer":"https://a2.example.com/t"}},"metadata":{"https://a2.example.com/t":{"metadata":{"issuer":"https://a2.example.com/t","authorization_endpoint":"https://a2.example.com/t/a","token_endpoint":"https://a2.example.com/t/tok","code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":false},"fetched_at":1799999999},"https://as.example.com":{"metadata":{"issuer":"https://as.example.com","authorization_endpoint":"https://as.example.com/authorize","token_endpoint":"https://as.example.com/token","registration_endpoint":"https://as.example.com/register","response_types_supported":["code"],"code_challenge_methods_supported":["S256"],"token_endpoint_auth_methods_supported":["none","client_secret_basic"],"scopes_supported":["mcp:basic","mcp:read"],"authorization_response_iss_parameter_supported":true},"fetched_at":1800000000}}}"#;

    #[test]
    fn reads_documents_written_by_version_1() {
        let s = Store::from_bytes(V1_DOCUMENT.as_bytes()).unwrap();
        // Upgraded as it is read.
        assert_eq!(s.version, STATE_VERSION);
        assert_eq!(s.clients.len(), 2);
        let c = s.clients.get("https://as.example.com").unwrap();
        assert_eq!(c.client_id, "cid");
        assert_eq!(c.client_secret.as_ref().unwrap().expose(), "csecret");
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(c.redirect_uri, "http://127.0.0.1:8976/callback");
        assert_eq!(c.secret_expires_at, Some(1_900_000_000));
        let c = s.clients.get("https://a2.example.com/t").unwrap();
        assert_eq!(c.auth_method, AuthMethod::None);
        assert!(c.client_secret.is_none() && c.secret_expires_at.is_none());
        let t = s
            .token("https://mcp.example.com/mcp", "https://as.example.com")
            .unwrap();
        assert_eq!(t.access_token.expose(), "AT \"q\" \\ é");
        assert_eq!(t.token_type, TokenType::Bearer);
        assert_eq!(t.expires_at, Some(1_800_003_600));
        assert_eq!(t.refresh_token.as_ref().unwrap().expose(), "RT");
        assert_eq!(t.scope.as_deref(), Some("mcp:basic mcp:read"));
        let t = s
            .token("https://mcp2.example.com", "https://a2.example.com/t")
            .unwrap();
        assert_eq!(t.access_token.expose(), "AT2");
        assert!(t.expires_at.is_none() && t.refresh_token.is_none() && t.scope.is_none());
        assert_eq!(s.tokens.len(), 2);
        let b = s.bindings.get("https://mcp2.example.com/x?y=1").unwrap();
        assert_eq!(b.resource, "https://mcp2.example.com");
        assert_eq!(b.issuer, "https://a2.example.com/t");
        assert_eq!(s.bindings.len(), 2);
        let m = s
            .fresh_metadata("https://as.example.com", 1_800_000_100)
            .unwrap();
        assert_eq!(m.issuer, "https://as.example.com");
        for (endpoint, expected) in [
            (
                &m.authorization_endpoint,
                "https://as.example.com/authorize",
            ),
            (&m.token_endpoint, "https://as.example.com/token"),
            (&m.registration_endpoint, "https://as.example.com/register"),
        ] {
            assert_eq!(endpoint.as_deref(), Some(expected));
        }
        assert_eq!(
            m.response_types_supported.as_deref(),
            Some(&["code".to_string()][..])
        );
        assert!(m.supports_s256());
        assert_eq!(
            m.token_endpoint_auth_methods_supported.as_deref(),
            Some(&["none".to_string(), "client_secret_basic".to_string()][..])
        );
        assert_eq!(m.scopes_supported.as_ref().map(Vec::len), Some(2));
        assert!(m.authorization_response_iss_parameter_supported);
        let m = &s.metadata.get("https://a2.example.com/t").unwrap();
        assert_eq!(m.fetched_at, 1_799_999_999);
        assert!(m.metadata.registration_endpoint.is_none());
        assert!(m.metadata.scopes_supported.is_none());
        assert!(!m.metadata.authorization_response_iss_parameter_supported);
        // Written back identically.
        // Written back as version 2, otherwise identical.
        assert_eq!(
            String::from_utf8(s.to_bytes()).unwrap(),
            V1_DOCUMENT.replacen(r#"{"version":1,"#, r#"{"version":2,"#, 1)
        );
    }

    fn state_error(doc: &str) -> String {
        match Store::from_bytes(doc.as_bytes()) {
            Err(crate::error::Refused(m)) => m,
            other => panic!("{doc}: {other:?}"),
        }
    }

    #[test]
    fn bad_state_documents_are_invalid_arguments() {
        for (doc, needle) in [
            ("", "at byte 0"),
            ("[]", "not a JSON object"),
            ("{}", "version is missing"),
            (r#"{"version":"1"}"#, "version"),
            (r#"{"version":0}"#, "state version 0"),
            (r#"{"version":3}"#, "state version 3"),
            (r#"{"version":4294967297}"#, "state version 4294967297"),
            (r#"{"version":1,"clients":null}"#, "clients"),
            (r#"{"version":1,"clients":[]}"#, "clients"),
            (r#"{"version":1,"tokens":{}}"#, "tokens"),
            (
                r#"{"version":1,"clients":{"i":{"client_id":"c","auth_method":"tls_client_auth","redirect_uri":"r"}}}"#,
                "auth_method",
            ),
            (
                r#"{"version":1,"clients":{"i":{"client_id":"c","auth_method":"none"}}}"#,
                "redirect_uri",
            ),
            (
                r#"{"version":1,"tokens":[{"resource":"r","issuer":"i","token_type":"Bearer"}]}"#,
                "access_token",
            ),
            (
                r#"{"version":1,"tokens":[{"resource":"r","issuer":"i","access_token":"a","token_type":"Bearer","expires_at":-1}]}"#,
                "expires_at",
            ),
            (
                r#"{"version":2,"tokens":[{"resource":"r","issuer":"i","access_token":"a","token_type":"mac"}]}"#,
                "token_type",
            ),
            (
                r#"{"version":2,"tokens":[{"resource":"r","issuer":"i","access_token":"a","token_type":"Bearer","grant_type":"password"}]}"#,
                "grant_type",
            ),
            (
                r#"{"version":1,"bindings":{"s":{"resource":"r"}}}"#,
                "issuer",
            ),
            (
                r#"{"version":1,"metadata":{"i":{"metadata":{"issuer":"i"}}}}"#,
                "fetched_at",
            ),
            (
                r#"{"version":1,"metadata":{"i":{"metadata":{},"fetched_at":1}}}"#,
                "issuer",
            ),
            (r#"{"version":1,"version":1}"#, "duplicate"),
        ] {
            let m = state_error(doc);
            assert!(m.contains(needle), "{doc}: {m}");
        }
        // Unknown members (a newer writer's additions) are ignored.
        let s = Store::from_bytes(br#"{"version":1,"future":{"x":[1.5]},"tokens":[]}"#).unwrap();
        assert_eq!(s, Store::default());
    }

    #[test]
    fn maps_stay_sorted_and_documents_are_stable() {
        let mut s = Store::default();
        for key in ["https://c", "https://a", "https://b", "https://a"] {
            s.bindings.insert(
                key.into(),
                Binding {
                    resource: format!("{key}/r"),
                    issuer: "i".into(),
                },
            );
        }
        assert_eq!(s.bindings.len(), 3);
        let keys: Vec<&String> = s.bindings.keys().collect();
        assert_eq!(keys, ["https://a", "https://b", "https://c"]);
        assert_eq!(s.bindings.get("https://b").unwrap().resource, "https://b/r");
        assert!(s.bindings.get("https://d").is_none());
        let back = Store::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(
            s.bindings.remove("https://b").map(|b| b.resource),
            Some("https://b/r".to_string())
        );
        assert!(s.bindings.remove("https://b").is_none());
        assert_eq!(
            format!("{:?}", s.bindings),
            r#"{"https://a": Binding { resource: "https://a/r", issuer: "i" }, "https://c": Binding { resource: "https://c/r", issuer: "i" }}"#
        );
        let m: Map<u64> = [("b".to_string(), 2), ("a".to_string(), 1)]
            .into_iter()
            .collect();
        assert_eq!(m.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [1, 2]);
        assert!(!m.is_empty() && Map::<u64>::new().is_empty());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut s = Store::default();
        s.put_token(token("r", "i", "secret-token"));
        s.clients.insert(
            "i".into(),
            ClientRecord {
                client_id: "c".into(),
                client_secret: Some(Secret::new("client-secret")),
                auth_method: AuthMethod::ClientSecretPost,
                redirect_uri: "r".into(),
                secret_expires_at: None,
                registered_scope: None,
            },
        );
        let text = format!("{s:?}");
        assert!(!text.contains("secret-token") && !text.contains("client-secret"));
        assert!(text.contains("Secret(<redacted>)"));
    }

    #[test]
    fn expiry() {
        let t = token("r", "i", "a");
        assert!(!t.is_expired(99));
        assert!(t.is_expired(100));
    }
}
