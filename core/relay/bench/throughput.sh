#!/bin/sh
# Download throughput through the relay vs. the plain veth path between the
# same namespaces. Needs root. Usage: bench/throughput.sh [BYTES] [MTU]
# Build first: cargo build --release -p nightjar-relay (BIN=target/release).
set -eu
BYTES=${1:-209715200}
MTU=${2:-1500}
BIN=${BIN:-target/release}
FAR=njbench-far
cleanup() {
    ip link del njbv0 2>/dev/null || true
    ip netns pids $FAR 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $FAR 2>/dev/null || true
    ip netns del njbench-veth 2>/dev/null || true
}
trap cleanup EXIT INT TERM
cleanup
ip netns add $FAR
ip link add njbv0 type veth peer name njbv1
ip link set njbv1 netns $FAR
ip addr add 10.113.0.1/24 dev njbv0 && ip link set njbv0 up
ip -n $FAR addr add 10.113.0.2/24 dev njbv1 && ip -n $FAR link set njbv1 up && ip -n $FAR link set lo up
ip netns exec $FAR "$BIN/nightjar-testserver" serve --bind 0.0.0.0 --answer 10.113.0.2 >/dev/null &
sleep 0.5
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
"$BIN/nightjar-testserver" get 10.113.0.2:8080 "$BYTES"
t1=$(date +%s.%N)
echo "veth (outer ns, direct): $(echo "$BYTES * 8 / ($t1 - $t0) / 1000000000" | bc -l | cut -c1-5) Gbps"
t0=$(date +%s.%N)
"$BIN/nightjar-netns" --stats --mtu "$MTU" --ns njbench-dev --tun njbtun0 -- \
    "$BIN/nightjar-testserver" get 10.113.0.2:8080 "$BYTES"
t1=$(date +%s.%N)
echo "relay (mtu $MTU, incl. namespace setup): $(echo "$BYTES * 8 / ($t1 - $t0) / 1000000000" | bc -l | cut -c1-5) Gbps"
