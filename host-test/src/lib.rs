//! The wasmtime embedding of the mcp-oauth component: what a native host
//! reuses.
//!
//! - [`harness`]: loads the component once and calls its exports.
//! - [`state`]: a state file shared by processes — atomic writes, the lock
//!   around renewals, `status` and `logout`.
//! - [`agent`]: user agents — a headless redirect follower and a loopback
//!   redirect listener.
//! - [`net`]: a plain HTTP(S) client for what the host sends itself.
//! - [`sender`]: the sender of the component's requests — connections kept
//!   alive and shared by a runtime's instances, and the `wasi:http` hooks
//!   another wasmtime embedding can use.
//!
//! The `mcp-oauth` command is the crate `mcp-oauth-cli`; the mock servers
//! the tests use are `mcp-oauth-mock`.

pub mod agent;
pub mod harness;
pub mod net;
pub mod sender;
pub mod state;
