//! Human-readable text for the component's errors. Each names its evidence;
//! none can contain a secret, because the component's errors carry none.

use mcp_oauth_host::harness::{AuthError, DiscoveryAttempt, Mismatch, OauthFailure, Step};

fn step(s: Step) -> &'static str {
    crate::session::step_label(s)
}

fn attempts(list: &[DiscoveryAttempt]) -> String {
    list.iter()
        .map(|a| match a.status {
            Some(s) => format!("{} → {s}", a.url),
            None => format!("{} → no response", a.url),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn oauth(o: &OauthFailure) -> String {
    let mut s = format!("{} at {}: {}", step(o.step), o.url, o.error);
    if let Some(d) = &o.error_description {
        s.push_str(&format!(" ({d})"));
    }
    if let Some(st) = o.status {
        s.push_str(&format!(" [HTTP {st}]"));
    }
    s
}

fn mismatch(what: &str, m: &Mismatch) -> String {
    format!(
        "{what}: {} has {:?}, expected {:?}",
        m.url, m.found, m.expected
    )
}

/// One line (sometimes two) that says what failed and why. Servers choose
/// much of this text (`error_description`, body excerpts, URLs), so control
/// characters are shown escaped ([`printable`]): a server cannot move the
/// cursor, rewrite what the terminal shows or hide text.
pub fn describe(e: &AuthError) -> String {
    printable(&explain(e))
}

/// `text` with every control character but the line feed written as a
/// Rust-style escape (`\u{1b}`), so that server-chosen text printed on a
/// terminal shows what it holds and does nothing else.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n'
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn explain(e: &AuthError) -> String {
    match e {
        AuthError::InvalidArgument(m) => format!("invalid argument: {m}"),
        AuthError::InsecureUrl(u) => {
            format!("refused insecure URL {u} (https is required, http only on loopback, and a remote server may not send the flow to loopback)")
        }
        AuthError::Transport(t) => format!(
            "{}: request to {} failed: {}",
            step(t.step),
            t.url,
            t.message
        ),
        AuthError::ResponseRefused(r) => match r.status {
            Some(s) => format!(
                "{}: refused the {s} response from {}: {}",
                step(r.step),
                r.url,
                r.detail
            ),
            None => format!(
                "{}: refused the response from {}: {}",
                step(r.step),
                r.url,
                r.detail
            ),
        },
        AuthError::UnexpectedStatus(s) => {
            let mut out = format!("{}: {} answered HTTP {}", step(s.step), s.url, s.status);
            if !s.body_excerpt.is_empty() {
                out.push_str(&format!(": {}", s.body_excerpt.trim()));
            }
            out
        }
        AuthError::InvalidResponse(r) => format!(
            "{}: invalid response from {}: {}",
            step(r.step),
            r.url,
            r.reason
        ),
        AuthError::NoResourceMetadata(a) => format!(
            "no protected resource metadata found (tried {})",
            attempts(a)
        ),
        AuthError::NoAuthorizationServerMetadata(a) => {
            format!(
                "no authorization server metadata found (tried {})",
                attempts(a)
            )
        }
        AuthError::ResourceMismatch(m) => {
            mismatch("protected resource metadata names another resource", m)
        }
        AuthError::CredentialIssuerMismatch(m) => format!(
            "refusing to send the configured credentials to {:?} (named via {}): they belong to {:?}; \
             give --issuer to use them with another authorization server",
            m.found, m.url, m.expected
        ),
        AuthError::IssuerMismatch(m) => {
            mismatch("authorization server metadata names another issuer", m)
        }
        AuthError::PkceUnsupported(u) => {
            format!("the authorization server does not offer PKCE S256 (metadata at {u}); refusing to authorize")
        }
        AuthError::ClientIdRequired(i) => {
            format!("{i} offers no client registration: configure a client id (--client-id) for it")
        }
        AuthError::RegistrationRejected(o) => format!("registration rejected: {}", oauth(o)),
        AuthError::StateMismatch => "the redirect's state matches no pending authorization".into(),
        AuthError::IssMissing(i) => {
            format!("the redirect lacks the iss parameter that {i} advertises (RFC 9207)")
        }
        AuthError::IssMismatch(m) => {
            mismatch("the redirect's iss is wrong (possible mix-up attack)", m)
        }
        AuthError::AuthorizationDenied(o) => format!("authorization denied: {}", oauth(o)),
        AuthError::TokenRejected(o) => format!("token request rejected: {}", oauth(o)),
        AuthError::AuthorizationRequired(p) => {
            format!("authorization required: visit {}", p.authorization_url)
        }
        AuthError::RenewalRequired(url) => {
            format!("the token for {url} must be renewed by the host first (host-renews)")
        }
        AuthError::StillUnauthorized(s) => format!(
            "{} still answered HTTP {} after a new token was obtained{}",
            s.url,
            s.status,
            if s.body_excerpt.is_empty() {
                String::new()
            } else {
                format!(": {}", s.body_excerpt.trim())
            }
        ),
    }
}

#[cfg(test)]
mod printable_tests {
    use super::*;
    use mcp_oauth_host::harness::{OauthFailure, Step};

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        // Security review finding 8: an error_description with escape
        // sequences was printed as it came.
        let e = AuthError::AuthorizationDenied(OauthFailure {
            step: Step::Authorization,
            url: "https://as.example.com/authorize".into(),
            status: None,
            error: "access_denied".into(),
            error_description: Some(
                "no\u{1b}[2J\u{1b}]0;pwned\u{7}\rfake prompt\u{202e}txt.exe".into(),
            ),
            error_uri: None,
        });
        let shown = describe(&e);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(!shown.contains('\u{202e}'), "{shown:?}");
        assert!(shown.contains("\\u{1b}[2J"), "{shown}");
        assert_eq!(printable("two\nlines"), "two\nlines");
    }
}
