//! A strict absolute URL and the URL constructions OAuth discovery needs:
//! well-known URIs (RFC 8414 §3.1, RFC 9728 §3.1, OpenID Connect Discovery
//! §4) and query appending (OAuth 2.1 §3.1).
//!
//! The `url` crate parses (the WHATWG URL standard): it reads IP addresses,
//! resolves references and keeps the parsed form. WHATWG is how a browser
//! reads what a person typed, and it repairs its input: `127.1` becomes
//! `127.0.0.1`, `\` becomes `/`, tabs and newlines are dropped, spaces are
//! trimmed or percent-encoded, `%61` in a host is decoded, `http:x` is read
//! as `http://x`. An OAuth client must not guess, so [`Url::parse`] is a
//! policy layer in front of it: it accepts only `scheme "://" authority path
//! [ "?" query ] [ "#" fragment ]` (RFC 3986 §3 with an authority), already
//! percent-encoded ASCII, and refuses — naming the byte — everything the
//! `url` crate would repair, before the crate sees it.
//!
//! Identities stay strings: a [`Url`] keeps the text it was given (scheme
//! and host lowercased, both being case-insensitive, RFC 3986 §3.1 and
//! §3.2.2), and `Display`, [`Url::without_fragment`], the accessors and the
//! well-known constructions all use that text. The `url` crate's
//! serialization (which adds a `/` to an empty path, drops a default port,
//! removes dot segments) is never what is stored or compared; only URLs
//! made by [`Url::join`] take it.

use crate::prelude::*;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr};
use core::str::FromStr;

use url::Host;

use crate::encode::form_encode;

/// Why a string is not an acceptable absolute URL. Positions are byte
/// offsets into the parsed string. Messages never repeat the userinfo part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The input is empty.
    Empty,
    /// A character that may not appear at this place: whitespace (also
    /// leading or trailing), an ASCII control, non-ASCII (the URL must be
    /// percent-encoded already), or a delimiter RFC 3986 never allows there.
    InvalidCharacter {
        /// Byte offset of the character.
        position: usize,
        /// The character.
        character: char,
    },
    /// No `scheme:` prefix: the input is a relative reference.
    MissingScheme,
    /// The scheme is not `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
    /// (RFC 3986 §3.1).
    InvalidScheme,
    /// The scheme is not followed by `//` and an authority (for example
    /// `mailto:` or `urn:` URIs); only hierarchical URLs are supported.
    MissingAuthority,
    /// More than one `@` in the authority (RFC 3986 §3.2.1 allows no `@`
    /// inside userinfo).
    InvalidUserinfo,
    /// The authority has no host (RFC 3986 §3.2.2; e.g. `https:///path`).
    EmptyHost,
    /// The host is not a DNS-style name, a dotted-quad IPv4 address or a
    /// bracketed IPv6 address.
    InvalidHost(String),
    /// A `[` without its `]` or a bracket outside an IP literal.
    UnbalancedBrackets,
    /// The port is empty, not decimal digits, has a leading zero, or is
    /// larger than 65535 (RFC 3986 §3.2.3).
    InvalidPort(String),
    /// A `%` in the userinfo or path not followed by two hexadecimal digits
    /// (RFC 3986 §2.1).
    InvalidPercentEncoding {
        /// Byte offset of the `%`.
        position: usize,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Empty => f.write_str("empty URL"),
            UrlError::InvalidCharacter {
                position,
                character,
            } => {
                write!(f, "invalid character {character:?} at byte {position}")
            }
            UrlError::MissingScheme => f.write_str("not an absolute URL: no scheme"),
            UrlError::InvalidScheme => f.write_str("invalid URL scheme"),
            UrlError::MissingAuthority => f.write_str("URL has no \"//\" authority"),
            UrlError::InvalidUserinfo => f.write_str("more than one '@' in the URL authority"),
            UrlError::EmptyHost => f.write_str("URL has an empty host"),
            UrlError::InvalidHost(reason) => write!(f, "invalid URL host: {reason}"),
            UrlError::UnbalancedBrackets => {
                f.write_str("unbalanced or misplaced '[' ']' in URL host")
            }
            UrlError::InvalidPort(port) => write!(f, "invalid URL port {port:?}"),
            UrlError::InvalidPercentEncoding { position } => {
                write!(f, "invalid percent-encoding at byte {position}")
            }
        }
    }
}

impl core::error::Error for UrlError {}

/// An absolute URL with an authority: `scheme://[userinfo@]host[:port]path[?query][#fragment]`.
///
/// `Debug` hides the userinfo (it may hold a password, RFC 3986 §3.2.1);
/// `Display` writes the URL as given (scheme and host lowercased).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// Lowercased scheme.
    scheme: String,
    /// Userinfo text as written, without the `@`.
    userinfo: Option<String>,
    /// Lowercased host; an IPv6 literal keeps its brackets.
    host: String,
    /// Explicit port, if written.
    port: Option<u16>,
    /// Path as written: empty or starting with `/`.
    path: String,
    /// Query without the `?`.
    query: Option<String>,
    /// Fragment without the `#`.
    fragment: Option<String>,
    /// The same URL as the `url` crate parsed it: what the host is (name,
    /// IPv4 or IPv6 address), and the base for [`Url::join`].
    parsed: url::Url,
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 sub-delims.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Characters never acceptable anywhere in the URL: everything outside
/// printable ASCII (so whitespace, controls, DEL, non-ASCII) and the
/// characters RFC 3986 Appendix C calls out as unsafe delimiters (`"`, `<`,
/// `>`, `\`). `\` in particular is read as `/` by browsers (and WHATWG).
fn allowed_anywhere(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\')
}

/// The first character of `s` that [`allowed_anywhere`] refuses.
fn check_characters(s: &str) -> Result<(), UrlError> {
    match s.char_indices().find(|&(_, c)| !allowed_anywhere(c)) {
        Some((position, character)) => Err(UrlError::InvalidCharacter {
            position,
            character,
        }),
        None => Ok(()),
    }
}

/// Checks `%` sequences in `s` (which starts at byte `offset` of the input).
fn check_percent(s: &str, offset: usize) -> Result<(), UrlError> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let ok = |j: usize| bytes.get(j).is_some_and(|c| c.is_ascii_hexdigit());
            if !(ok(i + 1) && ok(i + 2)) {
                return Err(UrlError::InvalidPercentEncoding {
                    position: offset + i,
                });
            }
        }
    }
    Ok(())
}

/// Checks every byte of `s` (starting at `offset`) against `allowed`; `%`
/// must start a valid percent-encoding (RFC 3986 §2.1).
fn check_component(s: &str, offset: usize, allowed: fn(u8) -> bool) -> Result<(), UrlError> {
    for (i, c) in s.char_indices() {
        let ok = c.is_ascii() && (c == '%' || allowed(c as u8));
        if !ok {
            return Err(UrlError::InvalidCharacter {
                position: offset + i,
                character: c,
            });
        }
    }
    check_percent(s, offset)
}

/// RFC 3986 §3.3: `pchar = unreserved / pct-encoded / sub-delims / ":" / "@"`, plus `/`.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/')
}

/// RFC 3986 §3.2.1: `userinfo = *( unreserved / pct-encoded / sub-delims / ":" )`.
fn is_userinfo_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':'
}

/// Checks a bracket-free host (`reg-name` or `IPv4address`) and returns it
/// lowercased. Only DNS-style names are accepted (letters, digits, `-`, `_`,
/// `.`; no empty labels except one trailing dot): WHATWG would decode `%`
/// and accept `!`, `{`, empty labels. A name whose last label is numeric
/// must be a canonical dotted quad (`Ipv4Addr`'s own parser: four decimal
/// octets, no leading zeros): WHATWG and resolvers read `127.1`,
/// `2130706433`, `0x7f.1` or `010.0.0.1` as IPv4 addresses (WHATWG URL
/// §3.5), and such shorthands would slip past loopback and origin checks,
/// so they are refused rather than normalized.
fn check_name_host(host: &str, offset: usize) -> Result<String, UrlError> {
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    for (i, c) in host.char_indices() {
        if c == '[' || c == ']' {
            return Err(UrlError::UnbalancedBrackets);
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(UrlError::InvalidCharacter {
                position: offset + i,
                character: c,
            });
        }
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
        return Err(UrlError::InvalidHost("empty label".to_string()));
    }
    let last = trimmed.rsplit('.').next().unwrap_or(trimmed);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(UrlError::InvalidHost(format!(
            "{host:?} is not a dotted-quad IPv4 address"
        )));
    }
    Ok(host.to_ascii_lowercase())
}

/// Parses a port (RFC 3986 §3.2.3) strictly: 1–5 digits, no leading zero
/// (except "0" itself), at most 65535. (WHATWG accepts `08` and an empty
/// port.)
fn parse_port(text: &str) -> Result<u16, UrlError> {
    let bad = || UrlError::InvalidPort(text.to_string());
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(bad());
    }
    text.parse::<u16>().map_err(|_| bad())
}

/// RFC 3986 §3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn valid_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Where the scheme's `:` is, if the text starts with one: a `:` before any
/// `/`, `?` or `#` (RFC 3986 Appendix B, `^(([^:/?#]+):)?`, with an empty
/// scheme allowed so that it can be reported as invalid).
fn scheme_end(s: &str) -> Option<usize> {
    s.find([':', '/', '?', '#'])
        .filter(|&i| s.as_bytes()[i] == b':')
}

/// A `url` crate error on a URL this module's checks let through: only the
/// host can still be refused (an IPv6 literal, an IDNA `xn--` label).
fn host_error(error: url::ParseError, host: &str) -> UrlError {
    match error {
        url::ParseError::EmptyHost => UrlError::EmptyHost,
        url::ParseError::InvalidIpv6Address => {
            UrlError::InvalidHost(format!("{host} is not an IPv6 address"))
        }
        other => UrlError::InvalidHost(format!("{host:?}: {other}")),
    }
}

impl Url {
    /// Parses an absolute `scheme://authority[path][?query][#fragment]` URL.
    ///
    /// Rejected: empty input; any whitespace (leading and trailing included;
    /// nothing is trimmed), ASCII control or non-ASCII character; `"`, `<`,
    /// `>`, `\` anywhere; a missing or invalid scheme (RFC 3986 §3.1); no
    /// `//` authority; more than one `@`; an empty host (RFC 3986 §3.2.2);
    /// a host that is not a DNS-style name, dotted-quad IPv4 or bracketed
    /// IPv6 address (IPvFuture and zone identifiers are not supported);
    /// unbalanced brackets; an empty, non-numeric, zero-padded or
    /// overflowing port; characters outside RFC 3986 `pchar` in the path or
    /// `userinfo` in the userinfo, or a malformed `%` there. The query and
    /// fragment accept any printable ASCII except the four characters above
    /// (and `#` in the fragment), because browsers deliver queries with raw
    /// `|`, `{`, `[` and stray `%`. What passes is then parsed by the `url`
    /// crate, which checks IPv6 literals and `xn--` labels.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        check_characters(input)?;

        let scheme_end = scheme_end(input).ok_or(UrlError::MissingScheme)?;
        let scheme = &input[..scheme_end];
        if !valid_scheme(scheme) {
            return Err(UrlError::InvalidScheme);
        }
        let Some(rest) = input[scheme_end + 1..].strip_prefix("//") else {
            return Err(UrlError::MissingAuthority);
        };
        let authority_start = scheme_end + 3;

        // RFC 3986 §3.2: the authority ends at the next '/', '?' or '#'.
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        let tail = &rest[authority_len..];
        let tail_start = authority_start + authority_len;

        let (before_fragment, fragment) = match tail.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (tail, None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (before_fragment, None),
        };

        // Userinfo (RFC 3986 §3.2.1). WHATWG would take the last '@' and
        // percent-encode the others.
        let (userinfo, hostport, hostport_start) = match authority.split_once('@') {
            Some((user, hostport)) => {
                if hostport.contains('@') {
                    return Err(UrlError::InvalidUserinfo);
                }
                check_component(user, authority_start, is_userinfo_char)?;
                (Some(user), hostport, authority_start + user.len() + 1)
            }
            None => (None, authority, authority_start),
        };

        // Host and port (RFC 3986 §3.2.2, §3.2.3). An IP literal's contents
        // are left to the `url` crate.
        let (host, port_text) = if let Some(inner_and_rest) = hostport.strip_prefix('[') {
            let Some((inner, after)) = inner_and_rest.split_once(']') else {
                return Err(UrlError::UnbalancedBrackets);
            };
            if inner.contains('[') || after.contains('[') || after.contains(']') {
                return Err(UrlError::UnbalancedBrackets);
            }
            if inner.starts_with(['v', 'V']) {
                return Err(UrlError::InvalidHost(
                    "IPvFuture literals are not supported".to_string(),
                ));
            }
            let port_text = if after.is_empty() {
                None
            } else if let Some(p) = after.strip_prefix(':') {
                Some(p)
            } else {
                return Err(UrlError::InvalidHost(
                    "unexpected text after an IP literal".to_string(),
                ));
            };
            (format!("[{}]", inner.to_ascii_lowercase()), port_text)
        } else {
            if hostport.contains(['[', ']']) {
                return Err(UrlError::UnbalancedBrackets);
            }
            let (name, port_text) = match hostport.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (hostport, None),
            };
            (check_name_host(name, hostport_start)?, port_text)
        };
        let port = port_text.map(parse_port).transpose()?;

        check_component(path, tail_start, is_path_char)?;
        if let Some(f) = fragment {
            if let Some(i) = f.find('#') {
                let position = tail_start + before_fragment.len() + 1 + i;
                return Err(UrlError::InvalidCharacter {
                    position,
                    character: '#',
                });
            }
        }

        let parsed = url::Url::parse(input).map_err(|e| host_error(e, &host))?;
        Ok(Url {
            scheme: scheme.to_ascii_lowercase(),
            userinfo: userinfo.map(str::to_string),
            host,
            port,
            path: path.to_string(),
            query: query.map(str::to_string),
            fragment: fragment.map(str::to_string),
            parsed,
        })
    }

    /// The scheme, lowercased (`"https"`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host as written, lowercased; an IPv6 literal keeps its brackets
    /// (`"[::1]"`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port written in the URL, if any (a default port written
    /// explicitly is still reported).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The explicit port, else the scheme's default: 80 for `http`, 443 for
    /// `https` (RFC 9110 §4.2.1, §4.2.2); `None` for other schemes.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| default_port(&self.scheme))
    }

    /// The path as written: empty, or starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query without its `?`, if the URL has one (possibly empty).
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The fragment without its `#`, if the URL has one (possibly empty).
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// Whether the authority has a `userinfo@` part (even an empty one).
    pub fn has_userinfo(&self) -> bool {
        self.userinfo.is_some()
    }

    /// `host[:port]` as written, without userinfo: the authority an HTTP
    /// request names (RFC 9110 §7.2; userinfo is never sent, §4.2.4).
    pub fn host_and_port(&self) -> String {
        let mut out = self.host.clone();
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out
    }

    /// The request target in origin-form (RFC 9112 §3.2.1): the path as
    /// written (`/` when empty) and the query; never the fragment.
    pub fn origin_form(&self) -> String {
        let mut out = if self.path.is_empty() {
            "/".to_string()
        } else {
            self.path.clone()
        };
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The ASCII serialization of the origin (RFC 6454 §6.2):
    /// `scheme://host`, plus `:port` only when a port is written and it is
    /// not the scheme's default.
    pub fn origin(&self) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(port) = self.port {
            if Some(port) != default_port(&self.scheme) {
                out.push(':');
                out.push_str(&port.to_string());
            }
        }
        out
    }

    /// The host as an IP address, if it is one.
    fn ip(&self) -> Option<IpAddr> {
        match self.parsed.host()? {
            Host::Ipv4(a) => Some(a.into()),
            Host::Ipv6(a) => Some(a.into()),
            // Hosts of other schemes than the WHATWG "special" ones stay
            // opaque text; a dotted quad there is an address all the same.
            // (An IPv6 address is never opaque text: it is bracketed, and
            // `:` is not allowed in an opaque host.)
            Host::Domain(name) => name.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        }
    }

    /// Whether the host is a loopback host: `localhost`, an IPv4 address in
    /// 127.0.0.0/8, or the IPv6 loopback address `::1` in any text form
    /// (`[::1]`, `[0:0:0:0:0:0:0:1]`, …). OAuth 2.1 §8.4.2 and RFC 8252 §7.3
    /// give loopback redirect URIs their special status.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.ip().is_some_and(|ip| ip.is_loopback())
    }

    /// Whether a connection to this host may reach the user's own machine:
    /// a loopback host ([`Url::is_loopback`]), and what also lands there —
    /// `0.0.0.0/8` and `[::]` (connecting to "this host"), IPv4-mapped and
    /// IPv4-compatible IPv6 forms of those and of `127.0.0.0/8`
    /// (`[::ffff:127.0.0.1]`), and `localhost` names (`localhost.`,
    /// `*.localhost`, RFC 6761 §6.3, which resolvers may answer with
    /// loopback). A flow that started at a remote server is never sent to
    /// such a host.
    pub fn reaches_local_machine(&self) -> bool {
        let name = self.host.strip_suffix('.').unwrap_or(&self.host);
        if self.is_loopback() || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        let local_v4 = |a: Ipv4Addr| matches!(a.octets()[0], 0 | 127);
        match self.ip() {
            Some(IpAddr::V4(a)) => local_v4(a),
            // `to_ipv4` reads both ::ffff:a.b.c.d (mapped) and ::a.b.c.d
            // (compatible, which includes `::` itself).
            Some(IpAddr::V6(a)) => a.to_ipv4().is_some_and(local_v4),
            None => false,
        }
    }

    /// `https`, or `http` on a loopback host: the only URLs OAuth 2.1 §1.5
    /// and the MCP "Communication Security" rules let a client talk to.
    pub fn is_https_or_loopback_http(&self) -> bool {
        self.scheme == "https" || (self.scheme == "http" && self.is_loopback())
    }

    /// Resolves a URI reference against this URL as base (RFC 3986 §5.2,
    /// done by the `url` crate: dot segments removed, §5.2.4). Handles
    /// absolute URLs, network-path (`//h/p`), absolute-path, relative-path,
    /// query-only (`?q`), fragment-only (`#f`) and empty references.
    ///
    /// Strict as RFC 3986 §5.2.2 is, where WHATWG is not: a reference with a
    /// scheme, or with an authority, must pass [`Url::parse`] on its own (a
    /// browser reads `http:g` against an `http` base as the relative `g`,
    /// and repairs the authority of `//a@b@c/`); any other reference must be
    /// printable ASCII without `"`, `<`, `>`, `\`. The result is checked
    /// with [`Url::parse`] again, so a target without an authority (`g:h`)
    /// or with invalid characters is an error. Its text is the `url`
    /// crate's serialization: `/` for an empty path, no default port.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        if scheme_end(reference).is_some_and(|i| i > 0) {
            Url::parse(reference)?;
        } else if reference.starts_with("//") {
            Url::parse(&format!("{}:{reference}", self.scheme))?;
        } else {
            check_characters(reference)?;
        }
        let joined = self
            .parsed
            .join(reference)
            .map_err(|e| host_error(e, &self.host))?;
        Url::parse(joined.as_str())
    }

    /// Same origin (RFC 6454 §5): equal scheme, host and effective port.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme
            && self.host == other.host
            && self.effective_port() == other.effective_port()
    }

    /// The URL serialized without its fragment (RFC 8707 §2 and RFC 9728
    /// §1.2 forbid fragments in resource identifiers).
    pub fn without_fragment(&self) -> String {
        match &self.userinfo {
            Some(user) => format!("{}://{user}@{}", self.scheme, self.after_userinfo()),
            None => format!("{}://{}", self.scheme, self.after_userinfo()),
        }
    }

    /// `host[:port]path[?query]`: the serialization between the userinfo
    /// and the fragment.
    fn after_userinfo(&self) -> String {
        let mut out = self.host_and_port();
        out.push_str(&self.path);
        self.with_query(out)
    }

    /// `out` followed by `?` and the query, if there is one.
    fn with_query(&self, mut out: String) -> String {
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The path without one terminating `/` (the path a well-known suffix
    /// goes with).
    fn path_without_terminating_slash(&self) -> &str {
        self.path.strip_suffix('/').unwrap_or(&self.path)
    }

    /// `scheme://host[:port]` with the port as written (no userinfo).
    fn scheme_host_port(&self) -> String {
        format!("{}://{}", self.scheme, self.host_and_port())
    }
}

/// RFC 9110 §4.2.1 / §4.2.2 default ports (the `url` crate also knows
/// `ftp` and `ws`, which are not for this client).
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.without_fragment())?;
        if let Some(frag) = &self.fragment {
            write!(f, "#{frag}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let userinfo = if self.userinfo.is_some() {
            "<redacted>@"
        } else {
            ""
        };
        let mut text = format!("{}://{userinfo}{}", self.scheme, self.after_userinfo());
        if let Some(frag) = &self.fragment {
            text.push('#');
            text.push_str(frag);
        }
        f.debug_tuple("Url").field(&text).finish()
    }
}

impl FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

/// RFC 8414 §3.1 / RFC 9728 §3.1: `/.well-known/{suffix}` inserted between
/// the authority and the path; a terminating `/` of the path is removed
/// first; the query is kept after it; the fragment dropped (and userinfo
/// too: metadata requests never carry credentials in the URL).
///
/// * `("https://as.example.com/tenant1/", "oauth-authorization-server")` →
///   `https://as.example.com/.well-known/oauth-authorization-server/tenant1`
/// * `("https://mcp.example.com/public/mcp?x=1", "oauth-protected-resource")` →
///   `https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp?x=1`
/// * `"https://as.example.com"` and `"https://as.example.com/"` →
///   `https://as.example.com/.well-known/oauth-authorization-server`
/// * the port is kept as written:
///   `http://127.0.0.1:8080/x` → `http://127.0.0.1:8080/.well-known/{suffix}/x`.
pub fn well_known_insert(url: &Url, suffix: &str) -> String {
    let path = url.path_without_terminating_slash();
    url.with_query(format!(
        "{}/.well-known/{suffix}{path}",
        url.scheme_host_port()
    ))
}

/// OpenID Connect Discovery 1.0 §4: the issuer with any terminating `/`
/// removed, then `/.well-known/{suffix}`. A query (which an issuer should
/// not have, RFC 8414 §2) stays after the suffix; fragment and userinfo
/// are dropped.
///
/// `("https://as/tenant1", "openid-configuration")` →
/// `https://as/tenant1/.well-known/openid-configuration`.
pub fn well_known_append(url: &Url, suffix: &str) -> String {
    let path = url.path_without_terminating_slash();
    url.with_query(format!(
        "{}{path}/.well-known/{suffix}",
        url.scheme_host_port()
    ))
}

/// Appends form-encoded `pairs` to the query of `url` (OAuth 2.1 §3.1: the
/// endpoint URI "MAY include a query component, which MUST be retained when
/// adding additional query parameters"), adding `?` or `&` as needed. Works
/// on the raw string, so the existing query is kept byte for byte; any
/// fragment is dropped (OAuth 2.1 §3.1: endpoint URIs MUST NOT include one).
pub fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let base = url.split_once('#').map_or(url, |(b, _)| b);
    let mut out = base.to_string();
    if pairs.is_empty() {
        return out;
    }
    if base.contains('?') {
        if !(base.ends_with('?') || base.ends_with('&')) {
            out.push('&');
        }
    } else {
        out.push('?');
    }
    out.push_str(&form_encode(pairs));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cases::check;

    fn u(s: &str) -> Url {
        match Url::parse(s) {
            Ok(url) => url,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> UrlError {
        match Url::parse(s) {
            Ok(url) => panic!("{s:?} should not parse, got {url}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parse_components() {
        let url = u("https://user:pw@Example.COM:8443/a/b;c?x=1&y=%20#frag");
        assert_eq!(url.scheme(), "https");
        assert!(url.has_userinfo());
        assert_eq!(url.host(), "example.com");
        assert_eq!(url.port(), Some(8443));
        assert_eq!(url.effective_port(), Some(8443));
        assert_eq!(url.path(), "/a/b;c");
        assert_eq!(url.query(), Some("x=1&y=%20"));
        assert_eq!(url.fragment(), Some("frag"));
        assert_eq!(
            url.to_string(),
            "https://user:pw@example.com:8443/a/b;c?x=1&y=%20#frag"
        );
        assert_eq!(
            url.without_fragment(),
            "https://user:pw@example.com:8443/a/b;c?x=1&y=%20"
        );
    }

    #[test]
    fn parse_minimal_and_empty_parts() {
        let url = u("http://a");
        assert_eq!(url.path(), "");
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        assert_eq!(url.port(), None);
        assert!(!url.has_userinfo());
        assert_eq!(url.to_string(), "http://a");

        let url = u("http://a?#");
        assert_eq!(url.path(), "");
        assert_eq!(url.query(), Some(""));
        assert_eq!(url.fragment(), Some(""));
        assert_eq!(url.to_string(), "http://a?#");

        let url = u("http://@a/");
        assert!(url.has_userinfo());
        assert_eq!(url.to_string(), "http://@a/");

        let url = u("http://a#f?g/h");
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), Some("f?g/h"));
    }

    #[test]
    fn scheme_and_host_are_lowercased_rest_verbatim() {
        let url = u("HTTPS://MCP.Example.Com/Public/MCP?Q=A#F");
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host(), "mcp.example.com");
        assert_eq!(url.to_string(), "https://mcp.example.com/Public/MCP?Q=A#F");
        assert_eq!(u("Web+Cal.x-y://h/").scheme(), "web+cal.x-y");
    }

    #[test]
    fn round_trips() {
        for s in [
            "https://example.com",
            "https://example.com/",
            "https://example.com/a//b/./../c",
            "http://127.0.0.1:8976/callback?code=a%2Bb&state=x",
            "http://[::1]:3000/mcp",
            "https://example.com/p?a[]=1&b={x}|y^`z",
            "https://example.com/~user/_x-y.z/!$&'()*+,;=:@",
            "https://example.com:443/",
            "https://h/?q=100%",
            "custom://h:0/",
        ] {
            assert_eq!(u(s).to_string(), s);
        }
    }

    /// Checks that each of `inputs` is refused with `expected`.
    fn refused_with(expected: UrlError, inputs: &[&str]) {
        for input in inputs {
            assert_eq!(err(input), expected, "{input:?}");
        }
    }

    /// Checks that each of `inputs` is refused with an error that `is`.
    fn refused_as(is: impl Fn(&UrlError) -> bool, inputs: &[&str]) {
        for input in inputs {
            let e = err(input);
            assert!(is(&e), "{input:?}: {e:?}");
        }
    }

    #[test]
    fn rejects_missing_scheme_or_authority() {
        refused_with(UrlError::Empty, &[""]);
        refused_with(
            UrlError::MissingScheme,
            &["example.com/path", "/path", "//example.com/path", "?q:x"],
        );
        refused_with(UrlError::InvalidScheme, &[":foo", "1http://x", "ht_tp://x"]);
        refused_with(
            UrlError::MissingAuthority,
            &[
                "mailto:a@b.c",
                "javascript:alert(1)",
                "urn:ietf:rfc:3986",
                "http:/x",
                "http:x",
            ],
        );
    }

    #[test]
    fn rejects_whitespace_controls_and_non_ascii() {
        for (input, position, character) in [
            (" https://x", 0, ' '),
            ("https://x ", 9, ' '),
            ("https://x\n", 9, '\n'),
            ("https://x/a b", 11, ' '),
            ("https://x/\ta", 10, '\t'),
            ("https://x/\u{0}", 10, '\u{0}'),
            ("https://x/\u{7f}", 10, '\u{7f}'),
            ("https://exämple.com/", 10, 'ä'),
            ("https://x/é", 10, 'é'),
            ("https://x/?q=\u{2028}", 13, '\u{2028}'),
        ] {
            assert_eq!(
                err(input),
                UrlError::InvalidCharacter {
                    position,
                    character
                },
                "{input:?}"
            );
        }
        refused_as(
            |e| matches!(e, UrlError::InvalidCharacter { .. }),
            &[
                "https://x/\"",
                "https://x/<",
                "https://x/?a=>",
                "https://x\\y/",
                "https://x/#\\",
            ],
        );
    }

    #[test]
    fn rejects_bad_hosts() {
        refused_with(
            UrlError::EmptyHost,
            &[
                "https://",
                "https:///path",
                "https://:443/",
                "https://user@/",
            ],
        );
        refused_with(UrlError::InvalidUserinfo, &["https://a@b@c/"]);
        for (input, c) in [
            ("https://ex%61mple.com/", '%'),
            ("https://a!b/", '!'),
            ("https://a{b/", '{'),
        ] {
            assert!(
                matches!(err(input), UrlError::InvalidCharacter { character, .. } if character == c),
                "{input:?}"
            );
        }
        refused_as(
            |e| matches!(e, UrlError::InvalidHost(_)),
            &["https://a..b/", "https://.a/", "https://./"],
        );
        // One trailing dot (a fully qualified name) is fine.
        assert_eq!(u("https://example.com./").host(), "example.com.");
    }

    #[test]
    fn rejects_ambiguous_numeric_hosts() {
        refused_as(
            |e| matches!(e, UrlError::InvalidHost(_)),
            &[
                "http://127.1/",
                "http://2130706433/",
                "http://0x7f.0.0.1/",
                "http://0x7f000001/",
                "http://127.0.0.01/",
                "http://010.0.0.1/",
                "http://256.0.0.1/",
                "http://1.2.3.4.5/",
                "http://1.2.3/",
                "http://127.0.0.1./",
                "http://example.123/",
                "http://a.0X10/",
            ],
        );
        for (input, host) in [
            ("http://0.0.0.0/", "0.0.0.0"),
            ("http://255.255.255.255/", "255.255.255.255"),
            ("http://1.2.3.4a/", "1.2.3.4a"),
            ("http://0xdeadbeef.com/", "0xdeadbeef.com"),
        ] {
            assert_eq!(u(input).host(), host, "{input:?}");
        }
    }

    #[test]
    fn refuses_what_the_url_crate_would_repair() {
        // Each of these is a URL to the WHATWG parser, which would read it
        // as something else than what is written; the policy refuses it.
        for (input, whatwg) in [
            ("http://127.1/", "http://127.0.0.1/"),
            ("http://0x7f.1/", "http://127.0.0.1/"),
            ("http:x", "http://x/"),
            ("http:/x", "http://x/"),
            ("http://a\\b/", "http://a/b/"),
            (" https://x", "https://x/"),
            ("https://x/\ta", "https://x/a"),
            ("https://ex%61mple.com/", "https://example.com/"),
            ("https://a@b@c/", "https://a%40b@c/"),
            ("http://a:08/", "http://a:8/"),
            ("http://[::1]:/", "http://[::1]/"),
            ("https://x/a b", "https://x/a%20b"),
            ("https://x/é", "https://x/%C3%A9"),
        ] {
            assert_eq!(url::Url::parse(input).unwrap().as_str(), whatwg, "{input}");
            assert!(Url::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn text_is_kept_where_the_url_crate_normalizes() {
        // The `url` crate would write "https://as.example/", drop ":443",
        // remove the dot segments; the Url keeps what was written.
        for s in [
            "https://as.example",
            "https://as.example:443/tenant",
            "https://as.example/a/./b/../c",
        ] {
            let url = u(s);
            assert_ne!(url.parsed.as_str(), s);
            assert_eq!(url.to_string(), s);
            assert_eq!(url.without_fragment(), s);
        }
        assert_eq!(u("https://as.example").path(), "");
        assert_eq!(u("https://as.example:443/").port(), Some(443));
    }

    #[test]
    fn request_parts() {
        let url = u("https://u:p@MCP.example:8443/a/b?x=1&y#frag");
        assert_eq!(url.host_and_port(), "mcp.example:8443");
        assert_eq!(url.origin_form(), "/a/b?x=1&y");
        let url = u("http://[::1]");
        assert_eq!(url.host_and_port(), "[::1]");
        assert_eq!(url.origin_form(), "/");
        assert_eq!(u("https://a:443?q").host_and_port(), "a:443");
        assert_eq!(u("https://a:443?q").origin_form(), "/?q");
        assert_eq!(u("https://a/p?").origin_form(), "/p?");
    }

    #[test]
    fn punycode_labels_are_checked() {
        // ASCII `xn--` labels reach the `url` crate's IDNA step, which
        // decodes them even without Unicode tables (idna_adapter 1.0).
        assert_eq!(
            u("https://xn--bcher-kva.example/").host(),
            "xn--bcher-kva.example"
        );
        assert!(matches!(
            err("https://xn--a-ecp.xn--/"),
            UrlError::InvalidHost(_)
        ));
    }

    #[test]
    fn ipv6_literals() {
        let url = u("http://[::1]:8080/cb");
        assert_eq!(url.host(), "[::1]");
        assert_eq!(url.port(), Some(8080));
        assert_eq!(u("http://[2001:DB8::A]/").host(), "[2001:db8::a]");
        for ok in [
            "http://[::]/",
            "http://[1:2:3:4:5:6:7:8]/",
            "http://[1::8]/",
            "http://[1:2:3:4:5:6:7::]/",
            "http://[::2:3:4:5:6:7:8]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[1:2:3:4:5:6:1.2.3.4]/",
        ] {
            u(ok);
        }
        refused_as(
            |e| matches!(e, UrlError::InvalidHost(_) | UrlError::InvalidPort(_)),
            &[
                "http://[1:2:3:4:5:6:7:8:9]/",
                "http://[1:2:3:4:5:6:7]/",
                "http://[1::2::3]/",
                "http://[:::]/",
                "http://[12345::]/",
                "http://[g::]/",
                "http://[]/",
                "http://[::1%25eth0]/",
                "http://[1:2:3:4:5:6:7:1.2.3.4]/",
                "http://[1.2.3.4::]/",
                "http://[::1.2.3]/",
                "http://[1:2:3:4:5:6:7:8::]/",
                "http://[:1::]/",
                "http://[::1]x/",
                "http://[::1]:/",
            ],
        );
        assert!(matches!(err("http://[v1.x]/"), UrlError::InvalidHost(_)));
    }

    #[test]
    fn rejects_unbalanced_brackets() {
        refused_with(
            UrlError::UnbalancedBrackets,
            &[
                "http://[::1/",
                "http://::1]/",
                "http://a]/",
                "http://[::1]]/",
                "http://[[::1]/",
                "http://a[b]/",
            ],
        );
        // Brackets in the path are not allowed; in the query they are data.
        assert!(matches!(
            err("http://a/[x]"),
            UrlError::InvalidCharacter { character: '[', .. }
        ));
        assert_eq!(u("http://a/?x[]=1").query(), Some("x[]=1"));
    }

    #[test]
    fn ports() {
        for (input, port) in [
            ("http://a:0/", 0),
            ("http://a:65535/", 65535),
            ("http://a:80/", 80),
        ] {
            assert_eq!(u(input).port(), Some(port), "{input:?}");
        }
        refused_as(
            |e| {
                matches!(
                    e,
                    UrlError::InvalidPort(_) | UrlError::InvalidCharacter { .. }
                )
            },
            &[
                "http://a:/",
                "http://a:65536/",
                "http://a:99999999999999999999/",
                "http://a:08/",
                "http://a:-1/",
                "http://a:+1/",
                "http://a:8a/",
                "http://a:1:2/",
                "http://a: 1/",
            ],
        );
    }

    #[test]
    fn percent_encoding_strict_in_path_lenient_in_query() {
        assert_eq!(u("https://a/%7e%2F").path(), "/%7e%2F");
        for (input, position) in [
            ("https://a/100%", 13),
            ("https://a/%zz", 10),
            ("https://us%er@a/", 10),
        ] {
            assert_eq!(
                err(input),
                UrlError::InvalidPercentEncoding { position },
                "{input:?}"
            );
        }
        assert_eq!(u("https://a/?p=100%").query(), Some("p=100%"));
        assert_eq!(u("https://a/#%").fragment(), Some("%"));
        // Characters outside pchar are rejected in the path.
        refused_as(
            |e| matches!(e, UrlError::InvalidCharacter { .. }),
            &["https://a/|", "https://a/{", "https://a/^", "https://a/`"],
        );
        for (input, position) in [("https://a/#x#y", 12), ("https://a/b?c#x#y", 15)] {
            assert_eq!(
                err(input),
                UrlError::InvalidCharacter {
                    position,
                    character: '#'
                },
                "{input:?}"
            );
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = format!("https://a/{}", "a/".repeat(100_000));
        assert_eq!(u(&long).path().len(), 200_001);
        let many_dots = format!("https://a/{}", "../".repeat(100_000));
        assert_eq!(
            u("https://a/b").join(&many_dots).map(|x| x.to_string()),
            Ok("https://a/".to_string())
        );
        for s in [
            "h://",
            "h://[",
            "h://]",
            "h://[:",
            "h://@",
            "h://:",
            "h://?",
            "h://#",
            "h:",
            "h",
            ":",
            "::",
            "://",
            "[::1]",
            "%",
            "h://a:%",
            "h://[::1]:99999",
            "\u{feff}https://a/",
            "h://a/\u{10ffff}",
        ] {
            let _ = Url::parse(s);
            let _ = u("http://a/b/c").join(s);
        }
    }

    #[test]
    fn effective_port_and_origin() {
        for (input, port) in [
            ("http://a/", Some(80)),
            ("https://a/", Some(443)),
            ("ftp://a/", None),
            ("https://a:444/", Some(444)),
        ] {
            assert_eq!(u(input).effective_port(), port, "{input:?}");
        }
        for (input, origin) in [
            ("https://A.example/x?y#z", "https://a.example"),
            ("https://a:443/", "https://a"),
            ("http://a:80/", "http://a"),
            ("http://a:443/", "http://a:443"),
            ("https://u:p@a:8443/", "https://a:8443"),
            ("http://[::1]:3000/", "http://[::1]:3000"),
            ("custom://a:1/", "custom://a:1"),
        ] {
            assert_eq!(u(input).origin(), origin, "{input:?}");
        }
    }

    #[test]
    fn same_origin_uses_effective_port() {
        for (a, b, same) in [
            ("https://a/x", "https://A:443/y?z", true),
            ("http://a:80/", "http://a", true),
            ("http://a/", "https://a/", false),
            ("https://a/", "https://a:8443/", false),
            ("https://a/", "https://b/", false),
            ("https://a.example/", "https://a.example.evil/", false),
            ("custom://a/", "custom://a/x", true),
        ] {
            assert_eq!(u(a).same_origin(&u(b)), same, "{a:?} and {b:?}");
        }
    }

    /// Checks that `holds` is true of each URL in `yes` and false of each in
    /// `no`.
    fn holds_exactly(holds: impl Fn(&Url) -> bool, yes: &[&str], no: &[&str]) {
        for s in yes {
            assert!(holds(&u(s)), "{s}");
        }
        for s in no {
            assert!(!holds(&u(s)), "{s}");
        }
    }

    #[test]
    fn hosts_that_reach_the_local_machine() {
        // Security review finding 5: these passed the guard that keeps a
        // remote server's flow off the user's machine.
        holds_exactly(
            Url::reaches_local_machine,
            &[
                "https://0.0.0.0/",
                "http://0.1.2.3/",
                "https://[::]/",
                "https://[::ffff:127.0.0.1]/",
                "https://[::ffff:7f00:1]/",
                "https://[::127.0.0.1]/",
                "https://[::ffff:0.0.0.0]/",
                "https://localhost./",
                "https://app.localhost/",
                "https://app.localhost./",
                "http://127.0.0.1/",
                "http://[::1]/",
            ],
            &[
                "https://example.com/",
                "https://localhost.example.com/",
                "https://mylocalhost/",
                "https://10.0.0.1/",
                "https://[::ffff:10.0.0.1]/",
                "https://[2001:db8::1]/",
                "https://128.0.0.1/",
            ],
        );
    }

    #[test]
    fn loopback() {
        holds_exactly(
            Url::is_loopback,
            &[
                "http://localhost/",
                "http://LOCALHOST:8080/",
                "http://127.0.0.1/",
                "http://127.255.255.254:1/",
                "http://[::1]/",
                "http://[0:0:0:0:0:0:0:1]/",
                "http://[0000:0000::0001]/",
            ],
            &[
                "http://localhost.example.com/",
                "http://localhost./",
                "http://sub.localhost/",
                "http://128.0.0.1/",
                "http://10.0.0.1/",
                "http://0.0.0.0/",
                "http://[::]/",
                "http://[::2]/",
                "http://[1::1]/",
                "http://[::ffff:127.0.0.1]/",
                "http://example.com/",
                "http://127.0.0.1.nip.io/",
            ],
        );
    }

    #[test]
    fn https_or_loopback_http() {
        holds_exactly(
            Url::is_https_or_loopback_http,
            &[
                "https://example.com/",
                "http://127.0.0.1:8976/callback",
                "http://localhost/",
                "http://[::1]/",
            ],
            &["http://example.com/", "ftp://127.0.0.1/", "ws://localhost/"],
        );
    }

    #[test]
    fn debug_redacts_userinfo() {
        let url = u("https://alice:hunter2@example.com/p?q#f");
        let debug = format!("{url:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("alice"), "{debug}");
        assert_eq!(debug, "Url(\"https://<redacted>@example.com/p?q#f\")");
        assert_eq!(format!("{:?}", u("http://a/")), "Url(\"http://a/\")");
        assert_eq!(url.to_string(), "https://alice:hunter2@example.com/p?q#f");
    }

    #[test]
    fn from_str() {
        let url: Url = "https://a/b".parse().unwrap();
        assert_eq!(url.path(), "/b");
        assert!("nope".parse::<Url>().is_err());
    }

    #[test]
    fn error_display() {
        for (input, message) in [
            ("https://a b", "invalid character ' ' at byte 9"),
            ("https://a:99999/", "invalid URL port \"99999\""),
            ("https://u:secret@a:x/", "invalid URL port \"x\""),
        ] {
            assert_eq!(err(input).to_string(), message, "{input:?}");
        }
        let e: Box<dyn core::error::Error> = Box::new(UrlError::EmptyHost);
        assert_eq!(e.to_string(), "URL has an empty host");
    }

    const BASE: &str = "http://a/b/c/d;p?q";

    fn join(reference: &str) -> String {
        match u(BASE).join(reference) {
            Ok(url) => url.to_string(),
            Err(e) => panic!("join {reference:?}: {e}"),
        }
    }

    #[test]
    fn join_rfc3986_normal_examples() {
        // RFC 3986 §5.4.1. "g:h" → "g:h" has no authority and is covered below.
        // "//g" resolves to "http://g", written with the "/" an empty path
        // stands for in http(s) URLs (RFC 3986 §6.2.3; WHATWG always writes it).
        check(
            join,
            &[
                ("g", "http://a/b/c/g"),
                ("./g", "http://a/b/c/g"),
                ("g/", "http://a/b/c/g/"),
                ("/g", "http://a/g"),
                ("//g", "http://g/"),
                ("?y", "http://a/b/c/d;p?y"),
                ("g?y", "http://a/b/c/g?y"),
                ("#s", "http://a/b/c/d;p?q#s"),
                ("g#s", "http://a/b/c/g#s"),
                ("g?y#s", "http://a/b/c/g?y#s"),
                (";x", "http://a/b/c/;x"),
                ("g;x", "http://a/b/c/g;x"),
                ("g;x?y#s", "http://a/b/c/g;x?y#s"),
                ("", "http://a/b/c/d;p?q"),
                (".", "http://a/b/c/"),
                ("./", "http://a/b/c/"),
                ("..", "http://a/b/"),
                ("../", "http://a/b/"),
                ("../g", "http://a/b/g"),
                ("../..", "http://a/"),
                ("../../", "http://a/"),
                ("../../g", "http://a/g"),
            ],
        );
    }

    #[test]
    fn join_rfc3986_abnormal_examples() {
        // RFC 3986 §5.4.2 (strict parser).
        check(
            join,
            &[
                ("../../../g", "http://a/g"),
                ("../../../../g", "http://a/g"),
                ("/./g", "http://a/g"),
                ("/../g", "http://a/g"),
                ("g.", "http://a/b/c/g."),
                (".g", "http://a/b/c/.g"),
                ("g..", "http://a/b/c/g.."),
                ("..g", "http://a/b/c/..g"),
                ("./../g", "http://a/b/g"),
                ("./g/.", "http://a/b/c/g/"),
                ("g/./h", "http://a/b/c/g/h"),
                ("g/../h", "http://a/b/c/h"),
                ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
                ("g;x=1/../y", "http://a/b/c/y"),
                ("g?y/./x", "http://a/b/c/g?y/./x"),
                ("g?y/../x", "http://a/b/c/g?y/../x"),
                ("g#s/./x", "http://a/b/c/g#s/./x"),
                ("g#s/../x", "http://a/b/c/g#s/../x"),
            ],
        );
        // Targets without an authority cannot be represented.
        assert_eq!(u(BASE).join("g:h"), Err(UrlError::MissingAuthority));
        assert_eq!(u(BASE).join("http:g"), Err(UrlError::MissingAuthority));
    }

    #[test]
    fn join_absolute_and_network_path_references() {
        // An empty path is written "/" in resolved URLs (RFC 3986 §6.2.3).
        check(
            join,
            &[
                (
                    "https://other.example/x/../y?z#f",
                    "https://other.example/y?z#f",
                ),
                ("HTTPS://Other.Example", "https://other.example/"),
                ("//h:8080/p/./q?x", "http://h:8080/p/q?x"),
            ],
        );
        for (base, reference, expected) in [
            ("https://u@a:8443/x/y", "z", "https://u@a:8443/x/z"),
            ("https://a", "b", "https://a/b"),
            ("https://a", "?q", "https://a/?q"),
            ("https://a/x?q#f", "", "https://a/x?q"),
            ("https://a/x?q#f", "#g", "https://a/x?q#g"),
            ("https://a/x/", ".well-known/y", "https://a/x/.well-known/y"),
            ("https://[::1]:9/x", "/y", "https://[::1]:9/y"),
        ] {
            assert_eq!(
                u(base).join(reference).unwrap().to_string(),
                expected,
                "{reference:?} from {base:?}"
            );
        }
    }

    #[test]
    fn join_validates_the_result() {
        for reference in [" g", "g h", "é"] {
            assert!(
                matches!(
                    u(BASE).join(reference),
                    Err(UrlError::InvalidCharacter { .. })
                ),
                "reference {reference:?}"
            );
        }
        for (reference, expected) in [
            ("//", UrlError::EmptyHost),
            ("//a@b@c/", UrlError::InvalidUserinfo),
            ("javascript:alert(1)", UrlError::MissingAuthority),
            ("1a:b", UrlError::InvalidScheme),
        ] {
            assert_eq!(
                u(BASE).join(reference),
                Err(expected),
                "reference {reference:?}"
            );
        }
    }

    /// The path `reference` resolves to from `http://x/`.
    fn dots(reference: &str) -> String {
        match u("http://x/").join(reference) {
            Ok(url) => url.path().to_string(),
            Err(e) => panic!("join {reference:?}: {e}"),
        }
    }

    #[test]
    fn join_removes_dot_segments_rfc3986_examples() {
        // RFC 3986 §5.2.4 worked examples, through `join` (the `url` crate
        // removes the dot segments). Relative paths are merged with the
        // base's "/" first (§5.2.3), so they come out with a leading "/",
        // and an empty result is the base's "/".
        check(
            dots,
            &[
                ("/a/b/c/./../../g", "/a/g"),
                ("mid/content=5/../6", "/mid/6"),
                ("", "/"),
                ("/", "/"),
                ("/..", "/"),
                ("/.", "/"),
                (".", "/"),
                ("..", "/"),
                ("../a", "/a"),
                ("a//b/../c", "/a//c"),
                ("/a/b/..", "/a/"),
                ("/a/.../b", "/a/.../b"),
            ],
        );
    }

    #[test]
    fn well_known_insert_examples() {
        let oauth = "oauth-authorization-server";
        let prm = "oauth-protected-resource";
        for (url, suffix, expected) in [
            // Brief / RFC 8414 §3.1 examples.
            (
                "https://as.example.com/tenant1/",
                oauth,
                "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
            ),
            (
                "https://as.example.com",
                oauth,
                "https://as.example.com/.well-known/oauth-authorization-server",
            ),
            (
                "https://as.example.com/",
                oauth,
                "https://as.example.com/.well-known/oauth-authorization-server",
            ),
            // RFC 8414 §3.1: issuer "https://example.com/issuer1".
            (
                "https://example.com/issuer1",
                oauth,
                "https://example.com/.well-known/oauth-authorization-server/issuer1",
            ),
            // RFC 9728 §3.1: resource "https://resource.example.com/resource1".
            (
                "https://resource.example.com/resource1",
                prm,
                "https://resource.example.com/.well-known/oauth-protected-resource/resource1",
            ),
            // Query kept after the inserted path, fragment dropped.
            (
                "https://mcp.example.com/public/mcp?x=1",
                prm,
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp?x=1",
            ),
            (
                "https://mcp.example.com/public/mcp#frag",
                prm,
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
            ),
            (
                "https://mcp.example.com/?x=1#f",
                prm,
                "https://mcp.example.com/.well-known/oauth-protected-resource?x=1",
            ),
            // Port kept, userinfo dropped.
            (
                "http://127.0.0.1:8080/x",
                prm,
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource/x",
            ),
            (
                "https://u:p@[::1]:443/a/b/",
                prm,
                "https://[::1]:443/.well-known/oauth-protected-resource/a/b",
            ),
            // Only one terminating slash is removed.
            (
                "https://as.example.com/t//",
                oauth,
                "https://as.example.com/.well-known/oauth-authorization-server/t/",
            ),
        ] {
            assert_eq!(well_known_insert(&u(url), suffix), expected, "{url:?}");
        }
    }

    #[test]
    fn mcp_spec_prm_discovery_urls() {
        // spec-checklist §4.1 / §4.2: MCP server at https://example.com/public/mcp.
        let server = u("https://example.com/public/mcp");
        assert_eq!(
            well_known_insert(&server, "oauth-protected-resource"),
            "https://example.com/.well-known/oauth-protected-resource/public/mcp"
        );
        // The root fallback is the insertion into the origin.
        assert_eq!(
            well_known_insert(&u(&server.origin()), "oauth-protected-resource"),
            "https://example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn mcp_spec_as_metadata_discovery_urls() {
        let (oauth, oidc) = ("oauth-authorization-server", "openid-configuration");
        // spec-checklist §5.1: issuer with a path.
        let issuer = u("https://auth.example.com/tenant1");
        assert_eq!(
            [
                well_known_insert(&issuer, oauth),
                well_known_insert(&issuer, oidc),
                well_known_append(&issuer, oidc),
            ],
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        // Issuer without a path.
        let issuer = u("https://auth.example.com");
        assert_eq!(
            [
                well_known_insert(&issuer, oauth),
                well_known_insert(&issuer, oidc),
            ],
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
        // spec-checklist §5.3 (2025-03-26): base URL is the origin.
        let legacy = u("https://api.example.com/v1/mcp");
        assert_eq!(
            well_known_insert(&u(&legacy.origin()), oauth),
            "https://api.example.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn well_known_append_examples() {
        for (url, expected) in [
            (
                "https://as/tenant1",
                "https://as/tenant1/.well-known/openid-configuration",
            ),
            (
                "https://as/tenant1/",
                "https://as/tenant1/.well-known/openid-configuration",
            ),
            ("https://as", "https://as/.well-known/openid-configuration"),
            ("https://as/", "https://as/.well-known/openid-configuration"),
            (
                "http://localhost:9000/t?x=1#f",
                "http://localhost:9000/t/.well-known/openid-configuration?x=1",
            ),
        ] {
            assert_eq!(
                well_known_append(&u(url), "openid-configuration"),
                expected,
                "{url:?}"
            );
        }
    }

    #[test]
    fn append_query_cases() {
        let p: &[(&str, &str)] = &[("response_type", "code"), ("scope", "a b")];
        for (url, params, expected) in [
            (
                "https://as/authorize",
                p,
                "https://as/authorize?response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize?tenant=x",
                p,
                "https://as/authorize?tenant=x&response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize?",
                p,
                "https://as/authorize?response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize?a=1&",
                p,
                "https://as/authorize?a=1&response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize?a=1#frag",
                p,
                "https://as/authorize?a=1&response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize#f?x",
                p,
                "https://as/authorize?response_type=code&scope=a+b",
            ),
            (
                "https://as/authorize?a=1#f",
                &[],
                "https://as/authorize?a=1",
            ),
            ("", &[("a", "b")], "?a=b"),
            (
                "https://as/a",
                &[("redirect_uri", "http://127.0.0.1:1/cb?x=1&y=2")],
                "https://as/a?redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb%3Fx%3D1%26y%3D2",
            ),
        ] {
            assert_eq!(
                append_query(url, params),
                expected,
                "{url:?} with {params:?}"
            );
        }
    }
}
