#!/usr/bin/env bash
# Coverage-guided fuzzing (atheris / libFuzzer) of the protocol parser and the audio decoders.
#
#   scripts/fuzz.sh [N] [TARGET...]     N inputs per target (default 100000);
#                                       targets: protocol audio (default: both)
#
# Environment: FUZZ_DIR (default build/fuzz: corpora, logs, crash inputs),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang, default 5),
# FUZZ_RSS_MB (memory ceiling of the fuzzing process, default 2048).
# The corpus in FUZZ_DIR/corpus/TARGET grows across runs; delete it to start over.
# Exit status: 0 when every target ran N inputs without a crash, hang or OOM;
# otherwise libFuzzer's status, with the input saved as FUZZ_DIR/artifacts/TARGET-crash-*.
set -euo pipefail

N="${1:-100000}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(protocol audio)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FUZZ_DIR:-$ROOT/build/fuzz}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT/artifacts"

for target in "${TARGETS[@]}"; do
    script="$ROOT/tests/fuzz/fuzz_${target}.py"
    [ -f "$script" ] || { echo "fuzz.sh: no fuzzer $script" >&2; exit 2; }
    corpus="$OUT/corpus/$target"
    "$PY" "$script" --write-seeds "$corpus" 2>"$OUT/$target.seeds.log"
    args=(
        "-runs=$N"
        "-timeout=${FUZZ_TIMEOUT:-5}"
        "-rss_limit_mb=${FUZZ_RSS_MB:-2048}"
        "-artifact_prefix=$OUT/artifacts/$target-"
        "-print_final_stats=1"
    )
    if [ "$target" = protocol ]; then
        # Long enough for a 5000-digit number (json.loads' int limit is 4300).
        args+=("-dict=$ROOT/tests/fuzz/protocol.dict" "-max_len=8192")
    else
        args+=("-max_len=65536")
    fi
    log="$OUT/$target.log"
    start=$(date +%s)
    set +e
    (cd "$OUT" && "$PY" "$script" "${args[@]}" "$corpus") >"$log" 2>&1
    status=$?
    set -e
    secs=$(( $(date +%s) - start ))
    done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)
    cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' || true)
    peak=$(grep -E '^stat::peak_rss_mb' "$log" | awk '{print $2}' || true)
    if [ $status -ne 0 ]; then
        echo "fuzz $target: FAILED (status $status) after ${secs}s; log: $log"
        grep -E '==[0-9]+== ERROR|Uncaught Python exception|Traceback|Error|artifact' "$log" | head -20 || true
        exit $status
    fi
    echo "fuzz $target: ${done_line:-done} (${secs}s wall), ${cov:-cov n/a}, peak RSS ${peak:-?} MB, no crash/hang/OOM"
done
