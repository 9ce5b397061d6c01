//! The hot path: the same request (96-byte body, 198-byte answer) to a
//! loopback server through `wrap-call` with a cached token, through the
//! pass-through component in the same host and with the same sender, and
//! natively with hyper over a kept-alive connection. Rounds of `calls`
//! calls of each in turn (the order rotates), the median of the rounds'
//! per-call times.
//!
//! "The same request" is the same bytes on the wire: the pass-through and
//! the native client send the `Authorization` header that `wrap-call`
//! adds (the caller of a pass-through would have to supply it), and each
//! server checks it. What the ratio measures is then the component's own
//! work — finding the token, deciding, building and reading the request —
//! not the cost of one more header on the wire and in the server.

use crate::native::NativeClient;
use crate::passthrough::{self, PassThrough};
use crate::sender::Plug;
use crate::server::{self, Server, TestCertificate, RESPONSE_LEN};
use crate::stats::median;
use anyhow::{bail, Context as _};
use bytes::Bytes;
use mcp_oauth_host::harness::{ClientConfig, HttpRequest, Instance, Runtime};
use std::time::{Duration, Instant};

/// What one hot-path run measured.
pub struct HotPath {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Median per-call time of `wrap-call`.
    pub wrap_call: Duration,
    /// Median per-call time through the pass-through component.
    pub pass_through: Duration,
    /// Median per-call time of the native kept-alive request.
    pub native: Duration,
    /// How many `wrap-call` calls were made (warm-up included).
    pub wrap_calls: u64,
    /// How many connections the `wrap-call` server accepted for them.
    pub connections: u64,
    /// The `wrap-call` instance's linear memory after its calls.
    pub memory_after: usize,
}

/// The three servers of a run: one per client, so each counts its own
/// connections.
pub struct Servers {
    wrap_call: Server,
    pass_through: Server,
    native: Server,
    /// The access token the servers want.
    token: String,
    /// `Bearer <token>`: the `Authorization` value every server checks and
    /// the pass-through and native clients send.
    authorization: String,
}

impl Servers {
    /// Starts them on the current runtime (http, or https with `tls`).
    pub async fn start(tls: Option<&TestCertificate>) -> anyhow::Result<Servers> {
        let token = crate::random_token();
        let authorization = format!("Bearer {token}");
        Ok(Servers {
            wrap_call: Server::start(tls, Some(&authorization)).await?,
            pass_through: Server::start(tls, Some(&authorization)).await?,
            native: Server::start(tls, Some(&authorization)).await?,
            token,
            authorization,
        })
    }
}

/// The benchmark's client configuration.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        timeout_ms: Some(10_000),
        // As the CLI and the proxy configure it: the harness's hooks limit
        // the wait for the response head, not a timer in the component.
        host_timeouts: Some(true),
        ..ClientConfig::new("mcp-oauth bench", "http://127.0.0.1:9/callback")
    }
}

/// A state document that holds `token`, valid for a day, for the server at
/// `url`: what `import-state` takes from a host that persisted a flow's
/// outcome (the token record a flow stores, the binding of the server to
/// its resource and issuer).
fn state_with_token(url: &str, token: &str) -> Vec<u8> {
    let now = mcp_oauth_host::state::unix_now();
    let issuer = "https://as.bench.invalid";
    serde_json::json!({
        "version": 2,
        "tokens": [{
            "resource": url,
            "issuer": issuer,
            "access_token": token,
            "token_type": "Bearer",
            "issued_at": now,
            "expires_at": now + 86_400,
        }],
        "bindings": {url: {"resource": url, "issuer": issuer}},
    })
    .to_string()
    .into_bytes()
}

/// A configured instance of the mcp-oauth component holding a token for
/// the `wrap-call` server.
async fn wrap_call_instance(plug: &Plug, servers: &Servers) -> anyhow::Result<Instance> {
    let mut instance = Runtime::embedded()?
        .instantiate(plug.host_options(None))
        .await?;
    instance
        .configure(&client_config())
        .await?
        .map_err(|e| anyhow::anyhow!("configure refused: {e:?}"))?;
    instance
        .import_state(&state_with_token(&servers.wrap_call.url, &servers.token))
        .await?
        .map_err(|e| anyhow::anyhow!("import-state refused: {e:?}"))?;
    Ok(instance)
}

/// Fails unless a call got 200 and the whole answer.
fn check(what: &str, status: u16, body_len: usize) -> anyhow::Result<()> {
    if status != 200 || body_len != RESPONSE_LEN {
        bail!("{what}: status {status}, {body_len} bytes (expected 200, {RESPONSE_LEN})");
    }
    Ok(())
}

/// The clients of a run.
struct Clients {
    wrap_call: Instance,
    wrap_request: HttpRequest,
    pass_through: passthrough::Instance,
    pass_request: passthrough::HttpRequest,
    native: NativeClient,
    body: Bytes,
    /// The `authorization` value the native client sends.
    authorization: String,
}

#[derive(Clone, Copy)]
enum Kind {
    WrapCall,
    PassThrough,
    Native,
}

impl Clients {
    async fn call(&mut self, kind: Kind) -> anyhow::Result<()> {
        match kind {
            Kind::WrapCall => {
                let response = self
                    .wrap_call
                    .wrap_call(&self.wrap_request)
                    .await?
                    .map_err(|e| anyhow::anyhow!("wrap-call failed: {e:?}"))?;
                let status = response.status;
                let body = response.bytes(1 << 20).await?;
                check("wrap-call", status, body.len())
            }
            Kind::PassThrough => {
                let (status, body) = self.pass_through.call(&self.pass_request).await?;
                check("pass-through", status, body.len())
            }
            Kind::Native => {
                let (status, body) = self.native.call(&self.body, &self.authorization).await?;
                check("native", status, body.len())
            }
        }
    }

    /// The mean time of `calls` calls of `kind`.
    async fn round(&mut self, kind: Kind, calls: u32) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for _ in 0..calls {
            self.call(kind).await?;
        }
        Ok(started.elapsed() / calls)
    }
}

/// Runs the hot path against `servers` (served by the current runtime):
/// `rounds` rounds of `calls` calls per client after a warm-up round.
pub async fn run(
    plug: &Plug,
    pass_through: &PassThrough,
    servers: &Servers,
    tls: Option<&TestCertificate>,
    rounds: usize,
    calls: u32,
) -> anyhow::Result<HotPath> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let body = server::request_body();
    let native_tls = tls.map(TestCertificate::client_config).transpose()?;
    let authorization = servers.authorization.clone();
    let mut clients = Clients {
        wrap_call: wrap_call_instance(plug, servers).await?,
        wrap_request: HttpRequest::mcp_post(servers.wrap_call.url.as_str(), body.to_vec()),
        pass_through: pass_through.instantiate(plug.hooks()).await?,
        pass_request: passthrough::request(&servers.pass_through.url, &body, &authorization),
        native: NativeClient::connect(&servers.native.url, native_tls)
            .await
            .context("connecting the native client")?,
        body,
        authorization,
    };
    let kinds = [Kind::WrapCall, Kind::PassThrough, Kind::Native];
    let warm_up = (calls / 4).max(1);
    for kind in kinds {
        clients.round(kind, warm_up).await?;
    }
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for round in 0..rounds {
        for i in 0..kinds.len() {
            let k = (round + i) % kinds.len();
            samples[k].push(clients.round(kinds[k], calls).await?);
        }
    }
    Ok(HotPath {
        scheme,
        wrap_call: median(&mut samples[0]),
        pass_through: median(&mut samples[1]),
        native: median(&mut samples[2]),
        wrap_calls: u64::from(warm_up) + rounds as u64 * u64::from(calls),
        connections: servers.wrap_call.connections(),
        memory_after: clients.wrap_call.memory_bytes(),
    })
}
