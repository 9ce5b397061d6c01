#!/usr/bin/env bash
# Idempotent setup of the interop stack: npm deps (from package-lock.json) and a Python venv (.venv).
# Fast no-op when already done. Re-installs when package-lock.json / requirements.txt change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

sha() { sha256sum "$1" | cut -d' ' -f1; }

lock_sha=$(sha package-lock.json)
if [[ ! -d node_modules || ! -f node_modules/.interop-lock-sha || "$(cat node_modules/.interop-lock-sha)" != "$lock_sha" ]]; then
  echo "[interop setup] npm ci (node_modules missing or stale vs package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sha" > node_modules/.interop-lock-sha
else
  echo "[interop setup] node_modules up to date"
fi

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
