#!/usr/bin/env bash
# Builds the Rust side of the iOS harness on macOS (Xcode and rustup needed):
#
#   build/NightjarFFIFFI.xcframework   libnightjar_ffi.a for aarch64-apple-ios (device) and
#                                      aarch64-apple-ios-sim + x86_64-apple-ios (simulator,
#                                      one fat library), with the generated C header and
#                                      module map
#   Sources/NightjarFFI/NightjarFFI.swift   the generated Swift bindings, copied
#
#   ios-harness/build-xcframework.sh [--debug]
#
# Release builds have the `oslog` feature on (Nightjar's log goes to the unified log; it
# needs the iOS SDK, which Xcode provides). The Swift file and header come from
# bindings/generated (committed, checked for staleness by the bindings' tests).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile=release
cargo_profile=(--release)
if [ "${1:-}" = "--debug" ]; then profile=debug; cargo_profile=(); fi

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode (see ../scripts/cross-check.sh for the Linux compile check)" >&2; exit 2; }
command -v xcodebuild >/dev/null || { echo "xcodebuild not found: install Xcode" >&2; exit 2; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}" >/dev/null
export IPHONEOS_DEPLOYMENT_TARGET=15.0
target_dir="${CARGO_TARGET_DIR:-$root/target}"
for t in "${targets[@]}"; do
    echo "==> $t ($profile)"
    start=$(date +%s)
    (cd "$root" && cargo build -p nightjar-ffi --lib --features oslog --target "$t" "${cargo_profile[@]}")
    echo "    $(($(date +%s) - start)) s, $(stat -f %z "$target_dir/$t/$profile/libnightjar_ffi.a") bytes"
done

out="$here/build"
rm -rf "$out/NightjarFFIFFI.xcframework" "$out/headers" "$out/sim"
mkdir -p "$out/headers" "$out/sim"
cp "$root/bindings/generated/swift/NightjarFFIFFI.h" "$out/headers/"
# An xcframework's headers directory wants the module map under this name.
cp "$root/bindings/generated/swift/NightjarFFIFFI.modulemap" "$out/headers/module.modulemap"
lipo -create \
    "$target_dir/aarch64-apple-ios-sim/$profile/libnightjar_ffi.a" \
    "$target_dir/x86_64-apple-ios/$profile/libnightjar_ffi.a" \
    -output "$out/sim/libnightjar_ffi.a"
xcodebuild -create-xcframework \
    -library "$target_dir/aarch64-apple-ios/$profile/libnightjar_ffi.a" -headers "$out/headers" \
    -library "$out/sim/libnightjar_ffi.a" -headers "$out/headers" \
    -output "$out/NightjarFFIFFI.xcframework"

mkdir -p "$here/Sources/NightjarFFI"
cp "$root/bindings/generated/swift/NightjarFFI.swift" "$here/Sources/NightjarFFI/"
# Sizes as shipped: debug info stripped (the app's own link strips further).
for lib in "$target_dir/aarch64-apple-ios/$profile/libnightjar_ffi.a" "$out/sim/libnightjar_ffi.a"; do
    cp "$lib" "$out/stripped.a" && strip -S "$out/stripped.a"
    echo "SIZE $(basename "$(dirname "$(dirname "$lib")")"): $(stat -f %z "$out/stripped.a") bytes debug-stripped"
done
rm -f "$out/stripped.a"
echo "==> $out/NightjarFFIFFI.xcframework"
