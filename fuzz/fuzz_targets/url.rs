//! The URL policy: `Url::parse` and every public accessor and check, `join`
//! with a second URL (after the first `\n`), and `server_key`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::{server_key, Url};

fn exercise(u: &Url) {
    let _ = u.scheme();
    let _ = u.host();
    let _ = u.port();
    let _ = u.effective_port();
    let _ = u.path();
    let _ = u.query();
    let _ = u.fragment();
    let _ = u.has_userinfo();
    let _ = u.host_and_port();
    let _ = u.origin_form();
    let _ = u.origin();
    let _ = u.is_loopback();
    let _ = u.reaches_local_machine();
    let _ = u.is_https_or_loopback_http();
    let _ = u.without_fragment();
    let _ = format!("{u} {u:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (first, second) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = server_key(first);
    let _ = first.parse::<Url>();
    if let Ok(u) = Url::parse(first) {
        exercise(&u);
        let _ = u.same_origin(&u);
        if let Ok(j) = u.join(second) {
            exercise(&j);
            let _ = u.same_origin(&j);
        }
        if let Ok(v) = Url::parse(second) {
            let _ = u.same_origin(&v);
        }
    }
});
