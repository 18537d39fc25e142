#!/usr/bin/env bash
# Trains and evaluates the Fashion-MNIST examples of docs/fashion_mnist.md, exactly as the
# figures there were produced:
#   bash tools/fashion_mnist_examples.sh [OUT_DIR]      (default out/fmnist)
# 1. the evaluation classifier (train-classifier, 3 epochs);
# 2. four U-Nets, two at a time with one intra-op thread each (2 cores): the unconditional
#    DDPM model and the class-conditional CFG model, then blur and masking;
# 3. N samples (default 500) from each (DDPM and DDIM from one checkpoint, CFG at
#    w = 0, 1, 3), each evaluated by the classifier, with a PNG grid of the first 100.
# Every step resumes: rerunning after a kill continues where it stopped, and a finished
# training is not repeated. Results: OUT_DIR/summary.txt and OUT_DIR/*.png.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/fmnist}"
N="${N:-500}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line > "$summary"

ensure_classifier "$OUT/classifier" | tee -a "$summary"

train() {  # train NAME: one intra-op thread, log in OUT/train_NAME.log
  "$DIFFUSE" train --pipeline="$EX/fashion_mnist_$1.pbtxt" --out="$OUT/$1" --threads=1 \
    --intra_op_threads=1 > "$OUT/train_$1.log" 2>&1
  echo "$1: $(tail -n 1 "$OUT/train_$1.log")" | tee -a "$summary"
}
train ddpm & train cfg & wait
train blur & train masking & wait

sample_and_eval() {  # sample_and_eval NAME PIPELINE CHECKPOINT_DIR [FLAGS...]
  local name="$1" pipeline="$2" dir="$3"
  shift 3
  local start=$SECONDS
  "$DIFFUSE" sample --pipeline="$EX/fashion_mnist_$pipeline.pbtxt" --checkpoint="$OUT/$dir/checkpoint.pt" \
    --num="$N" --out="$OUT/$name.npy" --png="$OUT/$name.png" --threads=1 --intra_op_threads=2 \
    "$@" > /dev/null
  echo "== $name: $N samples in $((SECONDS - start)) s ($*)" | tee -a "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$name.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
}
sample_and_eval ddpm ddpm ddpm
sample_and_eval ddim ddim ddpm
for w in 0 1 3; do
  sample_and_eval "cfg_w$w" cfg cfg --guidance_scale="$w"
done
sample_and_eval blur blur blur
sample_and_eval masking masking masking
echo "wrote $summary and $OUT/*.png"
