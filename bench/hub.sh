#!/usr/bin/env bash
# Builds the release binaries and runs the cloud hub benchmark (issue 4).
#
#   bench/hub.sh                        # 1,000 edge nodes: memory, idle traffic, reconnect, latency
#   bench/hub.sh --nodes 200 --idle-secs 30
#
# Starts `verge server --controllers none` on 127.0.0.1 (hub on loopback
# ports of its own), creates one Node, Pod and ConfigMap per edge node,
# connects scripted edges with node certificates from the cluster CA over
# WebSocket/TLS (some through a byte-counting proxy), and prints: hub memory
# per connected node, idle bytes per node, bytes of a reconnect with nothing
# changed, and the latency from a ConfigMap write to the edge. See
# `bench/hub.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p verge -p verge-bench
exec target/release/verge-apibench --verge target/release/verge --wait-quiet 0 hub "$@"
