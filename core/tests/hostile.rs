//! What hostile servers get (issue 9, the security review's findings):
//! bounded work for one 401 — the authorization servers tried and the
//! scopes accepted, each limit a typed error with its evidence (finding 3)
//! — no token for a server before its own flow completes (finding 4), and
//! no request to an insecure URL from an edited state document (finding 7).

mod common;
use common::*;

use mcp_oauth_core::{Config, Error};
use mcp_oauth_core::{HttpRequest, HttpResponse};
use mcp_oauth_core::{MAX_AUTHORIZATION_SERVERS, MAX_SCOPES};

#[test]
fn only_the_first_authorization_servers_are_tried() {
    // A 689 KB document listing 60,000 servers made 60,001 requests.
    let servers: Vec<String> = (0..5_000)
        .map(|i| format!(r#""https://as{i}.example.com""#))
        .collect();
    let prm = format!(
        r#"{{"resource":"{SERVER}","authorization_servers":[{}]}}"#,
        servers.join(",")
    );
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(200, &prm),
        _ => not_found(),
    };
    let mut c = client(Config::new("T", REDIRECT));
    let (e, log) = run(&mut c, CHALLENGE, &respond);
    // The limit is named, with the document and what was tried.
    let Err(Error::InvalidResponse { url, reason, .. }) = e else {
        panic!("{e:?}")
    };
    assert_eq!(url, PRM);
    assert!(
        reason.contains("lists 5000 authorization servers; only the first 3 are tried"),
        "{reason}"
    );
    assert!(
        reason.contains("https://as2.example.com/.well-known/openid-configuration → 404"),
        "the evidence: {reason}"
    );
    // The PRM, then RFC 8414 and OpenID Discovery for each server tried.
    assert_eq!(log.len(), 1 + 2 * MAX_AUTHORIZATION_SERVERS);
    assert!(log.iter().all(|r| !r.url.contains("as3.example.com")));

    // A list within the limit whose servers all fail is the usual error.
    let prm = format!(
        r#"{{"resource":"{SERVER}","authorization_servers":[{}]}}"#,
        servers[..MAX_AUTHORIZATION_SERVERS].join(",")
    );
    let respond = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(200, &prm),
        _ => not_found(),
    };
    let (e, _) = run(&mut c, CHALLENGE, &respond);
    let Err(Error::NoAuthorizationServerMetadata(attempts)) = e else {
        panic!("{e:?}")
    };
    assert_eq!(attempts.len(), 2 * MAX_AUTHORIZATION_SERVERS);
}

fn scopes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
}

#[test]
fn scope_lists_are_bounded() {
    // A 1 MiB scopes_supported cost 16.6 s of CPU in the scope union.
    let quoted = |v: Vec<String>| {
        v.iter()
            .map(|s| format!(r#""{s}""#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let prm = format!(
        r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":[{}]}}"#,
        quoted(scopes(MAX_SCOPES + 1))
    );
    let too_many = |r: &HttpRequest| match r.url.as_str() {
        PRM => HttpResponse::json(200, &prm),
        _ => not_found(),
    };
    let mut c = client(Config::new("T", REDIRECT));
    let (e, log) = run(&mut c, CHALLENGE, &too_many);
    assert!(
        matches!(&e, Err(Error::InvalidResponse { reason, .. }) if reason.contains("65 scopes")),
        "{e:?}"
    );
    assert_eq!(urls(&log), [PRM], "nothing after the refused document");

    // The same list in the authorization server's metadata.
    let asm = format!(
        r#",{}"scopes_supported":[{}]"#,
        r#""code_challenge_methods_supported":["S256"],"#,
        quoted(scopes(MAX_SCOPES + 1))
    );
    let as_many = |r: &HttpRequest| match r.url.as_str() {
        PRM => prm_doc(),
        ASM => asm_doc(&asm),
        _ => not_found(),
    };
    let (e, _) = run(&mut c, CHALLENGE, &as_many);
    assert!(matches!(e, Err(Error::InvalidResponse { .. })), "{e:?}");

    // And in a challenge, refused before any request.
    let challenge = format!(r#"Bearer scope="{}""#, scopes(MAX_SCOPES + 1).join(" "));
    let (e, log) = run(&mut c, &challenge, &as_many);
    assert!(matches!(e, Err(Error::InvalidResponse { .. })), "{e:?}");
    assert!(log.is_empty());

    // At the limit, everything works.
    let challenge = format!(r#"Bearer scope="{}""#, scopes(MAX_SCOPES).join(" "));
    let fine = discovery_with(
        r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register""#,
    );
    let (g, _) = run(&mut c, &challenge, &fine);
    assert!(g.is_ok(), "{g:?}");
}

#[test]
fn a_sibling_path_does_not_inherit_a_token_before_its_own_flow_completes() {
    // Security review finding 4: after /alice/mcp got a token for resource
    // `https://mcp.example.com/`, one 401 from /bob/mcp claiming the same
    // resource bound bob at redirect time, and bob received alice's token
    // with no consent.
    use mcp_oauth_core::{Begin, Entropy, Grant};
    const ALICE: &str = "https://mcp.example.com/alice/mcp";
    const BOB: &str = "https://mcp.example.com/bob/mcp";
    let prm = format!(
        r#"{{"resource":"https://mcp.example.com/","authorization_servers":["{ISSUER}"]}}"#
    );
    let respond = |r: &HttpRequest| {
        if r.url.contains("/.well-known/oauth-protected-resource/") {
            return HttpResponse::json(200, &prm);
        }
        match r.url.as_str() {
            ASM => asm_doc(
                r#","code_challenge_methods_supported":["S256"],"registration_endpoint":"https://auth.example.com/register""#,
            ),
            "https://auth.example.com/register" => {
                HttpResponse::json(201, r#"{"client_id":"dcr-client"}"#)
            }
            TOKEN => token_doc("Bearer"),
            _ => not_found(),
        }
    };
    let mut c = client(Config::new("T", REDIRECT));
    let start = |c: &mut mcp_oauth_core::Client, url: &str| {
        let Ok(Begin::Flow(flow)) =
            c.authorize(url, Some("Bearer"), NOW, Entropy::from_bytes([3; 80]))
        else {
            panic!("a flow")
        };
        let mut log = Vec::new();
        drive(c, flow, &respond, &mut log).unwrap()
    };
    let alice = start(&mut c, ALICE);
    complete(&mut c, alice, &respond).0.unwrap();
    assert_eq!(c.request_headers("POST", ALICE, NOW, &[1; 16]).len(), 1);

    let bob = start(&mut c, BOB);
    assert!(matches!(bob, Grant::Redirect(_)));
    assert!(
        c.request_headers("POST", BOB, NOW, &[1; 16]).is_empty(),
        "no token for bob before bob's authorization completes"
    );
    complete(&mut c, bob, &respond).0.unwrap();
    assert_eq!(c.request_headers("POST", BOB, NOW, &[1; 16]).len(), 1);
}

#[test]
fn an_imported_state_cannot_point_requests_at_insecure_urls() {
    // Security review finding 7: import-state took stored endpoint URLs
    // without checking them again, so an edited state file could send the
    // refresh token over plain http.
    let good = format!(
        r#"{{"version":2,"tokens":[{{"resource":"{SERVER}","issuer":"{ISSUER}","access_token":"a","token_type":"Bearer","refresh_token":"r","token_endpoint":"{TOKEN}"}}]}}"#
    );
    let mut c = client(Config::new("T", REDIRECT));
    c.import_state(good.as_bytes()).unwrap();
    for (bad, what) in [
        (
            good.replace(TOKEN, "http://attacker.example.com/token"),
            "token_endpoint",
        ),
        (
            good.replace(TOKEN, "https://user:pw@auth.example.com/token"),
            "token_endpoint",
        ),
        (
            format!(
                r#"{{"version":2,"metadata":{{"{ISSUER}":{{"metadata":{{"issuer":"{ISSUER}","authorization_endpoint":"http://evil.example.com/a","token_endpoint":"{TOKEN}"}},"fetched_at":1}}}}}}"#
            ),
            "cached endpoint",
        ),
        (
            format!(
                r#"{{"version":2,"clients":{{"{ISSUER}":{{"client_id":"c","auth_method":"none","redirect_uri":"http://evil.example.com/cb"}}}}}}"#
            ),
            "redirect_uri",
        ),
    ] {
        let e = c.import_state(bad.as_bytes()).unwrap_err();
        assert!(e.0.contains(what), "{what}: {e}");
    }
    // The state stays as it was after a refusal.
    assert_eq!(c.store().tokens.len(), 1);
}

#[test]
fn one_flow_may_not_take_longer_than_its_limit() {
    // Finding 3: each request had a time limit, the flow as a whole none:
    // servers that answer each request just in time could hold it for
    // minutes. Here every answer comes 30 s after the one before.
    use mcp_oauth_core::{Action, Begin, Entropy, MAX_FLOW_SECS};
    let servers: Vec<String> = (0..3)
        .map(|i| format!(r#""https://as{i}.example.com/tenant""#))
        .collect();
    let prm = format!(
        r#"{{"resource":"{SERVER}","authorization_servers":[{}]}}"#,
        servers.join(",")
    );
    let mut c = client(Config::new("T", REDIRECT));
    let Ok(Begin::Flow(mut flow)) =
        c.authorize(SERVER, Some(CHALLENGE), NOW, Entropy::from_bytes([3; 80]))
    else {
        panic!("a flow")
    };
    let mut now = NOW;
    let mut sent = 0;
    while let Action::Send(req) = flow.poll() {
        sent += 1;
        let resp = if req.url == PRM {
            HttpResponse::json(200, &prm)
        } else {
            not_found()
        };
        flow.handle_response(Ok(resp), now);
        now += 30;
    }
    let e = c.finish(flow, now).unwrap_err();
    assert!(
        matches!(&e, Error::Transport { message, .. } if message.contains(&format!("{MAX_FLOW_SECS} s"))),
        "{e:?}"
    );
    // At 30 s an answer, the answer 150 s after the first ends it (without
    // the limit, all 10 discovery requests were made).
    assert_eq!(sent, 6);
}
