//! The state machine: it says which request to send next
//! ([`Flow::poll`]) and consumes the answer ([`Flow::handle_response`]).
//!
//! An authorization flow runs discovery, registration and builds the
//! authorization URL; an exchange flow redeems the code. Neither touches the
//! client's store: their result is applied by [`crate::Client::finish`].

use crate::authorize::{
    authorization_url, AuthorizationRequest, PendingAuthorization, PendingRecord,
};
use crate::config::Config;
use crate::discovery::{
    as_metadata_candidates, parse_as_metadata, parse_resource_metadata, prm_candidates,
    AuthServerMetadata, ResourceMetadata, MAX_METADATA_BYTES,
};
use crate::encode::base64url_nopad;
use crate::error::{Attempt, Error};
use crate::http::{HttpRequest, HttpResponse, Step, TransportError};
use crate::pkce::CodeVerifier;
use crate::store::{Binding, ClientRecord, Map, TokenRecord};
use crate::url::Url;
use crate::{registration, scope, token};

/// Caller-supplied randomness for one authorization (the core has no RNG):
/// 32 bytes for the PKCE verifier (OAuth 2.1 §4.1.1), 16 for `state`.
#[derive(Clone)]
pub struct Entropy {
    verifier: [u8; 32],
    state: [u8; 16],
}

impl Entropy {
    /// Splits 48 random bytes from a CSPRNG.
    pub fn from_bytes(bytes: [u8; 48]) -> Entropy {
        let mut verifier = [0u8; 32];
        let mut state = [0u8; 16];
        verifier.copy_from_slice(&bytes[..32]);
        state.copy_from_slice(&bytes[32..]);
        Entropy { verifier, state }
    }
}

impl core::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Entropy(<redacted>)")
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
        server_key: String,
        binding: Binding,
        metadata: Option<AuthServerMetadata>,
        client: ClientRecord,
    },
    Token {
        server_key: String,
        token: TokenRecord,
    },
}

/// What an authorization flow starts from (copied out of the client).
pub(crate) struct Start {
    pub config: Config,
    pub server: Url,
    pub server_key: String,
    pub resource_metadata_url: Option<String>,
    pub challenge_scope: Option<String>,
    pub metadata: Map<AuthServerMetadata>,
    pub clients: Map<ClientRecord>,
    pub entropy: Entropy,
}

// One per flow; the large variant is the common one.
#[allow(clippy::large_enum_variant)]
enum Phase {
    ResourceMetadata {
        candidates: Vec<String>,
        index: usize,
        attempts: Vec<Attempt>,
    },
    ServerMetadata {
        prm: ResourceMetadata,
        issuer: usize,
        candidates: Vec<String>,
        index: usize,
        attempts: Vec<Attempt>,
    },
    Register {
        prm: ResourceMetadata,
        issuer: String,
        metadata: AuthServerMetadata,
        fetched: bool,
    },
    Exchange {
        server_key: String,
        issuer: String,
        resource: String,
        scope: Option<String>,
    },
    Done(Result<Outcome, Error>),
}

/// A running flow. Drive it with [`Flow::poll`] and
/// [`Flow::handle_response`] until `poll` says [`Action::Finished`].
pub struct Flow {
    start: Option<Box<Start>>,
    phase: Phase,
    /// The request sent and not yet answered.
    in_flight: Option<HttpRequest>,
    /// The request to hand out on the next poll.
    next: Option<HttpRequest>,
    events: Vec<FlowEvent>,
}

impl core::fmt::Debug for Flow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Flow")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// An authorization flow: discovery, client identity, authorization URL.
    pub(crate) fn authorize(start: Start) -> Flow {
        let mut flow = Flow {
            start: None,
            phase: Phase::Done(Err(Error::NotConfigured)),
            in_flight: None,
            next: None,
            events: Vec::new(),
        };
        match prm_candidates(&start.server, start.resource_metadata_url.as_deref()) {
            Ok(candidates) => {
                let candidates: Vec<String> = candidates.into_iter().map(|(u, _)| u).collect();
                flow.next = Some(HttpRequest::get_json(
                    Step::ProtectedResourceMetadata,
                    candidates[0].clone(),
                    MAX_METADATA_BYTES,
                ));
                flow.phase = Phase::ResourceMetadata {
                    candidates,
                    index: 0,
                    attempts: Vec::new(),
                };
            }
            Err(e) => flow.phase = Phase::Done(Err(e)),
        }
        flow.start = Some(Box::new(start));
        flow
    }

    /// An exchange flow: redeem `code` for the pending authorization.
    pub(crate) fn exchange(record: PendingRecord, client: &ClientRecord, code: &str) -> Flow {
        let request = token::code_exchange(
            &record.token_endpoint,
            client,
            code,
            &record.verifier,
            &record.public.redirect_uri,
            &record.public.resource,
        );
        Flow {
            start: None,
            phase: Phase::Exchange {
                server_key: record.server,
                issuer: record.public.issuer,
                resource: record.public.resource,
                scope: record.scope,
            },
            in_flight: None,
            next: Some(request),
            events: Vec::new(),
        }
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Action {
        match self.next.take() {
            Some(req) => {
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
    }

    /// Whether the flow has finished.
    pub fn is_finished(&self) -> bool {
        self.next.is_none() && self.in_flight.is_none()
    }

    /// The exchanges made so far.
    pub fn events(&self) -> &[FlowEvent] {
        &self.events
    }

    pub(crate) fn into_parts(self) -> (Result<Outcome, Error>, Vec<FlowEvent>) {
        let outcome = match self.phase {
            Phase::Done(r) => r,
            _ => Err(Error::InvalidArgument(
                "the flow was finished before it completed".into(),
            )),
        };
        (outcome, self.events)
    }

    fn send(&mut self, req: HttpRequest) {
        self.next = Some(req);
    }

    fn advance(&mut self, phase: Phase, req: &HttpRequest, resp: HttpResponse, now: u64) -> Phase {
        let Some((server, redirect_uri)) = self
            .start
            .as_deref()
            .map(|s| (s.server.clone(), s.config.redirect_uri.clone()))
        else {
            // Exchange flows carry their context in the phase.
            return match phase {
                Phase::Exchange {
                    server_key,
                    issuer,
                    resource,
                    scope,
                } => Phase::Done(
                    token::parse_token_response(
                        &resp,
                        &req.url,
                        now,
                        &resource,
                        &issuer,
                        scope.as_deref(),
                    )
                    .map(|token| Outcome::Token { server_key, token }),
                ),
                other => other,
            };
        };
        match phase {
            Phase::ResourceMetadata {
                candidates,
                index,
                mut attempts,
            } => {
                if (400..500).contains(&resp.status) {
                    return match self.try_next(req, resp.status, &candidates, index, &mut attempts)
                    {
                        Some(index) => Phase::ResourceMetadata {
                            candidates,
                            index,
                            attempts,
                        },
                        None => Phase::Done(Err(Error::NoResourceMetadata(attempts))),
                    };
                }
                match parse_resource_metadata(&resp, &req.url, &server) {
                    Ok(prm) => self.after_resource_metadata(prm, 0, Vec::new()),
                    Err(e) => Phase::Done(Err(e)),
                }
            }
            Phase::ServerMetadata {
                prm,
                issuer,
                candidates,
                index,
                mut attempts,
            } => {
                if (400..500).contains(&resp.status) {
                    return match self.try_next(req, resp.status, &candidates, index, &mut attempts)
                    {
                        Some(index) => Phase::ServerMetadata {
                            prm,
                            issuer,
                            candidates,
                            index,
                            attempts,
                        },
                        // RFC 9728 §7.6: the client picks; try the next listed server.
                        None => self.after_resource_metadata(prm, issuer + 1, attempts),
                    };
                }
                let expected = prm.authorization_servers[issuer].clone();
                match parse_as_metadata(&resp, &req.url, &expected, &server) {
                    Ok(meta) => self.with_metadata(prm, expected, meta, true, &req.url),
                    Err(e) => Phase::Done(Err(e)),
                }
            }
            Phase::Register {
                prm,
                issuer,
                metadata,
                fetched,
            } => match registration::parse_response(&resp, &req.url, &redirect_uri) {
                Ok(client) => self.redirect(prm, issuer, metadata, fetched, client),
                Err(e) => Phase::Done(Err(e)),
            },
            other => other,
        }
    }

    /// A metadata URL answered 4xx: records the attempt and sends the next
    /// candidate of the same step, returning its index, or `None` when the
    /// list is exhausted. (4xx means "not here"; 5xx never gets here.)
    fn try_next(
        &mut self,
        req: &HttpRequest,
        status: u16,
        candidates: &[String],
        index: usize,
        attempts: &mut Vec<Attempt>,
    ) -> Option<usize> {
        attempts.push(Attempt {
            url: req.url.clone(),
            status: Some(status),
        });
        let next = candidates.get(index + 1)?;
        self.send(HttpRequest::get_json(
            req.step,
            next.clone(),
            MAX_METADATA_BYTES,
        ));
        Some(index + 1)
    }

    /// Chooses the authorization server at `index` of the PRM's list: cached
    /// metadata when fresh, else the first metadata candidate.
    fn after_resource_metadata(
        &mut self,
        prm: ResourceMetadata,
        index: usize,
        attempts: Vec<Attempt>,
    ) -> Phase {
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let Some(issuer) = prm.authorization_servers.get(index).cloned() else {
            return Phase::Done(Err(Error::NoAuthorizationServerMetadata(attempts)));
        };
        if let Some(meta) = start.metadata.get(&issuer).cloned() {
            return self.with_metadata(prm, issuer.clone(), meta, false, &issuer);
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
            candidates,
            index: 0,
            attempts,
        }
    }

    /// Checks PKCE support, then finds the client identity: one already
    /// known for this issuer, the configured one, or a registration.
    fn with_metadata(
        &mut self,
        prm: ResourceMetadata,
        issuer: String,
        metadata: AuthServerMetadata,
        fetched: bool,
        metadata_url: &str,
    ) -> Phase {
        // MCP 2025-11-25 Authorization Code Protection: refuse without S256.
        if !metadata.supports_s256() {
            return Phase::Done(Err(Error::PkceUnsupported(metadata_url.to_string())));
        }
        let Some(start) = self.start.as_deref() else {
            return Phase::Done(Err(Error::NotConfigured));
        };
        let known = start
            .clients
            .get(&issuer)
            .filter(|c| c.redirect_uri == start.config.redirect_uri);
        let client =
            registration::preregistered(&start.config, &metadata).or_else(|| known.cloned());
        let registration = match (&client, &metadata.registration_endpoint) {
            (None, Some(endpoint)) => {
                let scope = scope::select(
                    start.config.scope.as_deref(),
                    start.challenge_scope.as_deref(),
                    prm.scopes_supported.as_deref(),
                );
                Some(registration::request(
                    endpoint,
                    &start.config,
                    scope.as_deref(),
                ))
            }
            _ => None,
        };
        match (client, registration) {
            (Some(client), _) => self.redirect(prm, issuer, metadata, fetched, client),
            (None, Some(request)) => {
                self.send(request);
                Phase::Register {
                    prm,
                    issuer,
                    metadata,
                    fetched,
                }
            }
            (None, None) => Phase::Done(Err(Error::ClientIdRequired(issuer))),
        }
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
        let verifier = CodeVerifier::from_entropy(&start.entropy.verifier);
        let state = base64url_nopad(&start.entropy.state);
        let scope = scope::select(
            start.config.scope.as_deref(),
            start.challenge_scope.as_deref(),
            prm.scopes_supported.as_deref(),
        );
        let url = authorization_url(&AuthorizationRequest {
            endpoint: &auth_endpoint,
            client_id: &client.client_id,
            redirect_uri: &start.config.redirect_uri,
            code_challenge: &verifier.challenge_s256(),
            state: &state,
            scope: scope.as_deref(),
            resource: &prm.resource,
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
            scope,
            server: start.server_key.clone(),
        };
        Phase::Done(Ok(Outcome::Redirect {
            record,
            server_key: start.server_key,
            binding: Binding {
                resource: prm.resource,
                issuer,
            },
            metadata: fetched.then_some(metadata),
            client,
        }))
    }
}
