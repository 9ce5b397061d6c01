//! Proof Key for Code Exchange (RFC 7636; OAuth 2.1 §4.1.1, §7.5.2), `S256`
//! only: OAuth 2.1 §4.1.1 says a client capable of `S256` MUST use it, and
//! the MCP authorization spec requires it.

use crate::prelude::*;
use core::fmt;

use sha2::{Digest, Sha256};

use crate::encode::base64url_nopad;

/// The `code_challenge_method` value for SHA-256 (RFC 7636 §4.2).
pub const METHOD_S256: &str = "S256";

/// Shortest allowed verifier (RFC 7636 §4.1, OAuth 2.1 §4.1.1).
const MIN_LEN: usize = 43;
/// Longest allowed verifier (RFC 7636 §4.1, OAuth 2.1 §4.1.1).
const MAX_LEN: usize = 128;

/// Why a string is not a valid code verifier. Never includes the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkceError {
    /// The verifier is not 43 to 128 characters long (RFC 7636 §4.1).
    InvalidLength {
        /// Length found, in bytes.
        length: usize,
    },
    /// The verifier holds a character outside
    /// `ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 7636 §4.1 `unreserved`).
    InvalidCharacter {
        /// Byte offset of the first such character.
        position: usize,
    },
}

impl fmt::Display for PkceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkceError::InvalidLength { length } => {
                write!(
                    f,
                    "PKCE code verifier must be {MIN_LEN} to {MAX_LEN} characters, got {length}"
                )
            }
            PkceError::InvalidCharacter { position } => {
                write!(
                    f,
                    "PKCE code verifier has a character outside [A-Za-z0-9-._~] at byte {position}"
                )
            }
        }
    }
}

impl core::error::Error for PkceError {}

/// A PKCE code verifier: a high-entropy secret for one authorization
/// request (OAuth 2.1 §4.1.1, §7.5.2). Deliberately not `Clone`; `Debug`
/// prints `CodeVerifier(<redacted>)`; the text is overwritten (best effort)
/// when dropped.
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// The verifier OAuth 2.1 §4.1.1 and RFC 7636 §4.1 recommend: 32 octets
    /// from a cryptographically secure random source, base64url-encoded
    /// without padding (43 characters).
    pub fn from_entropy(random: &[u8; 32]) -> CodeVerifier {
        CodeVerifier(base64url_nopad(random))
    }

    /// Checks and wraps an existing verifier: 43 to 128 characters of
    /// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1).
    pub fn new(verifier: &str) -> Result<CodeVerifier, PkceError> {
        if let Some(position) = verifier
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')))
        {
            return Err(PkceError::InvalidCharacter { position });
        }
        if !(MIN_LEN..=MAX_LEN).contains(&verifier.len()) {
            return Err(PkceError::InvalidLength {
                length: verifier.len(),
            });
        }
        Ok(CodeVerifier(verifier.to_string()))
    }

    /// The `S256` code challenge: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`
    /// (RFC 7636 §4.2, OAuth 2.1 §4.1.1).
    pub fn challenge_s256(&self) -> String {
        base64url_nopad(&Sha256::digest(self.0.as_bytes()))
    }

    /// The verifier text, for the token request's `code_verifier` parameter
    /// only (OAuth 2.1 §4.1.3). Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

impl Drop for CodeVerifier {
    fn drop(&mut self) {
        // Best-effort wipe of the heap copy. `black_box` keeps the writes
        // from being optimized away in practice; it is not a guarantee.
        let mut bytes = core::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        core::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B: the 32 random octets.
    const RFC7636_OCTETS: [u8; 32] = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];
    const RFC7636_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC7636_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_from_entropy() {
        let v = CodeVerifier::from_entropy(&RFC7636_OCTETS);
        assert_eq!(v.secret(), RFC7636_VERIFIER);
        assert_eq!(v.challenge_s256(), RFC7636_CHALLENGE);
    }

    #[test]
    fn rfc7636_appendix_b_from_text() {
        let v = CodeVerifier::new(RFC7636_VERIFIER).unwrap();
        assert_eq!(v.secret(), RFC7636_VERIFIER);
        assert_eq!(v.challenge_s256(), RFC7636_CHALLENGE);
    }

    #[test]
    fn from_entropy_is_always_valid_43_chars() {
        for seed in [[0u8; 32], [0xff; 32], [0x3e; 32], [0x80; 32]] {
            let v = CodeVerifier::from_entropy(&seed);
            assert_eq!(v.secret().len(), 43);
            assert!(CodeVerifier::new(v.secret()).is_ok());
            let c = v.challenge_s256();
            assert_eq!(c.len(), 43);
            assert!(c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        assert_ne!(
            CodeVerifier::from_entropy(&[1; 32]).challenge_s256(),
            CodeVerifier::from_entropy(&[2; 32]).challenge_s256()
        );
    }

    #[test]
    fn length_bounds() {
        assert!(CodeVerifier::new(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::new(&"a".repeat(128)).is_ok());
        assert_eq!(
            CodeVerifier::new(&"a".repeat(42)).unwrap_err(),
            PkceError::InvalidLength { length: 42 }
        );
        assert_eq!(
            CodeVerifier::new(&"a".repeat(129)).unwrap_err(),
            PkceError::InvalidLength { length: 129 }
        );
        assert_eq!(
            CodeVerifier::new("").unwrap_err(),
            PkceError::InvalidLength { length: 0 }
        );
        assert!(CodeVerifier::new(&"a".repeat(1_000_000)).is_err());
    }

    #[test]
    fn character_set() {
        let ok = format!("{}-._~", "Az09".repeat(10));
        assert!(CodeVerifier::new(&ok).is_ok());
        for bad in ['+', '/', '=', ' ', '%', '\n', '\u{0}', 'é', '😀'] {
            let s = format!("{}{bad}", "a".repeat(43));
            assert_eq!(
                CodeVerifier::new(&s).unwrap_err(),
                PkceError::InvalidCharacter { position: 43 },
                "{bad:?}"
            );
        }
        // Character errors are reported before length errors and never panic.
        assert_eq!(
            CodeVerifier::new("é").unwrap_err(),
            PkceError::InvalidCharacter { position: 0 }
        );
    }

    #[test]
    fn s256_of_a_128_char_verifier() {
        // SHA-256("a" * 128) = 6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e.
        let v = CodeVerifier::new(&"a".repeat(128)).unwrap();
        let digest: [u8; 32] = [
            0x68, 0x36, 0xcf, 0x13, 0xba, 0xc4, 0x00, 0xe9, 0x10, 0x50, 0x71, 0xcd, 0x6a, 0xf4,
            0x70, 0x84, 0xdf, 0xac, 0xad, 0x4e, 0x5e, 0x30, 0x2c, 0x94, 0xbf, 0xed, 0x24, 0xe0,
            0x13, 0xaf, 0xb7, 0x3e,
        ];
        assert_eq!(v.challenge_s256(), base64url_nopad(&digest));
    }

    #[test]
    fn debug_does_not_leak() {
        let v = CodeVerifier::from_entropy(&RFC7636_OCTETS);
        let debug = format!("{v:?}");
        assert_eq!(debug, "CodeVerifier(<redacted>)");
        assert!(!debug.contains(RFC7636_VERIFIER));
        assert!(!format!("{:?}", Some(&v)).contains(RFC7636_VERIFIER));
    }

    #[test]
    fn errors_do_not_leak() {
        let secretish = format!("{}!", "s".repeat(50));
        let e = CodeVerifier::new(&secretish).unwrap_err();
        assert!(!e.to_string().contains("sss"));
        assert!(!format!("{e:?}").contains("sss"));
        assert_eq!(
            PkceError::InvalidLength { length: 5 }.to_string(),
            "PKCE code verifier must be 43 to 128 characters, got 5"
        );
    }

    #[test]
    fn method_constant() {
        assert_eq!(METHOD_S256, "S256");
    }
}
