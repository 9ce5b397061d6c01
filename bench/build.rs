//! Builds the pass-through component the hot-path benchmark compares
//! `wrap-call` with (`passthrough/`), as `host-test/build.rs` builds the
//! main component, with the same code (`host-test/guest_build.rs`):
//! `cargo build --release --locked --target wasm32-wasip2 -p
//! mcp-oauth-bench-passthrough` at the workspace root into
//! `target/bench-guest`, and exports the component's path as
//! `PASSTHROUGH_WASM` for `include_bytes!`. The release profile is
//! the main component's (size-optimised, LTO), so both guests are compiled
//! alike.

#[path = "../host-test/guest_build.rs"]
mod guest_build;

fn main() {
    if let Err(message) = run() {
        // Cargo prints the build script's stderr when it fails.
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    for input in [
        "../host-test/guest_build.rs",
        "passthrough/src",
        "passthrough/wit",
        "passthrough/Cargo.toml",
        "../wit",
        "../Cargo.toml",
        "../Cargo.lock",
        "../.cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }
    let wasm = guest_build::build(
        &guest_build::workspace()?,
        "mcp-oauth-bench-passthrough",
        "bench-guest",
    )?;
    println!("cargo:rustc-env=PASSTHROUGH_WASM={}", wasm.display());
    Ok(())
}
