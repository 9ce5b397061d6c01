//! User agents: who visits the authorization URL.
//!
//! - [`follow_headless`] follows the redirects itself, for servers that
//!   consent without a person (the mocks, oidc-provider's dev interactions).
//! - [`LoopbackListener`] waits on 127.0.0.1 for the browser a person used.
//!
//! Also a plain HTTP(S) client, [`http_request`], used by them and by tests.

use crate::mcp::{IncomingResponse, OutgoingRequest};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long one request may take, connection to last body byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most requests [`follow_headless`] makes.
pub const MAX_HOPS: usize = 20;

/// Largest response body [`http_request`] reads.
const MAX_RESPONSE_BODY: usize = 16 << 20;

/// How much of a page goes into an error message.
const EXCERPT_CHARS: usize = 160;

const USER_AGENT: &str = concat!("mcp-oauth-host/", env!("CARGO_PKG_VERSION"));

// ---------------------------------------------------------------------------
// URLs

/// The parts of a URI reference this module needs (RFC 3986 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Uri {
    /// Lowercased; empty for a relative reference.
    scheme: String,
    /// `host[:port]` as written (host lowercased), if there is one.
    authority: Option<String>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

impl Uri {
    /// Splits a URI or a relative reference.
    fn parse(text: &str) -> Uri {
        let (rest, fragment) = match text.split_once('#') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (text, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_string())),
            None => (rest, None),
        };
        let mut scheme = String::new();
        let mut rest = rest;
        if let Some(colon) = rest.find(':') {
            let candidate = &rest[..colon];
            let valid = candidate
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && candidate
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid {
                scheme = candidate.to_ascii_lowercase();
                rest = &rest[colon + 1..];
            }
        }
        let (authority, path) = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let authority = &after[..end];
                // Drop any userinfo; lowercase the host.
                let authority = authority.rsplit('@').next().unwrap_or("");
                (
                    Some(authority.to_ascii_lowercase()),
                    after[end..].to_string(),
                )
            }
            None => (None, rest.to_string()),
        };
        Uri {
            scheme,
            authority,
            path,
            query,
            fragment,
        }
    }

    /// Host (brackets kept for IPv6) and explicit port.
    fn host_port(&self) -> Option<(String, Option<u16>)> {
        let authority = self.authority.as_deref()?;
        let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']'))
        {
            let host = &authority[..end + 2];
            let port = authority[end + 2..].strip_prefix(':');
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(p.parse().ok()?),
        };
        Some((host.to_string(), port))
    }

    /// The port, defaulted from the scheme.
    fn effective_port(&self) -> Option<u16> {
        let (_, port) = self.host_port()?;
        port.or(match self.scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })
    }

    fn is_http(&self) -> bool {
        (self.scheme == "http" || self.scheme == "https") && self.host_port().is_some()
    }

    /// The request target: path (at least "/") and query.
    fn target(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }

    /// Same scheme, host, port and path.
    fn same_endpoint(&self, other: &Uri) -> bool {
        let host = |u: &Uri| u.host_port().map(|(h, _)| h);
        self.scheme == other.scheme
            && host(self) == host(other)
            && self.effective_port() == other.effective_port()
            && self.normalized_path() == other.normalized_path()
    }

    fn normalized_path(&self) -> &str {
        if self.path.is_empty() && self.authority.is_some() {
            "/"
        } else {
            &self.path
        }
    }

    /// Resolves a reference against this (absolute) URI (RFC 3986 §5.2).
    fn resolve(&self, reference: &str) -> Uri {
        let r = Uri::parse(reference);
        if !r.scheme.is_empty() {
            return Uri {
                path: remove_dot_segments(&r.path),
                ..r
            };
        }
        let mut t = Uri {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path: String::new(),
            query: r.query.clone(),
            fragment: r.fragment.clone(),
        };
        if r.authority.is_some() {
            t.authority = r.authority;
            t.path = remove_dot_segments(&r.path);
        } else if r.path.is_empty() {
            t.path = self.path.clone();
            if r.query.is_none() {
                t.query = self.query.clone();
            }
        } else if r.path.starts_with('/') {
            t.path = remove_dot_segments(&r.path);
        } else {
            let merged = if self.authority.is_some() && self.path.is_empty() {
                format!("/{}", r.path)
            } else {
                match self.path.rfind('/') {
                    Some(i) => format!("{}{}", &self.path[..=i], r.path),
                    None => r.path.clone(),
                }
            };
            t.path = remove_dot_segments(&merged);
        }
        t
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.scheme.is_empty() {
            write!(f, "{}:", self.scheme)?;
        }
        if let Some(a) = &self.authority {
            write!(f, "//{a}")?;
        }
        f.write_str(&self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        if let Some(fr) = &self.fragment {
            write!(f, "#{fr}")?;
        }
        Ok(())
    }
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------
// HTTP client

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Sends one request directly over HTTP/1.1 (http or https, certificates
/// checked against the webpki roots) and reads the whole response: no
/// redirects followed, nothing added but `Host`, `User-Agent` and
/// `Content-Length`. Fails after [`REQUEST_TIMEOUT`] or on bodies over 16 MiB.
pub async fn http_request(req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
    http_request_within(req, REQUEST_TIMEOUT).await
}

/// [`http_request`] with another timeout.
async fn http_request_within(
    req: OutgoingRequest,
    timeout: Duration,
) -> anyhow::Result<IncomingResponse> {
    let uri = Uri::parse(&req.url);
    if !uri.is_http() {
        bail!("{} is not an http(s) URL", req.url);
    }
    let method = req.method.clone();
    let url = req.url.clone();
    tokio::time::timeout(timeout, send(uri, req))
        .await
        .map_err(|_| anyhow!("{method} {url} timed out after {} s", timeout.as_secs_f64()))?
}

async fn send(uri: Uri, req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
    let (host, _) = uri
        .host_port()
        .ok_or_else(|| anyhow!("{} has no host", req.url))?;
    let port = uri.effective_port().unwrap_or(80);
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let stream = TcpStream::connect((connect_host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let _ = stream.set_nodelay(true);
    let authority = uri.authority.clone().unwrap_or_default();
    if uri.scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(connect_host.clone())
            .with_context(|| format!("{host} is not a valid TLS server name"))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port}"))?;
        exchange(tls, &authority, &uri.target(), req).await
    } else {
        exchange(stream, &authority, &uri.target(), req).await
    }
}

async fn exchange<S>(
    io: S,
    authority: &str,
    target: &str,
    req: OutgoingRequest,
) -> anyhow::Result<IncomingResponse>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake")?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(target);
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        builder = builder.header(http::header::HOST, authority);
    }
    if !has("user-agent") {
        builder = builder.header(http::header::USER_AGENT, USER_AGENT);
    }
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body)))
        .context("building the request")?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the response body: {e}"))?
            .to_bytes();
        Ok(IncomingResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        })
    }
    .await;
    driver.abort();
    result
}

// ---------------------------------------------------------------------------
// Headless redirect following

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// Cookies per host (ports share cookies, as in browsers).
#[derive(Debug, Default)]
struct CookieJar {
    hosts: HashMap<String, Vec<Cookie>>,
}

impl CookieJar {
    fn store(&mut self, uri: &Uri, headers: &[(String, String)]) {
        let Some((host, _)) = uri.host_port() else {
            return;
        };
        let jar = self.hosts.entry(host).or_default();
        for (_, line) in headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            if name.is_empty() {
                continue;
            }
            let mut path = "/".to_string();
            let mut delete = false;
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "path" if v.trim().starts_with('/') => path = v.trim().to_string(),
                    "max-age" => delete = v.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                    _ => {}
                }
            }
            jar.retain(|c| !(c.name == name && c.path == path));
            if !delete {
                jar.push(Cookie { name, value, path });
            }
        }
    }

    /// The `Cookie` header for a request, if any cookie applies.
    fn header_for(&self, uri: &Uri) -> Option<String> {
        let (host, _) = uri.host_port()?;
        let path = uri.normalized_path();
        let pairs: Vec<String> = self
            .hosts
            .get(&host)?
            .iter()
            .filter(|c| path.starts_with(c.path.trim_end_matches('/')) || c.path == "/")
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// A short, single-line excerpt of a page.
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

/// Query parameters whose values never appear in messages.
const SECRET_PARAMS: [&str; 6] = [
    "code",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code_verifier",
];

/// A URL for messages: the values of secret-bearing query parameters (an
/// authorization code that went astray, say) replaced by `…`.
fn shown(uri: &Uri) -> String {
    let Some(query) = &uri.query else {
        return uri.to_string();
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name) => format!("{name}=…"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    Uri {
        query: Some(query),
        fragment: None,
        ..uri.clone()
    }
    .to_string()
}

/// Completes an authorization URL without a browser: GETs it with redirects
/// off, keeps cookies (per host, honouring Path loosely), follows each
/// Location (relative ones resolved against the current URL) until a
/// Location starts with `redirect_uri` (compare scheme, host, port and path
/// exactly; query may differ), and returns that full callback URL. At most
/// 20 hops; a 200 page (needs a human), 4xx/5xx, a loop, or a non-http(s)
/// Location → clear error naming the URL and status. Never sends an
/// Authorization header. Works for http and https (tokio-rustls +
/// webpki-roots roots; http allowed for any host here since the user chose
/// the server). Per-request timeout 30 s.
pub async fn follow_headless(
    authorization_url: &str,
    redirect_uri: &str,
) -> anyhow::Result<String> {
    let target = Uri::parse(redirect_uri);
    if target.scheme.is_empty() {
        bail!("the redirect URI {redirect_uri} is not absolute");
    }
    let mut jar = CookieJar::default();
    let mut current = Uri::parse(authorization_url);
    let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
    for _ in 0..MAX_HOPS {
        if !current.is_http() {
            bail!(
                "{} is not an http(s) URL; a headless agent cannot visit it",
                shown(&current)
            );
        }
        let page = Uri {
            fragment: None,
            ..current.clone()
        };
        let shown_page = shown(&page);
        let cookie = jar.header_for(&page);
        if !seen.insert((page.to_string(), cookie.clone())) {
            bail!("redirect loop: {shown_page} was reached twice with the same cookies");
        }
        let mut headers = vec![(
            "Accept".to_string(),
            "text/html,application/xhtml+xml,*/*;q=0.8".to_string(),
        )];
        if let Some(c) = cookie {
            headers.push(("Cookie".to_string(), c));
        }
        let response = http_request(OutgoingRequest {
            method: "GET".to_string(),
            url: page.to_string(),
            headers,
            body: Vec::new(),
        })
        .await
        .with_context(|| format!("GET {shown_page}"))?;
        jar.store(&page, &response.headers);
        let status = response.status;
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .header("location")
                    .ok_or_else(|| anyhow!("{shown_page} answered {status} without a Location header"))?;
                let next = page.resolve(location.trim());
                if next.same_endpoint(&target) {
                    return Ok(next.to_string());
                }
                if next.scheme != "http" && next.scheme != "https" {
                    bail!(
                        "{shown_page} answered {status} with a redirect to a {}: URL, which is neither \
                         the redirect URI nor http(s)",
                        if next.scheme.is_empty() {
                            "scheme-less"
                        } else {
                            &next.scheme
                        }
                    );
                }
                current = next;
            }
            200..=299 => bail!(
                "{shown_page} answered {status} with a page instead of a redirect: it needs a person \
                 (use a browser instead of headless mode)"
            ),
            _ => {
                let body = excerpt(&response.body);
                if body.is_empty() {
                    bail!("{shown_page} answered {status}");
                }
                bail!("{shown_page} answered {status}: {body}");
            }
        }
    }
    bail!(
        "more than {MAX_HOPS} redirects starting at {}",
        shown(&Uri::parse(authorization_url))
    )
}

// ---------------------------------------------------------------------------
// Loopback redirect listener

const DONE_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Authorization complete</title></head><body>\
<h1>Authorization complete</h1><p>You can close this window.</p></body></html>\n";

/// A loopback port held for a redirect URI from the moment the URI is
/// configured until the process ends (security review finding 8: the port
/// used to be found by binding and releasing it, so another local process
/// could take it before the flow). Between flows the socket is bound but not
/// listening: the port is ours, and a connection to it is refused, so the
/// listener is open only while a flow waits for its redirect (checklist 73).
#[derive(Clone)]
pub struct LoopbackPort {
    port: u16,
    held: Arc<Mutex<Option<TcpSocket>>>,
}

impl std::fmt::Debug for LoopbackPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackPort")
            .field("port", &self.port)
            .finish()
    }
}

impl LoopbackPort {
    /// Binds 127.0.0.1:`port` (0 = a free one) without listening, so that no
    /// other socket can bind the port while it is held.
    pub fn reserve(port: u16) -> anyhow::Result<LoopbackPort> {
        let socket = hold(port)?;
        let port = socket.local_addr()?.port();
        Ok(LoopbackPort {
            port,
            held: Arc::new(Mutex::new(Some(socket))),
        })
    }

    /// The port held.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening on the held port for redirects to `path` (e.g.
    /// "/callback"). A port whose hold was spent by an earlier flow is bound
    /// again; if another process has taken it meanwhile, that is an error
    /// that names the port.
    pub fn listen(&self, path: &str) -> anyhow::Result<LoopbackListener> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            bail!("the callback path {path:?} must start with / and have no query or fragment");
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        let socket = match held {
            Some(socket) => socket,
            None => hold(self.port)?,
        };
        // Listening, the port is exclusive whatever the flag; the flag is
        // what lets the next hold bind it while the connections this
        // listener closed are in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        let listener = socket.listen(8).with_context(|| {
            format!(
                "listening on 127.0.0.1:{} for the authorization redirect",
                self.port
            )
        })?;
        Ok(LoopbackListener {
            listener,
            port: self.port,
            path: path.to_string(),
        })
    }

    /// Holds the port again after a flow (bound, not listening), so that a
    /// second flow in the same process finds it. Best effort: if it cannot
    /// be bound now, [`Self::listen`] tries again and reports why.
    pub fn hold_again(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            *held = hold(self.port).ok();
        }
    }
}

/// A TCP socket bound to 127.0.0.1:`port` and not listening, which no other
/// socket can bind. It binds with `SO_REUSEADDR` (an earlier run's closed
/// callback connections may still be in TIME_WAIT on a registered port) and
/// clears the flag once bound: Linux refuses any other bind, with or without
/// the flag, to a port held by a socket without it.
fn hold(port: u16) -> anyhow::Result<TcpSocket> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let socket = TcpSocket::new_v4().context("creating a loopback socket")?;
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr} for the authorization redirect"))?;
    socket.set_reuseaddr(false)?;
    Ok(socket)
}

/// A loopback redirect listener for interactive use: bound to 127.0.0.1 only.
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
    path: String,
}

impl LoopbackListener {
    /// Binds 127.0.0.1:`port` (0 = ephemeral) and listens for redirects to
    /// `path` (e.g. "/callback").
    pub async fn bind(port: u16, path: &str) -> anyhow::Result<LoopbackListener> {
        LoopbackPort::reserve(port)?.listen(path)
    }

    /// The redirect URI to register and send: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits for the GET to the callback path whose `state` is `state` (the
    /// pending authorization's), answers it with a small static HTML page
    /// ("Authorization complete, you can close this window" — no scripts, no
    /// echo of query values), and returns the full callback URL
    /// (http://127.0.0.1:PORT/callback?...). Any other request — another
    /// path, or a callback with another or no `state`, which any local
    /// process could send first (security review finding 8) — gets an error
    /// page and is ignored. Gives up after `timeout` with an error that says
    /// so.
    pub async fn wait(self, timeout: Duration, state: &str) -> anyhow::Result<String> {
        let redirect_uri = self.redirect_uri();
        let origin = format!("http://127.0.0.1:{}", self.port);
        let (tx, mut rx) = mpsc::channel::<String>(1);
        let mut connections = JoinSet::new();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                Some(url) = rx.recv() => return Ok(url),
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let tx = tx.clone();
                    let path = self.path.clone();
                    let origin = origin.clone();
                    let state = state.to_string();
                    connections.spawn(serve_callback(stream, path, origin, state, tx));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut deadline => bail!(
                    "no authorization redirect reached {redirect_uri} within {} s; giving up",
                    timeout.as_secs_f64()
                ),
            }
        }
    }
}

/// Serves one connection (no keep-alive); once the response to a callback
/// has been written, hands the callback URL over.
async fn serve_callback(
    stream: TcpStream,
    path: String,
    origin: String,
    state: String,
    tx: mpsc::Sender<String>,
) {
    let captured: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let slot = captured.clone();
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let slot = slot.clone();
        let path = path.clone();
        let origin = origin.clone();
        let state = state.clone();
        async move {
            let is_callback = req.uri().path() == path;
            let ours = req.uri().query().is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .any(|(n, v)| n == "state" && v == state.as_str())
            });
            let response = if is_callback && req.method() == hyper::Method::GET && !ours {
                page(
                    400,
                    "text/plain; charset=utf-8",
                    "not the authorization response this client waits for\n",
                )
            } else if is_callback && req.method() == hyper::Method::GET {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|pq| pq.as_str().to_string())
                    .unwrap_or_else(|| path.clone());
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(format!("{origin}{target}"));
                }
                page(200, "text/html; charset=utf-8", DONE_PAGE)
            } else if is_callback {
                page(405, "text/plain; charset=utf-8", "method not allowed\n")
            } else {
                page(404, "text/plain; charset=utf-8", "not found\n")
            };
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    let url = captured.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(url) = url {
        let _ = tx.send(url).await;
    }
}

fn page(status: u16, content_type: &str, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(content_type)
            .unwrap_or(http::HeaderValue::from_static("text/plain")),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        http::header::REFERRER_POLICY,
        http::HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Behaviour, MockWorld, Server};

    #[test]
    fn uris_parse_and_resolve() {
        let base = Uri::parse("http://a.example:8080/b/c/d;p?q");
        assert_eq!(base.scheme, "http");
        assert_eq!(base.effective_port(), Some(8080));
        let cases = [
            ("g", "http://a.example:8080/b/c/g"),
            ("./g", "http://a.example:8080/b/c/g"),
            ("g/", "http://a.example:8080/b/c/g/"),
            ("/g", "http://a.example:8080/g"),
            ("//g", "http://g"),
            ("?y", "http://a.example:8080/b/c/d;p?y"),
            ("g?y", "http://a.example:8080/b/c/g?y"),
            ("#s", "http://a.example:8080/b/c/d;p?q#s"),
            ("..", "http://a.example:8080/b/"),
            ("../g", "http://a.example:8080/b/g"),
            ("../../../g", "http://a.example:8080/g"),
            ("HTTPS://Other.Example/x", "https://other.example/x"),
        ];
        for (reference, expected) in cases {
            assert_eq!(base.resolve(reference).to_string(), expected, "{reference}");
        }
        let v6 = Uri::parse("http://[::1]:9/x");
        assert_eq!(v6.host_port(), Some(("[::1]".to_string(), Some(9))));
        assert!(Uri::parse("http://h/cb?x=1").same_endpoint(&Uri::parse("HTTP://H:80/cb")));
        assert!(!Uri::parse("http://h/cb2").same_endpoint(&Uri::parse("http://h/cb")));
        assert!(!Uri::parse("http://h:81/cb").same_endpoint(&Uri::parse("http://h/cb")));
        assert!(!Uri::parse("https://h/cb").same_endpoint(&Uri::parse("http://h/cb")));
    }

    #[test]
    fn cookie_jar_keeps_cookies_per_host_and_path() {
        let mut jar = CookieJar::default();
        let page = Uri::parse("http://h:1/login");
        jar.store(
            &page,
            &[
                ("set-cookie".into(), "a=1; Path=/; HttpOnly".into()),
                ("Set-Cookie".into(), "b=2; Path=/interaction".into()),
                ("set-cookie".into(), "c=3".into()),
            ],
        );
        assert_eq!(
            jar.header_for(&Uri::parse("http://h:2/authorize"))
                .as_deref(),
            Some("a=1; c=3")
        );
        assert_eq!(
            jar.header_for(&Uri::parse("http://h/interaction/x"))
                .as_deref(),
            Some("a=1; b=2; c=3")
        );
        assert_eq!(jar.header_for(&Uri::parse("http://other/")), None);
        jar.store(
            &page,
            &[("set-cookie".into(), "a=; Path=/; Max-Age=0".into())],
        );
        assert_eq!(
            jar.header_for(&Uri::parse("http://h/")).as_deref(),
            Some("c=3")
        );
    }

    /// Registers a public client and builds an authorization URL.
    async fn authorization_url(world: &MockWorld, redirect_uri: &str) -> String {
        crate::mock::test_authorization_url(world, redirect_uri, &"x".repeat(43), "s t").await
    }

    #[tokio::test]
    async fn follows_the_mock_authorization_server() {
        let world = MockWorld::start(Behaviour::default()).await.unwrap();
        let redirect_uri = "http://127.0.0.1:1/callback";
        let url = authorization_url(&world, redirect_uri).await;
        let callback = follow_headless(&url, redirect_uri).await.unwrap();
        assert!(
            callback.starts_with("http://127.0.0.1:1/callback?code="),
            "{callback}"
        );
        assert!(callback.contains("&state=s%20t&iss="), "{callback}");
        assert_eq!(
            world.count(Server::AuthorizationServer, "GET", "/authorize"),
            1
        );
        let authorize = world
            .log()
            .into_iter()
            .find(|r| r.path == "/authorize")
            .unwrap();
        assert_eq!(authorize.header("authorization"), None);
    }

    #[tokio::test]
    async fn keeps_cookies_through_a_login() {
        let world = MockWorld::start(Behaviour {
            require_login: true,
            ..Behaviour::default()
        })
        .await
        .unwrap();
        let redirect_uri = "http://127.0.0.1:1/callback";
        let url = authorization_url(&world, redirect_uri).await;
        let callback = follow_headless(&url, redirect_uri).await.unwrap();
        assert!(callback.contains("code=mock-code-"), "{callback}");
        assert_eq!(
            world.count(Server::AuthorizationServer, "GET", "/authorize"),
            2
        );
        assert_eq!(world.count(Server::AuthorizationServer, "GET", "/login"), 1);
        let last = world
            .log()
            .into_iter()
            .rfind(|r| r.path == "/authorize")
            .unwrap();
        assert!(last.header("cookie").unwrap().starts_with("mock_session="));
    }

    /// A tiny server: each path answers with a fixed status and Location.
    async fn scripted(routes: Vec<(&'static str, u16, Option<&'static str>)>) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let routes = routes.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let route = routes
                            .iter()
                            .find(|(p, _, _)| *p == req.uri().path())
                            .cloned();
                        async move {
                            let (_, status, location) = route.unwrap_or(("", 404, None));
                            let mut resp = page(status, "text/html", "<p>Sign in</p>");
                            if let Some(l) = location {
                                resp.headers_mut().insert(
                                    http::header::LOCATION,
                                    http::HeaderValue::from_static(l),
                                );
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        origin
    }

    #[tokio::test]
    async fn reports_pages_loops_errors_and_bad_schemes() {
        let origin = scripted(vec![
            ("/page", 200, None),
            ("/a", 302, Some("b")),
            ("/b", 303, Some("/a")),
            ("/gone", 302, Some("/missing")),
            ("/js", 302, Some("javascript:alert(1)")),
            ("/nolocation", 302, None),
            ("/ok", 307, Some("http://localhost:7/cb?code=1#frag")),
            ("/astray", 302, Some("/elsewhere?state=s&code=secret-code")),
        ])
        .await;
        let cb = "http://localhost:7/cb";
        let err = |r: anyhow::Result<String>| format!("{:#}", r.unwrap_err());

        let e = err(follow_headless(&format!("{origin}/page"), cb).await);
        assert!(
            e.contains("/page answered 200") && e.contains("needs a person"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/a"), cb).await);
        assert!(e.contains("redirect loop") && e.contains("/a"), "{e}");
        let e = err(follow_headless(&format!("{origin}/gone"), cb).await);
        assert!(
            e.contains("/missing answered 404") && e.contains("Sign in"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/js"), cb).await);
        assert!(
            e.contains("javascript:") && e.contains("/js answered 302"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/nolocation"), cb).await);
        assert!(e.contains("without a Location"), "{e}");
        let e = err(follow_headless("ftp://x/", cb).await);
        assert!(e.contains("not an http(s) URL"), "{e}");
        let e = err(follow_headless(&format!("{origin}/astray"), cb).await);
        assert!(e.contains("/elsewhere?state=s&code=… answered 404"), "{e}");
        assert!(!e.contains("secret-code"), "{e}");
        let ok = follow_headless(&format!("{origin}/ok"), cb).await.unwrap();
        assert_eq!(ok, "http://localhost:7/cb?code=1#frag");
    }

    #[tokio::test]
    async fn stops_after_twenty_hops() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service =
                        service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                            let n: u32 = req.uri().path()[1..].parse().unwrap_or(0);
                            let mut resp = page(302, "text/plain", "");
                            resp.headers_mut().insert(
                                http::header::LOCATION,
                                http::HeaderValue::from_str(&format!("/{}", n + 1)).unwrap(),
                            );
                            Ok::<_, Infallible>(resp)
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let e = follow_headless(&format!("{origin}/0"), "http://127.0.0.1:1/cb")
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("more than 20 redirects"), "{e:#}");
    }

    #[tokio::test]
    async fn loopback_listener_receives_the_callback() {
        let listener = LoopbackListener::bind(0, "/callback").await.unwrap();
        let redirect_uri = listener.redirect_uri();
        assert!(redirect_uri.starts_with("http://127.0.0.1:"));
        assert!(redirect_uri.ends_with("/callback"));
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10), "x<b>"));
        let origin = redirect_uri.trim_end_matches("/callback").to_string();
        let get = |url: String| async move {
            http_request(OutgoingRequest {
                method: "GET".into(),
                url,
                headers: vec![],
                body: vec![],
            })
            .await
            .unwrap()
        };
        let other = get(format!("{origin}/favicon.ico")).await;
        assert_eq!(other.status, 404);
        // Security review finding 8: another local process that gets there
        // first with its own code (or none) is not taken for the redirect.
        for forged in ["?code=evil", "?code=evil&state=other", "?code=evil&state=x"] {
            let r = get(format!("{redirect_uri}{forged}")).await;
            assert_eq!(r.status, 400, "{forged}");
        }
        let done = get(format!("{redirect_uri}?code=c%20d&state=x%3Cb%3E")).await;
        assert_eq!(done.status, 200);
        let html = String::from_utf8(done.body.clone()).unwrap();
        assert!(html.contains("Authorization complete"));
        assert!(!html.contains("<script") && !html.contains("c%20d") && !html.contains("x%3C"));
        assert_eq!(
            done.header("content-security-policy"),
            Some("default-src 'none'")
        );
        let url = waiter.await.unwrap().unwrap();
        assert_eq!(url, format!("{redirect_uri}?code=c%20d&state=x%3Cb%3E"));
    }

    #[tokio::test]
    async fn a_held_port_is_ours_between_flows_and_open_only_during_them() {
        // Security review finding 8: the port was found by binding and
        // releasing it, so another local process could take it before the
        // flow. Checklist 73: open only while a flow waits.
        let port = LoopbackPort::reserve(0).unwrap();
        let number = port.port();
        let taken = || std::net::TcpListener::bind(("127.0.0.1", number)).is_err();
        let refused = || std::net::TcpStream::connect(("127.0.0.1", number)).is_err();
        assert!(taken() && refused(), "held before the first flow");
        for round in 0..2 {
            let listener = port.listen("/callback").unwrap();
            let uri = listener.redirect_uri();
            assert_eq!(uri, format!("http://127.0.0.1:{number}/callback"));
            let waiter = tokio::spawn(listener.wait(Duration::from_secs(10), "s"));
            let done = http_request(OutgoingRequest {
                method: "GET".into(),
                url: format!("{uri}?code=c&state=s"),
                headers: vec![],
                body: vec![],
            })
            .await
            .unwrap();
            assert_eq!(done.status, 200, "round {round}");
            assert!(waiter.await.unwrap().is_ok());
            // The closed callback connection is in TIME_WAIT now: holding
            // the port again must still work.
            port.hold_again();
            assert!(taken() && refused(), "held after flow {round}");
        }
        // Another process's socket on a registered port: reserving it fails
        // and says which port.
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = squatter.local_addr().unwrap().port();
        let e = format!("{:#}", LoopbackPort::reserve(busy).unwrap_err());
        assert!(e.contains(&format!("127.0.0.1:{busy}")), "{e}");
    }

    #[tokio::test]
    async fn https_is_verified_and_slow_servers_time_out() {
        // A plain-HTTP server spoken to over TLS: the handshake fails.
        let world = MockWorld::start(Behaviour::default()).await.unwrap();
        let https = world.issuer().replace("http://", "https://");
        let get = |url: String| OutgoingRequest {
            method: "GET".into(),
            url,
            headers: vec![],
            body: vec![],
        };
        let e = http_request(get(format!("{https}/x"))).await.unwrap_err();
        assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");
        let e = follow_headless(&format!("{https}/authorize"), "http://127.0.0.1:1/cb")
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");

        // A server that accepts and never answers.
        let silent = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let e = http_request_within(get(url.clone()), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("timed out after 0.2 s"), "{e:#}");
        keep.abort();
    }

    #[tokio::test]
    async fn loopback_listener_times_out() {
        let listener = LoopbackListener::bind(0, "/cb").await.unwrap();
        let uri = listener.redirect_uri();
        let e = listener
            .wait(Duration::from_millis(100), "s")
            .await
            .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("within 0.1 s") && e.contains(&uri), "{e}");
        assert!(LoopbackListener::bind(0, "cb").await.is_err());
    }
}
