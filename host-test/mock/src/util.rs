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

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(alphabet[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Base64url without padding (RFC 4648 §5), as PKCE uses.
pub(crate) fn base64url(data: &[u8]) -> String {
    b64_encode(data, B64URL, false)
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    b64_encode(data, B64, true)
}

/// Decodes standard base64 (padding optional); `None` when malformed.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = B64.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub(crate) fn form_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_unescape(k), form_unescape(v)),
            None => (form_unescape(p), String::new()),
        })
        .collect()
}

/// Form parameters as a map; `Err(name)` when a parameter repeats.
pub(crate) fn unique_params(
    text: &str,
) -> Result<std::collections::HashMap<String, String>, String> {
    let mut map = std::collections::HashMap::new();
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
