//! The state machine: it says which request to send next
//! ([`Flow::poll`]) and consumes the answer ([`Flow::handle_response`]).
//!
//! An authorization flow runs discovery, registration and builds the
//! authorization URL; an exchange flow redeems the code. Neither touches the
//! client's store: their result is applied by [`crate::Client::finish`].

use crate::authorize::{
    authorization_url, AuthorizationRequest, PendingAuthorization, PendingRecord,
};
use crate::config::{Config, DpopMode, GrantType, IdentityProvider, Secret};
use crate::discovery::{
    as_metadata_candidates, parse_as_metadata, parse_resource_metadata, prm_candidates,
    AuthServerMetadata, ResourceMetadata, MAX_METADATA_BYTES,
};
use crate::encode::base64url_nopad;
use crate::error::{Attempt, Error};
use crate::http::{HttpRequest, HttpResponse, Step, TransportError};
use crate::jose::{self, SigningKey};
use crate::pkce::CodeVerifier;
use crate::prelude::*;
use crate::store::{AuthMethod, Binding, ClientRecord, Map, TokenRecord};
use crate::token::TokenCall;
use crate::url::Url;
use crate::{registration, scope, token};
use sha2::{Digest, Sha256};

/// Caller-supplied randomness for one flow (the core has no RNG): 32 bytes
/// for the PKCE verifier (OAuth 2.1 §4.1.1), 16 for `state`, and a 32-byte
/// seed from which `jti` values and a new DPoP key are derived.
#[derive(Clone)]
pub struct Entropy {
    verifier: [u8; 32],
    state: [u8; 16],
    seed: [u8; 32],
}

impl Entropy {
    /// How many random bytes [`Entropy::from_bytes`] takes.
    pub const LEN: usize = 80;

    /// Splits [`Entropy::LEN`] random bytes from a CSPRNG.
    pub fn from_bytes(bytes: [u8; Entropy::LEN]) -> Entropy {
        let mut verifier = [0u8; 32];
        let mut state = [0u8; 16];
        let mut seed = [0u8; 32];
        verifier.copy_from_slice(&bytes[..32]);
        state.copy_from_slice(&bytes[32..48]);
        seed.copy_from_slice(&bytes[48..]);
        Entropy {
            verifier,
            state,
            seed,
        }
    }

    /// 32 bytes derived from the seed for `purpose` and `counter`
    /// (SHA-256 of a domain label, the purpose, the counter and the seed).
    pub(crate) fn derive(&self, purpose: u8, counter: u32) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"mcp-oauth derive\0");
        h.update([purpose]);
        h.update(counter.to_be_bytes());
        h.update(self.seed);
        h.finalize().into()
    }
}

impl core::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Entropy(<redacted>)")
    }
}

const PURPOSE_JTI: u8 = 1;
const PURPOSE_DPOP_KEY: u8 = 2;

/// The keys a flow signs with and the source of its `jti` values.
pub(crate) struct Keys {
    /// The client's `private_key_jwt` key, from the configuration.
    pub client_key: Option<SigningKey>,
    /// The DPoP key: the stored one, or one made by this flow.
    pub dpop_key: Option<SigningKey>,
    /// Set when this flow made `dpop_key`: it must be stored.
    pub dpop_key_is_new: bool,
    /// The newest DPoP nonce each token endpoint sent (RFC 9449 §8), by
    /// endpoint URL: used in the next proof sent there.
    pub nonces: Map<String>,
    entropy: Entropy,
    counter: u32,
}

impl Keys {
    pub(crate) fn new(
        client_key: Option<SigningKey>,
        dpop_key: Option<SigningKey>,
        entropy: Entropy,
    ) -> Keys {
        Keys {
            client_key,
            dpop_key,
            dpop_key_is_new: false,
            nonces: Map::new(),
            entropy,
            counter: 0,
        }
    }

    /// A fresh `jti` (never repeated within the flow).
    fn jti(&mut self) -> [u8; 16] {
        self.counter += 1;
        let d = self.entropy.derive(PURPOSE_JTI, self.counter);
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// The DPoP key, made from the entropy when there is none yet.
    fn dpop_key(&mut self) -> &SigningKey {
        let entropy = &self.entropy;
        let is_new = &mut self.dpop_key_is_new;
        self.dpop_key.get_or_insert_with(|| {
            *is_new = true;
            // A 32-byte string is a valid P-256 scalar with probability
            // 1 - 2^-128 or so; the counter moves on in the rare other case.
            let mut i = 0u32;
            loop {
                if let Some(key) = SigningKey::from_entropy(&entropy.derive(PURPOSE_DPOP_KEY, i)) {
                    break key;
                }
                i = i.wrapping_add(1);
            }
        })
    }

    /// The token endpoint request of `call`, with a fresh client assertion
    /// (`private_key_jwt`) and, when `dpop`, a fresh DPoP proof carrying
    /// `nonce`.
    fn token_request(
        &mut self,
        call: &TokenCall,
        dpop: bool,
        nonce: Option<&str>,
        now: u64,
    ) -> HttpRequest {
        let jti = self.jti();
        let assertion = match (&call.client, &self.client_key) {
            (Some(c), Some(key)) if c.auth_method == AuthMethod::PrivateKeyJwt => Some(
                jose::client_assertion(key, &c.client_id, &call.issuer, now, &jti, None),
            ),
            _ => None,
        };
        let mut request = call.request(assertion.as_deref());
        if dpop {
            let jti = self.jti();
            let proof = jose::dpop_proof(
                self.dpop_key(),
                "POST",
                &call.endpoint,
                now,
                &jti,
                None,
                nonce,
            );
            request.headers.push(("dpop".into(), proof));
        }
        request
    }
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Action {
    /// Send this request and pass the outcome to [`Flow::handle_response`].
    Send(HttpRequest),
    /// The flow is over; hand it to [`crate::Client::finish`].
    Finished,
}

/// One exchange made by a flow, for progress display. No header, no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEvent {
    /// The step.
    pub step: Step,
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The status, `None` when the request failed.
    pub status: Option<u16>,
}

/// The result of a finished flow, applied to the store by `Client::finish`.
#[derive(Debug)]
// One value per flow, moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    Redirect {
        record: PendingRecord,
        /// The resource and issuer the server will be bound to when the
        /// code is redeemed (the record's `server`).
        binding: Binding,
        metadata: Option<AuthServerMetadata>,
    },
    Token {
        server_key: String,
        token: TokenRecord,
        /// Metadata fetched on the way, to cache.
        metadata: Option<AuthServerMetadata>,
        /// The client the token was issued to, when it is to be stored for
        /// the issuer now (a code exchange).
        client: Option<ClientRecord>,
    },
}

/// What an authorization flow starts from (copied out of the client).
pub(crate) struct Start {
    pub config: Config,
    pub server: Url,
    pub server_key: String,
    pub resource_metadata_url: Option<String>,
    pub challenge_scope: Option<String>,
    /// Whether the server's challenge offered the `DPoP` scheme.
    pub challenge_dpop: bool,
    /// The scope of the token a 403 `insufficient_scope` refused: the new
    /// request asks for the union (MCP 2026-07-28 step-up, SEP-2350).
    pub previous_scope: Option<String>,
    pub metadata: Map<AuthServerMetadata>,
    pub clients: Map<ClientRecord>,
    /// The issuer the configured credentials were first used with, if any.
    pub credential_issuer: Option<String>,
}

/// What a token response is for.
/// A registration request is out; what the flow goes on with.
struct Registering {
    prm: ResourceMetadata,
    issuer: String,
    metadata: AuthServerMetadata,
    fetched: bool,
    /// The scope asked for in the registration.
    scope: Option<String>,
    /// When that is more than the request needs: the request's own scope,
    /// registered instead if the server refuses the first registration (one
    /// that rejects scopes it does not know).
    fallback: Option<Option<String>>,
}

// One per flow; the large variant is the common one.
#[allow(clippy::large_enum_variant)]
enum Then {
    /// An access token for `resource`.
    Token {
        server_key: String,
        resource: String,
        issuer: String,
        scope: Option<String>,
        metadata: Option<AuthServerMetadata>,
        /// The grant that obtains the token (kept across refreshes).
        grant_type: String,
        /// The refresh token being redeemed: kept when the server issues
        /// no new one (RFC 6749 §6).
        previous_refresh: Option<Secret>,
        /// The client of a code exchange, stored with the token.
        client: Option<ClientRecord>,
    },
    /// An ID-JAG from the identity provider (SEP-990), to be presented at
    /// the authorization server with `next`.
    IdJag {
        next: Box<TokenCall>,
        /// Whether the request at the authorization server carries DPoP.
        dpop: bool,
        then: Box<Then>,
    },
}

/// The metadata URLs a discovery step tries in turn, and what each
/// answered.
struct Candidates {
    urls: Vec<String>,
    /// The one asked now.
    index: usize,
    attempts: Vec<Attempt>,
}

impl Candidates {
    /// Whether every URL tried answered 404 (no document, as opposed to a
    /// server that refused).
    fn all_404(&self) -> bool {
        self.attempts.iter().all(|a| a.status == Some(404))
    }
}

// One per flow; the large variant is the common one.
#[allow(clippy::large_enum_variant)]
enum Phase {
    ResourceMetadata(Candidates),
    ServerMetadata {
        prm: ResourceMetadata,
        issuer: usize,
        tried: Candidates,
        legacy: bool,
    },
    Register(Registering),
    Token {
        call: TokenCall,
        dpop: bool,
        /// Set once a `use_dpop_nonce` answer was retried (RFC 9449 §8).
        nonce_retried: bool,
        then: Then,
    },
    Done(Result<Outcome, Error>),
}

/// A running flow. Drive it with [`Flow::poll`] and
/// [`Flow::handle_response`] until `poll` says [`Action::Finished`].
pub struct Flow {
    start: Option<Box<Start>>,
    /// For a refresh or code exchange flow: the (resource, issuer) of the
    /// token it obtains, and whether it redeems a refresh token.
    token_for: Option<(String, String, bool)>,
    keys: Keys,
    phase: Phase,
    /// The request sent and not yet answered.
    in_flight: Option<HttpRequest>,
    /// The request to hand out on the next poll.
    next: Option<HttpRequest>,
    events: Vec<FlowEvent>,
    /// How many requests were handed out.
    sent: usize,
    /// The wall clock when the first response came, seconds.
    started: Option<u64>,
}

/// The most requests one flow may make (discovery of up to
/// [`crate::discovery::MAX_AUTHORIZATION_SERVERS`] servers, registration,
/// token requests with their DPoP nonce retries): past it the flow ends with
/// a typed error, whatever the servers answer.
pub const MAX_REQUESTS_PER_FLOW: usize = 24;

/// The most seconds one flow may take, counted from its first response, on
/// top of each request's own time limit.
pub const MAX_FLOW_SECS: u64 = 120;

impl core::fmt::Debug for Flow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Flow")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// The RFC 6749 `error` of a JSON error body, if any.
fn error_code(resp: &HttpResponse) -> Option<String> {
    /// Just the code: other members may be anything.
    #[derive(serde::Deserialize)]
    struct Code {
        #[serde(default)]
        error: Option<String>,
    }
    crate::strict_json::from_slice::<Code>(&resp.body)
        .ok()?
        .error
}

impl Flow {
    fn new(keys: Keys, phase: Phase, next: Option<HttpRequest>) -> Flow {
        Flow {
            start: None,
            token_for: None,
            keys,
            phase,
            in_flight: None,
            next,
            events: Vec::new(),
            sent: 0,
            started: None,
        }
    }

    /// An authorization flow: discovery, client identity, then either the
    /// authorization URL or, for grants without a user, the token.
    pub(crate) fn authorize(start: Start, keys: Keys) -> Flow {
        let mut flow = Flow::new(keys, Phase::Done(Err(Error::NotConfigured)), None);
        match prm_candidates(&start.server, start.resource_metadata_url.as_deref()) {
            Ok(candidates) => {
                let candidates: Vec<String> = candidates.into_iter().map(|(u, _)| u).collect();
                flow.next = Some(HttpRequest::get_json(
                    Step::ProtectedResourceMetadata,
                    candidates[0].clone(),
                    MAX_METADATA_BYTES,
                ));
                flow.phase = Phase::ResourceMetadata(Candidates {
                    urls: candidates,
                    index: 0,
                    attempts: Vec::new(),
                });
            }
            Err(e) => flow.phase = Phase::Done(Err(e)),
        }
        flow.start = Some(Box::new(start));
        flow
    }

    /// An exchange flow: redeem `code` for the pending authorization.
    pub(crate) fn exchange(
        record: PendingRecord,
        client: &ClientRecord,
        code: &str,
        keys: Keys,
        now: u64,
    ) -> Flow {
        let call = TokenCall {
            endpoint: record.token_endpoint.clone(),
            issuer: record.public.issuer.clone(),
            client: Some(client.clone()),
            params: token::code_exchange(
                code,
                &record.verifier,
                &record.public.redirect_uri,
                record
                    .send_resource
                    .then_some(record.public.resource.as_str()),
            ),
        };
        let mut flow = Flow::new(keys, Phase::Done(Err(Error::NotConfigured)), None);
        flow.token_for = Some((
            record.public.resource.clone(),
            record.public.issuer.clone(),
            false,
        ));
        flow.phase = flow.token_phase(
            call,
            record.dpop,
            Then::Token {
                server_key: record.server,
                resource: record.public.resource,
                issuer: record.public.issuer,
                scope: record.scope,
                metadata: None,
                grant_type: "authorization_code".into(),
                previous_refresh: None,
                client: Some(client.clone()),
            },
            now,
        );
        flow
    }

    /// A refresh flow (OAuth 2.1 §4.3) for `token`, whose refresh token and
    /// token endpoint are known: the same `resource` (unless the caller
    /// opted out of sending it), no `scope`, the client's authentication and
    /// a DPoP proof for a DPoP-bound token.
    pub(crate) fn refresh(
        server_key: String,
        token: &TokenRecord,
        client: Option<ClientRecord>,
        send_resource: bool,
        keys: Keys,
        now: u64,
    ) -> Option<Flow> {
        let refresh_token = token.refresh_token.clone()?;
        let endpoint = token.token_endpoint.clone()?;
        let call = TokenCall {
            endpoint,
            issuer: token.issuer.clone(),
            client,
            params: token::refresh(
                refresh_token.expose(),
                send_resource.then_some(token.resource.as_str()),
            ),
        };
        let mut flow = Flow::new(keys, Phase::Done(Err(Error::NotConfigured)), None);
        flow.token_for = Some((token.resource.clone(), token.issuer.clone(), true));
        flow.phase = flow.token_phase(
            call,
            token.token_type == "DPoP",
            Then::Token {
                server_key,
                resource: token.resource.clone(),
                issuer: token.issuer.clone(),
                scope: token.scope.clone(),
                metadata: None,
                grant_type: token
                    .grant_type
                    .clone()
                    .unwrap_or_else(|| "authorization_code".into()),
                previous_refresh: Some(refresh_token),
                client: None,
            },
            now,
        );
        Some(flow)
    }

    /// For a refresh or code exchange flow: the (resource, issuer) of the
    /// token it obtains, and whether it redeems a refresh token.
    pub(crate) fn token_for(&self) -> Option<&(String, String, bool)> {
        self.token_for.as_ref()
    }

    /// Sends the token request of `call` and waits for it in a token phase.
    fn token_phase(&mut self, call: TokenCall, dpop: bool, then: Then, now: u64) -> Phase {
        let nonce = self.keys.nonces.get(&call.endpoint).cloned();
        let request = self.keys.token_request(&call, dpop, nonce.as_deref(), now);
        self.send(request);
        Phase::Token {
            call,
            dpop,
            nonce_retried: false,
            then,
        }
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Action {
        match self.next.take() {
            Some(req) if self.sent >= MAX_REQUESTS_PER_FLOW => {
                self.phase = Phase::Done(Err(Error::ResponseRefused {
                    step: req.step,
                    url: req.url,
                    status: None,
                    detail: format!(
                        "not sent: the flow already made {MAX_REQUESTS_PER_FLOW} requests, the most one flow may make"
                    ),
                }));
                Action::Finished
            }
            Some(req) => {
                self.sent += 1;
                self.in_flight = Some(req.clone());
                Action::Send(req)
            }
            None => Action::Finished,
        }
    }

    /// Feeds the outcome of the last request sent. `now` is the wall clock in
    /// seconds since the Unix epoch.
    pub fn handle_response(&mut self, response: Result<HttpResponse, TransportError>, now: u64) {
        let Some(req) = self.in_flight.take() else {
            return;
        };
        self.events.push(FlowEvent {
            step: req.step,
            method: req.method.as_str().to_string(),
            url: req.url.clone(),
            status: response.as_ref().ok().map(|r| r.status),
        });
        let response = match response {
            Ok(r) if (300..400).contains(&r.status) => Err(Error::ResponseRefused {
                step: req.step,
                url: req.url.clone(),
                status: Some(r.status),
                detail: match r.header("location") {
                    Some(l) => format!(
                        "redirect to {} not followed",
                        crate::http::excerpt(l.as_bytes())
                    ),
                    None => "redirect not followed".into(),
                },
            }),
            Ok(r) => Ok(r),
            Err(TransportError::BodyTooLarge) => Err(Error::ResponseRefused {
                step: req.step,
                url: req.url.clone(),
                status: None,
                detail: format!("body larger than {} bytes", req.max_response_body),
            }),
            Err(e) => Err(Error::Transport {
                step: req.step,
                url: req.url.clone(),
                message: e.to_string(),
            }),
        };
        let phase = core::mem::replace(&mut self.phase, Phase::Done(Err(Error::NotConfigured)));
        self.phase = match response {
            Err(e) => Phase::Done(Err(e)),
            Ok(resp) => self.advance(phase, &req, resp, now),
        };
        let started = *self.started.get_or_insert(now);
        if self.next.is_some() && now.saturating_sub(started) > MAX_FLOW_SECS {
            let next = self.next.take();
            self.phase = Phase::Done(Err(Error::Transport {
                step: next.as_ref().map_or(req.step, |n| n.step),
                url: next.map_or(req.url, |n| n.url),
                message: format!("not sent: the flow has taken more than {MAX_FLOW_SECS} s"),
            }));
        }
    }

    /// Whether the flow has finished.
    pub fn is_finished(&self) -> bool {
        self.next.is_none() && self.in_flight.is_none()
    }

    /// The exchanges made so far.
    pub fn events(&self) -> &[FlowEvent] {
        &self.events
    }

    /// The outcome, the exchanges, the DPoP key this flow made (to be
    /// stored, as 32 secret bytes) and the token endpoints' newest nonces.
    #[allow(clippy::type_complexity)]
    pub(crate) fn into_parts(
        self,
    ) -> (
        Result<Outcome, Error>,
        Vec<FlowEvent>,
        Option<[u8; 32]>,
        Map<String>,
    ) {
        let outcome = match self.phase {
            Phase::Done(r) => r,
            _ => Err(Error::InvalidArgument(
                "the flow was finished before it completed".into(),
            )),
        };
        let new_key = self
            .keys
            .dpop_key
            .as_ref()
            .filter(|_| self.keys.dpop_key_is_new)
            .map(SigningKey::to_bytes);
        (outcome, self.events, new_key, self.keys.nonces)
    }

    fn send(&mut self, req: HttpRequest) {
        self.next = Some(req);
    }

    fn advance(&mut self, phase: Phase, req: &HttpRequest, resp: HttpResponse, now: u64) -> Phase {
        match phase {
            Phase::Token {
                call,
                dpop,
                nonce_retried,
                then,
            } => self.after_token(call, dpop, nonce_retried, then, req, resp, now),
            Phase::ResourceMetadata(mut tried) => {
                if (400..500).contains(&resp.status) {
                    return if self.try_next(req, resp.status, &mut tried) {
                        Phase::ResourceMetadata(tried)
                    } else if tried.all_404() {
                        self.legacy(now)
                    } else {
                        Phase::Done(Err(Error::NoResourceMetadata(tried.attempts)))
                    };
                }
                let Some(server) = self.start.as_deref().map(|s| s.server.clone()) else {
                    return Phase::Done(Err(Error::NotConfigured));
                };
                match parse_resource_metadata(&resp, &req.url, &server) {
                    Ok(prm) => self.after_resource_metadata(prm, 0, Vec::new(), false, now),
                    Err(e) => Phase::Done(Err(e)),
                }
            }
            Phase::ServerMetadata {
                prm,
                issuer,
                mut tried,
                legacy,
            } => {
                if (400..500).contains(&resp.status) {
                    if self.try_next(req, resp.status, &mut tried) {
                        return Phase::ServerMetadata {
                            prm,
                            issuer,
                            tried,
                            legacy,
                        };
                    }
                    // MCP 2025-03-26 "Fallbacks for Servers without
                    // Metadata Discovery": default paths, on 404 only.
                    if legacy && tried.all_404() {
                        let issuer = prm.authorization_servers[0].clone();
                        let mut meta = AuthServerMetadata::assumed(&issuer);
                        meta.authorization_endpoint = Some(format!("{issuer}/authorize"));
                        meta.token_endpoint = Some(format!("{issuer}/token"));
                        meta.registration_endpoint = Some(format!("{issuer}/register"));
                        return self.with_metadata(prm, issuer, meta, false, true, &req.url, now);
                    }
                    // RFC 9728 §7.6: the client picks; try the next listed server.
                    return self.after_resource_metadata(
                        prm,
                        issuer + 1,
                        tried.attempts,
                        legacy,
                        now,
                    );
                }
                let Some(start) = self.start.as_deref() else {
                    return Phase::Done(Err(Error::NotConfigured));
                };
                let expected = self.issuer_at(&prm, issuer).unwrap_or_default();
                match parse_as_metadata(
                    &resp,
                    &req.url,
                    &expected,
                    &start.server,
                    start.config.relax.accept_issuer_mismatch,
                ) {
                    Ok(meta) => self.with_metadata(prm, expected, meta, true, false, &req.url, now),
                    Err(e) => Phase::Done(Err(e)),
                }
            }
            Phase::Register(mut r) => {
                let Some(config) = self.start.as_deref().map(|s| s.config.clone()) else {
                    return Phase::Done(Err(Error::NotConfigured));
                };
                match registration::parse_response(
                    &resp,
                    &req.url,
                    &config.redirect_uri,
                    r.scope.as_deref(),
                ) {
                    Ok(client) => self.redirect(r.prm, r.issuer, r.metadata, r.fetched, client),
                    Err(Error::RegistrationRejected(_)) if r.fallback.is_some() => {
                        r.scope = r.fallback.take().unwrap_or_default();
                        self.send(registration::request(&req.url, &config, r.scope.as_deref()));
                        Phase::Register(r)
                    }
                    Err(e) => Phase::Done(Err(e)),
                }
            }
            other => other,
        }
    }

    /// A token endpoint answered.
    #[allow(clippy::too_many_arguments)]
    fn after_token(
        &mut self,
        call: TokenCall,
        dpop: bool,
        nonce_retried: bool,
        then: Then,
        req: &HttpRequest,
        resp: HttpResponse,
        now: u64,
    ) -> Phase {
        // RFC 9449 §8: a nonce the server sends, with any answer, is the one
        // for its next proof.
        let nonce = resp.header("dpop-nonce").map(str::to_string);
        if let (true, Some(n)) = (dpop, &nonce) {
            self.keys.nonces.insert(call.endpoint.clone(), n.clone());
        }
        // The server wants a nonce in the proof; retry once.
        if dpop && !nonce_retried && resp.status == 400 {
            if let Some(nonce) = nonce {
                if error_code(&resp).as_deref() == Some("use_dpop_nonce") {
                    let request = self.keys.token_request(&call, dpop, Some(&nonce), now);
                    self.send(request);
                    return Phase::Token {
                        call,
                        dpop,
                        nonce_retried: true,
                        then,
                    };
                }
            }
        }
        match then {
            Then::Token {
                server_key,
                resource,
                issuer,
                scope,
                metadata,
                grant_type,
                previous_refresh,
                client,
            } => Phase::Done(
                token::parse_token_response(
                    &resp,
                    &req.url,
                    now,
                    &resource,
                    &issuer,
                    scope.as_deref(),
                    dpop,
                )
                .map(|mut token| {
                    token.grant_type = Some(grant_type);
                    if token.refresh_token.is_none() {
                        token.refresh_token = previous_refresh;
                    }
                    Outcome::Token {
                        server_key,
                        token,
                        metadata,
                        client,
                    }
                }),
            ),
            Then::IdJag {
                mut next,
                dpop,
                then,
            } => match token::parse_id_jag(&resp, &req.url) {
                Ok(jag) => {
                    next.params.insert(1, ("assertion", jag));
                    self.token_phase(*next, dpop, *then, now)
                }
                Err(e) => Phase::Done(Err(e)),
            },
        }
    }

    /// A metadata URL answered 4xx: records the attempt and sends the next
    /// candidate of the same step; `false` when the list is exhausted. (4xx
    /// means "not here"; 5xx never gets here.)
    fn try_next(&mut self, req: &HttpRequest, status: u16, tried: &mut Candidates) -> bool {
        tried.attempts.push(Attempt {
            url: req.url.clone(),
            status: Some(status),
        });
        let Some(next) = tried.urls.get(tried.index + 1) else {
            return false;
        };
        self.send(HttpRequest::get_json(
            req.step,
            next.clone(),
            MAX_METADATA_BYTES,
        ));
        tried.index += 1;
        true
    }

    /// No protected resource metadata anywhere (every candidate 404): a
    /// 2025-03-26 server. The resource is the server URL; the authorization
    /// server is the configured one, else the server's origin (MCP
    /// 2025-03-26 "Authorization Base URL"). spec-checklist 30.
    fn legacy(&mut self, now: u64) -> Phase {
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let issuer = match &start.config.server {
            Some(s) => s.issuer.clone(),
            None => start.server.origin(),
        };
        let prm = ResourceMetadata {
            source: String::new(),
            resource: start.server_key.clone(),
            authorization_servers: vec![issuer],
            scopes_supported: None,
            dpop_signing_alg_values_supported: None,
            dpop_bound_access_tokens_required: false,
        };
        self.after_resource_metadata(prm, 0, Vec::new(), true, now)
    }

    /// The issuer to use at `index`: the configured one replaces the first.
    fn issuer_at(&self, prm: &ResourceMetadata, index: usize) -> Option<String> {
        let configured = self
            .start
            .as_deref()
            .and_then(|s| s.config.server.as_ref())
            .map(|s| s.issuer.clone());
        match (index, configured) {
            (0, Some(issuer)) => Some(issuer),
            (_, Some(_)) => None,
            (i, None) if i < crate::discovery::MAX_AUTHORIZATION_SERVERS => {
                prm.authorization_servers.get(i).cloned()
            }
            (_, None) => None,
        }
    }

    /// Chooses the authorization server at `index` of the PRM's list (or the
    /// configured one): configured endpoints when they suffice, cached
    /// metadata when fresh, else the first metadata candidate.
    fn after_resource_metadata(
        &mut self,
        prm: ResourceMetadata,
        index: usize,
        attempts: Vec<Attempt>,
        legacy: bool,
        now: u64,
    ) -> Phase {
        let Some(issuer) = self.issuer_at(&prm, index) else {
            let listed = prm.authorization_servers.len();
            let configured = self
                .start
                .as_deref()
                .is_some_and(|s| s.config.server.is_some());
            if listed > index && !configured && !prm.source.is_empty() {
                // The limit was hit: say so, with what was tried.
                return Phase::Done(Err(Error::InvalidResponse {
                    step: Step::ProtectedResourceMetadata,
                    url: prm.source,
                    reason: format!(
                        "lists {listed} authorization servers; only the first {} are tried, \
                         and none of them answered with metadata (tried {})",
                        crate::discovery::MAX_AUTHORIZATION_SERVERS,
                        crate::error::attempts(&attempts)
                    ),
                }));
            }
            return Phase::Done(Err(Error::NoAuthorizationServerMetadata(attempts)));
        };
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        if let Some(configured) = &start.config.server {
            let user_grant = matches!(
                start.config.grant_type,
                None | Some(GrantType::AuthorizationCode)
            );
            let enough = configured.token_endpoint.is_some()
                && (!user_grant || configured.authorization_endpoint.is_some());
            if enough {
                let meta = AuthServerMetadata::assumed(&issuer);
                return self.with_metadata(prm, issuer.clone(), meta, false, true, &issuer, now);
            }
        }
        if let Some(meta) = start.metadata.get(&issuer).cloned() {
            return self.with_metadata(prm, issuer.clone(), meta, false, false, &issuer, now);
        }
        let issuer_url = match Url::parse(&issuer) {
            Ok(u) => u,
            Err(_) => return Phase::Done(Err(Error::InsecureUrl(issuer))),
        };
        let candidates = as_metadata_candidates(&issuer_url);
        self.send(HttpRequest::get_json(
            Step::AuthorizationServerMetadata,
            candidates[0].clone(),
            MAX_METADATA_BYTES,
        ));
        Phase::ServerMetadata {
            prm,
            issuer: index,
            tried: Candidates {
                urls: candidates,
                index: 0,
                attempts,
            },
            legacy,
        }
    }

    /// With the metadata known: chooses the grant, checks PKCE support for
    /// the authorization code grant, and finds the client identity.
    /// `assumed` metadata (configured endpoints, 2025-03-26 defaults)
    /// advertises nothing, so PKCE cannot be checked there.
    #[allow(clippy::too_many_arguments)]
    fn with_metadata(
        &mut self,
        prm: ResourceMetadata,
        issuer: String,
        mut metadata: AuthServerMetadata,
        fetched: bool,
        assumed: bool,
        metadata_url: &str,
        now: u64,
    ) -> Phase {
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        if let Some(configured) = &start.config.server {
            if configured.issuer == issuer {
                let set = |slot: &mut Option<String>, value: &Option<String>| {
                    if value.is_some() {
                        slot.clone_from(value);
                    }
                };
                set(
                    &mut metadata.authorization_endpoint,
                    &configured.authorization_endpoint,
                );
                set(&mut metadata.token_endpoint, &configured.token_endpoint);
                set(
                    &mut metadata.registration_endpoint,
                    &configured.registration_endpoint,
                );
            }
        }
        // Security review finding 1: configured credentials go to one
        // issuer only — the configured one (`issuer_at` allows no other),
        // else the first one they were used with.
        if let (None, Some(_), Some(first)) = (
            &start.config.server,
            start.config.credential_label(),
            &start.credential_issuer,
        ) {
            if *first != issuer {
                return Phase::Done(Err(Error::CredentialIssuerMismatch(
                    crate::error::Mismatch {
                        url: metadata_url.to_string(),
                        expected: first.clone(),
                        found: issuer,
                    },
                )));
            }
        }
        let grant = choose_grant(&start.config, &metadata);
        if !matches!(grant, GrantType::AuthorizationCode) {
            return self.without_user(prm, issuer, metadata, fetched, grant, now);
        }
        // MCP 2025-11-25 Authorization Code Protection: refuse without S256.
        if !metadata.supports_s256() && !assumed && !start.config.relax.allow_pkce_unadvertised {
            return Phase::Done(Err(Error::PkceUnsupported(metadata_url.to_string())));
        }
        // RFC 9700 §4.4 (mix-up): without RFC 9207 `iss`, nothing tells the
        // client which server a code came from. Metadata that sends the
        // user to another origin's authorization endpoint (an honest
        // server) while the code goes to its own token endpoint would get
        // the honest code and its verifier. Endpoints must then be on the
        // issuer's origin, unless the user configured them or opted out.
        let mix_up_guard = !assumed
            && !metadata.authorization_response_iss_parameter_supported
            && start.config.server.is_none()
            && !start.config.relax.allow_cross_origin_endpoints;
        if mix_up_guard {
            let origin = |u: &str| Url::parse(u).ok().map(|u| u.origin());
            for (name, endpoint) in [
                ("authorization_endpoint", &metadata.authorization_endpoint),
                ("token_endpoint", &metadata.token_endpoint),
            ] {
                if let Some(e) = endpoint.as_deref().filter(|e| origin(e) != origin(&issuer)) {
                    return Phase::Done(Err(Error::InvalidResponse {
                        step: Step::AuthorizationServerMetadata,
                        url: metadata_url.to_string(),
                        reason: format!(
                            "{name} {e} is not on the origin of the issuer {issuer}, and the server does not support RFC 9207 iss: refused as a possible mix-up (relaxation allow-cross-origin-endpoints accepts it)"
                        ),
                    }));
                }
            }
        }
        let config = &start.config;
        // spec-checklist 39: pre-registered → CIMD → registered before → DCR.
        let cimd = config
            .client_metadata_url
            .as_ref()
            .filter(|_| metadata.client_id_metadata_document_supported)
            .map(|url| ClientRecord {
                client_id: url.clone(),
                client_secret: None,
                auth_method: AuthMethod::None,
                redirect_uri: config.redirect_uri.clone(),
                secret_expires_at: None,
                registered_scope: None,
            });
        let requested = self.scope_for(&prm, &metadata);
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let config = &start.config;
        // A registration restricted to less scope than this request needs
        // is replaced by a new one (oidc-provider answers `invalid_scope`).
        let known = start
            .clients
            .get(&issuer)
            .filter(|c| c.redirect_uri == config.redirect_uri)
            .filter(|c| match (&c.registered_scope, &requested) {
                (Some(held), Some(wanted)) => scope::covers(held, wanted),
                _ => true,
            })
            .cloned();
        let client = registration::preregistered(config, &metadata)
            .or(cimd)
            .or(known);
        if let Some(client) = client {
            return self.redirect(prm, issuer, metadata, fetched, client);
        }
        let Some(endpoint) = &metadata.registration_endpoint else {
            return Phase::Done(Err(Error::ClientIdRequired(issuer)));
        };
        let scope = scope::for_registration(
            requested.as_deref(),
            prm.scopes_supported.as_deref(),
            metadata.scopes_supported.as_deref(),
        );
        let request = registration::request(endpoint, config, scope.as_deref());
        self.send(request);
        let fallback = (scope != requested).then_some(requested);
        Phase::Register(Registering {
            prm,
            issuer,
            metadata,
            fetched,
            scope,
            fallback,
        })
    }

    /// The scope of a request: the configured one, else the challenge's,
    /// else the PRM's; for a step-up, united with the scope held before;
    /// `offline_access` added for the authorization code grant when the
    /// server lists it (MCP 2026-07-28 "Refresh Tokens", spec-checklist 62)
    /// and some scope is requested anyway.
    fn scope_for(&self, prm: &ResourceMetadata, metadata: &AuthServerMetadata) -> Option<String> {
        let start = self.start.as_deref()?;
        let selected = scope::select(
            start.config.scope.as_deref(),
            start.challenge_scope.as_deref(),
            prm.scopes_supported.as_deref(),
        );
        let selected = scope::union(start.previous_scope.as_deref(), selected.as_deref());
        let offline = start.config.scope.is_none()
            && metadata
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|x| x == scope::OFFLINE_ACCESS));
        match selected {
            Some(s) if offline => scope::union(Some(&s), Some(scope::OFFLINE_ACCESS)),
            other => other,
        }
    }

    /// Grants without a user: client credentials, JWT bearer, and the
    /// SEP-990 token exchange.
    fn without_user(
        &mut self,
        prm: ResourceMetadata,
        issuer: String,
        metadata: AuthServerMetadata,
        fetched: bool,
        grant: GrantType,
        now: u64,
    ) -> Phase {
        let Some(start) = self.start.take() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let Some(endpoint) = metadata.token_endpoint.clone() else {
            return Phase::Done(Err(Error::InvalidResponse {
                step: Step::AuthorizationServerMetadata,
                url: issuer,
                reason: "token_endpoint is missing".into(),
            }));
        };
        let config = &start.config;
        let resource = (!config.relax.omit_resource).then_some(prm.resource.as_str());
        let scope = scope::select(
            config.scope.as_deref(),
            start.challenge_scope.as_deref(),
            prm.scopes_supported.as_deref(),
        );
        let scope = scope::union(start.previous_scope.as_deref(), scope.as_deref());
        let client = registration::preregistered(config, &metadata);
        let dpop = wants_dpop(&start, &prm, &metadata);
        let then = Then::Token {
            server_key: start.server_key.clone(),
            resource: prm.resource.clone(),
            issuer: issuer.clone(),
            scope: scope.clone(),
            metadata: fetched.then(|| metadata.clone()),
            grant_type: match &grant {
                GrantType::ClientCredentials => "client_credentials",
                GrantType::JwtBearer { .. } => token::JWT_BEARER_GRANT,
                GrantType::TokenExchange(_) => token::TOKEN_EXCHANGE_GRANT,
                GrantType::AuthorizationCode => "authorization_code",
            }
            .into(),
            previous_refresh: None,
            client: None,
        };
        let (call, then) = match &grant {
            GrantType::ClientCredentials => (
                TokenCall {
                    endpoint,
                    issuer,
                    client,
                    params: token::client_credentials(scope.as_deref(), resource),
                },
                then,
            ),
            GrantType::JwtBearer { assertion } => (
                TokenCall {
                    endpoint,
                    issuer,
                    client,
                    params: token::jwt_bearer(assertion.expose(), scope.as_deref(), resource),
                },
                then,
            ),
            GrantType::TokenExchange(idp) => {
                let next = TokenCall {
                    endpoint,
                    issuer: issuer.clone(),
                    client,
                    params: token::jwt_bearer("", scope.as_deref(), resource)
                        .into_iter()
                        .filter(|(n, _)| *n != "assertion")
                        .collect(),
                };
                (
                    idp_call(idp, &issuer, resource, scope.as_deref()),
                    Then::IdJag {
                        next: Box::new(next),
                        dpop,
                        then: Box::new(then),
                    },
                )
            }
            GrantType::AuthorizationCode => {
                return Phase::Done(Err(Error::NotConfigured));
            }
        };
        // The identity provider never gets a DPoP proof: it issues no
        // access token for this client.
        let first_dpop = dpop && !matches!(then, Then::IdJag { .. });
        let phase = self.token_phase(call, first_dpop, then, now);
        self.start = Some(start);
        phase
    }

    /// Builds the authorization URL and the pending record.
    fn redirect(
        &mut self,
        prm: ResourceMetadata,
        issuer: String,
        metadata: AuthServerMetadata,
        fetched: bool,
        client: ClientRecord,
    ) -> Phase {
        let scope = self.scope_for(&prm, &metadata);
        let Some(start) = self.start.take() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let (Some(auth_endpoint), Some(token_endpoint)) = (
            metadata.authorization_endpoint.clone(),
            metadata.token_endpoint.clone(),
        ) else {
            return Phase::Done(Err(Error::InvalidResponse {
                step: Step::AuthorizationServerMetadata,
                url: issuer,
                reason: "authorization_endpoint or token_endpoint is missing".into(),
            }));
        };
        let verifier = CodeVerifier::from_entropy(&self.keys.entropy.verifier);
        let state = base64url_nopad(&self.keys.entropy.state);
        let send_resource = !start.config.relax.omit_resource;
        let dpop = wants_dpop(&start, &prm, &metadata);
        if dpop {
            // Made now, so that it is stored with the pending authorization
            // and the code exchange finds it.
            self.keys.dpop_key();
        }
        let url = authorization_url(&AuthorizationRequest {
            endpoint: &auth_endpoint,
            client_id: &client.client_id,
            redirect_uri: &start.config.redirect_uri,
            code_challenge: &verifier.challenge_s256(),
            state: &state,
            scope: scope.as_deref(),
            resource: send_resource.then_some(prm.resource.as_str()),
        });
        let public = PendingAuthorization {
            authorization_url: url,
            state,
            redirect_uri: start.config.redirect_uri.clone(),
            issuer: issuer.clone(),
            resource: prm.resource.clone(),
        };
        let record = PendingRecord {
            public,
            verifier,
            iss_supported: metadata.authorization_response_iss_parameter_supported,
            token_endpoint,
            client_id: client.client_id.clone(),
            client: client.clone(),
            scope,
            server: start.server_key.clone(),
            declared_issuer: metadata.issuer.clone(),
            dpop,
            send_resource,
        };
        Phase::Done(Ok(Outcome::Redirect {
            record,
            binding: Binding {
                resource: prm.resource,
                issuer,
            },
            metadata: fetched.then_some(metadata),
        }))
    }
}

/// The grant: the configured one, else client credentials when the client
/// has its own credentials and the server offers that grant but not the
/// authorization code grant, else the authorization code grant.
fn choose_grant(config: &Config, metadata: &AuthServerMetadata) -> GrantType {
    if let Some(g) = &config.grant_type {
        return g.clone();
    }
    let confidential = config.client_secret.is_some() || config.private_key_pem.is_some();
    if confidential
        && metadata.lists_grant("client_credentials")
        && !metadata.lists_grant("authorization_code")
    {
        GrantType::ClientCredentials
    } else {
        GrantType::AuthorizationCode
    }
}

/// Whether the token is to be DPoP-bound (RFC 9449). `Auto` binds it only
/// when the resource server asks for DPoP (its metadata, RFC 9728 §2, or a
/// `DPoP` challenge, RFC 9449 §7.1) and the authorization server accepts
/// ES256 proofs: an authorization server that merely offers DPoP says
/// nothing about what the resource server accepts, and a Bearer-only
/// server refuses a `DPoP` token.
fn wants_dpop(start: &Start, prm: &ResourceMetadata, metadata: &AuthServerMetadata) -> bool {
    match start.config.dpop {
        DpopMode::Never => false,
        DpopMode::Always => true,
        DpopMode::Auto => {
            (start.challenge_dpop || prm.asks_for_dpop()) && metadata.supports_dpop_es256()
        }
    }
}

/// The RFC 8693 request to the identity provider for an ID-JAG whose
/// audience is the authorization server.
fn idp_call(
    idp: &IdentityProvider,
    audience: &str,
    resource: Option<&str>,
    scope: Option<&str>,
) -> TokenCall {
    TokenCall {
        endpoint: idp.token_endpoint.clone(),
        issuer: idp.token_endpoint.clone(),
        client: Some(ClientRecord {
            client_id: idp.client_id.clone(),
            client_secret: idp.client_secret.clone(),
            auth_method: if idp.client_secret.is_some() {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::None
            },
            redirect_uri: String::new(),
            secret_expires_at: None,
            registered_scope: None,
        }),
        params: token::id_jag_exchange(idp.id_token.expose(), audience, resource, scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_request_past_the_limit_is_handed_out() {
        // Finding 3's backstop. Today's flows stop sooner by themselves (at
        // most 10 discovery requests, 2 registrations, 2 token requests), so
        // the limit is reached here by setting the count: whatever a future
        // phase does, the 25th request is never sent.
        let url = "https://mcp.example.com/.well-known/oauth-protected-resource";
        let req = || {
            HttpRequest::get_json(
                Step::ProtectedResourceMetadata,
                url.to_string(),
                MAX_METADATA_BYTES,
            )
        };
        let keys = Keys::new(None, None, Entropy::from_bytes([0; Entropy::LEN]));
        let mut flow = Flow::new(keys, Phase::Done(Err(Error::NotConfigured)), Some(req()));
        flow.sent = MAX_REQUESTS_PER_FLOW - 1;
        assert!(matches!(flow.poll(), Action::Send(_)), "the 24th is sent");
        flow.in_flight = None;
        flow.next = Some(req());
        assert!(matches!(flow.poll(), Action::Finished), "the 25th is not");
        let Phase::Done(Err(Error::ResponseRefused {
            url: refused,
            status: None,
            detail,
            ..
        })) = &flow.phase
        else {
            panic!("a typed error")
        };
        assert_eq!(refused, url);
        assert!(detail.contains("already made 24 requests"), "{detail}");
    }
}
