//! The headless user agent, without I/O: for authorization servers that
//! consent without a person (the mocks, the interop stack), it follows an
//! authorization URL — one GET after another, cookies kept per host,
//! redirects resolved — until a `Location` names the redirect URI, and
//! hands that callback URL over. No listener is needed.
//!
//! Each host sends the requests with its own HTTP client: the embedding
//! library with hyper (`mcp-oauth-host`'s `agent::follow_headless`), the
//! `wasmtime run` CLI component over `wasi:http`.
//!
//! ```
//! use mcp_oauth_user_agent::Headless;
//! let mut agent = Headless::new(
//!     "https://as.example.com/authorize?client_id=c&state=s",
//!     "http://127.0.0.1:8976/callback",
//! ).unwrap();
//! let first = agent.request().unwrap();
//! assert_eq!(first.url, "https://as.example.com/authorize?client_id=c&state=s");
//! let location = [("location".to_string(), "http://127.0.0.1:8976/callback?code=x&state=s".to_string())];
//! let done = agent.response(302, &location, b"").unwrap();
//! assert_eq!(done.as_deref(), Some("http://127.0.0.1:8976/callback?code=x&state=s"));
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use url::Url;

/// The most requests one authorization makes.
pub const MAX_HOPS: usize = 20;

/// How many characters of a page go into an error.
const EXCERPT_CHARS: usize = 160;

/// Why the agent cannot go on: the message names the URL (without
/// secrets) and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// Cookies per host (ports share cookies, as in browsers).
#[derive(Debug, Default)]
struct CookieJar {
    hosts: HashMap<String, Vec<Cookie>>,
}

impl CookieJar {
    /// Keeps the `Set-Cookie` values of a response from `url` (a
    /// `Max-Age` of zero or less deletes).
    fn store<'a>(&mut self, url: &Url, set_cookies: impl Iterator<Item = &'a str>) {
        let Some(host) = url.host_str() else {
            return;
        };
        let jar = self.hosts.entry(host.to_string()).or_default();
        for line in set_cookies {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            if name.is_empty() {
                continue;
            }
            let mut path = "/".to_string();
            let mut delete = false;
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "path" if v.trim().starts_with('/') => path = v.trim().to_string(),
                    "max-age" => delete = v.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                    _ => {}
                }
            }
            jar.retain(|c| !(c.name == name && c.path == path));
            if !delete {
                jar.push(Cookie { name, value, path });
            }
        }
    }

    /// The `Cookie` header for a request to `url`, if any cookie applies
    /// (its path a prefix of the URL's, loosely).
    fn header_for(&self, url: &Url) -> Option<String> {
        let path = url.path();
        let pairs: Vec<String> = self
            .hosts
            .get(url.host_str()?)?
            .iter()
            .filter(|c| c.path == "/" || path.starts_with(c.path.trim_end_matches('/')))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// Query parameters whose values never appear in messages.
const SECRET_PARAMS: [&str; 6] = [
    "code",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code_verifier",
];

/// A URL for messages: the values of secret-bearing query parameters (an
/// authorization code that went astray, say) replaced by `…`.
pub fn shown(url: &Url) -> String {
    let Some(query) = url.query() else {
        return url.to_string();
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name) => format!("{name}=…"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{}?{query}", &url[..url::Position::AfterPath])
}

/// A short, single-line, printable excerpt of a body, for messages: runs of
/// whitespace (line breaks included) become one space, other control
/// characters are escaped (`\u{1b}`: no terminal escape reaches a
/// terminal), at most `chars` characters, then `…` when cut. The one
/// excerpt of the host, the CLI and the CLI component.
pub fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut taken = 0;
    for (i, word) in text.split_whitespace().enumerate() {
        for c in (i > 0).then_some(' ').into_iter().chain(word.chars()) {
            if taken == chars {
                out.push('…');
                return out;
            }
            taken += 1;
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Whether `a` and `b` name the same endpoint: scheme, host, port (the
/// scheme's default when absent) and path; the query may differ.
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// One GET the agent wants sent (redirects off; nothing but these headers
/// and what the HTTP client adds; never an `Authorization` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// The absolute URL.
    pub url: String,
    /// The URL for messages, without secrets.
    pub shown: String,
    /// `accept`, and `cookie` when a cookie applies.
    pub headers: Vec<(String, String)>,
}

/// Follows one authorization URL. Send each [`Headless::request`], report
/// its response to [`Headless::response`], until that returns the callback
/// URL. At most [`MAX_HOPS`] requests; a page (2xx: it needs a person), an
/// error status, a loop, a non-http(s) URL or a redirect without a usable
/// `Location` is a [`Refusal`] naming the URL.
#[derive(Debug)]
pub struct Headless {
    target: Url,
    current: Url,
    first: String,
    jar: CookieJar,
    seen: HashSet<(String, Option<String>)>,
    hops: usize,
}

impl Headless {
    /// An agent for `authorization_url` that stops at `redirect_uri`.
    pub fn new(authorization_url: &str, redirect_uri: &str) -> Result<Headless, Refusal> {
        let target = Url::parse(redirect_uri).map_err(|e| {
            Refusal(format!(
                "the redirect URI {redirect_uri} is not an absolute URL: {e}"
            ))
        })?;
        let current = Url::parse(authorization_url)
            .map_err(|e| Refusal(format!("the authorization URL is not an absolute URL: {e}")))?;
        Ok(Headless {
            target,
            first: shown(&current),
            current,
            jar: CookieJar::default(),
            seen: HashSet::new(),
            hops: 0,
        })
    }

    /// The next GET to send.
    pub fn request(&mut self) -> Result<Get, Refusal> {
        if self.hops >= MAX_HOPS {
            return Err(Refusal(format!(
                "more than {MAX_HOPS} redirects starting at {}",
                self.first
            )));
        }
        self.hops += 1;
        self.current.set_fragment(None);
        let page = shown(&self.current);
        if !matches!(self.current.scheme(), "http" | "https") || self.current.host().is_none() {
            return Err(Refusal(format!(
                "{page} is not an http(s) URL; a headless agent cannot visit it"
            )));
        }
        let cookie = self.jar.header_for(&self.current);
        if !self.seen.insert((self.current.to_string(), cookie.clone())) {
            return Err(Refusal(format!(
                "redirect loop: {page} was reached twice with the same cookies"
            )));
        }
        let mut headers = vec![(
            "accept".to_string(),
            "text/html,application/xhtml+xml,*/*;q=0.8".to_string(),
        )];
        headers.extend(cookie.map(|c| ("cookie".to_string(), c)));
        Ok(Get {
            url: self.current.to_string(),
            shown: page,
            headers,
        })
    }

    /// The response to the last request: `Some(callback URL)` when it
    /// redirects to the redirect URI, `None` when there is another request
    /// to send.
    pub fn response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Option<String>, Refusal> {
        fn values<'a>(
            headers: &'a [(String, String)],
            name: &'static str,
        ) -> impl Iterator<Item = &'a str> {
            headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        let header = |name: &'static str| values(headers, name);
        self.jar.store(&self.current, header("set-cookie"));
        let page = shown(&self.current);
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let location = header("location").next().ok_or_else(|| {
                    Refusal(format!(
                        "{page} answered {status} without a Location header"
                    ))
                })?;
                let next = self.current.join(location.trim()).map_err(|e| {
                    Refusal(format!(
                        "{page} answered {status} with an unusable Location: {e}"
                    ))
                })?;
                if same_endpoint(&next, &self.target) {
                    return Ok(Some(next.to_string()));
                }
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(Refusal(format!(
                        "{page} answered {status} with a redirect to a {}: URL, which is neither \
                         the redirect URI nor http(s)",
                        next.scheme()
                    )));
                }
                self.current = next;
                Ok(None)
            }
            200..=299 => Err(Refusal(format!(
                "{page} answered {status} with a page instead of a redirect: it needs a person \
                 (use a browser instead of headless mode)"
            ))),
            _ => {
                let body = excerpt(body, EXCERPT_CHARS);
                Err(Refusal(if body.is_empty() {
                    format!("{page} answered {status}")
                } else {
                    format!("{page} answered {status}: {body}")
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn excerpts_are_one_short_line_without_terminal_escapes() {
        assert_eq!(excerpt(b"  a\n\t b \r\n", 80), "a b");
        assert_eq!(excerpt(b"red\x1b[31m!", 80), "red\\u{1b}[31m!");
        assert_eq!(excerpt(b"ok \xff", 80), "ok \u{fffd}");
        assert_eq!(excerpt(b"abcdef", 6), "abcdef");
        assert_eq!(excerpt(b"abcdefg", 6), "abcdef…");
        // The space between words counts as one character.
        assert_eq!(excerpt(b"abc   def", 4), "abc …");
        assert_eq!(excerpt(b"", 10), "");
        assert_eq!(excerpt(&[b'x'; 200], 160).chars().count(), 161);
    }

    #[test]
    fn cookies_by_host_and_path_replaced_and_deleted() {
        let mut jar = CookieJar::default();
        let sent = |jar: &CookieJar, to: &str| jar.header_for(&url(to));
        jar.store(
            &url("http://127.0.0.1:9/auth"),
            ["a=1; Path=/; HttpOnly", "b=2; path=/interaction"].into_iter(),
        );
        // Ports share cookies, hosts do not; a path cookie goes below it.
        for (to, cookies) in [
            ("http://127.0.0.1:8/x", Some("a=1")),
            ("http://127.0.0.1:9/interaction/u", Some("a=1; b=2")),
            ("http://localhost:9/x", None),
        ] {
            assert_eq!(sent(&jar, to).as_deref(), cookies, "{to}");
        }
        jar.store(
            &url("http://127.0.0.1:9/"),
            ["a=3", "b=; Max-Age=0; Path=/interaction"].into_iter(),
        );
        assert_eq!(
            sent(&jar, "http://127.0.0.1:9/interaction/u").as_deref(),
            Some("a=3"),
            "replaced and deleted"
        );
    }

    #[test]
    fn the_redirect_uri_matches_whatever_its_query() {
        let target = url("http://127.0.0.1:5000/callback");
        for (candidate, same) in [
            ("http://127.0.0.1:5000/callback?code=x&state=y", true),
            ("http://127.0.0.1:5001/callback?code=x", false),
            ("http://127.0.0.1:5000/callback/x", false),
            ("HTTP://127.0.0.1:5000/callback", true),
            ("https://127.0.0.1:5000/callback", false),
        ] {
            assert_eq!(same_endpoint(&url(candidate), &target), same, "{candidate}");
        }
    }

    #[test]
    fn codes_are_not_shown() {
        assert_eq!(
            shown(&url("http://127.0.0.1:1/cb?code=SECRET&state=s&iss=x#f")),
            "http://127.0.0.1:1/cb?code=…&state=s&iss=x"
        );
    }

    #[test]
    fn cookies_set_on_the_way_are_sent_on_and_relative_locations_resolved() {
        let mut agent =
            Headless::new("http://as.test/auth?x=1", "http://127.0.0.1:9/callback").unwrap();
        assert_eq!(agent.request().unwrap().headers.len(), 1, "no cookie yet");
        let first = headers(&[
            ("Set-Cookie", "sid=abc; Path=/"),
            ("Location", "/interaction/u"),
        ]);
        assert_eq!(agent.response(303, &first, b"").unwrap(), None);
        let second = agent.request().unwrap();
        assert_eq!(second.url, "http://as.test/interaction/u");
        assert!(second
            .headers
            .contains(&("cookie".into(), "sid=abc".into())));
        let done = headers(&[("location", "http://127.0.0.1:9/callback?code=C")]);
        assert_eq!(
            agent.response(302, &done, b"").unwrap().as_deref(),
            Some("http://127.0.0.1:9/callback?code=C")
        );
    }

    #[test]
    fn pages_errors_loops_and_endless_redirects_are_refused_by_url() {
        let refused = |status: u16, location: Option<&str>, body: &[u8]| {
            let mut agent =
                Headless::new("http://as.test/auth?code=SECRET", "http://127.0.0.1:9/cb").unwrap();
            agent.request().unwrap();
            let h: Vec<(String, String)> = location
                .map(|l| vec![("location".to_string(), l.to_string())])
                .unwrap_or_default();
            match agent.response(status, &h, body) {
                Err(Refusal(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        assert!(refused(200, None, b"<form>").contains("needs a person"));
        assert!(refused(500, None, b"boom\x07").contains("answered 500: boom\\u{7}"));
        assert!(refused(302, None, b"").contains("without a Location"));
        assert!(refused(302, Some("javascript:alert(1)"), b"").contains("neither"));
        assert!(
            !refused(500, None, b"").contains("SECRET"),
            "the code is not shown"
        );
        // The same page twice with the same cookies: a loop.
        let mut agent = Headless::new("http://as.test/a", "http://127.0.0.1:9/cb").unwrap();
        let back = headers(&[("location", "/a")]);
        agent.request().unwrap();
        agent.response(302, &back, b"").unwrap();
        assert!(agent.request().unwrap_err().0.contains("redirect loop"));
        // Endless distinct redirects stop at the limit.
        let mut agent = Headless::new("http://as.test/0", "http://127.0.0.1:9/cb").unwrap();
        for i in 1..=MAX_HOPS {
            agent.request().unwrap();
            let next = headers(&[("location", &format!("/{i}"))]);
            agent.response(302, &next, b"").unwrap();
        }
        assert!(agent
            .request()
            .unwrap_err()
            .0
            .contains("more than 20 redirects"));
    }
}
