//! A flow's randomness and the keys it signs with: the PKCE verifier and
//! `state` bytes, `jti` values, the DPoP key (RFC 9449) and the client's
//! `private_key_jwt` key (RFC 7523).

use crate::encode::base64url_nopad;
use crate::http::HttpRequest;
use crate::jose::{self, SigningKey};
use crate::pkce::CodeVerifier;
use crate::prelude::*;
use crate::store::{AuthMethod, Map};
use crate::token::TokenCall;
use sha2::{Digest, Sha256};

/// Caller-supplied randomness for one flow (the core has no RNG): 32 bytes
/// for the PKCE verifier (OAuth 2.1 §4.1.1), 16 for `state`, and a 32-byte
/// seed from which `jti` values and a new DPoP key are derived.
#[derive(Clone)]
pub struct Entropy {
    verifier: [u8; 32],
    state: [u8; 16],
    seed: [u8; 32],
}

impl Entropy {
    /// How many random bytes [`Entropy::from_bytes`] takes.
    pub const LEN: usize = 80;

    /// Splits [`Entropy::LEN`] random bytes from a CSPRNG.
    pub fn from_bytes(bytes: [u8; Entropy::LEN]) -> Entropy {
        let mut verifier = [0u8; 32];
        let mut state = [0u8; 16];
        let mut seed = [0u8; 32];
        verifier.copy_from_slice(&bytes[..32]);
        state.copy_from_slice(&bytes[32..48]);
        seed.copy_from_slice(&bytes[48..]);
        Entropy {
            verifier,
            state,
            seed,
        }
    }

    /// 32 bytes derived from the seed for `purpose` and `counter`
    /// (SHA-256 of a domain label, the purpose, the counter and the seed).
    pub(crate) fn derive(&self, purpose: u8, counter: u32) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"mcp-oauth derive\0");
        h.update([purpose]);
        h.update(counter.to_be_bytes());
        h.update(self.seed);
        h.finalize().into()
    }
}

impl core::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Entropy(<redacted>)")
    }
}

const PURPOSE_JTI: u8 = 1;
const PURPOSE_DPOP_KEY: u8 = 2;

/// The keys a flow signs with and the source of its `jti` values.
pub(crate) struct Keys {
    /// The client's `private_key_jwt` key, from the configuration.
    pub client_key: Option<SigningKey>,
    /// The DPoP key: the stored one, or one made by this flow.
    pub dpop_key: Option<SigningKey>,
    /// Set when this flow made `dpop_key`: it must be stored.
    pub dpop_key_is_new: bool,
    /// The newest DPoP nonce each token endpoint sent (RFC 9449 §8), by
    /// endpoint URL: used in the next proof sent there.
    pub nonces: Map<String>,
    entropy: Entropy,
    counter: u32,
}

impl Keys {
    pub(crate) fn new(
        client_key: Option<SigningKey>,
        dpop_key: Option<SigningKey>,
        entropy: Entropy,
    ) -> Keys {
        Keys {
            client_key,
            dpop_key,
            dpop_key_is_new: false,
            nonces: Map::new(),
            entropy,
            counter: 0,
        }
    }

    /// The PKCE verifier of this flow's authorization request.
    pub(super) fn verifier(&self) -> CodeVerifier {
        CodeVerifier::from_entropy(&self.entropy.verifier)
    }

    /// The `state` of this flow's authorization request.
    pub(super) fn state(&self) -> String {
        base64url_nopad(&self.entropy.state)
    }

    /// A fresh `jti` (never repeated within the flow).
    fn jti(&mut self) -> [u8; 16] {
        self.counter += 1;
        let d = self.entropy.derive(PURPOSE_JTI, self.counter);
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// The DPoP key, made from the entropy when there is none yet.
    pub(super) fn dpop_key(&mut self) -> &SigningKey {
        let entropy = &self.entropy;
        let is_new = &mut self.dpop_key_is_new;
        self.dpop_key.get_or_insert_with(|| {
            *is_new = true;
            // A 32-byte string is a valid P-256 scalar with probability
            // 1 - 2^-128 or so; the counter moves on in the rare other case.
            let mut i = 0u32;
            loop {
                if let Some(key) = SigningKey::from_entropy(&entropy.derive(PURPOSE_DPOP_KEY, i)) {
                    break key;
                }
                i = i.wrapping_add(1);
            }
        })
    }

    /// The DPoP key this flow made, to be stored (32 secret bytes).
    pub(super) fn new_dpop_key(&self) -> Option<[u8; 32]> {
        self.dpop_key
            .as_ref()
            .filter(|_| self.dpop_key_is_new)
            .map(SigningKey::to_bytes)
    }

    /// The token endpoint request of `call`, with a fresh client assertion
    /// (`private_key_jwt`) and, when `dpop`, a fresh DPoP proof carrying
    /// the endpoint's newest nonce.
    pub(super) fn token_request(&mut self, call: &TokenCall, dpop: bool, now: u64) -> HttpRequest {
        let jti = self.jti();
        let assertion = match (&call.client, &self.client_key) {
            (Some(c), Some(key)) if c.auth_method == AuthMethod::PrivateKeyJwt => Some(
                jose::client_assertion(key, &c.client_id, &call.issuer, now, &jti, None),
            ),
            _ => None,
        };
        let mut request = call.request(assertion.as_deref());
        if dpop {
            let jti = self.jti();
            let nonce = self.nonces.get(&call.endpoint).cloned();
            let proof = jose::dpop_proof(
                self.dpop_key(),
                "POST",
                &call.endpoint,
                now,
                &jti,
                None,
                nonce.as_deref(),
            );
            request.headers.push(("dpop".into(), proof));
        }
        request
    }
}
