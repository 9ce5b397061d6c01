//! ES256 JOSE: P-256 keys, compact JWS, RFC 7523 client assertions and
//! RFC 9449 DPoP proofs.
//!
//! Only what the client sends is here: it signs, it never verifies. ES256 is
//! ECDSA on P-256 with SHA-256 (RFC 7518 §3.4); the signature is the 64-byte
//! `r || s`, not DER. Signing is deterministic (RFC 6979), so no entropy is
//! needed beyond the key itself and the `jti` the caller passes in.
//!
//! Keys come from PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, the
//! DER read by the `pkcs8` and `sec1` crates), or from 32 bytes of entropy
//! (a fresh DPoP key). [`KeyError`] names what is wrong with a key and never contains
//! any of its bytes; `Debug` of a [`SigningKey`] is redacted.

use crate::prelude::*;
use core::fmt;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{self, Signature};
use sha2::{Digest, Sha256};

use pkcs8::der::{self, Decode, Tagged};
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use sec1::EcPrivateKey;

use crate::encode::{base64_std_decode, base64url_nopad};
use crate::strict_json;
use serde::{Deserialize, Serialize, Serializer};

/// Lifetime of a client assertion, in seconds (`exp - iat`). RFC 7523 §3
/// leaves it to the issuer; a short one limits replay.
pub const CLIENT_ASSERTION_LIFETIME: u64 = 300;

/// The JWS `alg` of everything signed here (RFC 7518 §3.1).
pub const ALG: &str = "ES256";

/// The `alg` member of every JOSE header here: it can only be [`ALG`], so
/// no header this module signs names another algorithm.
#[derive(Debug, Clone, Copy)]
struct Es256;

impl Serialize for Es256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ALG)
    }
}

/// A public P-256 key as a JWK (RFC 7518 §6.2) with just the required
/// members, written in the lexicographic order RFC 7638 §3.2 hashes:
/// `{"crv":"P-256","kty":"EC","x":…,"y":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `P-256`.
    pub crv: String,
    /// `EC`.
    pub kty: String,
    /// The x coordinate, 32 bytes big-endian, base64url.
    pub x: String,
    /// The y coordinate, 32 bytes big-endian, base64url.
    pub y: String,
}

/// The JOSE header of a client assertion (RFC 7523 §3), in this order.
#[derive(Serialize)]
struct AssertionHeader<'a> {
    alg: Es256,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

/// The claims of a client assertion (RFC 7523 §3), in this order.
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// The JOSE header of a DPoP proof (RFC 9449 §4.2), in this order.
#[derive(Serialize)]
struct DpopHeader {
    typ: &'static str,
    alg: Es256,
    jwk: Jwk,
}

/// The claims of a DPoP proof (RFC 9449 §4.2), in this order.
#[derive(Serialize)]
struct DpopClaims<'a> {
    jti: String,
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// OID id-ecPublicKey (RFC 5480 §2.1.1).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// OID prime256v1 / secp256r1 (RFC 5480 §2.1.1.1).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why a key could not be read. The messages name the problem only: no
/// key bytes, no PEM text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No `-----BEGIN …-----` line, or no matching `-----END …-----` line.
    NotPem,
    /// A PEM label other than `PRIVATE KEY` or `EC PRIVATE KEY`.
    UnsupportedLabel,
    /// An encrypted key (`ENCRYPTED PRIVATE KEY`, or `Proc-Type` headers).
    Encrypted,
    /// The PEM body is not base64.
    BadBase64,
    /// Text other than whitespace after the key's `-----END …-----` line.
    TrailingText,
    /// The DER structure is malformed; the detail says where.
    Der(&'static str),
    /// Not an elliptic-curve key (RSA, Ed25519, …).
    NotEc,
    /// An elliptic-curve key on a curve other than P-256.
    UnsupportedCurve,
    /// The private scalar is zero, not below the group order, or too long.
    InvalidScalar,
    /// The public key stored with the private key does not belong to it.
    PublicKeyMismatch,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            KeyError::NotPem => "not a PEM private key (no BEGIN/END lines)",
            KeyError::UnsupportedLabel => {
                "PEM label is not \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1)"
            }
            KeyError::Encrypted => "encrypted private keys are not supported",
            KeyError::BadBase64 => "PEM body is not valid base64",
            KeyError::TrailingText => "unexpected text after the PEM END line",
            KeyError::Der(detail) => return write!(f, "malformed key DER: {detail}"),
            KeyError::NotEc => "not an elliptic-curve key (ES256 needs P-256)",
            KeyError::UnsupportedCurve => "elliptic-curve key is not on P-256",
            KeyError::InvalidScalar => "private key is not a valid P-256 scalar",
            KeyError::PublicKeyMismatch => "embedded public key does not match the private key",
        };
        f.write_str(text)
    }
}

impl core::error::Error for KeyError {}

/// A P-256 private key for ES256. `Debug` is redacted; nothing here prints
/// or serializes the scalar except [`SigningKey::to_bytes`].
#[derive(Clone)]
pub struct SigningKey(ecdsa::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 `-----BEGIN PRIVATE KEY-----`
    /// (RFC 5208 / RFC 5958, id-ecPublicKey on prime256v1) or SEC1
    /// `-----BEGIN EC PRIVATE KEY-----` (RFC 5915). Text before the block is
    /// ignored (RFC 7468 §2), as is an `EC PARAMETERS` block (which
    /// `openssl ecparam -genkey` writes first); only whitespace may follow.
    /// A public key stored with the private key must match it.
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let (label, body, after) = pem_block(pem)?;
        if !after.trim().is_empty() {
            return Err(KeyError::TrailingText);
        }
        match label {
            "PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "RSA PRIVATE KEY" | "DSA PRIVATE KEY" => return Err(KeyError::NotEc),
            _ => return Err(KeyError::UnsupportedLabel),
        }
        if body.contains("Proc-Type:") {
            return Err(KeyError::Encrypted);
        }
        let mut compact = String::with_capacity(body.len());
        for c in body.chars().filter(|c| !c.is_ascii_whitespace()) {
            compact.push(c);
        }
        let der = base64_std_decode(&compact).ok_or(KeyError::BadBase64)?;
        if label == "PRIVATE KEY" {
            from_pkcs8(&der)
        } else {
            from_sec1(&der)
        }
    }

    /// A key from 32 random bytes, read as a big-endian scalar; `None` when
    /// it is zero or not below the group order (probability about 2⁻³²:
    /// retry with fresh entropy).
    pub fn from_entropy(bytes: &[u8; 32]) -> Option<SigningKey> {
        ecdsa::SigningKey::from_bytes(&(*bytes).into())
            .ok()
            .map(SigningKey)
    }

    /// The private scalar, 32 bytes big-endian, for persistence. Secret.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// A key from [`SigningKey::to_bytes`] output: exactly 32 bytes, a
    /// scalar in `1..n`.
    pub fn from_bytes(bytes: &[u8]) -> Result<SigningKey, KeyError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidScalar)?;
        SigningKey::from_entropy(bytes).ok_or(KeyError::InvalidScalar)
    }

    /// The public key as a [`Jwk`].
    pub fn public_jwk(&self) -> Jwk {
        let (x, y) = self.public_coordinates();
        Jwk {
            crv: "P-256".into(),
            kty: "EC".into(),
            x: base64url_nopad(&x),
            y: base64url_nopad(&y),
        }
    }

    /// The affine coordinates of the public point, 32 bytes big-endian each.
    ///
    /// `y` is recomputed from `x` and the parity of `y`, which is all that
    /// `p256`'s affine point API exposes: y² = x³ − 3x + b (SEC 2 §2.4.2);
    /// the square root exists since the point is on the curve, and of the
    /// two roots the one with the point's parity is `y`. This avoids
    /// `sec1::EncodedPoint`, whose accessors carry a panic path that links
    /// error formatting into the component (6 KB, measured again with the
    /// `pkcs8`/`sec1` key readers linked).
    fn public_coordinates(&self) -> ([u8; 32], [u8; 32]) {
        use p256::elliptic_curve::point::AffineCoordinates;
        use p256::elliptic_curve::subtle::ConditionallySelectable;
        use p256::FieldElement;
        /// The P-256 curve coefficient b (SEC 2 §2.4.2, FIPS 186-4 D.1.2.3).
        const B: [u8; 32] = [
            0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98,
            0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e,
            0x27, 0xd2, 0x60, 0x4b,
        ];
        let point = self.0.verifying_key().as_affine();
        let x_bytes = point.x();
        // Both conversions succeed (x and b are below p, the right-hand
        // side is a square); the fallbacks are unreachable and panic-free.
        let field =
            |bytes| Option::from(FieldElement::from_bytes(bytes)).unwrap_or(FieldElement::ZERO);
        let x = field(&x_bytes);
        let rhs = x.square() * x - x.double() - x + field(&B.into());
        let y = Option::from(rhs.sqrt()).unwrap_or(FieldElement::ZERO);
        let y = FieldElement::conditional_select(&y, &-y, y.is_odd() ^ point.y_is_odd());
        (x_bytes.into(), y.to_bytes().into())
    }

    /// The RFC 7638 JWK SHA-256 thumbprint of the public key, base64url
    /// without padding (RFC 9449 §6.1 binds tokens to it as `jkt`). The
    /// server computes it; the tests check that [`SigningKey::public_jwk`]
    /// is written in the member order it hashes.
    #[cfg(test)]
    pub fn jwk_thumbprint(&self) -> String {
        base64url_nopad(&Sha256::digest(strict_json::to_vec(&self.public_jwk())))
    }

    /// A compact JWS (RFC 7515 §7.1) of `claims` with ES256, under
    /// `header`, whose `alg` member is [`Es256`]: the headers above.
    fn sign_jwt(&self, header: &impl Serialize, claims: &impl Serialize) -> String {
        let mut jwt = base64url_nopad(&strict_json::to_vec(header));
        jwt.push('.');
        jwt.push_str(&base64url_nopad(&strict_json::to_vec(claims)));
        let signature: Signature = self.0.sign(jwt.as_bytes());
        jwt.push('.');
        jwt.push_str(&base64url_nopad(&signature.to_bytes()));
        jwt
    }
}

/// An RFC 7523 §2.2 / §3 client assertion for `private_key_jwt` client
/// authentication: header `{"alg":"ES256","typ":"JWT"}` (plus `kid` when
/// given), claims `iss` = `sub` = `client_id`, `aud` = `audience` (the
/// authorization server's issuer or token endpoint, as it expects), `iat` =
/// `now`, `exp` = `now` + [`CLIENT_ASSERTION_LIFETIME`], `jti` =
/// base64url(`jti`).
pub fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    audience: &str,
    now: u64,
    jti: &[u8; 16],
    kid: Option<&str>,
) -> String {
    let header = AssertionHeader {
        alg: Es256,
        typ: "JWT",
        kid,
    };
    let claims = AssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        iat: now,
        exp: now.saturating_add(CLIENT_ASSERTION_LIFETIME),
        jti: base64url_nopad(jti),
    };
    key.sign_jwt(&header, &claims)
}

/// An RFC 9449 §4.2 DPoP proof for one request: header
/// `{"typ":"dpop+jwt","alg":"ES256","jwk":{…}}` with the public key; claims
/// `jti` = base64url(`jti`), `htm` = `method`, `htu` = `url` without query
/// and fragment, `iat` = `now`, then `ath` = base64url(SHA-256(token)) when
/// an access token is presented with it (§4.2, §7.1) and `nonce` when the
/// server asked for one (§8, §9).
pub fn dpop_proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    now: u64,
    jti: &[u8; 16],
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    let header = DpopHeader {
        typ: "dpop+jwt",
        alg: Es256,
        jwk: key.public_jwk(),
    };
    let htu = url.split(['?', '#']).next().unwrap_or(url);
    let claims = DpopClaims {
        jti: base64url_nopad(jti),
        htm: method,
        htu,
        iat: now,
        ath: access_token.map(|t| base64url_nopad(&Sha256::digest(t.as_bytes()))),
        nonce,
    };
    key.sign_jwt(&header, &claims)
}

/// The first private-key PEM block: its label, its body and the text after
/// its END line. `EC PARAMETERS` blocks before it are skipped.
///
/// Hand-written because `pem-rfc7468` (what `p256`'s `pem` feature uses)
/// reads RFC 7468's strict grammar only: base64 lines of exactly 64
/// columns, nothing after the block, the key as the first block. Keys are
/// pasted and generated in the lax form of RFC 7468 §3 — indented,
/// re-wrapped, after explanatory text, after the `EC PARAMETERS` block that
/// `openssl ecparam -genkey` writes first — so the block is located here and
/// its body handed to the `base64` crate.
fn pem_block(pem: &str) -> Result<(&str, &str, &str), KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut rest = pem;
    loop {
        let start = rest.find(BEGIN).ok_or(KeyError::NotPem)? + BEGIN.len();
        let line_end = rest[start..].find('\n').map_or(rest.len(), |i| start + i);
        let line = rest[start..line_end].trim_end();
        let label = line.strip_suffix(DASHES).ok_or(KeyError::NotPem)?;
        let end_line = format!("-----END {label}-----");
        let body_and_after = &rest[line_end..];
        let end = body_and_after.find(&end_line).ok_or(KeyError::NotPem)?;
        let body = &body_and_after[..end];
        let after = &body_and_after[end + end_line.len()..];
        if label != "EC PARAMETERS" {
            return Ok((label, body, after));
        }
        rest = after;
    }
}

/// A DER decoding error as a [`KeyError`]: the kind of problem only, never
/// the bytes. `version` is the message for an unsupported value of the
/// structure's `version`, the only INTEGER either structure has.
fn der_error(error: der::Error, version: &'static str) -> KeyError {
    use der::{ErrorKind, Tag};
    KeyError::Der(match error.kind() {
        ErrorKind::Incomplete { .. } => "truncated",
        ErrorKind::TrailingData { .. } => "trailing data",
        // The version INTEGER: a value the structure does not define, or
        // too long for its `u8`.
        ErrorKind::Value { tag: Tag::Integer } | ErrorKind::Length { tag: Tag::Integer } => version,
        // A header's length in more octets than needed (`der` reports
        // `Overlength` as a `Length` error of the element).
        ErrorKind::Length { .. } | ErrorKind::Overlength => "non-minimal length",
        ErrorKind::IndefiniteLength | ErrorKind::Overflow => "unsupported length",
        ErrorKind::Noncanonical { .. } => "non-canonical encoding",
        ErrorKind::Value {
            tag: Tag::BitString,
        } => "public key bit string",
        // pkcs8: a v1 key with a public key, or a v2 key without one.
        ErrorKind::Value {
            tag: Tag::ContextSpecific { .. },
        } => "PKCS#8 version and public key disagree",
        ErrorKind::TagUnexpected { .. } | ErrorKind::TagUnknown { .. } => "unexpected element",
        _ => "invalid element",
    })
}

/// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208 §5, RFC 5958 §2)
/// holding an EC key (RFC 5480 §2.1.1) on P-256.
fn from_pkcs8(der: &[u8]) -> Result<SigningKey, KeyError> {
    let info =
        PrivateKeyInfoRef::from_der(der).map_err(|e| der_error(e, "unsupported PKCS#8 version"))?;
    if info.algorithm.oid != OID_EC_PUBLIC_KEY {
        return Err(KeyError::NotEc);
    }
    // The parameters must be the OBJECT IDENTIFIER prime256v1, compared
    // encoded (as `ObjectIdentifier` equality does): what
    // `parameters_oid() == Some(OID_P256)` decides, without a second OID
    // reader linked.
    let named_p256 = info
        .algorithm
        .parameters
        .is_some_and(|p| p.tag() == der::Tag::ObjectIdentifier && p.value() == OID_P256.as_bytes());
    if !named_p256 {
        return Err(KeyError::UnsupportedCurve);
    }
    from_sec1(info.private_key.as_bytes())
}

/// SEC1 `ECPrivateKey` (RFC 5915 §3). `parameters`, when present, must name
/// P-256; a `publicKey`, when present, must match the private key.
fn from_sec1(der: &[u8]) -> Result<SigningKey, KeyError> {
    let ec = EcPrivateKey::from_der(der)
        .map_err(|e| der_error(e, "unsupported ECPrivateKey version"))?;
    if let Some(parameters) = ec.parameters {
        if parameters.named_curve() != Some(OID_P256) {
            return Err(KeyError::UnsupportedCurve);
        }
    }
    // RFC 5915: the scalar is exactly 32 octets; shorter encodings with
    // leading zeros dropped are accepted, longer ones are not.
    let scalar = ec.private_key;
    if scalar.len() > 32 {
        return Err(KeyError::InvalidScalar);
    }
    let mut bytes = [0u8; 32];
    bytes[32 - scalar.len()..].copy_from_slice(scalar);
    let key = SigningKey::from_entropy(&bytes).ok_or(KeyError::InvalidScalar)?;
    if let Some(point) = ec.public_key {
        // Uncompressed (04 || x || y) or compressed (02/03 || x) form,
        // compared without `sec1::EncodedPoint` (see `public_coordinates`).
        let (x, y) = key.public_coordinates();
        let matches = match point {
            [4, rest @ ..] => rest.len() == 64 && rest[..32] == x && rest[32..] == y,
            [tag @ (2 | 3), rest @ ..] => rest == x && tag & 1 == y[31] & 1,
            _ => false,
        };
        if !matches {
            return Err(KeyError::PublicKeyMismatch);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{base64_std, base64url_nopad_decode};
    use crate::test_cases::check;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use serde_json::Value;

    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    const PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCC7dgKmVrOfbCwyc
cId3ClH4jMnSGqGEKTNMDEisgBqhRANCAAQEN+pii27aiLVSVYl+JsNbDjxR/Pmv
ygGfdRlXm0Rk/INxgFAJDZv/wQJ4XTBAIRVgSystM9WOA77BaKR/nyg5
-----END PRIVATE KEY-----
";
    /// The same key, `openssl ec -in pkcs8.pem`.
    const SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIAgu3YCplazn2wsMnHCHdwpR+IzJ0hqhhCkzTAxIrIAaoAoGCCqGSM49
AwEHoUQDQgAEBDfqYotu2oi1UlWJfibDWw48Ufz5r8oBn3UZV5tEZPyDcYBQCQ2b
/8ECeF0wQCEVYEsrLTPVjgO+wWikf58oOQ==
-----END EC PRIVATE KEY-----
";
    /// The same key without its public key: `openssl ec -no_public`.
    const SEC1_NO_PUBLIC: &str = "-----BEGIN EC PRIVATE KEY-----
MDECAQEEIAgu3YCplazn2wsMnHCHdwpR+IzJ0hqhhCkzTAxIrIAaoAoGCCqGSM49
AwEH
-----END EC PRIVATE KEY-----
";
    /// The same, as PKCS#8 (`openssl pkey` of the above): no parameters or
    /// public key inside.
    const PKCS8_NO_PUBLIC: &str = "-----BEGIN PRIVATE KEY-----
MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCAILt2AqZWs59sLDJxw
h3cKUfiMydIaoYQpM0wMSKyAGg==
-----END PRIVATE KEY-----
";
    /// The scalar and public point `openssl ec -text` prints for the key.
    const SCALAR_HEX: &str = "082edd80a995ace7db0b0c9c7087770a51f88cc9d21aa18429334c0c48ac801a";
    const POINT_X_HEX: &str = "0437ea628b6eda88b55255897e26c35b0e3c51fcf9afca019f7519579b4464fc";
    const POINT_Y_HEX: &str = "83718050090d9bffc102785d30402115604b2b2d33d58e03bec168a47f9f2839";
    /// `calculateJwkThumbprint` of the key's public JWK (as Node's crypto
    /// exports it from the PEM), from the `jose` package on Node, by hand.
    const THUMBPRINT: &str = "JnlV_QltsXdS2IjgY0Y0rWlILsWa3KxeU_ShYc1pKSY";
    /// A client assertion made with the key, which `jose`'s `jwtVerify`
    /// accepted (issuer, subject, audience, typ, ES256 checked), by hand.
    const ASSERTION: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJpc3MiOiJteS1jbGllbnQiLCJzdWIiOiJteS1jbGllbnQiLCJhdWQiOiJodHRwczovL2FzLmV4YW1wbGUvdG9rZW4iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDMwMCwianRpIjoiQ1FrSkNRa0pDUWtKQ1FrSkNRa0pDUSJ9.R39YwTufJKbT3pbj4hNUk_W1zUXAWdnJn8_CUVOJUzXQI9xrr_UO4cQ5xIRCyaHWAwWX9lCxqFA48Ush1mgX1w";

    /// `openssl ecparam -name prime256v1 -genkey`: parameters block first.
    const ECPARAM: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIEE+jBSmeYiWR+zFiEWZEOaJ1BdOdbKMTucG2SPCrREUoAoGCCqGSM49
AwEHoUQDQgAEtT8ufcloLALe4Qxc9uPz/7nfEdcDwwnsCvRAqrdYCMDl7MzDExbM
oeE1gOp7yJIu1I3W32SOLg8kDE+JvNa4EQ==
-----END EC PRIVATE KEY-----
";
    const RSA: &str = "-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAy5gSyw8+c/vVfgOC
GV0Ehg/rzjZIEvZLrI5x63sr71DBXCmHow5vdigvxILQI1ENfFI2yRdUB7viidVD
oIFgyQIDAQABAkEApYEuZdwyjN7AIvx/Glc/giwXKT9/P8rwoYn6mc87XAL5kaAO
qb0AmTzpsVe+2JBdizM9s4US2/aKbJS4msohcQIhAPc4qy4rDPWXwtyW9HMrjFw4
R9MXlzRujyyIuVLMYAd7AiEA0tLRDfsI3WHvS8RkmIMQcz4nwReu8+egbVXRluqu
o4sCIFkx0+jzVViiaYam3AlVc+2tzJQnlcEwBm394kcyP49TAiEAwxsdI64d7xuS
ZPE1E7u/vpdYHSf43nqPCoBwfhVkV68CIQCO3S4QmV9gtvYihCIJxfkK1BRSuIuk
VHOw258iRe1nNg==
-----END PRIVATE KEY-----
";
    const P384_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCwx0LmHM3TgqFvG6R2
9+lBNb2VFmlYh9bvVHcZrvR/vigNlFpDt8gzUxp46a0ScQ+hZANiAATumoa+y2kW
WFkLauhLsIJw7AUEwz1o8pqW7Z5XILMaj+JYs8RrKzMnYlBm/dkgoh1bP5R4x3t5
r0kj3yjbYBddpyPMh334Kc/Pf7j/OTWFNCtb2KeA2Tnne68snhGtFvA=
-----END PRIVATE KEY-----
";
    const P384_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCwx0LmHM3TgqFvG6R29+lBNb2VFmlYh9bvVHcZrvR/vigNlFpDt8gz
Uxp46a0ScQ+gBwYFK4EEACKhZANiAATumoa+y2kWWFkLauhLsIJw7AUEwz1o8pqW
7Z5XILMaj+JYs8RrKzMnYlBm/dkgoh1bP5R4x3t5r0kj3yjbYBddpyPMh334Kc/P
f7j/OTWFNCtb2KeA2Tnne68snhGtFvA=
-----END EC PRIVATE KEY-----
";
    const ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIM4SeL1eHMLH1vaedQj0dIc9KrEfCXGBnE0J+uE6sSgE
-----END PRIVATE KEY-----
";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key() -> SigningKey {
        SigningKey::from_pem(PKCS8).unwrap()
    }

    /// The DER inside a PEM, and the PEM for a DER with the given label.
    fn der_of(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        crate::encode::base64_std_decode(&body).unwrap()
    }
    fn pem_of(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64_std(der)
        )
    }

    /// A decoded compact JWS.
    struct Jws {
        /// The header and claims as sent, and as read.
        header_json: String,
        claims_json: String,
        header: Value,
        claims: Value,
        signing_input: String,
        signature: Vec<u8>,
    }

    fn decode(jwt: &str) -> Jws {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{jwt}");
        let text = |s: &str| String::from_utf8(base64url_nopad_decode(s).unwrap()).unwrap();
        let (header_json, claims_json) = (text(parts[0]), text(parts[1]));
        Jws {
            header: strict_json::parse_object(header_json.as_bytes()).unwrap(),
            claims: strict_json::parse_object(claims_json.as_bytes()).unwrap(),
            header_json,
            claims_json,
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature: base64url_nopad_decode(parts[2]).unwrap(),
        }
    }

    /// The `jwk` of a header.
    fn jwk_of(header: &Value) -> Jwk {
        strict_json::from_value(&header["jwk"]).unwrap()
    }

    /// String member `name`.
    fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
        v[name].as_str().unwrap_or_else(|| panic!("{name} in {v}"))
    }

    /// Non-negative integer member `name`.
    fn u64_of(v: &Value, name: &str) -> u64 {
        v[name].as_u64().unwrap_or_else(|| panic!("{name} in {v}"))
    }

    /// Verifies the ES256 signature with the public key in `jwk`.
    fn verify(jws: &Jws, jwk: &Jwk) {
        assert_eq!(jwk.kty, "EC");
        assert_eq!(jwk.crv, "P-256");
        let coordinate = |c: &str| base64url_nopad_decode(c).unwrap();
        let mut point = vec![4u8];
        point.extend(coordinate(&jwk.x));
        point.extend(coordinate(&jwk.y));
        let vk = VerifyingKey::from_sec1_bytes(&point).unwrap();
        assert_eq!(jws.signature.len(), 64, "r || s, not DER");
        let signature = Signature::from_slice(&jws.signature).unwrap();
        vk.verify(jws.signing_input.as_bytes(), &signature)
            .expect("signature verifies");
        // Anything else signed does not verify.
        assert!(vk.verify(b"other", &signature).is_err());
    }

    /// The member names of a JSON object's text, in document order.
    fn names(json: &str) -> Vec<String> {
        use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    names.push(name);
                }
                Ok(names)
            }
        }
        serde_json::Deserializer::from_str(json)
            .deserialize_map(Names)
            .unwrap()
    }

    #[test]
    fn client_assertion_round_trip() {
        let key = key();
        let jti = [0x5a; 16];
        let now = 1_700_000_000;
        let jwt = client_assertion(
            &key,
            "my-client",
            "https://as.example/token",
            now,
            &jti,
            None,
        );
        let jws = decode(&jwt);
        verify(&jws, &key.public_jwk());
        assert_eq!(jws.header_json, r#"{"alg":"ES256","typ":"JWT"}"#);
        let c = &jws.claims;
        assert_eq!(
            names(&jws.claims_json),
            ["iss", "sub", "aud", "iat", "exp", "jti"]
        );
        assert_eq!(str_of(c, "iss"), "my-client");
        assert_eq!(str_of(c, "sub"), "my-client");
        assert_eq!(str_of(c, "aud"), "https://as.example/token");
        assert_eq!(u64_of(c, "iat"), now);
        assert_eq!(
            u64_of(c, "exp") - u64_of(c, "iat"),
            CLIENT_ASSERTION_LIFETIME
        );
        assert_eq!(CLIENT_ASSERTION_LIFETIME, 300);
        assert_eq!(base64url_nopad_decode(str_of(c, "jti")).unwrap(), jti);

        let with_kid = client_assertion(&key, "c", "https://as", now, &jti, Some("key-1"));
        let jws = decode(&with_kid);
        verify(&jws, &key.public_jwk());
        assert_eq!(
            jws.header_json,
            r#"{"alg":"ES256","typ":"JWT","kid":"key-1"}"#
        );
        // JSON escaping of odd client ids survives the round trip.
        let odd = "id \"with\" quotes\\and\nnewline é";
        let jws = decode(&client_assertion(&key, odd, "aud", now, &jti, None));
        assert_eq!(str_of(&jws.claims, "iss"), odd);
        // exp saturates rather than overflowing.
        let jws = decode(&client_assertion(&key, "c", "a", u64::MAX, &jti, None));
        assert_eq!(u64_of(&jws.claims, "exp"), u64::MAX);
    }

    #[test]
    fn dpop_proof_round_trip() {
        let key = SigningKey::from_entropy(&[0x42; 32]).unwrap();
        let jti = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let now = 1_700_000_123;
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        let jwt = dpop_proof(
            &key,
            "POST",
            "https://rs.example/mcp/path?x=1&y=2#frag",
            now,
            &jti,
            Some(token),
            Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        );
        let jws = decode(&jwt);
        let h = &jws.header;
        assert_eq!(names(&jws.header_json), ["typ", "alg", "jwk"]);
        assert_eq!(str_of(h, "typ"), "dpop+jwt");
        assert_eq!(str_of(h, "alg"), "ES256");
        let jwk = jwk_of(h);
        // Public members only, in RFC 7638 order: no "d".
        let jwk_json = String::from_utf8(strict_json::to_vec(&jwk)).unwrap();
        assert_eq!(names(&jwk_json), ["crv", "kty", "x", "y"]);
        assert!(jws
            .header_json
            .ends_with(&format!(r#","jwk":{jwk_json}}}"#)));
        assert!(h["jwk"].get("d").is_none());
        assert_eq!(h["jwk"].as_object().unwrap().len(), 4);
        assert_eq!(jwk, key.public_jwk());
        verify(&jws, &jwk);

        let c = &jws.claims;
        assert_eq!(
            names(&jws.claims_json),
            ["jti", "htm", "htu", "iat", "ath", "nonce"]
        );
        assert_eq!(base64url_nopad_decode(str_of(c, "jti")).unwrap(), jti);
        assert_eq!(str_of(c, "htm"), "POST");
        assert_eq!(str_of(c, "htu"), "https://rs.example/mcp/path");
        assert_eq!(u64_of(c, "iat"), now);
        let ath = base64url_nopad(&sha2::Sha256::digest(token.as_bytes()));
        assert_eq!(str_of(c, "ath"), ath);
        assert_eq!(ath.len(), 43);
        assert_eq!(str_of(c, "nonce"), "eyJ7S_zG.eyJH0-Z.HX4w-7v");

        // RFC 9449 §7.1 example: ath of the access token
        // "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
        assert_eq!(ath, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");

        // Without token and nonce, neither claim appears.
        let jws = decode(&dpop_proof(
            &key,
            "GET",
            "http://127.0.0.1:8080/mcp",
            now,
            &jti,
            None,
            None,
        ));
        verify(&jws, &jwk_of(&jws.header));
        assert_eq!(names(&jws.claims_json), ["jti", "htm", "htu", "iat"]);
        assert_eq!(str_of(&jws.claims, "htu"), "http://127.0.0.1:8080/mcp");
    }

    #[test]
    fn htu_drops_query_and_fragment() {
        let key = key();
        let htu = |url| {
            let jws = decode(&dpop_proof(&key, "GET", url, 0, &[0; 16], None, None));
            str_of(&jws.claims, "htu").to_string()
        };
        check(
            htu,
            &[
                ("https://a.example/p?q=1", "https://a.example/p"),
                ("https://a.example/p#f?x", "https://a.example/p"),
                ("https://a.example/p?q#f", "https://a.example/p"),
                ("https://a.example/p?", "https://a.example/p"),
                ("https://a.example", "https://a.example"),
            ],
        );
    }

    #[test]
    fn pkcs8_and_sec1_forms_are_the_same_key() {
        let pkcs8 = SigningKey::from_pem(PKCS8).unwrap();
        assert_eq!(pkcs8.to_bytes().to_vec(), hex(SCALAR_HEX));
        for pem in [SEC1, SEC1_NO_PUBLIC, PKCS8_NO_PUBLIC] {
            let other = SigningKey::from_pem(pem).unwrap();
            assert_eq!(other.public_jwk(), pkcs8.public_jwk());
            assert_eq!(other.to_bytes(), pkcs8.to_bytes());
        }
        // The public JWK is the point openssl printed.
        let jwk = pkcs8.public_jwk();
        assert_eq!(jwk.x, base64url_nopad(&hex(POINT_X_HEX)));
        assert_eq!(jwk.y, base64url_nopad(&hex(POINT_Y_HEX)));
        // CRLF line ends, surrounding text and indentation are fine.
        let crlf = format!("a comment\r\n{}", SEC1.replace('\n', "\r\n  "));
        assert_eq!(
            SigningKey::from_pem(&crlf).unwrap().to_bytes(),
            pkcs8.to_bytes()
        );
        // `openssl ecparam -genkey` output, with its EC PARAMETERS block.
        let key = SigningKey::from_pem(ECPARAM).unwrap();
        assert_eq!(
            key.to_bytes().to_vec(),
            hex("413e8c14a679889647ecc588459910e689d4174e75b28c4ee706d923c2ad1114")
        );
    }

    #[test]
    fn pkcs8_v2_with_public_key_and_attributes() {
        let mut der = der_of(PKCS8);
        let point = [&[0x04][..], &hex(POINT_X_HEX), &hex(POINT_Y_HEX)].concat();
        // RFC 5958 OneAsymmetricKey v2: version 1, attributes [0], publicKey [1].
        let mut extra = vec![0xa0, 0x00, 0x81, 0x42, 0x00];
        extra.extend(&point);
        assert_eq!(&der[..6], [0x30, 0x81, 0x87, 0x02, 0x01, 0x00]);
        der[2] += extra.len() as u8;
        der[5] = 1;
        der.extend(&extra);
        let key = SigningKey::from_pem(&pem_of("PRIVATE KEY", &der)).unwrap();
        assert_eq!(key.to_bytes().to_vec(), hex(SCALAR_HEX));
        // Version 2 is not a PKCS#8 version.
        der[5] = 2;
        assert_eq!(
            SigningKey::from_pem(&pem_of("PRIVATE KEY", &der)).unwrap_err(),
            KeyError::Der("unsupported PKCS#8 version")
        );
        // RFC 5958 §2: the public key is there in v2 and only in v2.
        der[5] = 0;
        assert_eq!(
            SigningKey::from_pem(&pem_of("PRIVATE KEY", &der)).unwrap_err(),
            KeyError::Der("PKCS#8 version and public key disagree")
        );
        let mut v2_without = der_of(PKCS8);
        v2_without[5] = 1;
        assert_eq!(
            SigningKey::from_pem(&pem_of("PRIVATE KEY", &v2_without)).unwrap_err(),
            KeyError::Der("PKCS#8 version and public key disagree")
        );
    }

    /// Every error text is short and contains nothing of the input.
    fn assert_opaque(err: KeyError, pem: &str) {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(text.len() < 100, "{text}");
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let body: Vec<char> = body.chars().collect();
            for window in body.windows(6) {
                let window: String = window.iter().collect();
                assert!(!text.contains(&window), "{text:?} contains {window:?}");
            }
            assert!(!text.to_lowercase().contains(&SCALAR_HEX[..8]));
        }
    }

    fn pem_error(pem: &str) -> KeyError {
        let err = SigningKey::from_pem(pem).unwrap_err();
        assert_opaque(err, pem);
        err
    }

    #[test]
    fn malformed_pems_give_typed_errors() {
        use KeyError::*;
        let legacy_encrypted = SEC1.replacen(
            "KEY-----\n",
            "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
            1,
        );
        for (pem, expected) in [
            ("", NotPem),
            ("hello", NotPem),
            (&SEC1.replace("-----END", "-----FIN"), NotPem),
            (&PKCS8.replace("END PRIVATE", "END EC PRIVATE"), NotPem),
            (
                &PKCS8.replace("PRIVATE KEY", "PUBLIC KEY"),
                UnsupportedLabel,
            ),
            (
                &PKCS8.replace("PRIVATE KEY", "CERTIFICATE"),
                UnsupportedLabel,
            ),
            (
                &PKCS8.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
                Encrypted,
            ),
            (&legacy_encrypted, Encrypted),
            (&PKCS8.replace("PRIVATE KEY", "RSA PRIVATE KEY"), NotEc),
            (&PKCS8.replacen('M', "!", 1), BadBase64),
            (&PKCS8.replacen("AgEA", "AgE", 1), BadBase64),
            (&format!("{PKCS8}garbage"), TrailingText),
            (&format!("{PKCS8}{SEC1}"), TrailingText),
            (RSA, NotEc),
            (ED25519, NotEc),
            (P384_PKCS8, UnsupportedCurve),
            (P384_SEC1, UnsupportedCurve),
            // The PKCS#8 body under the SEC1 label and vice versa.
            (
                &PKCS8.replace("PRIVATE KEY", "EC PRIVATE KEY"),
                Der("unsupported ECPrivateKey version"),
            ),
            (
                &SEC1.replace("EC PRIVATE KEY", "PRIVATE KEY"),
                Der("unexpected element"),
            ),
        ] {
            assert_eq!(pem_error(pem), expected, "{pem}");
        }
    }

    #[test]
    fn malformed_der_gives_typed_errors_and_never_panics() {
        for (label, pem) in [("PRIVATE KEY", PKCS8), ("EC PRIVATE KEY", SEC1)] {
            let der = der_of(pem);
            // Truncated anywhere.
            for len in 0..der.len() {
                let bad = pem_of(label, &der[..len]);
                let err = pem_error(&bad);
                assert!(matches!(err, KeyError::Der(_)), "{len}: {err:?}");
            }
            // Trailing garbage after the DER.
            let mut long = der.clone();
            long.push(0);
            assert_eq!(
                pem_error(&pem_of(label, &long)),
                KeyError::Der("trailing data")
            );
            // Every single-byte corruption: an error or some key, no panic.
            for i in 0..der.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bad = der.clone();
                    bad[i] ^= flip;
                    if let Err(err) = SigningKey::from_pem(&pem_of(label, &bad)) {
                        assert_opaque(err, pem);
                    }
                }
            }
        }
        // A non-minimal length encoding.
        let mut der = der_of(SEC1);
        assert_eq!(der[1], 0x77);
        der.splice(1..2, [0x81, 0x77]);
        assert_eq!(
            pem_error(&pem_of("EC PRIVATE KEY", &der)),
            KeyError::Der("non-minimal length")
        );
    }

    #[test]
    fn wrong_public_key_and_bad_scalars_are_refused() {
        let mut der = der_of(SEC1);
        let last = der.len() - 1;
        der[last] ^= 1;
        assert_eq!(
            pem_error(&pem_of("EC PRIVATE KEY", &der)),
            KeyError::PublicKeyMismatch
        );
        // Scalar zero, and scalar = group order n.
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        for scalar in [vec![0u8; 32], n.clone()] {
            let mut der = der_of(SEC1_NO_PUBLIC);
            der[7..39].copy_from_slice(&scalar);
            assert_eq!(
                pem_error(&pem_of("EC PRIVATE KEY", &der)),
                KeyError::InvalidScalar
            );
        }
        assert!(SigningKey::from_entropy(&[0; 32]).is_none());
        assert!(SigningKey::from_entropy(&[0xff; 32]).is_none());
        assert!(SigningKey::from_entropy(&n.clone().try_into().unwrap()).is_none());
        let mut n_minus_1: [u8; 32] = n.try_into().unwrap();
        n_minus_1[31] -= 1;
        assert!(SigningKey::from_entropy(&n_minus_1).is_some());
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(SigningKey::from_entropy(&one).is_some());
    }

    #[test]
    fn public_coordinates_match_the_sec1_encoding() {
        // The y recomputed from x and its parity is the crate's own y, for
        // keys of both parities.
        let mut parities = [0; 2];
        for i in 0..64u8 {
            let mut seed = [i; 32];
            seed[0] = i.wrapping_mul(37) | 1;
            let key = SigningKey::from_entropy(&seed).unwrap();
            let (x, y) = key.public_coordinates();
            let point = key.0.verifying_key().to_encoded_point(false);
            assert_eq!(point.x().unwrap().as_slice(), x);
            assert_eq!(point.y().unwrap().as_slice(), y);
            parities[usize::from(y[31] & 1)] += 1;
        }
        assert!(parities[0] > 0 && parities[1] > 0, "{parities:?}");
    }

    #[test]
    fn bytes_round_trip() {
        let key = key();
        let bytes = key.to_bytes();
        let again = SigningKey::from_bytes(&bytes).unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk());
        assert_eq!(
            SigningKey::from_bytes(&bytes[..31]).unwrap_err(),
            KeyError::InvalidScalar
        );
        assert_eq!(
            SigningKey::from_bytes(&[bytes.as_slice(), &[0]].concat()).unwrap_err(),
            KeyError::InvalidScalar
        );
        assert_eq!(
            SigningKey::from_bytes(&[0; 32]).unwrap_err(),
            KeyError::InvalidScalar
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = key();
        let debug = format!("{key:?}");
        assert_eq!(debug, "SigningKey(<redacted>)");
        let alternate = format!("{key:#?}");
        assert!(!alternate.contains("082e") && !alternate.contains("8, 46"));
    }

    #[test]
    fn thumbprint_is_rfc7638() {
        let key = key();
        let jwk = key.public_jwk();
        let (x, y) = (&jwk.x, &jwk.y);
        // RFC 7638 §3.2: required members, lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        assert_eq!(strict_json::to_vec(&jwk), canonical.as_bytes());
        let expected = base64url_nopad(&sha2::Sha256::digest(canonical.as_bytes()));
        assert_eq!(key.jwk_thumbprint(), expected);
        // And what an independent implementation (jose on Node) computed.
        assert_eq!(key.jwk_thumbprint(), THUMBPRINT);
    }

    #[test]
    fn signing_is_deterministic() {
        let key = key();
        let a = dpop_proof(&key, "GET", "https://a/b", 7, &[3; 16], Some("t"), None);
        let b = dpop_proof(&key, "GET", "https://a/b", 7, &[3; 16], Some("t"), None);
        assert_eq!(a, b);
        let c = dpop_proof(&key, "GET", "https://a/b", 8, &[3; 16], Some("t"), None);
        assert_ne!(a.rsplit('.').next(), c.rsplit('.').next());
        let a = client_assertion(&key, "c", "https://as", 9, &[4; 16], None);
        assert_eq!(
            a,
            client_assertion(&key, "c", "https://as", 9, &[4; 16], None)
        );
        let known = client_assertion(
            &key,
            "my-client",
            "https://as.example/token",
            1_700_000_000,
            &[9; 16],
            Some("k1"),
        );
        assert_eq!(known, ASSERTION);
    }

    #[test]
    fn rfc6979_known_answer() {
        // RFC 6979 A.2.5: P-256, SHA-256, message "sample".
        let x = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let key = SigningKey::from_bytes(&x).unwrap();
        let signature: Signature = key.0.sign(b"sample");
        assert_eq!(
            signature.to_bytes().to_vec(),
            hex(
                "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
                 F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
            )
        );
    }

    #[test]
    fn every_header_names_es256() {
        // The header types' `alg` member is `Es256`, which writes nothing
        // but "ES256"; `sign_jwt` signs whatever header it is given, with
        // ES256.
        assert_eq!(strict_json::to_vec(&Es256), br#""ES256""#);
        let key = key();
        let assertion = decode(&client_assertion(&key, "c", "a", 1, &[0; 16], Some("k")));
        let dpop = decode(&dpop_proof(
            &key,
            "GET",
            "https://a/",
            1,
            &[0; 16],
            None,
            None,
        ));
        for jws in [&assertion, &dpop] {
            assert_eq!(str_of(&jws.header, "alg"), ALG);
            verify(jws, &key.public_jwk());
        }
        #[derive(Serialize)]
        struct Other {
            typ: &'static str,
            alg: Es256,
        }
        #[derive(Serialize)]
        struct Claims {
            a: u64,
        }
        let jws = decode(&key.sign_jwt(
            &Other {
                typ: "x",
                alg: Es256,
            },
            &Claims { a: 1 },
        ));
        assert_eq!(jws.header_json, r#"{"typ":"x","alg":"ES256"}"#);
        assert_eq!(jws.claims_json, r#"{"a":1}"#);
        verify(&jws, &key.public_jwk());
    }
}
