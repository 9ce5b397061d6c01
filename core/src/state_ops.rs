//! Operations on the state (what [`crate::Client::export_state`] writes),
//! so that no host reads or edits a state document itself: what it holds
//! ([`summary`], never a token, secret or key), forgetting a server's tokens
//! (`forget`), and the three-way merge of what another process wrote
//! ([`merge`]). [`crate::Client`] offers them on its own state.

use crate::config::GrantKind;
use crate::error::Refused;
use crate::prelude::*;
use crate::store::{Map, Store};

/// A server the document knows: the resource and issuer it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSummary {
    /// The server's key (its URL without fragment, see [`server_key`]).
    pub server: String,
    /// Its resource identifier.
    pub resource: String,
    /// Its authorization server.
    pub issuer: String,
}

/// A token, described: what [`crate::TokenInfo`] says, and the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// The token, described.
    pub token: crate::TokenInfo,
    /// The grant that obtained it, if recorded.
    pub grant_type: Option<GrantKind>,
}

/// A client identity at one issuer, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    /// The issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// Its token endpoint authentication method (`none` for a public client).
    pub auth_method: String,
    /// Whether a client secret is held.
    pub has_secret: bool,
    /// The redirect URI it was registered with.
    pub redirect_uri: String,
    /// When its secret expires, if it does.
    pub secret_expires_at: Option<u64>,
}

/// What a state document holds. Never a token, secret or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Servers and what they are bound to.
    pub servers: Vec<ServerSummary>,
    /// Tokens.
    pub tokens: Vec<TokenSummary>,
    /// Client identities per issuer.
    pub clients: Vec<ClientSummary>,
    /// Issuers whose metadata is cached, with when it was fetched.
    pub metadata: Vec<(String, u64)>,
    /// Whether a DPoP key is held.
    pub has_dpop_key: bool,
}

/// What `forget` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// (resource, issuer) of each token removed.
    pub tokens: Vec<(String, String)>,
    /// Servers whose binding was removed.
    pub servers: Vec<String>,
}

/// The key under which a state document keeps the server at `url`: the URL
/// as the client parses it, without its fragment.
pub fn server_key(url: &str) -> Result<String, Refused> {
    crate::url::Url::parse(url)
        .map(|u| u.without_fragment())
        .map_err(|e| Refused(format!("server URL {url:?}: {e}")))
}

/// What `store` holds.
pub fn summary(store: &Store) -> Summary {
    Summary {
        servers: store
            .bindings
            .iter()
            .map(|(server, b)| ServerSummary {
                server: server.clone(),
                resource: b.resource.clone(),
                issuer: b.issuer.clone(),
            })
            .collect(),
        tokens: store
            .tokens
            .iter()
            .map(|t| TokenSummary {
                token: crate::TokenInfo::from(t),
                grant_type: t.grant_type,
            })
            .collect(),
        clients: store
            .clients
            .iter()
            .map(|(issuer, c)| ClientSummary {
                issuer: issuer.clone(),
                client_id: c.client_id.clone(),
                auth_method: c.auth_method.as_str().to_string(),
                has_secret: c.client_secret.is_some(),
                redirect_uri: c.redirect_uri.clone(),
                secret_expires_at: c.secret_expires_at.filter(|t| *t > 0),
            })
            .collect(),
        metadata: store
            .metadata
            .iter()
            .map(|(issuer, m)| (issuer.clone(), m.fetched_at))
            .collect(),
        has_dpop_key: store.dpop_key.is_some(),
    }
}

/// Forgets the tokens and bindings of the server at `server` (a URL), or
/// of every server when `None`. A server's tokens are the one its binding
/// names and any whose resource is the server's key; bindings to a removed
/// token go too. Registrations, metadata and the DPoP key are kept. A URL
/// that does not parse names no server: nothing is forgotten.
pub fn forget(store: &mut Store, server: Option<&str>) -> Forgotten {
    let key = match server.map(server_key).transpose() {
        Ok(key) => key,
        Err(_) => return Forgotten::default(),
    };
    let named = |s: &str| key.as_deref().is_none_or(|k| k == s);
    let mut pairs: Vec<(String, String)> = store
        .bindings
        .iter()
        .filter(|(s, _)| named(s))
        .map(|(_, b)| (b.resource.clone(), b.issuer.clone()))
        .collect();
    let mut tokens = Vec::new();
    store.tokens.retain(|t| {
        let gone = key.is_none()
            || key.as_deref() == Some(t.resource.as_str())
            || pairs
                .iter()
                .any(|(r, i)| *r == t.resource && *i == t.issuer);
        if gone {
            tokens.push((t.resource.clone(), t.issuer.clone()));
        }
        !gone
    });
    pairs.extend(tokens.iter().cloned());
    let servers: Vec<String> = store
        .bindings
        .iter()
        .filter(|(s, b)| {
            named(s)
                || pairs
                    .iter()
                    .any(|(r, i)| *r == b.resource && *i == b.issuer)
        })
        .map(|(s, _)| s.clone())
        .collect();
    for s in &servers {
        store.bindings.remove(s);
    }
    Forgotten { tokens, servers }
}

/// The three-way merge of state documents: `mine` (this process's state
/// now), `theirs` (what is stored now, which another process may have
/// written) and `base` (the state this process last read or wrote). Entry by
/// entry — clients, bindings, metadata and credential issuers by key, tokens
/// by resource and issuer, the DPoP key whole — an entry this process did
/// not change takes their value (or its absence); one it changed (or
/// removed) keeps its own.
pub fn merge(base: &Store, mine: &Store, theirs: &Store) -> Store {
    let token_key = |t: &crate::store::TokenRecord| (t.resource.clone(), t.issuer.clone());
    let keyed_tokens = |s: &Store| -> Vec<((String, String), crate::store::TokenRecord)> {
        s.tokens.iter().map(|t| (token_key(t), t.clone())).collect()
    };
    Store {
        version: mine.version,
        clients: merge_maps(&base.clients, &mine.clients, &theirs.clients),
        tokens: merge_entries(
            &keyed_tokens(base),
            &keyed_tokens(mine),
            &keyed_tokens(theirs),
        )
        .into_iter()
        .map(|(_, t)| t)
        .collect(),
        bindings: merge_maps(&base.bindings, &mine.bindings, &theirs.bindings),
        metadata: merge_maps(&base.metadata, &mine.metadata, &theirs.metadata),
        dpop_key: pick(
            base.dpop_key.as_ref(),
            mine.dpop_key.as_ref(),
            theirs.dpop_key.as_ref(),
        )
        .cloned(),
        credential_issuers: merge_maps(
            &base.credential_issuers,
            &mine.credential_issuers,
            &theirs.credential_issuers,
        ),
    }
}

/// The merge rule for one entry: unchanged here → theirs; else ours.
fn pick<'a, T: PartialEq>(
    base: Option<&T>,
    mine: Option<&'a T>,
    theirs: Option<&'a T>,
) -> Option<&'a T> {
    if mine == base {
        theirs
    } else {
        mine
    }
}

fn merge_maps<V: Clone + PartialEq>(base: &Map<V>, mine: &Map<V>, theirs: &Map<V>) -> Map<V> {
    let entries = |m: &Map<V>| -> Vec<(String, V)> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut out = Map::new();
    for (k, v) in merge_entries(&entries(base), &entries(mine), &entries(theirs)) {
        out.insert(k, v);
    }
    out
}

/// Merges keyed entries with [`pick`]: their order first, then new entries
/// of ours.
fn merge_entries<K: Clone + PartialEq, V: Clone + PartialEq>(
    base: &[(K, V)],
    mine: &[(K, V)],
    theirs: &[(K, V)],
) -> Vec<(K, V)> {
    fn get<'a, K: PartialEq, V>(list: &'a [(K, V)], key: &K) -> Option<&'a V> {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    let mut keys: Vec<&K> = theirs.iter().map(|(k, _)| k).collect();
    for (k, _) in mine {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            pick(get(base, k), get(mine, k), get(theirs, k)).map(|v| (k.clone(), v.clone()))
        })
        .collect()
}
