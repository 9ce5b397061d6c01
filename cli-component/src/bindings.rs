//! The generated bindings for the `cli-caller` world (`wit/world.wit`): the
//! `mcp:oauth/client` import, and nothing else.
//!
//! As in the component (`src/bindings.rs`), every `wasi:*` interface the
//! world reaches is mapped onto the `wasip2` crate, so the
//! `incoming-response` that `wrap-call` returns is
//! `wasip2::http::types::IncomingResponse`, read like any other response.
//! `with` names exactly the interfaces the world reaches: `wasi:http/types`
//! (which `client` uses) and what it uses in turn.
#![allow(unsafe_code, missing_docs, clippy::all)]

wit_bindgen::generate!({
    world: "cli-caller",
    path: "../wit",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});

pub use mcp::oauth::client::Client;
pub use mcp::oauth::types::*;
