//! Tokens that last: expiry with a fake clock, the refresh token grant,
//! rotation, `invalid_grant` / `invalid_client` recovery, retryable 5xx,
//! re-minting tokens of grants without a user, and state that survives a
//! restart. Numbers in comments are items of spec-checklist.md.

mod common;
use common::*;

use mcp_oauth_core::REFRESH_SKEW_SECS;
use mcp_oauth_core::{Begin, Client, Config, Entropy, Error, Grant, GrantType, Secret, TokenState};
use mcp_oauth_core::{HttpRequest, HttpResponse};

/// An authorization server whose token endpoint answers with `token`.
fn server(token: fn(&HttpRequest) -> HttpResponse) -> impl Fn(&HttpRequest) -> HttpResponse {
    with_token_endpoint(token)
}

/// Token responses: the first grant gives RT-1; a refresh with RT-n gives
/// AT-(n+1) and RT-(n+1) (rotation).
fn rotating(r: &HttpRequest) -> HttpResponse {
    let f = form(r);
    let n = match get(&f, "refresh_token") {
        None => 1,
        Some(rt) => rt.trim_start_matches("RT-").parse::<u32>().unwrap() + 1,
    };
    HttpResponse::json(
        200,
        &format!(
            r#"{{"access_token":"AT-{n}","token_type":"Bearer","expires_in":600,"refresh_token":"RT-{n}","scope":"mcp:basic"}}"#
        ),
    )
}

/// An authorization server whose token endpoint is [`rotating`] but
/// answers a refresh with `status` and `body`.
fn refreshes_answered(status: u16, body: &'static str) -> impl Fn(&HttpRequest) -> HttpResponse {
    with_token_endpoint(move |r: &HttpRequest| {
        if get(&form(r), "grant_type") == Some("refresh_token") {
            HttpResponse::json(status, body)
        } else {
            rotating(r)
        }
    })
}

/// A client that went through one authorization with `respond`.
fn authorized(respond: &dyn Fn(&HttpRequest) -> HttpResponse) -> Client {
    let mut c = client(Config::new("T", REDIRECT));
    let (token, _) = run_and_complete(&mut c, CHALLENGE, respond);
    assert!(matches!(token, Ok(Grant::Authorized(_))), "{token:?}");
    c
}

/// Drives `renew` at `now` and returns its outcome and requests.
fn renew_at(
    c: &mut Client,
    now: u64,
    respond: &dyn Fn(&HttpRequest) -> HttpResponse,
) -> (Option<Result<Grant, Error>>, Vec<HttpRequest>) {
    let mut log = Vec::new();
    let outcome = match c.renew(SERVER, now, Entropy::from_bytes([6; 80])).unwrap() {
        None => None,
        Some(Begin::Ready(info)) => Some(Ok(Grant::Authorized(info))),
        Some(Begin::Flow(mut flow)) => {
            while let mcp_oauth_core::Action::Send(req) = flow.poll() {
                let resp = respond(&req);
                log.push(req);
                flow.handle_response(Ok(resp), now);
            }
            Some(c.finish(flow, now))
        }
    };
    (outcome, log)
}

fn access_token(c: &Client, now: u64) -> Option<String> {
    c.request_headers("POST", SERVER, now, &[0; 16])
        .into_iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v)
}

#[test]
fn a_stale_token_is_refreshed_with_resource_and_without_scope() {
    // 96-98: refresh carries `resource` and client authentication, and no
    // broader scope; the rotated refresh token replaces the old one.
    let respond = server(rotating);
    let mut c = authorized(&respond);
    let expiry = NOW + 600;
    assert_eq!(c.token_state(SERVER, NOW), TokenState::Fresh);
    assert_eq!(renew_at(&mut c, NOW, &respond).0.map(|_| ()), None);
    let stale = expiry - REFRESH_SKEW_SECS;
    assert_eq!(
        c.token_state(SERVER, stale),
        TokenState::Stale { renewable: true }
    );
    let (outcome, log) = renew_at(&mut c, stale, &respond);
    let Some(Ok(Grant::Authorized(info))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(info.expires_at, Some(stale + 600));
    assert_eq!(urls(&log), [TOKEN], "no discovery, no registration");
    let f = form(&log[0]);
    assert_eq!(get(&f, "grant_type"), Some("refresh_token"));
    assert_eq!(get(&f, "refresh_token"), Some("RT-1"));
    assert_eq!(get(&f, "resource"), Some(SERVER));
    assert_eq!(get(&f, "client_id"), Some("dcr-client"));
    assert_eq!(get(&f, "scope"), None);
    assert_eq!(access_token(&c, stale).as_deref(), Some("Bearer AT-2"));
    // The next refresh uses the rotated token.
    let (_, log) = renew_at(&mut c, stale + 600, &respond);
    assert_eq!(get(&form(&log[0]), "refresh_token"), Some("RT-2"));
}

#[test]
fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    // RFC 6749 §6: the server may keep the refresh token.
    let respond = refreshes_answered(
        200,
        r#"{"access_token":"AT-plain","token_type":"Bearer","expires_in":600}"#,
    );
    let mut c = authorized(&respond);
    let later = NOW + 600;
    renew_at(&mut c, later, &respond);
    assert_eq!(access_token(&c, later).as_deref(), Some("Bearer AT-plain"));
    let (_, log) = renew_at(&mut c, later + 600, &respond);
    assert_eq!(get(&form(&log[0]), "refresh_token"), Some("RT-1"));
}

#[test]
fn invalid_grant_drops_the_token_so_that_a_new_authorization_follows() {
    let respond = refreshes_answered(400, r#"{"error":"invalid_grant"}"#);
    let mut c = authorized(&respond);
    let later = NOW + 600;
    let (outcome, _) = renew_at(&mut c, later, &respond);
    assert!(
        matches!(outcome, Some(Err(Error::TokenRejected(ref f))) if f.error == "invalid_grant")
    );
    assert_eq!(c.token_state(SERVER, later), TokenState::None);
    // The registration is kept: the next authorization needs no /register.
    let (grant, log) = run(&mut c, CHALLENGE, &respond);
    assert!(matches!(grant, Ok(Grant::Redirect(_))));
    assert!(!urls(&log).contains(&"https://auth.example.com/register"));
}

#[test]
fn invalid_client_drops_the_registration_too() {
    let respond = refreshes_answered(401, r#"{"error":"invalid_client"}"#);
    let mut c = authorized(&respond);
    let (outcome, _) = renew_at(&mut c, NOW + 600, &respond);
    assert!(
        matches!(outcome, Some(Err(Error::TokenRejected(ref f))) if f.error == "invalid_client")
    );
    let (_, log) = run(&mut c, CHALLENGE, &respond);
    assert_eq!(
        urls(&log).last(),
        Some(&"https://auth.example.com/register"),
        "registers again"
    );
}

#[test]
fn a_server_error_keeps_the_credentials_for_a_later_try() {
    let respond = refreshes_answered(503, "maintenance");
    let mut c = authorized(&respond);
    let stale = NOW + 600 - 10;
    let (outcome, _) = renew_at(&mut c, stale, &respond);
    assert!(matches!(
        outcome,
        Some(Err(Error::UnexpectedStatus { status: 503, .. }))
    ));
    // Still stale and renewable; the unexpired token is still sent.
    assert_eq!(
        c.token_state(SERVER, stale),
        TokenState::Stale { renewable: true }
    );
    assert_eq!(access_token(&c, stale).as_deref(), Some("Bearer AT-1"));
    let (_, log) = renew_at(&mut c, stale, &server(rotating));
    assert_eq!(get(&form(&log[0]), "refresh_token"), Some("RT-1"));
}

#[test]
fn a_401_is_answered_with_a_refresh_first_unless_more_scope_is_needed() {
    let respond = server(rotating);
    let c = authorized(&respond);
    assert!(c.refresh_first(SERVER, Some(r#"Bearer error="invalid_token""#)));
    assert!(c.refresh_first(SERVER, None));
    assert!(!c.refresh_first(
        SERVER,
        Some(r#"Bearer error="insufficient_scope", scope="more""#)
    ));
    assert!(!c.refresh_first("https://other.example.com/mcp", None));
    // Without a refresh token there is nothing to try first.
    fn no_refresh(_: &HttpRequest) -> HttpResponse {
        token_doc("Bearer")
    }
    let c = authorized(&server(no_refresh));
    assert!(!c.refresh_first(SERVER, None));
    assert_eq!(
        c.token_state(SERVER, NOW + 600),
        TokenState::Stale { renewable: false }
    );
}

#[test]
fn client_credentials_tokens_are_minted_again_when_stale() {
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(r#","grant_types_supported":["client_credentials"]"#),
        TOKEN => token_doc("Bearer"),
        _ => not_found(),
    };
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("svc".into());
    config.client_secret = Some(Secret::new("s"));
    config.grant_type = Some(GrantType::ClientCredentials);
    let mut c = client(config);
    run(&mut c, CHALLENGE, &respond).0.unwrap();
    let stale = NOW + 600 - 5;
    assert_eq!(
        c.token_state(SERVER, stale),
        TokenState::Stale { renewable: true }
    );
    let (outcome, log) = renew_at(&mut c, stale, &respond);
    assert!(matches!(outcome, Some(Ok(Grant::Authorized(_)))));
    assert_eq!(urls(&log), [PRM, TOKEN], "metadata cached");
    assert_eq!(
        get(&form(&log[1]), "grant_type"),
        Some("client_credentials")
    );
    assert_eq!(c.token_state(SERVER, stale), TokenState::Fresh);
}

#[test]
fn state_survives_a_restart_and_needs_no_request_while_fresh() {
    let respond = server(rotating);
    let c = authorized(&respond);
    let saved = c.export_state();
    let mut restarted = client(Config::new("T", REDIRECT));
    restarted.import_state(&saved).unwrap();
    assert_eq!(restarted.token_state(SERVER, NOW + 10), TokenState::Fresh);
    assert!(matches!(
        restarted.authorize(SERVER, None, NOW + 10, Entropy::from_bytes([1; 80])),
        Ok(Begin::Ready(_))
    ));
    assert_eq!(
        access_token(&restarted, NOW + 10).as_deref(),
        Some("Bearer AT-1")
    );
    // Stale after the restart: only a refresh request.
    let (_, log) = renew_at(&mut restarted, NOW + 590, &respond);
    assert_eq!(urls(&log), [TOKEN]);
    // The state holds the secrets, and says what it is.
    let text = String::from_utf8(saved).unwrap();
    assert!(text.starts_with(r#"{"version":2,"#));
    assert!(text.contains(r#""token_endpoint":"https://auth.example.com/token""#));
    assert!(text.contains(r#""grant_type":"authorization_code""#));
}

#[test]
fn a_refused_token_is_renewed_once_across_processes() {
    // Finding 2 of the real-server run: a 401 inside `wrap-call` redeemed
    // the refresh token outside the host's lock, so two processes that got
    // the same 401 both redeemed one rotating refresh token. Now a refused
    // token counts as renewable (`token-status`) and `renew` replaces it —
    // unless another process already did, which the imported state shows.
    use mcp_oauth_core::{Reaction, ResourceResponse};
    let respond = server(rotating);
    let mut first = authorized(&respond);
    let mut second = client(Config::new("T", REDIRECT));
    second.import_state(&first.export_state()).unwrap();
    let refusal = ResourceResponse {
        method: "POST",
        url: SERVER,
        status: 401,
        www_authenticate: Some(r#"Bearer error="invalid_token""#),
        dpop_nonce: None,
    };
    for c in [&mut first, &mut second] {
        assert_eq!(c.token_state(SERVER, NOW), TokenState::Fresh);
        assert!(matches!(c.react(&refusal, false), Reaction::Authorize(_)));
        assert!(c.refresh_first(SERVER, refusal.www_authenticate));
        assert_eq!(
            c.token_state(SERVER, NOW),
            TokenState::Stale { renewable: true },
            "refused, though not expired"
        );
    }
    // The first process takes the lock and renews.
    let (outcome, log) = renew_at(&mut first, NOW, &respond);
    assert!(
        matches!(outcome, Some(Ok(Grant::Authorized(_)))),
        "{outcome:?}"
    );
    assert_eq!(urls(&log), [TOKEN]);
    assert_eq!(get(&form(&log[0]), "refresh_token"), Some("RT-1"));
    assert_eq!(first.token_state(SERVER, NOW), TokenState::Fresh);
    // The second one gets the lock next and imports the newest state: the
    // token it holds is no longer the refused one, so nothing is redeemed.
    second.import_state(&first.export_state()).unwrap();
    assert_eq!(second.token_state(SERVER, NOW), TokenState::Fresh);
    let (outcome, log) = renew_at(&mut second, NOW, &respond);
    assert!(outcome.is_none() && log.is_empty(), "{outcome:?} {log:?}");
    assert_eq!(access_token(&second, NOW).as_deref(), Some("Bearer AT-2"));

    // The renewed token refused again: no second refresh, a new
    // authorization instead. Accepted once, the next 401 refreshes again.
    assert!(matches!(
        first.react(&refusal, false),
        Reaction::Authorize(_)
    ));
    assert!(!first.refresh_first(SERVER, refusal.www_authenticate));
    let accepted = ResourceResponse {
        status: 200,
        www_authenticate: None,
        ..refusal
    };
    assert_eq!(first.react(&accepted, false), Reaction::Deliver);
    assert_eq!(first.token_state(SERVER, NOW), TokenState::Fresh);
    assert!(first.refresh_first(SERVER, refusal.www_authenticate));
}

fn unauthorized() -> mcp_oauth_core::ResourceResponse<'static> {
    mcp_oauth_core::ResourceResponse {
        method: "POST",
        url: SERVER,
        status: 401,
        www_authenticate: Some(r#"Bearer error="invalid_token""#),
        dpop_nonce: None,
    }
}

#[test]
fn a_host_that_renews_is_asked_once_per_refused_token() {
    // `host_renews`: `wrap-call` asks the host to renew (renewal-required)
    // only while that can help — not again for a token whose renewal
    // failed (the authorization server is down: the token is sent, or the
    // user asked), and not for a token that replaced a refused one.
    let respond = server(rotating);
    let mut config = Config::new("T", REDIRECT);
    config.host_renews = true;
    let mut c = client(config);
    run_and_complete(&mut c, CHALLENGE, &respond).0.unwrap();
    assert!(!c.host_must_renew(SERVER, NOW), "fresh");
    assert_eq!(c.before_send(SERVER, NOW), mcp_oauth_core::BeforeSend::Send);
    c.react(&unauthorized(), false);
    assert!(c.host_must_renew(SERVER, NOW), "refused");
    // wrap-call's decisions: ask the host, both before sending and after
    // the 401; after a refresh in this call, authorize.
    use mcp_oauth_core::{BeforeSend, OnRefusal};
    let challenge = unauthorized().www_authenticate;
    assert_eq!(c.before_send(SERVER, NOW), BeforeSend::HostRenews);
    assert_eq!(
        c.on_refusal(SERVER, challenge, false, NOW),
        OnRefusal::HostRenews
    );
    assert_eq!(
        c.on_refusal(SERVER, challenge, true, NOW),
        OnRefusal::Authorize
    );
    let down = |_: &HttpRequest| HttpResponse::json(503, r#"{"error":"temporarily_unavailable"}"#);
    let (outcome, _) = renew_at(&mut c, NOW, &down);
    assert!(
        matches!(outcome, Some(Err(Error::UnexpectedStatus { .. }))),
        "{outcome:?}"
    );
    assert!(
        !c.host_must_renew(SERVER, NOW),
        "not asked twice for one token"
    );
    assert_eq!(c.before_send(SERVER, NOW), BeforeSend::Send);
    assert_eq!(
        c.on_refusal(SERVER, challenge, false, NOW),
        OnRefusal::Authorize
    );
    // Expired, it is worth another try.
    assert!(c.host_must_renew(SERVER, NOW + 600));
    let (outcome, _) = renew_at(&mut c, NOW + 600, &respond);
    assert!(
        matches!(outcome, Some(Ok(Grant::Authorized(_)))),
        "{outcome:?}"
    );
    assert!(!c.host_must_renew(SERVER, NOW + 600));
    assert!(
        c.host_must_renew(SERVER, NOW + 1_200),
        "the new token, stale"
    );

    // A 401 that asks for more scope is a step-up, not a refusal to renew.
    let mut step = authorized(&respond);
    let more = mcp_oauth_core::ResourceResponse {
        www_authenticate: Some(r#"Bearer error="insufficient_scope", scope="more""#),
        ..unauthorized()
    };
    step.react(&more, false);
    assert_eq!(step.token_state(SERVER, NOW), TokenState::Fresh);

    // Without host_renews it is never the host's job.
    let mut own = authorized(&respond);
    own.react(&unauthorized(), false);
    assert!(!own.host_must_renew(SERVER, NOW));
    assert_eq!(own.before_send(SERVER, NOW), BeforeSend::Renew);
    assert_eq!(
        own.on_refusal(SERVER, challenge, false, NOW),
        OnRefusal::Refresh
    );
}

#[test]
fn a_refused_token_of_a_grant_without_a_user_is_minted_anew() {
    // A refused client-credentials token that has not expired is not handed
    // back by `renew` as if it were good: a new one is minted.
    let minted = std::cell::Cell::new(0);
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(r#","grant_types_supported":["client_credentials"]"#),
        TOKEN => {
            minted.set(minted.get() + 1);
            HttpResponse::json(
                200,
                &format!(
                    r#"{{"access_token":"CC-{}","token_type":"Bearer","expires_in":600}}"#,
                    minted.get()
                ),
            )
        }
        _ => not_found(),
    };
    let mut config = Config::new("T", REDIRECT);
    config.client_id = Some("svc".into());
    config.client_secret = Some(Secret::new("s"));
    config.grant_type = Some(GrantType::ClientCredentials);
    config.host_renews = true;
    let mut c = client(config);
    run(&mut c, CHALLENGE, &respond).0.unwrap();
    c.react(&unauthorized(), false);
    assert!(c.host_must_renew(SERVER, NOW));
    let (outcome, log) = renew_at(&mut c, NOW, &respond);
    assert!(
        matches!(outcome, Some(Ok(Grant::Authorized(_)))),
        "{outcome:?}"
    );
    assert_eq!(urls(&log), [PRM, TOKEN]);
    assert_eq!(access_token(&c, NOW).as_deref(), Some("Bearer CC-2"));
    // CC-2 refused as well: no renewal loop, the host is not asked again.
    c.react(&unauthorized(), false);
    assert!(!c.host_must_renew(SERVER, NOW));
}
