//! Sans-IO MCP client authorization.
//!
//! The whole protocol, with no I/O, clock or randomness of its own: the
//! caller passes time and entropy in, sends the requests the core hands out,
//! and feeds the responses back. The WebAssembly guest (crate `mcp-oauth`)
//! is one such caller; the tests are another.
//!
//! # The flow
//! 1. A request to the MCP server is answered `401` (or `403`
//!    `insufficient_scope`): [`Client::react`] says to authorize.
//! 2. [`Client::authorize`] parses the challenge (`challenge`) and starts a
//!    [`Flow`]: protected resource metadata (RFC 9728), authorization server
//!    metadata (RFC 8414 / OpenID Discovery) — see `discovery` — then a
//!    client identity (`registration`) and the authorization URL with PKCE
//!    (`pkce`, `authorize`).
//! 3. The host's user agent visits the URL; [`Client::complete_authorization`]
//!    checks `state` and `iss` and starts the code exchange (`token`).
//! 4. [`Client::authorization_header`] attaches the token to the retry.
//!
//! # Driving a flow
//! ```
//! use mcp_oauth_core::{Action, Begin, Client, Config, Entropy, Grant};
//! use mcp_oauth_core::{HttpRequest, HttpResponse, TransportError};
//!
//! // Any transport: here, a server that knows nothing.
//! fn send(_req: &HttpRequest) -> Result<HttpResponse, TransportError> {
//!     Ok(HttpResponse::json(404, "{}"))
//! }
//!
//! let mut client = Client::new(Config::new("Example", "http://127.0.0.1:8976/callback")).unwrap();
//! let now = 1_700_000_000;
//! let begin = client
//!     .authorize("http://127.0.0.1:9/mcp", Some("Bearer"), now, Entropy::from_bytes([7; 80]))
//!     .unwrap();
//! let Begin::Flow(mut flow) = begin else { unreachable!("no token is stored yet") };
//! while let Action::Send(request) = flow.poll() {
//!     flow.handle_response(send(&request), now);
//! }
//! match client.finish(flow, now) {
//!     Ok(Grant::Redirect(pending)) => println!("visit {}", pending.authorization_url),
//!     Ok(Grant::Authorized(info)) => println!("token from {}", info.issuer),
//!     Err(e) => println!("{e}"), // here: no protected resource metadata found
//! }
//! ```
#![forbid(unsafe_code)]
// No `std`: the guest links no Rust runtime beyond `core` and `alloc` (its
// panic and I/O machinery would be a good part of the component).
#![cfg_attr(not(test), no_std)]

#[macro_use]
extern crate alloc;

/// What `std`'s prelude would bring, for the modules of this crate.
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
}

mod authorize;
mod call;
mod challenge;
mod client;
mod config;
mod discovery;
mod encode;
mod error;
mod flow;
mod http;
mod jose;
mod pkce;
mod registration;
mod scope;
mod state_ops;
mod store;
pub mod strict_json;
#[cfg(test)]
mod test_cases;
mod token;
mod url;

pub use authorize::PendingAuthorization;
pub use call::{Call, CallAction, ResponseHead, WantedHeaders};
pub use client::{
    BeforeSend, Begin, Client, Grant, OnRefusal, Reaction, ResourceResponse, TokenInfo, TokenState,
};
pub use config::{
    Config, DpopMode, GrantKind, GrantType, IdentityProvider, Relaxations, Secret, ServerEndpoints,
    TokenType, DEFAULT_TIMEOUT_MS,
};
pub use discovery::{MAX_AUTHORIZATION_SERVERS, MAX_METADATA_BYTES, MAX_SCOPES};
pub use error::{Attempt, Error, Mismatch, OAuthFailure, Refused};
pub use flow::{Action, Entropy, Flow, FlowEvent, MAX_FLOW_SECS, MAX_REQUESTS_PER_FLOW};
pub use http::{HttpRequest, HttpResponse, Method, Step, TransportError};
pub use pkce::CodeVerifier;
pub use state_ops::{server_key, ClientSummary, Forgotten, ServerSummary, Summary, TokenSummary};
pub use store::{Store, REFRESH_SKEW_SECS, STATE_VERSION};
pub use url::Url;
