# Sourced (not run) by the scripts that compile Kotlin on the host JVM:
# bindings/kotlin-tests/run.sh and android-harness/host-tests/run.sh.
#
#   source scripts/kotlin-tools.sh
#   kotlin_tools_install "$root" [junit]
#
# Installs what is missing and sets KOTLIN_HOME (kotlinc from the npm package
# `kotlin-compiler`, unpacked into the gitignored .tools/), JNA_JAR (Debian's libjna-java)
# and, when `junit` is asked for, JUNIT_CP (Debian's junit4 with hamcrest).
# Progress goes to stderr so callers can keep stdout for results.

KOTLIN_VERSION="2.4.20"

kotlin_tools_install() {
    local root="$1" want_junit="${2:-}"
    local tools="$root/.tools"
    local apt_missing=()
    KOTLIN_HOME="$tools/kotlinc-$KOTLIN_VERSION"
    JNA_JAR=/usr/share/java/jna.jar
    JUNIT_CP=/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar

    [ -f "$JNA_JAR" ] || apt_missing+=(libjna-java)
    if [ "$want_junit" = junit ] && [ ! -f /usr/share/java/junit4.jar ]; then
        apt_missing+=(junit4)
    fi
    if [ "${#apt_missing[@]}" -gt 0 ]; then
        echo "installing ${apt_missing[*]}" >&2
        # A fresh machine's package lists may be empty or stale.
        apt-get update -qq >&2 || true
        apt-get install -y -o DPkg::Lock::Timeout=300 "${apt_missing[@]}" >&2
    fi
    if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ]; then
        echo "installing kotlin-compiler@$KOTLIN_VERSION into $tools" >&2
        mkdir -p "$tools"
        (cd "$tools" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null \
            && rm -rf package && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz" \
            && mv package "$KOTLIN_HOME")
    fi
}
