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
//! 2. [`Client::authorize`] parses the challenge ([`challenge`]) and starts a
//!    [`Flow`]: protected resource metadata (RFC 9728), authorization server
//!    metadata (RFC 8414 / OpenID Discovery) — see [`discovery`] — then a
//!    client identity ([`registration`]) and the authorization URL with PKCE
//!    ([`pkce`], [`authorize`]).
//! 3. The host's user agent visits the URL; [`Client::complete_authorization`]
//!    checks `state` and `iss` and starts the code exchange ([`token`]).
//! 4. [`Client::authorization_header`] attaches the token to the retry.
//!
//! # Driving a flow
//! ```
//! use mcp_oauth_core::{Action, Begin, Client, Config, Entropy, Grant};
//! use mcp_oauth_core::http::{HttpRequest, HttpResponse, TransportError};
//!
//! // Any transport: here, a server that knows nothing.
//! fn send(_req: &HttpRequest) -> Result<HttpResponse, TransportError> {
//!     Ok(HttpResponse::json(404, "{}"))
//! }
//!
//! let mut client = Client::new();
//! client.configure(Config::new("Example", "http://127.0.0.1:8976/callback")).unwrap();
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

pub mod authorize;
pub mod call;
pub mod challenge;
pub mod client;
pub mod config;
pub mod discovery;
pub mod encode;
pub mod error;
pub mod flow;
pub mod http;
pub mod jose;
pub mod pkce;
pub mod registration;
pub mod scope;
pub mod state_ops;
pub mod store;
pub mod strict_json;
pub mod token;
pub mod url;

pub use call::{Call, CallAction, ResponseHead};
pub use client::{
    BeforeSend, Begin, Client, Grant, OnRefusal, Reaction, ResourceResponse, TokenInfo, TokenState,
};
pub use config::{
    Config, DpopMode, GrantType, IdentityProvider, Relaxations, Secret, ServerEndpoints,
};
pub use error::Error;
pub use flow::{Action, Entropy, Flow, FlowEvent};
