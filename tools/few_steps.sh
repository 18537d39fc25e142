#!/usr/bin/env bash
# Issue 32's few-step table (docs/few_steps.md): the recipe's unconditional U-Net
# (fashion_mnist_v.pbtxt) trained for TEACHER_STEPS, then, from it, consistency distillation
# (CD_STEPS), progressive distillation (PD_STEPS; four rounds 64 -> 4 steps) and, without it,
# consistency training (CT_STEPS), each trained alone with 2 intra-op threads; then N samples
# per method and number of network calls (CALLS), x0 clamped, scored by the evaluation
# classifier (Fréchet distance of its features; tools/lib.sh), with the sampling time.
# Solvers sample the teacher on the trailing grid (DDIM = "substitution", DPM-Solver++(2M),
# (3M), UniPC-3 with the corrector); consistency models sample with the same grid and fresh
# re-corruption; the progressive student only at its 4 steps.
#   bash tools/few_steps.sh [OUT_DIR]     (default out/few_steps; resumes after a kill)
#   python3 tools/few_steps_table.py OUT_DIR/summary.txt    (the markdown table)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/few_steps}"
N="${N:-500}"
TEACHER_STEPS="${TEACHER_STEPS:-3900}"
CD_STEPS="${CD_STEPS:-2000}"
PD_STEPS="${PD_STEPS:-3200}"
CT_STEPS="${CT_STEPS:-4000}"
CALLS="${CALLS:-1 2 4 8 16 50}"
METHODS="${METHODS:-ddim dpmpp_2m dpmpp_3m unipc cd ct pd}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

steps() { sed "s/^  steps: [0-9]*/  steps: $2/" "$1"; }
teacher_path() { sed "s#out/few_steps/teacher/checkpoint.pt#$OUT/teacher/checkpoint.pt#"; }
steps "$EX/fashion_mnist_v.pbtxt" "$TEACHER_STEPS" > "$OUT/teacher.pbtxt"
steps "$EX/fashion_mnist_consistency_distillation.pbtxt" "$CD_STEPS" | teacher_path > "$OUT/cd.pbtxt"
steps "$EX/fashion_mnist_progressive_distillation.pbtxt" "$PD_STEPS" | teacher_path > "$OUT/pd.pbtxt"
steps "$EX/fashion_mnist_consistency_training.pbtxt" "$CT_STEPS" > "$OUT/ct.pbtxt"

train() {  # train NAME (a stopped or failed run ends the script; rerunning resumes it)
  if ! "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" --threads=1 \
    --intra_op_threads=2 >> "$OUT/train_$1.log" 2>&1; then
    echo "training $1 did not finish: $(tail -1 "$OUT/train_$1.log")" >&2
    exit 1
  fi
  echo "$1: $(grep "^trained" "$OUT/train_$1.log" | paste -sd ";")" | tee -a "$summary"
}
train teacher
for m in cd pd ct; do
  case " $METHODS " in *" $m "*) train "$m" ;; esac
done

# sample_timed NAME DESCRIPTION CHECKPOINT: N samples, their wall time, then the scores.
sample_timed() {
  local name=$1
  if [[ ! -s "$OUT/$name.npy" ]]; then
    local start end
    start=$(date +%s.%N)
    "$DIFFUSE" sample --pipeline="$2" --checkpoint="$OUT/$3/checkpoint.pt" --num="$N" \
      --out="$OUT/$name.npy" --png="$OUT/$name.png" --threads=1 --intra_op_threads=2 > /dev/null
    end=$(date +%s.%N)
    echo "$name: sampled $N in $(awk "BEGIN { print $end - $start }") s" >> "$OUT/sampling_times.txt"
  fi
  echo "== $name" >> "$summary"
  grep "^$name: sampled" "$OUT/sampling_times.txt" | tail -1 >> "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$name.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
}
solver() {  # solver REVERSE_SPEC CALLS: the teacher description sampled by another solver
  sed -e "s#reverse { name: \"substitution\" }#reverse { $1 }#" \
    -e "s/num_steps: 50 grid: TRAILING/num_steps: $2 grid: TRAILING/" "$OUT/teacher.pbtxt"
}
calls() { sed "s/num_steps: 4 grid: TRAILING/num_steps: $2 grid: TRAILING/" "$OUT/$1.pbtxt"; }
for k in $CALLS; do
  for m in $METHODS; do
    d="$OUT/${m}_$k.pbtxt"
    case "$m" in
      ddim) solver 'name: "substitution"' "$k" > "$d"; ckpt=teacher ;;
      dpmpp_2m) solver 'name: "dpmpp_2m"' "$k" > "$d"; ckpt=teacher ;;
      dpmpp_3m) solver 'name: "dpmpp_3m"' "$k" > "$d"; ckpt=teacher ;;
      unipc) solver 'name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] { order: 3 } }' "$k" > "$d"; ckpt=teacher ;;
      cd | ct) calls "$m" "$k" > "$d"; ckpt=$m ;;
      pd) [[ "$k" == 4 ]] || continue; cp "$OUT/pd.pbtxt" "$d"; ckpt=pd ;;
    esac
    sample_timed "${m}_$k" "$d" "$ckpt"
  done
done
echo "wrote $summary and $OUT/*.png"
