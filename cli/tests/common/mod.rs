//! What the tests of the `mcp-oauth` binary (cli.rs, persistence.rs) share:
//! the binary without the caller's secrets, what a run printed, paths no
//! other test uses, and the mock servers.

use mcp_oauth_mock::{Behaviour, MockWorld};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The secret variables `connect` reads.
const SECRET_VARS: [&str; 4] = [
    "MCP_OAUTH_CLIENT_SECRET",
    "MCP_OAUTH_ASSERTION",
    "MCP_OAUTH_ID_TOKEN",
    "MCP_OAUTH_IDP_CLIENT_SECRET",
];

/// The `mcp-oauth` binary with `args`, and without the secret variables
/// `connect` reads, so the host's don't leak in (a test sets its own).
pub fn mcp_oauth_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    for var in SECRET_VARS {
        command.env_remove(var);
    }
    command.args(args);
    command
}

/// What a run printed.
#[derive(Debug)]
pub struct Run {
    /// Whether it exited successfully.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    /// The exit status and the output (as text) of a finished run.
    pub fn of(out: Output) -> Run {
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A path in the temporary directory that no other test uses, in this
/// process or another: `name`, the process id and a counter.
pub fn unique_temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Starts the mock servers with the default behaviour as `change` alters
/// it.
pub async fn world_with(change: impl FnOnce(&mut Behaviour)) -> MockWorld {
    let mut behaviour = Behaviour::default();
    change(&mut behaviour);
    MockWorld::start(behaviour).await.unwrap()
}
