//! The `mcp-oauth` command, over the embedding library `mcp-oauth-host`.
//!
//! - [`session`]: sends MCP requests through `wrap-call` and completes
//!   authorizations with a [`session::UserAgent`].
//! - [`mcp`]: a small MCP client (JSON-RPC over Streamable HTTP).
//! - [`commands`]: the `mcp-oauth` commands.
//! - [`proxy`]: `mcp-oauth proxy`, the stdio ↔ Streamable HTTP bridge.
//! - [`report`]: how errors and events are printed.
//! - [`status`]: what `mcp-oauth status` prints.
//! - [`conformance`]: `mcp-oauth conformance`, the client under test of the
//!   official MCP conformance suite.

pub mod commands;
pub mod conformance;
pub mod mcp;
pub mod proxy;
pub mod report;
pub mod session;
pub mod status;
