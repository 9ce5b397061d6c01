//! The environment the core needs but may not touch: time and entropy.

use wasip2::clocks::wall_clock;
use wasip2::random::random;

/// Wall-clock time in seconds since the Unix epoch.
pub fn now() -> u64 {
    wall_clock::now().seconds
}

/// `N` bytes from the host's CSPRNG (`wasi:random/random`).
fn random_bytes<const N: usize>() -> [u8; N] {
    let bytes = random::get_random_bytes(N as u64);
    // wasi:random promises exactly the length asked for; a host that breaks
    // that promise must not get a guessable verifier, state or key.
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("wasi:random/get-random-bytes returned the wrong length"))
}

/// Randomness for one flow: PKCE verifier, `state`, and the seed of `jti`
/// values and a DPoP key.
pub fn entropy() -> mcp_oauth_core::Entropy {
    mcp_oauth_core::Entropy::from_bytes(random_bytes())
}

/// Fills `buf` from the host's CSPRNG (`wasi:random/random`).
pub fn fill(buf: &mut [u8]) {
    let bytes = random::get_random_bytes(buf.len() as u64);
    // As above: exactly the length asked for, or nothing is used.
    if bytes.len() != buf.len() {
        panic!("wasi:random/get-random-bytes returned the wrong length");
    }
    buf.copy_from_slice(&bytes);
}
