//! An optional release step: shrinks a built component with binaryen's
//! `wasm-opt -Oz` on its core module and drops the `component-name`
//! section (about a fifth smaller). Not part of `cargo build`, which needs
//! no network; this step installs binaryen from npm on first use unless
//! `MCP_OAUTH_WASM_OPT` names a `wasm-opt` binary.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 -p mcp-oauth
//! cargo run -p mcp-oauth-host --example shrink -- \
//!     target/wasm32-wasip2/release/mcp_oauth.wasm mcp_oauth.shrunk.wasm
//! ```
//!
//! (`scripts/shrink.sh` does both.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binaryen release (npm package `binaryen`) that optimizes the module.
const BINARYEN: &str = "132.0.0";

/// The WebAssembly features rustc 1.95 enables for `wasm32-wasip2`
/// (`rustc --print cfg --target wasm32-wasip2`): `wasm-opt` may use these
/// and no others.
const FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
];

/// Writes the shrunk form of the component `input` to `output`. `tools` is
/// where binaryen is installed. Does nothing when `output` was made from
/// the same input before.
fn shrink(input: &Path, output: &Path, tools: &Path) -> Result<(), String> {
    let component = fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let setting = std::env::var("MCP_OAUTH_WASM_OPT").unwrap_or_default();
    // The input this output was shrunk from, to skip the work next time.
    let source_copy = output.with_extension("wasm.source");
    if fs::read(&source_copy).ok().as_deref() == Some(&component[..])
        && output.is_file()
        && setting.is_empty()
    {
        return Ok(());
    }

    let sections = sections(&component)?;
    let module = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.id == MODULE_SECTION)
        .max_by_key(|(_, s)| s.payload.len())
        .map(|(i, _)| i)
        .ok_or("the component has no core module")?;

    // Files of this process only: builds in other target directories may
    // shrink the same component at the same time.
    let work = output.with_extension(format!("wasm-opt.{}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let before = work.join("module.wasm");
    let after = work.join("module.opt.wasm");
    write(&before, sections[module].payload)?;
    let mut command = wasm_opt(&setting, tools)?;
    command
        .arg("-Oz")
        .args(FEATURES)
        .arg(&before)
        .arg("-o")
        .arg(&after)
        .stdin(Stdio::null());
    let result = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}",
            result.status,
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    let optimized = fs::read(&after).map_err(|e| format!("{}: {e}", after.display()))?;
    let _ = fs::remove_dir_all(&work);

    let mut out = component[..8].to_vec();
    for (i, section) in sections.iter().enumerate() {
        if section.id == CUSTOM_SECTION && custom_name(section.payload) == Some(b"component-name") {
            continue;
        }
        let payload = if i == module {
            &optimized[..]
        } else {
            section.payload
        };
        out.push(section.id);
        leb128(payload.len(), &mut out);
        out.extend_from_slice(payload);
    }
    write(output, &out)?;
    write(&source_copy, &component)
}

/// The command that runs `wasm-opt`: the one `MCP_OAUTH_WASM_OPT` names, or
/// binaryen from npm (installed under `tools` if it is not there yet).
fn wasm_opt(setting: &str, tools: &Path) -> Result<Command, String> {
    if !setting.is_empty() {
        return Ok(Command::new(setting));
    }
    let prefix = tools.join(format!("binaryen-{BINARYEN}"));
    let script: PathBuf = prefix.join("node_modules/binaryen/bin/wasm-opt");
    if !script.is_file() {
        // Installed beside, then moved in place whole: a concurrent build
        // never runs half an installation.
        let staging = tools.join(format!("binaryen-{BINARYEN}.{}", std::process::id()));
        fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
        let result = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&staging)
            .arg(format!("binaryen@{BINARYEN}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm to install binaryen (wasm-opt): {e}\n{HELP}"))?;
        if !result.status.success() {
            let _ = fs::remove_dir_all(&staging);
            return Err(format!(
                "npm install binaryen@{BINARYEN} failed ({}):\n{}\n{HELP}",
                result.status,
                String::from_utf8_lossy(&result.stderr)
            ));
        }
        // Another build may have finished first; either copy will do.
        if fs::rename(&staging, &prefix).is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        if !script.is_file() {
            return Err(format!(
                "{} is missing after npm install\n{HELP}",
                script.display()
            ));
        }
    }
    let mut command = Command::new("node");
    command.arg(script);
    Ok(command)
}

const HELP: &str = "The component is shrunk with binaryen's wasm-opt from npm, run on Node.js \
(20 is tested). Set MCP_OAUTH_WASM_OPT to the path of a wasm-opt binary to use that one.";

/// Writes `bytes` to `path` through a temporary file, so a reader never
/// sees half a file.
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))
}

const CUSTOM_SECTION: u8 = 0;
const MODULE_SECTION: u8 = 1;

/// One top-level section of a component.
struct Section<'a> {
    id: u8,
    payload: &'a [u8],
}

/// The top-level sections of a component binary.
fn sections(bytes: &[u8]) -> Result<Vec<Section<'_>>, String> {
    // Magic, then version 0x0d and layer 1: a component, not a module.
    if bytes.len() < 8 || bytes[..4] != *b"\0asm" || bytes[4..8] != [0x0d, 0, 1, 0] {
        return Err("the guest build is not a WebAssembly component".into());
    }
    let mut sections = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let (len, start) = read_leb128(bytes, at + 1)?;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or("a section of the component runs past its end")?;
        sections.push(Section {
            id,
            payload: &bytes[start..end],
        });
        at = end;
    }
    Ok(sections)
}

/// The name of a custom section.
fn custom_name(payload: &[u8]) -> Option<&[u8]> {
    let (len, start) = read_leb128(payload, 0).ok()?;
    payload.get(start..start.checked_add(len)?)
}

/// An unsigned LEB128 number at `at`, and where it ends.
fn read_leb128(bytes: &[u8], mut at: usize) -> Result<(usize, usize), String> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(at).ok_or("a section size runs past the end")?;
        at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
    }
    Err("a section size is too long".into())
}

/// Appends `value` as an unsigned LEB128 number.
fn leb128(mut value: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        eprintln!("usage: shrink <component.wasm> <output.wasm>");
        return std::process::ExitCode::FAILURE;
    };
    let (input, output) = (Path::new(input), Path::new(output));
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools");
    match shrink(input, output, &tools) {
        Ok(()) => {
            let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            println!(
                "{}: {} bytes → {}: {} bytes",
                input.display(),
                size(input),
                output.display(),
                size(output)
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
