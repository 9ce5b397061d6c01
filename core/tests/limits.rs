//! What one 401 may cost (issue 9, security review finding 3): the
//! authorization servers tried and the scopes accepted are bounded, and
//! each limit is a typed error with its evidence.

mod common;
use common::*;

use mcp_oauth_core::discovery::{MAX_AUTHORIZATION_SERVERS, MAX_SCOPES};
use mcp_oauth_core::http::{HttpRequest, HttpResponse};
use mcp_oauth_core::{Config, Error};

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
    let Err(Error::NoAuthorizationServerMetadata(attempts)) = e else {
        panic!("{e:?}")
    };
    // The PRM, then RFC 8414 and OpenID Discovery for each server tried.
    assert_eq!(log.len(), 1 + 2 * MAX_AUTHORIZATION_SERVERS);
    assert_eq!(
        attempts.len(),
        2 * MAX_AUTHORIZATION_SERVERS,
        "the evidence"
    );
    assert!(log.iter().all(|r| !r.url.contains("as3.example.com")));
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
