//! An MCP session over the streamable HTTP transport, every request sent
//! through the component's `wrap-call`: it adds the token, and when a user
//! must authorize it says so (`authorization-required`); the headless agent
//! then visits the URL and `complete-authorization` redeems the code.

use crate::bindings::{AuthError, Client, HttpRequest};
use crate::{agent, describe_error, http, progress, sse};
use anyhow::{anyhow, bail};
use serde_json::{json, Value};

/// The protocol version asked for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The most bytes read of a JSON response.
const BODY_LIMIT: usize = 16 << 20;
/// The most authorizations one request may need (a step-up after the first
/// one, an `invalid_scope` retry).
const MAX_AUTHORIZATIONS: usize = 3;

/// One MCP session with the server at `url`.
pub struct Session<'a> {
    client: &'a Client,
    url: String,
    session_id: Option<String>,
    protocol_version: Option<String>,
    next_id: u64,
}

impl<'a> Session<'a> {
    pub fn new(client: &'a Client, url: &str) -> Self {
        Session {
            client,
            url: url.to_string(),
            session_id: None,
            protocol_version: None,
            next_id: 1,
        }
    }

    /// `initialize` and `notifications/initialized`; returns the result of
    /// `initialize`.
    pub fn initialize(&mut self, client_name: &str) -> anyhow::Result<Value> {
        let result = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": env!("CARGO_PKG_VERSION")},
            }),
        )?;
        let version = result["protocolVersion"]
            .as_str()
            .ok_or_else(|| anyhow!("the initialize result has no protocolVersion"))?;
        self.protocol_version = Some(version.to_string());
        self.notify("notifications/initialized")?;
        Ok(result)
    }

    /// A request; its `result` (a JSON-RPC error is an error).
    pub fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = self
            .send(&message, Some(id))?
            .ok_or_else(|| anyhow!("{method}: the server sent no response"))?;
        if let Some(error) = reply.get("error") {
            bail!(
                "{method}: error {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or("")
            );
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("{method}: the response has no result"))
    }

    /// A notification (the server answers 202, no body).
    pub fn notify(&mut self, method: &str) -> anyhow::Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method}), None)
            .map(drop)
    }

    /// POSTs `message` through `wrap-call`, authorizing when the component
    /// asks for it; returns the JSON-RPC response with id `id`, if one is
    /// awaited.
    fn send(&mut self, message: &Value, id: Option<u64>) -> anyhow::Result<Option<Value>> {
        let mut headers = vec![
            header("content-type", "application/json"),
            header("accept", "application/json, text/event-stream"),
        ];
        if let Some(sid) = &self.session_id {
            headers.push(header("mcp-session-id", sid));
        }
        if let Some(version) = &self.protocol_version {
            headers.push(header("mcp-protocol-version", version));
        }
        let request = HttpRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers,
            body: serde_json::to_vec(message)?,
        };
        let mut authorizations = 0;
        let response = loop {
            let sent = self.client.wrap_call(&request);
            progress::events(self.client);
            match sent {
                Ok(response) => break response,
                Err(AuthError::AuthorizationRequired(pending))
                    if authorizations < MAX_AUTHORIZATIONS =>
                {
                    authorizations += 1;
                    authorize(self.client, pending)?;
                }
                Err(e) => bail!("{}", describe_error(&e)),
            }
        };
        let status = response.status();
        let response_headers = response.headers().entries();
        if let Some(sid) = http::header(&response_headers, "mcp-session-id") {
            self.session_id = Some(sid);
        }
        let content_type = http::header(&response_headers, "content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !(200..300).contains(&status) {
            let body = http::read_body(&response, 4096).unwrap_or_default();
            bail!(
                "POST {} answered {status}: {}",
                self.url,
                crate::excerpt(&body)
            );
        }
        let Some(id) = id else {
            return Ok(None);
        };
        if content_type.starts_with("text/event-stream") {
            // Read events until the response to this request; the stream
            // may stay open after it.
            let mut parser = sse::Parser::default();
            let mut found = None;
            http::read_chunks(&response, |chunk| {
                for data in parser.push(chunk) {
                    let Ok(value) = serde_json::from_str::<Value>(&data) else {
                        continue;
                    };
                    if value["id"] == json!(id) && value.get("method").is_none() {
                        found = Some(value);
                        return Ok(true);
                    }
                }
                Ok(false)
            })?;
            found
                .map(Some)
                .ok_or_else(|| anyhow!("the event stream ended without the response"))
        } else {
            let body = http::read_body(&response, BODY_LIMIT)?;
            let value: Value = serde_json::from_slice(&body).map_err(|e| {
                anyhow!("the response is not JSON ({e}): {}", crate::excerpt(&body))
            })?;
            Ok(Some(value))
        }
    }
}

/// A header of an `http-request`.
fn header(name: &str, value: &str) -> (String, Vec<u8>) {
    (name.to_string(), value.as_bytes().to_vec())
}

/// Visits a pending authorization with the headless agent and hands the
/// redirect to `complete-authorization`; once more when the component asks
/// for the user again (an `invalid_scope` redirect answered by a new
/// registration).
fn authorize(
    client: &Client,
    mut pending: crate::bindings::PendingAuthorization,
) -> anyhow::Result<()> {
    for _ in 0..2 {
        eprintln!(
            "  authorization required at {}: following it headless",
            pending.issuer
        );
        let callback = agent::follow_headless(&pending.authorization_url, &pending.redirect_uri)?;
        eprintln!("  redirected to {}", pending.redirect_uri);
        let completed = client.complete_authorization(&callback);
        progress::events(client);
        match completed {
            Ok(token) => {
                eprintln!(
                    "  authorized: {} token for {}{}",
                    token.token_type,
                    token.resource,
                    token
                        .scope
                        .map(|s| format!(", scope {s}"))
                        .unwrap_or_default()
                );
                return Ok(());
            }
            Err(AuthError::AuthorizationRequired(again)) => pending = again,
            Err(e) => bail!("{}", describe_error(&e)),
        }
    }
    bail!("the authorization server asked for the user again after a new registration")
}
