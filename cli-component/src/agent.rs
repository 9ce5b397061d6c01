//! The headless user agent: follows an authorization URL over `wasi:http`
//! with a cookie jar until a redirect reaches the redirect URI, for
//! authorization servers that consent without a person. No listener is
//! needed: the agent stops at the redirect URI and hands that URL over.
//! (`host-test/src/agent.rs`'s `follow_headless`, for a component.)

use crate::http;
use anyhow::{anyhow, bail, Context as _};
use std::collections::{HashMap, HashSet};
use url::Url;

/// The most requests one authorization makes.
const MAX_HOPS: usize = 20;
/// The most bytes read of a page.
const PAGE_LIMIT: usize = 1 << 20;

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
    /// Keeps the `Set-Cookie` headers of a response from `url`.
    fn store(&mut self, url: &Url, headers: &[(String, Vec<u8>)]) {
        let Some(host) = url.host_str() else {
            return;
        };
        let jar = self.hosts.entry(host.to_string()).or_default();
        for (_, line) in headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        {
            let line = String::from_utf8_lossy(line);
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

    /// The `Cookie` header for a request to `url`, if any cookie applies.
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

/// A URL for messages, the values of secret-bearing query parameters
/// replaced by `…`.
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

/// Whether `a` and `b` name the same endpoint (scheme, host, port, path).
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// Follows `authorization_url` (GET, redirects one by one, cookies kept)
/// until a `Location` names `redirect_uri`, and returns that URL. A page
/// (2xx: it needs a person), an error status, a loop or more than 20 hops
/// is an error naming the URL.
pub fn follow_headless(authorization_url: &str, redirect_uri: &str) -> anyhow::Result<String> {
    let target = Url::parse(redirect_uri)
        .map_err(|e| anyhow!("the redirect URI {redirect_uri} is not an absolute URL: {e}"))?;
    let mut current = Url::parse(authorization_url)
        .map_err(|e| anyhow!("the authorization URL is not an absolute URL: {e}"))?;
    let first = shown(&current);
    let mut jar = CookieJar::default();
    let mut seen = HashSet::new();
    for _ in 0..MAX_HOPS {
        current.set_fragment(None);
        let page = shown(&current);
        if !matches!(current.scheme(), "http" | "https") || current.host().is_none() {
            bail!("{page} is not an http(s) URL; a headless agent cannot visit it");
        }
        let cookie = jar.header_for(&current);
        if !seen.insert((current.to_string(), cookie.clone())) {
            bail!("redirect loop: {page} was reached twice with the same cookies");
        }
        let mut headers = vec![(
            "accept".to_string(),
            "text/html,application/xhtml+xml,*/*;q=0.8".to_string(),
        )];
        headers.extend(cookie.map(|c| ("cookie".to_string(), c)));
        let response =
            http::get(&current, &headers, PAGE_LIMIT).with_context(|| format!("GET {page}"))?;
        jar.store(&current, &response.headers);
        let status = response.status;
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .header("location")
                    .ok_or_else(|| anyhow!("{page} answered {status} without a Location header"))?;
                let next = current.join(location.trim()).map_err(|e| {
                    anyhow!("{page} answered {status} with an unusable Location: {e}")
                })?;
                if same_endpoint(&next, &target) {
                    return Ok(next.to_string());
                }
                current = next;
            }
            200..=299 => bail!(
                "{page} answered {status} with a page instead of a redirect: it needs a person, \
                 and this component has no browser (use the native mcp-oauth CLI)"
            ),
            _ => bail!(
                "{page} answered {status}: {}",
                crate::excerpt(&response.body)
            ),
        }
    }
    bail!("more than {MAX_HOPS} redirects starting at {first}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn cookies_by_host_and_path_replaced_and_deleted() {
        let mut jar = CookieJar::default();
        let headers = |lines: &[&str]| -> Vec<(String, Vec<u8>)> {
            lines
                .iter()
                .map(|l| ("Set-Cookie".to_string(), l.as_bytes().to_vec()))
                .collect()
        };
        jar.store(
            &url("http://127.0.0.1:9/auth"),
            &headers(&["a=1; Path=/; HttpOnly", "b=2; path=/interaction"]),
        );
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:8/x")),
            Some("a=1".into())
        );
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:9/interaction/u")),
            Some("a=1; b=2".into())
        );
        assert_eq!(jar.header_for(&url("http://localhost:9/x")), None);
        jar.store(
            &url("http://127.0.0.1:9/"),
            &headers(&["a=3", "b=; Max-Age=0; Path=/interaction"]),
        );
        assert_eq!(
            jar.header_for(&url("http://127.0.0.1:9/interaction/u")),
            Some("a=3".into())
        );
    }

    #[test]
    fn the_redirect_uri_matches_whatever_its_query() {
        let target = url("http://127.0.0.1:5000/callback");
        assert!(same_endpoint(
            &url("http://127.0.0.1:5000/callback?code=x&state=y"),
            &target
        ));
        assert!(!same_endpoint(
            &url("http://127.0.0.1:5001/callback?code=x"),
            &target
        ));
        assert!(!same_endpoint(
            &url("http://127.0.0.1:5000/callback/x"),
            &target
        ));
    }

    #[test]
    fn codes_are_not_shown() {
        assert_eq!(
            shown(&url("http://127.0.0.1:1/cb?code=SECRET&state=s")),
            "http://127.0.0.1:1/cb?code=…&state=s"
        );
    }
}
