//! The WWW-Authenticate parser, as hosts reach it: `Client::authorize` with
//! the challenge of a refusal, and the other calls that read a challenge
//! (`react`, `refresh_first`, `on_refusal`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::{ResourceResponse, ResponseHead};
use mcp_oauth_fuzz::{client, entropy, NOW, SERVER};

fuzz_target!(|data: &[u8]| {
    let challenge = String::from_utf8_lossy(data);
    let mut c = client(0);
    for status in [401, 403] {
        let _ = c.react(
            &ResourceResponse {
                method: "POST",
                url: SERVER,
                status,
                www_authenticate: Some(&challenge),
                dpop_nonce: None,
            },
            false,
        );
    }
    let _ = c.refresh_first(SERVER, Some(&challenge));
    let _ = c.on_refusal(SERVER, Some(&challenge), false, NOW);
    let _ = ResponseHead {
        status: 401,
        www_authenticate: Some(&challenge),
        dpop_nonce: None,
    };
    let _ = c.authorize(SERVER, Some(&challenge), NOW, entropy(1));
});
