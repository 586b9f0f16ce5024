#!/usr/bin/env bash
# Instructions per packet on the engine benches' workloads, counted by callgrind:
# repeatable whatever else the machine runs, unlike criterion's times.
#   core/engine/bench/instructions.sh [N]     (default N = 200000 packets per workload)
# Needs valgrind. Builds the `hot_path` example in release and counts only its `drive`
# function (the packets and the draining of their events; not building them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
n="${1:-200000}"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build --quiet --release -p nightjar-engine --example hot_path
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for mode in established new evicting; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$mode.out" \
        --toggle-collect='hot_path::drive*' \
        "$target/release/examples/hot_path" "$mode" "$n" 2>"$out/$mode.log"
    ir="$(sed -n 's/^==[0-9]*== Collected : //p' "$out/$mode.log" | tr -d ' ')"
    awk -v m="$mode" -v ir="$ir" -v n="$n" \
        'BEGIN { printf "%-12s %12d instructions for %d packets = %.1f per packet\n", m, ir, n, ir / n }'
done
