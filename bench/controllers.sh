#!/usr/bin/env bash
# Builds the release binaries and runs the workload controller benchmarks on
# hollow nodes (verge-hollow, run inside the benchmark process).
#
#   bench/controllers.sh rollout   # 10,000-replica Deployment on 1,000 nodes: all Running < 60 s
#   bench/controllers.sh memory    # 100,000 pods on 10,000 nodes: controllers < 1 GiB of server RSS
#
# Options go after the scenario (bench/controllers.sh rollout --nodes 10000);
# see `bench/controllers.sh rollout --help`. `rollout` starts `verge server`
# with every controller; `memory` starts one with `--controllers none` and
# one with every controller, in turn, and compares their RSS. Results (a
# human summary and a Markdown table row) go to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

cargo build --release --quiet -p verge -p verge-bench
exec target/release/verge-apibench --verge target/release/verge controllers "$@"
