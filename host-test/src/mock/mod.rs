//! Mock servers for tests and the demo: an MCP server (Streamable HTTP,
//! protected by OAuth) and its authorization server, both on 127.0.0.1 with
//! ephemeral ports. A [`Behaviour`] switches on misbehaviours; the default is
//! a correct, well-behaved world.
//!
//! Every request either server receives is recorded in a log that tests can
//! inspect ([`MockWorld::log`]). That log holds request bodies verbatim —
//! codes, verifiers and tokens included — and is the only place the mocks
//! keep them.

mod auth;
mod resource;
mod util;

#[cfg(test)]
mod tests;

pub use util::{form_decode, form_encode, s256};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body the mocks read.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// Which mock server received a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The MCP server (resource server).
    Mcp,
    /// The authorization server.
    AuthorizationServer,
}

/// One request a mock server received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// The server that received it.
    pub server: Server,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (lossily decoded as UTF-8).
    pub body: String,
}

impl LoggedRequest {
    /// The first value of a header (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query parameters, in order.
    pub fn query_params(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(form_decode).unwrap_or_default()
    }

    /// The decoded form-body parameters, in order.
    pub fn form_params(&self) -> Vec<(String, String)> {
        form_decode(&self.body)
    }
}

/// How the authorization server treats the `iss` parameter of the
/// authorization response (RFC 9207).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IssMode {
    /// Send `iss` equal to the issuer.
    #[default]
    Correct,
    /// Leave `iss` out.
    Omit,
    /// Send this value as `iss`.
    Wrong(String),
}

/// Switches for the mocks' behaviour. [`Behaviour::default`] is a correct,
/// well-behaved world.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Overrides the `resource` in the protected resource metadata
    /// (default: exactly the MCP URL).
    pub prm_resource: Option<String>,
    /// Overrides the `issuer` in the authorization server metadata.
    pub metadata_issuer: Option<String>,
    /// Leaves `code_challenge_methods_supported` out of the AS metadata.
    pub omit_pkce_methods: bool,
    /// `/authorize` redirects with this `state` instead of the request's.
    pub callback_state: Option<String>,
    /// How `/authorize` sends `iss` in the redirect.
    pub callback_iss: IssMode,
    /// Advertise `authorization_response_iss_parameter_supported: true`
    /// (default true; false leaves the member out).
    pub advertise_iss: bool,
    /// `/authorize` first sends the user agent through `/login`, which sets a
    /// `mock_session` cookie (default false).
    pub require_login: bool,
    /// The 401 challenge carries `resource_metadata` (default true).
    pub resource_metadata_in_challenge: bool,
    /// Adds `scope="…"` to the 401 challenge.
    pub challenge_scope: Option<String>,
    /// `scopes_supported` in the protected resource metadata (and the AS
    /// metadata).
    pub scopes_supported: Option<Vec<String>>,
    /// `expires_in` of access tokens, in seconds (default 3600; 0 issues
    /// tokens that are already expired).
    pub token_lifetime_secs: u64,
    /// The AS metadata answers this status instead.
    pub metadata_status: Option<u16>,
    /// The AS metadata answers 302 to `<issuer>/metadata-moved`, which
    /// serves the metadata.
    pub metadata_redirect: bool,
    /// The AS metadata is valid-looking JSON of 2 MiB (a huge padding member).
    pub metadata_huge: bool,
    /// Dynamic client registration is offered (default true); false removes
    /// `registration_endpoint` and `/register` answers 404.
    pub registration_enabled: bool,
    /// The MCP server answers JSON-RPC requests as `text/event-stream`.
    pub sse_responses: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            prm_resource: None,
            metadata_issuer: None,
            omit_pkce_methods: false,
            callback_state: None,
            callback_iss: IssMode::Correct,
            advertise_iss: true,
            require_login: false,
            resource_metadata_in_challenge: true,
            challenge_scope: None,
            scopes_supported: None,
            token_lifetime_secs: 3600,
            metadata_status: None,
            metadata_redirect: false,
            metadata_huge: false,
            registration_enabled: true,
            sse_responses: false,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: String,
    pub(crate) secret: Option<String>,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) resource: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) issued: Instant,
    pub(crate) used: bool,
    /// The token family issued from this code, once redeemed.
    pub(crate) family: Option<u64>,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) resource: Option<String>,
    pub(crate) expires: SystemTime,
    pub(crate) revoked: bool,
    pub(crate) family: u64,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub(crate) client_id: String,
    pub(crate) resource: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) family: u64,
    /// False once rotated or revoked.
    pub(crate) active: bool,
}

/// Everything both servers share.
pub(crate) struct State {
    pub(crate) behaviour: Behaviour,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) mcp_url: String,
    pub(crate) mcp_origin: String,
    pub(crate) issuer: String,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) codes: HashMap<String, Grant>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
    pub(crate) sessions: HashSet<String>,
    pub(crate) logins: HashSet<String>,
    pub(crate) next_family: u64,
}

impl State {
    /// Revokes every token of a family.
    pub(crate) fn revoke_family(&mut self, family: u64) {
        for t in self
            .access_tokens
            .values_mut()
            .filter(|t| t.family == family)
        {
            t.revoked = true;
        }
        for t in self
            .refresh_tokens
            .values_mut()
            .filter(|t| t.family == family)
        {
            t.active = false;
        }
    }
}

/// A request as the handlers see it, body already read.
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Req {
    /// The first value of a header (`name` lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header joined with ", " (`name` lowercase).
    pub(crate) fn header_joined(&self, name: &str) -> String {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The running mock servers. Dropping it stops them.
pub struct MockWorld {
    state: Arc<Mutex<State>>,
    mcp_port: u16,
    as_port: u16,
    tasks: Vec<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockWorld {
    /// Binds the MCP server and the authorization server on 127.0.0.1
    /// (ephemeral ports) and serves them on the current tokio runtime.
    pub async fn start(behaviour: Behaviour) -> anyhow::Result<MockWorld> {
        let mcp_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let as_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let mcp_port = mcp_listener.local_addr()?.port();
        let as_port = as_listener.local_addr()?.port();
        let mcp_origin = format!("http://127.0.0.1:{mcp_port}");
        let state = Arc::new(Mutex::new(State {
            behaviour,
            log: Vec::new(),
            mcp_url: format!("{mcp_origin}/mcp"),
            mcp_origin,
            issuer: format!("http://127.0.0.1:{as_port}"),
            clients: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            sessions: HashSet::new(),
            logins: HashSet::new(),
            next_family: 1,
        }));
        let tasks = vec![
            tokio::spawn(serve(mcp_listener, Server::Mcp, state.clone())),
            tokio::spawn(serve(
                as_listener,
                Server::AuthorizationServer,
                state.clone(),
            )),
        ];
        Ok(MockWorld {
            state,
            mcp_port,
            as_port,
            tasks,
        })
    }

    /// The MCP endpoint, `http://127.0.0.1:P1/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.mcp_port)
    }

    /// The authorization server's issuer, `http://127.0.0.1:P2` (no
    /// trailing slash).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.as_port)
    }

    /// Every request both servers received, in order.
    pub fn log(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
        lock(&self.state).log.clear();
    }

    /// How many logged requests `server` received with this method and path
    /// (path without query, compared exactly).
    pub fn count(&self, server: Server, method: &str, path: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.server == server && r.method == method && r.path == path)
            .count()
    }

    /// Changes the behaviour of the running servers.
    pub fn set_behaviour(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.state).behaviour);
    }

    /// Revokes every access token issued so far: they stop working at the
    /// MCP server (refresh tokens stay valid).
    pub fn revoke_all_tokens(&self) {
        for t in lock(&self.state).access_tokens.values_mut() {
            t.revoked = true;
        }
    }
}

impl Drop for MockWorld {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts connections until aborted; aborting drops the connection set,
/// which aborts every connection too.
async fn serve(listener: TcpListener, server: Server, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(server, &state, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    server: Server,
    state: &Mutex<State>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let (body, too_large) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => (collected.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let mut st = lock(state);
    st.log.push(LoggedRequest {
        server,
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: String::from_utf8_lossy(&req.body).into_owned(),
    });
    if too_large {
        return util::text_reply(413, "request body too large");
    }
    match server {
        Server::Mcp => resource::handle(&mut st, &req),
        Server::AuthorizationServer => auth::handle(&mut st, &req),
    }
}

/// Test support: registers a public client at the mock authorization server
/// and returns an authorization URL for it with the given PKCE verifier and
/// `state`.
#[cfg(test)]
pub(crate) async fn test_authorization_url(
    world: &MockWorld,
    redirect_uri: &str,
    verifier: &str,
    state: &str,
) -> String {
    let issuer = world.issuer();
    let response = crate::agent::http_request(crate::mcp::OutgoingRequest {
        method: "POST".into(),
        url: format!("{issuer}/register"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "client_name": "mock test",
        }))
        .unwrap(),
    })
    .await
    .unwrap();
    assert_eq!(response.status, 201);
    let client: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    format!(
        "{issuer}/authorize?{}",
        form_encode(&[
            ("response_type", "code"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("redirect_uri", redirect_uri),
            ("code_challenge", &s256(verifier)),
            ("code_challenge_method", "S256"),
            ("state", state),
            ("resource", &world.mcp_url()),
        ])
    )
}
