//! The CLI's state file, end to end: the `mcp-oauth` binary against the
//! mock servers, counting what reaches them in the mock's request log.
//!
//! - a second connect with a fresh token sends only MCP requests; a third
//!   with an expired one adds exactly one refresh request;
//! - a refresh token that was already used (the family is revoked) leads to
//!   exactly one new authorization;
//! - two processes that start together on one stale state redeem the
//!   refresh token once; three that start with no state register and
//!   authorize once;
//! - a format version 1 file still loads; a corrupt or newer one is refused
//!   by name and left as it is;
//! - `status` never prints a secret, `logout` removes what it says, the
//!   file has mode 0600.
//!
//! Expiry is simulated by moving the stored `expires_at` into the past, as
//! the clock would.

mod common;

use common::{mcp_oauth_command, unique_temp_path, world_with, Run};
use mcp_oauth_host::state::StateFile;
use mcp_oauth_mock::{Behaviour, LoggedRequest, MockWorld, Server};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A temporary directory, removed when dropped. The state directory is a
/// subdirectory the CLI creates.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = unique_temp_path(&format!("mcp-oauth-persistence-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The state directory (not created yet).
    fn state_dir(&self) -> PathBuf {
        self.0.join("state")
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    fn read_state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_file()).unwrap()).unwrap()
    }

    fn write_state(&self, doc: &Value) {
        std::fs::create_dir_all(self.state_dir()).unwrap();
        std::fs::write(self.state_file(), serde_json::to_vec(doc).unwrap()).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with `args` and the state directory `state_dir` (given as
/// an option; the environment's is removed).
fn command(args: &[&str], state_dir: &Path) -> Command {
    let mut command = mcp_oauth_command(args);
    command
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("MCP_OAUTH_STATE_DIR");
    command
}

/// Runs the binary off the async runtime (the mocks run on it).
async fn run(args: &[&str], state_dir: &Path) -> Run {
    let mut command = command(args, state_dir);
    let out = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap();
    Run::of(out)
}

async fn connect(world: &MockWorld, dir: &TempDir) -> Run {
    let url = world.mcp_url();
    let run = run(&["connect", &url, "--headless"], &dir.state_dir()).await;
    assert!(run.ok, "connect failed:\n{}\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// The requests of one connect, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// MCP requests (to the MCP endpoint).
    mcp: usize,
    /// Protected resource and authorization server metadata.
    discovery: usize,
    /// Dynamic client registration.
    registration: usize,
    /// Visits of the authorization endpoint (one per authorization).
    authorization: usize,
    /// Token requests with the authorization code grant.
    code: usize,
    /// Token requests with the refresh token grant.
    refresh: usize,
    /// Anything else.
    other: usize,
}

impl Counts {
    fn of(log: &[LoggedRequest]) -> Counts {
        let mut c = Counts::default();
        for r in log {
            let grant = || {
                r.form_params()
                    .into_iter()
                    .find(|(n, _)| n == "grant_type")
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            };
            match (r.server, r.path.as_str()) {
                (Server::Mcp, "/mcp") => c.mcp += 1,
                (_, p) if p.starts_with("/.well-known/") => c.discovery += 1,
                (Server::AuthorizationServer, "/register") => c.registration += 1,
                (Server::AuthorizationServer, "/authorize") => c.authorization += 1,
                (Server::AuthorizationServer, "/token") if grant() == "authorization_code" => {
                    c.code += 1
                }
                (Server::AuthorizationServer, "/token") if grant() == "refresh_token" => {
                    c.refresh += 1
                }
                _ => c.other += 1,
            }
        }
        c
    }

    fn total(&self) -> usize {
        self.mcp
            + self.discovery
            + self.registration
            + self.authorization
            + self.code
            + self.refresh
            + self.other
    }

    /// Only MCP requests.
    fn only_mcp(&self) -> bool {
        self.mcp > 0 && self.total() == self.mcp
    }
}

/// The counts since the last call, emptying the log.
fn take_counts(world: &MockWorld) -> Counts {
    let counts = Counts::of(&world.log());
    world.clear_log();
    counts
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Moves every stored token's expiry into the past, as time would.
fn expire_tokens(dir: &TempDir) {
    let mut doc = dir.read_state();
    for t in doc["tokens"].as_array_mut().unwrap() {
        t["expires_at"] = (unix_now() - 10).into();
    }
    dir.write_state(&doc);
}

/// Every secret value in a state document: tokens, client secrets, keys.
fn secrets(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for t in doc["tokens"].as_array().into_iter().flatten() {
        for name in ["access_token", "refresh_token"] {
            out.extend(t[name].as_str().map(str::to_string));
        }
    }
    for c in doc["clients"].as_object().into_iter().flatten() {
        out.extend(c.1["client_secret"].as_str().map(str::to_string));
    }
    out.extend(doc["dpop_key"].as_str().map(str::to_string));
    out
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_token_is_reused_and_an_expired_one_refreshed_once() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let dir = TempDir::new("counts");

    let first = connect(&world, &dir).await;
    let first_counts = take_counts(&world);
    assert!(first.stdout.contains("state: none yet"), "{}", first.stdout);
    assert_eq!(
        (
            first_counts.registration,
            first_counts.authorization,
            first_counts.code,
            first_counts.refresh
        ),
        (1, 1, 1, 0),
        "{first_counts:?}"
    );
    assert!(first_counts.discovery >= 2, "{first_counts:?}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.state_file()), 0o600);
        assert_eq!(mode(&dir.state_dir()), 0o700);
    }
    let doc = dir.read_state();
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["tokens"].as_array().unwrap().len(), 1);

    // Restart with a fresh token: only MCP requests.
    let second = connect(&world, &dir).await;
    let second_counts = take_counts(&world);
    assert!(second_counts.only_mcp(), "{second_counts:?}");
    assert!(!second.stdout.contains("authorization completed"));
    assert!(!second.stdout.contains("token renewed"));
    // Nothing changed, so nothing was written.
    assert_eq!(dir.read_state(), doc);

    // Restart after expiry: one refresh request, nothing else of auth.
    expire_tokens(&dir);
    let third = connect(&world, &dir).await;
    let third_counts = take_counts(&world);
    assert_eq!(
        third_counts,
        Counts {
            mcp: second_counts.mcp,
            refresh: 1,
            ..Counts::default()
        },
        "{}",
        third.stdout
    );
    assert!(
        third.stdout.contains("token renewed without the user"),
        "{}",
        third.stdout
    );
    let after = dir.read_state();
    let token = &after["tokens"][0];
    assert!(token["expires_at"].as_u64().unwrap() > unix_now() + 3000);
    assert_ne!(token["refresh_token"], doc["tokens"][0]["refresh_token"]);
    #[cfg(unix)]
    assert_eq!(mode(&dir.state_file()), 0o600);

    // For the closing note.
    eprintln!("request counts: first {first_counts:?}");
    eprintln!("request counts: second {second_counts:?}");
    eprintln!("request counts: third {third_counts:?}");
}

/// The mock servers and a state directory `name` after one connect to
/// them, its token expired: the next connect refreshes it.
async fn stale_state(name: &str) -> (MockWorld, TempDir) {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let dir = TempDir::new(name);
    connect(&world, &dir).await;
    expire_tokens(&dir);
    (world, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_used_twice_leads_to_one_new_authorization() {
    let (world, dir) = stale_state("invalid-grant").await;
    // A copy of the state as it is now, with the refresh token about to be
    // redeemed (a backup, or a process that kept it).
    let old = dir.read_state();
    connect(&world, &dir).await;
    assert_eq!(take_counts(&world).refresh, 1);
    // The old refresh token is presented again: the server revokes the
    // whole family (invalid_grant) and the user authorizes once more.
    dir.write_state(&old);
    let run = connect(&world, &dir).await;
    let counts = take_counts(&world);
    assert_eq!(
        (
            counts.refresh,
            counts.authorization,
            counts.code,
            counts.registration
        ),
        (1, 1, 1, 0),
        "{counts:?}\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the token could not be renewed")
            && run.stdout.contains("invalid_grant"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("authorization completed"),
        "{}",
        run.stdout
    );
    // The new token is kept: the next connect needs nothing.
    connect(&world, &dir).await;
    assert!(take_counts(&world).only_mcp());
}

/// Starts the binary with piped output; each stdout line goes to `lines`
/// tagged with `id`.
fn spawn_connect(
    url: &str,
    state_dir: &Path,
    id: usize,
    lines: mpsc::Sender<(usize, String)>,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut child = command(&["connect", url, "--headless"], state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((id, line));
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    (child, errors)
}

/// Starts `n` connects to `url` on `state_dir` together while the test
/// holds the state lock, releases it once every process says it waits for
/// it, and returns what each printed.
async fn connect_together(n: usize, url: &str, state_dir: &Path) -> Vec<Run> {
    let url = url.to_string();
    let state_dir = state_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let lock = StateFile::new(&state_dir).lock().unwrap();
        let (tx, rx) = mpsc::channel();
        let children: Vec<_> = (0..n)
            .map(|id| spawn_connect(&url, &state_dir, id, tx.clone()))
            .collect();
        drop(tx);
        let mut stdout = vec![String::new(); n];
        let mut waiting = vec![false; n];
        let deadline = Instant::now() + Duration::from_secs(120);
        while !waiting.iter().all(|w| *w) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((id, line)) => {
                    waiting[id] |= line.contains("waiting for another mcp-oauth process");
                    stdout[id].push_str(&line);
                    stdout[id].push('\n');
                }
                Err(_) => panic!("the processes did not all wait for the lock:\n{stdout:?}"),
            }
        }
        drop(lock);
        let mut results = Vec::new();
        for (mut child, errors) in children {
            let status = child.wait().unwrap();
            results.push((status.success(), errors.join().unwrap()));
        }
        for (id, line) in rx {
            stdout[id].push_str(&line);
            stdout[id].push('\n');
        }
        let runs: Vec<Run> = results
            .into_iter()
            .zip(stdout)
            .map(|((ok, stderr), stdout)| Run { ok, stdout, stderr })
            .collect();
        for run in &runs {
            assert!(run.ok, "a process failed:\n{}\n{}", run.stdout, run.stderr);
        }
        runs
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_stale_state_refresh_once() {
    let (world, dir) = stale_state("race").await;
    take_counts(&world);
    // The test holds the lock until both processes have seen the stale
    // token and wait for it: both would refresh without it.
    let outputs = connect_together(2, &world.mcp_url(), &dir.state_dir()).await;
    let counts = take_counts(&world);
    assert_eq!(counts.refresh, 1, "{counts:?}");
    assert_eq!(
        counts.total(),
        counts.mcp + 1,
        "only MCP requests and one refresh: {counts:?}"
    );
    let renewed = |needle: &str| outputs.iter().filter(|r| r.stdout.contains(needle)).count();
    assert_eq!(renewed("token renewed without the user"), 1, "{outputs:?}");
    assert_eq!(
        renewed("token renewed by another mcp-oauth process"),
        1,
        "{outputs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_started_together_register_and_authorize_once() {
    // Desktop MCP hosts start several instances at once: without a token,
    // each takes the lock before it sends, so the first registers and
    // authorizes and the others find its token.
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let dir = TempDir::new("first-together");
    std::fs::create_dir_all(dir.state_dir()).unwrap();
    let outputs = connect_together(3, &world.mcp_url(), &dir.state_dir()).await;
    let counts = take_counts(&world);
    assert_eq!(
        (counts.registration, counts.authorization, counts.code),
        (1, 1, 1),
        "{counts:?}\n{outputs:?}"
    );
    let authorized = outputs
        .iter()
        .filter(|r| r.stdout.contains("authorization completed"))
        .count();
    assert_eq!(authorized, 1, "{outputs:?}");
}

/// `V1_DOCUMENT` of core/src/store.rs: a state file of format version 1.
const V1_DOCUMENT: &str = r#"{"version":1,"clients":{"https://a2.example.com/t":{"client_id":"pub","auth_method":"none","redirect_uri":"http://127.0.0.1:8976/callback"},"https://as.example.com":{"client_id":"cid","client_secret":"csecret","auth_method":"client_secret_basic","redirect_uri":"http://127.0.0.1:8976/callback","secret_expires_at":1900000000}},"tokens":[{"resource":"https://mcp.example.com/mcp","issuer":"https://as.example.com","access_token":"AT \"q\" \\ é","token_type":"Bearer","expires_at":1800003600,"refresh_token":"RT","scope":"mcp:basic mcp:read"},{"resource":"https://mcp2.example.com","issuer":"https://a2.example.com/t","access_token":"AT2","token_type":"Bearer"}],"bindings":{"https://mcp.example.com/mcp":{"resource":"https://mcp.example.com/mcp","issuer":"https://as.example.com"},"https://mcp2.example.com/x?y=1":{"resource":"https://mcp2.example.com","issuer":"https://a2.example.com/t"}},"metadata":{"https://a2.example.com/t":{"metadata":{"issuer":"https://a2.example.com/t","authorization_endpoint":"https://a2.example.com/t/a","token_endpoint":"https://a2.example.com/t/tok","code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":false},"fetched_at":1799999999},"https://as.example.com":{"metadata":{"issuer":"https://as.example.com","authorization_endpoint":"https://as.example.com/authorize","token_endpoint":"https://as.example.com/token","registration_endpoint":"https://as.example.com/register","response_types_supported":["code"],"code_challenge_methods_supported":["S256"],"token_endpoint_auth_methods_supported":["none","client_secret_basic"],"scopes_supported":["mcp:basic","mcp:read"],"authorization_response_iss_parameter_supported":true},"fetched_at":1800000000}}}"#;

/// A version 2 document as version 1 wrote it: no token endpoint or grant
/// in tokens, no DPoP key.
fn as_version_1(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc["version"] = 1.into();
    for t in doc["tokens"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        t.remove("token_endpoint");
        t.remove("grant_type");
    }
    doc.as_object_mut().unwrap().remove("dpop_key");
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_state_file_still_loads() {
    // The reference document: status reads it (through the component,
    // which reads every older format version).
    let dir = TempDir::new("v1");
    std::fs::create_dir_all(dir.state_dir()).unwrap();
    std::fs::write(dir.state_file(), V1_DOCUMENT).unwrap();
    let status = run(&["status"], &dir.state_dir()).await;
    assert!(status.ok, "{}\n{}", status.stdout, status.stderr);
    for needle in [
        "https://mcp.example.com/mcp",
        "issuer    https://as.example.com",
        "scope mcp:basic mcp:read, refresh token held",
        "https://mcp2.example.com/x?y=1",
        "client id cid (client_secret_basic, client secret held)",
    ] {
        assert!(
            status.stdout.contains(needle),
            "{needle}:\n{}",
            status.stdout
        );
    }
    assert!(!status.stdout.contains("csecret") && !status.stdout.contains("AT2"));

    // A real one: version 1 of the mock's state loads, its fresh token is
    // used as it is, its expired one refreshed through the token endpoint
    // of the cached metadata.
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let dir = TempDir::new("v1-mock");
    connect(&world, &dir).await;
    take_counts(&world);
    dir.write_state(&as_version_1(&dir.read_state()));
    connect(&world, &dir).await;
    assert!(take_counts(&world).only_mcp());
    expire_tokens(&dir);
    dir.write_state(&as_version_1(&dir.read_state()));
    connect(&world, &dir).await;
    let counts = take_counts(&world);
    assert_eq!(
        (counts.refresh, counts.total() - counts.mcp),
        (1, 1),
        "{counts:?}"
    );
    // Written back in the current version.
    let doc = dir.read_state();
    assert_eq!(doc["version"], 2);
    assert!(doc["tokens"][0]["token_endpoint"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_no_secret_and_logout_removes_what_it_says() {
    let world = world_with(|b| b.dpop = true).await;
    let dir = TempDir::new("status");
    let url = world.mcp_url();
    let issuer = world.issuer();
    connect(&world, &dir).await;
    let doc = dir.read_state();
    let secrets = secrets(&doc);
    assert!(secrets.len() >= 3, "{secrets:?}");

    let status = run(&["status"], &dir.state_dir()).await;
    assert!(status.ok, "{}", status.stderr);
    for needle in [
        format!("  {url}\n"),
        format!("    resource  {url}\n"),
        format!("    issuer    {issuer}\n"),
        "DPoP, expires ".to_string(),
        "refresh token held".to_string(),
        format!("registered clients:\n  {issuer}\n    client id mock-client-"),
        "a DPoP key is held".to_string(),
    ] {
        assert!(
            status.stdout.contains(&needle),
            "{needle:?}:\n{}",
            status.stdout
        );
    }
    assert!(
        status.stdout.contains("(in 59 min)") || status.stdout.contains("(in 60 min)"),
        "{}",
        status.stdout
    );
    for secret in &secrets {
        assert!(
            !status.stdout.contains(secret.as_str()) && !status.stderr.contains(secret.as_str()),
            "status printed a secret:\n{}",
            status.stdout
        );
    }

    // Another server's URL: nothing to remove, nothing changed.
    let other = run(&["logout", "http://127.0.0.1:9/mcp"], &dir.state_dir()).await;
    assert!(other.ok, "{}", other.stderr);
    assert!(
        other.stdout.contains(&format!(
            "nothing stored for http://127.0.0.1:9/mcp (servers stored: {url})"
        )),
        "{}",
        other.stdout
    );
    assert_eq!(dir.read_state(), doc);

    let logout = run(&["logout", &url], &dir.state_dir()).await;
    assert!(logout.ok, "{}", logout.stderr);
    assert!(
        logout
            .stdout
            .contains(&format!("  the token for {url} from {issuer}\n"))
            && logout
                .stdout
                .contains(&format!("  the binding of {url} to"))
            && logout.stdout.contains("kept: 1 client registration(s)"),
        "{}",
        logout.stdout
    );
    let after = dir.read_state();
    assert_eq!(after["tokens"], serde_json::json!([]));
    assert_eq!(after["bindings"], serde_json::json!({}));
    assert_eq!(after["clients"], doc["clients"]);
    #[cfg(unix)]
    assert_eq!(mode(&dir.state_file()), 0o600);
    let status = run(&["status"], &dir.state_dir()).await;
    assert!(status.stdout.contains("servers: none"), "{}", status.stdout);
    let again = run(&["logout"], &dir.state_dir()).await;
    assert!(
        again.stdout.contains("no tokens stored"),
        "{}",
        again.stdout
    );

    // The next connect authorizes again, with the kept registration.
    take_counts(&world);
    connect(&world, &dir).await;
    let counts = take_counts(&world);
    assert_eq!(
        (counts.registration, counts.authorization, counts.code),
        (0, 1, 1),
        "{counts:?}"
    );
    let all = run(&["logout"], &dir.state_dir()).await;
    assert!(
        all.stdout
            .contains(&format!("  the token for {url} from {issuer}\n")),
        "{}",
        all.stdout
    );
    assert_eq!(dir.read_state()["tokens"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_state_files_are_refused_by_name_and_left_alone() {
    let world = MockWorld::start(Behaviour::default()).await.unwrap();
    let url = world.mcp_url();
    for (content, expected) in [
        (
            &b"{\"version\":2,\"tokens\":"[..],
            "is not a valid state document",
        ),
        (b"\x00\xffbinary", "is not a valid state document"),
        (b"[1,2]", "not a JSON object"),
        (br#"{"version":2,"tokens":[{"resource":"r"}]}"#, "issuer"),
        (
            br#"{"version":3,"tokens":[],"new":"member"}"#,
            "state version 3 is not supported (this component reads 1..=2)",
        ),
    ] {
        let dir = TempDir::new("unusable");
        std::fs::create_dir_all(dir.state_dir()).unwrap();
        std::fs::write(dir.state_file(), content).unwrap();
        let path = dir.state_file().display().to_string();
        for args in [
            vec!["connect", url.as_str(), "--headless"],
            vec!["status"],
            vec!["logout"],
            vec!["logout", url.as_str()],
        ] {
            let run = run(&args, &dir.state_dir()).await;
            // The component checks entries the host does not read.
            if !run.ok || args[0] == "connect" {
                assert!(!run.ok, "{args:?} accepted {content:?}:\n{}", run.stdout);
                assert!(
                    run.stderr.contains(&path) && run.stderr.contains(expected),
                    "{args:?} {content:?}: {}",
                    run.stderr
                );
                assert!(run.stderr.contains("left as it is"), "{}", run.stderr);
                assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            }
            assert_eq!(std::fs::read(dir.state_file()).unwrap(), content);
        }
        // Nothing was sent.
        assert_eq!(take_counts(&world).total(), 0, "{content:?}");
    }
}
