#!/usr/bin/env bash
# Regenerates the Swift and Kotlin bindings with the workspace's pinned uniffi-bindgen.
#   bindings/generate.sh            writes bindings/generated/{swift,kotlin} (committed)
#   bindings/generate.sh OUT_DIR    writes OUT_DIR/{swift,kotlin} (the staleness test uses this)
# Extra cargo features for the library (test builds) come from NIGHTJAR_FFI_FEATURES.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/generated}"
features="bindgen${NIGHTJAR_FFI_FEATURES:+,$NIGHTJAR_FFI_FEATURES}"
target="${CARGO_TARGET_DIR:-$root/target}"

cd "$root"
cargo build --quiet -p nightjar-ffi --features "$features" --lib --bin uniffi-bindgen
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
