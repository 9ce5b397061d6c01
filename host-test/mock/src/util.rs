//! Small helpers for the mocks: random identifiers, encodings, responses.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The response type every mock handler returns.
pub(crate) type Reply = Response<Full<Bytes>>;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 32 unpredictable bytes: /dev/urandom (with a time-and-counter fallback)
/// through SHA-256.
fn entropy() -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut seed = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut seed).is_ok() {
            hasher.update(seed);
        }
    }
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.finalize().into()
}

/// An unguessable identifier: `prefix` followed by 32 hex digits derived
/// from /dev/urandom (with a time-and-counter fallback) through SHA-256.
pub(crate) fn random_id(prefix: &str) -> String {
    let digest = entropy();
    let mut out = String::with_capacity(prefix.len() + 32);
    out.push_str(prefix);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `N` unpredictable bytes (`N` at most 32).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&entropy()[..N]);
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

use base64::Engine as _;

/// Base64url without padding (RFC 4648 §5), as PKCE and JOSE use.
pub(crate) fn base64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64 (padding optional); `None` when malformed.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// Everything but the RFC 3986 unreserved characters.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` value (`+` is a space).
pub(crate) fn form_unescape(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Encodes pairs as `application/x-www-form-urlencoded` (spaces as `%20`).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `application/x-www-form-urlencoded` text (a query or a form body)
/// into pairs, in order, keeping repeats.
pub fn form_decode(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// Form parameters, each at most once, by name.
pub(crate) type Form = std::collections::HashMap<String, String>;

/// Form parameters as a map; `Err(name)` when a parameter repeats.
pub(crate) fn unique_params(text: &str) -> Result<Form, String> {
    let mut map = Form::new();
    for (k, v) in form_decode(text) {
        if map.contains_key(&k) {
            return Err(k);
        }
        map.insert(k, v);
    }
    Ok(map)
}

/// Quotes a value for an auth-param (RFC 9110 quoted-string).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn base(status: u16) -> http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A JSON response.
pub(crate) fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    bytes_reply(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// A response with a body of the given type.
pub(crate) fn bytes_reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    base(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// A plain-text response.
pub(crate) fn text_reply(status: u16, text: &str) -> Reply {
    bytes_reply(
        status,
        "text/plain; charset=utf-8",
        text.as_bytes().to_vec(),
    )
}

/// An empty response.
pub(crate) fn empty_reply(status: u16) -> Reply {
    base(status)
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

/// A 302 to `location`.
pub(crate) fn redirect_reply(location: &str) -> Reply {
    let mut reply = empty_reply(302);
    if let Ok(v) = http::HeaderValue::from_str(location) {
        reply.headers_mut().insert(header::LOCATION, v);
    }
    reply
}

/// Adds a header to a response (ignoring values that are not valid).
pub(crate) fn with_header(mut reply: Reply, name: &'static str, value: &str) -> Reply {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        reply
            .headers_mut()
            .append(http::HeaderName::from_static(name), v);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let e = base64(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes());
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn s256_matches_rfc7636_example() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn forms_round_trip() {
        let encoded = form_encode(&[("a b", "c&d=e"), ("x", "ü/+")]);
        assert_eq!(encoded, "a%20b=c%26d%3De&x=%C3%BC%2F%2B");
        let decoded = form_decode(&encoded);
        assert_eq!(decoded[0], ("a b".into(), "c&d=e".into()));
        assert_eq!(decoded[1], ("x".into(), "ü/+".into()));
        assert_eq!(
            form_decode("a=1+2&b&c=%zz%4"),
            [
                ("a".into(), "1 2".into()),
                ("b".into(), String::new()),
                ("c".into(), "%zz%4".into())
            ]
        );
        assert_eq!(unique_params("a=1&a=2"), Err("a".to_string()));
    }

    #[test]
    fn random_ids_differ() {
        let a = random_id("t-");
        let b = random_id("t-");
        assert_ne!(a, b);
        assert_eq!(a.len(), 34);
    }
}
