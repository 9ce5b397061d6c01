//! The flows: each says which request to send next ([`Flow::poll`]) and
//! consumes the answer ([`Flow::handle_response`]).
//!
//! Three kinds, one driver: an authorization flow runs discovery and
//! registration and builds the authorization URL (`discover`); an exchange
//! flow redeems a code and a refresh flow a refresh token (`redeem`, which
//! the grants without a user end in too). None touches the client's store:
//! the result is applied by [`crate::Client::finish`].

mod discover;
mod keys;
mod redeem;

pub(crate) use discover::{Asked, Start};
pub use keys::Entropy;
pub(crate) use keys::Keys;

use crate::authorize::PendingRecord;
use crate::config::{GrantKind, Secret, TokenType};
use crate::discovery::AuthServerMetadata;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Step, TransportError};
use crate::prelude::*;
use crate::store::{Binding, ClientRecord, Map, TokenRecord};
use crate::token::{self, TokenCall};
use discover::Discovery;
use redeem::{Redeem, Then, TokenFor};

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

/// Which kind of flow this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Discovery, a client identity, then the authorization URL or (for the
    /// grants without a user) a token.
    Authorization,
    /// A code redeemed for a token for (resource, issuer).
    Exchange { resource: String, issuer: String },
    /// A refresh token redeemed for (resource, issuer).
    Refresh { resource: String, issuer: String },
}

/// Where a flow is.
// One per flow; the outcome is its last state and moved out once.
#[allow(clippy::large_enum_variant)]
enum Phase {
    Discovering(Box<Discovery>),
    Redeeming(Redeem),
    Done(Result<Outcome, Error>),
}

/// Where a phase goes with a response.
enum Next {
    /// On: send the request and wait in the phase.
    Send(Phase, HttpRequest),
    /// The flow is over.
    Done(Result<Outcome, Error>),
}

/// A running flow. Drive it with [`Flow::poll`] and
/// [`Flow::handle_response`] until `poll` says [`Action::Finished`].
pub struct Flow {
    kind: Kind,
    keys: Keys,
    /// Taken out only while a response is handled.
    phase: Option<Phase>,
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
            .field("kind", &self.kind)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Flow {
    fn new(kind: Kind, keys: Keys, first: Next) -> Flow {
        let mut flow = Flow {
            kind,
            keys,
            phase: None,
            in_flight: None,
            next: None,
            events: Vec::new(),
            sent: 0,
            started: None,
        };
        flow.go(first);
        flow
    }

    /// Moves to `next`.
    fn go(&mut self, next: Next) {
        self.phase = Some(match next {
            Next::Send(phase, request) => {
                self.next = Some(request);
                phase
            }
            Next::Done(outcome) => Phase::Done(outcome),
        });
    }

    /// An authorization flow: discovery, client identity, then either the
    /// authorization URL or, for grants without a user, the token.
    pub(crate) fn authorize(start: Start, keys: Keys) -> Flow {
        Flow::new(Kind::Authorization, keys, Discovery::begin(start))
    }

    /// An exchange flow: redeem `code` for the pending authorization.
    pub(crate) fn exchange(
        record: PendingRecord,
        client: &ClientRecord,
        code: &str,
        mut keys: Keys,
        now: u64,
    ) -> Flow {
        let public = record.public;
        let call = TokenCall {
            endpoint: record.token_endpoint,
            issuer: public.issuer.clone(),
            client: Some(client.clone()),
            params: token::code_exchange(
                code,
                &record.verifier,
                &public.redirect_uri,
                record.send_resource.then_some(public.resource.as_str()),
            ),
        };
        let kind = Kind::Exchange {
            resource: public.resource.clone(),
            issuer: public.issuer.clone(),
        };
        let then = Then::Token(Box::new(TokenFor {
            server_key: record.server,
            resource: public.resource,
            issuer: public.issuer,
            scope: record.scope,
            metadata: None,
            grant: GrantKind::AuthorizationCode,
            previous_refresh: None,
            client: Some(client.clone()),
        }));
        let first = Redeem::start(call, record.dpop, then, &mut keys, now);
        Flow::new(kind, keys, first)
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
        mut keys: Keys,
        now: u64,
    ) -> Option<Flow> {
        let refresh_token: Secret = token.refresh_token.clone()?;
        let call = TokenCall {
            endpoint: token.token_endpoint.clone()?,
            issuer: token.issuer.clone(),
            client,
            params: token::refresh(
                refresh_token.expose(),
                send_resource.then_some(token.resource.as_str()),
            ),
        };
        let kind = Kind::Refresh {
            resource: token.resource.clone(),
            issuer: token.issuer.clone(),
        };
        let then = Then::Token(Box::new(TokenFor {
            server_key,
            resource: token.resource.clone(),
            issuer: token.issuer.clone(),
            scope: token.scope.clone(),
            metadata: None,
            grant: token.grant_type.unwrap_or(GrantKind::AuthorizationCode),
            previous_refresh: Some(refresh_token),
            client: None,
        }));
        let dpop = token.token_type == TokenType::Dpop;
        let first = Redeem::start(call, dpop, then, &mut keys, now);
        Some(Flow::new(kind, keys, first))
    }

    /// Which kind of flow this is.
    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Action {
        match self.next.take() {
            Some(req) if self.sent >= MAX_REQUESTS_PER_FLOW => {
                self.phase = Some(Phase::Done(Err(Error::ResponseRefused {
                    step: req.step,
                    url: req.url,
                    status: None,
                    detail: format!(
                        "not sent: the flow already made {MAX_REQUESTS_PER_FLOW} requests, the most one flow may make"
                    ),
                })));
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
        let (Some(req), Some(phase)) = (self.in_flight.take(), self.phase.take()) else {
            return;
        };
        self.events.push(FlowEvent {
            step: req.step,
            method: req.method.as_str().to_string(),
            url: req.url.clone(),
            status: response.as_ref().ok().map(|r| r.status),
        });
        let next = match (check_response(&req, response), phase) {
            (Err(e), _) => Next::Done(Err(e)),
            (Ok(resp), Phase::Discovering(d)) => d.handle(&mut self.keys, &req, resp, now),
            (Ok(resp), Phase::Redeeming(r)) => r.handle(&mut self.keys, &req, resp, now),
            (Ok(_), Phase::Done(outcome)) => Next::Done(outcome),
        };
        self.go(next);
        let started = *self.started.get_or_insert(now);
        if now.saturating_sub(started) > MAX_FLOW_SECS {
            if let Some(next) = self.next.take() {
                self.phase = Some(Phase::Done(Err(Error::Transport {
                    step: next.step,
                    url: next.url,
                    message: format!("not sent: the flow has taken more than {MAX_FLOW_SECS} s"),
                })));
            }
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
            Some(Phase::Done(r)) => r,
            _ => Err(Error::InvalidArgument(
                "the flow was finished before it completed".into(),
            )),
        };
        let new_key = self.keys.new_dpop_key();
        (outcome, self.events, new_key, self.keys.nonces)
    }
}

/// A response as the flow sees it: redirects are not followed, and a body
/// over the request's limit or a failed request is a typed error.
fn check_response(
    req: &HttpRequest,
    response: Result<HttpResponse, TransportError>,
) -> Result<HttpResponse, Error> {
    match response {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::MAX_METADATA_BYTES;

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
        let running = Next::Done(Err(Error::InvalidArgument("not asked".into())));
        let mut flow = Flow::new(Kind::Authorization, keys, running);
        flow.next = Some(req());
        flow.sent = MAX_REQUESTS_PER_FLOW - 1;
        assert!(matches!(flow.poll(), Action::Send(_)), "the 24th is sent");
        flow.in_flight = None;
        flow.next = Some(req());
        assert!(matches!(flow.poll(), Action::Finished), "the 25th is not");
        let Some(Phase::Done(Err(Error::ResponseRefused {
            url: refused,
            status: None,
            detail,
            ..
        }))) = &flow.phase
        else {
            panic!("a typed error")
        };
        assert_eq!(refused, url);
        assert!(detail.contains("already made 24 requests"), "{detail}");
    }
}
