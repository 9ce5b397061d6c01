//! `Client::import_state` on arbitrary bytes, and `merge_state(base,
//! theirs)` with the input split at its first `\n%%\n` (the first part is
//! also imported as the client's own state first). What imports must export
//! and import again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_fuzz::{client, entropy, inspect, NOW, SERVER};

fuzz_target!(|data: &[u8]| {
    let mut c = client(0);
    if c.import_state(data).is_ok() {
        inspect(&mut c, NOW);
        let _ = c.authorize(SERVER, None, NOW, entropy(1));
        let _ = c.renew(SERVER, NOW, entropy(1));
        let _ = c.refresh(SERVER, NOW, entropy(1));
        let _ = c.forget(Some(SERVER));
        let _ = c.forget(Some("https://auth.example.com"));
        inspect(&mut c, NOW);
        let _ = c.forget(None);
    }
    let (base, theirs) = match data.windows(4).position(|w| w == b"\n%%\n") {
        Some(i) => (&data[..i], &data[i + 4..]),
        None => (&data[..data.len() / 2], &data[data.len() / 2..]),
    };
    let mut c = client(0);
    let _ = c.import_state(base);
    if c.merge_state(base, theirs).is_ok() {
        inspect(&mut c, NOW);
    }
    let mut c = client(0);
    let _ = c.import_state(theirs);
    if c.merge_state(theirs, base).is_ok() {
        inspect(&mut c, NOW);
    }
});
