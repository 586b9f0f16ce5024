#!/bin/sh
# Throughput of the relay against the plain veth path between the same
# namespaces, in one run (needs root, iperf3, ethtool, jq, bc):
#
#   relay:  device ns --TUN--> nightjar-netns (relay + engine) --veth--> far ns
#   veth:   device ns --veth--> far ns (offloads on, as the kernel sets them)
#   veth-nooffload: the same with TSO/GSO/GRO off on both ends, the fair
#           ceiling (a TUN gets no segmentation offload)
#
# For each path: 1 and 4 streams, upload (device -> far) and download
# (iperf3 -R). For the relay also CPU seconds per GB relayed and peak RSS of
# the relay process (from its --stats line).
#
# Usage: core/relay/bench/throughput.sh [SECONDS] [MTU]
# Build first: cargo build --release -p nightjar-relay (BIN=target/release).
set -eu
SECS=${1:-5}
MTU=${2:-1500}
BIN=${BIN:-target/release}
FAR=njbench-far
VDEV=njbench-veth
OUT=$(mktemp -d)
for tool in iperf3 ethtool jq bc; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$BIN/nightjar-netns" ] || { echo "build first: cargo build --release -p nightjar-relay" >&2; exit 1; }
cleanup() {
    ip link del njbv0 2>/dev/null || true
    ip netns pids $FAR 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $FAR 2>/dev/null || true
    ip netns del $VDEV 2>/dev/null || true
    ip netns del njbench-dev 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT INT TERM
cleanup
OUT=$(mktemp -d)

# Far side: reached from the outer namespace (where the relay dials) over
# njbv0/njbv1 and from the veth "device" over njbd0/njbd1.
ip netns add $FAR
ip netns add $VDEV
ip -n $FAR link set lo up
ip link add njbv0 type veth peer name njbv1
ip link set njbv1 netns $FAR
ip addr add 10.113.0.1/24 dev njbv0 && ip link set njbv0 mtu "$MTU" up
ip -n $FAR addr add 10.113.0.2/24 dev njbv1 && ip -n $FAR link set njbv1 mtu "$MTU" up
ip -n $VDEV link add njbd0 type veth peer name njbd1 netns $FAR
ip -n $VDEV addr add 10.114.0.1/24 dev njbd0 && ip -n $VDEV link set njbd0 mtu "$MTU" up
ip -n $FAR addr add 10.114.0.2/24 dev njbd1 && ip -n $FAR link set njbd1 mtu "$MTU" up
ip netns exec $FAR iperf3 -s -D >/dev/null
sleep 0.5

gbps() { jq -r '.end.sum_received.bits_per_second / 1e9' "$1"; }
bytes() { jq -r '.end.sum_received.bytes' "$1"; }
retr() { jq -r '.end.sum_sent.retransmits // 0' "$1"; }

# iperf3 args per case: streams and direction.
cases="1:up 1:down 4:up 4:down"
opts() {
    n=${1%%:*}; d=${1##*:}
    r=""; [ "$d" = down ] && r="-R"
    echo "-P $n $r -t $SECS -J"
}

offload_set() {
    ip netns exec $VDEV ethtool -K njbd0 tso "$1" gso "$1" gro "$1" >/dev/null
    ip netns exec $FAR ethtool -K njbd1 tso "$1" gso "$1" gro "$1" >/dev/null
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  mtu $MTU  ${SECS}s per case"
printf '%-16s %-8s %8s %8s %8s %8s %10s %10s\n' path case Gbps retrans ratio ratio-nooff cpu-s/GB peakRSS

run_veth() {
    label=$1; c=$2
    # shellcheck disable=SC2046
    ip netns exec $VDEV iperf3 -c 10.114.0.2 $(opts "$c") >"$OUT/$label-$c.json"
}
for c in $cases; do
    offload_set on; run_veth veth "$c"
    offload_set off; run_veth veth-nooffload "$c"
    # shellcheck disable=SC2046
    "$BIN/nightjar-netns" --stats --mtu "$MTU" --ns njbench-dev --tun njbtun0 -- \
        iperf3 -c 10.113.0.2 $(opts "$c") >"$OUT/relay-$c.json" 2>"$OUT/relay-$c.err"
    for label in veth veth-nooffload relay; do
        f="$OUT/$label-$c.json"
        g=$(gbps "$f")
        line=$(printf '%-16s %-8s %8.3f %8s' "$label" "$c" "$g" "$(retr "$f")")
        if [ "$label" = relay ]; then
            e="$OUT/relay-$c.err"
            cpu=$(sed -n 's/.*cpu_seconds=\([0-9.]*\).*/\1/p' "$e")
            rss=$(sed -n 's/.*peak_rss=\([0-9]* kB\).*/\1/p' "$e")
            by=$(bytes "$f")
            ratio=$(echo "$g / $(gbps "$OUT/veth-$c.json")" | bc -l)
            rnooff=$(echo "$g / $(gbps "$OUT/veth-nooffload-$c.json")" | bc -l)
            cpg=$(echo "$cpu / ($by / 1000000000)" | bc -l)
            line=$(printf '%s %8.2f %8.2f %10.2f %10s' "$line" "$ratio" "$rnooff" "$cpg" "$rss")
        fi
        echo "$line"
    done
done
echo "ratio = relay / veth; ratio-nooff = relay / veth without TSO/GSO/GRO; retrans = sender-side TCP retransmits"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
