//! The native side of mcp-oauth: a wasmtime host for the component.
//!
//! - [`harness`]: loads the component once and calls its exports.
//! - [`session`]: sends MCP requests through `wrap-call` and completes
//!   authorizations with a [`session::UserAgent`].
//! - [`mcp`]: a small MCP client (JSON-RPC over Streamable HTTP).
//! - [`agent`]: user agents — a headless redirect follower and a loopback
//!   redirect listener.
//! - [`mock`]: a mock MCP server and authorization server with switchable
//!   misbehaviours, for tests and the demo.
//! - [`cli`]: the `mcp-oauth` commands.
//! - [`state`]: the CLI's state file — atomic writes, the lock around
//!   refreshes, `status` and `logout`.
//! - [`conformance`]: `mcp-oauth conformance`, the client under test of the
//!   official MCP conformance suite.

pub mod agent;
pub mod cli;
pub mod conformance;
pub mod harness;
pub mod mcp;
pub mod mock;
pub mod report;
pub mod session;
pub mod state;
