//! The strict JSON reader: `strict_json::parse`, `parse_object` and
//! `from_slice` into a struct of the kinds of members the core's documents
//! have. What parses must write out and parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::strict_json;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Kind {
    #[serde(rename = "a")]
    A,
    #[serde(rename = "b")]
    B(u32),
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Document {
    issuer: Option<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    expires_in: Option<u64>,
    ratio: Option<f64>,
    flag: Option<bool>,
    signed: Option<i32>,
    kind: Option<Kind>,
    nested: Option<Box<Document>>,
    #[serde(default, deserialize_with = "strict_json::null_as_default")]
    map: BTreeMap<String, serde_json::Value>,
    tuple: Option<(u8, String)>,
    bytes: Option<Vec<u8>>,
    ch: Option<char>,
    unit: Option<()>,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = strict_json::parse(data) {
        let out = strict_json::to_vec(&v);
        // Parses again; not necessarily to the same value: serde_json's
        // default float reader is not exact (31e133 reads as
        // 3.1000000000000002e134), which the core does not rely on.
        strict_json::parse(&out).expect("written JSON parses again");
    }
    let _ = strict_json::parse_object(data);
    let _ = strict_json::from_slice::<Document>(data);
    let _ = strict_json::from_slice::<BTreeMap<String, serde_json::Value>>(data);
});
