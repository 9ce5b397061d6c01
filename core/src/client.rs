//! The client: configuration, the store, pending authorizations, and the
//! decisions around a protected request (which token to attach, whether a
//! response calls for authorization).

use crate::authorize::{validate_callback, PendingAuthorization, PendingRecord};
use crate::challenge;
use crate::config::{Config, GrantKind, TokenType};
use crate::error::Error;
use crate::flow::{Asked, Entropy, Flow, FlowEvent, Keys, Kind, Outcome, Start};
use crate::http::Step;
use crate::jose::SigningKey;
use crate::prelude::*;
use crate::store::Map;
use crate::store::{Store, TokenRecord};
use crate::url::Url;

/// How many authorizations may wait for their callback at once; the oldest
/// is forgotten beyond that.
pub const MAX_PENDING: usize = 8;

/// What the host may know about a token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The resource.
    pub resource: String,
    /// The issuer.
    pub issuer: String,
    /// `Bearer` or `DPoP`.
    pub token_type: TokenType,
    /// Absolute expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Granted scope.
    pub scope: Option<String>,
    /// Whether a refresh token is held.
    pub has_refresh_token: bool,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(t: &TokenRecord) -> Self {
        TokenInfo {
            resource: t.resource.clone(),
            issuer: t.issuer.clone(),
            token_type: t.token_type,
            expires_at: t.expires_at,
            scope: t.scope.clone(),
            has_refresh_token: t.refresh_token.is_some(),
        }
    }
}

/// What is held for a server, as far as sending a request is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// No token.
    None,
    /// A token that does not expire within its refresh skew
    /// (a tenth of its lifetime, at most a minute) and that the server has
    /// not refused.
    Fresh,
    /// A token that is expired or about to be, or that the server refused
    /// with a 401 (unless it replaced a refused one itself).
    Stale {
        /// Whether it can be renewed without a user: a refresh token, or a
        /// grant that needs no user (client credentials, JWT bearer, token
        /// exchange).
        renewable: bool,
    },
}

/// The outcome of an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A token is ready.
    Authorized(TokenInfo),
    /// The user agent must visit the URL.
    Redirect(PendingAuthorization),
}

/// What `authorize` needs done.
#[derive(Debug)]
// One value per authorization, moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Begin {
    /// A stored token is still valid; no request needed.
    Ready(TokenInfo),
    /// Drive this flow, then pass it to [`Client::finish`].
    Flow(Flow),
}

/// What to do with a response from the protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Hand the response to the caller.
    Deliver,
    /// Obtain a token with this challenge, then send the request again.
    Authorize(Option<String>),
    /// Send the request again as it is: the server asked for a DPoP nonce
    /// (RFC 9449 §9), which the next proof carries.
    Retry,
    /// Refused although a fresh token was just obtained: give up.
    Refused,
}

/// What to do before sending a request to a protected resource
/// ([`Client::before_send`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeSend {
    /// Renew the token if it is stale ([`Client::renew`]), then send.
    Renew,
    /// Send it as it is.
    Send,
    /// Stop: the host renews tokens itself (`host_renews`) and must renew
    /// this one first ([`crate::Error::RenewalRequired`]).
    HostRenews,
}

/// What a response that calls for authorization leads to
/// ([`Client::on_refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRefusal {
    /// Redeem the refresh token ([`Client::refresh`]) and send again.
    Refresh,
    /// Stop: the host renews the token under its lock, then sends again.
    HostRenews,
    /// Obtain a new authorization ([`Client::authorize`]).
    Authorize,
}

/// What [`Client::react`] looks at in a response from the protected
/// resource.
#[derive(Debug, Clone, Copy)]
pub struct ResourceResponse<'a> {
    /// The request method.
    pub method: &'a str,
    /// The request URL.
    pub url: &'a str,
    /// The status.
    pub status: u16,
    /// `WWW-Authenticate`, several lines joined with ", ".
    pub www_authenticate: Option<&'a str>,
    /// The `DPoP-Nonce` header (RFC 9449 §9).
    pub dpop_nonce: Option<&'a str>,
}

/// The MCP client's authorization state. One per client identity.
#[derive(Debug)]
pub struct Client {
    config: Config,
    store: Store,
    pending: Vec<PendingRecord>,
    events: Vec<FlowEvent>,
    /// The latest DPoP nonce each server (by server key) sent (RFC 9449 §9).
    nonces: Map<String>,
    /// The latest DPoP nonce each token endpoint sent (RFC 9449 §8).
    as_nonces: Map<String>,
    /// Per server key, the fingerprint of the access token a server refused
    /// with a 401: that token is as good as stale and [`Client::renew`]
    /// replaces it. Kept apart from the store, so that a host that imports
    /// another process's newer state sees whether that process renewed it
    /// already (the token then differs).
    refused: Map<String>,
    /// Per server key, the fingerprint of the token [`Client::renew`] was
    /// last asked to replace: a renewal that did not replace it is not asked
    /// for again, the token is sent (or the user asked) instead.
    renew_attempted: Map<String>,
    /// Per server key, the server whose refused token `renew` is replacing.
    renewing_refused: Map<()>,
    /// Per server key, the fingerprint of a token obtained to replace a
    /// refused one: refused in turn, it calls for an authorization, not
    /// another refresh.
    renewed: Map<String>,
    /// The server URL a [`Call`](crate::Call) was made to last, with the
    /// key [`server_key`] made of it: the calls of an MCP session all go to
    /// one URL, and parsing it was most of a call's work in the core.
    last_server: Option<(String, String)>,
}

/// A fingerprint of an access token, to recognise it again without keeping
/// it: hex SHA-256.
fn fingerprint(t: &TokenRecord) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(t.access_token.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `map` holds the fingerprint of `t` for `key`. The token is hashed
/// only when the map has an entry for the key, so the common case (no
/// refusal recorded) costs no hashing on the way to every request.
fn marked(map: &Map<String>, key: &str, t: &TokenRecord) -> bool {
    map.get(key).is_some_and(|f| *f == fingerprint(t))
}

/// Whether the refresh token grant can renew `t`.
fn refreshable(t: &TokenRecord) -> bool {
    t.refresh_token.is_some()
}

/// Whether the grant that obtained `t` needs no user, so that it can
/// obtain another.
fn remintable(t: &TokenRecord) -> bool {
    t.grant_type.is_some_and(GrantKind::needs_no_user)
}

/// The key a server's binding is stored under: its URL without fragment,
/// after the URL policy (https, or http on loopback).
pub(crate) fn server_key(url: &str) -> Result<(Url, String), Error> {
    let parsed =
        Url::parse(url).map_err(|e| Error::InvalidArgument(format!("server URL {url:?}: {e}")))?;
    if !parsed.is_https_or_loopback_http() || parsed.has_userinfo() {
        return Err(Error::InsecureUrl(url.to_string()));
    }
    let key = parsed.without_fragment();
    Ok((parsed, key))
}

impl Client {
    /// A client for `config` (validated first) with an empty store.
    pub fn new(config: Config) -> Result<Client, crate::error::Refused> {
        config.validate()?;
        Ok(Client {
            config,
            store: Store::default(),
            pending: Vec::new(),
            events: Vec::new(),
            nonces: Map::new(),
            as_nonces: Map::new(),
            refused: Map::new(),
            renew_attempted: Map::new(),
            renewing_refused: Map::new(),
            renewed: Map::new(),
            last_server: None,
        })
    }

    /// The key [`server_key`] makes of `url` (which it checks), parsed
    /// again only when it is not the URL of the call before.
    pub(crate) fn server_key_of_call(&mut self, url: &str) -> Result<String, Error> {
        if let Some((last, key)) = &self.last_server {
            if last == url {
                return Ok(key.clone());
            }
        }
        let (_, key) = server_key(url)?;
        self.last_server = Some((url.to_string(), key.clone()));
        Ok(key)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The per-request time limit in milliseconds.
    pub fn timeout_ms(&self) -> u32 {
        self.config
            .timeout_ms
            .unwrap_or(crate::config::DEFAULT_TIMEOUT_MS)
    }

    /// The store (for inspection).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts authorizing for the server at `server_url`. Without a
    /// challenge, a stored unexpired token is returned as is. With one (the
    /// server refused us), the flow runs; the stored token is dropped,
    /// except for a step-up (`insufficient_scope`), where it stays good for
    /// what it was granted until the new one replaces it.
    pub fn authorize(
        &mut self,
        server_url: &str,
        challenge: Option<&str>,
        now: u64,
        entropy: Entropy,
    ) -> Result<Begin, Error> {
        self.begin_authorization(server_url, challenge, now, entropy, false)
    }

    /// [`Client::authorize`]; `after_invalid_scope` marks the one more try
    /// after an `invalid_scope` error redirect.
    fn begin_authorization(
        &mut self,
        server_url: &str,
        challenge: Option<&str>,
        now: u64,
        entropy: Entropy,
        after_invalid_scope: bool,
    ) -> Result<Begin, Error> {
        let config = self.config.clone();
        let (server, key) = server_key(server_url)?;
        if challenge.is_none() {
            if let Some(t) = self.usable_token(&key, now) {
                // A stale token that a grant without a user can replace is
                // replaced; any other unexpired one is used as it is.
                if !(t.is_stale(now) && remintable(t)) {
                    return Ok(Begin::Ready(TokenInfo::from(t)));
                }
            }
        }
        let parsed = match challenge {
            Some(value) => challenge::bearer(value).map_err(|e| Error::InvalidResponse {
                step: Step::Resource,
                url: key.clone(),
                reason: format!("malformed WWW-Authenticate: {e}"),
            })?,
            None => None,
        };
        // A server that took a DPoP-bound token before still wants one when
        // the token is renewed without a challenge; with a challenge, the
        // challenge says what the server accepts.
        let was_dpop = self
            .held_token(&key)
            .is_some_and(|t| t.token_type == TokenType::Dpop);
        let mut previous_scope = None;
        if challenge.is_some() {
            self.renewing_refused.remove(&key);
            if let Some(b) = self.store.bindings.get(&key).cloned() {
                let step_up = parsed
                    .as_ref()
                    .is_some_and(|p| p.error.as_deref() == Some("insufficient_scope"));
                if step_up {
                    // The token stays: it is still good for what it was
                    // granted, and if this authorization fails, the next
                    // step-up asks for the same union again.
                    previous_scope = self
                        .store
                        .token(&b.resource, &b.issuer)
                        .and_then(|t| t.scope.clone());
                } else {
                    self.store.remove_token(&b.resource, &b.issuer);
                }
            }
        }
        let metadata = self
            .store
            .metadata
            .keys()
            .filter_map(|issuer| {
                self.store
                    .fresh_metadata(issuer, now)
                    .map(|m| (issuer.clone(), m.clone()))
            })
            .collect();
        if let Some(scope) = parsed.as_ref().and_then(|p| p.scope.as_deref()) {
            crate::discovery::check_scope_count(
                scope.split(' '),
                Step::Resource,
                &key,
                "the challenge's scope",
            )?;
        }
        let (resource_metadata_url, challenge_scope, challenge_dpop) = match parsed {
            Some(b) => (b.resource_metadata, b.scope, b.dpop),
            None => (None, None, was_dpop),
        };
        let keys = self.keys(entropy)?;
        let credential_issuer = config
            .credential_label()
            .and_then(|l| self.store.credential_issuers.get(&l).cloned());
        Ok(Begin::Flow(Flow::authorize(
            Start {
                config,
                server,
                server_key: key,
                asked: Asked {
                    challenge: challenge.map(str::to_string),
                    resource_metadata_url,
                    scope: challenge_scope,
                    dpop: challenge_dpop,
                    previous_scope,
                    after_invalid_scope,
                },
                metadata,
                clients: self.store.clients.clone(),
                credential_issuer,
            },
            keys,
        )))
    }

    /// The keys a flow may sign with: the configured client key and the
    /// stored DPoP key.
    fn keys(&self, entropy: Entropy) -> Result<Keys, Error> {
        let client_key = match &self.config.private_key_pem {
            Some(pem) => Some(
                SigningKey::from_pem(pem.expose())
                    .map_err(|e| Error::InvalidArgument(format!("private-key-pem: {e}")))?,
            ),
            None => None,
        };
        let mut keys = Keys::new(client_key, self.dpop_key(), entropy);
        keys.nonces = self.as_nonces.clone();
        Ok(keys)
    }

    /// The stored DPoP key, if any (an unreadable one is replaced later).
    fn dpop_key(&self) -> Option<SigningKey> {
        let bytes = crate::encode::base64url_nopad_decode(self.store.dpop_key.as_ref()?.expose())?;
        SigningKey::from_bytes(&bytes).ok()
    }

    /// Validates the callback URL and starts the code exchange. The pending
    /// authorization is consumed once its `state` matched, whatever happens
    /// next, so a code or verifier is never used twice (OAuth 2.1 §7.5.2).
    ///
    /// An `invalid_scope` error redirect for a client this component
    /// registered (oidc-provider restricts a registration to the scope it
    /// registered) drops that registration and starts the authorization
    /// once more: that flow registers anew with the scope it needs and ends
    /// at a new authorization URL ([`Grant::Redirect`]). A second
    /// `invalid_scope` is the error.
    pub fn complete_authorization(
        &mut self,
        callback_url: &str,
        now: u64,
        entropy: Entropy,
    ) -> Result<Begin, Error> {
        let checked = validate_callback(callback_url, &self.pending);
        let state = Url::parse(callback_url).ok().and_then(|u| {
            crate::encode::form_decode(u.query().unwrap_or(""))
                .into_iter()
                .find(|(n, _)| n == "state")
                .map(|(_, v)| v)
        });
        let callback = match checked {
            Ok(c) => c,
            Err(e) => {
                if !matches!(e, Error::StateMismatch | Error::InvalidArgument(_)) {
                    let again = match &e {
                        Error::AuthorizationDenied(f) if f.error == "invalid_scope" => {
                            self.forget_restricted_registration(state.as_deref())
                        }
                        _ => None,
                    };
                    self.pending
                        .retain(|p| Some(&p.public.state) != state.as_ref());
                    if let Some((server, challenge)) = again {
                        return self.begin_authorization(
                            &server,
                            challenge.as_deref(),
                            now,
                            entropy,
                            true,
                        );
                    }
                }
                return Err(e);
            }
        };
        let record = self.pending.remove(callback.index);
        let client = record.client.clone();
        let keys = self.keys(entropy)?;
        Ok(Begin::Flow(Flow::exchange(
            record,
            &client,
            &callback.code,
            keys,
            now,
        )))
    }

    /// After an `invalid_scope` error redirect for the pending authorization
    /// with `state`: a client this component registered may be restricted
    /// to the scope it registered (oidc-provider does that), so the
    /// registration is dropped and the next authorization registers anew
    /// with the scope it needs. A pre-registered client or a metadata
    /// document URL is the user's, and is kept. The server and challenge to
    /// authorize once more for, when a registration was dropped and the
    /// authorization was not already that one more try.
    fn forget_restricted_registration(
        &mut self,
        state: Option<&str>,
    ) -> Option<(String, Option<String>)> {
        let record = self
            .pending
            .iter()
            .find(|p| Some(p.public.state.as_str()) == state)?;
        let c = &self.config;
        let users = c.client_id.as_deref() == Some(record.client_id.as_str())
            || c.client_metadata_url.as_deref() == Some(record.client_id.as_str());
        let issuer = record.public.issuer.clone();
        let registered_here = self
            .store
            .clients
            .get(&issuer)
            .is_some_and(|c| c.client_id == record.client_id);
        if !users && registered_here {
            let again = (!record.after_invalid_scope)
                .then(|| (record.server.clone(), record.challenge.clone()));
            self.store.clients.remove(&issuer);
            return again;
        }
        None
    }

    /// Applies a finished flow to the store and says what it produced.
    pub fn finish(&mut self, flow: Flow, now: u64) -> Result<Grant, Error> {
        let kind = flow.kind().clone();
        let (outcome, events, new_key, nonces) = flow.into_parts();
        for (endpoint, nonce) in nonces.iter() {
            self.as_nonces.insert(endpoint.clone(), nonce.clone());
        }
        let redeemed = match &kind {
            Kind::Authorization => None,
            Kind::Exchange { resource, issuer } => Some((resource, issuer, false)),
            Kind::Refresh { resource, issuer } => Some((resource, issuer, true)),
        };
        if let (Some((resource, issuer, refreshing)), Err(Error::TokenRejected(f))) =
            (redeemed, &outcome)
        {
            match f.error.as_str() {
                // RFC 6749 §5.2: the refresh token is dead; a new
                // authorization is needed.
                "invalid_grant" if refreshing => self.store.remove_token(resource, issuer),
                // The client is unknown there (its registration expired or
                // was deleted): register again next time.
                "invalid_client" => {
                    self.store.remove_token(resource, issuer);
                    self.store.clients.remove(issuer);
                }
                _ => {}
            }
        }
        self.events.extend(events);
        if let Some(key) = new_key {
            if self.dpop_key().is_none() {
                self.store.dpop_key =
                    Some(crate::Secret::new(crate::encode::base64url_nopad(&key)));
            }
        }
        match outcome? {
            Outcome::Redirect {
                record,
                binding,
                metadata,
            } => {
                if let Some(m) = metadata {
                    self.store.cache_metadata(binding.issuer.clone(), m, now);
                }
                // A first client for the issuer is kept now, so that an
                // abandoned authorization does not cost a registration the
                // next time. One that replaces another is stored only when
                // the code is redeemed (`PendingRecord::client`): the tokens
                // held were issued to the old one and refresh as that one.
                if self.store.clients.get(&binding.issuer).is_none() {
                    self.store
                        .clients
                        .insert(binding.issuer.clone(), record.client.clone());
                }
                // No binding yet: the server is bound to (resource, issuer)
                // when its code is redeemed. Bound now, a server whose
                // metadata claims another server's resource would be sent
                // that server's token before any consent (security review
                // finding 4).
                let public = record.public.clone();
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(record);
                Ok(Grant::Redirect(public))
            }
            Outcome::Token {
                server_key,
                token,
                metadata,
                client,
            } => {
                if let Some(c) = client {
                    self.store.clients.insert(token.issuer.clone(), c);
                }
                // The first issuer the configured credentials were used
                // with is theirs from now on.
                if let Some(label) = self.config.credential_label() {
                    if self.store.credential_issuers.get(&label).is_none() {
                        self.store
                            .credential_issuers
                            .insert(label, token.issuer.clone());
                    }
                }
                if self.renewing_refused.remove(&server_key).is_some() {
                    self.renewed.insert(server_key.clone(), fingerprint(&token));
                }
                if let Some(m) = metadata {
                    self.store.cache_metadata(token.issuer.clone(), m, now);
                }
                let info = TokenInfo::from(&token);
                self.store.bindings.insert(
                    server_key,
                    crate::store::Binding {
                        resource: token.resource.clone(),
                        issuer: token.issuer.clone(),
                    },
                );
                self.store.put_token(token);
                Ok(Grant::Authorized(info))
            }
        }
    }

    /// What is held for the server at `server_url` at `now`.
    pub fn token_state(&self, server_url: &str, now: u64) -> TokenState {
        let Ok((_, key)) = server_key(server_url) else {
            return TokenState::None;
        };
        self.state_of(&key, now)
    }

    /// [`Client::token_state`] for a server key.
    fn state_of(&self, key: &str, now: u64) -> TokenState {
        let Some(t) = self.held_token(key) else {
            return TokenState::None;
        };
        if t.is_stale(now) || self.renewable_refusal(key, t) {
            TokenState::Stale {
                renewable: refreshable(t) || remintable(t),
            }
        } else {
            TokenState::Fresh
        }
    }

    /// Whether `t` is the token the server with `key` refused with a 401,
    /// and not itself the replacement of a refused one.
    fn renewable_refusal(&self, key: &str, t: &TokenRecord) -> bool {
        marked(&self.refused, key, t) && !marked(&self.renewed, key, t)
    }

    /// Whether the host, which renews tokens itself (`host_renews`), must
    /// renew the token for `server_url` before it is sent: it is stale or
    /// refused, renewable without a user, and `renew` was not asked to
    /// replace this very token already while it was still unexpired (then
    /// it is sent as it is, or the user is asked); an expired token is worth
    /// another try.
    pub fn host_must_renew(&self, server_url: &str, now: u64) -> bool {
        server_key(server_url).is_ok_and(|(_, key)| self.host_must_renew_at(&key, now))
    }

    /// [`Client::host_must_renew`] for the server keyed `key`.
    pub(crate) fn host_must_renew_at(&self, key: &str, now: u64) -> bool {
        if !self.host_renews() {
            return false;
        }
        let Some(t) = self.held_token(key) else {
            return false;
        };
        self.state_of(key, now) == (TokenState::Stale { renewable: true })
            && (t.is_expired(now) || !marked(&self.renew_attempted, key, t))
    }

    /// Whether [`Client::renew`] would start anything for `server_url`: a
    /// token is held and it is stale or was refused. Cheap: no entropy is
    /// needed to ask.
    pub fn renewal_due(&self, server_url: &str, now: u64) -> bool {
        server_key(server_url).is_ok_and(|(_, key)| self.renewal_due_at(&key, now))
    }

    /// [`Client::renewal_due`] for the server keyed `key`.
    pub(crate) fn renewal_due_at(&self, key: &str, now: u64) -> bool {
        self.held_token(key)
            .is_some_and(|t| t.is_stale(now) || self.renewable_refusal(key, t))
    }

    /// Starts renewing a stale token without a user: the refresh token
    /// grant when a refresh token is held, else the grant that obtained it
    /// when that needs no user. `Ok(None)` when the token is fresh, absent,
    /// or can only be replaced by a user's authorization.
    pub fn renew(
        &mut self,
        server_url: &str,
        now: u64,
        entropy: Entropy,
    ) -> Result<Option<Begin>, Error> {
        let (_, key) = server_key(server_url)?;
        let Some(t) = self.held_token(&key) else {
            return Ok(None);
        };
        let refused = self.renewable_refusal(&key, t);
        if !t.is_stale(now) && !refused {
            return Ok(None);
        }
        let (can_refresh, can_remint) = (refreshable(t), remintable(t));
        let (resource, issuer) = (t.resource.clone(), t.issuer.clone());
        self.renew_attempted.insert(key.clone(), fingerprint(t));
        if refused {
            self.renewing_refused.insert(key.clone(), ());
        } else {
            self.renewing_refused.remove(&key);
        }
        if can_refresh {
            return self
                .refresh(server_url, now, entropy)
                .map(|f| f.map(Begin::Flow));
        }
        if can_remint {
            if refused {
                // Not to be handed back as still valid: mint a new one.
                self.store.remove_token(&resource, &issuer);
            }
            return self.authorize(server_url, None, now, entropy).map(Some);
        }
        Ok(None)
    }

    /// Starts the refresh token grant for the server's token, whatever its
    /// expiry (a server may revoke a token early). `Ok(None)` when there is
    /// no refresh token.
    pub fn refresh(
        &mut self,
        server_url: &str,
        now: u64,
        entropy: Entropy,
    ) -> Result<Option<Flow>, Error> {
        let config = &self.config;
        let (_, key) = server_key(server_url)?;
        let Some(mut token) = self.held_token(&key).filter(|t| refreshable(t)).cloned() else {
            return Ok(None);
        };
        // Tokens stored by state version 1 did not record their endpoint.
        if token.token_endpoint.is_none() {
            token.token_endpoint = self
                .store
                .metadata
                .get(&token.issuer)
                .and_then(|m| m.metadata.token_endpoint.clone());
        }
        let client = self.store.clients.get(&token.issuer).cloned().or_else(|| {
            let meta = self
                .store
                .metadata
                .get(&token.issuer)
                .map(|m| m.metadata.clone())
                .unwrap_or_else(|| crate::discovery::AuthServerMetadata::assumed(&token.issuer));
            crate::registration::preregistered(config, &meta)
        });
        let keys = self.keys(entropy)?;
        Ok(Flow::refresh(
            key,
            &token,
            client,
            !config.relax.omit_resource,
            keys,
            now,
        ))
    }

    /// Whether a 401 with `challenge` should first be answered with the
    /// refresh token grant: a refresh token is held and the server does not
    /// ask for more scope (a step-up needs a new authorization).
    /// A refused token that was renewed once already is not refreshed again.
    pub fn refresh_first(&self, server_url: &str, challenge: Option<&str>) -> bool {
        let step_up = challenge
            .and_then(|v| challenge::bearer(v).ok().flatten())
            .is_some_and(|b| b.error.as_deref() == Some("insufficient_scope"));
        let Ok((_, key)) = server_key(server_url) else {
            return false;
        };
        !step_up
            && self
                .held_token(&key)
                .is_some_and(|t| refreshable(t) && !marked(&self.renewed, &key, t))
    }

    /// The step before a request to `server_url` is sent: renew a stale
    /// token here, or, when the host renews tokens itself, ask it to if it
    /// must ([`Client::host_must_renew`]).
    pub fn before_send(&self, server_url: &str, now: u64) -> BeforeSend {
        match server_key(server_url) {
            Ok((_, key)) => self.before_send_at(&key, now),
            Err(_) if self.host_renews() => BeforeSend::Send,
            Err(_) => BeforeSend::Renew,
        }
    }

    /// [`Client::before_send`] for the server keyed `key`.
    pub(crate) fn before_send_at(&self, key: &str, now: u64) -> BeforeSend {
        match (self.host_renews(), self.host_must_renew_at(key, now)) {
            (false, _) => BeforeSend::Renew,
            (true, true) => BeforeSend::HostRenews,
            (true, false) => BeforeSend::Send,
        }
    }

    /// What a [`Reaction::Authorize`] leads to: one refresh first (unless
    /// one was made for this call, `refreshed`, or the server asks for more
    /// scope, or the refused token replaced a refused one), done here or by
    /// the host that renews tokens itself; otherwise a new authorization.
    pub fn on_refusal(
        &self,
        server_url: &str,
        challenge: Option<&str>,
        refreshed: bool,
        now: u64,
    ) -> OnRefusal {
        if refreshed || !self.refresh_first(server_url, challenge) {
            OnRefusal::Authorize
        } else if !self.host_renews() {
            OnRefusal::Refresh
        } else if self.host_must_renew(server_url, now) {
            OnRefusal::HostRenews
        } else {
            OnRefusal::Authorize
        }
    }

    /// Whether the host limits the wait for `wrap-call`'s response head to
    /// [`Client::timeout_ms`] itself (configuration `host_timeouts`), so
    /// that the driver need not.
    pub fn host_timeouts(&self) -> bool {
        self.config.host_timeouts
    }

    /// Whether the host renews tokens itself (configuration `host_renews`):
    /// then the caller of [`Client::renew`] and [`Client::refresh`] is the
    /// host, under its lock, and `wrap-call` answers
    /// [`Error::RenewalRequired`] where it would renew.
    pub fn host_renews(&self) -> bool {
        self.config.host_renews
    }

    /// Whether an unexpired token is held for the server at `server_url`.
    pub fn has_usable_token(&self, server_url: &str, now: u64) -> bool {
        server_key(server_url)
            .ok()
            .is_some_and(|(_, key)| self.usable_token(&key, now).is_some())
    }

    /// The token bound to the server key, expired or not.
    fn held_token(&self, key: &str) -> Option<&TokenRecord> {
        let b = self.store.bindings.get(key)?;
        self.store.token(&b.resource, &b.issuer)
    }

    fn usable_token(&self, key: &str, now: u64) -> Option<&TokenRecord> {
        let b = self.store.bindings.get(key)?;
        self.store
            .token(&b.resource, &b.issuer)
            .filter(|t| !t.is_expired(now))
    }

    /// The headers that authorize a request to `request_url` with `method`,
    /// if a valid token is held for that server (spec-checklist 92-94: only
    /// the token bound to this server's resource and issuer): `Authorization`
    /// and, for a DPoP-bound token, a fresh `DPoP` proof with `ath` and the
    /// server's latest nonce (RFC 9449 §7.1). `jti` must be fresh random
    /// bytes for each call.
    pub fn request_headers(
        &self,
        method: &str,
        request_url: &str,
        now: u64,
        jti: &[u8; 16],
    ) -> Vec<(String, String)> {
        self.request_headers_with(method, request_url, now, || *jti)
    }

    /// [`Client::request_headers`] that asks for the `jti` only when a DPoP
    /// proof needs one.
    pub fn request_headers_with(
        &self,
        method: &str,
        request_url: &str,
        now: u64,
        jti: impl FnOnce() -> [u8; 16],
    ) -> Vec<(String, String)> {
        match server_key(request_url) {
            Ok((_, key)) => self.request_headers_at(method, request_url, &key, now, jti),
            Err(_) => Vec::new(),
        }
    }

    /// [`Client::request_headers_with`] for `request_url`, the server keyed
    /// `key`.
    pub(crate) fn request_headers_at(
        &self,
        method: &str,
        request_url: &str,
        key: &str,
        now: u64,
        jti: impl FnOnce() -> [u8; 16],
    ) -> Vec<(String, String)> {
        let Some(token) = self.usable_token(key, now) else {
            return Vec::new();
        };
        let secret = token.access_token.expose();
        // Joined by hand: `format!` costs a call on this path.
        let scheme = token.token_type.as_str();
        let mut value = String::with_capacity(scheme.len() + 1 + secret.len());
        value.push_str(scheme);
        value.push(' ');
        value.push_str(secret);
        let mut headers = vec![("authorization".to_string(), value)];
        if token.token_type == TokenType::Dpop {
            if let Some(dpop_key) = self.dpop_key() {
                let nonce = self.nonces.get(key).map(String::as_str);
                let proof = crate::jose::dpop_proof(
                    &dpop_key,
                    method,
                    request_url,
                    now,
                    &jti(),
                    Some(secret),
                    nonce,
                );
                headers.push(("dpop".to_string(), proof));
            }
        }
        headers
    }

    /// The `Authorization` header value alone (see
    /// [`Client::request_headers`]); `None` for a DPoP-bound token, which
    /// cannot be used without its proof.
    pub fn authorization_header(&self, request_url: &str, now: u64) -> Option<String> {
        let (_, key) = server_key(request_url).ok()?;
        self.usable_token(&key, now)
            .filter(|t| t.token_type == TokenType::Bearer)
            .map(|t| format!("Bearer {}", t.access_token.expose()))
    }

    /// Decides what a response from the protected resource means: a 401, or
    /// a 403 with `error="insufficient_scope"`, calls for authorization, once;
    /// anything else goes to the caller. A 401 `use_dpop_nonce` with a nonce
    /// not tried yet asks for the same request again (the caller bounds how
    /// often). A response that calls for authorization is recorded as an
    /// event.
    pub fn react(&mut self, response: &ResourceResponse<'_>, retried: bool) -> Reaction {
        let key = server_key(response.url).ok().map(|(_, key)| key);
        self.react_at(key.as_deref(), response, retried)
    }

    /// [`Client::react`] for the server keyed `key` (`None`: a URL the
    /// client keeps nothing for).
    pub(crate) fn react_at(
        &mut self,
        key: Option<&str>,
        response: &ResourceResponse<'_>,
        retried: bool,
    ) -> Reaction {
        let parsed = response
            .www_authenticate
            .and_then(|v| challenge::bearer(v).ok().flatten());
        let error = parsed.as_ref().and_then(|b| b.error.as_deref());
        if let (Some(nonce), Some(key)) = (response.dpop_nonce, key) {
            // RFC 9449 §9: the newest nonce replaces the one held.
            let fresh = self.nonces.get(key).map(String::as_str) != Some(nonce);
            self.nonces.insert(key.to_string(), nonce.to_string());
            if response.status == 401 && error == Some("use_dpop_nonce") && fresh {
                return Reaction::Retry;
            }
        }
        let wants_auth = match response.status {
            401 => true,
            403 => error == Some("insufficient_scope"),
            _ => false,
        };
        if let Some(key) = key {
            if response.status == 401 && error != Some("insufficient_scope") {
                // Remembered so that `renew` replaces exactly this token,
                // and a process that finds another one held knows it was
                // replaced meanwhile.
                if let Some(f) = self.held_token(key).map(fingerprint) {
                    self.refused.insert(key.to_string(), f);
                }
            } else if !wants_auth {
                self.refused.remove(key);
                self.renewed.remove(key);
            }
        }
        if wants_auth {
            self.events.push(FlowEvent {
                step: Step::Resource,
                method: response.method.to_string(),
                url: response.url.to_string(),
                status: Some(response.status),
            });
        }
        match (wants_auth, retried) {
            (false, _) => Reaction::Deliver,
            (true, false) => Reaction::Authorize(response.www_authenticate.map(str::to_string)),
            (true, true) => Reaction::Refused,
        }
    }

    /// Returns and forgets the exchanges recorded since the last call.
    pub fn take_events(&mut self) -> Vec<FlowEvent> {
        core::mem::take(&mut self.events)
    }

    /// The state as a versioned JSON document (contains secrets).
    pub fn export_state(&self) -> Vec<u8> {
        self.store.to_bytes()
    }

    /// Replaces the state with a document from [`Client::export_state`].
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), crate::error::Refused> {
        self.store = Store::from_bytes(bytes)?;
        Ok(())
    }

    /// What the state holds: servers, tokens, clients, cached metadata —
    /// never a token, secret or key.
    pub fn summary(&self) -> crate::state_ops::Summary {
        crate::state_ops::summary(&self.store)
    }

    /// Forgets the tokens and bindings of the server at `server` (its URL),
    /// or of every server (see `crate::state_ops::forget`).
    pub fn forget(&mut self, server: Option<&str>) -> crate::state_ops::Forgotten {
        crate::state_ops::forget(&mut self.store, server)
    }

    /// Merges what another process stored (`theirs`) into this state, which
    /// changed since it was `base` (both exported documents; see
    /// `crate::state_ops::merge`). Either refused leaves the state as it
    /// was.
    pub fn merge_state(&mut self, base: &[u8], theirs: &[u8]) -> Result<(), crate::error::Refused> {
        let (base, theirs) = (Store::from_bytes(base)?, Store::from_bytes(theirs)?);
        self.store = crate::state_ops::merge(&base, &self.store, &theirs);
        Ok(())
    }
}
