#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, if any are missing
# (idempotent; runs apt-get update only when something must be installed). Run as root.
set -euo pipefail
packages=(
  bazel-bootstrap bazel-rules-java bazel-platforms bazel-skylib  # Bazel 4.2.3, offline repos
  g++ libtorch-dev libopenblas0-pthread                          # LibTorch + fast BLAS
  libgloo-dev                                                    # c10d Gloo: data parallel
  libabsl-dev libgoogle-glog-dev libgflags-dev                   # Abseil, logging
  libprotobuf-dev protobuf-compiler                              # pipeline descriptions
  libgtest-dev libgmock-dev libbenchmark-dev                     # tests, benchmarks
  libpng-dev                                                     # PNG (and zlib)
  libjpeg62-turbo-dev                                            # JPEG input (image folders)
  dataset-fashion-mnist                                          # the image dataset
  python3-numpy                                                  # .npy interop checks
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
