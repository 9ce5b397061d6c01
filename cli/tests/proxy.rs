//! `mcp-oauth proxy`'s bridge in process: JSON-RPC lines in, through the
//! component (which authorizes headlessly against the mock servers), the
//! server's messages out, one per line.

// Shared with cli.rs and persistence.rs; not every helper is used here.
#[allow(dead_code)]
mod common;

use common::world_with;
use mcp_oauth_cli::proxy;
use mcp_oauth_cli::session::{ComponentTransport, Silent, UserAgent};
use mcp_oauth_host::harness::{ClientConfig, HostOptions, Runtime};
use mcp_oauth_mock::{MockWorld, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// The client's ends of a bridge to the MCP server of `world` on in-memory
/// pipes (its input, its output's lines) and the running bridge.
type Bridged = (
    tokio::io::DuplexStream,
    tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
    tokio::task::JoinHandle<anyhow::Result<ComponentTransport<Silent>>>,
);

async fn start_bridge(world: &MockWorld) -> Bridged {
    let config = ClientConfig::new("proxy test", "http://127.0.0.1:8976/callback");
    let instance = Runtime::embedded_instance(HostOptions::default(), &config)
        .await
        .unwrap();
    let transport = ComponentTransport::new(instance, UserAgent::Headless, Silent);
    let (client_in, proxy_in) = tokio::io::duplex(1 << 20);
    let (proxy_out, client_out) = tokio::io::duplex(1 << 20);
    let url = world.mcp_url();
    let running =
        tokio::spawn(async move { proxy::run(transport, &url, proxy_in, proxy_out).await });
    (client_in, BufReader::new(client_out).lines(), running)
}

/// Writes `message` as one line.
async fn send(client_in: &mut tokio::io::DuplexStream, message: impl std::fmt::Display) {
    client_in
        .write_all(format!("{message}\n").as_bytes())
        .await
        .unwrap();
}

/// A bridge to the MCP server of `world`: what the client writes, and the
/// lines the bridge writes back, in order, once the client's input ended.
async fn bridge(world: &MockWorld, input: &[Value], raw: &[&str]) -> Vec<Value> {
    let (mut client_in, mut lines, running) = start_bridge(world).await;
    for message in input {
        send(&mut client_in, message).await;
    }
    for line in raw {
        send(&mut client_in, line).await;
    }
    drop(client_in);
    running.await.unwrap().unwrap();
    let mut out = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}")));
    }
    out
}

fn request(id: u32, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The client's side of a session: initialize, initialized, tools/list,
/// tools/call echo.
fn session() -> Vec<Value> {
    vec![
        request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "proxy-test", "version": "0"}}),
        ),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        request(2, "tools/list", json!({})),
        request(
            3,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        ),
    ]
}

/// The response with `id` among `out`.
fn answer(out: &[Value], id: u32) -> &Value {
    out.iter()
        .find(|m| m["id"] == json!(id))
        .unwrap_or_else(|| panic!("no answer to {id} in {out:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_through_the_proxy_authorizes_once_and_gets_every_answer() {
    for sse in [false, true] {
        let world = world_with(|b| b.sse_responses = sse).await;
        let out = bridge(&world, &session(), &[]).await;
        assert_eq!(
            out.len(),
            3,
            "three answers, nothing for the notification: {out:?}"
        );
        assert_eq!(answer(&out, 1)["result"]["serverInfo"]["name"], "mock-mcp");
        let tools = answer(&out, 2)["result"]["tools"].as_array().unwrap().len();
        assert!(tools >= 2, "{out:?}");
        assert_eq!(answer(&out, 3)["result"]["content"][0]["text"], "hi");
        assert_eq!(
            world.count(Server::AuthorizationServer, "POST", "/token"),
            1
        );
        assert_eq!(
            world.count(Server::Mcp, "DELETE", "/mcp"),
            1,
            "the session is closed at the end of stdin"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_proxy_cannot_send_is_answered_with_an_error() {
    let world = world_with(|_| {}).await;
    // A line that is not JSON, and a request without a session (the server
    // answers 400 with a JSON-RPC error, forwarded as it is).
    let out = bridge(
        &world,
        &[request(9, "tools/list", json!({}))],
        &["{not json"],
    )
    .await;
    assert_eq!(out.len(), 2, "{out:?}");
    let missing_session = answer(&out, 9);
    assert!(missing_session["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Mcp-Session-Id"));
    let parse = out.iter().find(|m| m["id"].is_null()).unwrap();
    assert_eq!(parse["error"]["code"], -32700);
}

/// Runs `mcp-oauth proxy --headless` on `state_dir` for the MCP server at
/// `url`, feeds it `input` and closes its stdin; what it printed.
fn proxy_process(url: &str, state_dir: &std::path::Path, input: &[Value]) -> common::Run {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = common::mcp_oauth_command(&["proxy", "--headless", url])
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("MCP_OAUTH_STATE_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().unwrap();
    for message in input {
        writeln!(stdin, "{message}").unwrap();
    }
    drop(stdin);
    common::Run::of(child.wait_with_output().unwrap())
}

/// The messages a proxy printed: every stdout line must be one.
fn messages(run: &common::Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON-RPC: {l}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_started_together_authorize_once_and_all_answer() {
    let world = world_with(|b| b.sse_responses = true).await;
    let dir = common::unique_temp_path("mcp-oauth-proxy");
    let state_dir = dir.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    // Started together, the way desktop hosts start several instances.
    let started: Vec<_> = (0..3)
        .map(|_| {
            let (url, state_dir) = (world.mcp_url(), state_dir.clone());
            tokio::task::spawn_blocking(move || proxy_process(&url, &state_dir, &session()))
        })
        .collect();
    let mut runs = Vec::new();
    for s in started {
        runs.push(s.await.unwrap());
    }
    for run in &runs {
        assert!(run.ok, "a proxy failed:\n{}", run.stderr);
        let out = messages(run);
        assert_eq!(
            answer(&out, 3)["result"]["content"][0]["text"],
            "hi",
            "{out:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(
        (
            world.count(Server::AuthorizationServer, "POST", "/register"),
            world.count(Server::AuthorizationServer, "GET", "/authorize"),
            world.count(Server::AuthorizationServer, "POST", "/token"),
        ),
        (1, 1, 1),
        "one registration, one authorization, one code exchange"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_notifications_and_requests_reach_the_client_and_its_answer_the_server() {
    let world = world_with(|b| {
        b.sse_responses = true;
        b.server_messages = true;
    })
    .await;
    let (mut client_in, mut lines, running) = start_bridge(&world).await;
    for message in session() {
        send(&mut client_in, message).await;
    }
    // Read until the tool's result: what the server sent on the way comes
    // first, in order.
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &Value| m["id"] == json!(3)) {
        let line = lines.next_line().await.unwrap().expect("a line");
        seen.push(serde_json::from_str(&line).unwrap());
    }
    let methods: Vec<&str> = seen.iter().filter_map(|m| m["method"].as_str()).collect();
    assert_eq!(methods, ["notifications/message", "ping"], "{seen:?}");
    // The client answers the server's ping; the proxy posts it back.
    let pong = json!({"jsonrpc": "2.0", "id": "server-ping-1", "result": {}});
    send(&mut client_in, pong).await;
    drop(client_in);
    running.await.unwrap().unwrap();
    let posted = world.log().into_iter().any(|r| {
        r.method == "POST" && r.body.contains("\"server-ping-1\"") && r.body.contains("result")
    });
    assert!(posted, "the client's answer reached the server");
}
