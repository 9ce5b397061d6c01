//! The HTTP currency between the core and whoever does the I/O.
//!
//! The core never sends anything: it hands out [`HttpRequest`]s and takes
//! back [`HttpResponse`]s or [`TransportError`]s.

use crate::prelude::*;
use core::fmt;

/// The protocol step a request belongs to; errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// RFC 9728 protected resource metadata.
    ProtectedResourceMetadata,
    /// RFC 8414 / OpenID Connect Discovery metadata.
    AuthorizationServerMetadata,
    /// RFC 7591 dynamic client registration.
    Registration,
    /// The authorization request and its redirect.
    Authorization,
    /// A token endpoint request.
    Token,
    /// A request to the protected resource (the MCP server).
    Resource,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ProtectedResourceMetadata => "protected resource metadata",
            Step::AuthorizationServerMetadata => "authorization server metadata",
            Step::Registration => "client registration",
            Step::Authorization => "authorization",
            Step::Token => "token request",
            Step::Resource => "resource request",
        })
    }
}

/// HTTP methods the core uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request the core wants sent. Redirects must not be followed: a 3xx is
/// handed back to the core like any other response.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// What the request is for.
    pub step: Step,
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names and values. Values may hold secrets (`Authorization`).
    pub headers: Vec<(String, String)>,
    /// The body. May hold secrets (code verifier, client secret).
    pub body: Vec<u8>,
    /// The most body bytes the core accepts in the response; a longer body is
    /// reported as [`TransportError::BodyTooLarge`].
    pub max_response_body: usize,
}

impl HttpRequest {
    /// A `GET` for a JSON document.
    pub fn get_json(step: Step, url: String, max_response_body: usize) -> Self {
        HttpRequest {
            step,
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
            max_response_body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// Redacted: header values and bodies may carry secrets.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("step", &self.step)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A complete response, body read up to the request's limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names and raw values, in order, repeated names kept.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status, headers and body (convenient in tests).
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: body.into(),
        }
    }

    /// A `200` JSON response.
    pub fn json(status: u16, body: &str) -> Self {
        Self::new(status, &[("content-type", "application/json")], body)
    }

    /// The first value of header `name` (case-insensitive), if it is UTF-8.
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.headers_all(name).next()
    }

    /// Every value of header `name` (case-insensitive) that is UTF-8.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| core::str::from_utf8(v).ok())
    }

    /// All `WWW-Authenticate` lines joined with ", " (RFC 9110 §5.3).
    pub fn www_authenticate(&self) -> Option<String> {
        let lines: Vec<&str> = self.headers_all("www-authenticate").collect();
        if lines.is_empty() {
            None
        } else {
            Some(lines.join(", "))
        }
    }

    /// The start of the body as text, for error evidence (at most 512 bytes).
    pub fn body_excerpt(&self) -> String {
        excerpt(&self.body)
    }

    /// In place of an excerpt, for a body that may hold credentials (token
    /// and registration responses, whatever their status): its size only.
    /// A token endpoint that answers `201` with a token, or a registration
    /// endpoint that answers `202` with a client secret, must not put that
    /// secret into an error the host prints.
    pub fn body_withheld(&self) -> String {
        format!(
            "({} bytes not shown: a token or registration response may hold credentials)",
            self.body.len()
        )
    }
}

/// At most 512 bytes of `body` as lossy UTF-8, cut at a character boundary.
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 512;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    text.trim_end_matches('\u{fffd}').to_string()
}

/// A request that produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// Connection, DNS, TLS or protocol failure, described.
    Failed(String),
    /// A time limit passed.
    TimedOut,
    /// The body exceeded the request's `max_response_body`.
    BodyTooLarge,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Failed(m) => f.write_str(m),
            TransportError::TimedOut => f.write_str("timed out"),
            TransportError::BodyTooLarge => f.write_str("response body too large"),
        }
    }
}
