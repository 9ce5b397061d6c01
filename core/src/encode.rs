//! Byte encodings used on the wire: base64 (RFC 4648), and the
//! `application/x-www-form-urlencoded` format as the WHATWG URL standard
//! serializes and parses it (OAuth 2.1 §3.2.2 and Appendix B use it for
//! token requests, authorization requests and redirect queries).
//!
//! The work is done by the `base64`, `form_urlencoded` and
//! `percent-encoding` crates; this module only names, once, the variant each
//! use needs (alphabet, padding, strict decoding), so that the call sites
//! cannot pick a different one by accident.
//!
//! Every function here is total: any input gives an output, none panics.

use crate::prelude::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Base64url without padding (RFC 4648 §5; padding omitted as RFC 7636
/// Appendix A and RFC 7515 §2 do). Used for PKCE values and `state`.
pub fn base64url_nopad(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with `=` padding (RFC 4648 §4), as HTTP Basic
/// authentication uses it (RFC 7617 §2).
pub fn base64_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes [`base64url_nopad`] output (RFC 4648 §5, no `=`); `None` for
/// anything that function would not produce: a character outside the
/// alphabet, padding, a final group of one character, or unused low bits of
/// the last character that are not zero (RFC 4648 §3.5: one encoding per
/// value; the engine's default refuses such trailing bits).
pub fn base64url_nopad_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Decodes [`base64_std`] output (RFC 4648 §4, padded with `=` to a
/// multiple of four characters); `None` for anything that function would
/// not produce. No whitespace is skipped: callers strip line breaks.
pub fn base64_std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Serializes name/value pairs as `application/x-www-form-urlencoded`
/// (WHATWG URL §5.2; OAuth 2.1 §3.2.2 and Appendix B): each name and value
/// encoded with [`form_component`], joined as `name=value`, pairs joined
/// with `&`. Order is preserved; nothing is deduplicated.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Encodes one form component the way [`form_encode`] does (the UTF-8
/// bytes; `A-Z a-z 0-9 * - . _` kept; space as `+`; every other byte
/// `%XX` in upper case). OAuth 2.1 §2.4.1 applies this to `client_id` and
/// `client_secret` before they are joined with `:` and base64-encoded for
/// HTTP Basic authentication.
pub fn form_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Parses `application/x-www-form-urlencoded` (WHATWG URL §5.1): splits on
/// `&`, skips empty pieces, splits each piece at its first `=` (a piece
/// without `=` is a name with an empty value), and decodes both halves (`+`
/// as a space, then `%XX`, then UTF-8 with invalid sequences replaced by
/// U+FFFD). Duplicates are kept in order; callers decide what a repeat
/// means (OAuth 2.1 §3.1 and §3.2: parameters MUST NOT be included more
/// than once).
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cases::check;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn base64_std_rfc4648_section10_vectors() {
        // RFC 4648 §10 test vectors.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64_std(input.as_bytes()), expected, "input {input:?}");
        }
    }

    #[test]
    fn base64url_nopad_rfc4648_vectors_without_padding() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                base64url_nopad(input.as_bytes()),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn base64_alphabets_differ_only_in_62_and_63() {
        // 0xfb 0xff 0xbf → indices 62, 63, 62, 63.
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(base64_std(&bytes), "+/+/");
        assert_eq!(base64url_nopad(&bytes), "-_-_");
        assert_eq!(base64_std(&[0xff]), "/w==");
        assert_eq!(base64url_nopad(&[0xff]), "_w");
    }

    #[test]
    fn base64_all_byte_values_and_lengths() {
        let all: Vec<u8> = (0..=255u8).collect();
        for len in 0..all.len() {
            let std = base64_std(&all[..len]);
            assert_eq!(std.len(), len.div_ceil(3) * 4);
            let url = base64url_nopad(&all[..len]);
            assert_eq!(url.len(), (len * 4).div_ceil(3));
            assert!(url
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(
                std.trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_"),
                url
            );
        }
    }

    #[test]
    fn base64_basic_auth_example() {
        // RFC 7617 §2 example: "Aladdin:open sesame".
        assert_eq!(
            base64_std(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn base64_decoders_invert_the_encoders() {
        let all: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
        for len in 0..300 {
            let bytes = &all[..len];
            assert_eq!(
                base64_std_decode(&base64_std(bytes)).as_deref(),
                Some(bytes)
            );
            assert_eq!(
                base64url_nopad_decode(&base64url_nopad(bytes)).as_deref(),
                Some(bytes)
            );
        }
        assert_eq!(base64_std_decode("Zm9vYg==").as_deref(), Some(&b"foob"[..]));
        assert_eq!(
            base64_std_decode("+/+/").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
        assert_eq!(
            base64url_nopad_decode("-_-_").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
    }

    #[test]
    fn base64_decoders_are_strict() {
        for bad in [
            "Zg", "Zg=", "Zm8", "Z===", "Zg==Zg==", "=Zg=", "Zm9v\n", " Zm9v", "Zh==", "Zm9=",
            "-_-_", "Zm 9", "Zm9v====", "é===",
        ] {
            assert_eq!(base64_std_decode(bad), None, "{bad:?}");
        }
        for bad in [
            "Z", "Zg=", "Zg==", "+/+/", "Zh", "Zm9", "Zm9vY", "Zm\n9", "é",
        ] {
            assert_eq!(base64url_nopad_decode(bad), None, "{bad:?}");
        }
        assert_eq!(base64_std_decode("").as_deref(), Some(&[][..]));
        assert_eq!(base64url_nopad_decode("").as_deref(), Some(&[][..]));
    }

    #[test]
    fn form_component_keeps_only_the_safe_set() {
        check(
            form_component,
            &[
                ("AZaz09*-._", "AZaz09*-._"),
                ("a b", "a+b"),
                ("~", "%7E"),
                ("+&=%/?#:@!'()", "%2B%26%3D%25%2F%3F%23%3A%40%21%27%28%29"),
                ("", ""),
                ("\u{0}\n\r\t", "%00%0A%0D%09"),
            ],
        );
    }

    #[test]
    fn form_component_encodes_utf8_bytes_upper_hex() {
        check(
            form_component,
            &[("é", "%C3%A9"), ("€", "%E2%82%AC"), ("😀", "%F0%9F%98%80")],
        );
    }

    #[test]
    fn form_encode_pairs() {
        assert_eq!(form_encode(&[]), "");
        assert_eq!(form_encode(&[("a", "")]), "a=");
        assert_eq!(
            form_encode(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", "http://127.0.0.1:8976/callback"),
                ("scope", "mcp:read mcp:write"),
            ]),
            "grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback&scope=mcp%3Aread+mcp%3Awrite"
        );
        // Duplicates and order are preserved.
        assert_eq!(
            form_encode(&[("b", "1"), ("a", "2"), ("b", "3")]),
            "b=1&a=2&b=3"
        );
    }

    #[test]
    fn oauth_basic_auth_client_credentials() {
        // OAuth 2.1 §2.4.1: encode id and secret, then base64 "id:secret".
        let raw = format!(
            "{}:{}",
            form_component("my client"),
            form_component("p@ss:w+rd")
        );
        assert_eq!(raw, "my+client:p%40ss%3Aw%2Brd");
        assert_eq!(
            base64_std(raw.as_bytes()),
            "bXkrY2xpZW50OnAlNDBzcyUzQXclMkJyZA=="
        );
    }

    /// Checks that each input decodes to its expected pairs.
    fn decodes(cases: &[(&str, &[(&str, &str)])]) {
        for (input, expected) in cases {
            assert_eq!(form_decode(input), pairs(expected), "{input:?}");
        }
    }

    #[test]
    fn form_decode_basic() {
        decodes(&[
            ("code=abc&state=xyz", &[("code", "abc"), ("state", "xyz")]),
            ("", &[]),
            ("&&", &[]),
            ("a&b=", &[("a", ""), ("b", "")]),
            ("a=b=c", &[("a", "b=c")]),
            ("=v", &[("", "v")]),
            ("&a=1&&b=2&", &[("a", "1"), ("b", "2")]),
            ("a=1&a=2", &[("a", "1"), ("a", "2")]),
        ]);
    }

    #[test]
    fn form_decode_plus_and_percent() {
        decodes(&[
            ("scope=a+b%20c", &[("scope", "a b c")]),
            // An encoded plus stays a plus: '+' is replaced before decoding.
            ("x=%2B", &[("x", "+")]),
            ("x=%26%3D", &[("x", "&=")]),
            ("a%3Db=c", &[("a=b", "c")]),
            ("x=100%", &[("x", "100%")]),
            ("x=%G1", &[("x", "%G1")]),
            (
                "iss=https%3A%2F%2Fas.example",
                &[("iss", "https://as.example")],
            ),
        ]);
    }

    #[test]
    fn form_decode_utf8_lossy() {
        for (input, value) in [
            ("n=%C3%A9", "é"),
            ("n=é", "é"),
            ("n=%FF", "\u{FFFD}"),
            ("n=%C3", "\u{FFFD}"),
        ] {
            assert_eq!(form_decode(input), pairs(&[("n", value)]), "{input:?}");
        }
    }

    #[test]
    fn form_round_trip() {
        let original = [
            ("a b", "c+d"),
            ("é€😀", "%25&=#?"),
            ("", ""),
            ("x", "\u{0}\u{7f}\t\r\n"),
            ("*-._~", "!$'()"),
        ];
        let encoded = form_encode(&original);
        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        let decoded = form_decode(&encoded);
        // ("", "") encodes to "=" which decodes back to ("", "").
        assert_eq!(decoded, pairs(&original));
    }
}
