#!/usr/bin/env bash
# Proves the arm64 build on an x86-64 Debian machine with no Apple or Android SDK:
#
#   1. linux: builds the workspace and its test suite for aarch64-unknown-linux-gnu with
#      Debian's rustc-web and runs the tests under qemu-aarch64 (user-mode emulation);
#   2. mobile: compiles the bindings crate (nightjar-ffi) as a release staticlib for
#      aarch64-apple-ios and aarch64-linux-android with -Zbuild-std, C code (ring, bundled
#      SQLite) compiled by clang against the libc headers the PyPI package `ziglang` ships,
#      the `oslog` feature off (it needs the iOS SDK); reports each library's size as built
#      and with debug info stripped.
#
#   scripts/cross-check.sh            both, the whole workspace (long: see docs/perf.md)
#   scripts/cross-check.sh --ci       the CI subset: nightjar-wire's tests under qemu (with
#                                     --mobile: `cargo check` of nightjar-ffi for Android)
#   scripts/cross-check.sh --linux    only step 1 (combines with --ci)
#   scripts/cross-check.sh --mobile   only step 2 (combines with --ci)
#   scripts/cross-check.sh --ios | --android   only step 2, one target
#
# Installs what it needs (apt: rustc-web, cargo-web, libstd-rust-web-dev:arm64, rust-web-src,
# gcc-aarch64-linux-gnu, qemu-user, clang-22, llvm-22; pip: ziglang into .tools/ziglang) and is
# idempotent. Builds go to target/cross (or $NIGHTJAR_CROSS_TARGET_DIR) so they never contend
# with the host build's artifacts. The mobile libraries prove the code compiles for the
# target; they are not shippable (macOS and musl headers stand in for the iOS SDK and
# bionic): release builds use ios-harness/build-xcframework.sh on macOS and cargo-ndk
# (android-harness/) with the NDK.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ci=0
only_target=
do_linux=1
do_mobile=1
for arg in "$@"; do
    case "$arg" in
        --ci) ci=1 ;;
        --linux) do_mobile=0 ;;
        --mobile) do_linux=0 ;;
        --ios) do_linux=0; only_target=aarch64-apple-ios ;;
        --android) do_linux=0; only_target=aarch64-linux-android ;;
        -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }
# Wall-clock seconds of the command, printed after it.
timed() {
    local label="$1" start end
    shift
    start=$(date +%s)
    "$@"
    end=$(date +%s)
    printf 'TIME %s: %ss\n' "$label" "$((end - start))"
}

# Registers Debian's qemu-aarch64 binfmt_misc handler (package qemu-user-binfmt) when it is
# missing and we are root; otherwise says which tests cannot run and why.
register_binfmt() {
    local handler=/proc/sys/fs/binfmt_misc/qemu-aarch64 conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ -e "$handler" ] && grep -qx enabled "$handler"; then
        echo "binfmt_misc: qemu-aarch64 handler present"
        return
    fi
    if [ "$(id -u)" = 0 ] && [ -r "$conf" ]; then
        [ -e /proc/sys/fs/binfmt_misc/register ] ||
            mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
        if [ -e /proc/sys/fs/binfmt_misc/register ] &&
            { [ -e "$handler" ] || cat "$conf" >/proc/sys/fs/binfmt_misc/register 2>/dev/null; }; then
            [ -e "$handler" ] && echo 1 >"$handler" 2>/dev/null || true
            echo "binfmt_misc: registered the qemu-aarch64 handler from $conf"
            return
        fi
    fi
    echo "note: no qemu-aarch64 binfmt_misc handler (needs root, or mount/register refused):"
    echo "      tests that spawn aarch64 children cannot run and say SKIPPED:"
    echo "      nightjar-relay --test e2e (all of it; it also needs root for namespaces)"
}

tools="$root/.tools"
export CARGO_TARGET_DIR="${NIGHTJAR_CROSS_TARGET_DIR:-$root/target/cross}"

# ---------------------------------------------------------------------------------------------
# Installation (each part only when missing)
# ---------------------------------------------------------------------------------------------
apt_packages=(rustc-web cargo-web rust-web-src clang-22 llvm-22)
[ "$do_linux" = 1 ] && apt_packages+=(libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
    libc6-dev-arm64-cross qemu-user qemu-user-binfmt)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

# Debian's toolchain (1.96, with the arm64 std and the std sources); rustup's stays first on
# PATH for everything else, so name Debian's by full path.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
cargo=/usr/bin/cargo
"$RUSTC" --version

# ---------------------------------------------------------------------------------------------
# 1. aarch64 Linux: build the tests, run them under qemu
# ---------------------------------------------------------------------------------------------
if [ "$do_linux" = 1 ]; then
    step "aarch64-unknown-linux-gnu: build the test suite, run it under qemu-aarch64"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    # Plain runner: `-L /usr/aarch64-linux-gnu` makes thread spawns hang (platform-recipes).
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
    # Tests read it to leave out what emulation distorts (a process's RSS includes qemu's).
    export NIGHTJAR_EMULATED=qemu-aarch64
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # Fixture tests read the fixtures by absolute path (test binaries run from their crate).
    if [ -z "${NIGHTJAR_FIXTURES:-}" ] && [ -d "$root/../shared/fixtures" ]; then
        NIGHTJAR_FIXTURES="$(cd "$root/../shared/fixtures" && pwd)"
    fi
    export NIGHTJAR_FIXTURES="${NIGHTJAR_FIXTURES:-}"
    # The cargo runner wraps only the test binary. Tests that spawn another of the build's
    # binaries (the relay's end-to-end tests run `ip netns exec NS nightjar-testserver`) need
    # the kernel to run aarch64 executables itself: binfmt_misc with qemu's handler.
    register_binfmt
    if [ "$ci" = 1 ]; then
        # The packet views every packet meets. (wire + engine + dns + dissect took 15m44s of
        # CPU to build clean, wire + dns did not fit either: the whole CI run must stay well
        # under 30 minutes on 2 cores.)
        packages=(-p nightjar-wire)
    else
        packages=(--workspace)
    fi
    # Doc tests are left out: running them for another target needs -Zdoctest-xcompile.
    timed "aarch64 linux test build" \
        "$cargo" test --target aarch64-unknown-linux-gnu "${packages[@]}" --lib --bins --tests --no-run
    timed "aarch64 linux tests under qemu" \
        "$cargo" test --target aarch64-unknown-linux-gnu "${packages[@]}" --lib --bins --tests \
        --no-fail-fast
fi

# ---------------------------------------------------------------------------------------------
# 2. Mobile staticlibs with -Zbuild-std
# ---------------------------------------------------------------------------------------------
if [ "$do_mobile" = 1 ]; then
    zig_pkg="$tools/ziglang"
    if [ ! -d "$zig_pkg/ziglang/lib/libc/include" ]; then
        step "installing the ziglang wheel (libc headers) into $zig_pkg"
        python3 -m pip install --quiet --disable-pip-version-check --target "$zig_pkg" ziglang
    fi
    zl="$zig_pkg/ziglang/lib/libc/include"
    empty="$tools/empty-sysroot"
    mkdir -p "$empty"
    export RUSTC_BOOTSTRAP=1
    # clang 22 (LLVM as rustc-web's): clang 14 misreads the macOS headers recent zig wheels ship
    # (`__is_target_environment(kernelkit)` holds for any unknown environment there).
    # cc-rs asks xcrun for an SDK unless SDKROOT is set; an empty one makes it use the flags.
    export SDKROOT="$empty"
    export CC_aarch64_apple_ios=clang-22 AR_aarch64_apple_ios=llvm-ar-22
    export CFLAGS_aarch64_apple_ios="-isystem $zl/any-darwin-any"
    export CC_aarch64_linux_android=clang-22 AR_aarch64_linux_android=llvm-ar-22
    export CFLAGS_aarch64_linux_android="--sysroot=$empty -D_GNU_SOURCE -isystem $zl/aarch64-linux-musl -isystem $zl/generic-musl -isystem $zl/any-linux-any"

    if [ -n "$only_target" ]; then
        targets=("$only_target")
    elif [ "$ci" = 1 ]; then
        targets=(aarch64-linux-android)
    else
        targets=(aarch64-apple-ios aarch64-linux-android)
    fi
    if [ "$ci" = 1 ] && [ -z "$only_target" ]; then
        # The CI budget has no room for a release build of std and every dependency with
        # LTO: check the Android target instead. Build scripts still run, so the C code
        # (ring, bundled SQLite) is compiled for it, and the android_logger path is checked.
        for t in "${targets[@]}"; do
            step "$t: cargo check of nightjar-ffi (-Zbuild-std)"
            timed "$t check" "$cargo" check -p nightjar-ffi --lib -Zbuild-std=std,panic_abort --target "$t"
        done
        targets=()
    fi
    for t in "${targets[@]}"; do
        step "$t: nightjar-ffi as a release staticlib (-Zbuild-std)"
        timed "$t staticlib" \
            "$cargo" rustc -p nightjar-ffi --lib --crate-type staticlib --release \
            -Zbuild-std=std,panic_abort --target "$t"
        lib="$CARGO_TARGET_DIR/$t/release/libnightjar_ffi.a"
        [ -f "$lib" ] || { echo "FAILED: $lib was not written" >&2; exit 1; }
        # Stripping debug info only: an archive stripped of its symbols could not be linked.
        llvm-strip-22 --strip-debug -o "$lib.stripped" "$lib"
        # The archive must hold the exported FFI, not an empty shell.
        # (Read into a variable first: `nm | grep -q` fails under pipefail when grep exits early.)
        symbols="$(llvm-nm-22 --defined-only "$lib.stripped" 2>/dev/null || true)"
        grep -q 'uniffi_nightjar_ffi_fn_constructor_nightjarengine_new' <<<"$symbols" \
            || { echo "FAILED: $t staticlib does not define the engine constructor" >&2; exit 1; }
        unset symbols
        printf 'SIZE %s: %s bytes as built, %s bytes debug-stripped\n' "$t" \
            "$(stat -c %s "$lib")" "$(stat -c %s "$lib.stripped")"
    done
fi

step "cross-check passed"
