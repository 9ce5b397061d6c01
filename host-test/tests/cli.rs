//! The `mcp-oauth` binary as a user runs it.

use std::process::Command;

fn mcp_oauth(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args(args)
        .output()
        .expect("the binary runs");
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
    assert!(stdout.contains("mcp-oauth connect <mcp-url>"));
    let (ok, _, stderr) = mcp_oauth(&["connect"]);
    assert!(!ok);
    assert!(
        stderr.contains("connect needs the MCP server URL"),
        "{stderr}"
    );
    let (ok, _, stderr) = mcp_oauth(&["connect", "http://127.0.0.1:9/mcp", "--args", "{not json"]);
    assert!(!ok);
    assert!(stderr.contains("--args is not JSON"), "{stderr}");
    let (ok, _, stderr) = mcp_oauth(&["frobnicate"]);
    assert!(!ok);
    assert!(stderr.contains("unknown command frobnicate"), "{stderr}");
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
