#!/usr/bin/env bash
# Builds the release binaries and runs the API server benchmark.
#
#   bench/api.sh creates     # >= 3,000 pod creates/s, durable
#   bench/api.sh watch       # 1,000 watchers, 1,000 writes/s, p99 delivery < 100 ms
#   bench/api.sh list        # 100,000 pods: paged LIST < 3 s, RSS < 1 GiB
#   bench/api.sh all         # the three above, each on a fresh server
#
# Options go after the scenario (bench/api.sh creates --concurrency 256);
# see `bench/api.sh creates --help`. Each scenario starts its own
# `verge server` on 127.0.0.1 in a temporary data directory and stops it.
# Results (a human summary and a Markdown table row) go to stdout,
# progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

cargo build --release --quiet -p verge -p verge-bench
exec target/release/verge-apibench --verge target/release/verge "$@"
