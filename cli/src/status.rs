//! `mcp-oauth status`: what a state holds, from the component's `summary`
//! (never a token, secret or key), and readable times.

use mcp_oauth_host::harness::{StateSummary, TokenEntry};

/// `2026-11-27 05:12:00 UTC` for seconds since the Unix epoch (the
/// seconds themselves past year 9999, which `time` does not format).
pub fn format_utc(secs: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{secs} s after the Unix epoch"))
}

/// A duration in seconds, rounded to a readable unit.
fn span(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `in 59 min` or `expired 3 h ago`.
pub fn relative(at: u64, now: u64) -> String {
    if at > now {
        format!("in {}", span(at - now))
    } else {
        format!("expired {} ago", span(now - at))
    }
}

/// One line about a token: type, expiry, scope, refresh token, grant.
fn describe_token(entry: &TokenEntry, now: u64) -> String {
    let t = &entry.token;
    let mut parts = vec![t.token_type.clone()];
    parts.push(match t.expires_at {
        Some(at) => format!("expires {} ({})", format_utc(at), relative(at, now)),
        None => "no expiry given".into(),
    });
    parts.push(format!("scope {}", t.scope.as_deref().unwrap_or("(none)")));
    parts.push(
        if t.has_refresh_token {
            "refresh token held"
        } else {
            "no refresh token"
        }
        .into(),
    );
    if let Some(grant) = &entry.grant_type {
        parts.push(format!("obtained with {grant}"));
    }
    parts.join(", ")
}

/// What `mcp-oauth status` prints: servers with their resource, issuer and
/// token, tokens of no server, client identities per issuer, cached
/// metadata.
pub fn status_report(s: &StateSummary, now: u64) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    if s.servers.is_empty() {
        line("servers: none".into());
    } else {
        line("servers:".into());
    }
    let mut shown = Vec::new();
    for b in &s.servers {
        line(format!("  {}", b.server));
        line(format!("    resource  {}", b.resource));
        line(format!("    issuer    {}", b.issuer));
        match s
            .tokens
            .iter()
            .find(|t| t.token.resource == b.resource && t.token.issuer == b.issuer)
        {
            Some(t) => {
                shown.push((&t.token.resource, &t.token.issuer));
                line(format!("    token     {}", describe_token(t, now)));
            }
            None => line("    token     none (authorizes on the next connect)".into()),
        }
    }
    let orphans: Vec<&TokenEntry> = s
        .tokens
        .iter()
        .filter(|t| !shown.contains(&(&t.token.resource, &t.token.issuer)))
        .collect();
    if !orphans.is_empty() {
        line(String::new());
        line("tokens of no server:".into());
        for t in orphans {
            line(format!("  {} from {}", t.token.resource, t.token.issuer));
            line(format!("    token     {}", describe_token(t, now)));
        }
    }
    line(String::new());
    if s.clients.is_empty() {
        line("registered clients: none".into());
    } else {
        line("registered clients:".into());
        for c in &s.clients {
            let method = match c.auth_method.as_str() {
                "none" => "public client",
                other => other,
            };
            let secret = if c.has_secret {
                ", client secret held"
            } else {
                ""
            };
            line(format!("  {}", c.issuer));
            line(format!("    client id {} ({method}{secret})", c.client_id));
            line(format!("    redirect  {}", c.redirect_uri));
            if let Some(at) = c.secret_expires_at {
                line(format!(
                    "    secret    expires {} ({})",
                    format_utc(at),
                    relative(at, now)
                ));
            }
        }
    }
    if !s.metadata.is_empty() {
        line(String::new());
        line("authorization server metadata cached:".into());
        for m in &s.metadata {
            line(format!(
                "  {} (fetched {} ago)",
                m.issuer,
                span(now.saturating_sub(m.fetched_at))
            ));
        }
    }
    if s.has_dpop_key {
        line(String::new());
        line("a DPoP key is held".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_oauth_host::harness::{ClientEntry, MetadataEntry, ServerEntry, TokenInfo};

    #[test]
    fn times_read_well() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_800_003_600), "2027-01-15 09:00:00 UTC");
        // A stored expiry no calendar year of four digits holds.
        assert_eq!(
            format_utc(u64::MAX),
            "18446744073709551615 s after the Unix epoch"
        );
        assert_eq!(relative(100, 40), "in 60 s");
        assert_eq!(relative(100, 7_300), "expired 2 h ago");
        assert_eq!(relative(10 * 86_400, 0), "in 10 days");
    }

    #[test]
    fn status_shows_what_is_stored() {
        let token = |resource: &str, token_type: &str| TokenEntry {
            token: TokenInfo {
                resource: resource.into(),
                issuer: "https://as.example".into(),
                token_type: token_type.into(),
                expires_at: None,
                scope: None,
                has_refresh_token: false,
            },
            grant_type: None,
        };
        let summary = StateSummary {
            servers: vec![ServerEntry {
                server: "https://mcp.example/mcp".into(),
                resource: "https://mcp.example/mcp".into(),
                issuer: "https://as.example".into(),
            }],
            tokens: vec![
                TokenEntry {
                    token: TokenInfo {
                        expires_at: Some(1_800_003_600),
                        scope: Some("mcp:read".into()),
                        has_refresh_token: true,
                        ..token("https://mcp.example/mcp", "Bearer").token
                    },
                    grant_type: Some("authorization_code".into()),
                },
                token("https://other.example", "DPoP"),
            ],
            clients: vec![ClientEntry {
                issuer: "https://as.example".into(),
                client_id: "cid-1".into(),
                auth_method: "client_secret_basic".into(),
                has_secret: true,
                redirect_uri: "http://127.0.0.1:8976/callback".into(),
                secret_expires_at: Some(1_900_000_000),
            }],
            metadata: vec![MetadataEntry {
                issuer: "https://as.example".into(),
                fetched_at: 1_800_000_000,
            }],
            has_dpop_key: true,
        };
        let text = status_report(&summary, 1_800_000_060);
        for needle in [
            "https://mcp.example/mcp",
            "issuer    https://as.example",
            "expires 2027-01-15 09:00:00 UTC (in 59 min)",
            "scope mcp:read",
            "refresh token held",
            "obtained with authorization_code",
            "tokens of no server:",
            "https://other.example from https://as.example",
            "DPoP, no expiry given, scope (none), no refresh token",
            "client id cid-1 (client_secret_basic, client secret held)",
            "redirect  http://127.0.0.1:8976/callback",
            "(fetched 60 s ago)",
            "a DPoP key is held",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        let empty = StateSummary {
            servers: vec![],
            tokens: vec![],
            clients: vec![],
            metadata: vec![],
            has_dpop_key: false,
        };
        assert!(status_report(&empty, 0).contains("servers: none"));
    }
}
