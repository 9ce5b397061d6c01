//! PEM private keys: a configuration with `private_key_pem` = the input
//! through `Client::new` (validation parses the key). A key that is accepted
//! signs a client assertion in a client credentials flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::{Client, Config, GrantType, Secret};
use mcp_oauth_fuzz::{begin, entropy, NOW, REDIRECT, SERVER};

fuzz_target!(|data: &[u8]| {
    let mut config = Config::new("Fuzz", REDIRECT);
    config.client_id = Some("pre".into());
    config.private_key_pem = Some(Secret::new(String::from_utf8_lossy(data)));
    config.grant_type = Some(GrantType::ClientCredentials);
    if let Ok(mut c) = Client::new(config) {
        let start = c.authorize(SERVER, Some("Bearer"), NOW, entropy(1));
        let _ = begin(&mut c, start, &mut core::iter::empty(), true, NOW);
    }
});
