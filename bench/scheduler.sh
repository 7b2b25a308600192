#!/usr/bin/env bash
# Builds the release binaries and runs the scheduling benchmark.
#
#   bench/scheduler.sh                     # 10,000 Ready nodes, 30,000 pods: >= 1,000 pods/s bound
#   bench/scheduler.sh --pods 100000       # a longer burst
#   bench/scheduler.sh --heartbeat-secs 0  # without node status heartbeats
#
# Starts `verge server --controllers scheduler` on 127.0.0.1 in a temporary
# data directory, creates the nodes (Node objects with a Ready condition;
# their status is re-written every --heartbeat-secs as kubelet would), then
# creates the pods as fast as the API takes them and watches the bindings.
# Prints pods bound per second (from the first create to the last binding,
# and the steady rate between 10% and 90% of the bindings), server CPU and
# RSS, and a Markdown table row. See `bench/scheduler.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p verge -p verge-bench
exec target/release/verge-apibench --verge target/release/verge scheduling "$@"
