//! The fixed names of the whole-flow tests' fake world (servers, issuer,
//! redirect URI, a test key), shared by core/tests/common and the fuzz
//! targets (fuzz/src/lib.rs includes this file with `#[path]`).

pub const NOW: u64 = 1_800_000_000;
pub const SERVER: &str = "https://mcp.example.com/mcp";
pub const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
pub const PRM_ROOT: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";
pub const ISSUER: &str = "https://auth.example.com";
pub const ASM: &str = "https://auth.example.com/.well-known/oauth-authorization-server";
pub const REGISTER: &str = "https://auth.example.com/register";
pub const TOKEN: &str = "https://auth.example.com/token";
pub const REDIRECT: &str = "http://127.0.0.1:8976/callback";
pub const CIMD: &str = "https://client.example.com/mcp-client.json";

/// A P-256 key in PKCS#8 PEM, made for tests only.
pub const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r
1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G
-----END PRIVATE KEY-----";
