//! A plain HTTP/1.1 client (http and https, certificates checked against
//! the webpki roots) for what a host does beside the component: user agents
//! visiting authorization pages, an MCP client's own requests, tests.
//! Nothing is added but `Host`, `User-Agent` and `Content-Length`; no
//! redirect is followed.

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

/// How long one request may take, connection to last body byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body [`http_request`] reads.
const MAX_RESPONSE_BODY: usize = 16 << 20;

const USER_AGENT: &str = concat!("mcp-oauth-host/", env!("CARGO_PKG_VERSION"));

/// An HTTP request to send.
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
        find_header(&self.headers, name)
    }
}

/// The first value of header `name` in `headers`, matching the name
/// case-insensitively.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The header fields of a message as (name, value) strings, in order;
/// names are lowercase (as `http` keeps them), bytes that are not UTF-8 in
/// a value are replaced.
pub fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    let lossy = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), lossy(v)))
        .collect()
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
pub async fn http_request_within(
    req: OutgoingRequest,
    timeout: Duration,
) -> anyhow::Result<IncomingResponse> {
    let url = Url::parse(&req.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| anyhow!("{} is not an http(s) URL", req.url))?;
    let method = req.method.clone();
    let shown = req.url.clone();
    tokio::time::timeout(timeout, send(url, req))
        .await
        .map_err(|_| {
            anyhow!(
                "{method} {shown} timed out after {} s",
                timeout.as_secs_f64()
            )
        })?
}

async fn send(url: Url, req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
    // `host_str` keeps the brackets of an IPv6 literal (for `Host`); the
    // socket and the TLS name want the address without them.
    let host = url.host_str().unwrap_or_default().to_string();
    let bare = match url.host() {
        Some(url::Host::Ipv6(addr)) => addr.to_string(),
        _ => host.clone(),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = TcpStream::connect((bare.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let _ = stream.set_nodelay(true);
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    if url.scheme() == "https" {
        let name = rustls::pki_types::ServerName::try_from(bare.clone())
            .with_context(|| format!("{host} is not a valid TLS server name"))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port}"))?;
        exchange(tls, &authority, target, req).await
    } else {
        exchange(stream, &authority, target, req).await
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
    let has = |name: &str| find_header(&req.headers, name).is_some();
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
            headers: header_pairs(&parts.headers),
            body: body.to_vec(),
        })
    }
    .await;
    driver.abort();
    result
}

/// A short, single-line, printable excerpt of a body (the user agent's).
pub use mcp_oauth_user_agent::excerpt;
