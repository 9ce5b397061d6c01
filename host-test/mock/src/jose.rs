//! ES256 JOSE for the mocks: verifying the JWTs clients send (RFC 7523
//! client assertions and grants, RFC 9449 DPoP proofs), signing the ones the
//! mock identity provider issues, and P-256 test keys for the tests.
//!
//! Deliberately independent of the component's own JOSE code
//! (`core/src/jose.rs`): the `p256` crate's ECDSA does the cryptography, so a
//! bug in the component's signing cannot be mirrored here.

use super::util::{base64url, random_bytes};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::EncodedPoint;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Decodes base64url without padding (RFC 7515 §2); `None` when malformed
/// (padding, other alphabets and non-canonical trailing bits included).
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// A compact JWS split and decoded; its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Jws {
    /// The protected header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes a compact JWS whose header and payload are JSON
    /// objects; `Err` says what is malformed.
    pub fn parse(token: &str) -> Result<Jws, &'static str> {
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts[..] else {
            return Err("not a compact JWS (three parts)");
        };
        let object = |part: &str| -> Result<Value, &'static str> {
            let bytes = base64url_decode(part).ok_or("a part is not base64url")?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err("a part is not a JSON object"),
            }
        };
        Ok(Jws {
            header: object(h)?,
            claims: object(p)?,
            signing_input: format!("{h}.{p}"),
            signature: base64url_decode(s).ok_or("the signature is not base64url")?,
        })
    }

    /// A string header member.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// An integer claim (a JSON number without fraction).
    pub fn claim_u64(&self, name: &str) -> Option<u64> {
        self.claims.get(name).and_then(Value::as_u64)
    }

    /// Checks `alg` is ES256 and the signature (64 bytes, r‖s) verifies
    /// with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), &'static str> {
        if self.header_str("alg") != Some("ES256") {
            return Err("alg is not ES256");
        }
        if self.signature.len() != 64 {
            return Err("the signature is not 64 bytes");
        }
        let signature = Signature::from_slice(&self.signature).map_err(|_| "bad signature")?;
        key.verify(self.signing_input.as_bytes(), &signature)
            .map_err(|_| "the signature does not verify")
    }
}

/// The public key of an EC P-256 JWK (RFC 7518 §6.2.1); refuses a JWK with
/// a private part (`d`) or members of the wrong type.
pub fn key_from_jwk(jwk: &Value) -> Result<VerifyingKey, &'static str> {
    let Value::Object(members) = jwk else {
        return Err("jwk is not an object");
    };
    if members.contains_key("d") {
        return Err("jwk contains a private key");
    }
    if jwk.get("kty").and_then(Value::as_str) != Some("EC")
        || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
    {
        return Err("jwk is not an EC P-256 key");
    }
    let coordinate = |name: &str| -> Result<[u8; 32], &'static str> {
        let bytes = jwk
            .get(name)
            .and_then(Value::as_str)
            .and_then(base64url_decode)
            .ok_or("jwk coordinate missing or not base64url")?;
        bytes
            .try_into()
            .map_err(|_| "jwk coordinate is not 32 bytes")
    };
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let point = EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    VerifyingKey::from_encoded_point(&point).map_err(|_| "jwk is not a point on P-256")
}

/// The public JWK of `key`: `{"kty":"EC","crv":"P-256","x":…,"y":…}`.
pub fn jwk_of(key: &VerifyingKey) -> Value {
    let point = key.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Value::Null;
    };
    json!({"kty": "EC", "crv": "P-256", "x": base64url(x), "y": base64url(y)})
}

/// The RFC 7638 JWK SHA-256 thumbprint of `key`, base64url: the `jkt` of a
/// DPoP binding (RFC 9449 §6).
pub fn thumbprint(key: &VerifyingKey) -> String {
    let jwk = jwk_of(key);
    // Required members only, in lexicographic order, no whitespace.
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap_or(""),
        jwk["y"].as_str().unwrap_or("")
    );
    base64url(&Sha256::digest(canonical.as_bytes()))
}

/// Signs `claims` as a compact JWS with ES256 and `header` (its `alg` is
/// set to ES256).
pub fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let mut header = header.clone();
    header["alg"] = json!("ES256");
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", base64url(&signature.to_bytes()))
}

/// A fresh P-256 key.
pub(crate) fn random_signing_key() -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_slice(&random_bytes::<32>()) {
            return key;
        }
    }
}

/// A P-256 key pair for tests: the private key as PKCS#8 PEM (what a client
/// is configured with) and the public key (what the mock server knows).
#[derive(Clone)]
pub struct TestKey {
    key: SigningKey,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("jkt", &thumbprint(self.verifying_key()))
            .finish_non_exhaustive()
    }
}

impl Default for TestKey {
    fn default() -> Self {
        TestKey::generate()
    }
}

impl TestKey {
    /// A new random key.
    pub fn generate() -> TestKey {
        TestKey {
            key: random_signing_key(),
        }
    }

    /// The private key as a PKCS#8 `PRIVATE KEY` PEM (RFC 5208, RFC 5915
    /// `ECPrivateKey` without the optional public key).
    pub fn pkcs8_pem(&self) -> String {
        // SEQUENCE { version 0, AlgorithmIdentifier { id-ecPublicKey,
        // prime256v1 }, OCTET STRING { ECPrivateKey { 1, OCTET STRING d } } }
        const PREFIX: [u8; 36] = [
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20, 0x00,
        ];
        let mut der = PREFIX[..35].to_vec();
        der.extend_from_slice(&self.key.to_bytes());
        let b64 = super::util::base64(&der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// The public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        jwk_of(self.verifying_key())
    }

    /// Signs `claims` as an ES256 JWT with `typ` (e.g. `JWT`).
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> String {
        sign(&self.key, &json!({"typ": typ}), claims)
    }

    /// Signs `claims` as an ES256 JWS with this protected `header` (its
    /// `alg` is set to ES256), e.g. a DPoP proof with a `jwk` member.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        sign(&self.key, header, claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_is_detected() {
        let key = TestKey::generate();
        let jwt = key.sign_jwt("JWT", &json!({"iss": "me", "n": 1}));
        let jws = Jws::parse(&jwt).unwrap();
        assert_eq!(jws.claim_str("iss"), Some("me"));
        assert_eq!(jws.header_str("typ"), Some("JWT"));
        jws.verify(key.verifying_key()).unwrap();
        assert!(jws.verify(TestKey::generate().verifying_key()).is_err());
        let (head, _) = jwt.rsplit_once('.').unwrap();
        let other = key.sign_jwt("JWT", &json!({"iss": "you"}));
        let forged = format!("{head}.{}", other.rsplit_once('.').unwrap().1);
        assert!(Jws::parse(&forged)
            .unwrap()
            .verify(key.verifying_key())
            .is_err());
        assert!(Jws::parse("a.b").is_err());
        assert!(Jws::parse("e30.e30.AA=").is_err());
    }

    #[test]
    fn jwk_round_trip_and_rfc7638_thumbprint() {
        let key = TestKey::generate();
        let back = key_from_jwk(&key.public_jwk()).unwrap();
        assert_eq!(&back, key.verifying_key());
        let mut private = key.public_jwk();
        private["d"] = json!("AAAA");
        assert!(key_from_jwk(&private).is_err());
        // RFC 7638 §3.1 uses an RSA key; this checks the canonical form.
        let jwk = key.public_jwk();
        let text = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(
            thumbprint(key.verifying_key()),
            base64url(&Sha256::digest(text.as_bytes()))
        );
    }

    #[test]
    fn pkcs8_pem_holds_the_scalar() {
        let key = TestKey::generate();
        let pem = key.pkcs8_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = super::super::util::base64_decode(&body).unwrap();
        assert_eq!(der.len(), 67);
        assert_eq!(&der[35..], key.key.to_bytes().as_slice());
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64url_decode("Zm9v=").is_none());
        assert!(base64url_decode("Zm+v").is_none());
        assert!(base64url_decode("Zh").is_none(), "non-zero trailing bits");
        assert!(base64url_decode("A").is_none());
    }
}
