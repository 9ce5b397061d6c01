//! The token endpoint phase that every kind of flow can end in: a code
//! exchange, a refresh, the grants without a user and the ID-JAG of SEP-990
//! before them. One DPoP nonce retry (RFC 9449 §8) happens here.

use super::keys::Keys;
use super::{Next, Outcome, Phase};
use crate::config::{GrantKind, Secret};
use crate::discovery::AuthServerMetadata;
use crate::http::{HttpRequest, HttpResponse};
use crate::prelude::*;
use crate::store::ClientRecord;
use crate::token::{self, TokenCall};

/// The access token a token request obtains, and what is stored with it.
pub(super) struct TokenFor {
    pub server_key: String,
    pub resource: String,
    pub issuer: String,
    /// The scope asked for, recorded when the server does not say.
    pub scope: Option<String>,
    /// Metadata fetched on the way, to cache.
    pub metadata: Option<AuthServerMetadata>,
    /// The grant that obtains the token (kept across refreshes).
    pub grant: GrantKind,
    /// The refresh token being redeemed: kept when the server issues no new
    /// one (RFC 6749 §6).
    pub previous_refresh: Option<Secret>,
    /// The client of a code exchange, stored with the token.
    pub client: Option<ClientRecord>,
}

/// What a token response is for.
pub(super) enum Then {
    /// The access token.
    Token(Box<TokenFor>),
    /// An ID-JAG from the identity provider (SEP-990), to be presented at
    /// the authorization server with `next`.
    IdJag {
        next: Box<TokenCall>,
        /// Whether the request at the authorization server carries DPoP.
        dpop: bool,
        token: Box<TokenFor>,
    },
}

/// A token request is out.
pub(super) struct Redeem {
    call: TokenCall,
    dpop: bool,
    /// Set once a `use_dpop_nonce` answer was retried (RFC 9449 §8).
    nonce_retried: bool,
    then: Then,
}

impl Redeem {
    /// Sends the token request of `call` (with a DPoP proof when `dpop`).
    pub(super) fn start(
        call: TokenCall,
        dpop: bool,
        then: Then,
        keys: &mut Keys,
        now: u64,
    ) -> Next {
        let request = keys.token_request(&call, dpop, now);
        Redeem {
            call,
            dpop,
            nonce_retried: false,
            then,
        }
        .wait(request)
    }

    fn wait(self, request: HttpRequest) -> Next {
        Next::Send(Phase::Redeeming(self), request)
    }

    /// The token endpoint answered.
    pub(super) fn handle(
        mut self,
        keys: &mut Keys,
        req: &HttpRequest,
        resp: HttpResponse,
        now: u64,
    ) -> Next {
        // RFC 9449 §8: a nonce the server sends, with any answer, is the one
        // for its next proof.
        let nonce = resp.header("dpop-nonce");
        if let (true, Some(n)) = (self.dpop, nonce) {
            keys.nonces
                .insert(self.call.endpoint.clone(), n.to_string());
        }
        // The server wants a nonce in the proof; retry once.
        let wants_nonce = self.dpop
            && !self.nonce_retried
            && resp.status == 400
            && nonce.is_some()
            && error_code(&resp).as_deref() == Some("use_dpop_nonce");
        if wants_nonce {
            let request = keys.token_request(&self.call, self.dpop, now);
            self.nonce_retried = true;
            return self.wait(request);
        }
        match self.then {
            Then::Token(t) => Next::Done(
                token::parse_token_response(
                    &resp,
                    &req.url,
                    now,
                    &t.resource,
                    &t.issuer,
                    t.scope.as_deref(),
                    self.dpop,
                )
                .map(|mut token| {
                    token.grant_type = Some(t.grant);
                    if token.refresh_token.is_none() {
                        token.refresh_token = t.previous_refresh;
                    }
                    Outcome::Token {
                        server_key: t.server_key,
                        token,
                        metadata: t.metadata,
                        client: t.client,
                    }
                }),
            ),
            Then::IdJag {
                mut next,
                dpop,
                token,
            } => match token::parse_id_jag(&resp, &req.url) {
                Ok(jag) => {
                    next.params.insert(1, ("assertion", jag));
                    Redeem::start(*next, dpop, Then::Token(token), keys, now)
                }
                Err(e) => Next::Done(Err(e)),
            },
        }
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
