#!/bin/sh
# Per-query DNS latency through the relay over plain UDP, DoT and DoH, as
# dig reports it (whole milliseconds per query, so the mean is coarse).
# Needs root, dig, and `cargo build -p nightjar-relay` first.
# Usage: core/relay/bench/dns_upstreams.sh [target-dir]
B=${1:-target/debug}
T=$(mktemp -d)
NS=njf-dnsb; V=njvdnsb
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; ip link del $V 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM
ip netns add $NS && ip link add $V type veth peer name ${V}p && ip link set ${V}p netns $NS || exit 1
ip addr add 10.112.9.1/24 dev $V; ip link set $V up
ip -n $NS addr add 10.112.9.2/24 dev ${V}p; ip -n $NS link set ${V}p up; ip -n $NS link set lo up
ip netns exec $NS "$B/nightjar-testserver" serve --bind 0.0.0.0 --answer 10.112.9.2 \
  --tls-name far.test --ca-out "$T/ca.pem" > "$T/srv.log" &
SRV=$!
sleep 1
for i in $(seq 500); do echo "n$i.test A"; done > "$T/q.txt"
for up in 10.112.9.2:53 'tls://10.112.9.2:853#far.test' 'https://10.112.9.2/dns-query#far.test'; do
  "$B/nightjar-netns" --ns njd-dnsb --tun njtdnsb --dns-upstream "$up" --dns-ca "$T/ca.pem" --stats -- \
    sh -c "dig +tries=1 +time=2 @10.111.0.53 -f $T/q.txt | grep 'Query time'" 2>"$T/err.log" \
    | awk -v up="$up" '{s+=$4; n++} END {printf "%s: n=%d mean=%.2f ms\n", up, n, s/n}'
  grep -o "dns_servfail: [0-9]*\|dns_upstream_connects: [0-9]*\|cpu_seconds=[0-9.]*" "$T/err.log" | tr '\n' ' '; echo
done
