//! `mcp-oauth conformance <server-url>`: the client under test of the
//! official MCP conformance suite (`conformance client --command …`).
//!
//! The runner starts mock servers, runs the command with the MCP server URL
//! appended as the last argument, and describes the scenario in the
//! environment:
//!
//! - `MCP_CONFORMANCE_SCENARIO`: the scenario name (logged only).
//! - `MCP_CONFORMANCE_CONTEXT`: optional JSON; its `client_id` and
//!   `client_secret` are used as a pre-registered client. Other members
//!   (keys, identity-provider tokens) name features the component does not
//!   have and are reported, not used.
//! - `MCP_CONFORMANCE_PROTOCOL_VERSION`: the MCP revision the runner wants;
//!   the session uses exactly it (absent: it negotiates, as the CLI does).
//!
//! The client does what every auth scenario expects of it: `initialize`,
//! `tools/list`, then `tools/call test-tool {}`, through the same code as
//! `mcp-oauth connect --headless` ([`cli::open_session`], [`cli::run_session`]).
//! The mock authorization server answers `GET /authorize` with a redirect
//! straight away, so the headless user agent completes each authorization.
//! The scenario name never changes the behaviour: everything the component
//! does is what a real user of the CLI would get with the same credentials.

use crate::cli::{self, ConnectOptions};
use crate::mcp::ProtocolVersion;
use crate::session::UserAgent;
use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// The redirect URI the client registers. Nothing listens on it: the
/// headless user agent stops at the redirect to it and reads the code from
/// the `Location` header.
pub const REDIRECT_URI: &str = "http://127.0.0.1:3000/callback";

/// The tool every auth scenario expects to be called.
pub const TOOL: &str = "test-tool";

/// The `client_name` sent in registrations and `clientInfo`.
pub const CLIENT_NAME: &str = "mcp-oauth conformance client";

/// What the runner put in the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `MCP_CONFORMANCE_SCENARIO`.
    pub scenario: Option<String>,
    /// `MCP_CONFORMANCE_CONTEXT`, unparsed.
    pub context: Option<String>,
    /// `MCP_CONFORMANCE_PROTOCOL_VERSION`.
    pub protocol_version: Option<String>,
}

impl Environment {
    /// Reads the three variables from the process environment; empty ones
    /// count as absent.
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Environment {
            scenario: var("MCP_CONFORMANCE_SCENARIO"),
            context: var("MCP_CONFORMANCE_CONTEXT"),
            protocol_version: var("MCP_CONFORMANCE_PROTOCOL_VERSION"),
        }
    }
}

/// The credentials found in `MCP_CONFORMANCE_CONTEXT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A pre-registered client id.
    pub client_id: Option<String>,
    /// Its secret.
    pub client_secret: Option<String>,
    /// Members of the context that the client cannot use (names only, never
    /// values: some are private keys or tokens).
    pub unused: Vec<String>,
}

impl std::fmt::Display for Credentials {
    /// Names what is present, never a value other than the client id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.client_id {
            Some(id) => write!(f, "pre-registered client {id:?}")?,
            None => write!(f, "no pre-registered client")?,
        }
        if self.client_secret.is_some() {
            write!(f, " with a secret")?;
        }
        Ok(())
    }
}

/// Members of the context that carry no credential.
const DESCRIPTIVE: &[&str] = &["name"];

/// Reads the credentials of a `MCP_CONFORMANCE_CONTEXT` document: a JSON
/// object whose `client_id` and `client_secret`, when present, are strings.
pub fn parse_context(raw: &str) -> anyhow::Result<Credentials> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| anyhow!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}"))?;
    let Value::Object(members) = value else {
        bail!("MCP_CONFORMANCE_CONTEXT is not a JSON object");
    };
    let string = |name: &str| -> anyhow::Result<Option<String>> {
        match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("MCP_CONFORMANCE_CONTEXT: {name} is not a string"),
        }
    };
    let client_id = string("client_id")?;
    let client_secret = string("client_secret")?;
    if client_secret.is_some() && client_id.is_none() {
        bail!("MCP_CONFORMANCE_CONTEXT has a client_secret but no client_id");
    }
    let mut unused: Vec<String> = members
        .keys()
        .filter(|k| !matches!(k.as_str(), "client_id" | "client_secret"))
        .filter(|k| !DESCRIPTIVE.contains(&k.as_str()))
        .cloned()
        .collect();
    unused.sort();
    Ok(Credentials {
        client_id,
        client_secret,
        unused,
    })
}

/// The `connect` options for one scenario: headless, `test-tool` with `{}`,
/// and the context's client, if any.
pub fn options(server_url: &str, credentials: &Credentials) -> ConnectOptions {
    ConnectOptions {
        url: server_url.to_string(),
        call: Some(TOOL.to_string()),
        args: serde_json::json!({}),
        headless: true,
        client_id: credentials.client_id.clone(),
        client_secret: credentials.client_secret.clone(),
        client_name: CLIENT_NAME.to_string(),
        ..ConnectOptions::default()
    }
}

/// Parses the arguments of `mcp-oauth conformance`: the server URL is the
/// last argument (the runner appends it to the command).
pub fn parse_args(args: &[String]) -> anyhow::Result<String> {
    match args {
        [.., url] if !url.starts_with("--") => {
            if args.len() > 1 {
                bail!(
                    "conformance takes only the server URL, got {} arguments",
                    args.len()
                );
            }
            Ok(url.clone())
        }
        _ => bail!("conformance needs the MCP server URL as its last argument"),
    }
}

/// Runs one scenario against `server_url`. Progress goes to stdout, notes to
/// stderr; the error, if any, is a single line.
pub async fn run(server_url: &str, env: &Environment) -> anyhow::Result<()> {
    run_inner(server_url, env)
        .await
        .map_err(|e| anyhow!(one_line(&format!("{e:#}"))))
}

async fn run_inner(server_url: &str, env: &Environment) -> anyhow::Result<()> {
    let credentials = match &env.context {
        Some(raw) => parse_context(raw)?,
        None => Credentials::default(),
    };
    println!(
        "conformance scenario {} against {server_url}: {credentials}, redirect URI {REDIRECT_URI}",
        env.scenario.as_deref().unwrap_or("(unnamed)")
    );
    if !credentials.unused.is_empty() {
        eprintln!(
            "note: MCP_CONFORMANCE_CONTEXT members not used by this client: {}",
            credentials.unused.join(", ")
        );
    }
    let protocol_version = match &env.protocol_version {
        Some(v) => Some(
            v.parse::<ProtocolVersion>()
                .context("MCP_CONFORMANCE_PROTOCOL_VERSION")?,
        ),
        None => None,
    };
    let mut opts = options(server_url, &credentials);
    opts.protocol_version = protocol_version;
    let mut session = cli::open_session(&opts, REDIRECT_URI.to_string(), UserAgent::Headless)
        .await
        .context("starting the component")?;
    cli::run_session(&mut session, &opts).await?;
    println!("conformance client finished: initialize, tools/list and tools/call {TOOL} succeeded");
    Ok(())
}

/// Joins the lines of a message with "; " so the runner's log shows it whole.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Behaviour, MockWorld};

    #[test]
    fn context_with_a_pre_registered_client() {
        let c = parse_context(
            r#"{"name":"auth/pre-registration","client_id":"pre-id","client_secret":"pre-secret"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id.as_deref(), Some("pre-id"));
        assert_eq!(c.client_secret.as_deref(), Some("pre-secret"));
        assert!(c.unused.is_empty());
        let shown = c.to_string();
        assert!(shown.contains("pre-id") && !shown.contains("pre-secret"));
    }

    #[test]
    fn context_members_the_client_cannot_use_are_named_not_shown() {
        let c = parse_context(
            r#"{"name":"auth/client-credentials-jwt","client_id":"jwt","private_key_pem":"-----BEGIN","signing_algorithm":"ES256"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id.as_deref(), Some("jwt"));
        assert_eq!(c.client_secret, None);
        assert_eq!(c.unused, vec!["private_key_pem", "signing_algorithm"]);
    }

    #[test]
    fn malformed_contexts_are_refused() {
        for raw in [
            "not json",
            "[1]",
            r#"{"client_id": 5}"#,
            r#"{"client_secret": "s"}"#,
        ] {
            let e = parse_context(raw).unwrap_err().to_string();
            assert!(e.starts_with("MCP_CONFORMANCE_CONTEXT"), "{raw}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn options_are_those_of_a_headless_connect_calling_test_tool() {
        let none = options("http://localhost:4000/mcp", &Credentials::default());
        assert_eq!(none.url, "http://localhost:4000/mcp");
        assert_eq!(none.call.as_deref(), Some("test-tool"));
        assert_eq!(none.args, serde_json::json!({}));
        assert!(none.headless);
        assert_eq!((none.client_id, none.client_secret), (None, None));
        assert_eq!(none.scope, None);
        let pre = options(
            "http://localhost:4000/mcp",
            &Credentials {
                client_id: Some("id".into()),
                client_secret: Some("secret".into()),
                unused: vec![],
            },
        );
        assert_eq!(pre.client_id.as_deref(), Some("id"));
        assert_eq!(pre.client_secret.as_deref(), Some("secret"));
    }

    #[test]
    fn the_server_url_is_the_only_argument() {
        let url =
            |args: &[&str]| parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            url(&["http://localhost:1/mcp"]).unwrap(),
            "http://localhost:1/mcp"
        );
        assert!(url(&[]).is_err());
        assert!(url(&["--verbose"]).is_err());
        assert!(url(&["x", "http://localhost:1/mcp"]).is_err());
    }

    #[tokio::test]
    async fn an_unknown_protocol_version_is_refused_before_anything_is_sent() {
        let env = Environment {
            protocol_version: Some("1999-01-01".into()),
            ..Environment::default()
        };
        let e = run("http://127.0.0.1:9/mcp", &env)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "MCP_CONFORMANCE_PROTOCOL_VERSION: unknown MCP protocol version \"1999-01-01\""
            ) && e.contains("2026-07-28"),
            "{e}"
        );
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }

    /// The whole path against the local mocks: registration, headless
    /// authorization with the 127.0.0.1 redirect URI, initialize and
    /// tools/list succeed; the mock has no `test-tool`, so the call fails
    /// with the server's JSON-RPC error, on one line.
    #[tokio::test]
    async fn runs_against_the_mocks_up_to_the_missing_test_tool() {
        let world = MockWorld::start(Behaviour::default()).await.unwrap();
        let env = Environment {
            scenario: Some("auth/metadata-default".into()),
            ..Environment::default()
        };
        let e = run(&world.mcp_url(), &env).await.unwrap_err().to_string();
        assert!(
            e.contains("tools/call") && e.contains("Unknown tool: test-tool"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        assert!(
            world
                .log()
                .iter()
                .any(|r| r.method == "POST" && r.path.ends_with("/token")),
            "no token request"
        );
    }
}
