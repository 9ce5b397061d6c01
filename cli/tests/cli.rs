//! The `mcp-oauth` binary as a user runs it.

use mcp_oauth_mock::{Behaviour, MockWorld};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The secret variables `connect` reads; removed unless a test sets them.
const SECRET_VARS: [&str; 4] = [
    "MCP_OAUTH_CLIENT_SECRET",
    "MCP_OAUTH_ASSERTION",
    "MCP_OAUTH_ID_TOKEN",
    "MCP_OAUTH_IDP_CLIENT_SECRET",
];

fn mcp_oauth(args: &[&str]) -> (bool, String, String) {
    mcp_oauth_with(args, &[])
}

/// Runs the binary with `args` and the secret variables `vars`, with a
/// state directory of its own (never the user's), removed afterwards.
fn mcp_oauth_with(args: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let state_dir = std::env::temp_dir().join(format!(
        "mcp-oauth-cli-test-state-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    for var in SECRET_VARS {
        command.env_remove(var);
    }
    let out = command
        .args(args)
        .env("MCP_OAUTH_STATE_DIR", &state_dir)
        .envs(vars.iter().copied())
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&state_dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_shows_every_step_and_no_secret() {
    let (ok, stdout, stderr) = mcp_oauth(&["demo"]);
    assert!(ok, "demo failed:\n{stdout}\n{stderr}");
    for step in [
        "→ 401   the MCP server wants authorization",
        "→ 200   protected resource metadata found",
        "→ 200   authorization server metadata found",
        "→ 201   client registered",
        "the headless user agent follows",
        "→ 200   token obtained",
        "authorization completed: Bearer token",
        "→ tools/list",
        "echo",
        "→ tools/call add",
        "  42",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    // Tokens from the mock start with these prefixes; codes travel only in
    // the callback URL, which is never printed.
    for secret in [
        "mock-at-",
        "mock-rt-",
        "code=",
        "code_verifier",
        "client_secret",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed:\n{stdout}\n{stderr}"
        );
    }
}

#[test]
fn usage_and_bad_arguments_are_clear() {
    let (ok, stdout, _) = mcp_oauth(&["--help"]);
    assert!(ok);
    for command in ["demo", "connect", "status", "logout", "conformance"] {
        assert!(
            stdout.contains(command),
            "{command} missing from --help:\n{stdout}"
        );
    }
    let (ok, stdout, _) = mcp_oauth(&["connect", "--help"]);
    assert!(ok);
    assert!(
        stdout.contains("Usage: mcp-oauth connect [OPTIONS] <URL>"),
        "{stdout}"
    );
    let (ok, _, stderr) = mcp_oauth(&["connect"]);
    assert!(!ok);
    assert!(
        stderr.contains("the following required arguments were not provided")
            && stderr.contains("<URL>"),
        "{stderr}"
    );
    let (ok, _, stderr) = mcp_oauth(&["connect", "http://127.0.0.1:9/mcp", "--args", "{not json"]);
    assert!(!ok);
    assert!(stderr.contains("for '--args <JSON>': not JSON"), "{stderr}");
    let (ok, _, stderr) = mcp_oauth(&["frobnicate"]);
    assert!(!ok);
    assert!(
        stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{stderr}"
    );
}

#[test]
fn connect_to_a_dead_server_fails_with_the_url_and_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let (ok, _, stderr) = mcp_oauth(&["connect", &url, "--headless"]);
    assert!(!ok);
    assert!(
        stderr.contains(&url) && stderr.contains("MCP request"),
        "{stderr}"
    );
}

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/mcp")
}

#[test]
fn connect_options_are_listed_and_checked_before_anything_is_sent() {
    let (ok, stdout, _) = mcp_oauth(&["connect", "--help"]);
    assert!(ok);
    for flag in [
        "--private-key",
        "--client-metadata-url",
        "--grant",
        "--assertion-file",
        "--idp-token-endpoint",
        "--idp-client-id",
        "--id-token-file",
        "--issuer",
        "--token-endpoint",
        "--accept-issuer-mismatch",
        "--allow-pkce-unadvertised",
        "--omit-resource",
        "--dpop",
        "MCP_OAUTH_ASSERTION",
        "MCP_OAUTH_ID_TOKEN",
        "MCP_OAUTH_IDP_CLIENT_SECRET",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
    let url = dead_url();
    let secret = "assertion-SECRET-VALUE";
    for (args, vars, expected) in [
        (
            vec!["--token-endpoint", "https://as.example.com/token"],
            vec![],
            "--token-endpoint needs --issuer",
        ),
        (
            vec!["--dpop", "maybe"],
            vec![],
            "invalid value 'maybe' for '--dpop <DPOP>'",
        ),
        (
            vec!["--grant", "jwt-bearer"],
            vec![],
            "--grant jwt-bearer needs the assertion in MCP_OAUTH_ASSERTION or --assertion-file",
        ),
        (
            vec!["--grant", "client-credentials"],
            vec![("MCP_OAUTH_ASSERTION", secret)],
            "MCP_OAUTH_ASSERTION is set but --grant is not jwt-bearer",
        ),
        (
            vec![
                "--client-id",
                "c",
                "--private-key",
                "/nonexistent/mcp-oauth-key.pem",
            ],
            vec![],
            "cannot read the --private-key file /nonexistent/mcp-oauth-key.pem",
        ),
    ] {
        let mut full = vec!["connect", url.as_str()];
        full.extend(args.iter().copied());
        let (ok, stdout, stderr) = mcp_oauth_with(&full, &vars);
        assert!(!ok, "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{args:?} showed the secret:\n{stdout}\n{stderr}"
        );
        // Nothing was attempted: the only output is the error.
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
}

#[test]
fn values_the_component_refuses_are_shown_without_the_key() {
    let url = dead_url();
    let (ok, _, stderr) = mcp_oauth(&[
        "connect",
        &url,
        "--client-metadata-url",
        "http://app.example.com/client.json",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("the configuration was refused") && stderr.contains("client-metadata-url"),
        "{stderr}"
    );
    let key =
        std::env::temp_dir().join(format!("mcp-oauth-cli-bad-key-{}.pem", std::process::id()));
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nTm90QUtleVNFQ1JFVE1BVEVSSUFM\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = mcp_oauth(&[
        "connect",
        &url,
        "--client-id",
        "c",
        "--private-key",
        key.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&key);
    assert!(!ok);
    assert!(
        stderr.contains("the configuration was refused") && stderr.contains("private-key-pem"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("Tm90QUtl") && !stderr.contains("Tm90QUtl"),
        "the key was shown:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn relaxations_and_dpop_reach_the_component_with_a_warning() {
    let world = MockWorld::start(Behaviour {
        omit_pkce_methods: true,
        ..Behaviour::default()
    })
    .await
    .unwrap();
    let url = world.mcp_url();
    let issuer = world.issuer();
    let strict = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || mcp_oauth(&["connect", &url, "--headless"]))
            .await
            .unwrap()
    };
    assert!(!strict.0, "PKCE was not checked:\n{}", strict.1);
    assert!(strict.2.contains("PKCE"), "{}", strict.2);
    assert!(!strict.2.contains("warning:"), "{}", strict.2);
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        mcp_oauth(&[
            "connect",
            &url,
            "--headless",
            "--allow-pkce-unadvertised",
            "--dpop",
            "never",
            "--issuer",
            &issuer,
            "--grant",
            "authorization-code",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "connect failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("authorization completed: Bearer token"),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].starts_with("warning: --allow-pkce-unadvertised:"));
}
