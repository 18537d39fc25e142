#!/usr/bin/env bash
# Starts N local ranks of one diffuse command under torchrun's environment contract
# (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and waits for them:
#   bash tools/launch.sh N train --pipeline=P --out=DIR [flags...]
# Any scheduler that exports the same variables (torchrun, Slurm's srun, a Kubernetes job)
# can start ranks on several machines instead; see README "Data-parallel training".
# SIGTERM / SIGINT are passed to every rank (they checkpoint and stop together). When one
# rank fails, the others stop at their next all-reduce with a named error (or are sent
# SIGTERM after the timeout). Exit status: the first failing rank's, else 0.
# Environment: DIFFUSE (default bazel-bin/tools/diffuse), MASTER_ADDR (default 127.0.0.1),
# MASTER_PORT (default: a free port), and whatever each rank reads (DIFFUSE_DIST_TIMEOUT).
set -u
if (($# < 2)) || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash tools/launch.sh N VERB [flags...]  (N >= 1 ranks)" >&2
  exit 2
fi
n="$1"
shift
DIFFUSE="${DIFFUSE:-$(cd "$(dirname "$0")/.." && pwd)/bazel-bin/tools/diffuse}"
export WORLD_SIZE="$n" MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
export MASTER_PORT="${MASTER_PORT:-$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r "$DIFFUSE" "$@" &
  pids+=($!)
done
forward() { kill -"$1" "${pids[@]}" 2>/dev/null; }
trap 'forward TERM' TERM
trap 'forward INT' INT
status=0
watchdog=""
while true; do
  wait -n  # the next rank to exit (or a forwarded signal)
  rc=$?
  ((rc == 127)) && break  # no rank left
    if ((rc != 0 && status == 0)); then
    status=$rc
    # The others notice at their next all-reduce and stop with a named error; those still
    # running after DIFFUSE_DIST_TIMEOUT (default 60 s) + 5 s are sent SIGTERM.
    (sleep $((${DIFFUSE_DIST_TIMEOUT:-60} + 5)); kill -TERM "${pids[@]}" 2>/dev/null) &
    watchdog=$!
  fi
  # Once only the watchdog is left, no rank is.
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  ((alive)) || break
done
[[ -n "$watchdog" ]] && kill "$watchdog" 2>/dev/null
exit "$status"
