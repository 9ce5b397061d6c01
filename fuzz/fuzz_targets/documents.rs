//! A whole authorization flow against a hostile server: the fuzzer supplies
//! every response (status, headers, body) — protected resource metadata,
//! authorization server metadata, registration, token responses — in the
//! text format of `mcp_oauth_fuzz`. The first byte chooses the
//! configuration, the first record is the challenge (`-`: none). A redirect
//! is completed with a callback carrying the right `state` and `iss`, and
//! the exchange goes on with the remaining responses; a token obtained is
//! then refreshed with what is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::Grant;
use mcp_oauth_fuzz::{
    begin, client, entropy, inspect, parse_response, query_param, split_records, NOW, REDIRECT,
    SERVER,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let records = split_records(&text);
    let challenge = match records[0] {
        "-" => None,
        c => Some(c),
    };
    let mut responses = records[1..].iter().map(|r| parse_response(r));
    let mut c = client(selector);
    let start = c.authorize(SERVER, challenge, NOW, entropy(selector));
    let grant = begin(&mut c, start, &mut responses, false, NOW);
    if let Ok(Grant::Redirect(p)) = grant {
        let state = query_param(&p.authorization_url, "state").unwrap_or_default();
        let iss: String = p
            .issuer
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let callback = format!("{REDIRECT}?code=the-code&state={state}&iss={iss}");
        let done = c.complete_authorization(&callback, NOW + 5, entropy(2));
        let _ = begin(&mut c, done, &mut responses, false, NOW + 5);
    }
    inspect(&mut c, NOW + 10);
    let later = NOW + 100_000;
    if let Ok(Some(flow)) = c.refresh(SERVER, later, entropy(3)) {
        let _ = mcp_oauth_fuzz::drive(&mut c, flow, &mut responses, false, later);
    }
    inspect(&mut c, later);
});
