//! Scope selection (MCP 2025-11-25 "Scope Selection Strategy").

use crate::prelude::*;
/// The scope to request: the configured one, else the challenge's `scope`,
/// else every PRM `scopes_supported` value space-joined, else none (the
/// parameter is then omitted, never sent empty).
pub fn select(
    configured: Option<&str>,
    challenge: Option<&str>,
    scopes_supported: Option<&[String]>,
) -> Option<String> {
    let non_empty = |s: &str| {
        let joined = s
            .split(' ')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    };
    configured
        .and_then(non_empty)
        .or_else(|| challenge.and_then(non_empty))
        .or_else(|| {
            // Joined as `&str`s: the one `join` the crate links.
            let all: Vec<&str> = scopes_supported?.iter().map(String::as_str).collect();
            non_empty(&all.join(" "))
        })
}

/// The scope that asks for a refresh token (OpenID Connect Core §11; MCP
/// 2026-07-28 "Refresh Tokens").
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The union of two space-delimited scopes, in order of first appearance,
/// each scope once; `None` when both are empty.
pub fn union(a: Option<&str>, b: Option<&str>) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for s in a.into_iter().chain(b).flat_map(|s| s.split(' ')) {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    (!out.is_empty()).then(|| out.join(" "))
}

/// Whether every scope of `wanted` is among those of `held`.
pub fn covers(held: &str, wanted: &str) -> bool {
    wanted
        .split(' ')
        .filter(|w| !w.is_empty())
        .all(|w| held.split(' ').any(|h| h == w))
}

/// The scope to register a client with (RFC 7591 §2 `scope`). Servers such
/// as oidc-provider restrict a registered client to the scope it
/// registered, so registering only what the first request needs makes a
/// later step-up fail with `invalid_scope`. Registered: the requested scope
/// and every scope the resource lists in its metadata — of the latter, only
/// those the authorization server lists when it lists any (it refuses to
/// register others).
pub fn for_registration(
    requested: Option<&str>,
    resource_supported: Option<&[String]>,
    server_supported: Option<&[String]>,
) -> Option<String> {
    let extra: Vec<&str> = resource_supported
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .filter(|s| server_supported.is_none_or(|list| list.iter().any(|x| x == s)))
        .collect();
    union(requested, Some(&extra.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_covers_what_the_resource_offers() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let resource = strings(&["mcp:tools", "mcp:admin", "rs:only"]);
        let server = strings(&["openid", "offline_access", "mcp:tools", "mcp:admin"]);
        assert_eq!(
            for_registration(
                Some("mcp:tools offline_access"),
                Some(&resource),
                Some(&server)
            )
            .as_deref(),
            Some("mcp:tools offline_access mcp:admin"),
            "rs:only is not registrable there"
        );
        assert_eq!(
            for_registration(Some("a"), Some(&resource), None).as_deref(),
            Some("a mcp:tools mcp:admin rs:only")
        );
        assert_eq!(for_registration(None, None, Some(&server)), None);
        assert!(covers(
            "mcp:tools offline_access mcp:admin",
            "mcp:admin mcp:tools"
        ));
        assert!(!covers("mcp:tools offline_access", "mcp:tools mcp:admin"));
        assert!(covers("x", ""));
    }

    #[test]
    fn priority_order() {
        // spec-checklist 58, 59, 60
        let supported = vec!["mcp:basic".to_string(), "mcp:read".to_string()];
        assert_eq!(
            select(None, Some("mcp:basic"), Some(&supported)).as_deref(),
            Some("mcp:basic")
        );
        assert_eq!(
            select(None, None, Some(&supported)).as_deref(),
            Some("mcp:basic mcp:read")
        );
        assert_eq!(select(None, None, None), None);
        assert_eq!(select(None, Some(""), Some(&[])), None);
        assert_eq!(
            select(Some("x y"), Some("mcp:basic"), Some(&supported)).as_deref(),
            Some("x y")
        );
        assert_eq!(select(None, Some("  a   b "), None).as_deref(), Some("a b"));
    }

    #[test]
    fn union_keeps_order_and_drops_repeats() {
        // spec-checklist 65 (step-up asks for the union, SEP-2350)
        assert_eq!(union(Some("a b"), Some("b  c")).as_deref(), Some("a b c"));
        assert_eq!(union(None, Some("x")).as_deref(), Some("x"));
        assert_eq!(union(Some(""), None), None);
        assert_eq!(union(None, None), None);
    }
}
