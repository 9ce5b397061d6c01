//! `mcp-oauth proxy <url>`: a bridge between an MCP client that starts a
//! local stdio server (Claude Desktop, Cursor, Haystack's
//! `StdioServerInfo`) and a remote MCP server on Streamable HTTP that wants
//! OAuth. Every JSON-RPC message read from stdin (one per line) is POSTed to
//! the server through the component, which authorizes when it must; every
//! message the server sends back — a JSON body, the events of an SSE
//! response, the optional GET stream — is written to stdout, one per line.
//! Logs go to stderr only. At the end of stdin the session is closed
//! (`DELETE`) and the process exits.
//!
//! The component instance serves one request at a time up to the response's
//! head (authorizing, if it must, in between); bodies stream concurrently.
//! Messages are sent in the order they were read.

use crate::mcp::{sse_data, OutgoingRequest};
use crate::session::{ComponentTransport, Progress};
use mcp_oauth_host::harness::Response;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::{mpsc, Mutex};

/// The most bytes of one JSON response body, or of one SSE event.
const MAX_MESSAGE: usize = 16 << 20;

/// How long answers still streaming may take once the client's input
/// ended.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// What the proxy learned of the session from the server.
#[derive(Debug, Default)]
struct Session {
    /// `Mcp-Session-Id`, once the server assigned one.
    id: Option<String>,
    /// The protocol version of the `initialize` result, sent as
    /// `MCP-Protocol-Version` from then on.
    protocol_version: Option<String>,
    /// The id of the client's `initialize` request, whose result carries
    /// the version.
    initialize_id: Option<Value>,
    /// Whether the GET stream was asked for.
    get_stream: bool,
}

/// What the bridge's tasks share.
struct Bridge<P: Progress> {
    url: String,
    transport: Mutex<ComponentTransport<P>>,
    session: StdMutex<Session>,
    /// Lines for stdout.
    out: mpsc::UnboundedSender<String>,
}

/// Runs the bridge until `input` ends: messages from `input` to the server
/// at `url` through `transport`, the server's messages to `output`. Returns
/// the transport (to save its state).
pub async fn run<P, R, W>(
    transport: ComponentTransport<P>,
    url: &str,
    input: R,
    mut output: W,
) -> anyhow::Result<ComponentTransport<P>>
where
    P: Progress + 'static,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            output.write_all(line.as_bytes()).await?;
            output.write_all(b"\n").await?;
            output.flush().await?;
        }
        anyhow::Ok(())
    });
    let bridge = Arc::new(Bridge {
        url: url.to_string(),
        transport: Mutex::new(transport),
        session: StdMutex::new(Session::default()),
        out,
    });
    // The answers to the client's messages, and the GET stream.
    let mut answers = tokio::task::JoinSet::new();
    let mut streams = tokio::task::JoinSet::new();
    let mut input = BufReader::new(input).lines();
    while let Some(line) = input.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                bridge.write(&rpc_error(
                    &Value::Null,
                    -32700,
                    &format!("parse error: {e}"),
                ));
                continue;
            }
        };
        bridge.note_initialize(&message);
        let initialized = method(&message) == Some("notifications/initialized");
        let response = bridge.post(line.into_bytes()).await;
        match response {
            Ok(response) => {
                let b = Arc::clone(&bridge);
                answers.spawn(async move { b.deliver(response, Some(&message)).await });
            }
            Err(e) => bridge.fail(&message, &format!("{e:#}")),
        }
        if initialized {
            bridge.open_get_stream(&mut streams);
        }
    }
    // The client's input ended: the answers on their way are delivered
    // (for a while), then the session ends and the GET stream stops.
    let drained = tokio::time::timeout(DRAIN, async {
        while answers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "mcp-oauth proxy: {} answers still streaming after {} s; closing",
            answers.len(),
            DRAIN.as_secs()
        );
        answers.abort_all();
        while answers.join_next().await.is_some() {}
    }
    bridge.close().await;
    streams.abort_all();
    while streams.join_next().await.is_some() {}
    let Ok(bridge) = Arc::try_unwrap(bridge) else {
        anyhow::bail!("a stream task still holds the bridge");
    };
    drop(bridge.out);
    writer.await??;
    Ok(bridge.transport.into_inner())
}

impl<P: Progress + 'static> Bridge<P> {
    fn write(&self, message: &Value) {
        let _ = self.out.send(message.to_string());
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers the id of the client's `initialize` request.
    fn note_initialize(&self, message: &Value) {
        if method(message) == Some("initialize") {
            self.session().initialize_id = message.get("id").cloned();
        }
    }

    /// The headers of a request in this session.
    fn headers(&self, accept: &str) -> Vec<(String, String)> {
        let session = self.session();
        let mut headers = vec![("accept".to_string(), accept.to_string())];
        if let Some(id) = &session.id {
            headers.push(("mcp-session-id".into(), id.clone()));
        }
        if let Some(v) = &session.protocol_version {
            headers.push(("mcp-protocol-version".into(), v.clone()));
        }
        headers
    }

    /// Sends `request` through the component; keeps the session id the
    /// server assigns.
    async fn send(&self, request: OutgoingRequest) -> anyhow::Result<Response> {
        let response = self.transport.lock().await.open(&request).await?;
        if let Some(id) = response.header_values("mcp-session-id").next() {
            self.session().id.get_or_insert_with(|| id.to_string());
        }
        Ok(response)
    }

    /// POSTs one message (its bytes as read).
    async fn post(&self, body: Vec<u8>) -> anyhow::Result<Response> {
        let mut headers = self.headers("application/json, text/event-stream");
        headers.push(("content-type".into(), "application/json".into()));
        self.send(OutgoingRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers,
            body,
        })
        .await
    }

    /// Writes the messages of `response` to stdout. `request` is the
    /// message it answers (a request gets an error response when the
    /// server answers with an HTTP error).
    async fn deliver(&self, response: Response, request: Option<&Value>) {
        let status = response.status;
        let sse = response
            .header_values("content-type")
            .next()
            .is_some_and(|t| t.trim_start().starts_with("text/event-stream"));
        let result = match (status, sse) {
            (200..=299, true) => self.stream_events(response).await,
            (200..=299, false) => self.json_body(response).await,
            _ => {
                let excerpt = response
                    .bytes(64 * 1024)
                    .await
                    .map(|b| mcp_oauth_host::net::excerpt(&b, 200))
                    .unwrap_or_default();
                Err(anyhow::anyhow!(
                    "the server answered HTTP {status}: {excerpt}"
                ))
            }
        };
        if let Err(e) = result {
            match request {
                Some(request) => self.fail(request, &format!("{e:#}")),
                None => eprintln!("mcp-oauth proxy: {e:#}"),
            }
        }
    }

    /// A JSON body: one message or a batch, written as one line.
    async fn json_body(&self, response: Response) -> anyhow::Result<()> {
        let body = response.bytes(MAX_MESSAGE).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(()); // 202 Accepted and friends
        }
        let message: Value = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("the server's JSON body does not parse: {e}"))?;
        self.server_sent(&message);
        Ok(())
    }

    /// An SSE body: each event's data is a message, written as it comes.
    async fn stream_events(&self, mut response: Response) -> anyhow::Result<()> {
        let mut pending = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            pending.extend_from_slice(&chunk);
            while let Some(end) = event_end(&pending) {
                let event: Vec<u8> = pending.drain(..end).collect();
                self.events(&event);
            }
            if pending.len() > MAX_MESSAGE {
                anyhow::bail!("an event of the server's stream is larger than {MAX_MESSAGE} bytes");
            }
        }
        self.events(&pending);
        Ok(())
    }

    fn events(&self, text: &[u8]) {
        for data in sse_data(&String::from_utf8_lossy(text)) {
            match serde_json::from_str::<Value>(&data) {
                Ok(message) => self.server_sent(&message),
                Err(e) if !data.trim().is_empty() => {
                    eprintln!("mcp-oauth proxy: an event that is not JSON was dropped: {e}")
                }
                Err(_) => {}
            }
        }
    }

    /// A message from the server: written to stdout; the `initialize`
    /// result's protocol version is kept for the headers.
    fn server_sent(&self, message: &Value) {
        {
            let mut session = self.session();
            let answers_initialize = session.initialize_id.is_some()
                && message.get("id") == session.initialize_id.as_ref();
            if answers_initialize {
                if let Some(v) = message["result"]["protocolVersion"].as_str() {
                    session.protocol_version = Some(v.to_string());
                }
            }
        }
        self.write(message);
    }

    /// A request the server did not answer: an error response for the
    /// client, so that it does not wait; a notification's failure is
    /// logged.
    fn fail(&self, message: &Value, why: &str) {
        eprintln!("mcp-oauth proxy: {why}");
        let ids = match message {
            Value::Array(batch) => batch.iter().filter_map(request_id).collect(),
            m => request_id(m).into_iter().collect::<Vec<_>>(),
        };
        for id in ids {
            self.write(&rpc_error(&id, -32603, &format!("mcp-oauth proxy: {why}")));
        }
    }

    /// Opens the server's GET stream once (server-initiated messages); a
    /// server that offers none answers 405.
    fn open_get_stream(self: &Arc<Self>, streams: &mut tokio::task::JoinSet<()>) {
        if std::mem::replace(&mut self.session().get_stream, true) {
            return;
        }
        let bridge = Arc::clone(self);
        streams.spawn(async move {
            let request = OutgoingRequest {
                method: "GET".into(),
                url: bridge.url.clone(),
                headers: bridge.headers("text/event-stream"),
                body: Vec::new(),
            };
            match bridge.send(request).await {
                Ok(r) if r.status == 200 => {
                    if let Err(e) = bridge.stream_events(r).await {
                        eprintln!("mcp-oauth proxy: the GET stream ended: {e:#}");
                    }
                }
                Ok(_) => {} // 405: the server offers no GET stream
                Err(e) => eprintln!("mcp-oauth proxy: no GET stream: {e:#}"),
            }
        });
    }

    /// Ends the session at the server (`DELETE`), if it has one.
    async fn close(&self) {
        if self.session().id.is_none() {
            return;
        }
        let request = OutgoingRequest {
            method: "DELETE".into(),
            url: self.url.clone(),
            headers: self.headers("application/json, text/event-stream"),
            body: Vec::new(),
        };
        if let Err(e) = self.send(request).await {
            eprintln!("mcp-oauth proxy: closing the session: {e:#}");
        }
    }
}

/// The `method` of a JSON-RPC message.
fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

/// The id of a JSON-RPC request (a message with a method and an id).
fn request_id(message: &Value) -> Option<Value> {
    method(message)?;
    message.get("id").cloned()
}

/// A JSON-RPC error response.
fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Where the first complete event of an SSE text ends (after its blank
/// line), if one is complete.
fn event_end(text: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        for blank in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if rest.starts_with(blank) {
                return Some(i + blank.len());
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_their_blank_line_whatever_the_line_ends() {
        for (text, end) in [
            (&b"data: {}\n\ndata: x"[..], Some(10)),
            (b"data: {}\r\n\r\nrest", Some(12)),
            (b"data: {}\r\rrest", Some(10)),
            (b"data: {}\n", None),
            (b"", None),
        ] {
            assert_eq!(event_end(text), end, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn only_requests_get_an_error_response() {
        let request = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = json!({"jsonrpc": "2.0", "id": 3, "result": {}});
        assert_eq!(request_id(&request), Some(json!(7)));
        assert_eq!(request_id(&notification), None);
        assert_eq!(request_id(&response), None, "a response is not answered");
        assert_eq!(
            rpc_error(&json!(7), -32603, "no"),
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "no"}})
        );
    }
}
