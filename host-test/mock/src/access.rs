//! Access control of the mock MCP server: bearer tokens (RFC 6750) and
//! DPoP-bound tokens (RFC 9449 §7), the `WWW-Authenticate` challenges, and
//! the DPoP proof check the token endpoint shares.

use super::jose::{key_from_jwk, thumbprint, Jws};
use super::util::{base64url, json_reply, quote, random_id, unix_now, with_header, Reply};
use super::{NonceMode, Req, Server, State};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// The path of the protected resource metadata for the MCP endpoint at
/// `path` (RFC 9728 §3.1).
pub(crate) fn metadata_path(path: &str) -> String {
    format!("/.well-known/oauth-protected-resource{path}")
}

/// How far a proof's `iat` may be from the server's clock (seconds).
const IAT_WINDOW: u64 = 60;

/// Why a request to the MCP endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No credentials.
    Missing,
    /// The token is unknown, revoked, expired, for another resource, or
    /// presented with the wrong scheme or key.
    InvalidToken { dpop: bool },
    /// The DPoP proof is malformed or does not verify.
    InvalidProof(&'static str),
    /// The proof lacks the current nonce; the new one is sent.
    UseNonce(String),
}

/// Checks the request's credentials (RFC 6750 §2.1, RFC 9449 §7.1).
pub(crate) fn check(st: &mut State, req: &Req) -> Result<(), Denied> {
    let values: Vec<&str> = req.header_values("authorization").collect();
    let [value] = values[..] else {
        return Err(if values.is_empty() {
            Denied::Missing
        } else {
            Denied::InvalidToken { dpop: false }
        });
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(Denied::InvalidToken { dpop: false });
    };
    let token = token.trim();
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Denied::InvalidToken { dpop: false });
    }
    let invalid = Denied::InvalidToken { dpop };
    let Some(record) = st.access_tokens.get(token).cloned() else {
        return Err(invalid);
    };
    // The resource the metadata declares (the endpoint itself unless
    // `prm_resource` says otherwise).
    let resource = st.behaviour.prm_resource.as_deref().unwrap_or(&st.mcp_url);
    let usable = !record.revoked
        && SystemTime::now() < record.expires
        && record.resource.as_deref() == Some(resource);
    if !dpop {
        // RFC 9449 §7.2: a DPoP-bound token is no bearer token.
        return match (usable, &record.jkt) {
            (true, None) => Ok(()),
            _ => Err(invalid),
        };
    }
    let htu = format!("{}{}", st.mcp_origin, req.path);
    let proof = verify_proof(st, req, &htu, Some(token)).map_err(Denied::InvalidProof)?;
    let demand = st
        .behaviour
        .dpop_rs_nonce
        .demand(st.rs_nonce.as_deref(), proof.nonce.as_deref());
    if let Some(nonce) = demand {
        return Err(Denied::UseNonce(nonce.unwrap_or_else(|| new_rs_nonce(st))));
    }
    if !usable || record.jkt.as_deref() != Some(proof.jkt.as_str()) {
        return Err(invalid);
    }
    Ok(())
}

fn new_rs_nonce(st: &mut State) -> String {
    let nonce = random_id("mock-rs-nonce-");
    st.rs_nonce = Some(nonce.clone());
    st.nonces_sent.push((Server::Mcp, nonce.clone()));
    nonce
}

/// The 401 for a refused request: a `Bearer` challenge with
/// `resource_metadata` (none from a 2025-03-26 server), `DPoP` challenges
/// when the server does DPoP or the request used it.
pub(crate) fn challenge(st: &State, req: &Req, denied: &Denied) -> Reply {
    let b = &st.behaviour;
    let metadata = (b.resource_metadata_in_challenge && b.legacy.is_none()).then(|| {
        format!(
            "resource_metadata={}",
            quote(&format!("{}{}", st.mcp_origin, metadata_path(&req.path)))
        )
    });
    let scope = b
        .challenge_scope
        .as_ref()
        .map(|s| format!("scope={}", quote(s)));
    let algs = format!("algs={}", quote("ES256"));
    let join = |scheme: &str, params: Vec<String>| {
        if params.is_empty() {
            scheme.to_string()
        } else {
            format!("{scheme} {}", params.join(", "))
        }
    };
    let error = |e: &str| format!("error={}", quote(e));
    let description = |d: &str| format!("error_description={}", quote(d));
    let common = || metadata.iter().chain(scope.iter()).cloned();
    let (value, body, nonce) = match denied {
        Denied::Missing => {
            let mut value = join("Bearer", common().collect());
            if b.dpop {
                value = format!("{value}, {}", join("DPoP", vec![algs]));
            }
            let body =
                json!({"error": "unauthorized", "error_description": "authorization required"});
            (value, body, None)
        }
        Denied::InvalidToken { dpop } => {
            let params = std::iter::once(error("invalid_token")).chain(common());
            let value = if *dpop {
                join("DPoP", params.chain(std::iter::once(algs)).collect())
            } else {
                join("Bearer", params.collect())
            };
            let body = json!({"error": "invalid_token", "error_description": "the access token is not valid here"});
            (value, body, None)
        }
        Denied::InvalidProof(why) => {
            let params = vec![error("invalid_dpop_proof"), description(why), algs];
            let body = json!({"error": "invalid_dpop_proof", "error_description": why});
            (join("DPoP", params), body, None)
        }
        Denied::UseNonce(nonce) => {
            let why = "Resource server requires nonce in DPoP proof";
            let params = vec![error("use_dpop_nonce"), description(why), algs];
            let body = json!({"error": "use_dpop_nonce", "error_description": why});
            (join("DPoP", params), body, Some(nonce.clone()))
        }
    };
    let reply = with_header(json_reply(401, &body), "www-authenticate", &value);
    match nonce {
        Some(n) => with_header(reply, "dpop-nonce", &n),
        None => reply,
    }
}

/// A successful MCP response under [`NonceMode::Rotating`] carries the next
/// nonce (RFC 9449 §9).
pub(crate) fn after_response(st: &mut State, req: &Req, reply: Reply) -> Reply {
    let rotating = st.behaviour.dpop_rs_nonce == NonceMode::Rotating;
    if rotating && req.path == "/mcp" && reply.status().is_success() {
        let nonce = new_rs_nonce(st);
        return with_header(reply, "dpop-nonce", &nonce);
    }
    reply
}

/// A DPoP proof that passed [`verify_proof`].
pub(crate) struct Proof {
    /// The RFC 7638 thumbprint of its key.
    pub jkt: String,
    /// Its `nonce` claim.
    pub nonce: Option<String>,
}

/// Checks the request's DPoP proof (RFC 9449 §4.3): exactly one header, a
/// `dpop+jwt` ES256 JWS signed by the public JWK in its header, `htm` the
/// method, `htu` the URL without query (`htu`), `iat` within a minute, an
/// unseen `jti`, and `ath` the hash of `token` when one is presented. The
/// caller checks the nonce.
pub(crate) fn verify_proof(
    st: &mut State,
    req: &Req,
    htu: &str,
    token: Option<&str>,
) -> Result<Proof, &'static str> {
    let proofs: Vec<&str> = req.header_values("dpop").collect();
    let [proof] = proofs[..] else {
        return Err("exactly one DPoP header is required");
    };
    let jws = Jws::parse(proof)?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err("typ is not dpop+jwt");
    }
    let key = key_from_jwk(jws.header.get("jwk").unwrap_or(&serde_json::Value::Null))?;
    jws.verify(&key)?;
    if jws.claim_str("htm") != Some(req.method.as_str()) {
        return Err("htm does not match the method");
    }
    if jws.claim_str("htu") != Some(htu) {
        return Err("htu does not match the URL");
    }
    let now = unix_now();
    match jws.claim_u64("iat") {
        Some(iat) if iat.abs_diff(now) <= IAT_WINDOW => {}
        Some(_) => return Err("iat is not within a minute of now"),
        None => return Err("iat is missing"),
    }
    if let Some(token) = token {
        let expected = base64url(&Sha256::digest(token.as_bytes()));
        if jws.claim_str("ath") != Some(expected.as_str()) {
            return Err("ath does not match the access token");
        }
    }
    let jti = match jws.claim_str("jti") {
        Some(j) if !j.is_empty() => j,
        _ => return Err("jti is missing"),
    };
    if !st.seen_jtis.insert(format!("dpop:{jti}")) {
        return Err("jti was used before");
    }
    Ok(Proof {
        jkt: thumbprint(&key),
        nonce: jws.claim_str("nonce").map(str::to_string),
    })
}
