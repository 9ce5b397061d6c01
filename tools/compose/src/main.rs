//! `mcp-oauth-compose SOCKET.wasm PLUG.wasm OUT.wasm`: instantiates the
//! socket component with the plug's exports satisfying the socket's imports
//! of the same names (`wac plug SOCKET --plug PLUG -o OUT`), and writes the
//! composed component. Fails when the plug satisfies no import.

use anyhow::{bail, Context as _};
use wac_graph::types::Package;
use wac_graph::{plug, CompositionGraph, EncodeOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, plugged, out] = args.as_slice() else {
        bail!("usage: mcp-oauth-compose SOCKET.wasm PLUG.wasm OUT.wasm");
    };
    let mut graph = CompositionGraph::new();
    let socket = Package::from_file("socket", None, socket, graph.types_mut())
        .with_context(|| format!("reading {socket}"))?;
    let socket = graph.register_package(socket)?;
    let plugged = Package::from_file("plug:component", None, plugged, graph.types_mut())
        .with_context(|| format!("reading {plugged}"))?;
    let plugged = graph.register_package(plugged)?;
    plug(&mut graph, vec![plugged], socket)?;
    let bytes = graph.encode(EncodeOptions::default())?;
    std::fs::write(out, bytes).with_context(|| format!("writing {out}"))?;
    Ok(())
}
