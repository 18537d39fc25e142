#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of fuzz/ with clang-14 and AddressSanitizer
# (--config=fuzz, in an output tree of their own), seeds each corpus from the repository
# (example descriptions, a trained checkpoint and its safetensors export, .npy and IDX
# files), and runs every fuzzer:
#   bash tools/fuzz.sh [SECONDS]      each fuzzer for SECONDS (default 60)
#   DESCRIPTION_RUNS=1000000 bash tools/fuzz.sh   the description fuzzer for that many inputs
# Writes out/fuzz/summary.txt (executions, time, findings) and any crashing input as
# out/fuzz/<fuzzer>/crash-*. Exit status 1 if a fuzzer found a crash.
set -euo pipefail
source "$(dirname "$0")/lib.sh"  # DIFFUSE, machine_line (cd to the repository)
for p in clang-14 libfuzzer-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2
done
SECONDS_EACH="${1:-60}"
OUT="$PWD/out/fuzz"
FUZZERS=(description_fuzzer npy_fuzzer safetensors_fuzzer idx_fuzzer checkpoint_fuzzer)
BAZEL=(bazel --output_base="$HOME/.cache/bazel_fuzz")
"${BAZEL[@]}" build --config=fuzz --symlink_prefix=/ "${FUZZERS[@]/#///fuzz:}"
BIN="$("${BAZEL[@]}" info --config=fuzz bazel-bin 2>/dev/null)/fuzz"

rm -rf "$OUT"
mkdir -p "$OUT"
for f in "${FUZZERS[@]}"; do mkdir -p "$OUT/$f/corpus"; done
cp pipeline/examples/*.pbtxt "$OUT/description_fuzzer/corpus/"
sed -e 's/steps: 6000/steps: 20/' -e 's/checkpoint_every: 1000/checkpoint_every: 20/' \
    -e 's/hidden: 128/hidden: 32/' pipeline/examples/eight_gaussians_ddim.pbtxt > "$OUT/seed.pbtxt"
"$DIFFUSE" train --pipeline="$OUT/seed.pbtxt" --out="$OUT/seed" > /dev/null 2>&1
cp "$OUT/seed/checkpoint.pt" "$OUT/checkpoint_fuzzer/corpus/"
# The same blob without its header, behind a 0 byte: the fuzzer adds a valid header.
{ printf '\0'; tail -c +"$(($(head -n 1 "$OUT/seed/checkpoint.pt" | wc -c) + 1))" \
    "$OUT/seed/checkpoint.pt"; } > "$OUT/checkpoint_fuzzer/corpus/blob"
"$DIFFUSE" export --pipeline="$OUT/seed.pbtxt" --checkpoint="$OUT/seed/checkpoint.pt" \
  --out="$OUT/safetensors_fuzzer/corpus/seed.safetensors" > /dev/null
cp util/testdata/*.npy "$OUT/npy_fuzzer/corpus/" 2>/dev/null || true
/usr/bin/python3 - "$OUT" <<'PY'
import gzip, struct, sys, numpy as np
out = sys.argv[1]
for i, a in enumerate([np.zeros((3, 2), np.float32), np.arange(6, dtype=np.float64),
                       np.ones((2, 1, 4, 4), np.float32), np.array([1, 2], np.int64)]):
    np.save(f"{out}/npy_fuzzer/corpus/seed{i}.npy", a)
images = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 4, 4) + bytes(range(32))
labels = bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes([1, 2, 3])
open(f"{out}/idx_fuzzer/corpus/images.idx", "wb").write(images)
open(f"{out}/idx_fuzzer/corpus/labels.idx", "wb").write(labels)
open(f"{out}/idx_fuzzer/corpus/images.gz", "wb").write(gzip.compress(images))
PY

summary="$OUT/summary.txt"
machine_line | tee "$summary"
found=0
for f in "${FUZZERS[@]}"; do
  limit=(-max_total_time="$SECONDS_EACH")
  [[ $f == description_fuzzer && -n "${DESCRIPTION_RUNS:-}" ]] && limit=(-runs="$DESCRIPTION_RUNS")
  start=$SECONDS
  set +e
  "$BIN/$f" "${limit[@]}" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$OUT/$f/" "$OUT/$f/corpus" > "$OUT/$f/log.txt" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$OUT/$f/log.txt" | grep -o '[0-9]*$' || echo "?")
  crashes=$(ls "$OUT/$f" | grep -c -E '^(crash|leak|oom|timeout)-' || true)
  ((rc != 0 || crashes > 0)) && found=1
  printf '%-20s %10s executions in %5d s, exit %d, %d finding(s)\n' "$f" "$runs" \
    $((SECONDS - start)) "$rc" "$crashes" | tee -a "$summary"
done
exit "$found"
