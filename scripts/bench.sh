#!/usr/bin/env bash
# The project's bench script (figures in docs/perf.md):
#   scripts/bench.sh [--no-criterion] [--runs N] [CAPTURE]
# 1. the engine's criterion benches (`--quick`) and its instruction counts (callgrind, when
#    valgrind is installed: core/engine/bench/instructions.sh);
# 2. with CAPTURE: `nightjar replay --logs` (release) against tshark extracting the same fields
#    from the same file (flows with Community ID, TLS/QUIC ClientHellos with SNI and ALPN, DNS
#    messages with answers, HTTP requests), side by side, N runs each (default 3), interleaved so
#    both see the same machine load. Prints CPU seconds (user + sys) and wall seconds, medians,
#    and the ratio tshark / nightjar. Skips tshark, saying so, when it is not installed.
# The machine is shared: quote `uptime` with the figures (printed first).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
criterion=true
runs=3
capture=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-criterion) criterion=false ;;
        --runs) runs="$2"; shift ;;
        *) capture="$1" ;;
    esac
    shift
done
cd "$root"
echo "uptime: $(uptime)"

if $criterion; then
    cargo bench --quiet -p nightjar-engine --bench engine -- --quick 2>&1 | grep -E 'time:|thrpt:|^engine' || true
    if command -v valgrind >/dev/null; then
        core/engine/bench/instructions.sh
    else
        echo "valgrind not installed: no instruction counts"
    fi
fi

[ -n "$capture" ] || exit 0
cargo build --quiet --release -p nightjar
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One run of a command: "cpu_seconds wall_seconds" (the children's user + sys time).
measure() {
    local start end
    start="$(date +%s.%N)"
    "$@" >/dev/null 2>&1
    end="$(date +%s.%N)"
    # `times` prints the shell's and its children's user/sys times (XmYs); the second line is the children's.
    times | awk -v s="$start" -v e="$end" 'NR == 2 {
        split($1, u, /[ms]/); split($2, y, /[ms]/);
        printf "%.3f %.3f\n", u[1] * 60 + u[2] + y[1] * 60 + y[2], e - s }'
}

nightjar_run() { "$target/release/nightjar" replay --logs "$work/logs" "$capture"; }
tshark_run() {
    tshark -r "$capture" -n -2 \
        --enable-protocol communityid \
        -o tcp.desegment_tcp_streams:TRUE -o tls.desegment_ssl_records:TRUE \
        -o ip.defragment:TRUE -o ipv6.defragment:TRUE \
        -Y 'tls.handshake.type==1 || dtls.handshake.type==1 || gquic.tag.sni || dns || http.request' \
        -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
        -e frame.number -e frame.time_epoch -e ip.src -e ipv6.src -e ip.dst -e ipv6.dst \
        -e ip.proto -e ipv6.nxt -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
        -e tcp.stream -e udp.stream -e communityid -e quic.version \
        -e tls.handshake.extensions_server_name -e dtls.handshake.extensions_server_name \
        -e gquic.tag.sni -e tls.handshake.extensions_alpn_str \
        -e dns.id -e dns.flags.response -e dns.qry.name -e dns.qry.type -e dns.flags.rcode \
        -e dns.a -e dns.aaaa -e dns.cname \
        -e http.request.method -e http.host -e http.request.uri
}

have_tshark=false
command -v tshark >/dev/null && have_tshark=true
$have_tshark || echo "tshark not installed: nightjar only (Debian: apt-get install tshark)"
for i in $(seq "$runs"); do
    # Each measurement in its own subshell, so `times` counts that command's children only.
    (measure nightjar_run) >>"$work/nightjar.times"
    if $have_tshark; then
        (measure tshark_run) >>"$work/tshark.times"
    fi
done
median() { sort -n -k"$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }
n_cpu="$(median "$work/nightjar.times" 1)"
n_wall="$(median "$work/nightjar.times" 2)"
echo "replay --logs $(basename "$capture"), median of $runs: nightjar ${n_cpu} s CPU, ${n_wall} s wall"
if $have_tshark; then
    t_cpu="$(median "$work/tshark.times" 1)"
    t_wall="$(median "$work/tshark.times" 2)"
    echo "                                  tshark   ${t_cpu} s CPU, ${t_wall} s wall"
    awk -v a="$t_cpu" -v b="$n_cpu" -v c="$t_wall" -v d="$n_wall" \
        'BEGIN { printf "tshark / nightjar: %.0fx CPU, %.0fx wall\n", a / b, c / d }'
fi
echo "uptime: $(uptime)"
