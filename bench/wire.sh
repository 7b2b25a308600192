#!/usr/bin/env bash
# Measures what one idle edge node costs on the wire (issue 4: < 0.1 kbit/s),
# every header included: `verge server` on the host end of a veth pair, a
# real `verge agent` in a network namespace on the other, and the veth's own
# byte counters (Ethernet, IP, TCP or UDP, TLS, WebSocket or QUIC, and the
# agent's HTTPS traffic, if any) over an idle window.
#
#   bench/wire.sh                 # 300 s idle, WebSocket
#   bench/wire.sh 600 quic        # 600 s idle, QUIC
#
# Needs root (ip netns). Uses 10.214.0.0/30 and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-300}
transport=${2:-ws}
case $transport in ws | quic) ;; *) echo "transport must be ws or quic" >&2; exit 2 ;; esac

cargo build --release --quiet --locked -p verge
bin=$PWD/target/release/verge
ns=vwire$$
host_if=vwh$$
edge_if=vwe$$
host_ip=10.214.0.1
edge_ip=10.214.0.2
dir=$(mktemp -d)
server=""
agent=""
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$host_if" type veth peer name "$edge_if"
ip link set "$edge_if" netns "$ns"
# IPv4 only: IPv6 router solicitations on a link without a router are not
# the node's traffic.
sysctl -qw "net.ipv6.conf.$host_if.disable_ipv6=1" || true
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$edge_if.disable_ipv6=1" || true
ip addr add "$host_ip/30" dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add "$edge_ip/30" dev "$edge_if"
ip -n "$ns" link set "$edge_if" up
ip -n "$ns" link set lo up

"$bin" server --data-dir "$dir/server" --api-listen "$host_ip:16443" \
  --hub-listen "$host_ip:16444" --quic-listen "$host_ip:16445" >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  grep -q "is ready" "$dir/server.log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
  sleep 0.1
done
kubeconfig=$dir/server/admin.kubeconfig
token=$("$bin" token create --kubeconfig "$kubeconfig" --ttl 10m --uses 1 | tail -1)
ip netns exec "$ns" "$bin" agent --server "https://$host_ip:16443" --token "$token" \
  --node-name wire-1 --data-dir "$dir/agent" --transport "$transport" >"$dir/agent.log" 2>&1 &
agent=$!
if ! kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready node/wire-1 --timeout=60s >/dev/null 2>&1; then
  echo "the node did not turn Ready; agent log:" >&2
  tail -20 "$dir/agent.log" >&2
  exit 1
fi
grep -q "connected to the cloud hub" "$dir/agent.log" || { echo "the agent is not on the channel" >&2; exit 1; }

# The edge's IPv4 octets in and out (IP and TCP/UDP headers included, no
# Ethernet, no ARP), and the veth's bytes and packets (everything).
counters() {
  ip netns exec "$ns" awk '/^IpExt:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c["InOctets"], $c["OutOctets"] }' /proc/net/netstat
  echo "$(cat /sys/class/net/$host_if/statistics/tx_bytes) $(cat /sys/class/net/$host_if/statistics/rx_bytes) $(cat /sys/class/net/$host_if/statistics/tx_packets) $(cat /sys/class/net/$host_if/statistics/rx_packets)"
}
# The join, registration and first sync are over once the node is Ready;
# a short settle lets their last acknowledgements pass.
sleep 5
{ read -r in0 out0; read -r tx0 rx0 ptx0 prx0; } <<<"$(counters)"
echo "measuring $secs s of idle traffic over $transport ..." >&2
for ((s = 0; s < secs; s += 30)); do
  sleep $((secs - s < 30 ? secs - s : 30))
  kill -0 "$agent" 2>/dev/null || { echo "the agent exited" >&2; tail -20 "$dir/agent.log" >&2; exit 1; }
  echo "  $((s + 30 < secs ? s + 30 : secs)) s" >&2
done
{ read -r in1 out1; read -r tx1 rx1 ptx1 prx1; } <<<"$(counters)"
ip_bytes=$((in1 - in0 + out1 - out0))
wire_bytes=$((tx1 - tx0 + rx1 - rx0))
packets=$((ptx1 - ptx0 + prx1 - prx0))
rate() { awk -v b="$1" -v s="$secs" 'BEGIN { printf "%.1f", b * 8 / s }'; }
echo "idle edge node over $transport, $secs s: $ip_bytes bytes of IPv4 (to the edge $((in1 - in0))," \
  "from it $((out1 - out0))) = $(rate $ip_bytes) bit/s; on the veth with Ethernet headers and ARP" \
  "$wire_bytes bytes in $packets packets = $(rate $wire_bytes) bit/s"
echo "| Idle traffic per node on the wire, $transport | < 0.1 kbit/s | **$(rate $ip_bytes) bit/s** of IPv4 (IP and transport headers included; $ip_bytes bytes in $secs s); $(rate $wire_bytes) bit/s with Ethernet headers and ARP ($packets packets) | \`bench/wire.sh $secs $transport\` |"
