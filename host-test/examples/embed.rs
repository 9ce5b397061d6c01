//! Embedding the component in a wasmtime host, end to end: the example the
//! README shows (it is compiled with the workspace, so it cannot drift from
//! the API).
//!
//! ```sh
//! cargo run -p mcp-oauth-host --example embed -- https://mcp.example.com/mcp
//! ```
//!
//! Sends one MCP `initialize` through `wrap-call`. When a person is needed it
//! prints the authorization URL and reads the URL the browser was sent back
//! to (`http://127.0.0.1:8976/callback?...`) from stdin.

use mcp_oauth_host::harness::{AuthError, ClientConfig, HostOptions, HttpRequest, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mcp_url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: embed <mcp-server-url>"))?;

    // Engine, compiled component and pre-instantiation: once per process.
    let runtime = Runtime::embedded()?;
    // An instance, and a client resource in it (one identity).
    let mut instance = runtime.instantiate(HostOptions::default()).await?;
    let config = ClientConfig::new("embed example", "http://127.0.0.1:8976/callback");
    instance
        .configure(&config)
        .await?
        .map_err(|e| anyhow::anyhow!("configuration refused: {e:?}"))?;

    let request = HttpRequest {
        method: "POST".into(),
        url: mcp_url,
        headers: vec![
            ("content-type".into(), b"application/json".to_vec()),
            ("accept".into(), b"application/json, text/event-stream".to_vec()),
        ],
        body: br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"embed","version":"0"}}}"#.to_vec(),
    };
    for _ in 0..2 {
        match instance.wrap_call(&request).await? {
            Ok(response) => {
                println!("status {}", response.status);
                let body = response.bytes(1 << 20).await?;
                println!("{}", String::from_utf8_lossy(&body));
                return Ok(());
            }
            Err(AuthError::AuthorizationRequired(pending)) => {
                println!("open {}", pending.authorization_url);
                println!("then paste the URL the browser was sent back to:");
                let mut callback = String::new();
                std::io::stdin().read_line(&mut callback)?;
                instance
                    .complete_authorization(callback.trim())
                    .await?
                    .map_err(|e| anyhow::anyhow!("authorization failed: {e:?}"))?;
                // And wrap-call once more.
            }
            Err(other) => anyhow::bail!("{other:?}"),
        }
    }
    anyhow::bail!("still not authorized")
}
