//! `mcp-oauth`: the command-line host of the mcp-oauth component.
//!
//! - `mcp-oauth demo`: the whole flow against embedded mock servers.
//! - `mcp-oauth connect <mcp-url>`: the same against any MCP server.
//! - `mcp-oauth conformance <mcp-url>`: the client under test of the
//!   official MCP conformance suite.

use anyhow::{bail, Context};
use mcp_oauth_host::cli::{self, ConnectOptions};
use mcp_oauth_host::conformance;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
mcp-oauth — zero-config OAuth for MCP clients, as a WebAssembly component

USAGE:
    mcp-oauth demo
        Start a mock MCP server and a mock authorization server on 127.0.0.1,
        connect through the component, and show every step.

    mcp-oauth connect <mcp-url> [options]
        Initialize, list the tools and optionally call one, authorizing when
        the server asks. By default prints the authorization URL and waits
        for the redirect on a 127.0.0.1 loopback listener.

OPTIONS (connect):
    --call <name>          call this tool after listing
    --args <json>          its arguments (default {})
    --headless             follow the authorization URL without a browser
                           (servers that consent by themselves)
    --client-id <id>       use this pre-registered client id (no registration);
                           its secret, if any, is read from the environment
                           variable MCP_OAUTH_CLIENT_SECRET
    --scope <scope>        request this scope instead of the automatic choice
    --port <port>          loopback redirect port (default: a free one)
    --timeout <seconds>    how long to wait for the browser (default 300)
    --client-name <name>   the name the authorization server shows

    mcp-oauth conformance <mcp-url>
        The client under test of the MCP conformance suite
        (conformance client --command \"mcp-oauth conformance\" ...): initialize,
        tools/list and tools/call test-tool, authorizing headlessly with the
        redirect URI http://127.0.0.1:3000/callback. Reads
        MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (a pre-registered
        client_id and client_secret) and MCP_CONFORMANCE_PROTOCOL_VERSION.
";

fn parse_connect(args: &[String]) -> anyhow::Result<ConnectOptions> {
    let mut opts = ConnectOptions::default();
    let mut url = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--call" => opts.call = Some(value("--call")?),
            "--args" => {
                let raw = value("--args")?;
                opts.args = serde_json::from_str(&raw)
                    .with_context(|| format!("--args is not JSON: {raw}"))?;
            }
            "--headless" => opts.headless = true,
            "--client-id" => opts.client_id = Some(value("--client-id")?),
            "--scope" => opts.scope = Some(value("--scope")?),
            "--client-name" => opts.client_name = value("--client-name")?,
            "--port" => {
                opts.port = value("--port")?
                    .parse()
                    .context("--port must be a number")?
            }
            "--timeout" => {
                opts.browser_timeout = Duration::from_secs(
                    value("--timeout")?
                        .parse()
                        .context("--timeout must be seconds")?,
                )
            }
            other if other.starts_with("--") => bail!("unknown option {other}\n\n{USAGE}"),
            other if url.is_none() => url = Some(other.to_string()),
            other => bail!("unexpected argument {other}"),
        }
    }
    opts.url = url.with_context(|| format!("connect needs the MCP server URL\n\n{USAGE}"))?;
    opts.client_secret = std::env::var("MCP_OAUTH_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    if opts.client_secret.is_some() && opts.client_id.is_none() {
        bail!("MCP_OAUTH_CLIENT_SECRET is set but --client-id is not");
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("demo") => cli::demo().await,
            Some("connect") => cli::connect(parse_connect(&args[1..])?).await,
            Some("conformance") => {
                let url = conformance::parse_args(&args[1..])?;
                conformance::run(&url, &conformance::Environment::from_process()).await
            }
            Some("help" | "--help" | "-h") | None => {
                print!("{USAGE}");
                Ok(())
            }
            Some(other) => bail!("unknown command {other}\n\n{USAGE}"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
