#!/usr/bin/env bash
# Data-parallel training and sampling (c10d Gloo over TCP on this machine, tools/launch.sh):
#   2 ranks x batch B/2 end with the weights of 1 rank x batch B (to float rounding: the
#   gradients are summed in another order; tolerance 1e-5 on weights of magnitude ~1);
#   a run resumes with another world size; 2- and 3-rank sampling equal 1-rank sampling bit
#   for bit; a killed rank stops the others with a named error within seconds, and the job
#   resumes.
set -u
DIFFUSE="$TEST_SRCDIR/diffuse/tools/diffuse"
LAUNCH="$TEST_SRCDIR/diffuse/tools/launch.sh"
EXAMPLES="$TEST_SRCDIR/diffuse/pipeline/examples"
TMP="$TEST_TMPDIR"
export DIFFUSE DIFFUSE_DIST_TIMEOUT=20
failures=0
pass() { echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAILED: $1"; }

description() {  # description STEPS: the main job's description, small, at a constant
  # learning rate (a cosine schedule depends on the total steps, which the resumes change)
  sed -e "s/steps: 6000/steps: $1/" -e 's/lr_schedule: COSINE //' -e 's/checkpoint_every: 1000/checkpoint_every: 20/' \
      -e 's/log_every: 500/log_every: 10/' -e 's/batch_size: 512/batch_size: 256/' \
      -e 's/hidden: 128/hidden: 64/' \
      -e 's/sampler { num_steps: 50 grid: TRAILING seed: 7 }/sampler { num_steps: 20 grid: TRAILING seed: 7 batch_size: 100 }/' \
      "$EXAMPLES/eight_gaussians_ddim.pbtxt"
}
description 40 > "$TMP/p40.pbtxt"
description 20 > "$TMP/p20.pbtxt"
description 100000 > "$TMP/long.pbtxt"
# The resume target lies far past where the kill can land (checkpoints every 20 steps, a
# step takes milliseconds: the killed run may be past step 60 before the kill arrives).
description 1000 > "$TMP/p1000.pbtxt"

weights() {  # weights DIR: DIR/w.safetensors, the trained (not EMA) weights
  "$DIFFUSE" export --pipeline="$TMP/p40.pbtxt" --checkpoint="$1/checkpoint.pt" --noema \
    --out="$1/w.safetensors" > /dev/null 2>&1
}
close() {  # close A B: max |a - b| over every parameter below 1e-5
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys, numpy as np
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             np.float32) for k, v in header.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and a
diff = max(np.abs(a[k] - b[k]).max() for k in a)
print(f"max |difference| {diff:.2e}")
sys.exit(0 if diff < 1e-5 else 1)
PY
}
train() {  # train RANKS PIPELINE DIR
  if (($1 == 1)); then
    "$DIFFUSE" train --pipeline="$2" --out="$3" --threads=1 > "$3.log" 2>&1
  else
    bash "$LAUNCH" "$1" train --pipeline="$2" --out="$3" --threads=1 > "$3.log" 2>&1
  fi
}

# 1. Two ranks at 128 each against one at 256.
train 1 "$TMP/p40.pbtxt" "$TMP/one" && weights "$TMP/one"
train 2 "$TMP/p40.pbtxt" "$TMP/two" && weights "$TMP/two"
grep -q "data parallel: 2 ranks, batch 256 (128 per rank)" "$TMP/two.log" \
  && msg=$(close "$TMP/one/w.safetensors" "$TMP/two/w.safetensors") \
  && pass "2 ranks x 128 = 1 rank x 256 after 40 steps ($msg)" \
  || fail "2 ranks x 128 vs 1 rank x 256: $(tail -n 2 "$TMP/two.log")"

# 2. Resume with another world size, both ways.
train 2 "$TMP/p20.pbtxt" "$TMP/two_then_one" && train 1 "$TMP/p40.pbtxt" "$TMP/two_then_one" \
  && weights "$TMP/two_then_one" \
  && msg=$(close "$TMP/one/w.safetensors" "$TMP/two_then_one/w.safetensors") \
  && pass "20 steps on 2 ranks, 20 more on 1 ($msg)" || fail "resume 2 -> 1 rank"
train 1 "$TMP/p20.pbtxt" "$TMP/one_then_two" && train 2 "$TMP/p40.pbtxt" "$TMP/one_then_two" \
  && weights "$TMP/one_then_two" \
  && msg=$(close "$TMP/one/w.safetensors" "$TMP/one_then_two/w.safetensors") \
  && pass "20 steps on 1 rank, 20 more on 2 ($msg)" || fail "resume 1 -> 2 ranks"

# 3. Sampling: the ranks split whole batches; the gathered samples are the same bits.
S=(sample --pipeline="$TMP/p40.pbtxt" --checkpoint="$TMP/one/checkpoint.pt" --num=1050 --seed=4)
"$DIFFUSE" "${S[@]}" --out="$TMP/s1.npy" > /dev/null 2>&1
bash "$LAUNCH" 2 "${S[@]}" --out="$TMP/s2.npy" > /dev/null 2>&1
bash "$LAUNCH" 3 "${S[@]}" --out="$TMP/s3.npy" > /dev/null 2>&1
[[ -s "$TMP/s1.npy" ]] && cmp -s "$TMP/s1.npy" "$TMP/s2.npy" && cmp -s "$TMP/s1.npy" "$TMP/s3.npy" \
  && pass "2- and 3-rank sampling = 1-rank sampling, bit for bit" || fail "distributed sampling"

# 4. A rank killed mid-run: the other stops with a named error, then the job resumes.
bash "$LAUNCH" 2 train --pipeline="$TMP/long.pbtxt" --out="$TMP/killed" --threads=1 \
  > "$TMP/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 1 400); do [[ -s "$TMP/killed/checkpoint.pt" ]] && break; sleep 0.05; done
victim=""
for p in $(pgrep -P "$launcher"); do
  tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'RANK=1' && victim=$p
done
start=$(date +%s%N)
[[ -n "$victim" ]] && kill -9 "$victim"
wait "$launcher"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
if [[ -n "$victim" && $rc -ne 0 && $ms -lt 20000 ]] && grep -q "rank 0 of 2: an all-reduce failed" "$TMP/killed.log"; then
  pass "rank 1 killed: rank 0 stopped in $ms ms ($(grep -o 'an all-reduce failed.*' "$TMP/killed.log" | cut -c1-60)...)"
else
  fail "rank 1 killed: exit $rc after $ms ms; $(grep -v '^step' "$TMP/killed.log" | tail -n 3)"
fi
bash "$LAUNCH" 2 train --pipeline="$TMP/p1000.pbtxt" --out="$TMP/killed" --threads=1 \
    > "$TMP/resumed.log" 2>&1 && grep -q "steps [0-9]*\.\.1000" "$TMP/resumed.log" \
  && pass "the killed job resumed: $(grep -o 'steps [0-9]*\.\.1000' "$TMP/resumed.log")" \
  || fail "the killed job did not resume: $(tail -n 1 "$TMP/resumed.log")"

# 5. Bad environments are named.
out=$(WORLD_SIZE=2 RANK=5 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "$DIFFUSE" train \
  --pipeline="$TMP/p40.pbtxt" --out="$TMP/bad_env" 2>&1)
[[ $? -eq 1 && "$out" == *"RANK='5' is not an integer in [0, 1]"* ]] && pass "RANK out of range" \
  || fail "RANK out of range: $out"
sed 's/batch_size: 256/batch_size: 255/' "$TMP/p40.pbtxt" > "$TMP/odd.pbtxt"
out=$(WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "$DIFFUSE" train \
  --pipeline="$TMP/odd.pbtxt" --out="$TMP/odd" 2>&1)
[[ $? -eq 1 && "$out" == *"training.batch_size = 255 is not divisible by WORLD_SIZE = 2"* ]] \
  && pass "batch not divisible by the ranks" || fail "odd batch: $out"

echo "$failures failed"
[[ $failures -eq 0 ]]
