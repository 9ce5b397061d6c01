//! A small MCP client: JSON-RPC 2.0 over Streamable HTTP.
//!
//! The session builds the requests and reads the responses; how a request
//! reaches the server is up to a [`Transport`] (the real one sends it through
//! the WebAssembly component, which adds authorization).

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use std::future::Future;

/// The protocol revision this client asks for.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The most pages of `tools/list` the session follows.
const MAX_PAGES: usize = 100;

/// How much of a body goes into an error message.
const EXCERPT_CHARS: usize = 200;

/// An HTTP request the session wants sent.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

/// The response to an [`OutgoingRequest`].
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in order (names in any case).
    pub headers: Vec<(String, String)>,
    /// The whole response body.
    pub body: Vec<u8>,
}

impl IncomingResponse {
    /// The first value of a header, matching the name case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the session sends requests (the real one goes through the WASM component).
pub trait Transport {
    /// Sends one request and returns the whole response.
    fn send(
        &mut self,
        req: OutgoingRequest,
    ) -> impl Future<Output = anyhow::Result<IncomingResponse>> + Send;
}

/// An MCP client session with one server.
pub struct McpSession<T: Transport> {
    url: String,
    transport: T,
    session_id: Option<String>,
    protocol_version: Option<String>,
    next_id: u64,
}

impl<T: Transport> McpSession<T> {
    /// A session with the MCP server at `url` (the Streamable HTTP endpoint).
    pub fn new(url: &str, transport: T) -> Self {
        McpSession {
            url: url.to_string(),
            transport,
            session_id: None,
            protocol_version: None,
            next_id: 1,
        }
    }

    /// The transport, e.g. to inspect or reconfigure it.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The `Mcp-Session-Id` the server assigned, once known.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The protocol version the server chose, after [`McpSession::initialize`].
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    /// Sends `initialize`, remembers the session id and the negotiated
    /// protocol version, then sends `notifications/initialized`. Returns the
    /// initialize result.
    pub async fn initialize(&mut self, client_name: &str) -> anyhow::Result<Value> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": env!("CARGO_PKG_VERSION")},
        });
        let (result, response) = self.request_with_response("initialize", params).await?;
        if let Some(id) = response.header("mcp-session-id") {
            self.session_id = Some(id.to_string());
        }
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the initialize result has no protocolVersion"))?;
        self.protocol_version = Some(version.to_string());
        self.notify("notifications/initialized", None).await?;
        Ok(result)
    }

    /// Lists the server's tools, following `nextCursor` pages.
    pub async fn list_tools(&mut self) -> anyhow::Result<Vec<Value>> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let result = self.request("tools/list", params).await?;
            let page = result
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| anyhow!("the tools/list result has no tools array"))?;
            tools.extend(page.iter().cloned());
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
                _ => return Ok(tools),
            }
        }
        bail!("tools/list returned more than {MAX_PAGES} pages")
    }

    /// Calls a tool and returns its result (`content`, `isError`, …).
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> anyhow::Result<Value> {
        self.request(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }

    /// Sends a JSON-RPC request and returns its result.
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        Ok(self.request_with_response(method, params).await?.0)
    }

    /// Sends a JSON-RPC notification (no response expected beyond a 2xx).
    pub async fn notify(&mut self, method: &str, params: Option<Value>) -> anyhow::Result<()> {
        let mut message = json!({ "jsonrpc": "2.0", "method": method });
        if let Some(params) = params {
            message["params"] = params;
        }
        let response = self.post(&message).await?;
        check_status(method, &response)?;
        Ok(())
    }

    async fn request_with_response(
        &mut self,
        method: &str,
        params: Value,
    ) -> anyhow::Result<(Value, IncomingResponse)> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.post(&message).await?;
        check_status(method, &response)?;
        let reply = find_reply(method, &response, id)?;
        if let Some(error) = reply.get("error") {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let text = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            bail!(
                "{method} failed: JSON-RPC error {code}: {}",
                excerpt(text.as_bytes())
            );
        }
        let result = reply
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("the response to {method} has neither result nor error"))?;
        Ok((result, response))
    }

    async fn post(&mut self, message: &Value) -> anyhow::Result<IncomingResponse> {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Accept".to_string(),
                "application/json, text/event-stream".to_string(),
            ),
        ];
        if let Some(id) = &self.session_id {
            headers.push(("Mcp-Session-Id".to_string(), id.clone()));
        }
        if let Some(version) = &self.protocol_version {
            headers.push(("MCP-Protocol-Version".to_string(), version.clone()));
        }
        let req = OutgoingRequest {
            method: "POST".to_string(),
            url: self.url.clone(),
            headers,
            body: serde_json::to_vec(message)?,
        };
        let method = message["method"].as_str().unwrap_or("?").to_string();
        self.transport
            .send(req)
            .await
            .with_context(|| format!("sending {method} to {}", self.url))
    }
}

/// Fails on a non-2xx status.
fn check_status(method: &str, response: &IncomingResponse) -> anyhow::Result<()> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    if response.body.is_empty() {
        bail!(
            "the MCP server answered {method} with HTTP {}",
            response.status
        );
    }
    bail!(
        "the MCP server answered {method} with HTTP {}: {}",
        response.status,
        excerpt(&response.body)
    )
}

/// Finds the JSON-RPC response with `id` in a JSON or SSE body.
fn find_reply(method: &str, response: &IncomingResponse, id: u64) -> anyhow::Result<Value> {
    let content_type = response
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => {
            let value: Value = serde_json::from_slice(&response.body).with_context(|| {
                format!(
                    "the response to {method} is not JSON: {}",
                    excerpt(&response.body)
                )
            })?;
            match_reply(value, id)
                .ok_or_else(|| anyhow!("the response to {method} does not answer request id {id}"))
        }
        "text/event-stream" => {
            let text = String::from_utf8_lossy(&response.body);
            for data in sse_data(&text) {
                let Ok(value) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                if let Some(reply) = match_reply(value, id) {
                    return Ok(reply);
                }
            }
            bail!("the event stream answering {method} ended without a response to request id {id}")
        }
        "" => bail!("the response to {method} has no Content-Type"),
        other => bail!("the response to {method} has an unexpected Content-Type {other}"),
    }
}

/// The response with `id` in a message or a batch.
fn match_reply(value: Value, id: u64) -> Option<Value> {
    match value {
        Value::Array(items) => items.into_iter().find_map(|v| match_reply(v, id)),
        Value::Object(ref map) => {
            let is_response = map.contains_key("result") || map.contains_key("error");
            let same_id = map.get("id").and_then(Value::as_u64) == Some(id);
            (is_response && same_id).then_some(value)
        }
        _ => None,
    }
}

/// The `data` of every message event in a Server-Sent Events body, with
/// multi-line data joined by "\n". Comments and other fields are ignored; a
/// last event without its terminating blank line still counts.
pub fn sse_data(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    let mut event_type = String::new();
    let mut dispatch = |data: &mut Option<String>, event_type: &mut String| {
        if let Some(d) = data.take() {
            if event_type.is_empty() || event_type == "message" {
                events.push(d);
            }
        }
        event_type.clear();
    };
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.is_empty() {
            dispatch(&mut data, &mut event_type);
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            "event" => event_type = value.to_string(),
            _ => {}
        }
    }
    dispatch(&mut data, &mut event_type);
    events
}

/// A short, single-line, printable excerpt of a body.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Answers with canned responses and records what it was asked.
    #[derive(Default)]
    struct Fake {
        answers: VecDeque<IncomingResponse>,
        sent: Vec<OutgoingRequest>,
    }

    impl Fake {
        fn push(&mut self, status: u16, content_type: &str, body: &str, extra: &[(&str, &str)]) {
            let mut headers = Vec::new();
            if !content_type.is_empty() {
                headers.push(("content-type".to_string(), content_type.to_string()));
            }
            for (n, v) in extra {
                headers.push((n.to_string(), v.to_string()));
            }
            self.answers.push_back(IncomingResponse {
                status,
                headers,
                body: body.as_bytes().to_vec(),
            });
        }
    }

    impl Transport for Fake {
        async fn send(&mut self, req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
            self.sent.push(req);
            self.answers
                .pop_front()
                .ok_or_else(|| anyhow!("no canned answer left"))
        }
    }

    fn header<'a>(req: &'a OutgoingRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn body(req: &OutgoingRequest) -> Value {
        serde_json::from_slice(&req.body).unwrap()
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"fake","version":"1"}}}"#;

    #[tokio::test]
    async fn initialize_stores_session_and_version_then_notifies() {
        let mut fake = Fake::default();
        fake.push(200, "application/json", INIT, &[("Mcp-Session-Id", "s-1")]);
        fake.push(202, "", "", &[]);
        fake.push(
            200,
            "application/json; charset=utf-8",
            r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a"}]}}"#,
            &[],
        );
        let mut session = McpSession::new("http://x/mcp", fake);
        let result = session.initialize("tester").await.unwrap();
        assert_eq!(result["serverInfo"]["name"], "fake");
        assert_eq!(session.session_id(), Some("s-1"));
        assert_eq!(session.protocol_version(), Some("2025-06-18"));
        let tools = session.list_tools().await.unwrap();
        assert_eq!(tools.len(), 1);

        let sent = &session.transport_mut().sent;
        assert_eq!(sent.len(), 3);
        let init = &sent[0];
        assert_eq!(init.method, "POST");
        assert_eq!(init.url, "http://x/mcp");
        assert_eq!(header(init, "content-type"), Some("application/json"));
        assert_eq!(
            header(init, "accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(header(init, "mcp-session-id"), None);
        assert_eq!(header(init, "mcp-protocol-version"), None);
        let b = body(init);
        assert_eq!(b["method"], "initialize");
        assert_eq!(b["params"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(b["params"]["clientInfo"]["name"], "tester");
        assert_eq!(b["params"]["capabilities"], json!({}));

        let notification = &sent[1];
        let b = body(notification);
        assert_eq!(b["method"], "notifications/initialized");
        assert!(b.get("id").is_none());
        assert_eq!(header(notification, "mcp-session-id"), Some("s-1"));
        assert_eq!(
            header(notification, "mcp-protocol-version"),
            Some("2025-06-18")
        );

        let list = &sent[2];
        assert_eq!(body(list)["method"], "tools/list");
        assert_eq!(header(list, "mcp-session-id"), Some("s-1"));
    }

    #[tokio::test]
    async fn sse_responses_are_parsed_and_matched_by_id() {
        let mut fake = Fake::default();
        fake.push(200, "application/json", INIT, &[]);
        fake.push(202, "", "", &[]);
        let sse = concat!(
            ": a comment\r\n",
            "retry: 1000\r\n",
            "\r\n",
            "event: message\n",
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n",
            "\n",
            "id: 7\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\n",
            "\n",
            "data: {\"jsonrpc\":\"2.0\",\n",
            "data:  \"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}}\n",
            "\n",
        );
        fake.push(200, "text/event-stream", sse, &[]);
        let mut session = McpSession::new("http://x/mcp", fake);
        session.initialize("t").await.unwrap();
        assert_eq!(session.session_id(), None);
        let result = session
            .call_tool("echo", json!({"text": "hi"}))
            .await
            .unwrap();
        assert_eq!(result["content"][0]["text"], "hi");
        let call = body(&session.transport_mut().sent[2]);
        assert_eq!(call["method"], "tools/call");
        assert_eq!(call["params"]["name"], "echo");
        assert_eq!(call["params"]["arguments"]["text"], "hi");
        assert_eq!(call["id"], 2);
    }

    #[tokio::test]
    async fn sse_without_matching_response_is_an_error() {
        let mut fake = Fake::default();
        fake.push(
            200,
            "text/event-stream",
            "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\n\n",
            &[],
        );
        let mut session = McpSession::new("http://x/mcp", fake);
        let err = session.request("ping", json!({})).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("ended without a response"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn json_rpc_errors_and_bad_statuses_become_errors() {
        let mut fake = Fake::default();
        fake.push(
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
            &[],
        );
        fake.push(500, "text/plain", "boom\nbroken", &[]);
        fake.push(401, "", "", &[]);
        fake.push(200, "text/html", "<html>", &[]);
        fake.push(200, "application/json", "not json", &[]);
        let mut session = McpSession::new("http://x/mcp", fake);
        let err = format!(
            "{:#}",
            session.request("nope", json!({})).await.unwrap_err()
        );
        assert!(
            err.contains("-32601") && err.contains("Method not found"),
            "{err}"
        );
        let err = format!("{:#}", session.list_tools().await.unwrap_err());
        assert!(err.contains("500") && err.contains("boom broken"), "{err}");
        let err = format!("{:#}", session.request("x", json!({})).await.unwrap_err());
        assert!(err.contains("HTTP 401"), "{err}");
        let err = format!("{:#}", session.request("x", json!({})).await.unwrap_err());
        assert!(err.contains("text/html"), "{err}");
        let err = format!("{:#}", session.request("x", json!({})).await.unwrap_err());
        assert!(err.contains("not JSON"), "{err}");
    }

    #[tokio::test]
    async fn list_tools_follows_cursors() {
        let mut fake = Fake::default();
        fake.push(
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}],"nextCursor":"p2"}}"#,
            &[],
        );
        fake.push(
            200,
            "application/json",
            r#"[{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}}]"#,
            &[],
        );
        let mut session = McpSession::new("http://x/mcp", fake);
        let tools = session.list_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            body(&session.transport_mut().sent[1])["params"]["cursor"],
            "p2"
        );
    }

    #[test]
    fn sse_parser_handles_fields_and_line_endings() {
        let events = sse_data("data:a\rdata: b\r\revent: other\ndata: x\n\n:c\ndata\n\ndata: last");
        assert_eq!(events, ["a\nb", "", "last"]);
    }

    #[tokio::test]
    async fn works_against_the_mock_world() {
        use crate::agent::{follow_headless, http_request};
        use crate::mock::{form_decode, form_encode, MockWorld, Server};

        /// Sends straight over HTTP with a bearer token.
        struct Direct {
            token: String,
        }
        impl Transport for Direct {
            async fn send(&mut self, mut req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
                req.headers
                    .push(("Authorization".into(), format!("Bearer {}", self.token)));
                http_request(req).await
            }
        }

        let world = MockWorld::start(Default::default()).await.unwrap();
        let issuer = world.issuer();
        let redirect_uri = "http://127.0.0.1:9/callback";
        let verifier = "v".repeat(50);
        let authorize =
            crate::mock::test_authorization_url(&world, redirect_uri, &verifier, "st").await;
        let authorize_query = form_decode(authorize.split_once('?').unwrap().1);
        let client_id = &authorize_query
            .iter()
            .find(|(k, _)| k == "client_id")
            .unwrap()
            .1;
        let callback = follow_headless(&authorize, redirect_uri).await.unwrap();
        let query = callback.split_once('?').unwrap().1;
        let params = form_decode(query);
        let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();

        let token = http_request(OutgoingRequest {
            method: "POST".into(),
            url: format!("{issuer}/token"),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: form_encode(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &verifier),
                ("resource", &world.mcp_url()),
            ])
            .into_bytes(),
        })
        .await
        .unwrap();
        assert_eq!(token.status, 200);
        let token: Value = serde_json::from_slice(&token.body).unwrap();
        let access = token["access_token"].as_str().unwrap().to_string();

        let mut session = McpSession::new(&world.mcp_url(), Direct { token: access });
        let init = session.initialize("mcp test").await.unwrap();
        assert_eq!(init["serverInfo"]["name"], "mock-mcp");
        let tools = session.list_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["echo", "add"]);
        let sum = session
            .call_tool("add", json!({"a": 2, "b": 40}))
            .await
            .unwrap();
        assert_eq!(sum["content"][0]["text"], "42");
        assert_eq!(world.count(Server::Mcp, "POST", "/mcp"), 4);
    }
}
