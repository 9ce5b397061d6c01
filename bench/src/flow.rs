//! Instantiation, memory per instance, and the whole flow against the
//! mocks.

use crate::hot::client_config;
use crate::sender::Plug;
use crate::stats::median;
use anyhow::{bail, Context as _};
use mcp_oauth_host::agent::follow_headless;
use mcp_oauth_host::harness::{AuthError, Exchange, HttpRequest, Observer, Runtime};
use mcp_oauth_mock::MockWorld;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instantiation from the compiled component.
pub struct Instantiation {
    /// Median time of instantiate + open a client (`configure`).
    pub median: Duration,
    /// How many instances were made.
    pub count: usize,
    /// Linear memory of an instance after `configure`.
    pub memory: usize,
}

/// Instantiates the embedded component `count` times, each followed by
/// `configure` (which opens the client), and times each.
pub async fn instantiation(plug: &Plug, count: usize) -> anyhow::Result<Instantiation> {
    let runtime = Runtime::embedded()?;
    let config = client_config();
    let mut samples = Vec::with_capacity(count);
    let mut memory = 0;
    for _ in 0..count {
        let options = plug.host_options(None);
        let started = Instant::now();
        let mut instance = runtime.instantiate(options).await?;
        instance
            .configure(&config)
            .await?
            .map_err(|e| anyhow::anyhow!("configure refused: {e:?}"))?;
        samples.push(started.elapsed());
        memory = instance.memory_bytes();
    }
    Ok(Instantiation {
        median: median(&mut samples),
        count,
        memory,
    })
}

/// The whole flow, from no token to a delivered response.
pub struct WholeFlow {
    /// Median time.
    pub median: Duration,
    /// How many flows were run.
    pub count: usize,
    /// Requests the component sent in one flow (its observer's count).
    pub by_component: u64,
    /// Requests the mock servers received in one flow (the component's and
    /// the user agent's).
    pub received: usize,
}

/// A JSON-RPC `initialize` to `url`, the request of the whole flow.
pub fn initialize(url: &str) -> HttpRequest {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "mcp-oauth bench", "version": "0"}},
    });
    HttpRequest::mcp_post(url, body.to_string().into_bytes())
}

/// Runs `count` whole flows against `world`, each in a fresh instance:
/// `wrap-call` (401), discovery, registration, authorization by the
/// headless user agent, code exchange, the call again; timed from the
/// first `wrap-call` to the response body read. Every flow must make the
/// same number of requests.
pub async fn whole_flow(plug: &Plug, world: &MockWorld, count: usize) -> anyhow::Result<WholeFlow> {
    let runtime = Runtime::embedded()?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let observer: Observer = Arc::new(move |e: &Exchange| {
        if !e.finished {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let request = initialize(&world.mcp_url());
    let mut samples = Vec::with_capacity(count);
    let mut counts = None;
    for _ in 0..count {
        let mut instance = runtime
            .instantiate(plug.host_options(Some(observer.clone())))
            .await?;
        instance
            .configure(&client_config())
            .await?
            .map_err(|e| anyhow::anyhow!("configure refused: {e:?}"))?;
        world.clear_log();
        let sent_before = sent.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut authorized = false;
        let status = loop {
            match instance.wrap_call(&request).await? {
                Ok(response) => {
                    let status = response.status;
                    response.bytes(1 << 20).await?;
                    break status;
                }
                Err(AuthError::AuthorizationRequired(pending)) if !authorized => {
                    authorized = true;
                    let callback =
                        follow_headless(&pending.authorization_url, &pending.redirect_uri)
                            .await
                            .context("the headless user agent")?;
                    instance
                        .complete_authorization(&callback)
                        .await?
                        .map_err(|e| anyhow::anyhow!("complete-authorization: {e:?}"))?;
                }
                Err(e) => bail!("wrap-call failed: {e:?}"),
            }
        };
        samples.push(started.elapsed());
        if status != 200 || !authorized {
            bail!("the flow ended with {status} (authorized: {authorized})");
        }
        let this = (
            sent.load(Ordering::Relaxed) - sent_before,
            world.log().len(),
        );
        if counts.is_some_and(|c| c != this) {
            bail!("flows made different requests: {counts:?} then {this:?}");
        }
        counts = Some(this);
    }
    let (by_component, received) = counts.unwrap_or_default();
    Ok(WholeFlow {
        median: median(&mut samples),
        count,
        by_component,
        received,
    })
}
