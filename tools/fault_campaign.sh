#!/usr/bin/env bash
# Fault campaign for `diffuse train`: the weights a run ends with must not depend on how
# often, or when, it was interrupted.
#   1. SIGKILL at KILLS random moments (default 20; some land inside checkpoint writes, which
#      is counted by the temporaries the next start removes), each followed by a restart;
#   2. SIGTERM and SIGINT: the run finishes its step, writes a checkpoint and exits with
#      128 + the signal (143, 130); a restart finishes it;
#   3. a second trainer on a directory in use is refused (exit 1, a named lock);
# and after each, the trained and the EMA weights (exported to safetensors) are compared
# byte for byte with an uninterrupted run of the same description.
#   bash tools/fault_campaign.sh [OUT]        (default out/fault_campaign; KILLS=20)
# Writes OUT/summary.txt. Exit status 0 only if every comparison is identical.
set -u
cd "$(dirname "$0")/.."
source tools/lib.sh  # DIFFUSE, machine_line
OUT="${1:-out/fault_campaign}"
KILLS="${KILLS:-20}"
rm -rf "$OUT"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line | tee "$summary"

# The main job's description, shortened, with a checkpoint every 3 steps so that many kills
# land during a write.
sed -e 's/steps: 6000/steps: 1500/' -e 's/checkpoint_every: 1000/checkpoint_every: 3/' \
    -e 's/log_every: 500/log_every: 100/' pipeline/examples/eight_gaussians_ddim.pbtxt \
    > "$OUT/pipeline.pbtxt"
# An array, not a function: a function run with & is a subshell, and the signals below
# must reach the trainer itself.
TRAIN=("$DIFFUSE" train --pipeline="$OUT/pipeline.pbtxt" --threads=1)
train() { "${TRAIN[@]}" --out="$1"; }
weights() {  # weights DIR: DIR/ema.safetensors and DIR/trained.safetensors
  "$DIFFUSE" export --pipeline="$OUT/pipeline.pbtxt" --checkpoint="$1/checkpoint.pt" \
    --out="$1/ema.safetensors" > /dev/null 2>&1 &&
  "$DIFFUSE" export --pipeline="$OUT/pipeline.pbtxt" --checkpoint="$1/checkpoint.pt" \
    --noema --out="$1/trained.safetensors" > /dev/null 2>&1
}
failures=0
same_as_straight() {  # same_as_straight DIR WHAT
  weights "$1"
  if cmp -s "$1/ema.safetensors" "$OUT/straight/ema.safetensors" &&
     cmp -s "$1/trained.safetensors" "$OUT/straight/trained.safetensors"; then
    echo "$2: final weights bit-identical to the uninterrupted run" | tee -a "$summary"
  else
    failures=$((failures + 1))
    echo "FAILED: $2: final weights differ from the uninterrupted run" | tee -a "$summary"
  fi
}
step_of() { tail -n 1 "$1/metrics.csv" 2>/dev/null | cut -d, -f1; }

start=$(date +%s%N)
train "$OUT/straight" > "$OUT/straight.log" 2>&1
ms=$((($(date +%s%N) - start) / 1000000))
weights "$OUT/straight"
echo "uninterrupted run: $(tail -n 1 "$OUT/straight.log") ($ms ms with start-up)" \
  | tee -a "$summary"

# SIGKILL PID as soon as DIR holds a checkpoint temporary (a write in progress).
kill_during_write() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import os, signal, sys, time
pid, folder = int(sys.argv[1]), sys.argv[2]
end = time.time() + 20
while time.time() < end:
    try:
        if any(n.startswith("checkpoint.pt.tmp.") for n in os.listdir(folder)):
            os.kill(pid, signal.SIGKILL)
            break
    except FileNotFoundError:
        pass
PY
}

# 1. SIGKILL: odd kills at a random moment (a uniform delay in [0.2 s, the uninterrupted
# run's length / 8] after the start, so that they spread over the run), even kills the
# moment a checkpoint write is seen in progress.
killed="$OUT/killed"
during_write=0 before_end=0
for i in $(seq 1 "$KILLS"); do
  "${TRAIN[@]}" --out="$killed" >> "$OUT/killed.log" 2>&1 &
  pid=$!
  if ((i % 2)); then
    sleep "$(/usr/bin/python3 -c "import random; random.seed($i); print(round(random.uniform(0.2, max(0.3, $ms / 8000)), 3))")"
  else
    kill_during_write "$pid" "$killed"
  fi
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [[ $? -eq 137 ]] && before_end=$((before_end + 1))  # 128 + SIGKILL: it had not finished
  ls "$killed" 2>/dev/null | grep -q '\.tmp\.' && during_write=$((during_write + 1))
  echo "kill $i: at step $(step_of "$killed")" >> "$OUT/kills.txt"
done
train "$killed" >> "$OUT/killed.log" 2>&1
echo "SIGKILL x $KILLS: $before_end killed mid-run, $during_write of them inside a checkpoint write" \
  "(a temporary left behind, removed at the next start)" | tee -a "$summary"
same_as_straight "$killed" "after $KILLS kills"

# 2. SIGTERM / SIGINT: a checkpoint at the current step, exit 128 + signal, then resume.
for sig in TERM:143 INT:130; do
  name=${sig%%:*} want=${sig##*:}
  dir="$OUT/sig$name"
  "${TRAIN[@]}" --out="$dir" > "$OUT/sig$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do [[ -s "$dir/metrics.csv" ]] && break; sleep 0.05; done
  kill -"$name" "$pid"
  wait "$pid"
  rc=$?
  if [[ $rc -eq $want ]] && grep -q "training stopped by" "$OUT/sig$name.log"; then
    echo "SIG$name: exit $rc, $(grep -o 'stopped by .* of [0-9]*' "$OUT/sig$name.log")" | tee -a "$summary"
  else
    failures=$((failures + 1))
    echo "FAILED: SIG$name: exit $rc (want $want)" | tee -a "$summary"
  fi
  train "$dir" >> "$OUT/sig$name.log" 2>&1
  same_as_straight "$dir" "SIG$name, then resumed"
done

# 3. Two trainers on one directory.
"${TRAIN[@]}" --out="$OUT/locked" > "$OUT/locked.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [[ -s "$OUT/locked/metrics.csv" ]] && break; sleep 0.05; done
train "$OUT/locked" > "$OUT/second.log" 2>&1
rc=$?
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [[ $rc -eq 1 ]] && grep -q "is in use by another run" "$OUT/second.log"; then
  echo "second trainer: exit 1, $(grep -o 'is in use by another run.*' "$OUT/second.log" | cut -c1-60)..." \
    | tee -a "$summary"
else
  failures=$((failures + 1))
  echo "FAILED: second trainer: exit $rc" | tee -a "$summary"
fi

echo "$failures failure(s)" | tee -a "$summary"
[[ $failures -eq 0 ]]
