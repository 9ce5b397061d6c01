//! Mock servers for tests and the demo: an MCP server (Streamable HTTP,
//! protected by OAuth), its authorization server and an enterprise identity
//! provider (SEP-990 token exchange), all on 127.0.0.1 with ephemeral ports.
//! A [`Behaviour`] switches on misbehaviours and optional features (2025-03-26
//! legacy discovery, client ID metadata documents, grants without a user,
//! DPoP); the default is a correct, well-behaved world.
//!
//! The mocks are strict: what a real server refuses, they refuse — client
//! assertions and DPoP proofs are verified with the `p256` crate (signature,
//! claims, replay), DPoP-bound tokens only work with a proof of their key.
//!
//! Every request any of the servers receives is recorded in a log that tests can
//! inspect ([`MockWorld::log`]). That log holds request bodies verbatim —
//! codes, verifiers and tokens included — and is the only place the mocks
//! keep them.

mod access;
mod auth;
mod idp;
mod jose;
mod resource;
mod util;

#[cfg(test)]
mod grant_tests;
#[cfg(test)]
mod tests;

pub use jose::{base64url_decode, jwk_of, key_from_jwk, thumbprint, Jws, TestKey};
pub use p256::ecdsa::VerifyingKey;
pub use util::{form_decode, form_encode, s256};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body the mocks read.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// Which mock server received a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The MCP server (resource server).
    Mcp,
    /// The authorization server.
    AuthorizationServer,
    /// The enterprise identity provider (its token endpoint).
    IdentityProvider,
}

/// One request a mock server received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// The server that received it.
    pub server: Server,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (lossily decoded as UTF-8).
    pub body: String,
}

/// The values of header `name` (in any case) among `headers`, in order.
fn header_values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl LoggedRequest {
    /// The first value of a header (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(&self.headers, name).next()
    }

    /// The decoded query parameters, in order.
    pub fn query_params(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(form_decode).unwrap_or_default()
    }

    /// The decoded form-body parameters, in order.
    pub fn form_params(&self) -> Vec<(String, String)> {
        form_decode(&self.body)
    }
}

/// How the authorization server treats the `iss` parameter of the
/// authorization response (RFC 9207).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IssMode {
    /// Send `iss` equal to the issuer.
    #[default]
    Correct,
    /// Leave `iss` out.
    Omit,
    /// Send this value as `iss`.
    Wrong(String),
}

/// A 2025-03-26 MCP server: no protected resource metadata; the
/// authorization server is the MCP server's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// Authorization server metadata at the origin's
    /// `/.well-known/oauth-authorization-server`.
    OriginMetadata,
    /// No metadata at all: `/authorize`, `/token` and `/register` at the
    /// origin.
    NoMetadata,
}

/// How a server asks for DPoP nonces (RFC 9449 §8 at the token endpoint,
/// §9 at the MCP server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonceMode {
    /// No nonce needed.
    #[default]
    Off,
    /// One nonce, sent with the first `use_dpop_nonce` refusal; every proof
    /// must carry it.
    Required,
    /// As `Required`, and every successful response (at the MCP endpoint or
    /// the token endpoint) carries a new nonce that the next proof must use.
    Rotating,
    /// Every request is refused with a new nonce (a broken server).
    Churn,
}

impl NonceMode {
    /// Judges the `nonce` of a proof against the server's `current` one:
    /// `None` when it is acceptable, else the nonce to demand — the current
    /// one, or `None` inside when a new one must be made.
    pub(crate) fn demand(
        self,
        current: Option<&str>,
        presented: Option<&str>,
    ) -> Option<Option<String>> {
        match (self, current) {
            (NonceMode::Off, _) => None,
            (NonceMode::Required | NonceMode::Rotating, Some(n)) if presented == Some(n) => None,
            (NonceMode::Required | NonceMode::Rotating, Some(n)) => Some(Some(n.to_string())),
            (NonceMode::Required | NonceMode::Rotating | NonceMode::Churn, _) => Some(None),
        }
    }
}

/// How a pre-registered client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client (`none`).
    None,
    /// `client_secret_basic` with this secret.
    SecretBasic(String),
    /// `client_secret_post` with this secret.
    SecretPost(String),
    /// `private_key_jwt` (RFC 7523 §2.2) with ES256 under this key.
    PrivateKeyJwt(VerifyingKey),
}

/// Switches for the mocks' behaviour. [`Behaviour::default`] is a correct,
/// well-behaved world.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Overrides the `resource` in the protected resource metadata
    /// (default: exactly the MCP URL).
    pub prm_resource: Option<String>,
    /// Overrides the `issuer` in the authorization server metadata.
    pub metadata_issuer: Option<String>,
    /// Leaves `code_challenge_methods_supported` out of the AS metadata.
    pub omit_pkce_methods: bool,
    /// `/authorize` redirects with this `state` instead of the request's.
    pub callback_state: Option<String>,
    /// How `/authorize` sends `iss` in the redirect.
    pub callback_iss: IssMode,
    /// Advertise `authorization_response_iss_parameter_supported: true`
    /// (default true; false leaves the member out).
    pub advertise_iss: bool,
    /// `/authorize` first sends the user agent through `/login`, which sets a
    /// `mock_session` cookie (default false).
    pub require_login: bool,
    /// The 401 challenge carries `resource_metadata` (default true).
    pub resource_metadata_in_challenge: bool,
    /// Adds `scope="…"` to the 401 challenge.
    pub challenge_scope: Option<String>,
    /// `scopes_supported` in the protected resource metadata (and the AS
    /// metadata).
    pub scopes_supported: Option<Vec<String>>,
    /// `authorization_servers` in the protected resource metadata instead
    /// of the mock's own issuer.
    pub authorization_servers: Option<Vec<String>>,
    /// A second MCP endpoint at this path (e.g. `/bob/mcp`), served like
    /// `/mcp`, whose protected resource metadata is `/mcp`'s document: with
    /// [`Self::prm_resource`] at the origin, a sibling path that claims the
    /// resource of another.
    pub sibling_path: Option<String>,
    /// `expires_in` of access tokens, in seconds (default 3600; 0 issues
    /// tokens that are already expired).
    pub token_lifetime_secs: u64,
    /// The AS metadata answers this status instead.
    pub metadata_status: Option<u16>,
    /// The token endpoint answers its successful responses (with the
    /// tokens) with this status instead of 200, e.g. 201.
    pub token_status: Option<u16>,
    /// The metadata names this `authorization_endpoint` instead of its own
    /// (a mix-up attacker points it at an honest server's).
    pub authorization_endpoint: Option<String>,
    /// The AS metadata answers 302 to `<issuer>/metadata-moved`, which
    /// serves the metadata.
    pub metadata_redirect: bool,
    /// The AS metadata is valid-looking JSON of 2 MiB (a huge padding member).
    pub metadata_huge: bool,
    /// Dynamic client registration is offered (default true); false removes
    /// `registration_endpoint` and `/register` answers 404.
    pub registration_enabled: bool,
    /// The MCP server answers JSON-RPC requests as `text/event-stream`.
    pub sse_responses: bool,
    /// With `sse_responses`: the stream of a `tools/call` answer carries a
    /// `notifications/message` and a server-to-client `ping` request (id
    /// `"server-ping-1"`) before the result.
    pub server_messages: bool,
    /// A 2025-03-26 server (default: none, the current discovery).
    pub legacy: Option<Legacy>,
    /// Advertise `client_id_metadata_document_supported` and accept the URL
    /// of a document published with [`MockWorld::publish_client_metadata`]
    /// as a client id.
    pub cimd_supported: bool,
    /// `grant_types_supported`, and the only grants the token endpoint
    /// accepts (default `authorization_code`, `refresh_token`).
    pub grant_types: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (default `none`,
    /// `client_secret_basic`, `client_secret_post`).
    pub auth_methods: Vec<String>,
    /// RFC 8707 support (default true). False: a `resource` parameter is
    /// refused with `invalid_target`, and tokens are for the MCP server.
    pub resource_indicators: bool,
    /// DPoP (RFC 9449): advertise ES256; a token request with a valid proof
    /// gets a `DPoP` token bound to the proof's key (default false).
    pub dpop: bool,
    /// The token endpoint's DPoP nonces (RFC 9449 §8).
    pub dpop_as_nonce: NonceMode,
    /// The MCP server's DPoP nonces (RFC 9449 §9).
    pub dpop_rs_nonce: NonceMode,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            prm_resource: None,
            metadata_issuer: None,
            omit_pkce_methods: false,
            callback_state: None,
            callback_iss: IssMode::Correct,
            advertise_iss: true,
            require_login: false,
            resource_metadata_in_challenge: true,
            challenge_scope: None,
            scopes_supported: None,
            authorization_servers: None,
            sibling_path: None,
            token_lifetime_secs: 3600,
            metadata_status: None,
            token_status: None,
            authorization_endpoint: None,
            metadata_redirect: false,
            metadata_huge: false,
            registration_enabled: true,
            sse_responses: false,
            server_messages: false,
            legacy: None,
            cimd_supported: false,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            auth_methods: vec![
                "none".into(),
                "client_secret_basic".into(),
                "client_secret_post".into(),
            ],
            resource_indicators: true,
            dpop: false,
            dpop_as_nonce: NonceMode::Off,
            dpop_rs_nonce: NonceMode::Off,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: String,
    pub(crate) secret: Option<String>,
    /// The `private_key_jwt` key.
    pub(crate) public_key: Option<VerifyingKey>,
}

/// A client of the identity provider.
#[derive(Debug, Clone)]
pub(crate) struct IdpClient {
    /// Its secret (Basic authentication); `None` for a public client.
    pub(crate) secret: Option<String>,
    /// Its client id at the authorization server, the `client_id` claim of
    /// the ID-JAGs issued to it.
    pub(crate) as_client_id: String,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) resource: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) issued: Instant,
    pub(crate) used: bool,
    /// The token family issued from this code, once redeemed.
    pub(crate) family: Option<u64>,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) resource: Option<String>,
    pub(crate) expires: SystemTime,
    pub(crate) revoked: bool,
    pub(crate) family: u64,
    /// The JWK thumbprint of the DPoP key it is bound to (`cnf.jkt`).
    pub(crate) jkt: Option<String>,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub(crate) client_id: String,
    pub(crate) resource: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) family: u64,
    /// False once rotated or revoked.
    pub(crate) active: bool,
    /// The DPoP key it is bound to (public clients, RFC 9449 §5).
    pub(crate) jkt: Option<String>,
}

/// Everything both servers share.
pub(crate) struct State {
    pub(crate) behaviour: Behaviour,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) mcp_url: String,
    pub(crate) mcp_origin: String,
    pub(crate) issuer: String,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) codes: HashMap<String, Grant>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
    pub(crate) sessions: HashSet<String>,
    pub(crate) logins: HashSet<String>,
    pub(crate) next_family: u64,
    /// The identity provider's issuer and signing key.
    pub(crate) idp_issuer: String,
    pub(crate) idp_key: p256::ecdsa::SigningKey,
    pub(crate) idp_clients: HashMap<String, IdpClient>,
    /// Issuers whose JWTs the token endpoint accepts as `jwt-bearer`
    /// grants (the identity provider's ID-JAGs, workload identities).
    pub(crate) trusted_issuers: Vec<(String, VerifyingKey)>,
    /// Published client ID metadata documents, by URL.
    pub(crate) cimd_documents: HashMap<String, serde_json::Value>,
    /// `jti` values seen, per kind (`assertion:…`, `dpop:…`), for replay
    /// detection.
    pub(crate) seen_jtis: HashSet<String>,
    /// The nonce the token endpoint wants, once it asked for one.
    pub(crate) as_nonce: Option<String>,
    /// The nonce the MCP server wants, once it asked for one.
    pub(crate) rs_nonce: Option<String>,
    /// Every DPoP nonce sent, in order, with the server that sent it.
    pub(crate) nonces_sent: Vec<(Server, String)>,
}

impl State {
    /// A new token family's number.
    pub(crate) fn new_family(&mut self) -> u64 {
        let family = self.next_family;
        self.next_family += 1;
        family
    }

    /// Revokes every token of a family.
    pub(crate) fn revoke_family(&mut self, family: u64) {
        for t in self
            .access_tokens
            .values_mut()
            .filter(|t| t.family == family)
        {
            t.revoked = true;
        }
        for t in self
            .refresh_tokens
            .values_mut()
            .filter(|t| t.family == family)
        {
            t.active = false;
        }
    }
}

/// A request as the handlers see it, body already read.
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

/// Media type of form bodies and of the token endpoints' requests.
pub(crate) const FORM_TYPE: &str = "application/x-www-form-urlencoded";

impl Req {
    /// Reads a request whose body has been collected.
    fn new(parts: &http::request::Parts, body: Bytes) -> Req {
        Req {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers.iter().map(header_pair).collect(),
            body,
        }
    }

    /// The request as the log records it.
    fn logged(&self, server: Server) -> LoggedRequest {
        LoggedRequest {
            server,
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
        }
    }

    /// The values of a header, in order (`name` lowercase).
    pub(crate) fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        header_values(&self.headers, name)
    }

    /// The first value of a header (`name` lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// All values of a header joined with ", " (`name` lowercase).
    pub(crate) fn header_joined(&self, name: &str) -> String {
        self.header_values(name).collect::<Vec<_>>().join(", ")
    }

    /// Whether the `Content-Type` is `media_type` (any case, parameters
    /// allowed).
    pub(crate) fn has_content_type(&self, media_type: &str) -> bool {
        self.header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase()
            .starts_with(media_type)
    }

    /// The form body as a map; `Err(name)` when a parameter repeats.
    pub(crate) fn form(&self) -> Result<util::Form, String> {
        util::unique_params(&String::from_utf8_lossy(&self.body))
    }

    /// The client id and secret of a `Basic` authorization header (RFC 6749
    /// §2.3.1: form-encoded, then base64): `None` without one, `Some(Err(()))`
    /// when they cannot be read.
    pub(crate) fn basic_credentials(&self) -> Option<Result<(String, String), ()>> {
        let (scheme, encoded) = self.header("authorization")?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = util::base64_decode(encoded.trim()).and_then(|b| String::from_utf8(b).ok());
        Some(match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((id, secret)) => Ok((util::form_unescape(id), util::form_unescape(secret))),
            None => Err(()),
        })
    }
}

/// A header as the mocks keep it: its (lowercase) name and its value, lossily
/// decoded as UTF-8.
fn header_pair((name, value): (&http::HeaderName, &http::HeaderValue)) -> (String, String) {
    (
        name.as_str().to_string(),
        String::from_utf8_lossy(value.as_bytes()).into_owned(),
    )
}

/// The running mock servers. Dropping it stops them.
pub struct MockWorld {
    state: Arc<Mutex<State>>,
    mcp_port: u16,
    idp_port: u16,
    tasks: Vec<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockWorld {
    /// Binds the MCP server, the authorization server and the identity
    /// provider on 127.0.0.1 (ephemeral ports) and serves them on the
    /// current tokio runtime. With [`Behaviour::legacy`] the authorization
    /// server is served at the MCP server's origin (its own port answers
    /// 404).
    pub async fn start(behaviour: Behaviour) -> anyhow::Result<MockWorld> {
        let mcp_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let as_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let idp_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let mcp_port = mcp_listener.local_addr()?.port();
        let as_port = as_listener.local_addr()?.port();
        let idp_port = idp_listener.local_addr()?.port();
        let mcp_origin = format!("http://127.0.0.1:{mcp_port}");
        let issuer = match behaviour.legacy {
            Some(_) => mcp_origin.clone(),
            None => format!("http://127.0.0.1:{as_port}"),
        };
        let idp_issuer = format!("http://127.0.0.1:{idp_port}");
        let idp_key = jose::random_signing_key();
        let trusted_issuers = vec![(idp_issuer.clone(), *idp_key.verifying_key())];
        let state = Arc::new(Mutex::new(State {
            behaviour,
            log: Vec::new(),
            mcp_url: format!("{mcp_origin}/mcp"),
            mcp_origin,
            issuer,
            clients: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            sessions: HashSet::new(),
            logins: HashSet::new(),
            next_family: 1,
            idp_issuer,
            idp_key,
            idp_clients: HashMap::new(),
            trusted_issuers,
            cimd_documents: HashMap::new(),
            seen_jtis: HashSet::new(),
            as_nonce: None,
            rs_nonce: None,
            nonces_sent: Vec::new(),
        }));
        let tasks = vec![
            tokio::spawn(serve(mcp_listener, Server::Mcp, state.clone())),
            tokio::spawn(serve(
                as_listener,
                Server::AuthorizationServer,
                state.clone(),
            )),
            tokio::spawn(serve(idp_listener, Server::IdentityProvider, state.clone())),
        ];
        Ok(MockWorld {
            state,
            mcp_port,
            idp_port,
            tasks,
        })
    }

    /// The MCP endpoint, `http://127.0.0.1:P1/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.mcp_port)
    }

    /// The authorization server's issuer, `http://127.0.0.1:P2` (no
    /// trailing slash); with [`Behaviour::legacy`] the MCP server's origin.
    pub fn issuer(&self) -> String {
        lock(&self.state).issuer.clone()
    }

    /// The identity provider's issuer, `http://127.0.0.1:P3`.
    pub fn idp_issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.idp_port)
    }

    /// The identity provider's token endpoint (RFC 8693 token exchange).
    pub fn idp_token_endpoint(&self) -> String {
        format!("{}/token", self.idp_issuer())
    }

    /// Pre-registers a client at the authorization server.
    pub fn add_client(&self, client_id: &str, redirect_uris: &[&str], auth: ClientAuth) {
        let (auth_method, secret, public_key) = match auth {
            ClientAuth::None => ("none", None, None),
            ClientAuth::SecretBasic(s) => ("client_secret_basic", Some(s), None),
            ClientAuth::SecretPost(s) => ("client_secret_post", Some(s), None),
            ClientAuth::PrivateKeyJwt(k) => ("private_key_jwt", None, Some(k)),
        };
        lock(&self.state).clients.insert(
            client_id.to_string(),
            Client {
                redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
                auth_method: auth_method.to_string(),
                secret,
                public_key,
            },
        );
    }

    /// Publishes a client ID metadata document at `url` (the mock
    /// authorization server "fetches" it from here when `url` is used as a
    /// client id).
    pub fn publish_client_metadata(&self, url: &str, document: serde_json::Value) {
        lock(&self.state)
            .cimd_documents
            .insert(url.to_string(), document);
    }

    /// Makes the token endpoint accept ES256 JWTs from `issuer`, signed with
    /// `key`, as `jwt-bearer` grants.
    pub fn trust_assertion_issuer(&self, issuer: &str, key: &VerifyingKey) {
        lock(&self.state)
            .trusted_issuers
            .push((issuer.to_string(), *key));
    }

    /// Registers a client at the identity provider; the ID-JAGs issued to it
    /// name `as_client_id`, its client id at the authorization server.
    pub fn add_idp_client(&self, client_id: &str, secret: Option<&str>, as_client_id: &str) {
        lock(&self.state).idp_clients.insert(
            client_id.to_string(),
            IdpClient {
                secret: secret.map(str::to_string),
                as_client_id: as_client_id.to_string(),
            },
        );
    }

    /// An ID token of the identity provider for `subject`, issued to its
    /// client `client_id` (valid for five minutes).
    pub fn issue_id_token(&self, client_id: &str, subject: &str) -> String {
        let st = lock(&self.state);
        let now = util::unix_now();
        jose::sign(
            &st.idp_key,
            &serde_json::json!({"typ": "JWT"}),
            &serde_json::json!({
                "iss": st.idp_issuer,
                "sub": subject,
                "aud": client_id,
                "iat": now,
                "exp": now + 300,
                "jti": util::random_id(""),
            }),
        )
    }

    /// Every DPoP nonce the servers sent, in order.
    pub fn dpop_nonces_sent(&self) -> Vec<(Server, String)> {
        lock(&self.state).nonces_sent.clone()
    }

    /// Every request both servers received, in order.
    pub fn log(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
        lock(&self.state).log.clear();
    }

    /// How many logged requests `server` received with this method and path
    /// (path without query, compared exactly).
    pub fn count(&self, server: Server, method: &str, path: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.server == server && r.method == method && r.path == path)
            .count()
    }

    /// Changes the behaviour of the running servers.
    pub fn set_behaviour(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.state).behaviour);
    }

    /// Revokes every access token issued so far: they stop working at the
    /// MCP server (refresh tokens stay valid).
    pub fn revoke_all_tokens(&self) {
        for t in lock(&self.state).access_tokens.values_mut() {
            t.revoked = true;
        }
    }
}

impl Drop for MockWorld {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts connections until aborted; aborting drops the connection set,
/// which aborts every connection too.
async fn serve(listener: TcpListener, server: Server, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(server, &state, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    server: Server,
    state: &Mutex<State>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let (body, too_large) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => (collected.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let req = Req::new(&parts, body);
    let mut st = lock(state);
    st.log.push(req.logged(server));
    if too_large {
        return util::text_reply(413, "request body too large");
    }
    let legacy = st.behaviour.legacy.is_some();
    match server {
        // A 2025-03-26 server: everything but the endpoint is the
        // authorization server's (and the metadata path 404s).
        Server::Mcp if legacy && req.path != "/mcp" => auth::handle(&mut st, &req),
        Server::Mcp => {
            let reply = resource::handle(&mut st, &req);
            access::after_response(&mut st, &req, reply)
        }
        Server::AuthorizationServer if legacy => util::text_reply(404, "not found"),
        Server::AuthorizationServer => auth::handle(&mut st, &req),
        Server::IdentityProvider => idp::handle(&mut st, &req),
    }
}

/// The log as "server METHOD path" lines (`mcp`, `as`, `idp`), for
/// assertions on the order of requests.
pub fn log_lines(log: &[LoggedRequest]) -> Vec<String> {
    log.iter()
        .map(|r| {
            let s = match r.server {
                Server::Mcp => "mcp",
                Server::AuthorizationServer => "as",
                Server::IdentityProvider => "idp",
            };
            format!("{s} {} {}", r.method, r.path)
        })
        .collect()
}

/// Test support: registers a public client at the mock authorization server
/// and returns an authorization URL for it with the given PKCE verifier and
/// `state`.
pub async fn test_authorization_url(
    world: &MockWorld,
    redirect_uri: &str,
    verifier: &str,
    state: &str,
) -> String {
    let issuer = world.issuer();
    let response = mcp_oauth_host::net::http_request(mcp_oauth_host::net::OutgoingRequest {
        method: "POST".into(),
        url: format!("{issuer}/register"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "client_name": "mock test",
        }))
        .unwrap(),
    })
    .await
    .unwrap();
    assert_eq!(response.status, 201);
    let client: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    authorize_url(
        &issuer,
        client["client_id"].as_str().unwrap(),
        redirect_uri,
        verifier,
        &[("state", state), ("resource", &world.mcp_url())],
    )
}

/// An authorization request at `issuer`'s `/authorize`: a code for
/// `client_id` at `redirect_uri` with the PKCE S256 challenge of
/// `verifier`, then the `rest` of the parameters (`state`, `resource`, …).
pub(crate) fn authorize_url(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    verifier: &str,
    rest: &[(&str, &str)],
) -> String {
    let challenge = s256(verifier);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(rest);
    format!("{issuer}/authorize?{}", form_encode(&params))
}
