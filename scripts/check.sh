#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what it needs first, so it works
# on a fresh machine of the project's kind (Debian, x86-64, Rust via rustup).
#
#   scripts/check.sh            everything
#   scripts/check.sh --quick    skip the slow stages (fuzz corpus replay)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

# Each stage prints how long the one before it took, so the CI budget can be read off the log.
stage_start=$SECONDS
step() {
  printf '    (%ds)\n\n==> %s\n' "$((SECONDS - stage_start))" "$*"
  stage_start=$SECONDS
}

# Third-party fixtures live beside the repository, never in it. Tests that need
# them skip with a visible message when they are absent.
if [ -z "${NIGHTJAR_FIXTURES:-}" ] && [ -d ../shared/fixtures ]; then
  NIGHTJAR_FIXTURES="$(cd ../shared/fixtures && pwd)"
fi
export NIGHTJAR_FIXTURES="${NIGHTJAR_FIXTURES:-}"
[ -n "$NIGHTJAR_FIXTURES" ] || echo "note: no fixtures found; fixture tests will report themselves SKIPPED"

step "toolchain"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }
# rust-toolchain.toml pins the version; rustup installs it (and clippy, rustfmt) if missing.
cargo --version
if ! command -v cargo-nextest >/dev/null; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

step "format"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
# The pinned generator's package (a three-line main calling uniffi) is left out: linting it
# means checking uniffi_bindgen's own crates, 23% of this stage's CPU (docs/perf.md, "CI time").
cargo clippy --workspace --exclude nightjar-uniffi-bindgen --all-targets -- -D warnings

step "docs: cargo doc --workspace --no-deps, warnings are errors"
# After clippy on purpose: the dependencies' metadata it checked is reused, so this costs the
# workspace's own rustdoc runs only.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "cargo deny: licences, bans, sources (deny.toml; advisories need the RustSec git database)"
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny
# deny reads the metadata of every platform's dependencies (windows-sys, android_log-sys, ...),
# which a Linux build never downloads: fetch them first, or --offline fails on a fresh machine.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources

step "chromium: the report's browser tests (they report SKIPPED without it)"
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
      echo "note: chromium could not be installed; the report's browser tests will report SKIPPED"
  else
    echo "note: not root, chromium not installed; the report's browser tests will report SKIPPED"
  fi
fi
command -v chromium >/dev/null && chromium --version 2>/dev/null || true

step "tests"
# The relay's end-to-end tests (root only) download over HTTP/HTTPS with curl.
if [ "$(id -u)" = 0 ] && ! command -v curl >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq curl; } ||
    echo "note: no curl; the relay's HTTP/HTTPS end-to-end tests will report SKIPPED"
fi
# The name tests compare generated captures (tunnels, QUIC variants, DNS escapes) with live tshark.
if [ "$(id -u)" = 0 ] && ! command -v tshark >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark; } ||
    echo "note: no tshark; the live tshark comparisons of generated captures will report SKIPPED"
fi
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc

step "bindings: Kotlin host tests on the JVM (installs kotlinc and JNA if missing)"
bindings/kotlin-tests/run.sh

step "android-harness: the plain-Kotlin logic's JUnit tests on the JVM"
android-harness/host-tests/run.sh

# The full aarch64 proof (every test under qemu, iOS and Android staticlibs) is
# `scripts/cross-check.sh`; it takes longer than CI has, so CI runs its smallest subset.
step "aarch64: nightjar-wire's tests under qemu (the CI subset of scripts/cross-check.sh)"
scripts/cross-check.sh --ci --linux

if [ "$quick" = 0 ]; then
  step "fuzz: replay every corpus, then a short budget per target"
  if ! rustup toolchain list | grep -q '^nightly'; then
    echo "SKIPPED fuzz: no nightly toolchain (cargo-fuzz needs one)"
  else
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
    fuzz/run.sh --seconds "${NIGHTJAR_FUZZ_SECONDS:-5}"
  fi
fi

step "done (total ${SECONDS}s)"
