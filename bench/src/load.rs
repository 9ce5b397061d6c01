//! The load run: concurrent tasks, each with its own instance of the
//! component, sharing one state file the way concurrent `mcp-oauth`
//! processes do — the CLI's `ComponentTransport` over
//! `mcp_oauth_host::state::Persistence`: the component does not redeem
//! refresh tokens itself (`host-renews`); before each request a token that
//! `token-status` calls renewable is renewed under the state file's lock,
//! after the newest state was read back, so that one task renews and the
//! others find the renewed token.
//!
//! The mock authorization server rotates refresh tokens and revokes the
//! whole family when one is used twice. Its access tokens live
//! [`LIFETIME_SECS`] seconds: the first token, obtained before the run
//! (a headless authorization, as a first `mcp-oauth connect` would), expires
//! in the middle of it. Tokens issued after that live an hour, so the run
//! sees exactly one expiry, whatever the machine's speed; the calls are
//! spread evenly over the run's span so that it lasts well past the expiry.

use crate::flow::initialize;
use crate::hot::client_config;
use crate::sender::Plug;
use anyhow::Context as _;
use mcp_oauth_cli::session::{ComponentTransport, Progress, UserAgent};
use mcp_oauth_host::harness::{FlowEvent, PendingAuthorization, Runtime, TokenInfo};
use mcp_oauth_host::net::OutgoingRequest;
use mcp_oauth_host::state::{Persistence, StateFile};
use mcp_oauth_mock::{Behaviour, MockWorld, Server};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first access token's lifetime.
pub const LIFETIME_SECS: u64 = 2;

/// What the tasks saw, counted as the transport reports it.
#[derive(Default)]
struct Tally {
    /// Renewals made by a task (a refresh-token grant it sent).
    renewed: AtomicU64,
    /// Renewals a task found done by another while it waited for the lock.
    renewed_by_another: AtomicU64,
    /// Renewals that failed.
    renewal_failed: AtomicU64,
    /// Authorizations a task needed a user for.
    authorizations: AtomicU64,
}

/// [`Progress`] that counts into a [`Tally`] (the transport reports
/// renewals as notes: their wording is `mcp_oauth_cli::session`'s).
struct Counting(Arc<Tally>);

impl Progress for Counting {
    fn event(&mut self, _: &FlowEvent) {}

    fn authorization_needed(&mut self, _: &PendingAuthorization, _: &UserAgent) {
        self.0.authorizations.fetch_add(1, Ordering::Relaxed);
    }

    fn authorized(&mut self, _: &TokenInfo) {}

    fn note(&mut self, line: &str) {
        let counter = if line.starts_with("token renewed without the user") {
            &self.0.renewed
        } else if line.starts_with("token renewed by another") {
            &self.0.renewed_by_another
        } else if line.starts_with("the token could not be renewed") {
            &self.0.renewal_failed
        } else {
            return;
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The shape of a load run.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Concurrent tasks.
    pub tasks: usize,
    /// Calls per task.
    pub calls: usize,
    /// How long the calls are spread over.
    pub span: Duration,
}

/// What a load run saw.
pub struct LoadRun {
    /// Calls made.
    pub calls: usize,
    /// Calls that failed (an error, or not a 200 with its body).
    pub failed: usize,
    /// Refresh-token grants the mock authorization server served during
    /// the run.
    pub refresh_grants: usize,
    /// Other grants it served during the run (authorization codes, ...).
    pub other_grants: usize,
    /// Renewals a task made (a refresh-token grant it sent).
    pub renewed: u64,
    /// Renewals a task found made by another under the lock.
    pub renewed_by_another: u64,
    /// Renewals that failed.
    pub renewal_failed: u64,
    /// Authorizations the tasks needed.
    pub authorizations: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// Up to three distinct failure messages.
    pub errors: Vec<String>,
}

/// A temporary state directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A transport like the CLI's with a state file: a fresh instance,
/// configured, with the file's state attached.
async fn transport(
    plug: &Plug,
    file: &StateFile,
    tally: &Arc<Tally>,
) -> anyhow::Result<ComponentTransport<Counting>> {
    let mut instance = Runtime::embedded()?
        .instantiate(plug.host_options(None))
        .await?;
    let config = mcp_oauth_host::harness::ClientConfig {
        host_renews: Some(true),
        ..client_config()
    };
    instance
        .configure(&config)
        .await?
        .map_err(|e| anyhow::anyhow!("configure refused: {e:?}"))?;
    let doc = file.read()?;
    let mut transport =
        ComponentTransport::new(instance, UserAgent::Headless, Counting(tally.clone()));
    let persistence = Persistence::attach(file.clone(), doc.as_ref(), transport.instance_mut())
        .await
        .context("attaching the state file")?;
    transport.set_persistence(persistence);
    Ok(transport)
}

/// One call through `transport`: `Ok(())` for a 200 with its body read.
async fn call(
    transport: &mut ComponentTransport<Counting>,
    request: &OutgoingRequest,
) -> Result<(), String> {
    let response = transport
        .open(request)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = response.status;
    let body = response
        .bytes(1 << 20)
        .await
        .map_err(|e| format!("reading the body: {e:#}"))?;
    if status != 200 || body.is_empty() {
        return Err(format!("status {status}, {} bytes", body.len()));
    }
    Ok(())
}

/// The refresh-token grants, and the other grants, among the requests the
/// mock authorization server received since its log was cleared.
fn grants(world: &MockWorld) -> (usize, usize) {
    let log = world.log();
    let tokens = log
        .iter()
        .filter(|r| r.server == Server::AuthorizationServer && r.path == "/token");
    let (refresh, other): (Vec<_>, Vec<_>) = tokens.partition(|r| {
        r.form_params()
            .iter()
            .any(|(k, v)| k == "grant_type" && v == "refresh_token")
    });
    (refresh.len(), other.len())
}

/// Keeps `error` among the first three distinct ones.
fn keep(errors: &Mutex<Vec<String>>, error: String) {
    let mut errors = errors.lock().unwrap_or_else(|e| e.into_inner());
    if errors.len() < 3 && !errors.contains(&error) {
        errors.push(error);
    }
}

/// Runs the load: must be called on a multi-threaded runtime.
pub async fn run(plug: Arc<Plug>, shape: Shape) -> anyhow::Result<LoadRun> {
    let world = MockWorld::start(Behaviour {
        token_lifetime_secs: LIFETIME_SECS,
        ..Behaviour::default()
    })
    .await?;
    let dir = TempDir(std::env::temp_dir().join(format!(
        "mcp-oauth-bench-{}-{}",
        std::process::id(),
        crate::random_token()
    )));
    let file = StateFile::new(dir.0.join("state"));
    let request = {
        let r = initialize(&world.mcp_url());
        OutgoingRequest {
            method: r.method,
            url: r.url,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (
                    "accept".into(),
                    "application/json, text/event-stream".into(),
                ),
            ],
            body: r.body,
        }
    };

    // Before the run: one authorization, stored in the state file.
    let tally = Arc::new(Tally::default());
    {
        let mut first = transport(&plug, &file, &tally).await?;
        call(&mut first, &request)
            .await
            .map_err(|e| anyhow::anyhow!("the first authorization failed: {e}"))?;
        first.save_state().await?;
    }
    world.set_behaviour(|b| b.token_lifetime_secs = 3600);
    world.clear_log();
    let tally = Arc::new(Tally::default());

    let started = Instant::now();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..shape.tasks {
        let plug = plug.clone();
        let file = file.clone();
        let tally = tally.clone();
        let request = request.clone();
        let errors = errors.clone();
        tasks.spawn(async move {
            let mut transport = match transport(&plug, &file, &tally).await {
                Ok(t) => t,
                Err(e) => {
                    keep(&errors, format!("setting up a task: {e:#}"));
                    return shape.calls;
                }
            };
            let mut failed = 0;
            for i in 0..shape.calls {
                let due = started + shape.span.mul_f64(i as f64 / shape.calls as f64);
                tokio::time::sleep_until(due.into()).await;
                if let Err(e) = call(&mut transport, &request).await {
                    failed += 1;
                    keep(&errors, e);
                }
            }
            if let Err(e) = transport.save_state().await {
                // Not a call: reported, not counted as a failed call.
                keep(&errors, format!("saving the state at the end: {e:#}"));
            }
            failed
        });
    }
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        failed += joined.context("a load task panicked")?;
    }
    let wall = started.elapsed();
    let (refresh_grants, other_grants) = grants(&world);
    let errors = errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(LoadRun {
        calls: shape.tasks * shape.calls,
        failed,
        refresh_grants,
        other_grants,
        renewed: tally.renewed.load(Ordering::Relaxed),
        renewed_by_another: tally.renewed_by_another.load(Ordering::Relaxed),
        renewal_failed: tally.renewal_failed.load(Ordering::Relaxed),
        authorizations: tally.authorizations.load(Ordering::Relaxed),
        wall,
        errors,
    })
}
