//! The authorization flow: protected resource metadata (RFC 9728), the
//! authorization server's metadata (RFC 8414 / OpenID Connect Discovery),
//! a client identity (pre-registered, metadata document or RFC 7591
//! registration), then the authorization URL — or, for the grants without a
//! user, the token request.

use super::keys::Keys;
use super::redeem::{Redeem, Then, TokenFor};
use super::{Next, Outcome, Phase};
use crate::authorize::{
    authorization_url, AuthorizationRequest, PendingAuthorization, PendingRecord,
};
use crate::config::{Config, DpopMode, GrantKind, GrantType, IdentityProvider, Secret};
use crate::discovery::{
    as_metadata_candidates, parse_as_metadata, parse_resource_metadata, prm_candidates,
    AuthServerMetadata, ResourceMetadata, MAX_AUTHORIZATION_SERVERS, MAX_METADATA_BYTES,
};
use crate::error::{Attempt, Error, Mismatch};
use crate::http::{HttpRequest, HttpResponse, Step};
use crate::prelude::*;
use crate::store::{AuthMethod, Binding, ClientRecord, Map};
use crate::token::{self, TokenCall};
use crate::url::Url;
use crate::{registration, scope};

/// What an authorization flow starts from (copied out of the client).
pub(crate) struct Start {
    pub config: Config,
    pub server: Url,
    pub server_key: String,
    pub asked: Asked,
    /// Fresh cached metadata, by issuer.
    pub metadata: Map<AuthServerMetadata>,
    /// The stored client identities, by issuer.
    pub clients: Map<ClientRecord>,
    /// The issuer the configured credentials were first used with, if any.
    pub credential_issuer: Option<String>,
}

/// Why the authorization runs: what the server's challenge asked for, and
/// what came before.
pub(crate) struct Asked {
    /// The challenge as the server sent it (kept with a pending
    /// authorization, to start it again).
    pub challenge: Option<String>,
    /// Its `resource_metadata`.
    pub resource_metadata_url: Option<String>,
    /// Its `scope`.
    pub scope: Option<String>,
    /// Whether it offered the `DPoP` scheme (or, without a challenge, the
    /// token being replaced was DPoP-bound).
    pub dpop: bool,
    /// The scope of the token a 403 `insufficient_scope` refused: the new
    /// request asks for the union (MCP 2026-07-28 step-up, SEP-2350).
    pub previous_scope: Option<String>,
    /// Whether this flow is the one more try after `invalid_scope`.
    pub after_invalid_scope: bool,
}

/// A running authorization flow: where it started, and the request out.
pub(super) struct Discovery {
    start: Start,
    stage: Stage,
}

/// Which discovery request is out.
// One per flow, moved once per response: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Stage {
    ResourceMetadata(Candidates),
    ServerMetadata {
        prm: ResourceMetadata,
        /// The index of the authorization server asked, in the PRM's list.
        issuer: usize,
        tried: Candidates,
        /// Whether the server has no PRM (a 2025-03-26 server).
        legacy: bool,
    },
    Register(Registering),
}

/// The metadata URLs a discovery step tries in turn, and what each
/// answered.
struct Candidates {
    urls: Vec<String>,
    /// The one asked now.
    index: usize,
    attempts: Vec<Attempt>,
}

impl Candidates {
    fn new(urls: Vec<String>, attempts: Vec<Attempt>) -> Candidates {
        Candidates {
            urls,
            index: 0,
            attempts,
        }
    }

    /// The request for the URL asked now.
    fn request(&self, step: Step) -> HttpRequest {
        HttpRequest::get_json(step, self.urls[self.index].clone(), MAX_METADATA_BYTES)
    }

    /// A URL answered 4xx ("not here"; 5xx never gets here): records the
    /// attempt and moves to the next; `false` when the list is exhausted.
    fn next(&mut self, req: &HttpRequest, status: u16) -> bool {
        self.attempts.push(Attempt {
            url: req.url.clone(),
            status: Some(status),
        });
        if self.index + 1 < self.urls.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    /// Whether every URL tried answered 404 (no document, as opposed to a
    /// server that refused).
    fn all_404(&self) -> bool {
        self.attempts.iter().all(|a| a.status == Some(404))
    }
}

/// The authorization server chosen, with its metadata.
struct Server {
    prm: ResourceMetadata,
    issuer: String,
    metadata: AuthServerMetadata,
    /// Whether the metadata was fetched now (then it is cached).
    fetched: bool,
}

impl Server {
    /// An endpoint the flow cannot go on without.
    fn required(&self, name: &str, endpoint: &Option<String>) -> Result<String, Error> {
        endpoint.clone().ok_or_else(|| Error::InvalidResponse {
            step: Step::AuthorizationServerMetadata,
            url: self.issuer.clone(),
            reason: format!("{name} is missing"),
        })
    }
}

/// A registration request is out; what the flow goes on with.
struct Registering {
    server: Server,
    /// The scope asked for in the registration.
    scope: Option<String>,
    /// When that is more than the request needs: the request's own scope,
    /// registered instead if the server refuses the first registration (one
    /// that rejects scopes it does not know).
    fallback: Option<Option<String>>,
}

impl Discovery {
    /// The first request: the protected resource metadata.
    pub(super) fn begin(start: Start) -> Next {
        match prm_candidates(&start.server, start.asked.resource_metadata_url.as_deref()) {
            Ok(candidates) => {
                let tried =
                    Candidates::new(candidates.into_iter().map(|(u, _)| u).collect(), Vec::new());
                let request = tried.request(Step::ProtectedResourceMetadata);
                start.wait(Stage::ResourceMetadata(tried), request)
            }
            Err(e) => Next::Done(Err(e)),
        }
    }

    /// The request out was answered.
    pub(super) fn handle(
        self: Box<Self>,
        keys: &mut Keys,
        req: &HttpRequest,
        resp: HttpResponse,
        now: u64,
    ) -> Next {
        let Discovery { start, stage } = *self;
        match stage {
            Stage::ResourceMetadata(tried) => {
                start.on_resource_metadata(keys, tried, req, &resp, now)
            }
            Stage::ServerMetadata {
                prm,
                issuer,
                tried,
                legacy,
            } => start.on_server_metadata(keys, prm, issuer, tried, legacy, req, &resp, now),
            Stage::Register(r) => start.on_registration(keys, r, req, &resp),
        }
    }
}

impl Start {
    /// Waits in `stage` for the answer to `request`.
    fn wait(self, stage: Stage, request: HttpRequest) -> Next {
        Next::Send(
            Phase::Discovering(Box::new(Discovery { start: self, stage })),
            request,
        )
    }

    fn on_resource_metadata(
        self,
        keys: &mut Keys,
        mut tried: Candidates,
        req: &HttpRequest,
        resp: &HttpResponse,
        now: u64,
    ) -> Next {
        if (400..500).contains(&resp.status) {
            return if tried.next(req, resp.status) {
                let request = tried.request(req.step);
                self.wait(Stage::ResourceMetadata(tried), request)
            } else if tried.all_404() {
                self.legacy(keys, now)
            } else {
                Next::Done(Err(Error::NoResourceMetadata(tried.attempts)))
            };
        }
        match parse_resource_metadata(resp, &req.url, &self.server) {
            Ok(prm) => self.choose_server(keys, prm, 0, Vec::new(), false, now),
            Err(e) => Next::Done(Err(e)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_server_metadata(
        self,
        keys: &mut Keys,
        prm: ResourceMetadata,
        issuer: usize,
        mut tried: Candidates,
        legacy: bool,
        req: &HttpRequest,
        resp: &HttpResponse,
        now: u64,
    ) -> Next {
        if (400..500).contains(&resp.status) {
            if tried.next(req, resp.status) {
                let request = tried.request(req.step);
                let stage = Stage::ServerMetadata {
                    prm,
                    issuer,
                    tried,
                    legacy,
                };
                return self.wait(stage, request);
            }
            // MCP 2025-03-26 "Fallbacks for Servers without Metadata
            // Discovery": default paths, on 404 only.
            if legacy && tried.all_404() {
                let issuer = prm.authorization_servers[0].clone();
                let mut metadata = AuthServerMetadata::assumed(&issuer);
                metadata.authorization_endpoint = Some(format!("{issuer}/authorize"));
                metadata.token_endpoint = Some(format!("{issuer}/token"));
                metadata.registration_endpoint = Some(format!("{issuer}/register"));
                let server = Server {
                    prm,
                    issuer,
                    metadata,
                    fetched: false,
                };
                return self.with_metadata(keys, server, true, &req.url, now);
            }
            // RFC 9728 §7.6: the client picks; try the next listed server.
            return self.choose_server(keys, prm, issuer + 1, tried.attempts, legacy, now);
        }
        let expected = self.issuer_at(&prm, issuer).unwrap_or_default();
        match parse_as_metadata(
            resp,
            &req.url,
            &expected,
            &self.server,
            self.config.relax.accept_issuer_mismatch,
        ) {
            Ok(metadata) => {
                let server = Server {
                    prm,
                    issuer: expected,
                    metadata,
                    fetched: true,
                };
                self.with_metadata(keys, server, false, &req.url, now)
            }
            Err(e) => Next::Done(Err(e)),
        }
    }

    fn on_registration(
        self,
        keys: &mut Keys,
        mut r: Registering,
        req: &HttpRequest,
        resp: &HttpResponse,
    ) -> Next {
        let config = &self.config;
        match registration::parse_response(resp, &req.url, &config.redirect_uri, r.scope.as_deref())
        {
            Ok(client) => self.redirect(keys, r.server, client),
            Err(Error::RegistrationRejected(_)) if r.fallback.is_some() => {
                r.scope = r.fallback.take().unwrap_or_default();
                let request = registration::request(&req.url, config, r.scope.as_deref());
                self.wait(Stage::Register(r), request)
            }
            Err(e) => Next::Done(Err(e)),
        }
    }

    /// No protected resource metadata anywhere (every candidate 404): a
    /// 2025-03-26 server. The resource is the server URL; the authorization
    /// server is the configured one, else the server's origin (MCP
    /// 2025-03-26 "Authorization Base URL"). spec-checklist 30.
    fn legacy(self, keys: &mut Keys, now: u64) -> Next {
        let issuer = match &self.config.server {
            Some(s) => s.issuer.clone(),
            None => self.server.origin(),
        };
        let prm = ResourceMetadata {
            source: String::new(),
            resource: self.server_key.clone(),
            authorization_servers: vec![issuer],
            scopes_supported: None,
            dpop_signing_alg_values_supported: None,
            dpop_bound_access_tokens_required: false,
        };
        self.choose_server(keys, prm, 0, Vec::new(), true, now)
    }

    /// The issuer to use at `index`: the configured one replaces the first.
    fn issuer_at(&self, prm: &ResourceMetadata, index: usize) -> Option<String> {
        match (index, &self.config.server) {
            (0, Some(configured)) => Some(configured.issuer.clone()),
            (_, Some(_)) => None,
            (i, None) if i < MAX_AUTHORIZATION_SERVERS => prm.authorization_servers.get(i).cloned(),
            (_, None) => None,
        }
    }

    /// Chooses the authorization server at `index` of the PRM's list (or the
    /// configured one): configured endpoints when they suffice, cached
    /// metadata when fresh, else the first metadata candidate.
    fn choose_server(
        self,
        keys: &mut Keys,
        prm: ResourceMetadata,
        index: usize,
        attempts: Vec<Attempt>,
        legacy: bool,
        now: u64,
    ) -> Next {
        let Some(issuer) = self.issuer_at(&prm, index) else {
            let listed = prm.authorization_servers.len();
            if listed > index && self.config.server.is_none() && !prm.source.is_empty() {
                // The limit was hit: say so, with what was tried.
                return Next::Done(Err(Error::InvalidResponse {
                    step: Step::ProtectedResourceMetadata,
                    url: prm.source,
                    reason: format!(
                        "lists {listed} authorization servers; only the first {MAX_AUTHORIZATION_SERVERS} are tried, \
                         and none of them answered with metadata (tried {})",
                        crate::error::attempts(&attempts)
                    ),
                }));
            }
            return Next::Done(Err(Error::NoAuthorizationServerMetadata(attempts)));
        };
        if let Some(configured) = &self.config.server {
            let user_grant = matches!(
                self.config.grant_type,
                None | Some(GrantType::AuthorizationCode)
            );
            let enough = configured.token_endpoint.is_some()
                && (!user_grant || configured.authorization_endpoint.is_some());
            if enough {
                let server = Server {
                    prm,
                    metadata: AuthServerMetadata::assumed(&issuer),
                    issuer: issuer.clone(),
                    fetched: false,
                };
                return self.with_metadata(keys, server, true, &issuer, now);
            }
        }
        if let Some(metadata) = self.metadata.get(&issuer).cloned() {
            let server = Server {
                prm,
                metadata,
                issuer: issuer.clone(),
                fetched: false,
            };
            return self.with_metadata(keys, server, false, &issuer, now);
        }
        let issuer_url = match Url::parse(&issuer) {
            Ok(u) => u,
            Err(_) => return Next::Done(Err(Error::InsecureUrl(issuer))),
        };
        let tried = Candidates::new(as_metadata_candidates(&issuer_url), attempts);
        let request = tried.request(Step::AuthorizationServerMetadata);
        let stage = Stage::ServerMetadata {
            prm,
            issuer: index,
            tried,
            legacy,
        };
        self.wait(stage, request)
    }

    /// With the metadata known: chooses the grant, checks PKCE support for
    /// the authorization code grant, and finds the client identity.
    /// `assumed` metadata (configured endpoints, 2025-03-26 defaults)
    /// advertises nothing, so PKCE cannot be checked there.
    fn with_metadata(
        self,
        keys: &mut Keys,
        mut server: Server,
        assumed: bool,
        metadata_url: &str,
        now: u64,
    ) -> Next {
        let config = &self.config;
        if let Some(configured) = config.server.as_ref().filter(|c| c.issuer == server.issuer) {
            let metadata = &mut server.metadata;
            for (slot, value) in [
                (
                    &mut metadata.authorization_endpoint,
                    &configured.authorization_endpoint,
                ),
                (&mut metadata.token_endpoint, &configured.token_endpoint),
                (
                    &mut metadata.registration_endpoint,
                    &configured.registration_endpoint,
                ),
            ] {
                if value.is_some() {
                    slot.clone_from(value);
                }
            }
        }
        // Security review finding 1: configured credentials go to one
        // issuer only — the configured one (`issuer_at` allows no other),
        // else the first one they were used with.
        if let (None, Some(_), Some(first)) = (
            &config.server,
            config.credential_label(),
            &self.credential_issuer,
        ) {
            if *first != server.issuer {
                return Next::Done(Err(Error::CredentialIssuerMismatch(Mismatch {
                    url: metadata_url.to_string(),
                    expected: first.clone(),
                    found: server.issuer,
                })));
            }
        }
        let grant = choose_grant(config, &server.metadata);
        if let Some(grant) = Userless::of(&grant) {
            return self.without_user(keys, server, grant, now);
        }
        if let Err(e) = self.check_code_flow(&server, assumed, metadata_url) {
            return Next::Done(Err(e));
        }
        self.identify(keys, server)
    }

    /// The authorization code grant's checks of the metadata: PKCE S256
    /// support, and the endpoints' origins without RFC 9207 `iss`.
    fn check_code_flow(
        &self,
        server: &Server,
        assumed: bool,
        metadata_url: &str,
    ) -> Result<(), Error> {
        let config = &self.config;
        let metadata = &server.metadata;
        // MCP 2025-11-25 Authorization Code Protection: refuse without S256.
        if !metadata.supports_s256() && !assumed && !config.relax.allow_pkce_unadvertised {
            return Err(Error::PkceUnsupported(metadata_url.to_string()));
        }
        // RFC 9700 §4.4 (mix-up): without RFC 9207 `iss`, nothing tells the
        // client which server a code came from. Metadata that sends the
        // user to another origin's authorization endpoint (an honest
        // server) while the code goes to its own token endpoint would get
        // the honest code and its verifier. Endpoints must then be on the
        // issuer's origin, unless the user configured them or opted out.
        let mix_up_guard = !assumed
            && !metadata.authorization_response_iss_parameter_supported
            && config.server.is_none()
            && !config.relax.allow_cross_origin_endpoints;
        if !mix_up_guard {
            return Ok(());
        }
        let issuer = &server.issuer;
        let origin = |u: &str| Url::parse(u).ok().map(|u| u.origin());
        for (name, endpoint) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
        ] {
            if let Some(e) = endpoint.as_deref().filter(|e| origin(e) != origin(issuer)) {
                return Err(Error::InvalidResponse {
                    step: Step::AuthorizationServerMetadata,
                    url: metadata_url.to_string(),
                    reason: format!(
                        "{name} {e} is not on the origin of the issuer {issuer}, and the server does not support RFC 9207 iss: refused as a possible mix-up (relaxation allow-cross-origin-endpoints accepts it)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The client identity for the authorization code grant (spec-checklist
    /// 39): pre-registered → metadata document → registered before →
    /// registration.
    fn identify(self, keys: &mut Keys, server: Server) -> Next {
        let config = &self.config;
        let metadata = &server.metadata;
        let cimd = config
            .client_metadata_url
            .as_ref()
            .filter(|_| metadata.client_id_metadata_document_supported)
            .map(|url| ClientRecord {
                client_id: url.clone(),
                client_secret: None,
                auth_method: AuthMethod::None,
                redirect_uri: config.redirect_uri.clone(),
                secret_expires_at: None,
                registered_scope: None,
            });
        let requested = self.scope_for(&server.prm, metadata);
        // A registration restricted to less scope than this request needs
        // is replaced by a new one (oidc-provider answers `invalid_scope`).
        let known = self
            .clients
            .get(&server.issuer)
            .filter(|c| c.redirect_uri == config.redirect_uri)
            .filter(|c| match (&c.registered_scope, &requested) {
                (Some(held), Some(wanted)) => scope::covers(held, wanted),
                _ => true,
            })
            .cloned();
        let client = registration::preregistered(config, metadata)
            .or(cimd)
            .or(known);
        if let Some(client) = client {
            return self.redirect(keys, server, client);
        }
        let Some(endpoint) = &metadata.registration_endpoint else {
            return Next::Done(Err(Error::ClientIdRequired(server.issuer)));
        };
        let scope = scope::for_registration(
            requested.as_deref(),
            server.prm.scopes_supported.as_deref(),
            metadata.scopes_supported.as_deref(),
        );
        let request = registration::request(endpoint, config, scope.as_deref());
        let fallback = (scope != requested).then_some(requested);
        let stage = Stage::Register(Registering {
            server,
            scope,
            fallback,
        });
        self.wait(stage, request)
    }

    /// The scope the challenge, the configuration and the PRM select; for a
    /// step-up, united with the scope held before.
    fn selected_scope(&self, prm: &ResourceMetadata) -> Option<String> {
        let selected = scope::select(
            self.config.scope.as_deref(),
            self.asked.scope.as_deref(),
            prm.scopes_supported.as_deref(),
        );
        scope::union(self.asked.previous_scope.as_deref(), selected.as_deref())
    }

    /// The scope of an authorization request: [`Start::selected_scope`],
    /// with `offline_access` added when the server lists it (MCP 2026-07-28
    /// "Refresh Tokens", spec-checklist 62) and some scope is requested
    /// anyway, unless the scope is configured.
    fn scope_for(&self, prm: &ResourceMetadata, metadata: &AuthServerMetadata) -> Option<String> {
        let selected = self.selected_scope(prm);
        let offline = self.config.scope.is_none()
            && metadata
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|x| x == scope::OFFLINE_ACCESS));
        match selected {
            Some(s) if offline => scope::union(Some(&s), Some(scope::OFFLINE_ACCESS)),
            other => other,
        }
    }

    /// Grants without a user: client credentials, JWT bearer, and the
    /// SEP-990 token exchange.
    fn without_user(self, keys: &mut Keys, server: Server, grant: Userless<'_>, now: u64) -> Next {
        let endpoint = match server.required("token_endpoint", &server.metadata.token_endpoint) {
            Ok(e) => e,
            Err(e) => return Next::Done(Err(e)),
        };
        let config = &self.config;
        let resource = (!config.relax.omit_resource).then_some(server.prm.resource.as_str());
        let scope = self.selected_scope(&server.prm);
        let dpop = self.wants_dpop(&server.prm, &server.metadata);
        let token = Box::new(TokenFor {
            server_key: self.server_key.clone(),
            resource: server.prm.resource.clone(),
            issuer: server.issuer.clone(),
            scope: scope.clone(),
            metadata: server.fetched.then(|| server.metadata.clone()),
            grant: grant.kind(),
            previous_refresh: None,
            client: None,
        });
        let at_server = |params| TokenCall {
            endpoint,
            issuer: server.issuer.clone(),
            client: registration::preregistered(config, &server.metadata),
            params,
        };
        let scope = scope.as_deref();
        let (call, then, proof) = match grant {
            Userless::ClientCredentials => (
                at_server(token::client_credentials(scope, resource)),
                Then::Token(token),
                dpop,
            ),
            Userless::JwtBearer(assertion) => (
                at_server(token::jwt_bearer(assertion.expose(), scope, resource)),
                Then::Token(token),
                dpop,
            ),
            Userless::TokenExchange(idp) => {
                // The assertion is the ID-JAG, inserted when it comes.
                let params = token::jwt_bearer("", scope, resource)
                    .into_iter()
                    .filter(|(n, _)| *n != "assertion")
                    .collect();
                let then = Then::IdJag {
                    next: Box::new(at_server(params)),
                    dpop,
                    token,
                };
                // The identity provider never gets a DPoP proof: it issues
                // no access token for this client.
                let call = idp_call(idp, &server.issuer, resource, scope);
                (call, then, false)
            }
        };
        Redeem::start(call, proof, then, keys, now)
    }

    /// Builds the authorization URL and the pending record.
    fn redirect(self, keys: &mut Keys, server: Server, client: ClientRecord) -> Next {
        let scope = self.scope_for(&server.prm, &server.metadata);
        let metadata = &server.metadata;
        let endpoints = server
            .required("authorization_endpoint", &metadata.authorization_endpoint)
            .and_then(|a| {
                Ok((
                    a,
                    server.required("token_endpoint", &metadata.token_endpoint)?,
                ))
            });
        let (auth_endpoint, token_endpoint) = match endpoints {
            Ok(e) => e,
            Err(e) => return Next::Done(Err(e)),
        };
        let verifier = keys.verifier();
        let state = keys.state();
        let send_resource = !self.config.relax.omit_resource;
        let dpop = self.wants_dpop(&server.prm, metadata);
        if dpop {
            // Made now, so that it is stored with the pending authorization
            // and the code exchange finds it.
            keys.dpop_key();
        }
        let resource = &server.prm.resource;
        let url = authorization_url(&AuthorizationRequest {
            endpoint: &auth_endpoint,
            client_id: &client.client_id,
            redirect_uri: &self.config.redirect_uri,
            code_challenge: &verifier.challenge_s256(),
            state: &state,
            scope: scope.as_deref(),
            resource: send_resource.then_some(resource.as_str()),
        });
        let public = PendingAuthorization {
            authorization_url: url,
            state,
            redirect_uri: self.config.redirect_uri.clone(),
            issuer: server.issuer.clone(),
            resource: resource.clone(),
        };
        let record = PendingRecord {
            public,
            verifier,
            iss_supported: metadata.authorization_response_iss_parameter_supported,
            token_endpoint,
            client_id: client.client_id.clone(),
            client,
            scope,
            server: self.server_key,
            declared_issuer: metadata.issuer.clone(),
            dpop,
            send_resource,
            challenge: self.asked.challenge,
            after_invalid_scope: self.asked.after_invalid_scope,
        };
        Next::Done(Ok(Outcome::Redirect {
            record,
            binding: Binding {
                resource: server.prm.resource,
                issuer: server.issuer,
            },
            metadata: server.fetched.then_some(server.metadata),
        }))
    }

    /// Whether the token is to be DPoP-bound (RFC 9449). `Auto` binds it
    /// only when the resource server asks for DPoP (its metadata, RFC 9728
    /// §2, or a `DPoP` challenge, RFC 9449 §7.1) and the authorization
    /// server accepts ES256 proofs: an authorization server that merely
    /// offers DPoP says nothing about what the resource server accepts, and
    /// a Bearer-only server refuses a `DPoP` token.
    fn wants_dpop(&self, prm: &ResourceMetadata, metadata: &AuthServerMetadata) -> bool {
        match self.config.dpop {
            DpopMode::Never => false,
            DpopMode::Always => true,
            DpopMode::Auto => {
                (self.asked.dpop || prm.asks_for_dpop()) && metadata.supports_dpop_es256()
            }
        }
    }
}

/// A grant that needs no user, with what it sends.
#[derive(Clone, Copy)]
enum Userless<'a> {
    ClientCredentials,
    JwtBearer(&'a Secret),
    TokenExchange(&'a IdentityProvider),
}

impl<'a> Userless<'a> {
    /// `grant`, unless it is the authorization code grant.
    fn of(grant: &'a GrantType) -> Option<Userless<'a>> {
        match grant {
            GrantType::AuthorizationCode => None,
            GrantType::ClientCredentials => Some(Userless::ClientCredentials),
            GrantType::JwtBearer { assertion } => Some(Userless::JwtBearer(assertion)),
            GrantType::TokenExchange(idp) => Some(Userless::TokenExchange(idp)),
        }
    }

    fn kind(self) -> GrantKind {
        match self {
            Userless::ClientCredentials => GrantKind::ClientCredentials,
            Userless::JwtBearer(_) => GrantKind::JwtBearer,
            Userless::TokenExchange(_) => GrantKind::TokenExchange,
        }
    }
}

/// The grant: the configured one, else client credentials when the client
/// has its own credentials and the server offers that grant but not the
/// authorization code grant, else the authorization code grant.
fn choose_grant(config: &Config, metadata: &AuthServerMetadata) -> GrantType {
    if let Some(g) = &config.grant_type {
        return g.clone();
    }
    let confidential = config.client_secret.is_some() || config.private_key_pem.is_some();
    if confidential
        && metadata.lists_grant(GrantKind::ClientCredentials)
        && !metadata.lists_grant(GrantKind::AuthorizationCode)
    {
        GrantType::ClientCredentials
    } else {
        GrantType::AuthorizationCode
    }
}

/// The RFC 8693 request to the identity provider for an ID-JAG whose
/// audience is the authorization server.
fn idp_call(
    idp: &IdentityProvider,
    audience: &str,
    resource: Option<&str>,
    scope: Option<&str>,
) -> TokenCall {
    TokenCall {
        endpoint: idp.token_endpoint.clone(),
        issuer: idp.token_endpoint.clone(),
        client: Some(ClientRecord {
            client_id: idp.client_id.clone(),
            client_secret: idp.client_secret.clone(),
            auth_method: if idp.client_secret.is_some() {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::None
            },
            redirect_uri: String::new(),
            secret_expires_at: None,
            registered_scope: None,
        }),
        params: token::id_jag_exchange(idp.id_token.expose(), audience, resource, scope),
    }
}
