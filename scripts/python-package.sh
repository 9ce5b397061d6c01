#!/usr/bin/env bash
# The Python package (python/, import name mcp_oauth), tested as a user gets it:
# a venv (interop/.venv-pkg) with `pip install './python[haystack,test]'` — its
# build hook runs cargo for the component, a no-op when the host tests already
# built it into target/guest —, its unit tests (pytest), then its scenarios
# against the real servers (interop/python-package.test.mjs: oidc-provider and
# the official SDK servers, the Rust CLI sharing its state file, mcp-haystack).
# Called by scripts/interop.sh after interop/setup.sh and the CLI build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=interop/.venv-pkg
if [[ ! -x $venv/bin/python ]]; then
  echo "[python package] creating the venv $venv ($(${PYTHON:-python3} --version))"
  "${PYTHON:-python3}" -m venv "$venv"
fi
echo "[python package] pip install './python[haystack,test]'"
# The component is built the way host-test/build.rs builds it (same command,
# same target directory), so cargo finds it up to date.
CARGO_TARGET_DIR="$PWD/target/guest" "$venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check './python[haystack,test]'
echo "== python package: unit tests (pytest)"
(cd python && "../$venv/bin/python" -m pytest -q -p no:cacheprovider)
echo "== python package: real servers (node --test interop/python-package.test.mjs)"
MCP_OAUTH_PYTHON="$PWD/$venv/bin/python" node --test --test-concurrency=1 interop/python-package.test.mjs
