//! `mcp-oauth conformance <server-url>`: the client under test of the
//! official MCP conformance suite (`conformance client --command …`).
//!
//! The runner starts mock servers, runs the command with the MCP server URL
//! appended as the last argument, and describes the scenario in the
//! environment:
//!
//! - `MCP_CONFORMANCE_SCENARIO`: the scenario name (logged only).
//! - `MCP_CONFORMANCE_CONTEXT`: optional JSON with credentials: a
//!   pre-registered client (`client_id`, `client_secret` or
//!   `private_key_pem`), a workload identity JWT (`valid_jwt`), or an
//!   enterprise identity provider with an ID token (`idp_*`). Members that
//!   are no credential (the negative-test JWTs) are named, not used.
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

use crate::commands::{self as cli, ConnectOptions};
use crate::mcp::ProtocolVersion;
use crate::session::UserAgent;
use anyhow::{anyhow, bail, Context};
use mcp_oauth_host::harness::{ClientConfig, GrantType, IdentityProvider};
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

/// The credentials found in `MCP_CONFORMANCE_CONTEXT`. `Debug` and
/// `Display` name what is present, never a secret.
#[derive(Clone, Default)]
pub struct Credentials {
    /// A pre-registered client id.
    pub client_id: Option<String>,
    /// Its secret.
    pub client_secret: Option<String>,
    /// Its P-256 private key (PEM), for `private_key_jwt`.
    pub private_key_pem: Option<String>,
    /// A workload identity JWT for the JWT bearer grant (`valid_jwt`).
    pub assertion: Option<String>,
    /// An enterprise identity provider with the user's ID token (SEP-990).
    pub identity_provider: Option<IdentityProvider>,
    /// Members of the context that the client does not use (names only,
    /// never values: some are private keys or tokens).
    pub unused: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({self}; unused {:?})", self.unused)
    }
}

impl std::fmt::Display for Credentials {
    /// Names what is present, never a value other than the client ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.client_id {
            Some(id) => write!(f, "pre-registered client {id:?}")?,
            None => write!(f, "no pre-registered client")?,
        }
        if self.client_secret.is_some() {
            write!(f, " with a secret")?;
        }
        if self.private_key_pem.is_some() {
            write!(f, " with a private key")?;
        }
        if self.assertion.is_some() {
            write!(f, ", a workload identity assertion")?;
        }
        if let Some(idp) = &self.identity_provider {
            write!(
                f,
                ", an ID token from the identity provider at {} (client {:?})",
                idp.token_endpoint, idp.client_id
            )?;
        }
        Ok(())
    }
}

/// Members of the context that carry no credential.
const DESCRIPTIVE: &[&str] = &["name", "idp_issuer", "signing_algorithm"];

/// The algorithm of `private_key_pem` this client signs with.
const SIGNING_ALGORITHM: &str = "ES256";

/// The Client ID Metadata Document URL of the conformance client: the
/// suite's authorization servers that support CIMD expect exactly this one
/// (and never fetch it).
pub const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

/// Reads the credentials of a `MCP_CONFORMANCE_CONTEXT` document: a JSON
/// object whose members, when present, are strings.
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
    let private_key_pem = string("private_key_pem")?;
    if private_key_pem.is_some() {
        if let Some(alg) = string("signing_algorithm")? {
            if alg != SIGNING_ALGORITHM {
                bail!(
                    "MCP_CONFORMANCE_CONTEXT asks for signing algorithm {alg:?}; this client signs with {SIGNING_ALGORITHM}"
                );
            }
        }
    }
    let assertion = string("valid_jwt")?;
    let identity_provider = match (
        string("idp_token_endpoint")?,
        string("idp_client_id")?,
        string("idp_id_token")?,
    ) {
        (Some(token_endpoint), Some(client_id), Some(id_token)) => Some(IdentityProvider {
            token_endpoint,
            client_id,
            client_secret: string("idp_client_secret")?,
            id_token,
        }),
        (None, None, None) => None,
        _ => bail!(
            "MCP_CONFORMANCE_CONTEXT needs idp_token_endpoint, idp_client_id and idp_id_token together"
        ),
    };
    const USED: &[&str] = &[
        "client_id",
        "client_secret",
        "private_key_pem",
        "valid_jwt",
        "idp_token_endpoint",
        "idp_client_id",
        "idp_id_token",
        "idp_client_secret",
    ];
    let mut unused: Vec<String> = members
        .keys()
        .filter(|k| !USED.contains(&k.as_str()))
        .filter(|k| !DESCRIPTIVE.contains(&k.as_str()))
        .cloned()
        .collect();
    unused.sort();
    Ok(Credentials {
        client_id,
        client_secret,
        private_key_pem,
        assertion,
        identity_provider,
        unused,
    })
}

/// The `connect` options for one scenario: headless, `test-tool` with `{}`,
/// the conformance client's metadata document URL, and the context's
/// credentials. An assertion selects the JWT bearer grant and an identity
/// provider the token exchange, as they would for a user who passes them;
/// everything else the component decides from what the servers publish.
pub fn options(server_url: &str, credentials: &Credentials) -> ConnectOptions {
    let grant_type = match (&credentials.identity_provider, &credentials.assertion) {
        (Some(idp), _) => Some(GrantType::TokenExchange(idp.clone())),
        (None, Some(jwt)) => Some(GrantType::JwtBearer(jwt.clone())),
        (None, None) => None,
    };
    ConnectOptions {
        url: server_url.to_string(),
        call: Some(TOOL.to_string()),
        args: serde_json::json!({}),
        agent: cli::AgentOptions {
            headless: true,
            ..Default::default()
        },
        client: ClientConfig {
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            private_key_pem: credentials.private_key_pem.clone(),
            client_metadata_url: Some(CLIENT_METADATA_URL.to_string()),
            grant_type,
            ..ClientConfig::new(CLIENT_NAME, String::new())
        },
        ..ConnectOptions::default()
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
    use mcp_oauth_mock::{Behaviour, MockWorld};

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
    fn context_with_a_private_key() {
        let c = parse_context(
            r#"{"name":"auth/client-credentials-jwt","client_id":"jwt","private_key_pem":"-----BEGIN PRIVATE KEY-----","signing_algorithm":"ES256"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id.as_deref(), Some("jwt"));
        assert_eq!(c.client_secret, None);
        assert!(c.private_key_pem.is_some());
        assert!(c.unused.is_empty());
        let shown = format!("{c} {c:?}");
        assert!(
            shown.contains("private key") && !shown.contains("BEGIN"),
            "{shown}"
        );
        let e = parse_context(
            r#"{"client_id":"jwt","private_key_pem":"k","signing_algorithm":"RS256"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("RS256"));
    }

    #[test]
    fn context_with_a_workload_jwt_or_an_identity_provider_selects_the_grant() {
        let wif = parse_context(
            r#"{"client_id":"w","valid_jwt":"eyJ.valid","wrong_audience_jwt":"eyJ.a","expired_jwt":"eyJ.e"}"#,
        )
        .unwrap();
        assert_eq!(wif.unused, vec!["expired_jwt", "wrong_audience_jwt"]);
        let opts = options("http://localhost:1/mcp", &wif);
        assert!(
            matches!(&opts.client.grant_type, Some(GrantType::JwtBearer(j)) if j == "eyJ.valid")
        );
        assert!(!format!("{wif:?} {opts:?}").contains("eyJ"));
        let ema = parse_context(
            r#"{"client_id":"c","client_secret":"s","idp_client_id":"i","idp_id_token":"eyJ.id","idp_issuer":"http://localhost:2","idp_token_endpoint":"http://localhost:2/token"}"#,
        )
        .unwrap();
        assert!(ema.unused.is_empty());
        let opts = options("http://localhost:1/mcp", &ema);
        match &opts.client.grant_type {
            Some(GrantType::TokenExchange(idp)) => {
                assert_eq!(idp.token_endpoint, "http://localhost:2/token");
                assert_eq!(idp.client_id, "i");
                assert_eq!(idp.id_token, "eyJ.id");
            }
            other => panic!("{:?}", other.is_some()),
        }
        assert!(!format!("{ema} {ema:?} {opts:?}").contains("eyJ"));
        assert!(parse_context(r#"{"idp_client_id":"i"}"#).is_err());
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
        assert!(none.agent.headless);
        let client = none.client;
        assert_eq!(client.client_name, CLIENT_NAME);
        assert_eq!((client.client_id, client.client_secret), (None, None));
        assert_eq!(client.scope, None);
        assert!(client.grant_type.is_none());
        assert_eq!(
            client.client_metadata_url.as_deref(),
            Some(CLIENT_METADATA_URL)
        );
        let pre = options(
            "http://localhost:4000/mcp",
            &Credentials {
                client_id: Some("id".into()),
                client_secret: Some("secret".into()),
                ..Credentials::default()
            },
        );
        assert_eq!(pre.client.client_id.as_deref(), Some("id"));
        assert_eq!(pre.client.client_secret.as_deref(), Some("secret"));
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
