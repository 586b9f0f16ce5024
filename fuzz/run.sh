#!/usr/bin/env bash
# Build the fuzz targets, generate seed corpora if missing, replay every
# target's corpus, and optionally fuzz each target for a short budget.
#
#   fuzz/run.sh --replay-only      build + replay (CI smoke test)
#   fuzz/run.sh --seconds N        build + replay + N seconds of fuzzing per target
#   fuzz/run.sh --seconds N T...   the same for the named targets only
#
# Exits non-zero if any target crashes; crash inputs are left in fuzz/artifacts/<target>/.
# Needs cargo-fuzz and a nightly toolchain (TOOLCHAIN, default "nightly").
# CORPUS=DIR keeps the corpora elsewhere (default fuzz/corpus).
set -euo pipefail

cd "$(dirname "$0")"
toolchain="${TOOLCHAIN:-nightly}"
corpus="${CORPUS:-corpus}"
seconds=0
case "${1:-}" in
    --replay-only) shift ;;
    --seconds)
        seconds="${2:?--seconds needs a number}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,12p' "$0"
        exit 0
        ;;
esac

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list | grep -vx make_seeds)
fi

start=$(date +%s)
cargo "+$toolchain" fuzz build

# Seeds derive from third-party captures: generated here, never committed.
missing=0
for t in "${targets[@]}"; do
    if [ -z "$(ls -A "$corpus/$t" 2>/dev/null)" ]; then missing=1; fi
done
if [ "$missing" = 1 ]; then
    cargo run --release --quiet --bin make_seeds -- "$corpus"
fi

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t" "artifacts/$t"
    echo "== $t: replay $(ls "$corpus/$t" | wc -l) inputs"
    if ! cargo "+$toolchain" fuzz run "$t" "$corpus/$t" -- -runs=0 2>"artifacts/$t/replay.log"; then
        tail -n 40 "artifacts/$t/replay.log"
        failed+=("$t (replay)")
        continue
    fi
    if [ "$seconds" -gt 0 ]; then
        echo "== $t: fuzz ${seconds}s"
        if ! cargo "+$toolchain" fuzz run "$t" "$corpus/$t" -- \
            -max_total_time="$seconds" -print_final_stats=1 2>"artifacts/$t/fuzz.log"; then
            tail -n 40 "artifacts/$t/fuzz.log"
            failed+=("$t (fuzz)")
            continue
        fi
        grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "artifacts/$t/fuzz.log" || true
    fi
done

echo "== ${#targets[@]} targets in $(( $(date +%s) - start ))s"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "no crashes"
