#!/usr/bin/env bash
# Kotlin host tests of the UniFFI bindings. Installs what is missing (Debian's libjna-java,
# kotlinc from the npm package `kotlin-compiler` into the gitignored .tools/), builds the
# cdylib with the test features (and the CLI, for the replay comparison), checks
# bindings/generated is fresh, compiles Tests.kt against freshly generated bindings and runs
# it on the JVM. The last line is `N passed, M failed`; the exit status is non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bindings="$(cd "$here/.." && pwd)"
root="$(cd "$bindings/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
fixtures="${NIGHTJAR_FIXTURES:-$root/../shared/fixtures}"
# The install logic is shared with android-harness/host-tests/run.sh.
# shellcheck source=../../scripts/kotlin-tools.sh
source "$root/scripts/kotlin-tools.sh"
kotlin_tools_install "$root"
kotlin_home="$KOTLIN_HOME"
jna="$JNA_JAR"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. The committed bindings must equal a fresh generation from the default-feature library.
"$bindings/generate.sh" "$work/fresh" >/dev/null
if diff -r "$bindings/generated" "$work/fresh" >"$work/stale.diff"; then
    stale=false
else
    stale="$(head -c 400 "$work/stale.diff" | tr '\n' ' ')"
fi

# 2. The test build (debug_panic, debug_deliver_alert) and its bindings; this leaves the test
#    cdylib in target/debug for the JVM.
NIGHTJAR_FFI_FEATURES=test-panic,test-support "$bindings/generate.sh" "$work/gen" >/dev/null

# 3. What the CLI says about the replayed capture (generate.sh built the CLI too).
capture="$fixtures/pcap/pcapdroid/pcap/two_flows.pcap"
cli_json="$work/cli.json"
if [ -f "$capture" ]; then
    "$target/debug/nightjar" replay --json "$capture" >"$cli_json"
fi

# 4. The project's test server (built with the workspace's binaries above) on free loopback
#    ports, for the encrypted DNS upstream tests.
"$target/debug/nightjar-testserver" serve --bind 127.0.0.1 --any-ports --tls-name dns.test \
    --ca-out "$work/dns-ca.pem" >"$work/testserver.out" 2>&1 &
testserver=$!
trap 'kill "$testserver" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q '^ready' "$work/testserver.out" && break; sleep 0.1; done
port_of() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$work/testserver.out"; }

# 5. Compile and run.
K="$kotlin_home"
cp="$jna:$K/lib/kotlinx-coroutines-core-jvm.jar"
mapfile -t sources < <(find "$work/gen/kotlin" -name '*.kt')
"$K/bin/kotlinc" -nowarn "${sources[@]}" "$here/Tests.kt" -cp "$cp" -d "$work/tests.jar" 2>&1 \
    | grep -v '^warning:' >&2 || true
[ -f "$work/tests.jar" ] || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$work/tmp"
java -Djna.library.path="$target/debug" \
    -Dnightjar.fixtures="$fixtures" -Dnightjar.cliJson="$cli_json" \
    -Dnightjar.generatedStale="$stale" -Dnightjar.tmp="$work/tmp" \
    -Dnightjar.dot="127.0.0.1:$(port_of dot)" -Dnightjar.doh="127.0.0.1:$(port_of doh)" \
    -Dnightjar.dnsCa="$work/dns-ca.pem" \
    -cp "$work/tests.jar:$jna:$K/lib/kotlin-stdlib.jar:$K/lib/kotlinx-coroutines-core-jvm.jar" \
    TestsKt
