//! The sender of the component's outgoing HTTP requests: HTTP/1.1
//! connections kept alive and reused, one TLS configuration, timeouts and
//! limits for a long-running host.
//!
//! `wasmtime-wasi-http`'s `default_send_request` opens a TCP connection per
//! request, and for https builds a rustls configuration with the whole
//! webpki root store and makes a full TLS handshake per request. A
//! [`Sender`] instead keeps a pool of connections per (scheme, host, port),
//! shared by every instance that sends through it (a
//! [`Runtime`](crate::harness::Runtime) gives all its instances one), and
//! builds its TLS configuration once (so TLS sessions are resumed too).
//!
//! - The pool is `hyper-util`'s `legacy::Client`: a connection whose
//!   response body is still being read (an event stream) is busy, and
//!   another request gets another connection; a connection goes back to the
//!   pool when its response body has been read to the end, and leaves it
//!   after [`SenderConfig::idle_timeout`] or when the server closes it.
//! - The connector is written here (some 100 lines) rather than taken from
//!   `hyper-rustls`: it needs the guest's connect timeout per request and
//!   must tell a refused connection, a DNS failure, a certificate error and
//!   other TLS failures apart for `wasi:http`'s error codes, which a stack
//!   of `HttpConnector` and `HttpsConnector` reports as boxed errors of
//!   several crates.
//! - [`HttpHooks`] plugs a sender into any wasmtime embedding as its
//!   `WasiHttpHooks`, with an optional [`Observer`].
//!
//! Connections run as tasks of the tokio runtime that opened them. A sender
//! used from several runtimes (as tests do) may hand a connection opened in
//! one to a request in another; when the first runtime ends, its
//! connections close and the pool drops them.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mcp_oauth_host::harness::Runtime;
//! use mcp_oauth_host::sender::{Sender, SenderConfig};
//! use std::time::Duration;
//!
//! let sender = Sender::new(SenderConfig {
//!     idle_timeout: Duration::from_secs(30),
//!     ..SenderConfig::default()
//! })?;
//! let runtime = Runtime::embedded()?.with_sender(sender.clone());
//! // ... instances of `runtime` send through `sender`'s pool.
//! println!("{} connections opened", sender.connections_opened());
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::Uri;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::harness::{Exchange, Observer};

/// How a [`Sender`] connects, pools and waits. The timeouts apply when the
/// guest's `request-options` give none; the guest's own win.
#[derive(Clone)]
pub struct SenderConfig {
    /// How long a connection may stay idle in the pool before it is closed.
    /// Default: 90 s (as `hyper-util`'s client; servers often close sooner —
    /// Node.js's after 5 s — and a connection the server closed leaves the
    /// pool when it does). A request that goes out on a connection the
    /// server closes at that very moment fails (`connection-terminated`)
    /// and is not sent again (its body cannot be replayed); a value below
    /// the servers' keep-alive time avoids the race.
    pub idle_timeout: Duration,
    /// How many idle connections are kept per (scheme, host, port); more
    /// are closed when they become idle. `0` keeps none: every request
    /// opens a connection. Default: 8.
    pub max_idle_per_host: usize,
    /// The limit on connecting: DNS, TCP and the TLS handshake. Default:
    /// 30 s (wasmtime's default is 600 s).
    pub connect_timeout: Duration,
    /// The limit on the wait for the response head, counted from when the
    /// connection is ready. Default: 120 s (wasmtime's is 600 s).
    pub first_byte_timeout: Duration,
    /// The limit on each pause in the response body. Default: 600 s, as
    /// wasmtime's: an event stream may rightly stay quiet for long, and the
    /// component asks for no limit on the bodies `wrap-call` returns.
    pub between_bytes_timeout: Duration,
    /// Root certificates trusted beside the webpki roots (a test
    /// certificate authority, a company's own). See
    /// [`SenderConfig::add_roots_pem`].
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for SenderConfig {
    fn default() -> SenderConfig {
        SenderConfig {
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 8,
            connect_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(120),
            between_bytes_timeout: Duration::from_secs(600),
            extra_roots: Vec::new(),
        }
    }
}

impl fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderConfig")
            .field("idle_timeout", &self.idle_timeout)
            .field("max_idle_per_host", &self.max_idle_per_host)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("between_bytes_timeout", &self.between_bytes_timeout)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl SenderConfig {
    /// Adds every certificate of a PEM document (`-----BEGIN CERTIFICATE-----`
    /// blocks; other blocks are skipped) to [`SenderConfig::extra_roots`];
    /// how many. A document without a certificate, or with a malformed
    /// block, is an error and adds none.
    pub fn add_roots_pem(&mut self, pem: &[u8]) -> anyhow::Result<usize> {
        use rustls::pki_types::pem::PemObject as _;
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("reading the PEM certificates: {e}"))?;
        if certs.is_empty() {
            anyhow::bail!("the PEM document holds no certificate");
        }
        let added = certs.len();
        self.extra_roots.extend(certs);
        Ok(added)
    }
}

/// Sends HTTP requests over kept-alive connections; see the
/// [module](self). Clones share the pool, the TLS configuration and the
/// counter.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<SenderInner>,
}

struct SenderInner {
    client: Client<Connector, RequestBody>,
    config: SenderConfig,
    opened: Arc<AtomicU64>,
    /// The first-byte timer of the last request that got its response,
    /// still armed (see [`SenderInner::keep_armed`]).
    armed: Mutex<Option<Pin<Box<Sleep>>>>,
}

impl SenderInner {
    /// Keeps `timer` (a request's first-byte timer, which did not fire)
    /// armed until the next request's replaces it.
    ///
    /// tokio's timer driver wakes its I/O driver (an `eventfd` write, and
    /// one more turn of the event loop) whenever a timer is set that is due
    /// before every timer it knew of when it last went to sleep. A
    /// request's first-byte timer is usually that timer: the pool's idle
    /// timer (90 s) is due later than any first-byte limit, and the last
    /// request's timer is gone once its response came. So every request
    /// paid that wake-up (0.4 µs of a 20 µs loopback call, and a system
    /// call: `mcp-oauth-bench`, `strace -c`). With the last request's
    /// timer still armed, a new timer with the same limit is never the
    /// earliest. The kept timer costs one more timer event when it comes
    /// due with no request since; a timer of another runtime is only
    /// dropped, never polled.
    fn keep_armed(&self, timer: Pin<Box<Sleep>>) {
        let old = self
            .armed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(timer);
        drop(old);
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("config", &self.inner.config)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender with `config`: its TLS configuration (webpki roots and
    /// [`SenderConfig::extra_roots`], rustls with the ring provider) is
    /// built here, once. An extra root that is not a usable certificate is
    /// an error. Needs no tokio runtime; sending does.
    pub fn new(config: SenderConfig) -> anyhow::Result<Sender> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (i, root) in config.extra_roots.iter().enumerate() {
            roots
                .add(root.clone())
                .with_context(|| format!("extra root certificate {i}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("the ring provider's TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let opened = Arc::new(AtomicU64::new(0));
        let connector = Connector {
            tls: Arc::new(tls),
            opened: opened.clone(),
            connect_timeout: config.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Sender {
            inner: Arc::new(SenderInner {
                client,
                config,
                opened,
                armed: Mutex::new(None),
            }),
        })
    }

    /// The configuration the sender was made with.
    pub fn config(&self) -> &SenderConfig {
        &self.inner.config
    }

    /// How many connections the sender has opened (TCP connected and, for
    /// https, the TLS handshake done), over its lifetime. A request that
    /// reuses a connection adds nothing.
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Sends `request` (an absolute `http` or `https` URI; it goes on the
    /// wire in origin form) and returns the response once its head has
    /// arrived; its body streams, each pause in it limited by the
    /// between-bytes timeout. `options` override the configured timeouts.
    ///
    /// Errors are `wasi:http`'s: `ConnectionRefused`, `ConnectionTimeout`,
    /// `DnsError`, `TlsCertificateError`, `TlsProtocolError`,
    /// `ConnectionReadTimeout` when the response head does not come in
    /// time, the request body's own error when it failed, and so on.
    pub fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> impl Future<Output = Result<http::Response<WasiBody>, Error>> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            let config = &inner.config;
            let options = options.unwrap_or_default();
            let connect_timeout = options.connect_timeout.unwrap_or(config.connect_timeout);
            let first_byte = options
                .first_byte_timeout
                .unwrap_or(config.first_byte_timeout);
            let between_bytes = options
                .between_bytes_timeout
                .unwrap_or(config.between_bytes_timeout);

            let uri = request.uri();
            if !matches!(uri.scheme_str(), Some("http" | "https")) {
                return Err(Error::HttpProtocolError);
            }
            if uri.host().is_none() {
                return Err(Error::HttpRequestUriInvalid);
            }

            // The head goes out with the first piece of the body (or its
            // end): a guest writes the body after `handle`, and on a
            // pooled connection the head is on the wire at once. A server
            // that answers before reading the body (a 401 from an auth
            // layer) may then close the connection for want of the body,
            // and the guest's write fails although a response came. A
            // guest that starts no body within BODY_START_WAIT is sent
            // without waiting further.
            let (parts, mut body) = request.into_parts();
            let (first, ended) = match tokio::time::timeout(BODY_START_WAIT, body.frame()).await {
                Ok(Some(Ok(frame))) => (Some(frame), false),
                Ok(Some(Err(error))) => return Err(error),
                Ok(None) => (None, true),
                Err(_) => (None, false),
            };
            let failure = Arc::new(Mutex::new(None));
            let body = RequestBody {
                first,
                ended,
                body,
                failure: failure.clone(),
            };
            let request = http::Request::from_parts(parts, body);
            let attempt = Arc::new(Attempt {
                connect_timeout,
                state: Mutex::new(ConnectState::Idle),
            });
            let started = Instant::now();
            let mut response = pin!(ATTEMPT.scope(attempt.clone(), inner.client.request(request)));
            let mut timer = Box::pin(tokio::time::sleep_until(after(started, first_byte)));
            let result = loop {
                let first = std::future::poll_fn(|cx| match response.as_mut().poll(cx) {
                    Poll::Ready(result) => Poll::Ready(Some(result)),
                    Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
                });
                match first.await {
                    Some(result) => break result,
                    None => match attempt.first_byte_deadline(first_byte) {
                        Some(later) if later > Instant::now() => timer.as_mut().reset(later),
                        _ => return Err(Error::ConnectionReadTimeout),
                    },
                }
            };
            inner.keep_armed(timer);
            let response = result.map_err(|e| client_error(&e, &failure))?;
            Ok(response.map(|incoming| {
                ResponseBody {
                    incoming,
                    timeout: between_bytes,
                    sleep: Box::pin(tokio::time::sleep_until(after(
                        Instant::now(),
                        between_bytes,
                    ))),
                }
                .boxed_unsync()
            }))
        }
    }
}

/// How long [`Sender::send`] waits for the first piece (or the end) of the
/// request body before it sends the head without it.
const BODY_START_WAIT: Duration = Duration::from_millis(50);

/// `from + duration`, or a time some 30 years ahead when that overflows
/// (as tokio does for its own timeouts).
fn after(from: Instant, duration: Duration) -> Instant {
    from.checked_add(duration)
        .unwrap_or_else(|| from + Duration::from_secs(86_400 * 365 * 30))
}

// --- the first-byte deadline --------------------------------------------------

tokio::task_local! {
    /// The request a connector call works for: the connector reads the
    /// guest's connect timeout from it and tells it when the connection is
    /// ready, from which the first-byte timeout counts. (The pool calls the
    /// connector only with the destination; the call happens while the
    /// request's future is polled, inside its scope.)
    static ATTEMPT: Arc<Attempt>;
}

struct Attempt {
    connect_timeout: Duration,
    state: Mutex<ConnectState>,
}

#[derive(Clone, Copy)]
enum ConnectState {
    /// No connection was opened for the request (yet): it waits for a
    /// pooled one.
    Idle,
    /// A connection is being opened since then.
    Connecting(Instant),
    /// A connection attempt ended then (ready or failed).
    Done(Instant),
}

impl Attempt {
    fn set(&self, state: ConnectState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// When the wait for the response head ends, given what the connector
    /// did: `first_byte` after the connection was ready; while one is being
    /// opened, after the connect timeout and then `first_byte` (the
    /// connector fails first); `None` when no connection was opened, so
    /// the deadline counted from the request's start stands.
    fn first_byte_deadline(&self, first_byte: Duration) -> Option<Instant> {
        match *self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            ConnectState::Idle => None,
            ConnectState::Connecting(since) => {
                Some(after(after(since, self.connect_timeout), first_byte))
            }
            ConnectState::Done(at) => Some(after(at, first_byte)),
        }
    }
}

// --- the connector ------------------------------------------------------------

/// Opens connections for the pool: DNS, TCP (no Nagle delay), and for
/// https a TLS handshake with the shared configuration, all within the
/// connect timeout.
#[derive(Clone)]
struct Connector {
    tls: Arc<rustls::ClientConfig>,
    opened: Arc<AtomicU64>,
    /// Used when the connector is called outside a request's scope.
    connect_timeout: Duration,
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectFailure>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectFailure;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectFailure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Connecting {
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        let timeout = attempt
            .as_ref()
            .map_or(self.connect_timeout, |a| a.connect_timeout);
        let connector = self.clone();
        Box::pin(async move {
            if let Some(attempt) = &attempt {
                attempt.set(ConnectState::Connecting(Instant::now()));
            }
            let result = tokio::time::timeout(timeout, connector.connect(&destination))
                .await
                .unwrap_or(Err(ConnectFailure::Timeout));
            if let Some(attempt) = &attempt {
                attempt.set(ConnectState::Done(Instant::now()));
            }
            if result.is_ok() {
                connector.opened.fetch_add(1, Ordering::Relaxed);
            }
            result
        })
    }
}

impl Connector {
    async fn connect(&self, destination: &Uri) -> Result<TokioIo<Stream>, ConnectFailure> {
        let https = match destination.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ConnectFailure::InvalidUri),
        };
        let host = destination.host().ok_or(ConnectFailure::InvalidUri)?;
        // An IPv6 literal comes in brackets.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = destination
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| ConnectFailure::Dns(dns_message(&e)))?
                .collect(),
        };
        // Each address in turn, as `TcpStream::connect` does; the last
        // failure is the one reported.
        let mut failure = ConnectFailure::Dns("no address".into());
        let mut tcp = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => failure = ConnectFailure::Io(e.kind(), e.to_string()),
            }
        }
        let tcp = tcp.ok_or(failure)?;
        // Requests and their bodies are written in several pieces; don't
        // let Nagle's algorithm hold the later ones for an ACK.
        let _ = tcp.set_nodelay(true);
        if !https {
            return Ok(TokioIo::new(Stream::Plain(tcp)));
        }
        let name = server_name(host)?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectFailure::tls(&e))?;
        Ok(TokioIo::new(Stream::Tls(Box::new(tls))))
    }
}

/// The name the server's certificate must hold: an IP address for an IP
/// literal (as wasmtime's `tls_server_name`), else the DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, ConnectFailure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string()).map_err(|_| ConnectFailure::InvalidDnsName)
}

/// The resolver's message without the standard library's prefix.
fn dns_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.strip_prefix("failed to lookup address information: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Why a connection could not be opened, kept as data so that the request
/// can turn it into its `wasi:http` error.
#[derive(Debug, Clone)]
enum ConnectFailure {
    InvalidUri,
    Dns(String),
    InvalidDnsName,
    Timeout,
    Io(io::ErrorKind, String),
    TlsCertificate(String),
    TlsAlert(u8, String),
    Tls(String),
}

impl ConnectFailure {
    /// A failed TLS handshake: tokio-rustls reports rustls's error inside
    /// an I/O error.
    fn tls(error: &io::Error) -> ConnectFailure {
        let rustls_error = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        match rustls_error {
            Some(e @ rustls::Error::InvalidCertificate(_)) => {
                ConnectFailure::TlsCertificate(e.to_string())
            }
            Some(rustls::Error::AlertReceived(alert)) => {
                ConnectFailure::TlsAlert(u8::from(*alert), format!("{alert:?}"))
            }
            Some(e) => ConnectFailure::Tls(e.to_string()),
            None => ConnectFailure::Tls(error.to_string()),
        }
    }

    fn to_error(&self) -> Error {
        match self {
            ConnectFailure::InvalidUri => Error::HttpRequestUriInvalid,
            ConnectFailure::Dns(message) => Error::DnsError {
                rcode: Some(message.clone()),
                info_code: None,
            },
            // What wasmtime's hooks make of an invalid name.
            ConnectFailure::InvalidDnsName => Error::DnsError {
                rcode: Some("invalid dns name".into()),
                info_code: None,
            },
            ConnectFailure::Timeout => Error::ConnectionTimeout,
            ConnectFailure::Io(kind, message) => match kind {
                io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
                io::ErrorKind::TimedOut => Error::ConnectionTimeout,
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    Error::DestinationUnavailable
                }
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                    Error::ConnectionTerminated
                }
                // wasmtime classifies the rest (an unavailable address is
                // a DNS error, anything else refused).
                _ => Error::Connect(io::Error::new(*kind, message.clone())),
            },
            ConnectFailure::TlsCertificate(_) => Error::TlsCertificateError,
            ConnectFailure::TlsAlert(id, message) => Error::TlsAlertReceived {
                alert_id: Some(*id),
                alert_message: Some(message.clone()),
            },
            ConnectFailure::Tls(_) => Error::TlsProtocolError,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::InvalidUri => write!(f, "not an http(s) URI with a host"),
            ConnectFailure::Dns(message) => write!(f, "DNS lookup failed: {message}"),
            ConnectFailure::InvalidDnsName => write!(f, "invalid DNS name"),
            ConnectFailure::Timeout => write!(f, "connect timeout"),
            ConnectFailure::Io(_, message) => write!(f, "connecting: {message}"),
            ConnectFailure::TlsCertificate(message) => write!(f, "TLS certificate: {message}"),
            ConnectFailure::TlsAlert(_, message) => write!(f, "TLS alert received: {message}"),
            ConnectFailure::Tls(message) => write!(f, "TLS: {message}"),
        }
    }
}

impl StdError for ConnectFailure {}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

// --- bodies and errors ----------------------------------------------------------

/// The request body as the guest writes it, after the `first` piece (or
/// its end, `ended`) that was awaited before sending. Its error (a body
/// shorter or longer than its `Content-Length`, say) is kept aside so that
/// the request fails with it, rather than with the hyper error that wraps
/// it.
struct RequestBody {
    first: Option<Frame<Bytes>>,
    ended: bool,
    body: WasiBody,
    failure: Arc<Mutex<Option<Error>>>,
}

/// Stands in for the request body's error inside hyper.
#[derive(Debug)]
struct BodyFailed;

impl fmt::Display for BodyFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the request body failed")
    }
}

impl StdError for BodyFailed {}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyFailed>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            None => Poll::Ready(None),
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
            Some(Err(error)) => {
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                Poll::Ready(Some(Err(BodyFailed)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && (self.ended || self.body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_ref()
            .and_then(Frame::data_ref)
            .map(Bytes::len);
        match (first, self.ended) {
            (None, true) => SizeHint::with_exact(0),
            (None, false) => self.body.size_hint(),
            // The rest is not known.
            (Some(_), _) => SizeHint::default(),
        }
    }
}

/// The response body, each pause in it limited as wasmtime's
/// `IncomingResponseBody` does: a pause longer than `timeout` is a
/// `ConnectionReadTimeout`.
struct ResponseBody {
    incoming: Incoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(frame))) => {
                let next = after(Instant::now(), self.timeout);
                self.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Pending => {
                ready!(self.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// The `wasi:http` error for a failed request: the request body's own
/// error, the connector's, or what hyper says.
fn client_error(
    error: &hyper_util::client::legacy::Error,
    failure: &Mutex<Option<Error>>,
) -> Error {
    if let Some(body_error) = failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return body_error;
    }
    let mut cause = error.source();
    while let Some(e) = cause {
        if let Some(failure) = e.downcast_ref::<ConnectFailure>() {
            return failure.to_error();
        }
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            return HyperFailure::of(e).to_error();
        }
        cause = e.source();
    }
    Error::InternalError(Some(error.to_string()))
}

/// What a hyper error means for `wasi:http`. The request's errors come
/// inside the pool's error, by reference, so they are classified here;
/// the response body's own are passed on with `From<hyper::Error>` (as
/// wasmtime does) and classified the same way by
/// [`HttpHooks::p2_error_from_hyper`].
enum HyperFailure {
    Timeout,
    HeadersTooLarge,
    Incomplete,
    Terminated,
    Protocol,
}

impl HyperFailure {
    fn of(error: &hyper::Error) -> HyperFailure {
        let io_kind = error
            .source()
            .and_then(|e| e.downcast_ref::<io::Error>())
            .map(io::Error::kind);
        if error.is_timeout() {
            HyperFailure::Timeout
        } else if error.is_parse_too_large() {
            HyperFailure::HeadersTooLarge
        } else if error.is_parse() || error.is_parse_status() {
            HyperFailure::Protocol
        } else if error.is_incomplete_message() || io_kind == Some(io::ErrorKind::UnexpectedEof) {
            // The head, or a body with a length, cut short.
            HyperFailure::Incomplete
        } else if error.is_canceled()
            || error.is_closed()
            || error.is_body_write_aborted()
            || matches!(
                io_kind,
                Some(
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                )
            )
        {
            HyperFailure::Terminated
        } else {
            HyperFailure::Protocol
        }
    }

    fn to_error(&self) -> Error {
        match self {
            HyperFailure::Timeout => Error::HttpResponseTimeout,
            HyperFailure::HeadersTooLarge => Error::HttpResponseHeaderSectionSize(None),
            HyperFailure::Incomplete => Error::HttpResponseIncomplete,
            HyperFailure::Terminated => Error::ConnectionTerminated,
            HyperFailure::Protocol => Error::HttpProtocolError,
        }
    }

    fn to_code(&self) -> ErrorCode {
        match self {
            HyperFailure::Timeout => ErrorCode::HttpResponseTimeout,
            HyperFailure::HeadersTooLarge => ErrorCode::HttpResponseHeaderSectionSize(None),
            HyperFailure::Incomplete => ErrorCode::HttpResponseIncomplete,
            HyperFailure::Terminated => ErrorCode::ConnectionTerminated,
            HyperFailure::Protocol => ErrorCode::HttpProtocolError,
        }
    }
}

// --- the hooks ------------------------------------------------------------------

type BoxedIo = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

/// `wasi:http` hooks for a wasmtime embedding: requests go through a
/// [`Sender`] (and its pool), each reported to an [`Observer`] if one is
/// given. The harness's instances use these; another embedding (its own
/// bindings and store) puts one in its `WasiHttpCtxView` to share a
/// sender's pool.
#[derive(Clone)]
pub struct HttpHooks {
    sender: Sender,
    observer: Option<Observer>,
    /// The limit on connecting and on the wait for the response head of a
    /// request sent without `request-options`.
    unoptioned: Option<Duration>,
}

impl HttpHooks {
    /// Hooks that send through `sender` and report to `observer`.
    pub fn new(sender: Sender, observer: Option<Observer>) -> HttpHooks {
        HttpHooks {
            sender,
            observer,
            unoptioned: None,
        }
    }

    /// Limits every request sent without `request-options` (`wrap-call`'s)
    /// as a component's `host-timeouts` asks: connecting to `timeout`, and
    /// the wait for the response head to `2 × timeout` from the request's
    /// start (or from the moment its connection was ready, if later) — the
    /// bound the component keeps when it waits itself. A shorter `timeout`
    /// given before stays: the hooks serve every client of the instance and
    /// cannot tell their requests apart, so the clients of one instance
    /// share the shortest limit, those without `host-timeouts` too (their
    /// own timer stays): give one instance's clients one `timeout-ms`.
    /// Requests with options keep theirs; the limit between body bytes
    /// stays the sender's.
    pub fn limit_unoptioned(&mut self, timeout: Duration) {
        self.unoptioned = Some(self.unoptioned.map_or(timeout, |t| t.min(timeout)));
    }

    /// The sender requests go through.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }
}

impl fmt::Debug for HttpHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpHooks")
            .field("sender", &self.sender)
            .field("observer", &self.observer.as_ref().map(|_| "Fn"))
            .field("unoptioned", &self.unoptioned)
            .finish()
    }
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: BoxedIo,
    ) -> Box<
        dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, BoxedIo)>> + Send,
    > {
        let _ = fut;
        let report = self.observer.clone().map(|observer| {
            let exchange = Exchange {
                method: request.method().to_string(),
                url: request.uri().to_string(),
                status: None,
                finished: false,
            };
            observer(&exchange);
            Report { observer, exchange }
        });
        let options = options.or_else(|| {
            self.unoptioned.map(|limit| RequestOptions {
                connect_timeout: Some(limit),
                first_byte_timeout: Some(limit.saturating_mul(2)),
                between_bytes_timeout: None,
            })
        });
        let send = self.sender.send(request, options);
        Box::new(async move {
            let result = send.await;
            if let Some(report) = report {
                report.finish(result.as_ref().ok().map(|res| res.status().as_u16()));
            }
            // The pool's own tasks drive the connection: nothing more to do.
            Ok((result?, Box::new(async { Ok(()) }) as BoxedIo))
        })
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        HyperFailure::of(err).to_code()
    }
}

/// The pending second observer call of a request; made on drop if the
/// request is abandoned before it finishes.
struct Report {
    observer: Observer,
    exchange: Exchange,
}

impl Report {
    fn finish(mut self, status: Option<u16>) {
        self.exchange.status = status;
        self.exchange.finished = true;
        (self.observer)(&self.exchange);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.exchange.finished {
            self.exchange.finished = true;
            (self.observer)(&self.exchange);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::combinators::UnsyncBoxBody;
    use http_body_util::{Empty, Full};
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    type ServerBody = UnsyncBoxBody<Bytes, Infallible>;

    /// A loopback server that counts the connections it accepts.
    struct TestServer {
        addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
    }

    impl TestServer {
        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        fn https_url(&self, path: &str) -> String {
            format!("https://{}{path}", self.addr)
        }

        fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }
    }

    /// A hyper HTTP/1.1 server (keep-alive on), behind TLS when `tls` is
    /// given, answering every request with `handler`.
    async fn hyper_server<H>(tls: Option<TlsAcceptor>, handler: H) -> TestServer
    where
        H: Fn(&http::Request<Incoming>) -> http::Response<ServerBody> + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        raw_server(move |tcp| {
            let handler = handler.clone();
            let tls = tls.clone();
            async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = handler(&request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            }
        })
        .await
    }

    /// A server that hands each connection it accepts to `serve`, in a
    /// task of its own.
    async fn raw_server<F, Fut>(serve: F) -> TestServer
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(tcp));
            }
        });
        TestServer { addr, accepted }
    }

    /// A body whose pieces (or error) the test sends as it goes; it ends
    /// when the sending half is dropped.
    struct Feed<E>(tokio::sync::mpsc::Receiver<Result<Bytes, E>>);

    impl<E> Body for Feed<E> {
        type Data = Bytes;
        type Error = E;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
            self.0
                .poll_recv(cx)
                .map(|piece| piece.map(|r| r.map(Frame::data)))
        }
    }

    fn feed<E>() -> (tokio::sync::mpsc::Sender<Result<Bytes, E>>, Feed<E>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        (sender, Feed(receiver))
    }

    fn text(body: &'static str) -> http::Response<ServerBody> {
        http::Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync())
    }

    fn empty() -> WasiBody {
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn get(url: &str) -> http::Request<WasiBody> {
        http::Request::get(url).body(empty()).unwrap()
    }

    /// A sender with the default configuration but `change`.
    fn sender_with(change: impl FnOnce(&mut SenderConfig)) -> Sender {
        let mut config = SenderConfig::default();
        change(&mut config);
        Sender::new(config).unwrap()
    }

    /// The whole body as text.
    async fn body_text(response: http::Response<WasiBody>) -> Result<String, Error> {
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// Sends a `GET` of `url` and reads the answer: status and body.
    async fn fetch(sender: &Sender, url: &str) -> Result<(u16, String), Error> {
        let response = sender.send(get(url), None).await?;
        let status = response.status().as_u16();
        Ok((status, body_text(response).await?))
    }

    #[tokio::test]
    async fn sequential_requests_reuse_one_connection() {
        let server = hyper_server(None, |_| text("ok")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        for _ in 0..20 {
            let answer = fetch(&sender, &server.url("/mcp")).await.unwrap();
            assert_eq!(answer, (200, "ok".into()));
        }
        assert_eq!(server.accepted(), 1);
        assert_eq!(sender.connections_opened(), 1);
        // Clones share the pool.
        let clone = sender.clone();
        fetch(&clone, &server.url("/again")).await.unwrap();
        assert_eq!(server.accepted(), 1);
        assert_eq!(clone.connections_opened(), 1);
    }

    #[tokio::test]
    async fn with_no_idle_connections_kept_each_request_connects() {
        let server = hyper_server(None, |_| text("ok")).await;
        let sender = sender_with(|c| c.max_idle_per_host = 0);
        for _ in 0..3 {
            fetch(&sender, &server.url("/")).await.unwrap();
        }
        assert_eq!(server.accepted(), 3);
        assert_eq!(sender.connections_opened(), 3);
    }

    #[tokio::test]
    async fn a_request_while_a_body_streams_gets_another_connection() {
        // `/stream` answers with a body that stays open until the test
        // sends its last piece; `/` answers at once.
        let feeds = Arc::new(Mutex::new(Vec::new()));
        let keep = feeds.clone();
        let server = hyper_server(None, move |request| {
            if request.uri().path() == "/stream" {
                let (feed, body) = feed::<Infallible>();
                keep.lock().unwrap().push(feed);
                http::Response::new(body.boxed_unsync())
            } else {
                text("quick")
            }
        })
        .await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let streaming = sender
            .send(get(&server.url("/stream")), None)
            .await
            .unwrap();
        let mut stream_body = streaming.into_body();
        let feed = feeds.lock().unwrap().pop().unwrap();
        feed.send(Ok(Bytes::from_static(b"event 1"))).await.unwrap();
        let first = stream_body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "event 1");

        // The first connection is busy: the quick request opens another.
        let answer = fetch(&sender, &server.url("/")).await.unwrap();
        assert_eq!(answer, (200, "quick".into()));
        assert_eq!(server.accepted(), 2);

        // The stream goes on, and ends.
        feed.send(Ok(Bytes::from_static(b"event 2"))).await.unwrap();
        drop(feed);
        let rest = stream_body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "event 2");
        assert_eq!(sender.connections_opened(), 2);
        // Both connections are idle now; neither is replaced.
        for _ in 0..3 {
            fetch(&sender, &server.url("/")).await.unwrap();
        }
        assert_eq!(server.accepted(), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        // Like a server with a short keep-alive timeout: one response per
        // connection, no `Connection: close`, and the connection closed
        // 50 ms later.
        let server = raw_server(|mut tcp| async move {
            let mut buf = vec![0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        })
        .await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        for round in 1..=3 {
            let answer = fetch(&sender, &server.url("/")).await.unwrap();
            assert_eq!(answer, (200, "ok".into()), "round {round}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(server.accepted(), 3);
        assert_eq!(sender.connections_opened(), 3);
    }

    #[tokio::test]
    async fn requests_go_out_in_origin_form_with_their_host() {
        let (heads, seen) = tokio::sync::mpsc::unbounded_channel::<String>();
        let server = raw_server(move |mut tcp| {
            let heads = heads.clone();
            async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
                let _ = tcp.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            }
        })
        .await;
        let mut seen = seen;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let answer = fetch(&sender, &server.url("/mcp/x?a=1&b=2")).await.unwrap();
        assert_eq!(answer, (204, String::new()));
        let head = seen.recv().await.unwrap();
        assert!(
            head.starts_with("GET /mcp/x?a=1&b=2 HTTP/1.1\r\n"),
            "{head}"
        );
        let host = format!("host: {}\r\n", server.addr);
        assert!(head.to_ascii_lowercase().contains(&host), "{head}");
    }

    /// A test certificate authority and a server certificate it issued for
    /// `localhost` and `127.0.0.1`: the root (DER and PEM) and a TLS
    /// acceptor with the server certificate.
    fn test_pki() -> (CertificateDer<'static>, String, TlsAcceptor) {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        (
            ca.der().clone(),
            ca.pem(),
            TlsAcceptor::from(Arc::new(server)),
        )
    }

    #[tokio::test]
    async fn https_reuses_one_connection_with_an_extra_root() {
        let (root, root_pem, acceptor) = test_pki();
        let server = hyper_server(Some(acceptor), |_| text("secure")).await;

        let sender = sender_with(|c| c.extra_roots = vec![root]);
        for _ in 0..10 {
            let answer = fetch(&sender, &server.https_url("/mcp")).await.unwrap();
            assert_eq!(answer, (200, "secure".into()));
        }
        assert_eq!(server.accepted(), 1);
        assert_eq!(sender.connections_opened(), 1);

        // The root as PEM, and the server by its DNS name.
        let mut config = SenderConfig::default();
        assert_eq!(config.add_roots_pem(root_pem.as_bytes()).unwrap(), 1);
        let sender = Sender::new(config).unwrap();
        let url = format!("https://localhost:{}/mcp", server.addr.port());
        for _ in 0..3 {
            assert_eq!(fetch(&sender, &url).await.unwrap().1, "secure");
        }
        assert_eq!(sender.connections_opened(), 1);
        assert_eq!(server.accepted(), 2);
    }

    #[tokio::test]
    async fn https_without_the_root_is_a_certificate_error() {
        let (_, _, acceptor) = test_pki();
        let server = hyper_server(Some(acceptor), |_| text("secure")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let error = fetch(&sender, &server.https_url("/")).await.unwrap_err();
        assert!(matches!(error, Error::TlsCertificateError), "{error:?}");
        assert_eq!(sender.connections_opened(), 0);
    }

    #[tokio::test]
    async fn tls_to_a_plain_http_server_is_a_tls_protocol_error() {
        let server = hyper_server(None, |_| text("plain")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let error = fetch(&sender, &server.https_url("/")).await.unwrap_err();
        assert!(matches!(error, Error::TlsProtocolError), "{error:?}");
    }

    #[test]
    fn a_pem_without_certificates_is_refused() {
        let mut config = SenderConfig::default();
        assert!(config.add_roots_pem(b"no pem here").is_err());
        assert!(config
            .add_roots_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
            .is_err());
        assert!(config.extra_roots.is_empty());
        // Not a certificate at all: Sender::new says so.
        config.extra_roots.push(CertificateDer::from(vec![1, 2, 3]));
        let error = Sender::new(config).unwrap_err();
        assert!(format!("{error:#}").contains("extra root"), "{error:#}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_connection_refused() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let error = fetch(&sender, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::ConnectionRefused), "{error:?}");
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_dns_error() {
        let sender = sender_with(|c| c.connect_timeout = Duration::from_secs(20));
        let error = fetch(&sender, "http://no-such-host.invalid/")
            .await
            .unwrap_err();
        assert!(matches!(error, Error::DnsError { .. }), "{error:?}");
    }

    /// A server that reads requests and never answers.
    async fn silent_server() -> TestServer {
        raw_server(|mut tcp| async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = tcp.read(&mut buf).await {
                if n == 0 {
                    return;
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn no_response_head_is_a_first_byte_timeout() {
        let server = silent_server().await;
        let sender = sender_with(|c| c.first_byte_timeout = Duration::from_millis(200));
        let started = std::time::Instant::now();
        let error = fetch(&sender, &server.url("/")).await.unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn the_guests_timeouts_win_over_the_configured_ones() {
        let server = silent_server().await;
        let sender = sender_with(|c| c.first_byte_timeout = Duration::from_secs(600));
        let options = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(200)),
            ..RequestOptions::default()
        };
        let started = std::time::Instant::now();
        let error = sender
            .send(get(&server.url("/")), Some(options))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// Sends a `GET` of `url` (a silent server) through `hooks` as
    /// `wasi:http`'s `handle` does, with `options`; checks that it ends in a
    /// first-byte timeout and returns how long it took.
    async fn hooks_timeout(
        hooks: &mut HttpHooks,
        url: &str,
        options: Option<RequestOptions>,
    ) -> Duration {
        let started = std::time::Instant::now();
        let sent = hooks.send_request(get(url), options, Box::new(async { Ok(()) }));
        let error = Pin::from(sent).await.err();
        assert!(
            matches!(error, Some(Error::ConnectionReadTimeout)),
            "{error:?}"
        );
        started.elapsed()
    }

    #[tokio::test]
    async fn requests_without_options_get_the_hooks_limit_the_shortest_given() {
        // `limit_unoptioned` (a client opened with `host-timeouts`): the
        // limit replaces the sender's (600 s here) for requests that bring
        // no options — the head within twice the timeout; of several
        // limits the shortest holds.
        let server = silent_server().await;
        let sender = sender_with(|c| c.first_byte_timeout = Duration::from_secs(600));
        let mut hooks = HttpHooks::new(sender, None);
        for limit in [60_000, 200, 30_000] {
            hooks.limit_unoptioned(Duration::from_millis(limit));
        }
        let took = hooks_timeout(&mut hooks, &server.url("/"), None).await;
        assert!(took >= Duration::from_millis(400), "2 × 200 ms: {took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn a_requests_own_options_win_over_the_hooks_limit() {
        let server = silent_server().await;
        let mut hooks = HttpHooks::new(Sender::new(SenderConfig::default()).unwrap(), None);
        hooks.limit_unoptioned(Duration::from_millis(100));
        let options = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(700)),
            ..RequestOptions::default()
        };
        let took = hooks_timeout(&mut hooks, &server.url("/"), Some(options)).await;
        assert!(took >= Duration::from_millis(700), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn the_last_requests_first_byte_timer_stays_armed_until_the_next_ends() {
        // `keep_armed`: after a response the request's timer is kept, due
        // when it was; the next request's replaces it.
        let server = hyper_server(None, |_| text("ok")).await;
        let sender = sender_with(|c| c.first_byte_timeout = Duration::from_secs(30));
        let armed = || {
            let kept = sender.inner.armed.lock().unwrap();
            kept.as_ref().map(|t| (t.deadline(), t.is_elapsed()))
        };
        assert_eq!(armed(), None);
        let before = Instant::now();
        fetch(&sender, &server.url("/")).await.unwrap();
        let (first, elapsed) = armed().expect("the first request's timer");
        assert!(!elapsed);
        assert!(
            first >= before + Duration::from_secs(30),
            "due 30 s after the send"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        fetch(&sender, &server.url("/")).await.unwrap();
        let (second, elapsed) = armed().expect("the second request's timer");
        assert!(!elapsed);
        assert!(second > first, "replaced by the later one");
    }

    #[tokio::test]
    async fn a_stalled_body_is_a_between_bytes_timeout() {
        // The head and 3 of 10 bytes, then nothing.
        let server = raw_server(|mut tcp| async move {
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
                .await;
            let _ = tcp.read(&mut buf).await;
        })
        .await;
        let sender = sender_with(|c| c.between_bytes_timeout = Duration::from_millis(200));
        let response = sender.send(get(&server.url("/")), None).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        let started = std::time::Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn a_full_accept_queue_is_a_connect_timeout() {
        // A listener that never accepts, its queue filled: the kernel
        // drops further SYNs, so connecting hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..16 {
            let connect = TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(200), connect).await {
                Ok(Ok(stream)) => fillers.push(stream),
                _ => break,
            }
        }
        let sender = sender_with(|c| c.connect_timeout = Duration::from_millis(300));
        let started = std::time::Instant::now();
        let error = fetch(&sender, &format!("http://{addr}/"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::ConnectionTimeout), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop((listener, fillers));
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_gives_an_incomplete_response() {
        // Closes the connection after reading the request head; then,
        // on a second connection, sends 3 of 10 body bytes and closes.
        let server = raw_server(|mut tcp| async move {
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            if buf.starts_with(b"GET /cut") {
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
                    .await;
            }
        })
        .await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let error = fetch(&sender, &server.url("/")).await.unwrap_err();
        assert!(matches!(error, Error::HttpResponseIncomplete), "{error:?}");
        // In the body, hyper's error is passed on; the hooks classify it.
        let error = fetch(&sender, &server.url("/cut")).await.unwrap_err();
        let Error::Hyper(hyper_error) = &error else {
            panic!("{error:?}");
        };
        let mut hooks = HttpHooks::new(sender.clone(), None);
        assert!(matches!(
            hooks.p2_error_from_hyper(hyper_error),
            ErrorCode::HttpResponseIncomplete
        ));
    }

    #[tokio::test]
    async fn the_request_body_error_is_the_requests_error() {
        let server = hyper_server(None, |_| text("ok")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        // A body that fails after its first piece, as a guest's body that
        // is shorter than its `Content-Length` does.
        let (feed, body) = feed::<Error>();
        let request = http::Request::post(server.url("/"))
            .header("content-length", "10")
            .body(body.boxed_unsync())
            .unwrap();
        let send = tokio::spawn(sender.send(request, None));
        feed.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        feed.send(Err(Error::HttpRequestBodySize(Some(3))))
            .await
            .unwrap();
        let error = send.await.unwrap().unwrap_err();
        assert!(
            matches!(error, Error::HttpRequestBodySize(Some(3))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_body_that_fails_before_it_starts_fails_the_request() {
        let server = hyper_server(None, |_| text("ok")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let (feed, body) = feed::<Error>();
        feed.send(Err(Error::HttpRequestBodySize(Some(0))))
            .await
            .unwrap();
        let request = http::Request::post(server.url("/"))
            .body(body.boxed_unsync())
            .unwrap();
        let error = sender.send(request, None).await.unwrap_err();
        assert!(
            matches!(error, Error::HttpRequestBodySize(Some(0))),
            "{error:?}"
        );
        assert_eq!(server.accepted(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_head_waits_for_the_body_a_guest_writes_after_sending() {
        // A hyper server that answers without reading the body: when the
        // body is not there yet it closes the connection after answering.
        // The guest writes its body just after `handle`; the body must
        // still go out whole, on a connection that stays.
        let server = hyper_server(None, |_| text("early")).await;
        let sender = Sender::new(SenderConfig::default()).unwrap();
        for round in 0..50 {
            let (feed, body) = feed::<Error>();
            let request = http::Request::post(server.url("/mcp"))
                .header("content-length", "2")
                .body(body.boxed_unsync())
                .unwrap();
            let sending = tokio::spawn(sender.send(request, None));
            tokio::time::sleep(Duration::from_millis(2)).await;
            let written = feed.send(Ok(Bytes::from_static(b"{}"))).await;
            assert!(written.is_ok(), "round {round}: the body was dropped");
            drop(feed);
            let response = sending.await.unwrap().unwrap();
            assert_eq!(body_text(response).await.unwrap(), "early");
        }
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn a_uri_without_scheme_or_host_is_refused() {
        let sender = Sender::new(SenderConfig::default()).unwrap();
        let error = sender.send(get("/relative"), None).await.unwrap_err();
        assert!(matches!(error, Error::HttpProtocolError), "{error:?}");
        let error = sender.send(get("ftp://h/x"), None).await.unwrap_err();
        assert!(matches!(error, Error::HttpProtocolError), "{error:?}");
    }

    #[test]
    fn server_names_are_ip_addresses_or_dns_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("not a name"),
            Err(ConnectFailure::InvalidDnsName)
        ));
    }
}
