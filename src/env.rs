//! The environment the core needs but may not touch: time and entropy.

use wasip2::clocks::wall_clock;
use wasip2::random::random;

/// Wall-clock time in seconds since the Unix epoch.
pub fn now() -> u64 {
    wall_clock::now().seconds
}

/// 48 bytes from the host's CSPRNG (`wasi:random/random`), for a PKCE
/// verifier and a `state`.
pub fn entropy() -> mcp_oauth_core::Entropy {
    let bytes = random::get_random_bytes(48);
    // wasi:random promises exactly the length asked for; a host that breaks
    // that promise must not get a guessable verifier or state.
    let out: [u8; 48] = bytes
        .try_into()
        .unwrap_or_else(|_| panic!("wasi:random/get-random-bytes returned the wrong length"));
    mcp_oauth_core::Entropy::from_bytes(out)
}
