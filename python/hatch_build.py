"""Hatchling build hook: puts the mcp-oauth component in the package.

The wheel (and the sdist) carry `mcp_oauth/mcp_oauth.wasm`, the component
that `cargo build --release --locked --target wasm32-wasip2 -p mcp-oauth`
makes at the repository root. Where it comes from, in order:

1. `$MCP_OAUTH_WASM`, a component built elsewhere;
2. `src/mcp_oauth/mcp_oauth.wasm`, as an sdist ships it;
3. the repository this directory is in: cargo builds it (a no-op when it is
   up to date); without cargo, an existing build is used.

A build that finds none stops with an error that says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CARGO_ARGS = ["build", "--release", "--locked", "--target", "wasm32-wasip2", "-p", "mcp-oauth"]
PACKAGED = "mcp_oauth/mcp_oauth.wasm"


class ComponentHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        wasm = self._component()
        target = PACKAGED if self.target_name == "wheel" else f"src/{PACKAGED}"
        build_data["force_include"][str(wasm)] = target

    def _component(self) -> Path:
        given = os.environ.get("MCP_OAUTH_WASM")
        if given:
            path = Path(given)
            if not path.is_file():
                raise RuntimeError(f"MCP_OAUTH_WASM={given} is not a file")
            return path
        shipped = Path(self.root, "src", PACKAGED)
        if shipped.is_file():
            return shipped
        repo = Path(self.root).resolve().parent
        if not (repo / "Cargo.toml").is_file() or not (repo / "wit" / "world.wit").is_file():
            raise RuntimeError(
                "the mcp-oauth component is missing: build from the mcp-oauth repository "
                "(python/ inside it), or set MCP_OAUTH_WASM to a built mcp_oauth.wasm"
            )
        target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or "target")
        if not target_dir.is_absolute():
            target_dir = repo / target_dir
        built = target_dir / "wasm32-wasip2" / "release" / "mcp_oauth.wasm"
        cargo = shutil.which("cargo")
        if cargo is None:
            if built.is_file():
                self.app.display_warning(f"cargo not found: packaging the existing {built}")
                return built
            raise RuntimeError(
                "building the mcp-oauth component needs Rust (rustup) with the wasm32-wasip2 "
                "target: `rustup target add wasm32-wasip2`, then install again"
            )
        self.app.display_info(f"building the component: cargo {' '.join(CARGO_ARGS)}")
        done = subprocess.run([cargo, *CARGO_ARGS], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"cargo {' '.join(CARGO_ARGS)} failed in {repo} (is the wasm32-wasip2 target "
                f"installed? `rustup target add wasm32-wasip2`):\n{done.stdout[-4000:]}"
            )
        if not built.is_file():
            raise RuntimeError(f"cargo succeeded but {built} is missing (CARGO_TARGET_DIR?)")
        return built
