//! Operations on the state that hosts call instead of reading or editing
//! the JSON themselves: what it holds (never a secret), forgetting a
//! server, and the three-way merge of what another process wrote.

use mcp_oauth_core::server_key;
use mcp_oauth_core::Store;
use mcp_oauth_core::{Client, Config};
use serde_json::{json, Value};

/// A client holding `doc`.
fn holding(doc: &Value) -> Client {
    let mut c = Client::new(Config::new("T", REDIRECT)).unwrap();
    c.import_state(&bytes(doc)).unwrap();
    c
}

/// `mine`'s client after merging `theirs` over `base`.
fn merge(base: &[u8], mine: &[u8], theirs: &[u8]) -> Result<Vec<u8>, String> {
    let mut c = Client::new(Config::new("T", REDIRECT)).unwrap();
    c.import_state(mine).unwrap();
    c.merge_state(base, theirs).map_err(|e| e.0)?;
    Ok(c.export_state())
}

const REDIRECT: &str = "http://127.0.0.1:8976/callback";

fn client(id: &str) -> Value {
    json!({"client_id": id, "auth_method": "none", "redirect_uri": REDIRECT})
}

fn token(resource: &str, issuer: &str, at: &str) -> Value {
    json!({"resource": resource, "issuer": issuer, "access_token": at, "token_type": "Bearer"})
}

fn bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap()
}

/// The document as the component reads it back.
fn store(bytes: &[u8]) -> Store {
    Store::from_bytes(bytes).unwrap()
}

fn access_tokens(s: &Store) -> Vec<&str> {
    s.tokens.iter().map(|t| t.access_token.expose()).collect()
}

#[test]
fn merge_keeps_what_others_wrote_and_what_we_changed() {
    let base = json!({
        "version": 2,
        "clients": {"https://i1.example": client("a")},
        "tokens": [token("https://r1.example", "https://i1.example", "AT1"),
                   token("https://r2.example", "https://i1.example", "AT2")],
        "bindings": {"https://r1.example/": {"resource": "https://r1.example", "issuer": "https://i1.example"}},
    });
    // We refreshed r1's token and added a binding.
    let mut mine = base.clone();
    mine["tokens"][0] = token("https://r1.example", "https://i1.example", "AT1-new");
    mine["bindings"]["https://r3.example/"] =
        json!({"resource": "https://r3.example", "issuer": "https://i1.example"});
    // Another process replaced r2's token, added r4's and removed a client.
    let mut theirs = base.clone();
    theirs["tokens"][1] = token("https://r2.example", "https://i1.example", "AT2-other");
    theirs["tokens"].as_array_mut().unwrap().push(token(
        "https://r4.example",
        "https://i2.example",
        "AT4",
    ));
    theirs["clients"] = json!({});
    let merged = store(&merge(&bytes(&base), &bytes(&mine), &bytes(&theirs)).unwrap());
    assert_eq!(access_tokens(&merged), ["AT1-new", "AT2-other", "AT4"]);
    assert!(merged.clients.is_empty());
    assert_eq!(merged.bindings.len(), 2);

    // Both changed the same token: ours (the last writer) wins.
    let mut theirs2 = base.clone();
    theirs2["tokens"][0] = token("https://r1.example", "https://i1.example", "AT1-other");
    let merged = store(&merge(&bytes(&base), &bytes(&mine), &bytes(&theirs2)).unwrap());
    assert_eq!(access_tokens(&merged)[0], "AT1-new");

    // We removed a token, they removed the other: both stay removed.
    let mut mine2 = base.clone();
    mine2["tokens"].as_array_mut().unwrap().remove(0);
    let mut theirs3 = base.clone();
    theirs3["tokens"].as_array_mut().unwrap().remove(1);
    let merged = store(&merge(&bytes(&base), &bytes(&mine2), &bytes(&theirs3)).unwrap());
    assert!(merged.tokens.is_empty());

    // Nothing changed here: theirs wins whole.
    let merged = merge(&bytes(&base), &bytes(&base), &bytes(&theirs)).unwrap();
    assert_eq!(store(&merged), store(&bytes(&theirs)));

    // A document that is not one is refused, saying which.
    let e = merge(&bytes(&base), &bytes(&mine), b"{\"version\":9}").unwrap_err();
    assert!(e.contains("state version 9 is not supported"), "{e}");
}

#[test]
fn forget_removes_one_server_or_all() {
    let doc = json!({
        "version": 2,
        "clients": {"https://i1.example": client("c")},
        "tokens": [
            token("https://a.example/mcp", "https://i1.example", "AT-a"),
            token("https://b.example/mcp", "https://i1.example", "AT-b"),
        ],
        "bindings": {
            "https://a.example/mcp": {"resource": "https://a.example/mcp", "issuer": "https://i1.example"},
            "https://a.example/mcp?x=1": {"resource": "https://a.example/mcp", "issuer": "https://i1.example"},
            "https://b.example/mcp": {"resource": "https://b.example/mcp", "issuer": "https://i1.example"},
        },
    });
    let mut c = holding(&doc);
    let one = c.forget(Some("https://a.example/mcp#frag"));
    assert_eq!(
        one.tokens,
        [(
            "https://a.example/mcp".to_string(),
            "https://i1.example".to_string()
        )]
    );
    assert_eq!(
        one.servers,
        ["https://a.example/mcp", "https://a.example/mcp?x=1"]
    );
    let left = store(&c.export_state());
    assert_eq!(access_tokens(&left), ["AT-b"]);
    assert_eq!(left.clients.len(), 1, "registrations are kept");

    let mut c = holding(&doc);
    let none = c.forget(Some("https://c.example/mcp"));
    assert!(none.tokens.is_empty() && none.servers.is_empty());
    assert_eq!(store(&c.export_state()), store(&bytes(&doc)));
    assert!(c.forget(Some("not a url")).servers.is_empty());

    let all = c.forget(None);
    assert_eq!((all.tokens.len(), all.servers.len()), (2, 3));
    let left = store(&c.export_state());
    assert!(left.tokens.is_empty() && left.bindings.is_empty());
    assert_eq!(left.clients.len(), 1);
}

#[test]
fn a_summary_says_what_is_stored_but_no_secret() {
    let doc = json!({
        "version": 2,
        "clients": {"https://as.example": {
            "client_id": "cid-1", "client_secret": "SECRET-client",
            "auth_method": "client_secret_basic",
            "redirect_uri": REDIRECT,
            "secret_expires_at": 1_900_000_000u64,
        }},
        "tokens": [
            {"resource": "https://mcp.example/mcp", "issuer": "https://as.example",
             "access_token": "SECRET-at", "refresh_token": "SECRET-rt",
             "token_type": "Bearer", "expires_at": 1_800_003_600u64,
             "scope": "mcp:read", "grant_type": "authorization_code"},
            {"resource": "https://other.example", "issuer": "https://as.example",
             "access_token": "SECRET-at2", "token_type": "DPoP"},
        ],
        "bindings": {"https://mcp.example/mcp": {
            "resource": "https://mcp.example/mcp", "issuer": "https://as.example"}},
        "dpop_key": "SECRET-key",
    });
    let s = holding(&doc).summary();
    assert_eq!(s.servers.len(), 1);
    assert_eq!(s.servers[0].issuer, "https://as.example");
    assert_eq!(s.tokens.len(), 2);
    assert_eq!(s.tokens[0].token.expires_at, Some(1_800_003_600));
    assert!(s.tokens[0].token.has_refresh_token && !s.tokens[1].token.has_refresh_token);
    assert_eq!(
        s.tokens[0].grant_type,
        Some(mcp_oauth_core::GrantKind::AuthorizationCode)
    );
    assert_eq!(s.clients[0].auth_method, "client_secret_basic");
    assert!(s.clients[0].has_secret);
    assert_eq!(s.clients[0].redirect_uri, REDIRECT);
    assert!(s.has_dpop_key);
    assert!(!format!("{s:?}").contains("SECRET"), "{s:?}");
}

#[test]
fn servers_are_keyed_as_the_client_keys_them() {
    assert_eq!(
        server_key("https://MCP.example.com/mcp#x").unwrap(),
        "https://mcp.example.com/mcp"
    );
    assert!(server_key("mcp.example.com").is_err());
}
