//! `mcp-oauth-bench [--quick] [--check] [--load-only]`: the benchmarks and
//! the load run of issue 12 (`scripts/bench.sh` builds and runs it;
//! `--load-only` runs the load run alone, as CI does in a debug build: its
//! goals are about correctness, not speed).
//!
//! Prints, in order:
//! - `instantiation: …` and `memory: …` — an instance from the compiled
//!   component (instantiate + open a client), its linear memory;
//! - `whole flow: …` — from no token to a delivered `wrap-call` response
//!   against the mocks, with its round trips;
//! - per scheme (http, https): `hot-path ratio R (…)`, `native ratio R (…)`
//!   and `connections: C for N calls (…)`;
//! - `load: N calls, F failed, R refresh`, last.
//!
//! With `--check` it exits non-zero when a goal is missed: hot-path ratio
//! at most 1.10, native ratio at most 3, one connection for all `wrap-call`
//! calls, and a load run with 0 failed calls and 1 refresh. Without it,
//! only an error stops it with a non-zero status. `--quick` makes fewer
//! rounds. Numbers are medians; nothing is timed in a test.

mod flow;
mod hot;
mod load;
mod native;
mod passthrough;
mod sender;
mod server;
mod stats;

use stats::micros;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The goals of issue 12.
const HOT_PATH_GOAL: f64 = 1.10;
const NATIVE_GOAL: f64 = 3.0;

/// How much to measure.
struct Sizes {
    instances: usize,
    flows: usize,
    rounds: usize,
    calls: u32,
    load: load::Shape,
}

const QUICK: Sizes = Sizes {
    instances: 200,
    flows: 10,
    rounds: 5,
    calls: 500,
    load: load::Shape {
        tasks: 32,
        calls: 32,
        span: Duration::from_secs(4),
    },
};

const FULL: Sizes = Sizes {
    instances: 2000,
    flows: 50,
    rounds: 9,
    calls: 2000,
    load: load::Shape {
        tasks: 64,
        calls: 64,
        span: Duration::from_secs(6),
    },
};

/// A token for the hot path's server: random enough for a loopback run.
pub fn random_token() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut token = String::from("bench-");
    for i in 0..2u8 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(i);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

/// What went wrong: missed goals (fail only with `--check`) and errors
/// (always fail).
#[derive(Default)]
struct Outcome {
    missed: Vec<String>,
    errors: Vec<String>,
}

impl Outcome {
    fn goal(&mut self, met: bool, what: impl FnOnce() -> String) {
        if !met {
            self.missed.push(what());
        }
    }

    fn error(&mut self, section: &str, e: anyhow::Error) {
        println!("{section}: error: {e:#}");
        self.errors.push(format!("{section}: {e:#}"));
    }
}

/// `x` rounded to `digits` decimals.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut check = false;
    let mut load_only = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--check" => check = true,
            "--load-only" => load_only = true,
            other => {
                eprintln!(
                    "usage: mcp-oauth-bench [--quick] [--check] [--load-only] (unknown argument {other:?})"
                );
                return ExitCode::from(2);
            }
        }
    }
    match run(quick, load_only) {
        Ok(outcome) => {
            for e in &outcome.errors {
                eprintln!("error: {e}");
            }
            if check {
                for m in &outcome.missed {
                    eprintln!("check failed: {m}");
                }
            }
            if outcome.errors.is_empty() && (!check || outcome.missed.is_empty()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(quick: bool, load_only: bool) -> anyhow::Result<Outcome> {
    let sizes = if quick { &QUICK } else { &FULL };
    let mut outcome = Outcome::default();
    if load_only {
        let certificate = server::TestCertificate::new()?;
        let plug = Arc::new(sender::Plug::new(vec![certificate.cert.clone()])?);
        load(&plug, sizes, &mut outcome)?;
        return Ok(outcome);
    }
    // Servers (hot path, mocks) and clients on one current-thread runtime,
    // as the numbers were measured: no thread hand-off per request
    // (on this machine a wake-up of another thread costs more than a
    // kept-alive request).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let certificate = server::TestCertificate::new()?;
    let plug = Arc::new(sender::Plug::new(vec![certificate.cert.clone()])?);
    let runtime = mcp_oauth_host::harness::Runtime::embedded()?;
    let cache = match runtime.cache_outcome() {
        mcp_oauth_host::harness::CacheOutcome::Loaded(_) => "loaded from the cache",
        mcp_oauth_host::harness::CacheOutcome::Stored(_) => "compiled now, then cached",
        mcp_oauth_host::harness::CacheOutcome::Uncached(_) => "compiled now (no cache)",
    };
    println!(
        "mcp-oauth bench{}: {}; sender: {}; compiled component {cache}",
        if quick { " --quick" } else { "" },
        machine(),
        plug.describe()
    );

    // Instantiation and memory.
    let mut configured_memory = None;
    match rt.block_on(flow::instantiation(&plug, sizes.instances)) {
        Ok(i) => {
            println!(
                "instantiation: {:.1} µs median (instantiate + open client, {} instances of the compiled component)",
                micros(i.median),
                i.count
            );
            configured_memory = Some(i.memory);
        }
        Err(e) => outcome.error("instantiation", e),
    }

    // The whole flow against the mocks.
    let world = rt.block_on(mcp_oauth_mock::MockWorld::start(Default::default()))?;
    match rt.block_on(flow::whole_flow(&plug, &world, sizes.flows)) {
        Ok(f) => println!(
            "whole flow: {:.2} ms median ({} flows; no token to a delivered wrap-call response), {} round trips ({} by the component, {} by the user agent)",
            f.median.as_secs_f64() * 1e3,
            f.count,
            f.received,
            f.by_component,
            f.received.saturating_sub(f.by_component as usize)
        ),
        Err(e) => outcome.error("whole flow", e),
    }
    drop(world);

    // The hot path, over http and https.
    let pass_through = passthrough::PassThrough::new()?;
    for tls in [None, Some(&certificate)] {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let servers = match rt.block_on(hot::Servers::start(tls)) {
            Ok(s) => s,
            Err(e) => {
                outcome.error(&format!("hot path ({scheme})"), e);
                continue;
            }
        };
        let measured = rt.block_on(hot::run(
            &plug,
            &pass_through,
            &servers,
            tls,
            sizes.rounds,
            sizes.calls,
        ));
        match measured {
            Ok(h) => {
                // Judged as printed.
                let hot = round(h.wrap_call.as_secs_f64() / h.pass_through.as_secs_f64(), 2);
                let native = round(h.wrap_call.as_secs_f64() / h.native.as_secs_f64(), 1);
                println!(
                    "hot-path ratio {hot:.2} (wrap-call {:.1} µs, pass-through {:.1} µs, {})",
                    micros(h.wrap_call),
                    micros(h.pass_through),
                    h.scheme
                );
                println!(
                    "native ratio {native:.1} (wrap-call {:.1} µs, native kept-alive {:.1} µs, {})",
                    micros(h.wrap_call),
                    micros(h.native),
                    h.scheme
                );
                println!(
                    "connections: {} for {} calls ({})",
                    h.connections, h.wrap_calls, h.scheme
                );
                if let (Some(configured), "http") = (configured_memory, h.scheme) {
                    println!(
                        "memory: {} KiB linear memory per instance after configure, {} KiB after {} wrap-call calls",
                        configured / 1024,
                        h.memory_after / 1024,
                        h.wrap_calls
                    );
                }
                outcome.goal(hot <= HOT_PATH_GOAL, || {
                    format!("hot-path ratio {hot:.2} > {HOT_PATH_GOAL} ({scheme})")
                });
                outcome.goal(native <= NATIVE_GOAL, || {
                    format!("native ratio {native:.1} > {NATIVE_GOAL} ({scheme})")
                });
                outcome.goal(h.connections == 1, || {
                    format!(
                        "{} connections for {} calls, not 1 ({scheme})",
                        h.connections, h.wrap_calls
                    )
                });
            }
            Err(e) => outcome.error(&format!("hot path ({scheme})"), e),
        }
    }
    drop(rt);

    // The load run, last.
    load(&plug, sizes, &mut outcome)?;
    Ok(outcome)
}

/// The load run: prints its `load:` line and judges its goals.
fn load(plug: &Arc<sender::Plug>, sizes: &Sizes, outcome: &mut Outcome) -> anyhow::Result<()> {
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match load_rt.block_on(load::run(plug.clone(), sizes.load)) {
        Ok(l) => {
            for e in &l.errors {
                println!("load error: {e}");
            }
            println!(
                "load run: {} tasks × {} calls spread over {:.1} s (took {:.1} s), first access token lives {} s; \
                 renewals under the state lock: {} made, {} found made by another task, {} failed; \
                 {} authorizations; {} other grants",
                sizes.load.tasks,
                sizes.load.calls,
                sizes.load.span.as_secs_f64(),
                l.wall.as_secs_f64(),
                load::LIFETIME_SECS,
                l.renewed,
                l.renewed_by_another,
                l.renewal_failed,
                l.authorizations,
                l.other_grants
            );
            println!(
                "load: {} calls, {} failed, {} refresh",
                l.calls, l.failed, l.refresh_grants
            );
            outcome.goal(l.failed == 0, || format!("load: {} failed calls", l.failed));
            outcome.goal(l.refresh_grants == 1, || {
                format!("load: {} refresh grants, not 1", l.refresh_grants)
            });
        }
        Err(e) => {
            outcome.error("load", e);
        }
    }
    Ok(())
}
