//! Glue between the component and an MCP session: a [`Transport`] that sends
//! every request through `wrap-call` and, when the component says a user is
//! needed, has a user agent visit the authorization URL and hands the
//! redirect back with `complete-authorization`. No auth decision is made
//! here: the component makes them all.

use crate::mcp::{IncomingResponse, OutgoingRequest, Transport};
use crate::report;
use anyhow::{bail, Context};
use mcp_oauth_host::agent::{follow_headless, LoopbackPort};
use mcp_oauth_host::harness::{
    AuthError, FlowEvent, HttpRequest, Instance, PendingAuthorization, Response, Step, TokenInfo,
    TokenState,
};
use mcp_oauth_host::state::{Persistence, Renewal, StateLock};
use std::time::Duration;

/// How often one request may have its token renewed under the state lock
/// (`renewal-required`): once because it was stale, once because the
/// server refused it.
const MAX_RENEWALS: usize = 2;

/// Largest MCP response body read into memory.
pub const MAX_MCP_RESPONSE: usize = 16 << 20;

/// Who visits authorization URLs.
#[derive(Debug, Clone)]
pub enum UserAgent {
    /// Follow the redirects without a browser (test servers that consent by
    /// themselves, like the mocks or oidc-provider's dev interactions).
    Headless,
    /// Print the URL for a person, open it in the system browser unless
    /// told not to, and wait on a loopback listener.
    Interactive {
        /// The loopback port the redirect URI names, held from configuration
        /// on.
        port: LoopbackPort,
        /// How long to wait for the person.
        timeout: Duration,
        /// Open the URL in the system browser (`$BROWSER`, else the
        /// platform's default; the `webbrowser` crate).
        open_browser: bool,
    },
}

/// What the transport reports as it goes.
pub trait Progress: Send {
    /// One exchange the component made while authorizing.
    fn event(&mut self, event: &FlowEvent);
    /// A user must visit a URL.
    fn authorization_needed(&mut self, pending: &PendingAuthorization, agent: &UserAgent);
    /// A token was obtained.
    fn authorized(&mut self, info: &TokenInfo);
    /// Something the host did with the persisted state (waiting for its
    /// lock, renewing a token).
    fn note(&mut self, _line: &str) {}
}

/// Progress that prints nothing.
pub struct Silent;

impl Progress for Silent {
    fn event(&mut self, _: &FlowEvent) {}
    fn authorization_needed(&mut self, _: &PendingAuthorization, _: &UserAgent) {}
    fn authorized(&mut self, _: &TokenInfo) {}
}

/// A [`Transport`] through the component.
pub struct ComponentTransport<P: Progress> {
    instance: Instance,
    agent: UserAgent,
    progress: P,
    /// How many authorizations a single request may need before giving up.
    max_authorizations: usize,
    /// Where the state is kept between processes, if anywhere.
    persistence: Option<Persistence>,
    /// The state lock, while this process authorizes (see
    /// [`ComponentTransport::open`]).
    held: Option<StateLock>,
}

impl<P: Progress> ComponentTransport<P> {
    /// Wraps a configured instance.
    pub fn new(instance: Instance, agent: UserAgent, progress: P) -> Self {
        ComponentTransport {
            instance,
            agent,
            progress,
            max_authorizations: 1,
            persistence: None,
            held: None,
        }
    }

    /// Keeps the instance's state with `persistence` (already attached to
    /// it): before each request a token that `token-status` calls
    /// renewable is renewed under the state lock, and after each change the
    /// state is written back.
    pub fn set_persistence(&mut self, persistence: Persistence) {
        self.persistence = Some(persistence);
    }

    /// Writes the instance's state back if it changed (no-op without
    /// persistence).
    pub async fn save_state(&mut self) -> anyhow::Result<()> {
        let Some(persistence) = &mut self.persistence else {
            return Ok(());
        };
        if let Some(lock) = &self.held {
            return persistence.save_held(lock, &mut self.instance).await;
        }
        let progress = &mut self.progress;
        persistence
            .save(&mut self.instance, || {
                progress.note("waiting for another mcp-oauth process (state lock)")
            })
            .await
    }

    /// Before a request to `url`, and when the component asks for it
    /// (`renewal-required`): renews the token under the state lock if it is
    /// about to expire or was refused, and a refresh token (or a grant
    /// without a user) can replace it. Without persistence, the component
    /// renews it directly.
    async fn prepare(&mut self, url: &str) -> anyhow::Result<()> {
        // Without persistence, or with the lock held already (this process
        // is authorizing): renew here, then save.
        let persistence = match &mut self.persistence {
            Some(p) if self.held.is_none() => p,
            _ => {
                if self.instance.token_status(url).await? == TokenState::Renewable {
                    let renewed = self.instance.renew(url).await?;
                    self.report_events().await?;
                    if let Err(e) = renewed {
                        self.renewal_failed(&e);
                    }
                    self.save_state().await?;
                }
                return Ok(());
            }
        };
        let progress = &mut self.progress;
        let renewal = persistence
            .prepare(&mut self.instance, url, || {
                progress.note("waiting for another mcp-oauth process (state lock)")
            })
            .await?;
        self.report_events().await?;
        match renewal {
            Renewal::NotNeeded => {}
            Renewal::ByAnotherProcess => self
                .progress
                .note("token renewed by another mcp-oauth process; using it"),
            Renewal::Renewed(info) => {
                let expiry = match info.expires_at {
                    Some(t) => format!(
                        ", expires in {} s",
                        t.saturating_sub(mcp_oauth_host::state::unix_now())
                    ),
                    None => String::new(),
                };
                self.progress
                    .note(&format!("token renewed without the user{expiry}"));
            }
            Renewal::Failed(e) => self.renewal_failed(&e),
        }
        Ok(())
    }

    fn renewal_failed(&mut self, e: &AuthError) {
        self.progress.note(&format!(
            "the token could not be renewed: {}",
            report::describe(e)
        ));
    }

    /// Takes the state lock for an authorization (a no-op without
    /// persistence or with the lock held) and brings in what other
    /// processes stored: `true` when that changed this instance's state —
    /// another process may have authorized meanwhile, so the request is
    /// worth sending again before a user is asked.
    async fn hold(&mut self) -> anyhow::Result<bool> {
        let Some(persistence) = &mut self.persistence else {
            return Ok(false);
        };
        if self.held.is_some() {
            return Ok(false);
        }
        let before = self.instance.export_state().await?;
        let progress = &mut self.progress;
        let lock = persistence
            .acquire(&mut self.instance, || {
                progress.note(
                    "waiting for another mcp-oauth process (it may be authorizing this server)",
                )
            })
            .await?;
        self.held = Some(lock);
        Ok(self.instance.export_state().await? != before)
    }

    /// Writes the state and releases the lock of [`Self::hold`], if held.
    async fn release(&mut self) -> anyhow::Result<()> {
        match (self.held.take(), &mut self.persistence) {
            (Some(lock), Some(persistence)) => persistence.release(lock, &mut self.instance).await,
            _ => Ok(()),
        }
    }

    /// The instance, e.g. to export its state.
    pub fn instance_mut(&mut self) -> &mut Instance {
        &mut self.instance
    }

    async fn report_events(&mut self) -> anyhow::Result<()> {
        for event in self.instance.take_events().await? {
            self.progress.event(&event);
        }
        Ok(())
    }

    /// Has the user agent complete `pending`, then redeems the code. The
    /// component may ask for the user once more (after an `invalid_scope`
    /// error redirect it registers anew, once): that authorization is
    /// visited too.
    async fn complete(&mut self, pending: PendingAuthorization) -> anyhow::Result<()> {
        let mut pending = pending;
        loop {
            self.progress.authorization_needed(&pending, &self.agent);
            let callback = self.visit(&pending).await?;
            let result = self.instance.complete_authorization(&callback).await?;
            self.report_events().await?;
            match result {
                Ok(info) => {
                    self.progress.authorized(&info);
                    return Ok(());
                }
                Err(AuthError::AuthorizationRequired(next)) => {
                    self.progress.note(
                        "invalid_scope: the authorization server refused the scope for this client; \
                         the component registered anew, authorizing once more",
                    );
                    self.save_state().await?;
                    pending = next;
                }
                Err(e) => bail!(report::describe(&e)),
            }
        }
    }

    /// Has the user agent visit the authorization URL; the URL it is
    /// redirected back to.
    async fn visit(&mut self, pending: &PendingAuthorization) -> anyhow::Result<String> {
        match &self.agent {
            UserAgent::Headless => {
                follow_headless(&pending.authorization_url, &pending.redirect_uri).await
            }
            UserAgent::Interactive {
                port,
                timeout,
                open_browser,
            } => {
                let listener = port.listen_for(&pending.redirect_uri)?;
                if *open_browser {
                    let url = pending.authorization_url.clone();
                    let opened = tokio::task::spawn_blocking(move || webbrowser::open(&url))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()));
                    self.progress.note(&match opened {
                        Ok(()) => "opened in the system browser".to_string(),
                        Err(e) => {
                            format!("no browser could be opened ({e}): open the URL yourself")
                        }
                    });
                }
                let callback = listener.wait(*timeout, &pending.state).await;
                port.hold_again();
                callback
            }
        }
    }
}

impl<P: Progress> ComponentTransport<P> {
    /// Sends `req` through the component and returns the response unread,
    /// so that its body streams (server-sent events). Authorizes when the
    /// component asks for a user.
    ///
    /// Several processes sharing a state file authorize once: a process
    /// with no token for the server takes the state lock before it sends,
    /// and one whose token needs a user takes it before the user is asked;
    /// with the lock it first brings in what the others stored. The
    /// processes started with it wait, then find the token — one
    /// registration, one authorization.
    pub async fn open(&mut self, req: &OutgoingRequest) -> anyhow::Result<Response> {
        let request = HttpRequest {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
                .collect(),
            body: req.body.clone(),
        };
        self.prepare(&req.url).await?;
        if self.persistence.is_some()
            && self.instance.token_status(&req.url).await? == TokenState::None
        {
            self.hold().await?;
        }
        let result = self.open_request(&request).await;
        let released = self.release().await;
        let response = result?;
        released?;
        Ok(response)
    }

    async fn open_request(&mut self, request: &HttpRequest) -> anyhow::Result<Response> {
        let mut authorizations = 0;
        let mut renewals = 0;
        loop {
            let outcome = self.instance.wrap_call(request).await?;
            self.report_events().await?;
            // Written before the body is read: no lock is held while it
            // streams.
            self.save_state().await?;
            match outcome {
                Ok(response) => return Ok(response),
                // The component does not redeem refresh tokens itself
                // (host-renews): renew under the lock, then send again. A
                // renewed token that is refused again leads the component
                // to authorize, so this happens at most twice per request.
                Err(AuthError::RenewalRequired(_)) if renewals < MAX_RENEWALS => {
                    renewals += 1;
                    self.prepare(&request.url).await?;
                }
                Err(AuthError::AuthorizationRequired(pending))
                    if authorizations < self.max_authorizations =>
                {
                    if self.hold().await? {
                        self.progress.note(
                            "another mcp-oauth process stored a new state; sending with it first",
                        );
                        continue;
                    }
                    authorizations += 1;
                    let completed = self.complete(pending).await;
                    self.save_state().await?;
                    completed?;
                }
                Err(e) => bail!(report::describe(&e)),
            }
        }
    }
}

impl<P: Progress> Transport for ComponentTransport<P> {
    async fn send(&mut self, req: OutgoingRequest) -> anyhow::Result<IncomingResponse> {
        let response = self.open(&req).await?;
        let status = response.status;
        let headers = response
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let body = response
            .bytes(MAX_MCP_RESPONSE)
            .await
            .with_context(|| format!("reading the response of {} {}", req.method, req.url))?;
        Ok(IncomingResponse {
            status,
            headers,
            body,
        })
    }
}

/// A short label for a step, for progress lines.
pub fn step_label(step: Step) -> &'static str {
    match step {
        Step::ProtectedResourceMetadata => "protected resource metadata",
        Step::AuthorizationServerMetadata => "authorization server metadata",
        Step::Registration => "client registration",
        Step::Authorization => "authorization",
        Step::Token => "token",
        Step::Resource => "MCP request",
    }
}
