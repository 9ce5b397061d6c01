//! Progress on stderr: the exchanges the component made (`take-events`:
//! step, method, URL, status; never a header or body).

use crate::bindings::{Client, Step};

/// A step's name.
pub fn step(step: Step) -> &'static str {
    match step {
        Step::ProtectedResourceMetadata => "resource metadata",
        Step::AuthorizationServerMetadata => "authorization server metadata",
        Step::Registration => "registration",
        Step::Authorization => "authorization",
        Step::Token => "token",
        Step::Resource => "MCP server",
    }
}

/// Prints the exchanges made since the last call.
pub fn events(client: &Client) {
    for event in client.take_events() {
        let status = event
            .status
            .map_or_else(|| "failed".to_string(), |s| s.to_string());
        eprintln!(
            "  {:<30} {} {} → {status}",
            step(event.step),
            event.method,
            event.url
        );
    }
}
