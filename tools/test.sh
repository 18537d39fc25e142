#!/usr/bin/env bash
# All tests: installs what is missing, then `bazel test //...` (benchmarks are built, not run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
bazel test //... "$@"
