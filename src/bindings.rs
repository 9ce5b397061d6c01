//! The generated bindings for the `mcp-oauth` world, and nothing else.
//!
//! This is the one module that runs `wit_bindgen::generate!`; every other
//! guest module uses the types it names. The world is read from `wit/`, the
//! same directory the host's `bindgen!` reads, so both sides always agree.
//!
//! `wasi:http/types` and `wasi:http/outgoing-handler` are generated here,
//! with borrowed parameters (`ownership: Borrowing`): `fields.from-list`
//! then takes the request's headers as `&[(&str, &[u8])]`, borrowed from
//! the caller's list, where the `wasip2` crate's pregenerated bindings
//! want owned strings and byte vectors — a copy of every header on every
//! `wrap-call` (measured: 0.1–0.3 µs of a 20 µs loopback call, and the
//! component is 3 KB smaller). Their `incoming-response` is the very type
//! `wrap-call` returns. The other `wasi:*` interfaces the world reaches
//! (`wasi:io/*`, clocks, random) are mapped onto `wasip2`'s bindings.
//! `with` must name exactly the interfaces the world reaches (unused keys
//! are an error): the four the world imports plus what they `use`.
//!
//! Generated items:
//! - `wasi::http::{types, outgoing_handler}`: the HTTP imports;
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
    ownership: Borrowing { duplicate_if_necessary: false },
    with: {
        "wasi:http/types@0.2.12": generate,
        "wasi:http/outgoing-handler@0.2.12": generate,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:random/random@0.2.12": wasip2::random::random,
    },
});
