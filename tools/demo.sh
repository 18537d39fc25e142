#!/usr/bin/env bash
# The main job: installs what is missing, builds, then trains, samples and evaluates the
# built-in default pipeline (pipeline/examples/eight_gaussians_ddim.pbtxt) into out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
bazel run //tools:diffuse -- demo --out="$PWD/out/demo" "$@"
