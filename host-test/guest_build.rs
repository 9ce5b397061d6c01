//! The nested cargo build of a `wasm32-wasip2` component, for the build
//! scripts that embed one: `host-test/build.rs` (the mcp-oauth component)
//! and `bench/build.rs` (the benchmark's pass-through component). Each
//! includes this file with `#[path]`: build scripts cannot share a crate
//! short of a build-dependency package of their own.
//!
//! The nested cargo runs at the workspace root with its own target
//! directory (`target/<dir>`: a nested cargo on the outer build's target
//! directory would wait for the outer build's lock forever), `--release
//! --locked`, and without the outer build's settings (`clean_env`). Nothing
//! here touches the network: it uses the workspace's lock file and the
//! crates the outer build fetched.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The components' target.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The workspace root: the parent of the crate whose build script runs.
pub fn workspace() -> Result<PathBuf, String> {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    Path::new(&manifest_dir)
        .join("..")
        .canonicalize()
        .map_err(|e| format!("cannot resolve the workspace root: {e}"))
}

/// Builds the component of `package` into `target/<dir>` of `workspace` and
/// returns the path of its `.wasm`.
pub fn build(workspace: &Path, package: &str, dir: &str) -> Result<PathBuf, String> {
    let target_dir = workspace.join("target").join(dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    check_target_installed()?;

    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            GUEST_TARGET,
            "-p",
            package,
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
            "building the component {package} failed ({}):\n{stderr}{hint}",
            output.status
        ));
    }

    let wasm = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !wasm.is_file() {
        return Err(format!(
            "the build of {package} succeeded but {} is missing",
            wasm.display()
        ));
    }
    Ok(wasm)
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
