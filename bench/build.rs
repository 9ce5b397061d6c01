//! Builds the pass-through component the hot-path benchmark compares
//! `wrap-call` with (`passthrough/`), as `host-test/build.rs` builds the
//! main component: `cargo build --release --locked --target wasm32-wasip2
//! -p mcp-oauth-bench-passthrough` at the workspace root with its own target
//! directory (`target/bench-guest`: a nested cargo on the outer build's
//! target directory would wait for the outer build's lock forever), and
//! exports the component's path as `PASSTHROUGH_WASM` for `include_bytes!`.
//! Nothing here touches the network: the nested cargo uses the workspace's
//! lock file and the crates the outer build fetched. The release profile is
//! the main component's (size-optimised, LTO), so both guests are compiled
//! alike.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GUEST_TARGET: &str = "wasm32-wasip2";

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
        "passthrough/src",
        "passthrough/wit",
        "passthrough/Cargo.toml",
        "../wit",
        "../Cargo.toml",
        "../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }

    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let workspace = Path::new(&manifest_dir)
        .join("..")
        .canonicalize()
        .map_err(|e| format!("cannot resolve the workspace root: {e}"))?;
    let target_dir = workspace.join("target").join("bench-guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            GUEST_TARGET,
            "-p",
            "mcp-oauth-bench-passthrough",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .stdin(Stdio::null());
    clean_env(&mut command);
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for")
        {
            "\nhint: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        return Err(format!(
            "building the pass-through component failed ({}):\n{stderr}{hint}",
            output.status
        ));
    }

    let wasm: PathBuf = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join("mcp_oauth_bench_passthrough.wasm");
    if !wasm.is_file() {
        return Err(format!(
            "the pass-through build succeeded but {} is missing",
            wasm.display()
        ));
    }
    println!("cargo:rustc-env=PASSTHROUGH_WASM={}", wasm.display());
    Ok(())
}

/// Removes the variables through which the outer build's settings would
/// leak into the nested one (the list of `host-test/build.rs`).
fn clean_env(command: &mut Command) {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_RUSTC",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_PKG_NAME",
        "TARGET",
        "HOST",
        "PROFILE",
        "OUT_DIR",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_LINKER",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "DEP_",
    ];
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
            command.env_remove(name);
        }
    }
}
