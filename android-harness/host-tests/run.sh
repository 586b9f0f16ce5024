#!/usr/bin/env bash
# The library's Android-free logic (org.nightjar.vpn.core: /proc/net parsing and owner
# lookup, batching and backpressure, the ingest loop, inventory diffing, Private DNS and
# lockdown classification) compiled with kotlinc and its JUnit tests (src/test) run on the
# host JVM: no Gradle, no Android SDK. Installs kotlinc and JUnit when missing (shared with
# bindings/kotlin-tests/run.sh through scripts/kotlin-tools.sh). The last line is
# `N passed, M failed, K skipped`; the exit status is non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/../nightjar-vpn"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../../scripts/kotlin-tools.sh
source "$root/scripts/kotlin-tools.sh"
kotlin_tools_install "$root" junit

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
K="$KOTLIN_HOME"
mapfile -t main_sources < <(find "$module/src/main/kotlin/org/nightjar/vpn/core" -name '*.kt' | sort)
mapfile -t test_sources < <(find "$module/src/test/kotlin" -name '*Test.kt' | sort)
"$K/bin/kotlinc" -nowarn "${main_sources[@]}" "${test_sources[@]}" "$here/HostMain.kt" \
    -cp "$JUNIT_CP" -d "$work/tests.jar" 2>&1 | grep -v '^warning:' >&2 || true
[ -f "$work/tests.jar" ] || { echo "0 passed, 1 failed"; exit 1; }
# Test classes: one per `class XxxTest` in the test sources.
mapfile -t classes < <(grep -ho '^class [A-Za-z0-9_]*Test\b' "${test_sources[@]}" \
    | awk '{print "org.nightjar.vpn.core." $2}' | sort)
java -cp "$work/tests.jar:$JUNIT_CP:$K/lib/kotlin-stdlib.jar" HostMainKt "${classes[@]}"
