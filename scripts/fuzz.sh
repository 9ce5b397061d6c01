#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for N seconds each:
#
#   scripts/fuzz.sh 20
#
# The targets reach mcp-oauth-core only through its public API (see
# fuzz/src/lib.rs); any panic is a bug (in the guest it traps the instance),
# and so is an input that runs longer than 10 s (-timeout=10).
#
# - cargo-fuzz is installed into ~/.cargo/bin if missing (cargo install
#   --locked; about 30 s to 2 min);
# - the targets are built once, with nightly (cargo +nightly fuzz build),
#   with debug assertions and overflow checks, without a sanitizer (the core
#   has no unsafe code: AddressSanitizer would only halve the speed);
# - each target starts from a copy of its seeds, fuzz/corpus/<target>/, in a
#   temporary directory, so the committed seeds stay as they are;
# - a crash leaves its input in fuzz/artifacts/<target>/ (ignored by git);
#   reproduce it with `cargo +nightly fuzz run -s none <target> <artifact>`.
#
# Every target runs even after a crash; the script then exits 1, naming each
# crashed target and its artifact.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-}
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 <seconds-per-target>" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "[fuzz] the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "[fuzz] installing cargo-fuzz" >&2
    cargo +nightly install cargo-fuzz --locked
fi

cd fuzz
echo "[fuzz] building the targets" >&2
cargo +nightly fuzz build -s none >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo +nightly fuzz list); do
    corpus="$work/corpus-$target"
    mkdir -p "$corpus"
    if [ -d "corpus/$target" ]; then
        cp -R "corpus/$target/." "$corpus/"
    fi
    log="$work/$target.log"
    start=$(date +%s)
    if cargo +nightly fuzz run -s none "$target" "$corpus" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
        echo "[fuzz] $target: ok, ${runs:-?} runs in $(($(date +%s) - start)) s (${cov:-no coverage line})"
    else
        artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
        echo "[fuzz] $target: CRASH, artifact ${artifact:-(none written; see the log below)}"
        # The panic message and the libFuzzer summary.
        grep -E -A6 "panicked at|^==[0-9]+== ERROR|^SUMMARY" "$log" | head -40 | sed 's/^/    /'
        failed+=("$target: ${artifact:-no artifact}")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "[fuzz] FAILED: ${#failed[@]} target(s) crashed:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "[fuzz] all targets ran ${secs} s without a crash"
