//! The native baseline: the benchmark's request sent with hyper over one
//! kept-alive connection (http, or https with rustls), no component.

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;

/// One connection to a loopback server, kept alive across requests.
pub struct NativeClient {
    sender: SendRequest<Full<Bytes>>,
    /// The request target (origin form: path and query).
    path: http::Uri,
    authority: String,
}

impl NativeClient {
    /// Connects to `url` (`http(s)://127.0.0.1:<port>/…`); https trusts
    /// what `tls` trusts.
    pub async fn connect(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<NativeClient> {
        let uri: http::Uri = url.parse()?;
        let authority = uri.authority().context("no authority")?.to_string();
        let stream = TcpStream::connect(&authority).await?;
        stream.set_nodelay(true)?;
        let sender = match tls {
            Some(config) => {
                let host = uri.host().context("no host")?.to_string();
                let name = ServerName::try_from(host)?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                sender
            }
            None => {
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                sender
            }
        };
        let path = uri.path_and_query().context("no path")?.as_str().parse()?;
        Ok(NativeClient {
            sender,
            path,
            authority,
        })
    }

    /// Sends `POST` with `body` (JSON) and the `authorization` value, and
    /// reads the whole answer: its status and body.
    pub async fn call(
        &mut self,
        body: &Bytes,
        authorization: &str,
    ) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = http::Request::post(self.path.clone())
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header(http::header::AUTHORIZATION, authorization)
            .body(Full::new(body.clone()))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        if status != 200 {
            bail!("native request answered {status}");
        }
        Ok((status, body))
    }
}
