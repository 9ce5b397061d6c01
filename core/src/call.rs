//! One call to a protected resource (`wrap-call`), as a state machine: the
//! whole policy — renew a stale token before sending, attach the token,
//! send again for a new DPoP nonce (RFC 9449 §9), answer a refusal with one
//! refresh and then one authorization, send once more, give up — decided
//! here, so that a driver only sends, runs flows and reads.
//!
//! ```text
//! let mut call = Call::new("POST", url);
//! loop {
//!     match call.poll(&mut client, &mut clock, &mut random) {
//!         CallAction::Send(headers) => match send(request with headers) {
//!             Ok(response) => call.response(&mut client, &head_of(response)),
//!             Err(e) => call.send_failed(e),
//!         },
//!         CallAction::Run(flow) => call.flow_done(&mut client, drive(flow), clock()),
//!         CallAction::ReadRefusal => call.refusal_read(excerpt_of(response)),
//!         CallAction::Deliver => return Ok(response),
//!         CallAction::Fail(error) => return Err(error),
//!     }
//! }
//! ```

use crate::client::{BeforeSend, Begin, Client, Grant, OnRefusal, Reaction, ResourceResponse};
use crate::error::Error;
use crate::flow::{Entropy, Flow};
use crate::http::{Step, TransportError};
use crate::prelude::*;

/// How often one call is sent again for a new DPoP nonce (RFC 9449 §9).
pub const MAX_NONCE_RETRIES: u32 = 2;

/// What the driver of a [`Call`] does next.
#[derive(Debug)]
pub enum CallAction {
    /// Send the request, with these headers set (replacing any of the
    /// caller's with the same names: `authorization`, `dpop`), then report
    /// the response's head with [`Call::response`] or the failure with
    /// [`Call::send_failed`]. Keep the response: it may be delivered.
    Send(Vec<(String, String)>),
    /// Run this flow to its end (send what it asks, feed back what comes),
    /// then hand it back with [`Call::flow_done`].
    Run(Box<Flow>),
    /// Read an excerpt of the last response's body (it was refused after a
    /// new token) and hand it over with [`Call::refusal_read`].
    ReadRefusal,
    /// Hand the last response to the caller: the call is over.
    Deliver,
    /// The call fails with this error: it is over.
    Fail(Error),
}

/// The head of a response from the protected resource.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    /// Its status.
    pub status: u16,
    /// Its `WWW-Authenticate` value(s), joined.
    pub www_authenticate: Option<&'a str>,
    /// Its first `DPoP-Nonce` value.
    pub dpop_nonce: Option<&'a str>,
}

/// Which headers of a response [`Call::response`] needs in its
/// [`ResponseHead`] ([`Call::wanted_headers`]); a driver reads only
/// those, and passes `None` for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantedHeaders {
    /// `WWW-Authenticate`: a refusal's challenge.
    pub www_authenticate: bool,
    /// `DPoP-Nonce`: the server's newest nonce.
    pub dpop_nonce: bool,
}

/// Why a flow is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Renewing a stale token before the first send.
    Renew,
    /// The refresh token grant after a refusal.
    Refresh,
    /// An authorization after a refusal.
    Authorize,
}

#[derive(Debug)]
enum Phase {
    /// Nothing decided yet.
    Start,
    /// Send (again).
    Send,
    /// Sent; waiting for the response's head.
    Sent,
    /// A refusal: refresh or authorize with this challenge.
    Refused(Option<String>),
    /// Start an authorization with this challenge.
    Authorize(Option<String>),
    /// A flow is out.
    Running(Purpose),
    /// Refused although a new token was used: the excerpt is being read.
    Reading(u16),
    /// What the next poll returns, once.
    Finish(Option<Error>),
    /// Over.
    Done,
}

/// One call to a protected resource. See the module documentation.
#[derive(Debug)]
pub struct Call {
    method: String,
    url: String,
    phase: Phase,
    /// A refresh was made after a refusal in this call.
    refreshed: bool,
    /// A new token was obtained after a refusal in this call.
    retried: bool,
    nonce_retries: u32,
    /// The challenge of the last refusal: an authorization after a
    /// rejected refresh answers it.
    challenge: Option<String>,
    /// The server's key, from the URL parsed once when the call starts.
    key: String,
    /// The last send carried a DPoP proof.
    sent_dpop: bool,
}

impl Call {
    /// A call of `method` to `url` (the MCP server's URL, the same one the
    /// client keeps its tokens for). Owned strings are kept as they are.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Call {
        Call {
            method: method.into(),
            url: url.into(),
            phase: Phase::Start,
            refreshed: false,
            retried: false,
            nonce_retries: 0,
            challenge: None,
            key: String::new(),
            sent_dpop: false,
        }
    }

    /// The method the call was made with.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL the call goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which headers of a response with `status` to the last send the call
    /// needs: the challenge only of a refusal (401, 403); the DPoP nonce of
    /// a 401 (`use_dpop_nonce`, RFC 9449 §9) and of any response to a
    /// request that carried a DPoP proof (the server may send a new nonce
    /// with any answer, RFC 9449 §8.2). A Bearer call answered 200 needs
    /// neither, and its driver reads no header at all.
    pub fn wanted_headers(&self, status: u16) -> WantedHeaders {
        WantedHeaders {
            www_authenticate: matches!(status, 401 | 403),
            dpop_nonce: status == 401 || self.sent_dpop,
        }
    }

    /// The next thing to do. `clock` says the time (seconds since the Unix
    /// epoch); it is asked at most once per poll, and only when something
    /// needs it (a token's expiry: not the delivery of a response). `random`
    /// fills a buffer with fresh random bytes; it is called only when
    /// something needs them (a flow's PKCE verifier and `state`, a DPoP
    /// proof's `jti`).
    pub fn poll(
        &mut self,
        client: &mut Client,
        clock: &mut dyn FnMut() -> u64,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> CallAction {
        let mut read = None;
        let mut now = || *read.get_or_insert_with(&mut *clock);
        loop {
            match core::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Start => {
                    // Only to a server a token may go to (https, or http on
                    // loopback; no userinfo), whatever else is decided:
                    // nothing is sent to another, not even the caller's own
                    // headers.
                    match client.server_key_of_call(&self.url) {
                        Ok(key) => self.key = key,
                        Err(e) => return self.fail(e),
                    }
                    match client.before_send_at(&self.key, now()) {
                        BeforeSend::Send => self.phase = Phase::Send,
                        BeforeSend::HostRenews => return self.fail(self.renewal_required()),
                        BeforeSend::Renew if !client.renewal_due_at(&self.key, now()) => {
                            self.phase = Phase::Send
                        }
                        BeforeSend::Renew => {
                            match client.renew(&self.url, now(), entropy(random)) {
                                Ok(None) | Ok(Some(Begin::Ready(_))) => self.phase = Phase::Send,
                                Ok(Some(Begin::Flow(flow))) => {
                                    self.phase = Phase::Running(Purpose::Renew);
                                    return CallAction::Run(Box::new(flow));
                                }
                                Err(e) => self.phase = self.after_failed_renewal(client, e, now()),
                            }
                        }
                    }
                }
                Phase::Send => {
                    let mut jti = [0u8; 16];
                    let headers = client.request_headers_at(
                        &self.method,
                        &self.url,
                        &self.key,
                        now(),
                        || {
                            random(&mut jti);
                            jti
                        },
                    );
                    self.sent_dpop = headers.iter().any(|(name, _)| name == "dpop");
                    self.phase = Phase::Sent;
                    return CallAction::Send(headers);
                }
                Phase::Refused(challenge) => {
                    match client.on_refusal(&self.url, challenge.as_deref(), self.refreshed, now())
                    {
                        OnRefusal::HostRenews => return self.fail(self.renewal_required()),
                        OnRefusal::Authorize => self.phase = Phase::Authorize(challenge),
                        OnRefusal::Refresh => {
                            self.refreshed = true;
                            match client.refresh(&self.url, now(), entropy(random)) {
                                Ok(None) => self.phase = Phase::Send,
                                Ok(Some(flow)) => {
                                    self.phase = Phase::Running(Purpose::Refresh);
                                    return CallAction::Run(Box::new(flow));
                                }
                                Err(e) => return self.fail(e),
                            }
                        }
                    }
                }
                Phase::Authorize(challenge) => {
                    self.retried = true;
                    match client.authorize(&self.url, challenge.as_deref(), now(), entropy(random))
                    {
                        Ok(Begin::Ready(_)) => self.phase = Phase::Send,
                        Ok(Begin::Flow(flow)) => {
                            self.phase = Phase::Running(Purpose::Authorize);
                            return CallAction::Run(Box::new(flow));
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                Phase::Reading(status) => {
                    self.phase = Phase::Reading(status);
                    return CallAction::ReadRefusal;
                }
                Phase::Finish(None) => return CallAction::Deliver,
                Phase::Finish(Some(e)) => return CallAction::Fail(e),
                Phase::Done => {
                    return CallAction::Fail(Error::InvalidArgument(
                        "the call is over (or a response was not reported)".into(),
                    ))
                }
                // Waiting for the driver: nothing to do until it reports.
                phase @ (Phase::Sent | Phase::Running(_)) => {
                    self.phase = phase;
                    return CallAction::Fail(Error::InvalidArgument(
                        "polled before the last action was reported".into(),
                    ));
                }
            }
        }
    }

    /// Reports the head of the response to the request of the last
    /// [`CallAction::Send`].
    pub fn response(&mut self, client: &mut Client, head: &ResponseHead<'_>) {
        if !matches!(self.phase, Phase::Sent) {
            return;
        }
        let reaction = client.react_at(
            Some(&self.key),
            &ResourceResponse {
                method: &self.method,
                url: &self.url,
                status: head.status,
                www_authenticate: head.www_authenticate,
                dpop_nonce: head.dpop_nonce,
            },
            self.retried,
        );
        self.phase = match reaction {
            Reaction::Deliver => Phase::Finish(None),
            Reaction::Retry if self.nonce_retries < MAX_NONCE_RETRIES => {
                self.nonce_retries += 1;
                Phase::Send
            }
            Reaction::Refused | Reaction::Retry => Phase::Reading(head.status),
            Reaction::Authorize(challenge) => {
                self.challenge.clone_from(&challenge);
                Phase::Refused(challenge)
            }
        };
    }

    /// Reports that the request of the last [`CallAction::Send`] failed.
    pub fn send_failed(&mut self, error: TransportError) {
        self.phase = Phase::Finish(Some(Error::Transport {
            step: Step::Resource,
            url: self.url.clone(),
            message: error.to_string(),
        }));
    }

    /// Hands back the flow of the last [`CallAction::Run`], run to its end.
    pub fn flow_done(&mut self, client: &mut Client, flow: Box<Flow>, now: u64) {
        let Phase::Running(purpose) = self.phase else {
            return;
        };
        let result = client.finish(*flow, now);
        self.phase = match (purpose, result) {
            (_, Ok(Grant::Authorized(_))) => Phase::Send,
            (Purpose::Authorize, Ok(Grant::Redirect(p))) => {
                Phase::Finish(Some(Error::AuthorizationRequired(p)))
            }
            // A renewal or refresh that ends at a user: send what is held.
            (Purpose::Renew | Purpose::Refresh, Ok(Grant::Redirect(_))) => Phase::Send,
            (Purpose::Renew, Err(e)) => self.after_failed_renewal(client, e, now),
            // invalid_grant / invalid_client: the client dropped what is
            // dead; authorize.
            (Purpose::Refresh, Err(Error::TokenRejected(_))) => {
                Phase::Authorize(self.challenge.clone())
            }
            (Purpose::Refresh | Purpose::Authorize, Err(e)) => Phase::Finish(Some(e)),
        };
    }

    /// Hands over an excerpt of the refused response's body (after a
    /// [`CallAction::ReadRefusal`]; empty if it could not be read).
    pub fn refusal_read(&mut self, body_excerpt: String) {
        if let Phase::Reading(status) = self.phase {
            self.phase = Phase::Finish(Some(Error::StillUnauthorized {
                url: self.url.clone(),
                status,
                body_excerpt,
            }));
        }
    }

    /// After a failed renewal before the first send: a token that has not
    /// expired yet is still tried (the server decides), as is any token
    /// after the server rejected the refresh; otherwise the call fails.
    fn after_failed_renewal(&self, client: &Client, e: Error, now: u64) -> Phase {
        if client.has_usable_token(&self.url, now) || matches!(e, Error::TokenRejected(_)) {
            Phase::Send
        } else {
            Phase::Finish(Some(e))
        }
    }

    fn renewal_required(&self) -> Error {
        Error::RenewalRequired(self.url.clone())
    }

    fn fail(&mut self, e: Error) -> CallAction {
        self.phase = Phase::Done;
        CallAction::Fail(e)
    }
}

/// Fresh entropy for a flow.
fn entropy(random: &mut dyn FnMut(&mut [u8])) -> Entropy {
    let mut bytes = [0u8; Entropy::LEN];
    random(&mut bytes);
    Entropy::from_bytes(bytes)
}
