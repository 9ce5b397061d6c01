//! `mcp-oauth-cli.wasm`: the `mcp-oauth connect` of the native CLI as a
//! WebAssembly command, for the `wasmtime` CLI.
//!
//! This program imports `mcp:oauth/client` (the `cli-caller` world of
//! `wit/world.wit`) and exports `wasi:cli/run` (its `fn main`);
//! `scripts/build-cli-component.sh` composes it with the mcp-oauth component
//! into `target/mcp-oauth-cli.wasm`:
//!
//! ```sh
//! wasmtime run -S http target/mcp-oauth-cli.wasm connect --headless --call whoami URL
//! wasmtime run -S http --dir DIR::/state target/mcp-oauth-cli.wasm connect --headless --state-dir /state URL
//! ```
//!
//! It runs MCP `initialize`, `tools/list` and an optional `tools/call`
//! through `wrap-call`, follows authorization URLs headless, and keeps the
//! component's state in `state.json` of `--state-dir`. Progress and errors
//! go to stderr (never a token), results to stdout.

mod agent;
mod bindings;
mod http;
mod mcp;
mod progress;
mod sse;
mod state;

use anyhow::bail;
use bindings::{AuthError, Client, ClientConfig};
use std::process::ExitCode;

/// The `client_name` registered and the MCP `clientInfo` name.
const CLIENT_NAME: &str = "mcp-oauth CLI component";

const USAGE: &str = "\
usage: mcp-oauth-cli.wasm connect --headless [--call TOOL] [--state-dir DIR] URL

Connects to the MCP server at URL through the mcp-oauth component: initialize,
tools/list, then tools/call TOOL (no arguments) if asked. When the server asks
for authorization, the component discovers and registers, and the authorization
URL is followed headless (redirects and cookies, over wasi:http) until it
reaches the redirect URI; that works with authorization servers that consent
without a person. Interactive mode (a browser, a loopback listener) is not
available in this component: use the native mcp-oauth CLI for it.

  --headless        follow the authorization URL without a browser (required)
  --call TOOL       call TOOL after listing the tools
  --state-dir DIR   keep the state (clients, tokens: secrets) in DIR/state.json;
                    DIR must be preopened: wasmtime run --dir HOST_DIR::DIR
  -h, --help        this text

Run it with: wasmtime run -S http [--dir HOST_DIR::/state] mcp-oauth-cli.wasm ...";

/// The options of `connect`.
#[derive(Debug, PartialEq, Eq)]
struct Connect {
    url: String,
    headless: bool,
    call: Option<String>,
    state_dir: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Connect(Connect),
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("connect") => {}
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut url = None;
    let mut headless = false;
    let mut call = None;
    let mut state_dir = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--headless" => headless = true,
            "--call" => call = Some(value("--call")?),
            "--state-dir" => state_dir = Some(value("--state-dir")?),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => url = Some(arg.clone()),
        }
    }
    let url = url.ok_or("the MCP server URL is missing")?;
    Ok(Command::Connect(Connect {
        url,
        headless,
        call,
        state_dir,
    }))
}

fn main() -> ExitCode {
    if cfg!(not(target_arch = "wasm32")) {
        eprintln!(
            "mcp-oauth-cli-component runs as a component: scripts/build-cli-component.sh, then \
             wasmtime run -S http target/mcp-oauth-cli.wasm"
        );
        return ExitCode::from(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Connect(opts)) => match connect(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `connect`: the state imported, the MCP session run, the state exported
/// (also after a failure: a registration is worth keeping).
fn connect(opts: &Connect) -> anyhow::Result<()> {
    if !opts.headless {
        bail!(
            "interactive mode (a browser and a loopback listener) is not available in this \
             component: pass --headless, or use the native mcp-oauth CLI"
        );
    }
    let stored = match &opts.state_dir {
        Some(dir) => state::read(dir)?,
        None => None,
    };
    let client = open_client(&opts.url, stored.as_deref())?;
    let outcome = run_session(&client, opts);
    if let Some(dir) = &opts.state_dir {
        let path = state::write(dir, &client.export_state())?;
        eprintln!("  state kept in {path}");
    }
    outcome
}

/// A client whose redirect URI is `http://127.0.0.1:PORT/callback`: the
/// port of the registration the stored state holds for `url`'s
/// authorization server, else a random one (a headless run never listens,
/// the port only names the URI).
fn open_client(url: &str, stored: Option<&[u8]>) -> anyhow::Result<Client> {
    let open = |redirect_uri: String| -> anyhow::Result<Client> {
        let client = Client::open(&config(redirect_uri))
            .map_err(|e| anyhow::anyhow!("{}", describe_error(&e)))?;
        if let Some(doc) = stored {
            client
                .import_state(doc, None)
                .map_err(|e| anyhow::anyhow!("the state file: {}", describe_error(&e)))?;
        }
        Ok(client)
    };
    let random = 49152 + (wasip2::random::random::get_random_u64() % 16384) as u16;
    let client = open(callback(random))?;
    match stored.and_then(|_| state::registered_redirect_uri(&client.summary(), url)) {
        Some(registered) if registered != callback(random) => open(registered),
        _ => Ok(client),
    }
}

fn callback(port: u16) -> String {
    format!("http://127.0.0.1:{port}/callback")
}

fn config(redirect_uri: String) -> ClientConfig {
    ClientConfig {
        client_name: CLIENT_NAME.into(),
        redirect_uri,
        client_id: None,
        client_secret: None,
        private_key_pem: None,
        client_metadata_url: None,
        grant_type: None,
        scope: None,
        authorization_server: None,
        relaxations: None,
        dpop: None,
        timeout_ms: None,
        host_renews: None,
        host_timeouts: None,
    }
}

/// initialize, tools/list and the optional tools/call; results on stdout.
fn run_session(client: &Client, opts: &Connect) -> anyhow::Result<()> {
    let mut session = mcp::Session::new(client, &opts.url);
    eprintln!("→ connect {}", opts.url);
    let info = session.initialize(CLIENT_NAME)?;
    eprintln!(
        "  connected to {} {}, protocol {}",
        printable(info["serverInfo"]["name"].as_str().unwrap_or("?")),
        printable(info["serverInfo"]["version"].as_str().unwrap_or("")),
        printable(info["protocolVersion"].as_str().unwrap_or("?")),
    );
    eprintln!("→ tools/list");
    let tools = session.request("tools/list", serde_json::json!({}))?;
    for tool in tools["tools"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {}",
            printable(tool["name"].as_str().unwrap_or("?")),
            printable(tool["description"].as_str().unwrap_or(""))
        );
    }
    if let Some(name) = &opts.call {
        eprintln!("→ tools/call {name}");
        let result = session.request(
            "tools/call",
            serde_json::json!({"name": name, "arguments": {}}),
        )?;
        for item in result["content"].as_array().into_iter().flatten() {
            match item["text"].as_str() {
                Some(text) => println!("{}", printable(text)),
                None => println!("{}", printable(&item.to_string())),
            }
        }
        if result["isError"].as_bool() == Some(true) {
            bail!("the tool reported an error");
        }
    }
    Ok(())
}

/// Text from a server, control characters replaced (no terminal escapes).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '�'
            } else {
                c
            }
        })
        .collect()
}

/// The start of a body, one line, for messages.
fn excerpt(body: &[u8]) -> String {
    mcp_oauth_user_agent::excerpt(body, 160)
}

/// An `auth-error` for people. No case carries a token or secret.
fn describe_error(e: &AuthError) -> String {
    match e {
        AuthError::InvalidArgument(m) => format!("refused: {m}"),
        AuthError::InsecureUrl(u) => format!("insecure URL: {u}"),
        AuthError::Transport(f) => {
            format!("{} {}: {}", progress::step(f.step), f.url, f.message)
        }
        AuthError::UnexpectedStatus(f) | AuthError::StillUnauthorized(f) => format!(
            "{} {} answered {}: {}",
            progress::step(f.step),
            f.url,
            f.status,
            printable(&f.body_excerpt)
        ),
        AuthError::TokenRejected(f)
        | AuthError::RegistrationRejected(f)
        | AuthError::AuthorizationDenied(f) => format!(
            "{} {}: {}{}",
            progress::step(f.step),
            f.url,
            f.error,
            f.error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn connect_options() {
        assert_eq!(
            parse(&args(&[
                "connect",
                "--headless",
                "--call",
                "whoami",
                "--state-dir",
                "/state",
                "http://h/mcp"
            ])),
            Ok(Command::Connect(Connect {
                url: "http://h/mcp".into(),
                headless: true,
                call: Some("whoami".into()),
                state_dir: Some("/state".into()),
            }))
        );
        assert_eq!(parse(&args(&["connect", "--help"])), Ok(Command::Help));
        assert_eq!(parse(&args(&[])), Ok(Command::Help));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse(&args(&["connect"])),
            Err("the MCP server URL is missing".into())
        );
        assert_eq!(
            parse(&args(&["connect", "--call"])),
            Err("--call needs a value".into())
        );
        assert_eq!(
            parse(&args(&["connect", "--port", "1", "u"])),
            Err("unknown option --port".into())
        );
        assert_eq!(
            parse(&args(&["proxy", "u"])),
            Err("unknown command \"proxy\"".into())
        );
        assert_eq!(
            parse(&args(&["connect", "a", "b"])),
            Err("unexpected argument \"b\"".into())
        );
    }
}
