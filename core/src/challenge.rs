//! `WWW-Authenticate` parsing (RFC 9110 §11.2, §11.6.1; RFC 6750 §3;
//! RFC 9728 §5.1).
//!
//! A hand-written tokenizer for
//!
//! ```text
//! WWW-Authenticate = #challenge                          ; RFC 9110 §11.6.1
//! challenge     = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-scheme   = token
//! auth-param    = token BWS "=" BWS ( token / quoted-string )
//! token68       = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE ; RFC 9110 §5.6.4
//! ```
//!
//! The input is untrusted: parsing is a single left-to-right pass (each byte
//! is looked at a bounded number of times), without recursion, and never
//! panics. Error positions are byte offsets into the field value.

use crate::prelude::*;
use core::fmt;

/// The most auth-params one challenge may carry (RFC 6750 defines five).
pub const MAX_PARAMS: usize = 32;

/// One challenge: an auth-scheme with either a token68 or auth-params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme as written (compare with [`Challenge::is_scheme`]).
    pub scheme: String,
    /// The token68 form (e.g. `Basic dXNlcjpwYXNz==`), if used.
    pub token68: Option<String>,
    /// Auth-params in order: lowercased name, value with quoted-pairs
    /// unescaped. A name occurs at most once.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name`, compared case-insensitively
    /// (RFC 9110 §11.2).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the auth-scheme is `scheme`, compared case-insensitively
    /// (RFC 9110 §11.1).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// A malformed `WWW-Authenticate` field value. The message does not repeat
/// the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeError {
    /// Byte offset in the field value where the problem was found.
    pub position: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed WWW-Authenticate at byte {}: {}",
            self.position, self.reason
        )
    }
}

impl core::error::Error for ChallengeError {}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 §11.2 `token68` characters before the `=` padding.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// RFC 9110 §5.6.4 `qdtext`: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

/// RFC 9110 §5.6.4: the octet after `\` in a quoted-pair:
/// HTAB / SP / VCHAR / obs-text.
fn is_quoted_pair_char(b: u8) -> bool {
    matches!(b, b'\t' | 0x20..=0x7e | 0x80..=0xff)
}

/// Cursor over the field value's bytes.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn error(&self, position: usize, reason: impl Into<String>) -> ChallengeError {
        ChallengeError {
            position,
            reason: reason.into(),
        }
    }

    /// Skips OWS / BWS (RFC 9110 §5.6.3: `*( SP / HTAB )`); returns how many.
    fn skip_ows(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Skips list separators and empty list elements (RFC 9110 §5.6.1.2:
    /// recipients MUST accept and ignore `,,` and surrounding OWS).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    /// Reads a `token` (RFC 9110 §5.6.2); `None` (nothing consumed) if
    /// there is none here.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        // tchar is ASCII, so both ends are char boundaries.
        (self.pos > start)
            .then(|| self.text.get(start..self.pos))
            .flatten()
    }

    /// Whether an auth-param (`token BWS "="`) starts here. Consumes nothing.
    fn at_auth_param(&mut self) -> bool {
        let start = self.pos;
        let is_param = self.token().is_some() && {
            self.skip_ows();
            self.peek() == Some(b'=')
        };
        self.pos = start;
        is_param
    }

    /// Reads a token68 if one, followed by OWS and then `,` or the end,
    /// starts here; otherwise consumes nothing. The OWS is consumed.
    fn token68(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        let end = self.pos;
        self.skip_ows();
        if self.at_end() || self.peek() == Some(b',') {
            self.text.get(start..end)
        } else {
            self.pos = start;
            None
        }
    }

    /// Reads a quoted-string starting at the opening `"` (RFC 9110 §5.6.4),
    /// replacing each quoted-pair by the octet after the backslash.
    fn quoted_string(&mut self) -> Result<String, ChallengeError> {
        let open = self.pos;
        self.pos += 1;
        let bytes = self.text.as_bytes();
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error(open, "unterminated quoted-string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => match bytes.get(self.pos + 1).copied() {
                    None => return Err(self.error(open, "unterminated quoted-string")),
                    Some(c) if is_quoted_pair_char(c) => {
                        value.push(c);
                        self.pos += 2;
                    }
                    Some(_) => {
                        return Err(self.error(
                            self.pos + 1,
                            "invalid character after '\\' in quoted-string",
                        ))
                    }
                },
                Some(c) if is_qdtext(c) => {
                    value.push(c);
                    self.pos += 1;
                }
                Some(_) => return Err(self.error(self.pos, "invalid character in quoted-string")),
            }
        }
        // Only ASCII bytes were ever split from their neighbours, so the
        // bytes are valid UTF-8; stay total anyway.
        Ok(String::from_utf8(value)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// Reads auth-params into `challenge` until the end of input or the
    /// start of the next challenge (a list element that is not
    /// `token BWS "="`, RFC 9110 §11.6.1). The cursor is at a parameter.
    fn params(&mut self, challenge: &mut Challenge) -> Result<(), ChallengeError> {
        loop {
            let name_start = self.pos;
            let Some(name) = self.token() else {
                return Err(self.error(name_start, "expected an auth-param name"));
            };
            self.skip_ows();
            if self.peek() != Some(b'=') {
                return Err(self.error(self.pos, "expected '=' after auth-param name"));
            }
            self.pos += 1;
            self.skip_ows();
            let value_start = self.pos;
            let value = match self.peek() {
                Some(b'"') => self.quoted_string()?,
                _ => match self.token() {
                    Some(t) => t.to_string(),
                    None if self.at_end() || self.peek() == Some(b',') => {
                        return Err(
                            self.error(value_start, format!("auth-param {name:?} has no value"))
                        )
                    }
                    None => {
                        return Err(
                            self.error(value_start, "expected a token or quoted-string value")
                        )
                    }
                },
            };
            let name = name.to_ascii_lowercase();
            match challenge.params.iter().find(|(n, _)| *n == name) {
                // RFC 9110 §11.2: "each parameter name MUST only occur once
                // per challenge". An exact repeat is harmless; a conflicting
                // one cannot be resolved safely.
                Some((_, v)) => {
                    if *v != value {
                        return Err(self.error(
                            name_start,
                            format!("auth-param {name:?} repeated with a different value"),
                        ));
                    }
                }
                // The linear look-up above stays cheap because a challenge
                // may carry only this many parameters.
                None if challenge.params.len() >= MAX_PARAMS => {
                    return Err(self.error(name_start, "too many auth-params in one challenge"));
                }
                None => challenge.params.push((name, value)),
            }
            self.skip_ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {}
                Some(_) => return Err(self.error(self.pos, "expected ',' after auth-param value")),
            }
            self.skip_separators();
            if self.at_end() || !self.at_auth_param() {
                return Ok(());
            }
        }
    }
}

/// Parses a `WWW-Authenticate` field value into its challenges (RFC 9110
/// §11.6.1). Several field lines must be joined with `", "` first (RFC 9110
/// §5.3). Empty list elements are ignored; an empty or all-separator value
/// gives an empty list.
///
/// Errors: an element that is not a challenge, an auth-param without a
/// value, an unterminated quoted-string, characters outside the grammar,
/// missing `,` between auth-params, and a parameter name repeated within a
/// challenge with a different value (RFC 9110 §11.2).
pub fn parse(field_value: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut p = Parser {
        text: field_value,
        pos: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        p.skip_separators();
        if p.at_end() {
            return Ok(challenges);
        }
        let element_start = p.pos;
        if p.at_auth_param() {
            // Only reachable after a scheme followed directly by a list
            // separator (`Bearer , realm="x"`): `#auth-param` may begin with
            // empty elements (RFC 9110 §5.6.1.2), so the params are that
            // scheme's. A token68 challenge takes no params.
            match challenges.last_mut() {
                Some(last) if last.token68.is_none() => p.params(last)?,
                _ => return Err(p.error(element_start, "auth-param without an auth-scheme")),
            }
            continue;
        }
        let Some(scheme) = p.token() else {
            return Err(p.error(element_start, "expected an auth-scheme"));
        };
        let mut challenge = Challenge {
            scheme: scheme.to_string(),
            token68: None,
            params: Vec::new(),
        };
        let spaces = p.skip_ows();
        if !(p.at_end() || p.peek() == Some(b',')) {
            if spaces == 0 {
                return Err(p.error(p.pos, "expected a space or ',' after the auth-scheme"));
            }
            let token68_start = p.pos;
            if let Some(t) = p.token68() {
                // `Bearer scope=, realm="x"`: "scope=" is a valid token68, but
                // a token68 challenge cannot be followed by auth-params, so
                // the sender meant an auth-param without a value.
                let after = p.pos;
                p.skip_separators();
                let param_follows = !p.at_end() && p.at_auth_param();
                p.pos = after;
                let bare = t.trim_end_matches('=');
                if param_follows && t.len() == bare.len() + 1 {
                    let position = token68_start + t.len();
                    return Err(p.error(position, "auth-param has no value"));
                }
                challenge.token68 = Some(t.to_string());
            } else {
                p.params(&mut challenge)?;
            }
        }
        challenges.push(challenge);
    }
}

/// The challenge parameters MCP uses (RFC 6750 §3, RFC 9728 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// RFC 9728 §5.1 `resource_metadata`: the protected resource metadata URL.
    pub resource_metadata: Option<String>,
    /// RFC 6750 §3 `scope`: space-delimited scopes needed.
    pub scope: Option<String>,
    /// RFC 6750 §3.1 error code (`invalid_token`, `insufficient_scope`, …).
    pub error: Option<String>,
    /// RFC 6750 §3 human-readable `error_description`.
    pub error_description: Option<String>,
    /// RFC 6750 §3 / RFC 9110 §11.5 `realm`.
    pub realm: Option<String>,
    /// Whether the field holds a `DPoP` challenge (RFC 9449 §7.1): the
    /// resource server accepts, or wants, DPoP-bound tokens.
    pub dpop: bool,
}

/// Parses `field_value` and returns the parameters of the first `Bearer`
/// challenge, else of the first `DPoP` challenge (RFC 9728 §5.1 allows
/// `resource_metadata` there); `Ok(None)` if neither is present. Schemes
/// and parameter names are matched case-insensitively.
pub fn bearer(field_value: &str) -> Result<Option<BearerChallenge>, ChallengeError> {
    let challenges = parse(field_value)?;
    let chosen = challenges
        .iter()
        .find(|c| c.is_scheme("Bearer"))
        .or_else(|| challenges.iter().find(|c| c.is_scheme("DPoP")));
    Ok(chosen.map(|c| {
        let get = |name: &str| c.param(name).map(str::to_string);
        BearerChallenge {
            resource_metadata: get("resource_metadata"),
            scope: get("scope"),
            error: get("error"),
            error_description: get("error_description"),
            realm: get("realm"),
            dpop: challenges.iter().any(|c| c.is_scheme("DPoP")),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<Challenge> {
        match parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn fail(s: &str) -> ChallengeError {
        match parse(s) {
            Ok(c) => panic!("{s:?} should fail, got {c:?}"),
            Err(e) => e,
        }
    }

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            token68: None,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn t68(scheme: &str, token: &str) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            token68: Some(token.to_string()),
            params: Vec::new(),
        }
    }

    fn bearer_ok(s: &str) -> BearerChallenge {
        match bearer(s) {
            Ok(Some(b)) => b,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn mcp_resource_metadata_and_scope() {
        let s = r#"Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", scope="a b""#;
        assert_eq!(
            ok(s),
            vec![ch(
                "Bearer",
                &[
                    (
                        "resource_metadata",
                        "https://x/.well-known/oauth-protected-resource/mcp"
                    ),
                    ("scope", "a b")
                ]
            )]
        );
        let b = bearer_ok(s);
        assert_eq!(
            b.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(b.scope.as_deref(), Some("a b"));
        assert_eq!(b.error, None);
    }

    #[test]
    fn case_insensitive_scheme_and_names_with_bws() {
        let s = r#"bearer Resource_Metadata = "u""#;
        assert_eq!(ok(s), vec![ch("bearer", &[("resource_metadata", "u")])]);
        assert_eq!(bearer_ok(s).resource_metadata.as_deref(), Some("u"));
        let c = &ok(s)[0];
        assert!(c.is_scheme("BEARER"));
        assert_eq!(c.param("RESOURCE_METADATA"), Some("u"));
        assert_eq!(c.param("resource_metadata"), Some("u"));
        assert_eq!(bearer_ok("BEARER\tscope\t=\ta").scope.as_deref(), Some("a"));
    }

    #[test]
    fn two_challenges_basic_then_bearer() {
        let s =
            r#"Basic realm="x", Bearer error="insufficient_scope", scope="mcp:basic mcp:write""#;
        assert_eq!(
            ok(s),
            vec![
                ch("Basic", &[("realm", "x")]),
                ch(
                    "Bearer",
                    &[
                        ("error", "insufficient_scope"),
                        ("scope", "mcp:basic mcp:write")
                    ]
                )
            ]
        );
        let b = bearer_ok(s);
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(b.scope.as_deref(), Some("mcp:basic mcp:write"));
        assert_eq!(b.realm, None, "Basic's realm must not leak into Bearer");
    }

    #[test]
    fn dpop_then_bearer_prefers_bearer() {
        let s = r#"DPoP algs="ES256", Bearer realm="r""#;
        assert_eq!(
            ok(s),
            vec![
                ch("DPoP", &[("algs", "ES256")]),
                ch("Bearer", &[("realm", "r")])
            ]
        );
        assert_eq!(
            bearer_ok(s),
            BearerChallenge {
                realm: Some("r".to_string()),
                dpop: true,
                ..Default::default()
            }
        );
        // A Bearer challenge alone says nothing of DPoP.
        assert!(!bearer_ok(r#"Bearer realm="r""#).dpop);
    }

    #[test]
    fn dpop_only_is_used_when_no_bearer() {
        let s = r#"DPoP algs="ES256 PS256", resource_metadata="https://rs/.well-known/oauth-protected-resource""#;
        assert_eq!(
            bearer_ok(s).resource_metadata.as_deref(),
            Some("https://rs/.well-known/oauth-protected-resource")
        );
        assert_eq!(bearer(r#"Basic realm="x""#), Ok(None));
        assert_eq!(bearer(""), Ok(None));
        assert_eq!(bearer("Negotiate"), Ok(None));
    }

    #[test]
    fn first_bearer_wins() {
        let s = r#"Bearer realm="one", Bearer realm="two""#;
        assert_eq!(bearer_ok(s).realm.as_deref(), Some("one"));
    }

    #[test]
    fn escaped_quotes_and_backslashes() {
        let s = r#"Bearer error_description="say \"hi\" \\ bye", realm="a\bc""#;
        assert_eq!(
            ok(s),
            vec![ch(
                "Bearer",
                &[("error_description", r#"say "hi" \ bye"#), ("realm", "abc")]
            )]
        );
        // An escaped quote does not end the string.
        let s = r#"Bearer error_description="x\", scope=\"evil", scope="good""#;
        let b = bearer_ok(s);
        assert_eq!(b.error_description.as_deref(), Some(r#"x", scope="evil"#));
        assert_eq!(b.scope.as_deref(), Some("good"));
    }

    #[test]
    fn token_values() {
        let s = "Bearer error=invalid_token, scope=mcp.read, realm=example";
        assert_eq!(
            ok(s),
            vec![ch(
                "Bearer",
                &[
                    ("error", "invalid_token"),
                    ("scope", "mcp.read"),
                    ("realm", "example")
                ]
            )]
        );
        assert_eq!(
            ok("X a=!#$%&'*+-.^_`|~09AZ"),
            vec![ch("X", &[("a", "!#$%&'*+-.^_`|~09AZ")])]
        );
    }

    #[test]
    fn commas_inside_quoted_strings_are_data() {
        let s = r#"Bearer realm="a, b", scope="x,y", error_description="Basic realm=\"z\", other""#;
        assert_eq!(
            ok(s),
            vec![ch(
                "Bearer",
                &[
                    ("realm", "a, b"),
                    ("scope", "x,y"),
                    ("error_description", r#"Basic realm="z", other"#)
                ]
            )]
        );
    }

    #[test]
    fn token68_challenges() {
        assert_eq!(
            ok("Basic dXNlcjpwYXNz=="),
            vec![t68("Basic", "dXNlcjpwYXNz==")]
        );
        assert_eq!(
            ok("Negotiate a87421000492aa874209af8bc028"),
            vec![t68("Negotiate", "a87421000492aa874209af8bc028")]
        );
        assert_eq!(ok("X a-._~+/9="), vec![t68("X", "a-._~+/9=")]);
        assert_eq!(
            ok(r#"Basic dXNlcjpwYXNz== , Bearer realm="r""#),
            vec![
                t68("Basic", "dXNlcjpwYXNz=="),
                ch("Bearer", &[("realm", "r")])
            ]
        );
        // A single token is a token68 (RFC 9110 grammar).
        assert_eq!(ok("Bearer abc"), vec![t68("Bearer", "abc")]);
        assert_eq!(bearer("Bearer abc"), Ok(Some(BearerChallenge::default())));
        // A token68 challenge cannot also carry params.
        assert_eq!(fail(r#"Basic abc==, realm="x""#).position, 13);
    }

    #[test]
    fn bare_schemes() {
        assert_eq!(ok("Negotiate"), vec![ch("Negotiate", &[])]);
        assert_eq!(
            ok("Negotiate, NTLM"),
            vec![ch("Negotiate", &[]), ch("NTLM", &[])]
        );
        assert_eq!(
            ok(r#"Negotiate, Bearer scope="s", NTLM"#),
            vec![
                ch("Negotiate", &[]),
                ch("Bearer", &[("scope", "s")]),
                ch("NTLM", &[])
            ]
        );
        assert_eq!(bearer_ok("Bearer"), BearerChallenge::default());
        assert_eq!(bearer_ok("Bearer  "), BearerChallenge::default());
    }

    #[test]
    fn params_after_bare_scheme_and_separator() {
        // `#auth-param` may start with empty elements (RFC 9110 §5.6.1.2).
        assert_eq!(
            ok(r#"Bearer , realm="x""#),
            vec![ch("Bearer", &[("realm", "x")])]
        );
        assert_eq!(
            ok(r#"Bearer,realm="x",,scope=y"#),
            vec![ch("Bearer", &[("realm", "x"), ("scope", "y")])]
        );
        // But not without any scheme.
        assert_eq!(fail(r#"realm="x""#).position, 0);
        assert_eq!(fail(r#" , realm="x""#).position, 3);
    }

    #[test]
    fn empty_elements_and_multiple_lines() {
        assert_eq!(ok(""), vec![]);
        assert_eq!(ok(" , ,, "), vec![]);
        assert_eq!(
            ok(r#",, Bearer realm="a" ,, , scope="b" ,, Basic realm="c",,"#),
            vec![
                ch("Bearer", &[("realm", "a"), ("scope", "b")]),
                ch("Basic", &[("realm", "c")])
            ]
        );
        // Two field lines joined with ", " (RFC 9110 §5.3).
        let lines = [
            r#"Basic realm="simple""#,
            r#"Bearer resource_metadata="https://rs/prm""#,
        ];
        let joined = lines.join(", ");
        assert_eq!(
            bearer_ok(&joined).resource_metadata.as_deref(),
            Some("https://rs/prm")
        );
        assert_eq!(ok(&joined).len(), 2);
    }

    #[test]
    fn rfc9110_example() {
        // RFC 9110 §11.6.1 example.
        let s = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#;
        assert_eq!(
            ok(s),
            vec![
                ch(
                    "Newauth",
                    &[
                        ("realm", "apps"),
                        ("type", "1"),
                        ("title", r#"Login to "apps""#)
                    ]
                ),
                ch("Basic", &[("realm", "simple")])
            ]
        );
    }

    #[test]
    fn rfc6750_examples() {
        // RFC 6750 §3.
        let s = r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#;
        assert_eq!(
            bearer_ok(s),
            BearerChallenge {
                realm: Some("example".to_string()),
                error: Some("invalid_token".to_string()),
                error_description: Some("The access token expired".to_string()),
                ..Default::default()
            }
        );
        assert_eq!(
            bearer_ok(r#"Bearer realm="example""#).realm.as_deref(),
            Some("example")
        );
    }

    #[test]
    fn mcp_insufficient_scope_example() {
        // MCP 2025-11-25 "Runtime Insufficient Scope Errors".
        let s = r#"Bearer error="insufficient_scope", scope="files:read files:write user:profile:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", error_description="Additional file write permission required""#;
        let b = bearer_ok(s);
        for (param, expected) in [
            (&b.error, "insufficient_scope"),
            (&b.scope, "files:read files:write user:profile:write"),
            (
                &b.resource_metadata,
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                &b.error_description,
                "Additional file write permission required",
            ),
        ] {
            assert_eq!(param.as_deref(), Some(expected));
        }
    }

    #[test]
    fn unknown_params_kept_and_lookalikes_ignored() {
        let s = r#"Bearer xresource_metadata="https://evil/", resource_metadata_x="no", foo=bar"#;
        let c = ok(s);
        assert_eq!(c[0].param("foo"), Some("bar"));
        assert_eq!(c[0].param("xresource_metadata"), Some("https://evil/"));
        assert_eq!(c[0].param("resource_metadata"), None);
        assert_eq!(bearer_ok(s).resource_metadata, None);
    }

    #[test]
    fn scope_inside_error_description_is_not_scope() {
        let s = r#"Bearer error="insufficient_scope", error_description="need scope=admin, scope=\"root\"""#;
        let b = bearer_ok(s);
        assert_eq!(b.scope, None);
        assert_eq!(
            b.error_description.as_deref(),
            Some(r#"need scope=admin, scope="root""#)
        );
    }

    #[test]
    fn duplicate_params() {
        // Identical repeats are accepted once.
        assert_eq!(
            ok(r#"Bearer resource_metadata="u", Resource_Metadata=u"#),
            vec![ch("Bearer", &[("resource_metadata", "u")])]
        );
        // Conflicting repeats are an error (RFC 9110 §11.2).
        let e = fail(r#"Bearer resource_metadata="https://a/", resource_metadata="https://b/""#);
        assert_eq!(e.position, 39);
        assert!(e.reason.contains("resource_metadata"), "{e}");
        // The same name in different challenges is fine.
        assert_eq!(ok(r#"Basic realm="a", Bearer realm="b""#).len(), 2);
        // After a bare scheme, a repeat is still checked.
        assert!(parse(r#"Bearer, realm="a", realm="b""#).is_err());
    }

    #[test]
    fn unterminated_quotes() {
        let e = fail(r#"Bearer realm="abc"#);
        assert_eq!(e.position, 13);
        assert!(e.reason.contains("unterminated"));
        assert_eq!(fail(r#"Bearer realm="abc\"#).position, 13);
        assert_eq!(fail(r#"Bearer realm="abc\""#).position, 13);
        assert_eq!(fail(r#"Bearer realm=""#).position, 13);
    }

    #[test]
    fn params_without_values() {
        let e = fail(r#"Bearer realm="x", scope="#);
        assert_eq!(e.position, 24);
        assert!(e.reason.contains("no value"), "{e}");
        assert_eq!(fail(r#"Bearer realm="x", scope=, error="e""#).position, 24);
        assert_eq!(fail(r#"Bearer realm=, scope="s""#).position, 13);
        // A trailing bare token is a new challenge (a bare auth-scheme).
        assert_eq!(
            ok(r#"Bearer realm="x", scope"#),
            vec![ch("Bearer", &[("realm", "x")]), ch("scope", &[])]
        );
        // `Bearer scope=` alone is a valid token68 ("scope=") by the grammar.
        assert_eq!(ok("Bearer scope="), vec![t68("Bearer", "scope=")]);
    }

    #[test]
    fn garbage_is_rejected_with_position() {
        let cases: &[(&str, usize)] = &[
            ("Bearer realm=\"x\" scope=\"y\"", 17),
            ("Bearer realm=\"x\"garbage", 16),
            ("Bearer realm=https://x/", 18),
            ("Bearer realm=@", 13),
            ("Bearer\"x\"", 6),
            ("Bearer; realm=x", 6),
            ("@Bearer", 0),
            ("Bearer realm=\"a\u{1}b\"", 15),
            ("Bearer realm=\"a\u{7f}\"", 15),
            ("Bearer realm=\"a\\\u{1}\"", 16),
            ("Bearer realm=\"x\"\r\n scope=y", 16),
            ("Bearer foo bar", 11),
            ("Bearer a b=c", 9),
            ("Bearer , =x", 9),
            // `Bearer = x` reads as the auth-param `Bearer=x` (BWS allowed).
            ("Bearer = x", 0),
            ("Bearer ==", 0),
            ("Bearer realm=\"x\", @", 18),
        ];
        for &(input, position) in cases {
            let e = fail(input);
            assert_eq!(e.position, position, "{input:?}: {e}");
            assert!(e.to_string().contains(&format!("byte {position}")));
        }
    }

    #[test]
    fn non_ascii() {
        // obs-text inside quoted-strings is data, also after a backslash.
        assert_eq!(
            ok("Bearer realm=\"café\\é\""),
            vec![ch("Bearer", &[("realm", "caféé")])]
        );
        assert_eq!(fail("Bearér realm=x").position, 4);
        assert_eq!(fail("Bearer réalm=x").position, 8);
        assert_eq!(fail("Bearer realm=é").position, 13);
    }

    #[test]
    fn huge_inputs_are_linear_and_do_not_recurse() {
        // Many params in one challenge: refused at the bound, not parsed on.
        let mut s = String::from("Bearer ");
        for i in 0..50_000 {
            s.push_str(&format!("p{i}=\"v\", "));
        }
        assert!(fail(&s).reason.contains("too many auth-params"));
        // Many challenges and empty elements.
        let s = "Negotiate, ,".repeat(100_000);
        assert_eq!(ok(&s).len(), 100_000);
        // A huge unterminated string and deep backslash runs.
        let s = format!("Bearer realm=\"{}", "\\\\".repeat(500_000));
        assert_eq!(fail(&s).position, 13);
        let s = format!("Bearer realm=\"{}\"", "\\\"".repeat(500_000));
        assert_eq!(ok(&s)[0].params[0].1.len(), 500_000);
        let s = "=".repeat(1_000_000);
        assert_eq!(fail(&s).position, 0);
        let s = format!("Basic {}", "A".repeat(1_000_000));
        assert_eq!(ok(&s)[0].token68.as_ref().map(String::len), Some(1_000_000));
    }

    #[test]
    fn error_display_and_trait() {
        let e = fail("Bearer realm=\"x");
        assert_eq!(
            e.to_string(),
            "malformed WWW-Authenticate at byte 13: unterminated quoted-string"
        );
        let boxed: Box<dyn core::error::Error> = Box::new(e);
        assert!(boxed.to_string().starts_with("malformed"));
    }

    #[test]
    fn parameter_count_is_bounded() {
        let many = |n: usize| {
            let params: Vec<String> = (0..n).map(|i| format!("p{i}=v")).collect();
            format!("Bearer {}", params.join(", "))
        };
        assert_eq!(ok(&many(MAX_PARAMS))[0].params.len(), MAX_PARAMS);
        assert!(fail(&many(MAX_PARAMS + 1))
            .reason
            .contains("too many auth-params"));
        // Every challenge has its own budget.
        let two = format!(
            "{}, {}",
            many(MAX_PARAMS),
            many(MAX_PARAMS).replacen("Bearer", "DPoP", 1)
        );
        assert_eq!(ok(&two).len(), 2);
    }
}
