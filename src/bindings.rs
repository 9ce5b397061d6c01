//! The generated bindings for the `mcp-oauth` world, and nothing else.
//!
//! This is the one module that runs `wit_bindgen::generate!`; every other
//! guest module uses the types it names. The world is read from `wit/`, the
//! same directory the host's `bindgen!` reads, so both sides always agree.
//!
//! Every `wasi:*` interface the world refers to is mapped onto the `wasip2`
//! crate's pregenerated bindings instead of being generated again, so that
//! `wasip2::http::types::IncomingResponse` (what the transport produces) is
//! the very type `wrap-call` returns. `with` must name exactly the
//! interfaces the world reaches (unused keys are an error): the four the
//! world imports plus what they `use` (`wasi:http/types`, `wasi:io/*`).
//!
//! Generated items:
//! - `exports::mcp::oauth::client::Guest`: the trait the component implements;
//! - `exports::mcp::oauth::types`: the records and variants of the API;
//! - `export!`: `bindings::export!(Component);` in `lib.rs` emits the
//!   component's exported functions for `Component`.
#![allow(unsafe_code, missing_docs, clippy::all)]

wit_bindgen::generate!({
    world: "mcp-oauth",
    path: "wit",
    // `export!` finds the generated types here, whatever module invokes it.
    default_bindings_module: "crate::bindings",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:random/random@0.2.12": wasip2::random::random,
    },
});
