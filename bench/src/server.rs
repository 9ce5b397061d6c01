//! The loopback server of the hot path: answers `POST /mcp` with a
//! 96-byte body by 200 and a 198-byte JSON body, over http or https (a
//! certificate made at startup), and counts the connections it accepted.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The request body the benchmark sends: a JSON-RPC `tools/call`, 96 bytes.
pub fn request_body() -> Bytes {
    let body = padded(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#,
        r#""}}}"#,
        REQUEST_LEN,
    );
    Bytes::from(body)
}

/// The response body the server answers: a JSON-RPC result, 198 bytes.
fn response_body() -> Bytes {
    let body = padded(
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":""#,
        r#""}],"isError":false}}"#,
        RESPONSE_LEN,
    );
    Bytes::from(body)
}

/// Length of the request body.
pub const REQUEST_LEN: usize = 96;
/// Length of the response body.
pub const RESPONSE_LEN: usize = 198;

/// `head` + `x` repeated + `tail`, `len` bytes in all.
fn padded(head: &str, tail: &str, len: usize) -> Vec<u8> {
    let fill = len - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(fill)).into_bytes()
}

/// The TLS material of the https servers: a self-signed certificate for
/// 127.0.0.1 and localhost, made at startup.
pub struct TestCertificate {
    /// The certificate, which clients add to their roots.
    pub cert: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

impl TestCertificate {
    /// Makes a certificate and its key (ECDSA P-256, rcgen).
    pub fn new() -> anyhow::Result<TestCertificate> {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])?;
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.into())?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TestCertificate {
            cert,
            server: Arc::new(server),
        })
    }

    /// A client configuration that trusts this certificate only.
    pub fn client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A running server. It stops with the runtime it was started on.
pub struct Server {
    /// `http(s)://127.0.0.1:<port>/mcp`.
    pub url: String,
    connections: Arc<AtomicU64>,
}

impl Server {
    /// Binds a free 127.0.0.1 port and serves it on the current runtime:
    /// http, or https with `tls`. With `authorization`, a request must
    /// carry that `Authorization` value (else 401).
    pub async fn start(
        tls: Option<&TestCertificate>,
        authorization: Option<&str>,
    ) -> anyhow::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/mcp", listener.local_addr()?);
        let connections = Arc::new(AtomicU64::new(0));
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone()));
        let expected: Option<Arc<str>> = authorization.map(Arc::from);
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let expected = expected.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let expected = expected.clone();
                        async move { Ok::<_, Infallible>(answer(req, expected.as_deref()).await) }
                    });
                    let builder = http1::Builder::new();
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        Ok(Server { url, connections })
    }

    /// How many connections the server accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// 200 with the response body to a `POST /mcp` with a body of
/// [`REQUEST_LEN`] bytes (and the expected credentials); 400, 401 or 404
/// otherwise.
async fn answer(
    req: hyper::Request<Incoming>,
    expected: Option<&str>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, body: Bytes| {
        let mut response = hyper::Response::new(Full::new(body));
        *response.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
        response
    };
    if req.method() != http::Method::POST || req.uri().path() != "/mcp" {
        return reply(404, Bytes::new());
    }
    if let Some(expected) = expected {
        let presented = req.headers().get(http::header::AUTHORIZATION);
        if presented.map(|v| v.as_bytes()) != Some(expected.as_bytes()) {
            return reply(401, Bytes::new());
        }
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return reply(400, Bytes::new()),
    };
    if body.len() != REQUEST_LEN {
        return reply(400, Bytes::new());
    }
    let mut response = reply(200, response_body());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_measured_lengths_and_are_json() {
        let request = request_body();
        let response = response_body();
        assert_eq!(request.len(), REQUEST_LEN);
        assert_eq!(response.len(), RESPONSE_LEN);
        let request: serde_json::Value = serde_json::from_slice(&request).unwrap();
        assert_eq!(request["method"], "tools/call");
        let response: serde_json::Value = serde_json::from_slice(&response).unwrap();
        assert_eq!(response["result"]["isError"], false);
    }
}
