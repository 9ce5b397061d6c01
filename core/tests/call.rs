//! `wrap-call`'s whole policy as the core's call state machine decides it,
//! with a fake clock, a fake authorization server and a scripted resource
//! server: renew before sending, attach, DPoP nonce retries, one refresh and
//! then one authorization after a refusal, give up. Numbers in comments are
//! items of spec-checklist.md.

mod common;
use common::*;

use mcp_oauth_core::REFRESH_SKEW_SECS;
use mcp_oauth_core::{Action, Call, CallAction, Client, Config, Error, Grant, ResponseHead};
use mcp_oauth_core::{HttpRequest, HttpResponse, TransportError};

/// What the scripted resource server answers to the n-th request (from 0)
/// carrying `authorization`: status, `WWW-Authenticate`, `DPoP-Nonce`.
type Resource<'a> = &'a dyn Fn(usize, Option<&str>) -> (u16, Option<String>, Option<String>);

/// What a driver saw: each action, in order.
#[derive(Debug, Default)]
struct Trace {
    /// "send <authorization or ->", "flow <urls>", "read", "deliver".
    steps: Vec<String>,
    /// Bytes of randomness asked for.
    random_bytes: usize,
}

/// Drives one call to `SERVER` at `now` to its end, as the guest does.
fn call(
    c: &mut Client,
    now: u64,
    auth: Responder<'_>,
    resource: Resource<'_>,
) -> (Result<u16, Error>, Trace) {
    let mut trace = Trace::default();
    let mut call = Call::new("POST", SERVER);
    let mut sent = 0;
    let mut last_status = None;
    for _ in 0..50 {
        let mut random = |buf: &mut [u8]| {
            trace.random_bytes += buf.len();
            buf.fill(7);
        };
        match call.poll(c, &mut || now, &mut random) {
            CallAction::Send(headers) => {
                let authorization = headers
                    .iter()
                    .find(|(n, _)| n == "authorization")
                    .map(|(_, v)| v.clone());
                trace
                    .steps
                    .push(format!("send {}", authorization.as_deref().unwrap_or("-")));
                let (status, challenge, nonce) = resource(sent, authorization.as_deref());
                sent += 1;
                last_status = Some(status);
                call.response(
                    c,
                    &ResponseHead {
                        status,
                        www_authenticate: challenge.as_deref(),
                        dpop_nonce: nonce.as_deref(),
                    },
                );
            }
            CallAction::Run(mut flow) => {
                let mut urls = Vec::new();
                while let Action::Send(req) = flow.poll() {
                    let resp = auth(&req);
                    urls.push(short(&req.url));
                    flow.handle_response(Ok(resp), now);
                }
                trace.steps.push(format!("flow {}", urls.join(" ")));
                call.flow_done(c, flow, now);
            }
            CallAction::ReadRefusal => {
                trace.steps.push("read".into());
                call.refusal_read("the refusal's body".into());
            }
            CallAction::Deliver => {
                trace.steps.push("deliver".into());
                return (Ok(last_status.unwrap()), trace);
            }
            CallAction::Fail(e) => return (Err(e), trace),
        }
    }
    panic!("the call did not end in 50 actions: {trace:?}")
}

/// The path of a URL, for short traces.
fn short(url: &str) -> String {
    let path = url.splitn(4, '/').nth(3).unwrap_or("");
    format!("/{path}")
}

/// Token responses: the first grant gives AT-1/RT-1, a refresh with RT-n
/// gives AT-(n+1)/RT-(n+1); `refresh: false` refuses refreshes with
/// `invalid_grant`.
fn token_endpoint(refresh: bool) -> impl Fn(&HttpRequest) -> HttpResponse {
    refusing_refreshes_with(if refresh { None } else { Some("invalid_grant") })
}

/// [`token_endpoint`] whose refreshes get this OAuth error, if any.
fn refusing_refreshes_with(error: Option<&'static str>) -> impl Fn(&HttpRequest) -> HttpResponse {
    move |r: &HttpRequest| {
        let f = form(r);
        let n = match (get(&f, "refresh_token"), error) {
            (None, _) => 1,
            (Some(_), Some(error)) => {
                return HttpResponse::json(400, &format!(r#"{{"error":"{error}"}}"#));
            }
            (Some(rt), None) => rt.trim_start_matches("RT-").parse::<u32>().unwrap() + 1,
        };
        HttpResponse::json(
            200,
            &format!(
                r#"{{"access_token":"AT-{n}","token_type":"Bearer","expires_in":600,"refresh_token":"RT-{n}"}}"#
            ),
        )
    }
}

fn auth_server(refresh: bool) -> impl Fn(&HttpRequest) -> HttpResponse {
    with_token_endpoint(token_endpoint(refresh))
}

/// A client holding AT-1 (with RT-1), obtained through `auth`.
fn authorized(config: Config, auth: Responder<'_>) -> Client {
    let mut c = client(config);
    let (token, _) = run_and_complete(&mut c, CHALLENGE, auth);
    assert!(matches!(token, Ok(Grant::Authorized(_))), "{token:?}");
    c
}

/// One call at `now` to a resource that takes `token` only, by a client
/// that obtained AT-1 from `auth_server(refresh)`, which also answers the
/// call's flows.
fn authorized_call(refresh: bool, now: u64, token: &'static str) -> (Result<u16, Error>, Trace) {
    let auth = auth_server(refresh);
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    call(&mut c, now, &auth, &accepting(token))
}

/// The steps of an [`authorized_call`] at `NOW` to a resource that takes
/// no token, checked to end in the need for an authorization.
fn steps_to_authorization(refresh: bool) -> Vec<String> {
    let (result, trace) = authorized_call(refresh, NOW, "nothing");
    assert!(
        matches!(result, Err(Error::AuthorizationRequired(_))),
        "{result:?}"
    );
    trace.steps
}

/// A resource server that takes `token` only.
fn accepting(
    token: &'static str,
) -> impl Fn(usize, Option<&str>) -> (u16, Option<String>, Option<String>) {
    move |_, authorization| {
        if authorization == Some(token) {
            (200, None, None)
        } else {
            (401, Some(r#"Bearer error="invalid_token""#.into()), None)
        }
    }
}

#[test]
fn a_fresh_token_is_attached_and_the_response_delivered_without_randomness() {
    // 92: the token bound to this server goes with the request. A Bearer
    // call needs no random bytes (no flow, no DPoP jti).
    let (result, trace) = authorized_call(true, NOW, "Bearer AT-1");
    assert_eq!(result.unwrap(), 200);
    assert_eq!(trace.steps, ["send Bearer AT-1", "deliver"]);
    assert_eq!(trace.random_bytes, 0);
}

#[test]
fn without_a_token_a_401_leads_to_an_authorization_that_needs_the_user() {
    let auth = auth_server(true);
    let mut c = client(Config::new("T", REDIRECT));
    let (result, trace) = call(&mut c, NOW, &auth, &accepting("Bearer AT-1"));
    let Err(Error::AuthorizationRequired(p)) = result else {
        panic!("{result:?}")
    };
    assert!(p
        .authorization_url
        .starts_with("https://auth.example.com/authorize?"));
    assert_eq!(
        trace.steps,
        [
            "send -",
            "flow /.well-known/oauth-protected-resource/mcp \
             /.well-known/oauth-authorization-server /register",
        ]
    );
    assert_eq!(trace.random_bytes, 80, "one flow's entropy");
}

#[test]
fn a_stale_token_is_renewed_before_it_is_sent() {
    // 96: the refresh happens before the request, not after a 401.
    let stale = NOW + 600 - REFRESH_SKEW_SECS;
    let (result, trace) = authorized_call(true, stale, "Bearer AT-2");
    assert_eq!(result.unwrap(), 200);
    assert_eq!(trace.steps, ["flow /token", "send Bearer AT-2", "deliver"]);
}

#[test]
fn a_refused_token_is_refreshed_once_then_the_call_is_sent_again() {
    // A server may revoke a token early: one refresh, one more send.
    let (result, trace) = authorized_call(true, NOW, "Bearer AT-2");
    assert_eq!(result.unwrap(), 200);
    assert_eq!(
        trace.steps,
        [
            "send Bearer AT-1",
            "flow /token",
            "send Bearer AT-2",
            "deliver"
        ]
    );
}

#[test]
fn a_refusal_after_the_refresh_leads_to_an_authorization() {
    // The refreshed token is refused too: the next step is the user.
    let steps = steps_to_authorization(true);
    assert_eq!(
        steps[..3],
        ["send Bearer AT-1", "flow /token", "send Bearer AT-2"]
    );
    assert_eq!(steps.len(), 4, "then one authorization: {steps:?}");
    assert!(steps[3].starts_with("flow "), "{steps:?}");
}

#[test]
fn a_rejected_refresh_token_leads_to_an_authorization() {
    // invalid_grant: the dead refresh token is dropped and the user asked.
    let steps = steps_to_authorization(false);
    assert_eq!(steps[..2], ["send Bearer AT-1", "flow /token"]);
    assert_eq!(steps.len(), 3, "{steps:?}");
}

#[test]
fn a_refusal_of_a_token_just_obtained_ends_the_call_with_the_evidence() {
    // Grants without a user: the new token is obtained at once; when it is
    // refused too the call gives up (no loop), with the body's excerpt.
    let mut config = pre_registered();
    config.client_secret = Some(mcp_oauth_core::Secret::new(String::from("s")));
    config.grant_type = Some(mcp_oauth_core::GrantType::ClientCredentials);
    let auth = move |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(r#","grant_types_supported":["client_credentials"]"#),
        TOKEN => token_doc("Bearer"),
        _ => not_found(),
    };
    let mut c = client(config);
    let (result, trace) = call(&mut c, NOW, &auth, &accepting("nothing"));
    let Err(Error::StillUnauthorized {
        status,
        body_excerpt,
        ..
    }) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!((status, body_excerpt.as_str()), (401, "the refusal's body"));
    assert_eq!(trace.steps.first().map(String::as_str), Some("send -"));
    assert_eq!(
        trace.steps[trace.steps.len() - 2..],
        ["send Bearer AT-1", "read"]
    );
}

#[test]
fn new_dpop_nonces_are_retried_at_most_twice() {
    // RFC 9449 §9: a 401 use_dpop_nonce with a new nonce is sent again with
    // it; a server that never stops asking gets two retries.
    let auth = auth_server(true);
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    let nagging = |n: usize, _: Option<&str>| {
        (
            401,
            Some(r#"DPoP error="use_dpop_nonce""#.to_string()),
            Some(format!("nonce-{n}")),
        )
    };
    let (result, trace) = call(&mut c, NOW, &auth, &nagging);
    assert!(
        matches!(result, Err(Error::StillUnauthorized { status: 401, .. })),
        "{result:?}"
    );
    assert_eq!(
        trace.steps,
        [
            "send Bearer AT-1",
            "send Bearer AT-1",
            "send Bearer AT-1",
            "read"
        ]
    );
}

#[test]
fn a_host_that_renews_itself_is_asked_to_instead_of_a_refresh() {
    // host-renews: no refresh token is redeemed inside the call, stale or
    // refused; the host renews under its lock.
    let auth = auth_server(true);
    let mut config = Config::new("T", REDIRECT);
    config.host_renews = true;
    let mut c = authorized(config, &auth);
    let stale = NOW + 600 - REFRESH_SKEW_SECS;
    let (result, trace) = call(&mut c, stale, &auth, &accepting("Bearer AT-1"));
    assert!(
        matches!(result, Err(Error::RenewalRequired(ref u)) if u == SERVER),
        "{result:?}"
    );
    assert!(trace.steps.is_empty(), "nothing sent: {:?}", trace.steps);

    let (result, trace) = call(&mut c, NOW, &auth, &accepting("Bearer AT-2"));
    assert!(
        matches!(result, Err(Error::RenewalRequired(_))),
        "{result:?}"
    );
    assert_eq!(trace.steps, ["send Bearer AT-1"]);
}

#[test]
fn a_failed_send_ends_the_call_with_a_transport_error() {
    let mut c = client(Config::new("T", REDIRECT));
    let mut call = Call::new("POST", SERVER);
    let mut random = |buf: &mut [u8]| buf.fill(1);
    assert!(matches!(
        call.poll(&mut c, &mut || NOW, &mut random),
        CallAction::Send(_)
    ));
    call.send_failed(TransportError::TimedOut);
    let CallAction::Fail(Error::Transport { url, message, .. }) =
        call.poll(&mut c, &mut || NOW, &mut random)
    else {
        panic!("a transport error")
    };
    assert_eq!(url, SERVER);
    assert!(!message.is_empty());
    // Over: polling again says so instead of sending.
    assert!(matches!(
        call.poll(&mut c, &mut || NOW, &mut random),
        CallAction::Fail(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_refresh_refused_for_another_reason_still_leads_to_an_authorization() {
    // The review of the call machine: a refresh refused with an error other
    // than invalid_grant / invalid_client keeps the refused token; the
    // authorization that follows must answer the server's challenge (a
    // flow), not hand that token back as valid (which ended the call in
    // still-unauthorized).
    let auth = with_token_endpoint(refusing_refreshes_with(Some("invalid_scope")));
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    let (result, trace) = call(&mut c, NOW, &auth, &accepting("nothing"));
    assert!(
        matches!(result, Err(Error::AuthorizationRequired(_))),
        "{result:?} {:?}",
        trace.steps
    );
    assert_eq!(trace.steps[..2], ["send Bearer AT-1", "flow /token"]);
    assert_eq!(
        trace.steps.len(),
        3,
        "then the authorization: {:?}",
        trace.steps
    );
}

#[test]
fn nothing_is_sent_to_a_server_no_token_may_go_to() {
    // The review of the call machine: skipping an unneeded renewal also
    // skipped the check that the server URL may carry a token, so a plain
    // http URL got the caller's request.
    let mut c = client(Config::new("T", REDIRECT));
    for (url, insecure) in [
        ("http://mcp.example.com/mcp", true),
        ("https://user@mcp.example.com/mcp", true),
        ("not a url", false),
    ] {
        let mut call = Call::new("POST", url);
        let mut random = |buf: &mut [u8]| buf.fill(1);
        let action = call.poll(&mut c, &mut || NOW, &mut random);
        match action {
            CallAction::Fail(Error::InsecureUrl(u)) if insecure => assert_eq!(u, url),
            CallAction::Fail(Error::InvalidArgument(_)) if !insecure => {}
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn a_url_no_token_may_go_to_is_refused_before_anything_is_sent() {
    // 95, 101: http to a host that is not loopback, or user info: the call
    // fails on its first poll, even after a call to the good URL (the
    // client keeps that one's key, and only for that URL).
    let auth = auth_server(true);
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    let mut random = |b: &mut [u8]| b.fill(7);
    let first = Call::new("POST", SERVER).poll(&mut c, &mut || NOW, &mut random);
    assert!(matches!(first, CallAction::Send(_)), "{first:?}");
    for refused in [
        "http://mcp.example.com/mcp",
        "https://u:p@mcp.example.com/mcp",
    ] {
        let action = Call::new("POST", refused).poll(&mut c, &mut || NOW, &mut random);
        assert!(
            matches!(action, CallAction::Fail(Error::InsecureUrl(_))),
            "{refused}: {action:?}"
        );
    }
}

#[test]
fn the_key_of_the_last_calls_url_serves_only_that_url() {
    // 94: the client remembers the key of the URL of the call before (one
    // parse for a session's calls); a call to another URL is keyed anew,
    // so it never gets the first server's token.
    let auth = auth_server(true);
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    let headers = |c: &mut Client, url: &str| {
        let mut call = Call::new("POST", url);
        match call.poll(c, &mut || NOW, &mut |b: &mut [u8]| b.fill(7)) {
            CallAction::Send(h) => h,
            other => panic!("{url}: {other:?}"),
        }
    };
    assert_eq!(headers(&mut c, SERVER)[0].1, "Bearer AT-1");
    let other = headers(&mut c, "https://other.example.com/mcp");
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(headers(&mut c, SERVER)[0].1, "Bearer AT-1");
    // The same server written otherwise (case, fragment) is the same key.
    assert_eq!(
        headers(&mut c, "https://MCP.example.com/mcp#top")[0].1,
        "Bearer AT-1"
    );
}

#[test]
fn the_clock_is_read_once_before_the_send_and_not_for_the_delivery() {
    // The driver's clock is a host call per read (`wasi:clocks`): a poll
    // asks it at most once, and only when a decision needs the time (the
    // token's expiry before the send), not to deliver a response.
    let auth = auth_server(true);
    let mut c = authorized(Config::new("T", REDIRECT), &auth);
    let mut call = Call::new("POST", SERVER);
    let mut random = |_: &mut [u8]| panic!("a Bearer call needs no randomness");
    let reads = std::cell::Cell::new(0);
    let mut clock = || {
        reads.set(reads.get() + 1);
        NOW
    };
    let CallAction::Send(headers) = call.poll(&mut c, &mut clock, &mut random) else {
        panic!("a send")
    };
    assert_eq!(headers[0].1, "Bearer AT-1");
    assert_eq!(reads.get(), 1, "one read before the send");
    let head = ResponseHead {
        status: 200,
        www_authenticate: None,
        dpop_nonce: None,
    };
    call.response(&mut c, &head);
    assert!(matches!(
        call.poll(&mut c, &mut clock, &mut random),
        CallAction::Deliver
    ));
    assert_eq!(reads.get(), 1, "no read to deliver");
}
