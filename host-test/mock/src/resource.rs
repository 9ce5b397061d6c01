//! The mock MCP server: protected resource metadata and a Streamable HTTP
//! endpoint at `/mcp` that wants a bearer token from the mock AS.
//!
//! The endpoint is dual-era, as MCP 2026-07-28 ("Versioning: Backward
//! Compatibility") allows: a request carrying the per-request `_meta`
//! protocol version, or an `MCP-Protocol-Version` header naming no legacy
//! revision, is served statelessly as 2026-07-28 (header validation,
//! `server/discover`, `resultType`, `x-mcp-header`); anything else is served
//! as 2025-11-25 (`initialize`, then `Mcp-Session-Id`).

use super::util::{
    base64_decode, bytes_reply, empty_reply, json_reply, random_id, text_reply, with_header, Reply,
};
use super::{Req, State};
use serde_json::{json, Value};

/// The legacy revision `initialize` answers with.
const PROTOCOL_VERSION: &str = "2025-11-25";

/// The modern revision served statelessly.
const MODERN_VERSION: &str = "2026-07-28";

/// `MCP-Protocol-Version` values that keep a request in the legacy lifecycle.
const LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The `_meta` keys every modern request must carry.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Tool arguments the modern `tools/list` marks with `x-mcp-header`:
/// (tool, argument, header name).
const PARAM_HEADERS: [(&str, &str, &str); 1] = [("echo", "text", "Text")];

pub(crate) fn handle(st: &mut State, req: &Req) -> Reply {
    if req.path.starts_with("/.well-known/") {
        let sibling = st
            .behaviour
            .sibling_path
            .as_ref()
            .is_some_and(|p| req.path == super::access::metadata_path(p));
        if (req.path == super::access::metadata_path("/mcp") || sibling) && req.method == "GET" {
            return protected_resource_metadata(st);
        }
        return text_reply(404, "not found");
    }
    if req.path != "/mcp" && st.behaviour.sibling_path.as_deref() != Some(req.path.as_str()) {
        return text_reply(404, "not found");
    }
    match req.method.as_str() {
        "POST" => post(st, req),
        "DELETE" => {
            if let Some(refusal) = refusal(st, req) {
                return refusal;
            }
            if let Some(id) = req.header("mcp-session-id") {
                st.sessions.remove(id);
            }
            empty_reply(200)
        }
        _ => with_header(
            text_reply(405, "method not allowed"),
            "allow",
            "POST, DELETE",
        ),
    }
}

fn protected_resource_metadata(st: &State) -> Reply {
    let b = &st.behaviour;
    let mut doc = json!({
        "resource": b.prm_resource.clone().unwrap_or_else(|| st.mcp_url.clone()),
        "authorization_servers": b.authorization_servers.clone().unwrap_or_else(|| vec![st.issuer.clone()]),
        "bearer_methods_supported": ["header"],
    });
    if let Some(scopes) = &b.scopes_supported {
        doc["scopes_supported"] = json!(scopes);
    }
    json_reply(200, &doc)
}

/// Checks the request's credentials (bearer or DPoP-bound token, see
/// `access`): the 401 with its challenge when they are refused.
fn refusal(st: &mut State, req: &Req) -> Option<Reply> {
    let denied = super::access::check(st, req).err()?;
    Some(super::access::challenge(st, req, &denied))
}

fn rpc_error(status: u16, id: Value, code: i64, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    )
}

fn post(st: &mut State, req: &Req) -> Reply {
    if let Some(refusal) = refusal(st, req) {
        return refusal;
    }
    let accept = req.header_joined("accept").to_ascii_lowercase();
    if !accept.contains("application/json") || !accept.contains("text/event-stream") {
        return rpc_error(
            400,
            Value::Null,
            -32600,
            "Accept must list application/json and text/event-stream",
        );
    }
    if !req.has_content_type("application/json") {
        return rpc_error(
            415,
            Value::Null,
            -32600,
            "Content-Type must be application/json",
        );
    }
    let Ok(message) = serde_json::from_slice::<Value>(&req.body) else {
        return rpc_error(400, Value::Null, -32700, "Parse error");
    };
    let Some(obj) = message.as_object() else {
        return rpc_error(
            400,
            Value::Null,
            -32600,
            "expected a single JSON-RPC message",
        );
    };
    let id = obj.get("id").cloned();
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        if obj.contains_key("result") || obj.contains_key("error") {
            return empty_reply(202);
        }
        return rpc_error(400, id.unwrap_or(Value::Null), -32600, "Invalid Request");
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);

    if is_modern(req, &params) {
        return modern(st, req, id, method, &params);
    }

    if method == "initialize" {
        let Some(id) = id else {
            return rpc_error(400, Value::Null, -32600, "initialize must be a request");
        };
        let session = random_id("mock-session-");
        st.sessions.insert(session.clone());
        let result = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mock-mcp", "version": "0.1.0"},
        });
        let reply = respond(st, id, Ok(result));
        return with_header(reply, "mcp-session-id", &session);
    }

    match req.header("mcp-session-id") {
        None => {
            return rpc_error(
                400,
                id.unwrap_or(Value::Null),
                -32600,
                "missing Mcp-Session-Id",
            )
        }
        Some(s) if !st.sessions.contains(s) => {
            return rpc_error(404, id.unwrap_or(Value::Null), -32600, "unknown session");
        }
        Some(_) => {}
    }
    let Some(id) = id else {
        return empty_reply(202);
    };
    let outcome = match method {
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => call_tool(&params),
        _ => Err((-32601, format!("Method not found: {method}"))),
    };
    let before = if method == "tools/call" && st.behaviour.server_messages {
        vec![
            json!({"jsonrpc": "2.0", "method": "notifications/message",
                   "params": {"level": "info", "data": "calling the tool"}}),
            json!({"jsonrpc": "2.0", "id": "server-ping-1", "method": "ping"}),
        ]
    } else {
        Vec::new()
    };
    respond_after(st, &before, id, outcome)
}

fn respond(st: &State, id: Value, outcome: Result<Value, (i64, String)>) -> Reply {
    respond_after(st, &[], id, outcome)
}

/// The answer to request `id`; in an SSE stream, the messages `before`
/// come first (a JSON answer has no room for them).
fn respond_after(
    st: &State,
    before: &[Value],
    id: Value,
    outcome: Result<Value, (i64, String)>,
) -> Reply {
    let message = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, text)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": text}})
        }
    };
    if st.behaviour.sse_responses {
        let body: String = before
            .iter()
            .chain(std::iter::once(&message))
            .map(|m| format!("event: message\ndata: {m}\n\n"))
            .collect();
        let reply = bytes_reply(200, "text/event-stream", body.into_bytes());
        with_header(reply, "cache-control", "no-cache")
    } else {
        json_reply(200, &message)
    }
}

/// Whether a request opens (or continues) the modern lifecycle.
fn is_modern(req: &Req, params: &Value) -> bool {
    let meta_version = params
        .get("_meta")
        .and_then(|m| m.get(META_VERSION))
        .is_some();
    let modern_header = req
        .header("mcp-protocol-version")
        .is_some_and(|v| !LEGACY_VERSIONS.contains(&v));
    meta_version || modern_header
}

/// A header value with the `=?base64?…?=` sentinel decoded; `None` when the
/// encoding is broken.
fn decode_header(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(base64_decode(encoded)?).ok(),
        None => Some(value.to_string()),
    }
}

/// Serves a 2026-07-28 request: validation in the order of the transport
/// rules, then `server/discover`, `tools/list` or `tools/call`.
fn modern(st: &State, req: &Req, id: Option<Value>, method: &str, params: &Value) -> Reply {
    let rid = id.clone().unwrap_or(Value::Null);
    let mismatch = |text: &str| rpc_error(400, rid.clone(), -32020, text);
    let Some(version) = req.header("mcp-protocol-version") else {
        return mismatch("Missing MCP-Protocol-Version header");
    };
    match req.header("mcp-method").map(decode_header) {
        None => return mismatch("Missing Mcp-Method header"),
        Some(m) if m.as_deref() != Some(method) => {
            return mismatch("Mcp-Method header does not match the body")
        }
        Some(_) => {}
    }
    let name = match method {
        "tools/call" | "prompts/get" => params.get("name"),
        "resources/read" => params.get("uri"),
        _ => None,
    };
    if let Some(expected) = name.and_then(Value::as_str) {
        match req.header("mcp-name").map(decode_header) {
            None => return mismatch("Missing Mcp-Name header"),
            Some(n) if n.as_deref() != Some(expected) => {
                return mismatch("Mcp-Name header does not match the body")
            }
            Some(_) => {}
        }
    }
    let meta = params.get("_meta");
    let missing: Vec<&str> = [META_VERSION, META_CAPABILITIES]
        .into_iter()
        .filter(|k| meta.and_then(|m| m.get(*k)).is_none())
        .collect();
    if !missing.is_empty() {
        let text = format!("Invalid params: missing _meta keys: {}", missing.join(", "));
        return rpc_error(400, rid.clone(), -32602, &text);
    }
    if meta
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str)
        != Some(version)
    {
        return mismatch("MCP-Protocol-Version header does not match _meta protocolVersion");
    }
    if version != MODERN_VERSION {
        let error = json!({
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": [MODERN_VERSION, PROTOCOL_VERSION], "requested": version},
        });
        return json_reply(
            400,
            &json!({"jsonrpc": "2.0", "id": rid.clone(), "error": error}),
        );
    }
    let Some(id) = id else {
        return empty_reply(202);
    };
    let outcome = match method {
        "server/discover" => Ok(json!({
            "supportedVersions": [MODERN_VERSION, PROTOCOL_VERSION],
            "capabilities": {"tools": {}},
            "ttlMs": 0,
            "cacheScope": "private",
        })),
        "tools/list" => Ok(json!({"tools": modern_tools(), "ttlMs": 0, "cacheScope": "private"})),
        "tools/call" => {
            if let Err(text) = check_param_headers(req, params) {
                return mismatch(&text);
            }
            call_tool(params)
        }
        _ => {
            let text = format!("Method not found: {method}");
            return rpc_error(404, id, -32601, &text);
        }
    };
    let outcome = outcome.map(|mut result| {
        result["resultType"] = json!("complete");
        result["_meta"] = json!({
            "io.modelcontextprotocol/serverInfo": {"name": "mock-mcp", "version": "0.1.0"},
        });
        result
    });
    respond(st, id, outcome)
}

/// The `Mcp-Param-*` headers of a `tools/call` match its arguments.
fn check_param_headers(req: &Req, params: &Value) -> Result<(), String> {
    let tool = params.get("name").and_then(Value::as_str).unwrap_or("");
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    for (name, argument, header) in PARAM_HEADERS {
        if name != tool {
            continue;
        }
        let value = args.get(argument).filter(|v| !v.is_null());
        let sent = req.header(&format!("mcp-param-{}", header.to_ascii_lowercase()));
        let matches = match (value, sent) {
            (None, None) => true,
            (Some(Value::String(v)), Some(h)) => decode_header(h).as_deref() == Some(v),
            _ => false,
        };
        if !matches {
            return Err(format!(
                "Header mismatch: Mcp-Param-{header} does not match argument {argument}"
            ));
        }
    }
    Ok(())
}

/// The tools with the modern `x-mcp-header` annotations.
fn modern_tools() -> Value {
    let mut tools = tools();
    for (name, argument, header) in PARAM_HEADERS {
        for tool in tools.as_array_mut().into_iter().flatten() {
            if tool["name"] == name {
                tool["inputSchema"]["properties"][argument]["x-mcp-header"] = json!(header);
            }
        }
    }
    tools
}

fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "description": "Returns the text it is given",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        },
        {
            "name": "add",
            "description": "Adds two numbers",
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    ])
}

fn tool_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

fn call_tool(params: &Value) -> Result<Value, (i64, String)> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    match name {
        "echo" => Ok(match args.get("text").and_then(Value::as_str) {
            Some(text) => tool_result(text.to_string(), false),
            None => tool_result("echo needs a string argument `text`".into(), true),
        }),
        "add" => {
            let a = args.get("a").and_then(Value::as_f64);
            let b = args.get("b").and_then(Value::as_f64);
            Ok(match (a, b) {
                (Some(a), Some(b)) => tool_result(format_number(a + b), false),
                _ => tool_result("add needs number arguments `a` and `b`".into(), true),
            })
        }
        _ => Err((-32602, format!("Unknown tool: {name}"))),
    }
}

/// Integers without a fraction, other numbers as Rust prints them.
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
