//! The state file: the component's `export-state` document as
//! `state.json` in the state directory (the native CLI's file name and
//! format), imported before connecting and written after.
//!
//! WASI 0.2 has no file permissions: the file gets the mode the runtime
//! gives new files (wasmtime: the user's umask). It holds secrets, so the
//! directory preopened for it should be private (mode 0700).

use crate::bindings::StateSummary;
use anyhow::Context as _;
use std::fs;
use std::io::ErrorKind;
use url::Url;

const STATE_FILE: &str = "state.json";

fn path(dir: &str) -> String {
    format!("{}/{STATE_FILE}", dir.trim_end_matches('/'))
}

/// The stored document, if there is one.
pub fn read(dir: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let path = path(dir);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| {
            format!("cannot read {path} (is its directory preopened? wasmtime run --dir HOST_DIR::{dir})")
        }),
    }
}

/// Replaces the state file: a temporary file, renamed over it. Returns its
/// path.
pub fn write(dir: &str, doc: &[u8]) -> anyhow::Result<String> {
    let path = path(dir);
    let temp = format!(
        "{path}.tmp-{:016x}",
        wasip2::random::random::get_random_u64()
    );
    let written = fs::write(&temp, doc).and_then(|()| fs::rename(&temp, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e).with_context(|| {
            format!("cannot write {path} (is its directory preopened? wasmtime run --dir HOST_DIR::{dir})")
        });
    }
    Ok(path)
}

/// The redirect URI of the registration the state holds for the server at
/// `server_url` (that of its authorization server's client, else of any
/// client), so that a new authorization reuses the registration.
pub fn registered_redirect_uri(summary: &StateSummary, server_url: &str) -> Option<String> {
    let same = |stored: &str| match (Url::parse(stored), Url::parse(server_url)) {
        (Ok(mut a), Ok(mut b)) => {
            a.set_fragment(None);
            b.set_fragment(None);
            a == b
        }
        _ => stored == server_url,
    };
    let issuer = summary
        .servers
        .iter()
        .find(|s| same(&s.server))
        .map(|s| &s.issuer);
    summary
        .clients
        .iter()
        .find(|c| issuer.is_none_or(|i| *i == c.issuer))
        .map(|c| c.redirect_uri.clone())
}
