//! A small MCP client: JSON-RPC 2.0 over Streamable HTTP, speaking both
//! protocol lifecycles.
//!
//! The session builds the requests and reads the responses; how a request
//! reaches the server is up to a [`Transport`] (the real one sends it through
//! the WebAssembly component, which adds authorization).
//!
//! # Two lifecycles
//!
//! - **Legacy** (`2025-03-26` … `2025-11-25`): an `initialize` request
//!   negotiates the version and may assign an `Mcp-Session-Id`; the client
//!   confirms with `notifications/initialized` and then sends the session id
//!   and the `MCP-Protocol-Version` header on every request.
//! - **Modern** (`2026-07-28`, SEP-2575): no handshake and no sessions. Every
//!   request carries `io.modelcontextprotocol/protocolVersion`,
//!   `io.modelcontextprotocol/clientCapabilities` and
//!   `io.modelcontextprotocol/clientInfo` in `params._meta`, and every POST
//!   carries the `MCP-Protocol-Version`, `Mcp-Method` and (for `tools/call`,
//!   `resources/read`, `prompts/get`) `Mcp-Name` headers (SEP-2243), plus
//!   `Mcp-Param-*` headers for tool arguments the tool's schema marks with
//!   `x-mcp-header`. `server/discover` returns the server's supported
//!   versions, capabilities and identity.
//!
//! # Version negotiation
//!
//! [`McpSession::connect`] finds out which lifecycle the server speaks,
//! following the 2026-07-28 rules for Streamable HTTP ("Versioning: Backward
//! Compatibility" and "Streamable HTTP: Backward Compatibility"): a dual-era
//! client attempts a modern request first; a `400` (or `404`/`405`, or a
//! JSON-RPC error on a 2xx) whose body is not a recognized modern error
//! (`-32020` HeaderMismatch, `-32021` MissingRequiredClientCapability,
//! `-32022` UnsupportedProtocolVersion) identifies a legacy server, and the
//! client falls back to `initialize`. An UnsupportedProtocolVersionError
//! identifies a modern server: the client picks the newest version of its
//! `supported` list it also speaks and retries.
//!
//! The modern request that probes is `server/discover`: every modern server
//! MUST implement it, so its failure is an unambiguous sign, it cannot be an
//! era-ambiguous method a legacy server might half-process, and its result
//! (versions, capabilities, server identity) is what `initialize` gives in
//! the legacy lifecycle. Round trips before the first tool request:
//!
//! | server                               | round trips                                        |
//! | ------------------------------------ | -------------------------------------------------- |
//! | modern or dual-era                   | 1: `server/discover`                               |
//! | modern, other modern version only    | 2: `server/discover` → -32022, `server/discover`   |
//! | legacy                               | 3: `server/discover` → 4xx, `initialize`, `notifications/initialized` |
//! | forced modern version                | 1: `server/discover`                               |
//! | forced legacy version                | 2: `initialize`, `notifications/initialized`       |
//!
//! (An authorization the transport runs on the first request adds its own
//! exchanges; none of it is the session's business.) A caller that knows the
//! server's era — the spec lets clients cache it per origin — can pass it as
//! [`VersionChoice::Exactly`] and skip the probe.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::str::FromStr;

/// The most pages of `tools/list` the session follows.
const MAX_PAGES: usize = 100;

/// How much of a body goes into an error message.
const EXCERPT_CHARS: usize = 200;

/// `_meta` key: the protocol version of a modern request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client capabilities relevant to a modern request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of a modern result: the server's name and version.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// JSON-RPC error: the HTTP headers do not match the body (2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;
/// JSON-RPC error: the request needs a client capability it did not declare.
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// JSON-RPC error: the server does not implement the requested version.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// JSON-RPC error: method not found.
pub const METHOD_NOT_FOUND: i64 = -32601;

/// A protocol revision this client speaks. Ordered oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// `2025-03-26`: the first Streamable HTTP revision.
    V2025_03_26,
    /// `2025-06-18`: adds the `MCP-Protocol-Version` header.
    V2025_06_18,
    /// `2025-11-25`: the last revision with the `initialize` handshake.
    V2025_11_25,
    /// `2026-07-28`: per-request metadata, no handshake, no sessions.
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every version this client speaks, newest first.
    pub const ALL: [ProtocolVersion; 4] = [
        ProtocolVersion::V2026_07_28,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_03_26,
    ];

    /// The newest version, tried first.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;

    /// The newest version with the `initialize` handshake, the fallback.
    pub const LATEST_LEGACY: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The version string, e.g. `2026-07-28`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether this version uses per-request metadata instead of `initialize`.
    pub fn is_modern(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// The version a string names, if this client speaks it.
    pub fn parse(text: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == text)
    }

    /// The versions this client speaks, for messages.
    fn all_listed() -> String {
        ProtocolVersion::ALL.map(ProtocolVersion::as_str).join(", ")
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolVersion {
    type Err = McpError;

    /// Parses a version this client speaks; anything else is
    /// [`McpError::UnknownVersion`].
    fn from_str(text: &str) -> Result<Self, McpError> {
        ProtocolVersion::parse(text.trim())
            .ok_or_else(|| McpError::UnknownVersion(text.to_string()))
    }
}

/// Which protocol version a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// Find out what the server speaks (see the module documentation).
    #[default]
    Negotiate,
    /// Use exactly this version; fail if the server does not speak it.
    Exactly(ProtocolVersion),
}

pub use mcp_oauth_host::net::{IncomingResponse, OutgoingRequest};

/// How the session sends requests (the real one goes through the WASM component).
pub trait Transport {
    /// Sends one request and returns the whole response.
    fn send(
        &mut self,
        req: OutgoingRequest,
    ) -> impl Future<Output = anyhow::Result<IncomingResponse>> + Send;
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// The message (an excerpt: single line, bounded).
    pub message: String,
    /// The `data` member, if any.
    pub data: Option<Value>,
}

impl RpcError {
    /// Reads an error object; `None` unless it has an integer `code`.
    fn from_value(error: &Value) -> Option<RpcError> {
        let code = error.get("code")?.as_i64()?;
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(|m| excerpt(m.as_bytes()))
            .unwrap_or_else(|| "(no message)".to_string());
        Some(RpcError {
            code,
            message,
            data: error.get("data").cloned(),
        })
    }

    /// The error of a JSON body that is a single JSON-RPC error response.
    fn from_body(body: &[u8]) -> Option<RpcError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        RpcError::from_value(value.get("error")?)
    }

    /// Whether the code is one only modern (2026-07-28) servers send.
    pub fn is_modern(&self) -> bool {
        matches!(
            self.code,
            HEADER_MISMATCH | MISSING_REQUIRED_CLIENT_CAPABILITY | UNSUPPORTED_PROTOCOL_VERSION
        )
    }

    /// The `supported` versions of an UnsupportedProtocolVersionError.
    pub fn supported_versions(&self) -> Vec<String> {
        self.data
            .as_ref()
            .and_then(|d| d.get("supported"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

/// What can go wrong in a session.
#[derive(Debug)]
pub enum McpError {
    /// A request was made before [`McpSession::connect`].
    NotConnected,
    /// A protocol version string this client does not speak.
    UnknownVersion(String),
    /// The transport could not deliver the request or read the response.
    Transport {
        /// The JSON-RPC method.
        method: String,
        /// The MCP endpoint.
        url: String,
        /// What the transport said.
        source: anyhow::Error,
    },
    /// The server answered with a non-2xx status.
    Status {
        /// The JSON-RPC method.
        method: String,
        /// The HTTP status.
        status: u16,
        /// The JSON-RPC error in the body, if the body is one.
        rpc: Option<RpcError>,
        /// An excerpt of the body.
        body: String,
    },
    /// The server answered with a JSON-RPC error.
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// The error.
        error: RpcError,
    },
    /// The response is not what the protocol allows.
    Malformed {
        /// The JSON-RPC method.
        method: String,
        /// What is wrong, as a sentence.
        detail: String,
    },
    /// The server speaks no version this client can use.
    NoCommonVersion {
        /// The version the client asked for.
        requested: ProtocolVersion,
        /// The versions the server offered.
        offered: Vec<String>,
        /// Whether the client was told to use exactly `requested`.
        forced: bool,
    },
    /// The modern probe was refused as a legacy server would refuse it, and
    /// the legacy `initialize` failed too.
    Negotiation {
        /// Why the modern request failed.
        probe: Box<McpError>,
        /// Why `initialize` failed.
        fallback: Box<McpError>,
    },
}

impl McpError {
    /// The JSON-RPC error the server sent, with a 2xx or an error status.
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            McpError::Rpc { error, .. } => Some(error),
            McpError::Status { rpc, .. } => rpc.as_ref(),
            _ => None,
        }
    }

    fn malformed(method: &str, detail: impl Into<String>) -> McpError {
        McpError::Malformed {
            method: method.to_string(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpError::NotConnected => {
                write!(
                    f,
                    "the MCP session is not connected yet (call connect first)"
                )
            }
            McpError::UnknownVersion(v) => write!(
                f,
                "unknown MCP protocol version {v:?}: this client speaks {}",
                ProtocolVersion::all_listed()
            ),
            McpError::Transport {
                method,
                url,
                source,
            } => write!(f, "sending {method} to {url}: {source:#}"),
            McpError::Status {
                method,
                status,
                rpc,
                body,
            } => {
                write!(f, "the MCP server answered {method} with HTTP {status}")?;
                match rpc {
                    Some(e) => write!(f, ": {e}"),
                    None if !body.is_empty() => write!(f, ": {body}"),
                    None => Ok(()),
                }
            }
            McpError::Rpc { method, error } => write!(f, "{method} failed: {error}"),
            McpError::Malformed { method, detail } => {
                write!(f, "bad response to {method}: {detail}")
            }
            McpError::NoCommonVersion {
                requested,
                offered,
                forced,
            } => {
                let offered = if offered.is_empty() {
                    "(none listed)".to_string()
                } else {
                    offered.join(", ")
                };
                if *forced {
                    write!(
                        f,
                        "the MCP server does not support protocol version {requested} \
                         (it supports {offered})"
                    )
                } else {
                    write!(
                        f,
                        "the MCP server supports protocol versions {offered}; this client speaks {}",
                        ProtocolVersion::all_listed()
                    )
                }
            }
            McpError::Negotiation { probe, fallback } => write!(
                f,
                "the MCP server refused the {} request form ({probe}), and the {} \
                 initialize fallback failed: {fallback}",
                ProtocolVersion::LATEST,
                ProtocolVersion::LATEST_LEGACY
            ),
        }
    }
}

impl std::error::Error for McpError {}

/// A session result.
pub type McpResult<T> = Result<T, McpError>;

/// What the server said about itself when the session connected.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The version the session speaks from now on.
    pub protocol_version: ProtocolVersion,
    /// The server's `name`, if given.
    pub name: Option<String>,
    /// The server's `version`, if given.
    pub version: Option<String>,
    /// The server's capabilities (an object).
    pub capabilities: Value,
    /// Instructions for the model, if given.
    pub instructions: Option<String>,
    /// The versions the server says it supports (`server/discover`), or the
    /// negotiated one (`initialize`).
    pub supported_versions: Vec<String>,
    /// The whole `server/discover` or `initialize` result.
    pub result: Value,
}

impl ServerInfo {
    /// The information in the shape of a 2025-11-25 `InitializeResult`,
    /// whichever lifecycle the session uses.
    pub fn as_initialize_result(&self) -> Value {
        let mut server = Map::new();
        if let Some(n) = &self.name {
            server.insert("name".into(), json!(n));
        }
        if let Some(v) = &self.version {
            server.insert("version".into(), json!(v));
        }
        let mut result = json!({
            "protocolVersion": self.protocol_version.as_str(),
            "capabilities": self.capabilities,
            "serverInfo": server,
        });
        if let Some(i) = &self.instructions {
            result["instructions"] = json!(i);
        }
        result
    }

    fn from_implementation(
        protocol_version: ProtocolVersion,
        implementation: Option<&Value>,
        supported_versions: Vec<String>,
        result: Value,
    ) -> ServerInfo {
        let field = |name: &str| {
            implementation
                .and_then(|i| i.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        ServerInfo {
            protocol_version,
            name: field("name"),
            version: field("version"),
            capabilities: result
                .get("capabilities")
                .filter(|c| c.is_object())
                .cloned()
                .unwrap_or_else(|| json!({})),
            instructions: result
                .get("instructions")
                .and_then(Value::as_str)
                .map(str::to_string),
            supported_versions,
            result,
        }
    }
}

/// The request form the session uses.
#[derive(Debug, Clone)]
enum Form {
    /// Before or during `initialize`: no version header, no session id;
    /// after it: the negotiated version and the session id, if any.
    Legacy {
        version: Option<ProtocolVersion>,
        session_id: Option<String>,
    },
    /// Per-request metadata and headers.
    Modern { version: ProtocolVersion },
}

/// How a failed modern probe classifies the server.
enum Probe {
    /// A modern server that does not speak the version: its `supported` list.
    Unsupported(Vec<String>),
    /// Not a recognized modern error: a legacy server.
    Legacy,
    /// Neither: report the error as is.
    Fatal,
}

/// Classifies the failure of a modern `server/discover`.
fn classify_probe(error: &McpError) -> Probe {
    if let Some(rpc) = error.rpc_error() {
        if rpc.code == UNSUPPORTED_PROTOCOL_VERSION {
            return Probe::Unsupported(rpc.supported_versions());
        }
        if rpc.is_modern() {
            return Probe::Fatal;
        }
    }
    match error {
        // A legacy server refusing the unknown method (or a request that
        // lacks its session) on a 2xx, as JSON-RPC allows.
        McpError::Rpc { .. } => Probe::Legacy,
        McpError::Status {
            status: 400 | 404 | 405,
            ..
        } => Probe::Legacy,
        _ => Probe::Fatal,
    }
}

/// A tool argument mirrored into an `Mcp-Param-{name}` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParamHeader {
    /// The chain of `properties` keys leading to the argument.
    path: Vec<String>,
    /// The `x-mcp-header` value.
    name: String,
}

/// An MCP client session with one server.
pub struct McpSession<T: Transport> {
    url: String,
    transport: T,
    choice: VersionChoice,
    client_name: String,
    /// `None` until [`McpSession::connect`] succeeds.
    form: Option<Form>,
    /// `x-mcp-header` arguments per tool, from the last modern `tools/list`.
    tool_headers: HashMap<String, Vec<ParamHeader>>,
    warnings: Vec<String>,
    next_id: u64,
}

impl<T: Transport> McpSession<T> {
    /// A session with the MCP server at `url` (the Streamable HTTP endpoint)
    /// that negotiates the protocol version.
    pub fn new(url: &str, transport: T) -> Self {
        McpSession {
            url: url.to_string(),
            transport,
            choice: VersionChoice::Negotiate,
            client_name: env!("CARGO_PKG_NAME").to_string(),
            form: None,
            tool_headers: HashMap::new(),
            warnings: Vec::new(),
            next_id: 1,
        }
    }

    /// Negotiates (the default) or uses exactly one version.
    pub fn with_version(mut self, choice: VersionChoice) -> Self {
        self.choice = choice;
        self
    }

    /// The transport, e.g. to inspect or reconfigure it.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The `Mcp-Session-Id` a legacy server assigned, once known.
    pub fn session_id(&self) -> Option<&str> {
        match &self.form {
            Some(Form::Legacy { session_id, .. }) => session_id.as_deref(),
            _ => None,
        }
    }

    /// The protocol version in use, once connected.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        match &self.form {
            Some(Form::Legacy { version, .. }) => *version,
            Some(Form::Modern { version }) => Some(*version),
            None => None,
        }
    }

    /// Tools left out of [`McpSession::list_tools`] and other things the
    /// caller may want to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Connects: finds the protocol version and lifecycle the server speaks
    /// (see the module documentation) and returns what the server said
    /// about itself. `client_name` goes into `clientInfo`.
    pub async fn connect(&mut self, client_name: &str) -> McpResult<ServerInfo> {
        self.client_name = client_name.to_string();
        self.form = None;
        self.tool_headers.clear();
        match self.choice {
            VersionChoice::Exactly(v) if v.is_modern() => match self.discover(v).await {
                Err(e) => match classify_probe(&e) {
                    Probe::Unsupported(offered) => Err(McpError::NoCommonVersion {
                        requested: v,
                        offered,
                        forced: true,
                    }),
                    _ => Err(e),
                },
                ok => ok,
            },
            VersionChoice::Exactly(v) => self.initialize_legacy(v, true).await,
            VersionChoice::Negotiate => {
                let first = ProtocolVersion::LATEST;
                let probe = match self.discover(first).await {
                    Ok(info) => return Ok(info),
                    Err(e) => e,
                };
                match classify_probe(&probe) {
                    Probe::Fatal => Err(probe),
                    Probe::Unsupported(offered) => {
                        let mutual = ProtocolVersion::ALL
                            .into_iter()
                            .find(|v| *v != first && offered.iter().any(|o| o == v.as_str()));
                        match mutual {
                            Some(v) if v.is_modern() => self.discover(v).await,
                            Some(v) => self.initialize_legacy(v, false).await,
                            None => Err(McpError::NoCommonVersion {
                                requested: first,
                                offered,
                                forced: false,
                            }),
                        }
                    }
                    Probe::Legacy => {
                        match self
                            .initialize_legacy(ProtocolVersion::LATEST_LEGACY, false)
                            .await
                        {
                            Ok(info) => Ok(info),
                            Err(fallback) => Err(McpError::Negotiation {
                                probe: Box::new(probe),
                                fallback: Box::new(fallback),
                            }),
                        }
                    }
                }
            }
        }
    }

    /// [`McpSession::connect`], returning the server's information in the
    /// shape of an `initialize` result whichever lifecycle the server speaks
    /// (`protocolVersion`, `capabilities`, `serverInfo`, `instructions`).
    pub async fn initialize(&mut self, client_name: &str) -> McpResult<Value> {
        Ok(self.connect(client_name).await?.as_initialize_result())
    }

    /// `server/discover` in the modern form of `version`; on success the
    /// session speaks `version`.
    async fn discover(&mut self, version: ProtocolVersion) -> McpResult<ServerInfo> {
        let method = "server/discover";
        let form = Form::Modern { version };
        let (result, _) = self.exchange(&form, method, json!({})).await?;
        let supported = match result.get("supportedVersions").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>(),
            None => {
                return Err(McpError::malformed(
                    method,
                    "the result has no supportedVersions array",
                ))
            }
        };
        let implementation = result.get("_meta").and_then(|m| m.get(META_SERVER_INFO));
        let info = ServerInfo::from_implementation(
            version,
            implementation.cloned().as_ref(),
            supported,
            result,
        );
        self.form = Some(form);
        Ok(info)
    }

    /// `initialize` asking for `version`, then `notifications/initialized`.
    /// The server may answer another legacy version this client speaks,
    /// unless `exact`.
    async fn initialize_legacy(
        &mut self,
        version: ProtocolVersion,
        exact: bool,
    ) -> McpResult<ServerInfo> {
        let method = "initialize";
        let params = json!({
            "protocolVersion": version.as_str(),
            "capabilities": {},
            "clientInfo": {"name": self.client_name, "version": env!("CARGO_PKG_VERSION")},
        });
        let bare = Form::Legacy {
            version: None,
            session_id: None,
        };
        let (result, response) = self.exchange(&bare, method, params).await?;
        let answered = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::malformed(method, "the result has no protocolVersion"))?;
        let negotiated = match ProtocolVersion::parse(answered) {
            Some(v) if !v.is_modern() && (!exact || v == version) => v,
            _ => {
                return Err(McpError::NoCommonVersion {
                    requested: version,
                    offered: vec![answered.to_string()],
                    forced: exact,
                })
            }
        };
        let session_id = response.header("mcp-session-id").map(str::to_string);
        let info = ServerInfo::from_implementation(
            negotiated,
            result.get("serverInfo").cloned().as_ref(),
            vec![negotiated.as_str().to_string()],
            result,
        );
        self.form = Some(Form::Legacy {
            version: Some(negotiated),
            session_id,
        });
        self.notify("notifications/initialized", None).await?;
        Ok(info)
    }

    /// Lists the server's tools, following `nextCursor` pages. With a modern
    /// server, a tool whose `x-mcp-header` annotations break the rules is
    /// left out (and named in [`McpSession::warnings`]); the others'
    /// annotations are remembered for [`McpSession::call_tool`].
    pub async fn list_tools(&mut self) -> McpResult<Vec<Value>> {
        let modern = matches!(self.form, Some(Form::Modern { .. }));
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut headers = HashMap::new();
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let result = self.request("tools/list", params).await?;
            let page = result
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    McpError::malformed("tools/list", "the result has no tools array")
                })?;
            for tool in page {
                if !modern {
                    tools.push(tool.clone());
                    continue;
                }
                let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
                let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
                match param_headers(schema) {
                    Ok(list) => {
                        headers.insert(name.to_string(), list);
                        tools.push(tool.clone());
                    }
                    Err(reason) => {
                        let warning = format!("tool {name:?} left out: {reason}");
                        eprintln!("warning: {warning}");
                        self.warnings.push(warning);
                    }
                }
            }
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
                _ => {
                    if modern {
                        self.tool_headers = headers;
                    }
                    return Ok(tools);
                }
            }
        }
        Err(McpError::malformed(
            "tools/list",
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// Calls a tool and returns its result (`content`, `isError`, …). With a
    /// modern server, if the server reports a header mismatch, the tool list
    /// is fetched again (its `x-mcp-header` annotations may have changed) and
    /// the call is retried once.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> McpResult<Value> {
        let params = json!({ "name": name, "arguments": arguments });
        match self.request("tools/call", params.clone()).await {
            Err(e)
                if matches!(self.form, Some(Form::Modern { .. }))
                    && e.rpc_error().map(|r| r.code) == Some(HEADER_MISMATCH) =>
            {
                self.list_tools().await?;
                self.request("tools/call", params).await
            }
            other => other,
        }
    }

    /// Sends a JSON-RPC request in the session's form and returns its result.
    pub async fn request(&mut self, method: &str, params: Value) -> McpResult<Value> {
        let form = self.form.clone().ok_or(McpError::NotConnected)?;
        Ok(self.exchange(&form, method, params).await?.0)
    }

    /// Sends a JSON-RPC notification (no response expected beyond a 2xx).
    pub async fn notify(&mut self, method: &str, params: Option<Value>) -> McpResult<()> {
        let form = self.form.clone().ok_or(McpError::NotConnected)?;
        let mut message = json!({ "jsonrpc": "2.0", "method": method });
        match (&form, params) {
            (Form::Modern { version }, params) => {
                message["params"] = self.with_meta(*version, params.unwrap_or(json!({})));
            }
            (Form::Legacy { .. }, Some(params)) => message["params"] = params,
            (Form::Legacy { .. }, None) => {}
        }
        let response = self.post(&form, &message).await?;
        check_status(method, &response)
    }

    /// Sends one request in `form`; returns its result and the response.
    async fn exchange(
        &mut self,
        form: &Form,
        method: &str,
        params: Value,
    ) -> McpResult<(Value, IncomingResponse)> {
        let id = self.next_id;
        self.next_id += 1;
        let params = match form {
            Form::Modern { version } => self.with_meta(*version, params),
            Form::Legacy { .. } => params,
        };
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.post(form, &message).await?;
        check_status(method, &response)?;
        let reply = find_reply(method, &response, id)?;
        if let Some(error) = reply.get("error") {
            let error = RpcError::from_value(error).ok_or_else(|| {
                McpError::malformed(method, "the error object has no integer code")
            })?;
            return Err(McpError::Rpc {
                method: method.to_string(),
                error,
            });
        }
        let result = reply.get("result").cloned().ok_or_else(|| {
            McpError::malformed(method, "the response has neither result nor error")
        })?;
        if !result.is_object() {
            return Err(McpError::malformed(method, "the result is not an object"));
        }
        // 2026-07-28: results carry resultType; absent means complete.
        match result.get("resultType") {
            None => {}
            Some(Value::String(t)) if t == "complete" => {}
            Some(Value::String(t)) if t == "input_required" => {
                return Err(McpError::malformed(
                    method,
                    "the server asks for client input (resultType input_required), \
                     but this client declared no capabilities",
                ))
            }
            Some(other) => {
                return Err(McpError::malformed(
                    method,
                    format!(
                        "unknown resultType {}",
                        excerpt(other.to_string().as_bytes())
                    ),
                ))
            }
        }
        Ok((result, response))
    }

    /// `params` with the per-request `_meta` of a modern request (members
    /// of a `_meta` the caller gave are kept, the three protocol keys set).
    fn with_meta(&self, version: ProtocolVersion, params: Value) -> Value {
        let mut params = match params {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => return other,
        };
        let mut meta = match params.remove("_meta") {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        meta.insert(META_PROTOCOL_VERSION.into(), json!(version.as_str()));
        meta.insert(META_CLIENT_CAPABILITIES.into(), json!({}));
        meta.insert(
            META_CLIENT_INFO.into(),
            json!({"name": self.client_name, "version": env!("CARGO_PKG_VERSION")}),
        );
        params.insert("_meta".into(), Value::Object(meta));
        Value::Object(params)
    }

    /// The headers of a POST in `form` carrying `message`.
    fn headers(&self, form: &Form, message: &Value) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Accept".to_string(),
                "application/json, text/event-stream".to_string(),
            ),
        ];
        match form {
            Form::Legacy {
                version,
                session_id,
            } => {
                if let Some(id) = session_id {
                    headers.push(("Mcp-Session-Id".to_string(), id.clone()));
                }
                if let Some(v) = version {
                    headers.push(("MCP-Protocol-Version".to_string(), v.as_str().to_string()));
                }
            }
            Form::Modern { version } => {
                headers.push((
                    "MCP-Protocol-Version".to_string(),
                    version.as_str().to_string(),
                ));
                let method = message["method"].as_str().unwrap_or("");
                headers.push(("Mcp-Method".to_string(), header_value(method)));
                let params = &message["params"];
                let name = match method {
                    "tools/call" | "prompts/get" => params.get("name"),
                    "resources/read" => params.get("uri"),
                    _ => None,
                };
                if let Some(name) = name.and_then(Value::as_str) {
                    headers.push(("Mcp-Name".to_string(), header_value(name)));
                }
                if method == "tools/call" {
                    let tool = params.get("name").and_then(Value::as_str).unwrap_or("");
                    let args = params.get("arguments").unwrap_or(&Value::Null);
                    for p in self.tool_headers.get(tool).into_iter().flatten() {
                        if let Some(value) = header_argument(args, &p.path) {
                            headers.push((format!("Mcp-Param-{}", p.name), header_value(&value)));
                        }
                    }
                }
            }
        }
        headers
    }

    async fn post(&mut self, form: &Form, message: &Value) -> McpResult<IncomingResponse> {
        let method = message["method"].as_str().unwrap_or("?").to_string();
        let req = OutgoingRequest {
            method: "POST".to_string(),
            url: self.url.clone(),
            headers: self.headers(form, message),
            body: serde_json::to_vec(message).map_err(|e| {
                McpError::malformed(&method, format!("the request cannot be encoded: {e}"))
            })?,
        };
        self.transport
            .send(req)
            .await
            .map_err(|source| McpError::Transport {
                method,
                url: self.url.clone(),
                source,
            })
    }
}

/// Fails on a non-2xx status, keeping the JSON-RPC error of the body.
fn check_status(method: &str, response: &IncomingResponse) -> McpResult<()> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    Err(McpError::Status {
        method: method.to_string(),
        status: response.status,
        rpc: RpcError::from_body(&response.body),
        body: excerpt(&response.body),
    })
}

/// Finds the JSON-RPC response with `id` in a JSON or SSE body.
fn find_reply(method: &str, response: &IncomingResponse, id: u64) -> McpResult<Value> {
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
            let value: Value = serde_json::from_slice(&response.body).map_err(|_| {
                McpError::malformed(
                    method,
                    format!("the body is not JSON: {}", excerpt(&response.body)),
                )
            })?;
            match_reply(value, id).ok_or_else(|| {
                McpError::malformed(method, format!("the body does not answer request id {id}"))
            })
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
            Err(McpError::malformed(
                method,
                format!("the event stream ended without a response to request id {id}"),
            ))
        }
        "" => Err(McpError::malformed(
            method,
            "the response has no Content-Type",
        )),
        other => Err(McpError::malformed(
            method,
            format!("unexpected Content-Type {}", excerpt(other.as_bytes())),
        )),
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

/// Schema keywords whose values are data, not subschemas.
const DATA_KEYWORDS: [&str; 4] = ["enum", "const", "default", "examples"];

/// The `x-mcp-header` annotations of a tool's `inputSchema`, or why the tool
/// must be rejected (2026-07-28 "Custom Headers from Tool Parameters").
fn param_headers(schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut found = Vec::new();
    collect_param_headers(schema, Some(&[]), &mut found)?;
    Ok(found)
}

/// Walks a schema; `path` is `Some` while the node is reachable from the
/// root through `properties` keys alone.
fn collect_param_headers(
    node: &Value,
    path: Option<&[String]>,
    found: &mut Vec<ParamHeader>,
) -> Result<(), String> {
    match node {
        Value::Object(map) => {
            if let Some(annotation) = map.get("x-mcp-header") {
                let name = annotation
                    .as_str()
                    .ok_or("an x-mcp-header value is not a string")?;
                let path = match path {
                    Some(p) if !p.is_empty() => p,
                    _ => {
                        return Err(format!(
                            "x-mcp-header {name:?} is not on a property reachable through properties alone"
                        ))
                    }
                };
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(format!(
                        "x-mcp-header {name:?} is not an HTTP field-name token"
                    ));
                }
                let primitive = matches!(
                    map.get("type").and_then(Value::as_str),
                    Some("string" | "integer" | "boolean")
                );
                if !primitive {
                    return Err(format!(
                        "x-mcp-header {name:?} is on a property whose type is not string, integer or boolean"
                    ));
                }
                if found.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
                    return Err(format!("x-mcp-header {name:?} appears twice"));
                }
                found.push(ParamHeader {
                    path: path.to_vec(),
                    name: name.to_string(),
                });
            }
            for (key, child) in map {
                if key == "x-mcp-header" || DATA_KEYWORDS.contains(&key.as_str()) {
                    continue;
                }
                match (key.as_str(), child) {
                    ("properties", Value::Object(properties)) => {
                        for (property, schema) in properties {
                            let child_path = path.map(|p| {
                                let mut p = p.to_vec();
                                p.push(property.clone());
                                p
                            });
                            collect_param_headers(schema, child_path.as_deref(), found)?;
                        }
                    }
                    _ => collect_param_headers(child, None, found)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| collect_param_headers(item, None, found)),
        _ => Ok(()),
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The header text of the argument at `path`, if it is there and is a
/// string, boolean or integer (`null` and other types: no header).
fn header_argument(arguments: &Value, path: &[String]) -> Option<String> {
    let mut value = arguments;
    for key in path {
        value = value.get(key)?;
    }
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0)
            .map(|f| format!("{}", f as i64)),
        _ => None,
    }
}

/// A header value: the text itself when it is plain visible ASCII without
/// surrounding whitespace, otherwise `=?base64?…?=` of its UTF-8 bytes.
pub fn header_value(text: &str) -> String {
    use base64::Engine as _;
    let visible = text
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b));
    let padded = text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']);
    let sentinel = text.starts_with("=?base64?") && text.ends_with("?=");
    if visible && !padded && !sentinel {
        text.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
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
    mcp_oauth_host::net::excerpt(body, EXCERPT_CHARS)
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

        fn json(&mut self, status: u16, body: Value) {
            self.push(status, "application/json", &body.to_string(), &[]);
        }

        /// A successful JSON-RPC response to request `id`.
        fn result(&mut self, id: u64, result: Value) {
            self.json(200, json!({"jsonrpc": "2.0", "id": id, "result": result}));
        }

        /// A JSON-RPC error with an HTTP status.
        fn error(&mut self, status: u16, id: u64, code: i64, data: Option<Value>) {
            let mut error = json!({"code": code, "message": format!("error {code}")});
            if let Some(d) = data {
                error["data"] = d;
            }
            self.json(status, json!({"jsonrpc": "2.0", "id": id, "error": error}));
        }

        /// A 2026-07-28 `server/discover` result to request `id`.
        fn discover(&mut self, id: u64) {
            self.result(
                id,
                json!({
                    "resultType": "complete",
                    "supportedVersions": ["2026-07-28"],
                    "capabilities": {"tools": {}},
                    "instructions": "be nice",
                    "_meta": {META_SERVER_INFO: {"name": "modern", "version": "2"}},
                }),
            );
        }

        /// A 2025-11-25 `initialize` result to request `id`, with a session.
        fn initialize(&mut self, id: u64, version: &str) {
            let body = json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "legacy", "version": "1"},
            }});
            self.push(
                200,
                "application/json",
                &body.to_string(),
                &[("Mcp-Session-Id", "s-1")],
            );
            self.push(202, "", "", &[]);
        }
    }

    impl Transport for Fake {
        async fn send(&mut self, req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
            self.sent.push(req);
            self.answers
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("no canned answer left"))
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

    fn methods(session: &mut McpSession<Fake>) -> Vec<String> {
        session
            .transport_mut()
            .sent
            .iter()
            .map(|r| body(r)["method"].as_str().unwrap().to_string())
            .collect()
    }

    fn session(fake: Fake) -> McpSession<Fake> {
        McpSession::new("http://x/mcp", fake)
    }

    fn forced(fake: Fake, version: ProtocolVersion) -> McpSession<Fake> {
        session(fake).with_version(VersionChoice::Exactly(version))
    }

    /// Puts canned answers into a fake.
    type Answer = Box<dyn Fn(&mut Fake)>;

    /// What the official TypeScript SDK's 2025-11-25 server answers a
    /// request whose MCP-Protocol-Version it does not know.
    const TS_SDK_UNSUPPORTED: &str = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: Unsupported protocol version: 2026-07-28 (supported versions: 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05, 2024-10-07)"},"id":null}"#;

    #[tokio::test]
    async fn a_legacy_server_is_probed_once_then_initialized() {
        let mut fake = Fake::default();
        fake.push(400, "application/json", TS_SDK_UNSUPPORTED, &[]);
        fake.initialize(2, "2025-11-25");
        fake.result(3, json!({"tools": [{"name": "a"}]}));
        let mut s = session(fake);
        let info = s.connect("tester").await.unwrap();
        assert_eq!(info.protocol_version, ProtocolVersion::V2025_11_25);
        assert_eq!(info.name.as_deref(), Some("legacy"));
        assert_eq!(info.capabilities, json!({"tools": {}}));
        assert_eq!(s.session_id(), Some("s-1"));
        assert_eq!(s.protocol_version(), Some(ProtocolVersion::V2025_11_25));
        assert_eq!(s.list_tools().await.unwrap().len(), 1);
        assert_eq!(
            methods(&mut s),
            [
                "server/discover",
                "initialize",
                "notifications/initialized",
                "tools/list"
            ]
        );

        let sent = &s.transport_mut().sent;
        let init = &sent[1];
        assert_eq!(init.method, "POST");
        assert_eq!(init.url, "http://x/mcp");
        assert_eq!(header(init, "content-type"), Some("application/json"));
        assert_eq!(
            header(init, "accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(header(init, "mcp-session-id"), None);
        assert_eq!(header(init, "mcp-protocol-version"), None);
        assert_eq!(header(init, "mcp-method"), None);
        let b = body(init);
        assert_eq!(b["params"]["protocolVersion"], "2025-11-25");
        assert_eq!(b["params"]["clientInfo"]["name"], "tester");
        assert_eq!(b["params"]["capabilities"], json!({}));

        let notification = &sent[2];
        assert!(body(notification).get("id").is_none());
        assert!(body(notification).get("params").is_none());
        for later in &sent[2..] {
            assert_eq!(header(later, "mcp-session-id"), Some("s-1"));
            assert_eq!(header(later, "mcp-protocol-version"), Some("2025-11-25"));
            assert_eq!(header(later, "mcp-method"), None);
        }
        assert!(body(&sent[3])["params"].get("_meta").is_none());
    }

    #[tokio::test]
    async fn a_modern_server_gets_metadata_and_headers_on_every_post() {
        let mut fake = Fake::default();
        fake.discover(1);
        fake.result(
            2,
            json!({"resultType": "complete", "tools": [{"name": "echo"}], "ttlMs": 0, "cacheScope": "private"}),
        );
        let sse = concat!(
            "event: message\n",
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n",
            "\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"resultType\":\"complete\",",
            "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n",
        );
        fake.push(200, "text/event-stream", sse, &[]);
        let mut s = session(fake);
        let info = s.connect("tester").await.unwrap();
        assert_eq!(info.protocol_version, ProtocolVersion::V2026_07_28);
        assert_eq!(
            (info.name.as_deref(), info.version.as_deref()),
            (Some("modern"), Some("2"))
        );
        assert_eq!(info.supported_versions, ["2026-07-28"]);
        assert_eq!(info.instructions.as_deref(), Some("be nice"));
        let shaped = info.as_initialize_result();
        assert_eq!(shaped["serverInfo"]["name"], "modern");
        assert_eq!(shaped["protocolVersion"], "2026-07-28");
        assert_eq!(s.session_id(), None);
        assert_eq!(s.list_tools().await.unwrap().len(), 1);
        let result = s.call_tool("echo", json!({"text": "hi"})).await.unwrap();
        assert_eq!(result["content"][0]["text"], "hi");

        assert_eq!(
            methods(&mut s),
            ["server/discover", "tools/list", "tools/call"]
        );
        for req in &s.transport_mut().sent {
            let b = body(req);
            let method = b["method"].as_str().unwrap();
            assert_eq!(header(req, "mcp-protocol-version"), Some("2026-07-28"));
            assert_eq!(header(req, "mcp-method"), Some(method));
            assert_eq!(header(req, "mcp-session-id"), None);
            assert_eq!(
                header(req, "accept"),
                Some("application/json, text/event-stream")
            );
            let meta = &b["params"]["_meta"];
            assert_eq!(meta[META_PROTOCOL_VERSION], "2026-07-28");
            assert_eq!(meta[META_CLIENT_CAPABILITIES], json!({}));
            assert_eq!(meta[META_CLIENT_INFO]["name"], "tester");
        }
        let call = &s.transport_mut().sent[2];
        assert_eq!(header(call, "mcp-name"), Some("echo"));
        assert_eq!(body(call)["params"]["arguments"]["text"], "hi");
        assert_eq!(body(call)["params"]["name"], "echo");
    }

    #[tokio::test]
    async fn legacy_fallback_signals_are_the_spec_ones() {
        // 2xx JSON-RPC errors and 400/404/405 without a modern error body
        // mean legacy; each costs one probe.
        let legacy_answers: Vec<Answer> = vec![
            Box::new(|f| f.error(200, 1, METHOD_NOT_FOUND, None)),
            Box::new(|f| f.error(400, 1, -32600, None)),
            Box::new(|f| f.error(404, 1, METHOD_NOT_FOUND, None)),
            Box::new(|f| f.push(405, "text/plain", "no", &[])),
            Box::new(|f| f.push(400, "", "", &[])),
            // Missing-_meta is -32602, not a modern-only code.
            Box::new(|f| f.error(400, 1, -32602, None)),
        ];
        for answer in legacy_answers {
            let mut fake = Fake::default();
            answer(&mut fake);
            fake.initialize(2, "2025-06-18");
            let mut s = session(fake);
            let info = s.connect("t").await.unwrap();
            assert_eq!(info.protocol_version, ProtocolVersion::V2025_06_18);
            assert_eq!(
                methods(&mut s),
                ["server/discover", "initialize", "notifications/initialized"]
            );
        }
    }

    #[tokio::test]
    async fn modern_errors_and_other_failures_do_not_fall_back() {
        let fatal: Vec<(Answer, &str)> = vec![
            (
                Box::new(|f| f.error(400, 1, HEADER_MISMATCH, None)),
                "-32020",
            ),
            (
                Box::new(|f| f.error(400, 1, MISSING_REQUIRED_CLIENT_CAPABILITY, None)),
                "-32021",
            ),
            (Box::new(|f| f.push(401, "", "", &[])), "HTTP 401"),
            (
                Box::new(|f| f.push(503, "text/plain", "down", &[])),
                "HTTP 503: down",
            ),
            (
                Box::new(|f| f.push(200, "text/html", "<html>", &[])),
                "text/html",
            ),
            (
                Box::new(|f| f.result(1, json!({"capabilities": {}}))),
                "no supportedVersions",
            ),
        ];
        for (answer, text) in fatal {
            let mut fake = Fake::default();
            answer(&mut fake);
            let mut s = session(fake);
            let err = s.connect("t").await.unwrap_err().to_string();
            assert!(err.contains(text), "{text}: {err}");
            assert_eq!(s.transport_mut().sent.len(), 1, "{err}");
            assert_eq!(s.protocol_version(), None);
        }
        // A transport failure is reported with its cause.
        let mut s = session(Fake::default());
        let err = s.connect("t").await.unwrap_err();
        assert!(matches!(err, McpError::Transport { .. }));
        assert!(err.to_string().contains("no canned answer left"), "{err}");
    }

    #[tokio::test]
    async fn unsupported_version_errors_pick_a_mutual_version() {
        // A dual-era server that dropped 2026-07-28: straight to initialize.
        let mut fake = Fake::default();
        fake.error(
            400,
            1,
            UNSUPPORTED_PROTOCOL_VERSION,
            Some(json!({"supported": ["2025-11-25"], "requested": "2026-07-28"})),
        );
        fake.initialize(2, "2025-11-25");
        let mut s = session(fake);
        s.connect("t").await.unwrap();
        assert_eq!(
            methods(&mut s),
            ["server/discover", "initialize", "notifications/initialized"]
        );

        // Nothing in common.
        let mut fake = Fake::default();
        fake.error(
            400,
            1,
            UNSUPPORTED_PROTOCOL_VERSION,
            Some(json!({"supported": ["2099-01-01"], "requested": "2026-07-28"})),
        );
        let mut s = session(fake);
        let err = s.connect("t").await.unwrap_err();
        assert!(
            matches!(&err, McpError::NoCommonVersion { offered, forced: false, .. } if offered == &["2099-01-01"]),
            "{err:?}"
        );
        assert!(err.to_string().contains("2099-01-01"), "{err}");
        assert_eq!(s.transport_mut().sent.len(), 1);
    }

    #[tokio::test]
    async fn a_forced_version_is_honoured() {
        // Forced legacy: no probe.
        let mut fake = Fake::default();
        fake.initialize(1, "2025-11-25");
        let mut s = forced(fake, ProtocolVersion::V2025_11_25);
        s.connect("t").await.unwrap();
        assert_eq!(methods(&mut s), ["initialize", "notifications/initialized"]);

        // Forced legacy, but the server picks another version.
        let mut fake = Fake::default();
        fake.initialize(1, "2025-11-25");
        let mut s = forced(fake, ProtocolVersion::V2025_06_18);
        let err = s.connect("t").await.unwrap_err();
        assert!(
            matches!(err, McpError::NoCommonVersion { forced: true, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("2025-06-18"), "{err}");

        // Forced modern: discover only, no fallback on a legacy refusal.
        let mut fake = Fake::default();
        fake.discover(1);
        let mut s = forced(fake, ProtocolVersion::V2026_07_28);
        s.connect("t").await.unwrap();
        assert_eq!(s.protocol_version(), Some(ProtocolVersion::V2026_07_28));
        let mut fake = Fake::default();
        fake.push(400, "application/json", TS_SDK_UNSUPPORTED, &[]);
        let mut s = forced(fake, ProtocolVersion::V2026_07_28);
        let err = s.connect("t").await.unwrap_err();
        assert!(err.to_string().contains("HTTP 400"), "{err}");
        assert_eq!(s.transport_mut().sent.len(), 1);
        let mut fake = Fake::default();
        fake.error(
            400,
            1,
            UNSUPPORTED_PROTOCOL_VERSION,
            Some(json!({"supported": ["2025-11-25"]})),
        );
        let mut s = forced(fake, ProtocolVersion::V2026_07_28);
        let err = s.connect("t").await.unwrap_err().to_string();
        assert!(
            err.contains("does not support protocol version 2026-07-28")
                && err.contains("2025-11-25"),
            "{err}"
        );
    }

    #[test]
    fn versions_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            "2026-07-28".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V2026_07_28
        );
        assert_eq!(
            " 2025-11-25".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V2025_11_25
        );
        for bad in ["draft", "2024-11-05", "", "2026-7-28"] {
            let err = bad.parse::<ProtocolVersion>().unwrap_err();
            assert!(matches!(err, McpError::UnknownVersion(_)));
            let text = err.to_string();
            assert!(
                text.contains("unknown MCP protocol version") && text.contains("2026-07-28"),
                "{text}"
            );
        }
        assert!(ProtocolVersion::LATEST.is_modern());
        assert!(!ProtocolVersion::LATEST_LEGACY.is_modern());
        assert_eq!(ProtocolVersion::ALL[0], ProtocolVersion::LATEST);
    }

    #[tokio::test]
    async fn both_lifecycles_failing_reports_both() {
        let mut fake = Fake::default();
        fake.push(400, "application/json", TS_SDK_UNSUPPORTED, &[]);
        fake.push(500, "text/plain", "init broke", &[]);
        let mut s = session(fake);
        let err = s.connect("t").await.unwrap_err();
        assert!(matches!(err, McpError::Negotiation { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("Unsupported protocol version") && text.contains("init broke"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn malformed_connect_results_are_typed_errors() {
        // initialize without protocolVersion.
        let mut fake = Fake::default();
        fake.result(1, json!({"capabilities": {}}));
        let mut s = forced(fake, ProtocolVersion::V2025_11_25);
        let err = s.connect("t").await.unwrap_err();
        assert!(
            matches!(&err, McpError::Malformed { method, .. } if method == "initialize"),
            "{err:?}"
        );
        // initialize answering the modern version (an "echo" server).
        let mut fake = Fake::default();
        fake.initialize(1, "2026-07-28");
        let mut s = forced(fake, ProtocolVersion::V2025_11_25);
        assert!(matches!(
            s.connect("t").await.unwrap_err(),
            McpError::NoCommonVersion { .. }
        ));
        // A result that is not an object, an error without a code.
        let mut fake = Fake::default();
        fake.result(1, json!("yes"));
        fake.json(
            200,
            json!({"jsonrpc": "2.0", "id": 2, "error": {"message": "x"}}),
        );
        let mut s = forced(fake, ProtocolVersion::V2026_07_28);
        assert!(matches!(
            s.connect("t").await.unwrap_err(),
            McpError::Malformed { .. }
        ));
        assert!(matches!(
            s.connect("t").await.unwrap_err(),
            McpError::Malformed { .. }
        ));
    }

    /// A session connected to a modern server, the discover answer used.
    async fn modern_session(mut fake: Fake) -> McpSession<Fake> {
        fake.answers.push_front(IncomingResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({"jsonrpc": "2.0", "id": 1, "result": {"supportedVersions": ["2026-07-28"], "capabilities": {}}})
                .to_string()
                .into_bytes(),
        });
        let mut s = session(fake);
        s.connect("t").await.unwrap();
        s
    }

    #[tokio::test]
    async fn requests_before_connect_are_refused() {
        let mut s = session(Fake::default());
        assert!(matches!(
            s.list_tools().await.unwrap_err(),
            McpError::NotConnected
        ));
        assert!(matches!(
            s.notify("x", None).await.unwrap_err(),
            McpError::NotConnected
        ));
        assert!(s.transport_mut().sent.is_empty());
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
        let mut s = modern_session(fake).await;
        let err = s.request("ping", json!({})).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("ended without a response"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn json_rpc_errors_and_bad_statuses_become_errors() {
        let mut fake = Fake::default();
        fake.error(200, 2, -32601, None);
        fake.push(500, "text/plain", "boom\nbroken", &[]);
        fake.push(401, "", "", &[]);
        fake.push(200, "text/html", "<html>", &[]);
        fake.push(200, "application/json", "not json", &[]);
        fake.error(404, 7, -32601, None);
        fake.result(
            8,
            json!({"resultType": "input_required", "inputRequests": {}}),
        );
        fake.result(9, json!({"resultType": 5}));
        let mut s = modern_session(fake).await;
        let err = s.request("nope", json!({})).await.unwrap_err();
        assert_eq!(err.rpc_error().map(|e| e.code), Some(-32601));
        assert!(err.to_string().contains("error -32601"), "{err}");
        let err = s.list_tools().await.unwrap_err().to_string();
        assert!(err.contains("500") && err.contains("boom broken"), "{err}");
        let err = s.request("x", json!({})).await.unwrap_err().to_string();
        assert!(err.contains("HTTP 401"), "{err}");
        let err = s.request("x", json!({})).await.unwrap_err().to_string();
        assert!(err.contains("text/html"), "{err}");
        let err = s.request("x", json!({})).await.unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        let err = s.request("x", json!({})).await.unwrap_err();
        assert!(
            matches!(&err, McpError::Status { status: 404, rpc: Some(r), .. } if r.code == -32601),
            "{err:?}"
        );
        let err = s.request("x", json!({})).await.unwrap_err().to_string();
        assert!(err.contains("input_required"), "{err}");
        let err = s.request("x", json!({})).await.unwrap_err().to_string();
        assert!(err.contains("unknown resultType"), "{err}");
    }

    #[tokio::test]
    async fn list_tools_follows_cursors() {
        let mut fake = Fake::default();
        fake.result(2, json!({"tools": [{"name": "a"}], "nextCursor": "p2"}));
        fake.push(
            200,
            "application/json",
            r#"[{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"}]}}]"#,
            &[],
        );
        let mut s = modern_session(fake).await;
        let tools = s.list_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        let second = body(&s.transport_mut().sent[2]);
        assert_eq!(second["params"]["cursor"], "p2");
        assert_eq!(
            second["params"]["_meta"][META_PROTOCOL_VERSION],
            "2026-07-28"
        );
    }

    #[test]
    fn sse_parser_handles_fields_and_line_endings() {
        let events = sse_data("data:a\rdata: b\r\revent: other\ndata: x\n\n:c\ndata\n\ndata: last");
        assert_eq!(events, ["a\nb", "", "last"]);
    }

    #[test]
    fn header_values_are_plain_or_base64() {
        for (value, sent) in [
            ("us-west1", "us-west1"),
            ("a b", "a b"),
            ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            (" padded ", "=?base64?IHBhZGRlZCA=?="),
            ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
            ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
            // Padding of each length (base64 crate, standard alphabet).
            ("\t", "=?base64?CQ==?="),
            ("é", "=?base64?w6k=?="),
            ("é\n", "=?base64?w6kK?="),
        ] {
            assert_eq!(header_value(value), sent, "{value:?}");
        }
    }

    #[test]
    fn x_mcp_header_annotations_are_checked() {
        let ok = json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "opts": {"type": "object", "properties": {
                    "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
                    "n": {"type": "integer", "x-mcp-header": "N"},
                }},
                "query": {"type": "string", "default": {"x-mcp-header": "data, not schema"}},
            },
        });
        let mut found = param_headers(&ok).unwrap();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            found,
            [
                ParamHeader {
                    path: vec!["opts".into(), "dry".into()],
                    name: "Dry-Run".into()
                },
                ParamHeader {
                    path: vec!["opts".into(), "n".into()],
                    name: "N".into()
                },
                ParamHeader {
                    path: vec!["region".into()],
                    name: "Region".into()
                },
            ]
        );
        assert_eq!(param_headers(&Value::Null).unwrap(), []);
        let bad = [
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A\r\n"}}}),
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": 5}}}),
            json!({"properties": {
                "a": {"type": "string", "x-mcp-header": "Same"},
                "b": {"type": "string", "x-mcp-header": "same"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"oneOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"$defs": {"a": {"type": "string", "x-mcp-header": "A"}}}),
            json!({"type": "string", "x-mcp-header": "Root"}),
        ];
        for schema in bad {
            assert!(param_headers(&schema).is_err(), "{schema}");
        }
    }

    #[tokio::test]
    async fn tool_arguments_marked_x_mcp_header_are_mirrored() {
        let mut fake = Fake::default();
        fake.result(
            2,
            json!({"tools": [
                {"name": "sql", "inputSchema": {"type": "object", "properties": {
                    "region": {"type": "string", "x-mcp-header": "Region"},
                    "limit": {"type": "integer", "x-mcp-header": "Limit"},
                    "dry": {"type": "boolean", "x-mcp-header": "Dry"},
                    "note": {"type": "string", "x-mcp-header": "Note"},
                }}},
                {"name": "broken", "inputSchema": {"type": "object", "properties": {
                    "x": {"type": "number", "x-mcp-header": "X"}}}},
            ]}),
        );
        fake.result(3, json!({"content": []}));
        let mut s = modern_session(fake).await;
        let tools = s.list_tools().await.unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(s.warnings().len(), 1);
        assert!(s.warnings()[0].contains("broken"), "{:?}", s.warnings());
        s.call_tool(
            "sql",
            json!({"region": "Zürich", "limit": 42, "dry": false, "note": null}),
        )
        .await
        .unwrap();
        let call = &s.transport_mut().sent[2];
        assert_eq!(
            header(call, "mcp-param-region"),
            Some("=?base64?WsO8cmljaA==?=")
        );
        assert_eq!(header(call, "mcp-param-limit"), Some("42"));
        assert_eq!(header(call, "mcp-param-dry"), Some("false"));
        assert_eq!(header(call, "mcp-param-note"), None);
        assert_eq!(header(call, "mcp-name"), Some("sql"));
    }

    #[tokio::test]
    async fn a_header_mismatch_on_a_call_refreshes_the_tools_and_retries_once() {
        let mut fake = Fake::default();
        fake.error(400, 2, HEADER_MISMATCH, None);
        fake.result(
            3,
            json!({"tools": [{"name": "t", "inputSchema": {"type": "object", "properties": {
                "k": {"type": "string", "x-mcp-header": "K"}}}}]}),
        );
        fake.result(4, json!({"content": [{"type": "text", "text": "ok"}]}));
        let mut s = modern_session(fake).await;
        let r = s.call_tool("t", json!({"k": "v"})).await.unwrap();
        assert_eq!(r["content"][0]["text"], "ok");
        assert_eq!(
            methods(&mut s),
            ["server/discover", "tools/call", "tools/list", "tools/call"]
        );
        let sent = &s.transport_mut().sent;
        assert_eq!(header(&sent[1], "mcp-param-k"), None);
        assert_eq!(header(&sent[3], "mcp-param-k"), Some("v"));

        // A second mismatch is the caller's.
        let mut fake = Fake::default();
        fake.error(400, 2, HEADER_MISMATCH, None);
        fake.result(3, json!({"tools": []}));
        fake.error(400, 4, HEADER_MISMATCH, None);
        let mut s = modern_session(fake).await;
        let err = s.call_tool("t", json!({})).await.unwrap_err();
        assert_eq!(err.rpc_error().map(|e| e.code), Some(HEADER_MISMATCH));
    }

    /// Sends straight over HTTP with a bearer token.
    struct Direct {
        token: String,
    }

    impl Transport for Direct {
        async fn send(&mut self, mut req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
            req.headers
                .push(("Authorization".into(), format!("Bearer {}", self.token)));
            mcp_oauth_host::net::http_request(req).await
        }
    }

    /// An access token for the mock world's MCP server, by a manual flow.
    async fn mock_token(world: &mcp_oauth_mock::MockWorld) -> String {
        use mcp_oauth_host::agent::follow_headless;
        use mcp_oauth_host::net::http_request;
        use mcp_oauth_mock::{form_decode, form_encode};
        let issuer = world.issuer();
        let redirect_uri = "http://127.0.0.1:9/callback";
        let verifier = "v".repeat(50);
        let authorize =
            mcp_oauth_mock::test_authorization_url(world, redirect_uri, &verifier, "st").await;
        let authorize_query = form_decode(authorize.split_once('?').unwrap().1);
        let client_id = &authorize_query
            .iter()
            .find(|(k, _)| k == "client_id")
            .unwrap()
            .1;
        let callback = follow_headless(&authorize, redirect_uri).await.unwrap();
        let params = form_decode(callback.split_once('?').unwrap().1);
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
        token["access_token"].as_str().unwrap().to_string()
    }

    /// The dual-era mock: negotiation picks 2026-07-28; a forced 2025-11-25
    /// gets the handshake; both list and call the same way, JSON and SSE.
    #[tokio::test]
    async fn works_against_the_dual_era_mock_in_both_lifecycles() {
        use mcp_oauth_mock::{Behaviour, MockWorld, Server};
        let world = MockWorld::start(Behaviour::default()).await.unwrap();
        let token = mock_token(&world).await;
        for sse in [false, true] {
            world.set_behaviour(|b| b.sse_responses = sse);
            for choice in [
                VersionChoice::Negotiate,
                VersionChoice::Exactly(ProtocolVersion::V2025_11_25),
            ] {
                world.clear_log();
                let mut session = McpSession::new(
                    &world.mcp_url(),
                    Direct {
                        token: token.clone(),
                    },
                )
                .with_version(choice);
                let info = session.connect("mcp test").await.unwrap();
                assert_eq!(info.name.as_deref(), Some("mock-mcp"));
                let tools = session.list_tools().await.unwrap();
                let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
                assert_eq!(names, ["echo", "add"]);
                let sum = session
                    .call_tool("add", json!({"a": 2, "b": 40}))
                    .await
                    .unwrap();
                assert_eq!(sum["content"][0]["text"], "42");
                // Non-ASCII text goes through the base64 sentinel of the
                // mock's x-mcp-header on echo's argument.
                let echo = session
                    .call_tool("echo", json!({"text": "grüße "}))
                    .await
                    .unwrap();
                assert_eq!(echo["content"][0]["text"], "grüße ");
                let log = world.log();
                let posts: Vec<_> = log
                    .iter()
                    .filter(|r| r.server == Server::Mcp && r.method == "POST")
                    .collect();
                let methods: Vec<String> = posts
                    .iter()
                    .map(|r| {
                        let b: Value = serde_json::from_str(&r.body).unwrap();
                        b["method"].as_str().unwrap().to_string()
                    })
                    .collect();
                if choice == VersionChoice::Negotiate {
                    assert_eq!(info.protocol_version, ProtocolVersion::V2026_07_28);
                    assert_eq!(info.supported_versions, ["2026-07-28", "2025-11-25"]);
                    assert_eq!(
                        methods,
                        ["server/discover", "tools/list", "tools/call", "tools/call"]
                    );
                    for r in &posts {
                        assert_eq!(r.header("mcp-protocol-version"), Some("2026-07-28"));
                        assert!(r.body.contains(META_CLIENT_CAPABILITIES));
                    }
                    assert_eq!(
                        posts[3].header("mcp-param-text"),
                        Some(header_value("grüße ").as_str())
                    );
                } else {
                    assert_eq!(info.protocol_version, ProtocolVersion::V2025_11_25);
                    assert_eq!(
                        methods,
                        [
                            "initialize",
                            "notifications/initialized",
                            "tools/list",
                            "tools/call",
                            "tools/call"
                        ]
                    );
                    assert!(posts.iter().all(|r| !r.body.contains("_meta")));
                    assert!(posts[1..]
                        .iter()
                        .all(|r| r.header("mcp-session-id").is_some()));
                }
            }
        }
    }

    /// The mock's modern validation answers with the spec's errors.
    #[tokio::test]
    async fn the_mock_rejects_bad_modern_requests_with_modern_errors() {
        use mcp_oauth_mock::{Behaviour, MockWorld};
        let world = MockWorld::start(Behaviour::default()).await.unwrap();
        let token = mock_token(&world).await;
        let post = |headers: Vec<(&str, &str)>, body: Value| {
            let mut all = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                (
                    "Accept".to_string(),
                    "application/json, text/event-stream".to_string(),
                ),
                ("Authorization".to_string(), format!("Bearer {token}")),
            ];
            all.extend(
                headers
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.to_string())),
            );
            mcp_oauth_host::net::http_request(OutgoingRequest {
                method: "POST".into(),
                url: world.mcp_url(),
                headers: all,
                body: body.to_string().into_bytes(),
            })
        };
        let meta = |v: &str| json!({META_PROTOCOL_VERSION: v, META_CLIENT_CAPABILITIES: {}});
        let code = |r: &IncomingResponse| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            (r.status, v["error"]["code"].as_i64())
        };
        let list = |v: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta(v)}});
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "hi"}, "_meta": meta("2026-07-28")}});
        const V: &str = "MCP-Protocol-Version";
        const M: &str = "Mcp-Method";
        // (what is wrong, headers, body, the status and JSON-RPC error code expected)
        let cases = [
            (
                "no MCP-Protocol-Version header",
                vec![(M, "tools/list")],
                list("2026-07-28"),
                (400, Some(-32020)),
            ),
            (
                "Mcp-Method does not match",
                vec![(V, "2026-07-28"), (M, "tools/call")],
                list("2026-07-28"),
                (400, Some(-32020)),
            ),
            (
                "an unknown version",
                vec![(V, "2099-01-01"), (M, "tools/list")],
                list("2099-01-01"),
                (400, Some(-32022)),
            ),
            (
                "missing _meta",
                vec![(V, "2026-07-28"), (M, "tools/list")],
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
                (400, Some(-32602)),
            ),
            (
                "unknown method",
                vec![(V, "2026-07-28"), (M, "nope")],
                json!({"jsonrpc": "2.0", "id": 1, "method": "nope", "params": {"_meta": meta("2026-07-28")}}),
                (404, Some(-32601)),
            ),
            (
                "a tools/call without its x-mcp-header",
                vec![(V, "2026-07-28"), (M, "tools/call"), ("Mcp-Name", "echo")],
                call.clone(),
                (400, Some(-32020)),
            ),
        ];
        for (what, headers, body, expected) in cases {
            let r = post(headers, body).await.unwrap();
            assert_eq!(code(&r), expected, "{what}");
        }
        let r = post(
            vec![
                (V, "2026-07-28"),
                (M, "tools/call"),
                ("Mcp-Name", "echo"),
                ("Mcp-Param-Text", "hi"),
            ],
            call,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["content"][0]["text"], "hi");
    }
}
