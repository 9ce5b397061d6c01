//! `mcp-oauth`: the command-line host of the mcp-oauth component.
//!
//! - `mcp-oauth demo`: the whole flow against embedded mock servers.
//! - `mcp-oauth connect <mcp-url>`: the same against any MCP server,
//!   keeping tokens in the state file.
//! - `mcp-oauth status`, `mcp-oauth logout [<url>]`: what the state file
//!   holds; forget tokens.
//! - `mcp-oauth conformance <mcp-url>`: the client under test of the
//!   official MCP conformance suite.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_oauth_cli::commands::{self as cli, ConnectOptions};
use mcp_oauth_cli::conformance;
use mcp_oauth_host::harness::{
    ClientConfig, DpopMode, GrantType, IdentityProvider, Relaxations, ServerEndpoints,
};
use mcp_oauth_host::state;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The environment variables `connect` reads secrets from.
const CLIENT_SECRET_VAR: &str = "MCP_OAUTH_CLIENT_SECRET";
const ASSERTION_VAR: &str = "MCP_OAUTH_ASSERTION";
const ID_TOKEN_VAR: &str = "MCP_OAUTH_ID_TOKEN";
const IDP_CLIENT_SECRET_VAR: &str = "MCP_OAUTH_IDP_CLIENT_SECRET";

/// Zero-config OAuth for MCP clients, as a WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "mcp-oauth", version, after_help = SECRETS_NOTE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const SECRETS_NOTE: &str = "\
Secrets are never taken from the command line: only from the environment
variables MCP_OAUTH_CLIENT_SECRET, MCP_OAUTH_ASSERTION, MCP_OAUTH_ID_TOKEN and
MCP_OAUTH_IDP_CLIENT_SECRET or from files, and they are never printed.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a mock MCP server and a mock authorization server on 127.0.0.1,
    /// connect through the component, and show every step.
    Demo,
    /// Initialize, list the tools and optionally call one, authorizing when
    /// the server asks.
    ///
    /// By default prints the authorization URL and waits for the redirect on
    /// a 127.0.0.1 loopback listener. Tokens are kept in the state file: the
    /// next connect reuses them, and renews them when they expire.
    #[command(after_help = SECRETS_NOTE)]
    Connect(Box<ConnectArgs>),
    /// Bridge an MCP client's stdio server to a remote MCP server: every
    /// JSON-RPC line on stdin is sent to the server through the component
    /// (which authorizes when the server asks), every message the server
    /// sends is written to stdout. Logs go to stderr. Exits at the end of
    /// stdin.
    ///
    /// Several proxies for one server share the state file: one authorizes,
    /// the others wait for it and use its token.
    #[command(after_help = SECRETS_NOTE)]
    Proxy(Box<ConnectArgs>),
    /// What the state file holds: servers, their resource and issuer, token
    /// expiry and scope, registered clients. Never a token or secret.
    Status {
        /// Where the state file is (default: $MCP_OAUTH_STATE_DIR,
        /// $XDG_STATE_HOME/mcp-oauth or ~/.local/state/mcp-oauth).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Forget the tokens of one server, or of all; say what was removed.
    Logout {
        /// The MCP server whose tokens to forget (default: every server).
        url: Option<String>,
        /// Where the state file is.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// The client under test of the MCP conformance suite.
    ///
    /// (`conformance client --command "mcp-oauth conformance" ...`):
    /// initialize, tools/list and tools/call test-tool, authorizing
    /// headlessly with the redirect URI http://127.0.0.1:3000/callback.
    /// Reads MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (a
    /// pre-registered client_id and client_secret) and
    /// MCP_CONFORMANCE_PROTOCOL_VERSION.
    Conformance {
        /// The MCP server URL the suite gives.
        url: String,
    },
}

/// The grants `--grant` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Grant {
    AuthorizationCode,
    ClientCredentials,
    JwtBearer,
    TokenExchange,
}

/// `--dpop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Dpop {
    /// When the MCP server asks for DPoP and its authorization server
    /// supports ES256.
    Auto,
    Always,
    Never,
}

/// The arguments of `connect`. Values the component checks itself (URL
/// schemes, the key's format) are left to its `configure`.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// The MCP server URL.
    url: String,
    /// Call this tool after listing.
    #[arg(long, value_name = "NAME")]
    call: Option<String>,
    /// Its arguments, as JSON.
    #[arg(long, value_name = "JSON", default_value = "{}", value_parser = json_value)]
    args: serde_json::Value,
    /// Follow the authorization URL without a browser (servers that consent
    /// by themselves).
    #[arg(long)]
    headless: bool,
    /// Request this scope instead of the automatic choice.
    #[arg(long)]
    scope: Option<String>,
    /// Loopback redirect port (default: the one registered before, else a
    /// free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How long to wait for the browser.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
    /// Do not open the authorization URL in the system browser ($BROWSER,
    /// else the platform's default); print it and wait.
    #[arg(long)]
    no_browser: bool,
    /// The name the authorization server shows.
    #[arg(long, value_name = "NAME")]
    client_name: Option<String>,
    /// Keep the state file (state.json, mode 0600: it holds tokens and
    /// secrets) in DIR instead of $MCP_OAUTH_STATE_DIR,
    /// $XDG_STATE_HOME/mcp-oauth or ~/.local/state/mcp-oauth.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Use this pre-registered client id (no registration); its secret, if
    /// any, is read from MCP_OAUTH_CLIENT_SECRET.
    #[arg(
        long,
        value_name = "ID",
        help_heading = "Client identity (default: registration, RFC 7591)"
    )]
    client_id: Option<String>,
    /// PEM file of that client's P-256 private key: it authenticates with
    /// private_key_jwt (needs --client-id).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Client identity (default: registration, RFC 7591)"
    )]
    private_key: Option<String>,
    /// This client's metadata document URL (CIMD), used as the client id
    /// where the server supports it.
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Client identity (default: registration, RFC 7591)"
    )]
    client_metadata_url: Option<String>,

    /// The grant.
    #[arg(
        long,
        value_enum,
        help_heading = "Grant (default: chosen by the component)"
    )]
    grant: Option<Grant>,
    /// jwt-bearer: the assertion (or MCP_OAUTH_ASSERTION).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Grant (default: chosen by the component)"
    )]
    assertion_file: Option<String>,
    /// token-exchange: the identity provider's token endpoint.
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Grant (default: chosen by the component)"
    )]
    idp_token_endpoint: Option<String>,
    /// token-exchange: this client's id there; its secret, if any, from
    /// MCP_OAUTH_IDP_CLIENT_SECRET.
    #[arg(
        long,
        value_name = "ID",
        help_heading = "Grant (default: chosen by the component)"
    )]
    idp_client_id: Option<String>,
    /// token-exchange: the ID token (or MCP_OAUTH_ID_TOKEN).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Grant (default: chosen by the component)"
    )]
    id_token_file: Option<String>,

    /// Use this issuer instead of the advertised one.
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Authorization server (default: discovered)"
    )]
    issuer: Option<String>,
    /// Given instead of discovered (needs --issuer).
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Authorization server (default: discovered)"
    )]
    authorization_endpoint: Option<String>,
    /// Given instead of discovered (needs --issuer).
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Authorization server (default: discovered)"
    )]
    token_endpoint: Option<String>,
    /// Given instead of discovered (needs --issuer).
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Authorization server (default: discovered)"
    )]
    registration_endpoint: Option<String>,

    /// Accept metadata whose issuer differs (RFC 8414).
    #[arg(long, help_heading = CHECKS)]
    accept_issuer_mismatch: bool,
    /// Use PKCE S256 even when it is not advertised.
    #[arg(long, help_heading = CHECKS)]
    allow_pkce_unadvertised: bool,
    /// Leave out the RFC 8707 resource parameter.
    #[arg(long, help_heading = CHECKS)]
    omit_resource: bool,
    /// Accept endpoints on another origin than the issuer at a server
    /// without RFC 9207 iss (mix-up risk).
    #[arg(long, help_heading = CHECKS)]
    allow_cross_origin_endpoints: bool,
    /// DPoP-bound tokens (RFC 9449): auto (default), always or never.
    #[arg(long, value_enum)]
    dpop: Option<Dpop>,
}

const CHECKS: &str = "Checks to switch off for a server that breaks them (each prints a warning)";

fn json_value(raw: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))
}

/// Reads a secret from `path`, given with `flag`. Errors name the flag and
/// the path, never the content. Surrounding whitespace (a final newline) is
/// dropped when `trim`.
fn read_secret_file(flag: &str, path: &str, trim: bool) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {flag} file {path}"))?;
    let text = if trim { text.trim().to_string() } else { text };
    if text.trim().is_empty() {
        bail!("the {flag} file {path} is empty");
    }
    Ok(text)
}

/// A secret given by exactly one of an environment variable and a file.
fn secret_from(
    what: &str,
    var: &str,
    env_value: Option<String>,
    flag: &str,
    file: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match (env_value, file) {
        (Some(_), Some(_)) => bail!("{what} is given twice, in {var} and with {flag}; give one"),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => read_secret_file(flag, path, true).map(Some),
        (None, None) => Ok(None),
    }
}

/// The options of `connect` from its arguments and the environment (`env`
/// looks up a variable; unset and empty are the same): reads the secrets
/// and checks the combinations clap does not.
fn connect_options(
    a: ConnectArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ConnectOptions> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let defaults = ConnectOptions::default();
    let mut client = ClientConfig {
        client_name: a.client_name.unwrap_or(defaults.client.client_name.clone()),
        client_id: a.client_id,
        client_secret: env(CLIENT_SECRET_VAR),
        scope: a.scope,
        client_metadata_url: a.client_metadata_url,
        dpop: a.dpop.map(|d| match d {
            Dpop::Auto => DpopMode::Auto,
            Dpop::Always => DpopMode::Always,
            Dpop::Never => DpopMode::Never,
        }),
        ..defaults.client
    };
    let grant = a.grant;

    // Client authentication.
    if client.client_secret.is_some() && client.client_id.is_none() {
        bail!("{CLIENT_SECRET_VAR} is set but --client-id is not");
    }
    if let Some(path) = &a.private_key {
        if client.client_id.is_none() {
            bail!("--private-key needs --client-id (the client the key is registered for)");
        }
        if client.client_secret.is_some() {
            bail!(
                "{CLIENT_SECRET_VAR} is set and --private-key is given; \
                 a client authenticates one way"
            );
        }
        client.private_key_pem = Some(read_secret_file("--private-key", path, false)?);
    }

    // The grant and its secrets.
    let assertion = env(ASSERTION_VAR);
    if grant != Some(Grant::JwtBearer) {
        if assertion.is_some() {
            bail!("{ASSERTION_VAR} is set but --grant is not jwt-bearer");
        }
        if a.assertion_file.is_some() {
            bail!("--assertion-file needs --grant jwt-bearer");
        }
    }
    let id_token = env(ID_TOKEN_VAR);
    let idp_secret = env(IDP_CLIENT_SECRET_VAR);
    if grant != Some(Grant::TokenExchange) {
        for (set, name) in [
            (id_token.is_some(), format!("{ID_TOKEN_VAR} is set")),
            (
                idp_secret.is_some(),
                format!("{IDP_CLIENT_SECRET_VAR} is set"),
            ),
            (a.id_token_file.is_some(), "--id-token-file".into()),
            (
                a.idp_token_endpoint.is_some(),
                "--idp-token-endpoint".into(),
            ),
            (a.idp_client_id.is_some(), "--idp-client-id".into()),
        ] {
            if set {
                bail!("{name} but --grant is not token-exchange");
            }
        }
    }
    client.grant_type = match grant {
        None => None,
        Some(Grant::AuthorizationCode) => Some(GrantType::AuthorizationCode),
        Some(Grant::ClientCredentials) => {
            if client.client_id.is_none()
                || (client.client_secret.is_none() && client.private_key_pem.is_none())
            {
                bail!(
                    "--grant client-credentials needs --client-id with \
                     {CLIENT_SECRET_VAR} or --private-key"
                );
            }
            Some(GrantType::ClientCredentials)
        }
        Some(Grant::JwtBearer) => {
            let assertion = secret_from(
                "the assertion",
                ASSERTION_VAR,
                assertion,
                "--assertion-file",
                a.assertion_file.as_deref(),
            )?
            .with_context(|| {
                format!(
                    "--grant jwt-bearer needs the assertion in {ASSERTION_VAR} or --assertion-file"
                )
            })?;
            Some(GrantType::JwtBearer(assertion))
        }
        Some(Grant::TokenExchange) => {
            if client.client_id.is_none() {
                bail!(
                    "--grant token-exchange needs --client-id \
                     (the client registered at the authorization server)"
                );
            }
            let token_endpoint = a
                .idp_token_endpoint
                .context("--grant token-exchange needs --idp-token-endpoint")?;
            let client_id = a
                .idp_client_id
                .context("--grant token-exchange needs --idp-client-id")?;
            let id_token = secret_from(
                "the ID token",
                ID_TOKEN_VAR,
                id_token,
                "--id-token-file",
                a.id_token_file.as_deref(),
            )?
            .with_context(|| {
                format!(
                    "--grant token-exchange needs the ID token in {ID_TOKEN_VAR} or --id-token-file"
                )
            })?;
            Some(GrantType::TokenExchange(IdentityProvider {
                token_endpoint,
                client_id,
                client_secret: idp_secret,
                id_token,
            }))
        }
    };

    // The authorization server.
    let (authorization_endpoint, token_endpoint, registration_endpoint) = (
        a.authorization_endpoint,
        a.token_endpoint,
        a.registration_endpoint,
    );
    match a.issuer {
        Some(issuer) => {
            client.authorization_server = Some(ServerEndpoints {
                issuer,
                authorization_endpoint,
                token_endpoint,
                registration_endpoint,
            })
        }
        None => {
            for (given, flag) in [
                (authorization_endpoint.is_some(), "--authorization-endpoint"),
                (token_endpoint.is_some(), "--token-endpoint"),
                (registration_endpoint.is_some(), "--registration-endpoint"),
            ] {
                if given {
                    bail!("{flag} needs --issuer (the authorization server it belongs to)");
                }
            }
        }
    }

    let relax = Relaxations {
        accept_issuer_mismatch: a.accept_issuer_mismatch,
        allow_pkce_unadvertised: a.allow_pkce_unadvertised,
        omit_resource: a.omit_resource,
        allow_cross_origin_endpoints: a.allow_cross_origin_endpoints,
    };
    if relax.accept_issuer_mismatch
        || relax.allow_pkce_unadvertised
        || relax.omit_resource
        || relax.allow_cross_origin_endpoints
    {
        client.relaxations = Some(relax);
    }
    Ok(ConnectOptions {
        url: a.url,
        call: a.call,
        args: a.args,
        agent: cli::AgentOptions {
            headless: a.headless,
            port: a.port,
            timeout: Duration::from_secs(a.timeout),
            open_browser: !a.no_browser,
        },
        client,
        state_dir: a.state_dir,
        ..defaults
    })
}

/// One warning line per check `opts` switches off.
fn relaxation_warnings(opts: &ConnectOptions) -> Vec<&'static str> {
    let Some(r) = opts.client.relaxations else {
        return Vec::new();
    };
    [
        (
            r.accept_issuer_mismatch,
            "warning: --accept-issuer-mismatch: metadata whose issuer differs from the one it was fetched for is accepted",
        ),
        (
            r.allow_pkce_unadvertised,
            "warning: --allow-pkce-unadvertised: PKCE S256 is used although the server does not advertise it",
        ),
        (
            r.omit_resource,
            "warning: --omit-resource: no RFC 8707 resource parameter; the token is not bound to this MCP server",
        ),
        (
            r.allow_cross_origin_endpoints,
            "warning: --allow-cross-origin-endpoints: endpoints on another origin than the issuer are used without RFC 9207 iss (mix-up risk)",
        ),
    ]
    .into_iter()
    .filter_map(|(on, line)| on.then_some(line))
    .collect()
}

/// The state directory: `flag`, else the environment's.
fn state_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    state::state_dir(flag, |name| std::env::var_os(name))
}

/// The options of `connect` and `proxy` with the process's environment and
/// state directory; the checks switched off are warned about on stderr.
fn process_options(args: ConnectArgs) -> anyhow::Result<ConnectOptions> {
    let mut opts = connect_options(args, &|name| std::env::var(name).ok())?;
    opts.state_dir = Some(state_dir(opts.state_dir.as_deref())?);
    for line in relaxation_warnings(&opts) {
        eprintln!("{line}");
    }
    Ok(opts)
}

/// `connect` with the process's environment.
async fn connect(args: ConnectArgs) -> anyhow::Result<()> {
    cli::connect(process_options(args)?).await
}

/// `proxy` with the process's environment. `--call` and `--args` are
/// `connect`'s: the proxy sends what its client sends.
async fn proxy(args: ConnectArgs) -> anyhow::Result<()> {
    if args.call.is_some() {
        bail!("--call is an option of connect; the proxy sends what its MCP client sends");
    }
    cli::proxy(process_options(args)?).await
}

#[cfg(feature = "demo")]
async fn demo() -> anyhow::Result<()> {
    cli::demo().await
}

#[cfg(not(feature = "demo"))]
async fn demo() -> anyhow::Result<()> {
    bail!("this mcp-oauth was built without the demo (cargo feature `demo`)")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo => demo().await,
        Command::Connect(args) => connect(*args).await,
        Command::Proxy(args) => proxy(*args).await,
        Command::Status { state_dir: dir } => cli::status(&state_dir(dir.as_deref())?).await,
        Command::Logout {
            url,
            state_dir: dir,
        } => cli::logout(&state_dir(dir.as_deref())?, url.as_deref()).await,
        Command::Conformance { url } => {
            conformance::run(&url, &conformance::Environment::from_process()).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Secret values used below; none may appear in an error or a `Debug`.
    const CLIENT_SECRET: &str = "client-secret-VALUE-1";
    const ASSERTION: &str = "assertion-VALUE-2";
    const ID_TOKEN: &str = "id-token-VALUE-3";
    const IDP_SECRET: &str = "idp-secret-VALUE-4";
    const PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nKEY-MATERIAL-VALUE-5\n-----END PRIVATE KEY-----\n";
    const SECRETS: [&str; 5] = [
        CLIENT_SECRET,
        ASSERTION,
        ID_TOKEN,
        IDP_SECRET,
        "KEY-MATERIAL",
    ];

    const URL: &str = "https://mcp.example.com/mcp";

    /// A complete token exchange but for the ID token.
    const IDP: [&str; 8] = [
        "--client-id",
        "app",
        "--grant",
        "token-exchange",
        "--idp-token-endpoint",
        "https://idp.example.com/token",
        "--idp-client-id",
        "app-at-idp",
    ];

    /// A file removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(content: &str) -> TempFile {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "mcp-oauth-cli-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::write(&path, content).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn assert_no_secret(text: &str) {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} shown in: {text}");
        }
    }

    /// Parses `connect URL args...` with the environment `vars`; checks
    /// that neither the error nor the options' `Debug` shows a secret.
    fn parse(args: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<ConnectOptions> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = ["mcp-oauth", "connect", URL]
            .into_iter()
            .chain(args.iter().copied());
        let result = match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Connect(a),
            }) => connect_options(*a, &|name| env.get(name).cloned()),
            Ok(other) => panic!("not connect: {other:?}"),
            Err(e) => Err(anyhow::anyhow!(e.to_string())),
        };
        match &result {
            Ok(opts) => assert_no_secret(&format!("{opts:?}")),
            Err(e) => assert_no_secret(&format!("{e:#} {e:?}")),
        }
        result
    }

    /// `parse` of `--client-id client_id --private-key <a PEM file>` and
    /// `args`, which must succeed.
    fn parse_with_key(client_id: &str, args: &[&str]) -> ConnectOptions {
        let key = TempFile::new(PEM);
        let mut all = vec!["--client-id", client_id, "--private-key", key.path()];
        all.extend_from_slice(args);
        parse(&all, &[]).unwrap()
    }

    /// The error of `parse`, which must fail.
    fn error(args: &[&str], vars: &[(&str, &str)]) -> String {
        match parse(args, vars) {
            Ok(opts) => panic!("{args:?} was accepted: {opts:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn defaults_leave_everything_to_the_component() {
        let opts = parse(&[], &[]).unwrap();
        assert_eq!(opts.url, URL);
        assert!(opts.client.client_id.is_none() && opts.client.client_secret.is_none());
        assert!(opts.client.private_key_pem.is_none() && opts.client.client_metadata_url.is_none());
        assert!(opts.client.grant_type.is_none() && opts.client.authorization_server.is_none());
        assert!(opts.client.relaxations.is_none() && opts.client.dpop.is_none());
        assert!(relaxation_warnings(&opts).is_empty());
        // Empty variables count as unset.
        let opts = parse(&[], &[(CLIENT_SECRET_VAR, ""), (ASSERTION_VAR, "")]).unwrap();
        assert!(opts.client.client_secret.is_none() && opts.client.grant_type.is_none());
    }

    #[test]
    fn identity_endpoints_relaxations_and_dpop() {
        let opts = parse_with_key(
            "cli",
            &[
                "--client-metadata-url",
                "https://app.example.com/client.json",
                "--grant",
                "authorization-code",
                "--issuer",
                "https://as.example.com",
                "--authorization-endpoint",
                "https://as.example.com/authorize",
                "--token-endpoint",
                "https://as.example.com/token",
                "--registration-endpoint",
                "https://as.example.com/register",
                "--accept-issuer-mismatch",
                "--allow-pkce-unadvertised",
                "--omit-resource",
                "--dpop",
                "always",
            ],
        );
        assert_eq!(opts.client.client_id.as_deref(), Some("cli"));
        assert_eq!(opts.client.private_key_pem.as_deref(), Some(PEM));
        assert_eq!(
            opts.client.client_metadata_url.as_deref(),
            Some("https://app.example.com/client.json")
        );
        assert!(matches!(
            opts.client.grant_type,
            Some(GrantType::AuthorizationCode)
        ));
        let server = opts.client.authorization_server.clone().unwrap();
        assert_eq!(server.issuer, "https://as.example.com");
        let endpoints = (
            server.authorization_endpoint,
            server.token_endpoint,
            server.registration_endpoint,
        );
        let at = |path: &str| Some(format!("https://as.example.com/{path}"));
        assert_eq!(endpoints, (at("authorize"), at("token"), at("register")));
        let r = opts.client.relaxations.unwrap();
        assert!(r.accept_issuer_mismatch && r.allow_pkce_unadvertised && r.omit_resource);
        assert!(matches!(opts.client.dpop, Some(DpopMode::Always)));
        let warnings = relaxation_warnings(&opts);
        assert_eq!(warnings.len(), 3);
        for (line, flag) in warnings.iter().zip([
            "--accept-issuer-mismatch",
            "--allow-pkce-unadvertised",
            "--omit-resource",
        ]) {
            assert!(line.starts_with(&format!("warning: {flag}:")), "{line}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn an_issuer_alone_and_each_relaxation_alone() {
        let opts = parse(&["--issuer", "https://as.example.com"], &[]).unwrap();
        let server = opts.client.authorization_server.unwrap();
        assert_eq!(server.issuer, "https://as.example.com");
        assert!(server.authorization_endpoint.is_none());
        assert!(server.token_endpoint.is_none() && server.registration_endpoint.is_none());
        for flag in [
            "--accept-issuer-mismatch",
            "--allow-pkce-unadvertised",
            "--omit-resource",
            "--allow-cross-origin-endpoints",
        ] {
            let opts = parse(&[flag], &[]).unwrap();
            let r = opts.client.relaxations.unwrap();
            let on = [
                r.accept_issuer_mismatch,
                r.allow_pkce_unadvertised,
                r.omit_resource,
                r.allow_cross_origin_endpoints,
            ];
            assert_eq!(on.iter().filter(|b| **b).count(), 1, "{flag}");
            let warnings = relaxation_warnings(&opts);
            assert_eq!(warnings.len(), 1);
            assert!(warnings[0].contains(flag));
        }
        for (value, mode) in [
            ("auto", DpopMode::Auto),
            ("always", DpopMode::Always),
            ("never", DpopMode::Never),
        ] {
            assert_eq!(
                parse(&["--dpop", value], &[]).unwrap().client.dpop,
                Some(mode)
            );
        }
    }

    #[test]
    fn client_credentials_with_a_secret_or_a_key() {
        let opts = parse(
            &["--client-id", "svc", "--grant", "client-credentials"],
            &[(CLIENT_SECRET_VAR, CLIENT_SECRET)],
        )
        .unwrap();
        assert_eq!(opts.client.client_secret.as_deref(), Some(CLIENT_SECRET));
        assert!(matches!(
            opts.client.grant_type,
            Some(GrantType::ClientCredentials)
        ));
        let opts = parse_with_key("svc", &["--grant", "client-credentials"]);
        assert_eq!(opts.client.private_key_pem.as_deref(), Some(PEM));
        assert!(opts.client.client_secret.is_none());
    }

    #[test]
    fn jwt_bearer_assertion_from_the_environment_or_a_file() {
        let opts = parse(&["--grant", "jwt-bearer"], &[(ASSERTION_VAR, ASSERTION)]).unwrap();
        assert!(matches!(&opts.client.grant_type, Some(GrantType::JwtBearer(a)) if a == ASSERTION));
        let file = TempFile::new(&format!("{ASSERTION}\n"));
        let opts = parse(
            &["--grant", "jwt-bearer", "--assertion-file", file.path()],
            &[],
        )
        .unwrap();
        assert!(matches!(&opts.client.grant_type, Some(GrantType::JwtBearer(a)) if a == ASSERTION));
    }

    #[test]
    fn token_exchange_with_the_identity_provider() {
        let opts = parse(
            &IDP,
            &[
                (ID_TOKEN_VAR, ID_TOKEN),
                (IDP_CLIENT_SECRET_VAR, IDP_SECRET),
            ],
        )
        .unwrap();
        let Some(GrantType::TokenExchange(p)) = &opts.client.grant_type else {
            panic!("{opts:?}");
        };
        assert_eq!(p.token_endpoint, "https://idp.example.com/token");
        assert_eq!(p.client_id, "app-at-idp");
        assert_eq!(p.client_secret.as_deref(), Some(IDP_SECRET));
        assert_eq!(p.id_token, ID_TOKEN);
        let file = TempFile::new(&format!("  {ID_TOKEN}\n"));
        let mut args = IDP.to_vec();
        args.extend(["--id-token-file", file.path()]);
        let opts = parse(&args, &[]).unwrap();
        let Some(GrantType::TokenExchange(p)) = &opts.client.grant_type else {
            panic!("{opts:?}");
        };
        assert_eq!(p.id_token, ID_TOKEN);
        assert!(p.client_secret.is_none());
    }

    #[test]
    fn values_and_files_are_checked() {
        let e = error(&["--grant", "implicit"], &[]);
        assert!(
            e.contains("invalid value 'implicit' for '--grant <GRANT>'")
                && e.contains("authorization-code, client-credentials, jwt-bearer, token-exchange"),
            "{e}"
        );
        let e = error(&["--dpop", "sometimes"], &[]);
        assert!(
            e.contains("invalid value 'sometimes' for '--dpop <DPOP>'")
                && e.contains("auto, always, never"),
            "{e}"
        );
        for flag in [
            "--private-key",
            "--client-metadata-url",
            "--grant",
            "--assertion-file",
            "--id-token-file",
            "--idp-token-endpoint",
            "--idp-client-id",
            "--issuer",
            "--authorization-endpoint",
            "--token-endpoint",
            "--registration-endpoint",
            "--dpop",
        ] {
            let e = error(&[flag], &[]);
            assert!(
                e.contains("a value is required for '") && e.contains(&format!("'{flag} <")),
                "{e}"
            );
        }
        let e = error(&["--frobnicate"], &[]);
        assert!(e.contains("unexpected argument '--frobnicate'"), "{e}");
        let e = error(&["--args", "{oops"], &[]);
        assert!(
            e.contains("invalid value '{oops' for '--args <JSON>': not JSON"),
            "{e}"
        );

        let missing = std::env::temp_dir().join("mcp-oauth-cli-test-no-such-file");
        let missing = missing.to_str().unwrap();
        let e = error(&["--client-id", "c", "--private-key", missing], &[]);
        assert!(
            e.contains(&format!("cannot read the --private-key file {missing}")),
            "{e}"
        );
        let e = error(&["--grant", "jwt-bearer", "--assertion-file", missing], &[]);
        assert!(e.contains("cannot read the --assertion-file file"), "{e}");
        let empty = TempFile::new("\n");
        let e = error(&["--client-id", "c", "--private-key", empty.path()], &[]);
        assert!(e.contains("is empty"), "{e}");
        let e = error(
            &["--grant", "jwt-bearer", "--assertion-file", empty.path()],
            &[],
        );
        assert!(
            e.contains(&format!(
                "the --assertion-file file {} is empty",
                empty.path()
            )),
            "{e}"
        );
    }

    /// Arguments, environment, and the error expected.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

    #[test]
    fn bad_combinations_are_refused_without_showing_a_secret() {
        let key = TempFile::new(PEM);
        let assertion = TempFile::new(ASSERTION);
        let id_token = TempFile::new(ID_TOKEN);
        let with = |extra: &[&'static str]| {
            let mut v: Vec<&str> = IDP.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let without = |flag: &str| {
            let i = IDP.iter().position(|a| *a == flag).unwrap();
            let mut v = IDP.to_vec();
            v.drain(i..i + 2);
            v
        };
        let cases: Vec<Case> = vec![
            (
                vec!["--private-key", key.path()],
                vec![],
                "--private-key needs --client-id",
            ),
            (
                vec!["--client-id", "c", "--private-key", key.path()],
                vec![(CLIENT_SECRET_VAR, CLIENT_SECRET)],
                "MCP_OAUTH_CLIENT_SECRET is set and --private-key is given",
            ),
            (
                vec!["--grant", "client-credentials"],
                vec![],
                "--grant client-credentials needs --client-id with MCP_OAUTH_CLIENT_SECRET or --private-key",
            ),
            (
                vec!["--client-id", "c", "--grant", "client-credentials"],
                vec![],
                "--grant client-credentials needs --client-id",
            ),
            (
                vec!["--grant", "jwt-bearer"],
                vec![],
                "--grant jwt-bearer needs the assertion in MCP_OAUTH_ASSERTION or --assertion-file",
            ),
            (
                vec!["--grant", "jwt-bearer", "--assertion-file", assertion.path()],
                vec![(ASSERTION_VAR, ASSERTION)],
                "the assertion is given twice, in MCP_OAUTH_ASSERTION and with --assertion-file",
            ),
            (
                vec!["--assertion-file", assertion.path()],
                vec![],
                "--assertion-file needs --grant jwt-bearer",
            ),
            (
                vec!["--grant", "client-credentials", "--client-id", "c", "--assertion-file", assertion.path()],
                vec![(CLIENT_SECRET_VAR, CLIENT_SECRET)],
                "--assertion-file needs --grant jwt-bearer",
            ),
            (
                with(&[]),
                vec![],
                "--grant token-exchange needs the ID token in MCP_OAUTH_ID_TOKEN or --id-token-file",
            ),
            (
                without("--client-id"),
                vec![(ID_TOKEN_VAR, ID_TOKEN)],
                "--grant token-exchange needs --client-id",
            ),
            (
                without("--idp-token-endpoint"),
                vec![(ID_TOKEN_VAR, ID_TOKEN)],
                "--grant token-exchange needs --idp-token-endpoint",
            ),
            (
                without("--idp-client-id"),
                vec![(ID_TOKEN_VAR, ID_TOKEN)],
                "--grant token-exchange needs --idp-client-id",
            ),
            (
                with(&["--id-token-file"]).into_iter().chain([id_token.path()]).collect(),
                vec![(ID_TOKEN_VAR, ID_TOKEN), (IDP_CLIENT_SECRET_VAR, IDP_SECRET)],
                "the ID token is given twice, in MCP_OAUTH_ID_TOKEN and with --id-token-file",
            ),
            (
                vec!["--grant", "jwt-bearer"],
                vec![(ASSERTION_VAR, ASSERTION), (IDP_CLIENT_SECRET_VAR, IDP_SECRET)],
                "MCP_OAUTH_IDP_CLIENT_SECRET is set but --grant is not token-exchange",
            ),
        ];
        for (args, vars, expected) in cases {
            let e = error(&args, &vars);
            assert!(e.contains(expected), "{args:?}: {e}");
        }
        // A secret in the environment that nothing given uses.
        for (var, value, missing) in [
            (CLIENT_SECRET_VAR, CLIENT_SECRET, "--client-id is not"),
            (ASSERTION_VAR, ASSERTION, "--grant is not jwt-bearer"),
            (ID_TOKEN_VAR, ID_TOKEN, "--grant is not token-exchange"),
        ] {
            let e = error(&[], &[(var, value)]);
            assert!(e.contains(&format!("{var} is set but {missing}")), "{e}");
        }
        // A token-exchange option without the grant.
        for (flag, value) in [
            ("--id-token-file", id_token.path()),
            ("--idp-token-endpoint", "https://idp.example.com/token"),
            ("--idp-client-id", "x"),
        ] {
            let e = error(&[flag, value], &[]);
            assert!(
                e.contains(&format!("{flag} but --grant is not token-exchange")),
                "{e}"
            );
        }
        for flag in [
            "--authorization-endpoint",
            "--token-endpoint",
            "--registration-endpoint",
        ] {
            let e = error(&[flag, "https://as.example.com/x"], &[]);
            assert!(e.contains(&format!("{flag} needs --issuer")), "{e}");
        }
    }

    #[test]
    fn the_conformance_command_takes_only_the_server_url() {
        // The suite runs `<command> <server-url>`.
        let url = |args: &[&str]| {
            let argv = ["mcp-oauth", "conformance"]
                .into_iter()
                .chain(args.iter().copied());
            match Cli::try_parse_from(argv) {
                Ok(Cli {
                    command: Command::Conformance { url },
                }) => Ok(url),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e),
            }
        };
        assert_eq!(
            url(&["http://localhost:1/mcp"]).unwrap(),
            "http://localhost:1/mcp"
        );
        assert!(url(&[]).is_err());
        assert!(url(&["--verbose"]).is_err());
        assert!(url(&["x", "http://localhost:1/mcp"]).is_err());
    }

    #[test]
    fn the_help_lists_every_command_and_option() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        command.build();
        let help = command.render_long_help().to_string();
        for name in ["demo", "connect", "status", "logout", "conformance"] {
            assert!(help.contains(name), "{name} missing from the help:\n{help}");
        }
        let connect = command.find_subcommand_mut("connect").unwrap();
        let help = connect.render_long_help().to_string();
        for flag in [
            "--call",
            "--args",
            "--headless",
            "--client-id",
            "--scope",
            "--port",
            "--timeout",
            "--client-name",
            "--state-dir",
            "--private-key",
            "--client-metadata-url",
            "--grant",
            "authorization-code",
            "client-credentials",
            "jwt-bearer",
            "token-exchange",
            "--assertion-file",
            "--idp-token-endpoint",
            "--idp-client-id",
            "--id-token-file",
            "--issuer",
            "--authorization-endpoint",
            "--token-endpoint",
            "--registration-endpoint",
            "--accept-issuer-mismatch",
            "--allow-pkce-unadvertised",
            "--omit-resource",
            "--allow-cross-origin-endpoints",
            "--dpop",
            CLIENT_SECRET_VAR,
            ASSERTION_VAR,
            ID_TOKEN_VAR,
            IDP_CLIENT_SECRET_VAR,
        ] {
            assert!(help.contains(flag), "{flag} missing from the help:\n{help}");
        }
        Cli::command().debug_assert();
    }
}
