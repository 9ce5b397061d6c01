//! The commands of the `mcp-oauth` binary, as a library so tests run them.

use crate::mcp::{McpSession, ProtocolVersion, VersionChoice};
use crate::report::printable;
use crate::session::{step_label, ComponentTransport, Progress, UserAgent};
use crate::status::status_report;
use mcp_oauth_host::agent::LoopbackPort;
use mcp_oauth_host::harness::{
    redacted, ClientConfig, FlowEvent, HostOptions, Instance, PendingAuthorization, Runtime, Step,
    TokenInfo,
};
use mcp_oauth_host::state::{self, Document, Persistence, StateFile};
use mcp_oauth_mock::{Behaviour, MockWorld};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `client_name` of `mcp-oauth connect`, status and logout.
const CLIENT_NAME: &str = "mcp-oauth CLI";

/// Options of `mcp-oauth connect`. `Debug` shows which secrets are set,
/// never their values.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The MCP server URL.
    pub url: String,
    /// A tool to call after listing.
    pub call: Option<String>,
    /// Its arguments.
    pub args: serde_json::Value,
    /// Use exactly this MCP protocol version; `None` negotiates it.
    pub protocol_version: Option<ProtocolVersion>,
    /// Who visits authorization URLs, and how.
    pub agent: AgentOptions,
    /// The component's configuration: `client_name` (also the MCP
    /// `clientInfo` name), the client's identity and secrets (secrets from
    /// the environment or files, never the command line), grant, scope,
    /// authorization server, checks switched off and DPoP. The redirect URI
    /// is set once the loopback port is known, and `host_renews` follows
    /// `state_dir`.
    pub client: ClientConfig,
    /// The state directory: its `state.json` is loaded before connecting
    /// and kept up to date. `None` keeps nothing (the demo).
    pub state_dir: Option<PathBuf>,
}

/// How authorization URLs are visited.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Follow the authorization URL without a browser.
    pub headless: bool,
    /// Loopback redirect port; 0 picks a free one (or the one registered).
    pub port: u16,
    /// How long to wait for the browser.
    pub timeout: Duration,
    /// Open the authorization URL in the system browser (interactive runs).
    pub open_browser: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            headless: false,
            port: 0,
            timeout: Duration::from_secs(300),
            open_browser: true,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &self.url)
            .field("call", &self.call)
            .field("agent", &self.agent)
            .field("state_dir", &self.state_dir)
            .field("config", &redacted(&client_config(self, String::new())))
            .finish_non_exhaustive()
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            url: String::new(),
            call: None,
            args: serde_json::json!({}),
            protocol_version: None,
            agent: AgentOptions::default(),
            client: ClientConfig::new(CLIENT_NAME, String::new()),
            state_dir: None,
        }
    }
}

/// Prints each step as it happens: to stdout for `connect`, to stderr for
/// `proxy` (whose stdout is the MCP channel). Never prints a secret: events
/// hold no headers or bodies, and token info holds no token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    /// Print to stderr.
    pub stderr: bool,
}

impl Printer {
    /// Printing to stderr.
    pub fn to_stderr() -> Printer {
        Printer { stderr: true }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if self.stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

fn describe_event(e: &FlowEvent) -> String {
    let status = e
        .status
        .map_or("no response".to_string(), |s| s.to_string());
    let what = match (e.step, e.status) {
        (Step::Resource, Some(401)) => "the MCP server wants authorization".to_string(),
        (Step::Resource, Some(403)) => "the MCP server wants more scope".to_string(),
        (Step::ProtectedResourceMetadata, Some(200)) => {
            "protected resource metadata found".to_string()
        }
        (Step::AuthorizationServerMetadata, Some(200)) => {
            "authorization server metadata found".to_string()
        }
        (Step::Registration, Some(200 | 201)) => "client registered".to_string(),
        (Step::Token, Some(200)) => "token obtained".to_string(),
        (step, _) => format!("{} (not this one)", step_label(step)),
    };
    format!("  {:<4} {} → {status}   {what}", e.method, e.url)
}

fn expiry(info: &TokenInfo) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match info.expires_at {
        Some(t) => format!("expires in {} s", t.saturating_sub(now)),
        None => "no expiry given".to_string(),
    }
}

impl Progress for Printer {
    fn event(&mut self, event: &FlowEvent) {
        self.line(format_args!("{}", describe_event(event)));
    }

    fn authorization_needed(&mut self, pending: &PendingAuthorization, agent: &UserAgent) {
        match agent {
            UserAgent::Headless => {
                self.line(format_args!(
                    "  authorization at {} — the headless user agent follows:",
                    pending.issuer
                ));
                self.line(format_args!("    {}", pending.authorization_url));
            }
            UserAgent::Interactive { timeout, .. } => {
                self.line(format_args!(""));
                self.line(format_args!(
                    "Open this URL in your browser to authorize (waiting {} s):",
                    timeout.as_secs()
                ));
                self.line(format_args!(""));
                self.line(format_args!("    {}", pending.authorization_url));
                self.line(format_args!(""));
                self.line(format_args!(
                    "The authorization server is {}.",
                    pending.issuer
                ));
            }
        }
    }

    fn authorized(&mut self, info: &TokenInfo) {
        self.line(format_args!(
            "  authorization completed: {} token for {} from {}, {}, scope {}{}",
            info.token_type,
            info.resource,
            info.issuer,
            expiry(info),
            info.scope.as_deref().unwrap_or("(none)"),
            if info.has_refresh_token {
                ", with a refresh token"
            } else {
                ""
            }
        ));
    }

    fn note(&mut self, line: &str) {
        self.line(format_args!("  {line}"));
    }
}

/// The component's configuration for a CLI run.
fn client_config(opts: &ConnectOptions, redirect_uri: String) -> ClientConfig {
    ClientConfig {
        redirect_uri,
        // With a state file, every renewal happens under its lock: the
        // component asks for it (renewal-required) instead of redeeming a
        // refresh token that another process may be redeeming too.
        host_renews: Some(opts.state_dir.is_some()),
        // The harness's hooks limit connecting and the response head of
        // `wrap-call`'s requests to the time limit: the component need not
        // set a timer of its own for each call.
        host_timeouts: Some(true),
        ..opts.client.clone()
    }
}

/// An MCP session whose requests go through a configured component
/// instance, printing each step.
pub type CliSession = McpSession<ComponentTransport<Printer>>;

/// Instantiates the component, configures it with `opts` and
/// `redirect_uri`, and opens an MCP session with `opts.url` whose
/// authorizations `agent` completes. Nothing is sent yet.
pub async fn open_session(
    opts: &ConnectOptions,
    redirect_uri: String,
    agent: UserAgent,
) -> anyhow::Result<CliSession> {
    let instance = Runtime::embedded()?
        .instantiate(HostOptions::default())
        .await?;
    open_session_in(instance, opts, redirect_uri, agent).await
}

/// [`open_session`] with a client opened in `instance`.
async fn open_session_in(
    mut instance: Instance,
    opts: &ConnectOptions,
    redirect_uri: String,
    agent: UserAgent,
) -> anyhow::Result<CliSession> {
    instance
        .configure(&client_config(opts, redirect_uri))
        .await?
        .map_err(|e| anyhow::anyhow!("the configuration was refused: {e}"))?;
    let transport = ComponentTransport::new(instance, agent, Printer::default());
    let version = opts
        .protocol_version
        .map_or(VersionChoice::Negotiate, VersionChoice::Exactly);
    Ok(McpSession::new(&opts.url, transport).with_version(version))
}

/// Connects (negotiating the protocol version unless `opts` fixes it),
/// then runs tools/list and the optional tools/call of `opts` in `session`,
/// printing what happens. Fails if the tool reports an error.
pub async fn run_session(session: &mut CliSession, opts: &ConnectOptions) -> anyhow::Result<()> {
    println!("→ connect {}", opts.url);
    let info = session.connect(&opts.client.client_name).await?;
    let server = printable(&match (&info.name, &info.version) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        (Some(name), None) => name.clone(),
        _ => "(no serverInfo)".into(),
    });
    let lifecycle = if info.protocol_version.is_modern() {
        "per-request metadata"
    } else {
        "initialize handshake"
    };
    println!(
        "  connected to {server}, protocol {} ({lifecycle})",
        info.protocol_version
    );
    println!("→ tools/list");
    let tools = session.list_tools().await?;
    for tool in &tools {
        println!(
            "  {:<16} {}",
            printable(tool["name"].as_str().unwrap_or("?")),
            printable(tool["description"].as_str().unwrap_or(""))
        );
    }
    if let Some(name) = &opts.call {
        println!("→ tools/call {name} {}", opts.args);
        let result = session.call_tool(name, opts.args.clone()).await?;
        for item in result["content"].as_array().into_iter().flatten() {
            match item["text"].as_str() {
                Some(text) => println!("  {}", printable(text)),
                None => println!("  {}", printable(&item.to_string())),
            }
        }
        if result["isError"].as_bool() == Some(true) {
            anyhow::bail!("the tool reported an error");
        }
    }
    Ok(())
}

/// The component transport of a CLI run (`connect`, `proxy`): the stored
/// state read (a file that cannot be used stops everything before a request
/// is sent), the redirect port chosen (the one asked for, else the one
/// registered before, else any), the user agent, a configured instance and
/// the state attached. The redirect URI is
/// `http://127.0.0.1:<port>/callback`.
pub async fn cli_transport(
    opts: &ConnectOptions,
    progress: Printer,
) -> anyhow::Result<ComponentTransport<Printer>> {
    let stored = match &opts.state_dir {
        Some(dir) => {
            let file = StateFile::new(dir);
            let doc = file.read()?;
            Some((file, doc))
        }
        None => None,
    };
    // The stored state, read by a client of the instance the transport then
    // uses: it says which port the registration names.
    let (mut instance, registered) = match &stored {
        Some((file, Some(doc))) => {
            let (mut instance, _) = holding(file, doc).await?;
            let port = state::registered_port(&instance.summary().await?, &opts.url);
            (instance, port)
        }
        _ => (
            Runtime::embedded()?
                .instantiate(HostOptions::default())
                .await?,
            None,
        ),
    };
    let wanted = if opts.agent.port != 0 {
        opts.agent.port
    } else {
        registered.unwrap_or(0)
    };
    let (redirect_port, agent) = if opts.agent.headless {
        // A headless run never listens: the port only names the URI.
        let port = match wanted {
            0 => LoopbackPort::reserve(0)?.port(),
            port => port,
        };
        (port, UserAgent::Headless)
    } else {
        // An interactive run holds its port from here to the end (bound,
        // listening only while a flow waits), so no other process can take
        // it in between. A registered port that is busy now is given up for
        // another one (the component then registers that one).
        let port = match LoopbackPort::reserve(wanted) {
            Err(_) if opts.agent.port == 0 && wanted != 0 => LoopbackPort::reserve(0)?,
            held => held?,
        };
        let redirect_port = port.port();
        let agent = UserAgent::Interactive {
            port,
            timeout: opts.agent.timeout,
            open_browser: opts.agent.open_browser,
        };
        (redirect_port, agent)
    };
    let redirect_uri = format!("http://127.0.0.1:{redirect_port}/callback");
    instance
        .configure(&client_config(opts, redirect_uri))
        .await?
        .map_err(|e| anyhow::anyhow!("the configuration was refused: {e}"))?;
    let mut transport = ComponentTransport::new(instance, agent, progress);
    if let Some((file, doc)) = stored {
        let persistence = Persistence::attach(file, doc.as_ref(), transport.instance_mut()).await?;
        let path = persistence.file().path();
        let kept = if doc.is_some() {
            ""
        } else {
            "none yet, kept in "
        };
        progress.line(format_args!("  state: {kept}{}", path.display()));
        transport.set_persistence(persistence);
    }
    Ok(transport)
}

/// Runs initialize, tools/list and an optional tools/call through the
/// component, printing what happens.
pub async fn connect(opts: ConnectOptions) -> anyhow::Result<()> {
    let transport = cli_transport(&opts, Printer::default()).await?;
    let version = opts
        .protocol_version
        .map_or(VersionChoice::Negotiate, VersionChoice::Exactly);
    let mut session = McpSession::new(&opts.url, transport).with_version(version);
    let result = run_session(&mut session, &opts).await;
    // Everything is written after each request; this catches the rest.
    let saved = session.transport_mut().save_state().await;
    result.and(saved)
}

/// `mcp-oauth proxy`: bridges this process's stdin and stdout (an MCP
/// client's stdio server) to the MCP server of `opts` through the
/// component (see [`crate::proxy`]). Progress goes to stderr.
pub async fn proxy(opts: ConnectOptions) -> anyhow::Result<()> {
    let transport = cli_transport(&opts, Printer::to_stderr()).await?;
    let mut transport = crate::proxy::run(
        transport,
        &opts.url,
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .await?;
    transport.save_state().await
}

/// `mcp-oauth demo`: starts the mocks and connects to them headlessly.
pub async fn demo() -> anyhow::Result<()> {
    let world = MockWorld::start(Behaviour {
        require_login: true,
        sse_responses: true,
        ..Behaviour::default()
    })
    .await?;
    println!("mcp-oauth demo: the component authorizes an MCP client against local mock servers");
    println!("  MCP server (needs OAuth):  {}", world.mcp_url());
    println!("  authorization server:      {}", world.issuer());
    println!();
    connect(ConnectOptions {
        url: world.mcp_url(),
        call: Some("add".into()),
        args: serde_json::json!({"a": 2, "b": 40}),
        agent: AgentOptions {
            headless: true,
            ..AgentOptions::default()
        },
        client: ClientConfig::new("mcp-oauth demo", String::new()),
        ..ConnectOptions::default()
    })
    .await?;
    println!();
    println!(
        "done: {} requests reached the servers; the token never left the component.",
        world.log().len()
    );
    Ok(())
}

/// An instance whose client holds the state document `doc` of `file`
/// (checked by the component: a document it refuses is an error naming the
/// file), to read or edit it.
async fn holding(file: &StateFile, doc: &Document) -> anyhow::Result<(Instance, Persistence)> {
    let mut instance = Runtime::embedded()?
        .instantiate(HostOptions::default())
        .await?;
    instance
        .configure(&ClientConfig::new(CLIENT_NAME, "http://127.0.0.1/callback"))
        .await?
        .map_err(|e| anyhow::anyhow!("the component refused its configuration: {e:?}"))?;
    let persistence = Persistence::attach(file.clone(), Some(doc), &mut instance).await?;
    Ok((instance, persistence))
}

/// `mcp-oauth status`: what the state file in `dir` holds — servers, their
/// resource, issuer and token expiry, registered clients — never a token,
/// secret or key.
pub async fn status(dir: &std::path::Path) -> anyhow::Result<()> {
    let file = StateFile::new(dir);
    match file.read()? {
        None => println!(
            "nothing stored: there is no state file at {}",
            file.path().display()
        ),
        Some(doc) => {
            let (mut instance, _) = holding(&file, &doc).await?;
            let summary = instance.summary().await?;
            println!("state file: {}", file.path().display());
            print!("{}", status_report(&summary, state::unix_now()));
        }
    }
    Ok(())
}

/// `mcp-oauth logout [<url>]`: forgets the tokens and bindings of the
/// server at `url`, or of every server, under the state lock, and says what
/// was removed. Client registrations and metadata are kept.
pub async fn logout(dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<()> {
    let file = StateFile::new(dir);
    let path = file.path();
    if !path.exists() {
        println!(
            "nothing stored: there is no state file at {}",
            path.display()
        );
        return Ok(());
    }
    let lock = file
        .lock_async(|| println!("waiting for another mcp-oauth process (state lock)"))
        .await?;
    let Some(doc) = lock.read()? else {
        println!(
            "nothing stored: there is no state file at {}",
            path.display()
        );
        return Ok(());
    };
    let (mut instance, _) = holding(&file, &doc).await?;
    let removed = instance.forget(url).await?;
    let summary = instance.summary().await?;
    if removed.tokens.is_empty() && removed.servers.is_empty() {
        let listed = if summary.servers.is_empty() {
            "none".to_string()
        } else {
            summary
                .servers
                .iter()
                .map(|s| s.server.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match url {
            Some(url) => println!("nothing stored for {url} (servers stored: {listed})"),
            None => println!("no tokens stored in {}", path.display()),
        }
        return Ok(());
    }
    let state = instance.export_state().await?;
    lock.write(&state)?;
    drop(lock);
    println!("removed from {}:", path.display());
    for (resource, issuer) in &removed.tokens {
        println!("  the token for {resource} from {issuer}");
    }
    for server in &removed.servers {
        println!("  the binding of {server} to its resource and issuer");
    }
    println!(
        "kept: {} client registration(s) and the metadata of {} authorization server(s); \
         delete {} to forget everything",
        summary.clients.len(),
        summary.metadata.len(),
        path.display()
    );
    Ok(())
}
