//! Times the hot path: `wrap-call`s of one instance to a loopback HTTP/1.1
//! server (keep-alive on) that reads the request and answers a small JSON
//! body, and counts the connections the server accepted.
//!
//! ```sh
//! cargo run --release -p mcp-oauth-host --example hot_path -- 2000
//! ```
//!
//! Prints the mean time per call (request sent, whole response read) and
//! the number of connections; with connections kept alive that is 1.
//!
//! Measured on a shared 2-core machine, release build at opt-level 2
//! without LTO (`CARGO_PROFILE_RELEASE_LTO=false
//! CARGO_PROFILE_RELEASE_OPT_LEVEL=2 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
//! CARGO_PROFILE_RELEASE_PANIC=unwind`; the workspace's release profile is
//! tuned for the component's size), 2,000 calls, four alternating runs each:
//! 80–83 µs per call and 2,050 connections with wasmtime-wasi-http's
//! default sender (a connection per request), 45 µs and 1 connection with
//! the [`Sender`](mcp_oauth_host::sender::Sender). Over https the default
//! sender also made a TLS handshake per request; not measured here.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use mcp_oauth_host::harness::{ClientConfig, HostOptions, HttpRequest, Runtime};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2_000,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Reads the request body first, as an MCP server does.
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async {
                        let _ = request.into_body().collect().await;
                        let body = Full::new(Bytes::from_static(br#"{"jsonrpc":"2.0","id":1}"#));
                        Ok::<_, Infallible>(http::Response::new(body))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });

    let runtime = Runtime::embedded()?;
    let mut instance = runtime.instantiate(HostOptions::default()).await?;
    let config = ClientConfig {
        timeout_ms: Some(5_000),
        ..ClientConfig::new("hot path", "http://127.0.0.1:9/callback")
    };
    instance
        .configure(&config)
        .await?
        .map_err(|e| anyhow::anyhow!("configuration refused: {e:?}"))?;
    let request = HttpRequest {
        method: "POST".into(),
        url,
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec(),
    };

    let mut call = async || -> anyhow::Result<()> {
        let response = instance
            .wrap_call(&request)
            .await?
            .map_err(|e| anyhow::anyhow!("wrap-call failed: {e:?}"))?;
        anyhow::ensure!(response.status == 200, "status {}", response.status);
        response.bytes(1 << 16).await?;
        Ok(())
    };
    // Warm up: the first call, and the allocator.
    for i in 0..50 {
        call()
            .await
            .map_err(|e| e.context(format!("warm-up call {i}")))?;
    }
    let warm = accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    for _ in 0..calls {
        call().await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{calls} wrap-calls: {:.1} µs per call; {} connections accepted ({} during warm-up)",
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        accepted.load(Ordering::SeqCst),
        warm,
    );
    Ok(())
}
