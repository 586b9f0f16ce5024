#!/usr/bin/env bash
# Regenerates the Swift and Kotlin bindings with the workspace's pinned uniffi-bindgen.
#   bindings/generate.sh            writes bindings/generated/{swift,kotlin} (committed)
#   bindings/generate.sh OUT_DIR    writes OUT_DIR/{swift,kotlin} (the staleness test uses this)
# Extra cargo features for the library (test builds) come from NIGHTJAR_FFI_FEATURES.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/generated}"
features=()
if [ -n "${NIGHTJAR_FFI_FEATURES:-}" ]; then
    features=(--features "$(printf 'nightjar-ffi/%s,' ${NIGHTJAR_FFI_FEATURES//,/ } | sed 's/,$//')")
fi
target="${CARGO_TARGET_DIR:-$root/target}"

cd "$root"
# The whole workspace with its tests, not `-p nightjar-ffi`: cargo resolves features per
# invocation, and this selection resolves them as the test run (`cargo nextest run
# --workspace`) does, so after it only the cdylib and the binaries are new. A `-p` build
# resolved them anew and rebuilt some 60 crates (docs/perf.md, "CI time"). This also builds
# the CLI, which the Kotlin tests compare against.
cargo build --quiet --workspace --lib --bins --tests "${features[@]}"
lib="$target/debug/libnightjar_ffi.so"
[ -f "$lib" ] || lib="$target/debug/libnightjar_ffi.dylib"

rm -rf "$out/swift" "$out/kotlin"
mkdir -p "$out/swift" "$out/kotlin"
for lang in swift kotlin; do
    # --no-format: the output must not depend on whether ktlint/swiftformat are installed.
    "$target/debug/uniffi-bindgen" generate --no-format --library "$lib" \
        --language "$lang" --out-dir "$out/$lang" >/dev/null
done
echo "bindings written to $out"
