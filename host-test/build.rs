//! Builds the guest component that the harness embeds.
//!
//! Runs `cargo build --release --target wasm32-wasip2 -p mcp-oauth` at the
//! workspace root with its own target directory (`target/guest`: a nested
//! cargo on the outer build's target directory would wait for the outer
//! build's lock forever) and exports the path of the component,
//! `target/guest/wasm32-wasip2/release/mcp_oauth.wasm`, as `MCP_OAUTH_WASM`
//! for `include_bytes!`. Nothing here touches the network (the nested cargo
//! uses the same lock file and the crates the outer build fetched);
//! shrinking with `wasm-opt` is an optional release step
//! (`examples/shrink.rs`).
//!
//! Set `MCP_OAUTH_WASM_PREBUILT` to the path of an already built component
//! to skip the nested build.

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
    println!("cargo:rerun-if-env-changed=MCP_OAUTH_WASM_PREBUILT");
    println!("cargo:rerun-if-changed=build.rs");

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
    ] {
        println!("cargo:rerun-if-changed={input}");
    }

    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let workspace = Path::new(&manifest_dir)
        .join("..")
        .canonicalize()
        .map_err(|e| format!("cannot resolve the workspace root: {e}"))?;
    let target_dir = workspace.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    check_target_installed()?;

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
            "mcp-oauth",
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
            || stderr.contains("can't find crate for `core`")
        {
            "\nhint: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        return Err(format!(
            "building the guest component failed ({}):\n{stderr}{hint}",
            output.status
        ));
    }

    let wasm = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join("mcp_oauth.wasm");
    if !wasm.is_file() {
        return Err(format!(
            "the guest build succeeded but {} is missing",
            wasm.display()
        ));
    }
    println!("cargo:rustc-env=MCP_OAUTH_WASM={}", wasm.display());
    Ok(())
}

/// Fails with instructions when the toolchain has no `wasm32-wasip2`
/// standard library. Uses the `rustc` the nested cargo will use.
fn check_target_installed() -> Result<(), String> {
    let mut command = Command::new("rustc");
    command.args(["--print", "sysroot"]).stdin(Stdio::null());
    clean_env(&mut command);
    let output = match command.output() {
        Ok(output) if output.status.success() => output,
        // No answer: let the build itself report what is wrong.
        _ => return Ok(()),
    };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let lib = Path::new(&sysroot)
        .join("lib")
        .join("rustlib")
        .join(GUEST_TARGET);
    if lib.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the Rust target {GUEST_TARGET} is not installed (no {}).\n\
             Run `rustup target add {GUEST_TARGET}` and build again.",
            lib.display()
        ))
    }
}

/// Removes the variables through which the outer build's settings would
/// leak into the nested one (flags, target, target directory, jobserver,
/// wrappers, and the variables cargo sets for build scripts).
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
