//! Builds the guest component that the harness embeds.
//!
//! Runs `cargo build --release --target wasm32-wasip2 -p mcp-oauth` at the
//! workspace root with its own target directory (`guest_build.rs`) and
//! exports the path of the component,
//! `target/guest/wasm32-wasip2/release/mcp_oauth.wasm`, as `MCP_OAUTH_WASM`
//! for `include_bytes!`. Nothing here touches the network; shrinking with
//! `wasm-opt` is an optional release step (`examples/shrink.rs`).
//!
//! Set `MCP_OAUTH_WASM_PREBUILT` to the path of an already built component
//! to skip the nested build.

mod guest_build;

use std::env;
use std::path::PathBuf;

fn main() {
    if let Err(message) = run() {
        // Cargo prints the build script's stderr when it fails.
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-env-changed=MCP_OAUTH_WASM_PREBUILT");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=guest_build.rs");

    if let Some(prebuilt) = env::var_os("MCP_OAUTH_WASM_PREBUILT") {
        let path = PathBuf::from(prebuilt);
        let path = path.canonicalize().map_err(|e| {
            format!(
                "MCP_OAUTH_WASM_PREBUILT={}: cannot read it: {e}",
                path.display()
            )
        })?;
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env=MCP_OAUTH_WASM={}", path.display());
        return Ok(());
    }

    for input in [
        "../src",
        "../core/src",
        "../core/Cargo.toml",
        "../wit",
        "../Cargo.toml",
        "../Cargo.lock",
        "../.cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }

    let wasm = guest_build::build(&guest_build::workspace()?, "mcp-oauth", "guest")?;
    println!("cargo:rustc-env=MCP_OAUTH_WASM={}", wasm.display());
    Ok(())
}
