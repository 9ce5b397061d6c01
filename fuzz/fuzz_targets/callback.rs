//! The callback URL check: `Client::complete_authorization` with a fuzzed
//! URL after a real pending authorization was created by a flow with good
//! responses. `STATE` and `ISS` in the input are replaced with the pending
//! authorization's `state` and issuer, so the fuzzer gets past the state
//! check. An exchange that starts is answered well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::Grant;
use mcp_oauth_fuzz::{begin, client, entropy, inspect, query_param, NOW, SERVER};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The configurations whose flows end at a user (no client credentials).
    let selector = [0u8, 1, 2, 4, 6][usize::from(selector) % 5];
    let mut c = client(selector);
    let start = c.authorize(SERVER, Some("Bearer"), NOW, entropy(selector));
    let grant = begin(&mut c, start, &mut core::iter::empty(), true, NOW);
    let Ok(Grant::Redirect(p)) = grant else {
        panic!("the good server ends in a redirect: {grant:?}");
    };
    let state = query_param(&p.authorization_url, "state").unwrap_or_default();
    let text = String::from_utf8_lossy(rest)
        .replace("STATE", &state)
        .replace("ISS", &p.issuer);
    let done = c.complete_authorization(&text, NOW + 5, entropy(2));
    let _ = begin(&mut c, done, &mut core::iter::empty(), true, NOW + 5);
    inspect(&mut c, NOW + 10);
});
