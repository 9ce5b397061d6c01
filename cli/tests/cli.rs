//! The `mcp-oauth` binary as a user runs it.

mod common;

use common::{mcp_oauth_command, unique_temp_path, world_with, Run};

/// Runs the binary with `args` and no secret variables ([`mcp_oauth_with`]).
fn mcp_oauth(args: &[&str]) -> (bool, String, String) {
    mcp_oauth_with(args, &[])
}

/// Runs the binary with `args` and the secret variables `vars`, with a
/// state directory of its own (never the user's), removed afterwards.
fn mcp_oauth_with(args: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    let state_dir = unique_temp_path("mcp-oauth-cli-test-state");
    let out = mcp_oauth_command(args)
        .env("MCP_OAUTH_STATE_DIR", &state_dir)
        .envs(vars.iter().copied())
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&state_dir);
    let Run { ok, stdout, stderr } = Run::of(out);
    (ok, stdout, stderr)
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
    let url = dead_url();
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
    let refused = |args: &[&str], vars: &[(&str, &str)], expected: &str| {
        assert_refused_before_sending(&url, args, vars, expected)
    };
    refused(
        &["--token-endpoint", "https://as.example.com/token"],
        &[],
        "--token-endpoint needs --issuer",
    );
    refused(
        &["--dpop", "maybe"],
        &[],
        "invalid value 'maybe' for '--dpop <DPOP>'",
    );
    refused(
        &["--grant", "jwt-bearer"],
        &[],
        "--grant jwt-bearer needs the assertion in MCP_OAUTH_ASSERTION or --assertion-file",
    );
    refused(
        &["--grant", "client-credentials"],
        &[("MCP_OAUTH_ASSERTION", SECRET)],
        "MCP_OAUTH_ASSERTION is set but --grant is not jwt-bearer",
    );
    refused(
        &[
            "--client-id",
            "c",
            "--private-key",
            "/nonexistent/mcp-oauth-key.pem",
        ],
        &[],
        "cannot read the --private-key file /nonexistent/mcp-oauth-key.pem",
    );
}

/// A secret a test sets, which the binary must never print.
const SECRET: &str = "assertion-SECRET-VALUE";

/// `connect url` with `args` and the secret variables `vars` fails with
/// `expected` before anything is attempted: the only output is the error,
/// and it does not show [`SECRET`].
fn assert_refused_before_sending(url: &str, args: &[&str], vars: &[(&str, &str)], expected: &str) {
    let mut full = vec!["connect", url];
    full.extend(args);
    let (ok, stdout, stderr) = mcp_oauth_with(&full, vars);
    assert!(!ok, "{args:?} was accepted");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{args:?} showed the secret:\n{stdout}\n{stderr}"
    );
    // Nothing was attempted: the only output is the error.
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
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
    let key = unique_temp_path("mcp-oauth-cli-bad-key").with_extension("pem");
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
    let world = world_with(|b| b.omit_pkce_methods = true).await;
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

/// A `$BROWSER` for the tests: a script in a directory of its own that
/// records the URL it was given in `opened` and, when `follow`, follows it
/// (curl, redirects included) the way a browser would reach the loopback
/// callback of an authorization server that consents by itself.
fn browser_script(follow: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = unique_temp_path("mcp-oauth-browser");
    std::fs::create_dir_all(&dir).unwrap();
    let opened = dir.join("opened");
    let script = dir.join("browser.sh");
    let follow = if follow {
        "exec curl -sfL -o /dev/null \"$1\""
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n{follow}\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    (script, opened)
}

/// [`mcp_oauth_with`] `args` and `$BROWSER` = `browser`, off the async
/// runtime (the mocks run on it).
async fn with_browser(args: &[&str], browser: &std::path::Path) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let browser = browser.to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mcp_oauth_with(&args, &[("BROWSER", &browser)])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_opens_the_system_browser_unless_told_not_to() {
    let world = world_with(|_| {}).await;
    let url = world.mcp_url();
    // The browser reaches the loopback listener: the run completes.
    let (first_script, opened) = browser_script(true);
    let (ok, stdout, stderr) =
        with_browser(&["connect", &url, "--timeout", "20"], &first_script).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("opened in the system browser"), "{stdout}");
    assert!(stdout.contains("authorization completed"), "{stdout}");
    let visited = std::fs::read_to_string(&opened).unwrap();
    assert!(
        visited.contains("/authorize?") && visited.contains("code_challenge="),
        "{visited}"
    );
    // With --no-browser nothing is opened: the URL is only printed.
    let (script, opened) = browser_script(false);
    let args = ["connect", &url, "--timeout", "1", "--no-browser"];
    let (ok, stdout, stderr) = with_browser(&args, &script).await;
    assert!(!ok, "no redirect can arrive:\n{stdout}");
    assert!(
        stdout.contains("/authorize?"),
        "the URL is printed:\n{stdout}"
    );
    assert!(
        stderr.contains("no authorization redirect reached"),
        "{stderr}"
    );
    assert!(!opened.exists(), "the browser was started");
    for dir in [&script, &first_script] {
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
