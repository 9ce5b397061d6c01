//! The headless user agent over `wasi:http`: the decisions are
//! `mcp_oauth_user_agent`'s (cookies, redirects, when the redirect URI is
//! reached, what is refused); this sends its GETs. No listener is needed:
//! the agent stops at the redirect URI and hands that URL over. A page that
//! needs a person is refused: this component has no browser.

use crate::http;
use anyhow::Context as _;
use mcp_oauth_user_agent::Headless;
use url::Url;

/// The most bytes read of a page.
const PAGE_LIMIT: usize = 1 << 20;

/// Follows `authorization_url` until a redirect names `redirect_uri`, and
/// returns that callback URL.
pub fn follow_headless(authorization_url: &str, redirect_uri: &str) -> anyhow::Result<String> {
    let mut agent = Headless::new(authorization_url, redirect_uri)?;
    loop {
        let get = agent.request()?;
        let url = Url::parse(&get.url).with_context(|| format!("GET {}", get.shown))?;
        let response = http::get(&url, &get.headers, PAGE_LIMIT)
            .with_context(|| format!("GET {}", get.shown))?;
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        if let Some(callback) = agent.response(response.status, &headers, &response.body)? {
            return Ok(callback);
        }
    }
}
