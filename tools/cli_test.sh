#!/usr/bin/env bash
# End-to-end checks of the diffuse CLI: train/sample round trip, exact resume after kill -9,
# and that every kind of bad input ends in one line naming the file or field, a non-zero
# exit, and no output file.
set -u
DIFFUSE="$TEST_SRCDIR/diffuse/tools/diffuse"
EXAMPLES="$TEST_SRCDIR/diffuse/pipeline/examples"
TMP="$TEST_TMPDIR"
failures=0
passed=0

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAILED: $1"; }

# expect_error NAME EXPECTED_SUBSTRING OUTPUT_FILE_THAT_MUST_NOT_EXIST -- command...
expect_error() {
  local name="$1" want="$2" outfile="$3"
  shift 4
  local err
  err=$("$@" 2>&1 >/dev/null)
  local rc=$?
  local last
  last=$(printf '%s\n' "$err" | tail -n 1)
  if [[ $rc -eq 0 ]]; then fail "$name: exit 0"; return; fi
  if [[ "$last" != *"$want"* ]]; then fail "$name: last stderr line '$last' lacks '$want'"; return; fi
  if [[ -e "$outfile" ]]; then fail "$name: left $outfile behind"; return; fi
  pass "$name ($last)"
}

# A small trainable pipeline: checkpoints every 50 steps.
sed -e 's/steps: 6000/steps: 600/' -e 's/checkpoint_every: 1000/checkpoint_every: 50/' \
    -e 's/log_every: 500/log_every: 100/' -e 's/hidden: 128/hidden: 32/' \
    "$EXAMPLES/eight_gaussians_ddim.pbtxt" > "$TMP/small.pbtxt"

# 1. Train without interruption.
"$DIFFUSE" train --pipeline="$TMP/small.pbtxt" --out="$TMP/straight" > /dev/null 2>&1 \
  && pass "train" || fail "train"

# 2. Train again, killed with SIGKILL mid-run, then resumed: identical samples.
"$DIFFUSE" train --pipeline="$TMP/small.pbtxt" --out="$TMP/killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [[ -s "$TMP/killed/metrics.csv" ]] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null && killed=yes || killed=no
wait "$pid" 2>/dev/null
"$DIFFUSE" train --pipeline="$TMP/small.pbtxt" --out="$TMP/killed" > "$TMP/resume.log" 2>&1
for run in straight killed; do
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/$run/checkpoint.pt" \
    --num=300 --seed=5 --out="$TMP/$run.npy" > /dev/null 2>&1
done
if cmp -s "$TMP/straight.npy" "$TMP/killed.npy" && [[ -s "$TMP/straight.npy" ]]; then
  pass "resume after kill -9 (killed mid-run: $killed; $(head -n 1 "$TMP/resume.log"))"
else
  fail "resume after kill -9 gives different samples"
fi
ls "$TMP/killed" | grep -q '\.tmp\.' && fail "temporary files left in $TMP/killed"

# 3. Samples are per-sample seeded: the first 100 of 300 equal a run of 100.
"$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --num=100 --seed=5 --out="$TMP/first100.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP/straight.npy" "$TMP/first100.npy" <<'PY' && pass "per-sample seeds" || fail "per-sample seeds"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.dtype == np.float32 and a.shape == (300, 2) and b.shape == (100, 2), (a.shape, b.shape)
assert np.allclose(a[:100], b, atol=1e-5), abs(a[:100] - b).max()
PY

# 4. Start from a given x_T (.npy), and a PNG from an analytic pipeline.
"$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --x_T="$TMP/first100.npy" --out="$TMP/from_x_T.npy" > /dev/null 2>&1 \
  && [[ -s "$TMP/from_x_T.npy" ]] && pass "sample from x_T" || fail "sample from x_T"
"$DIFFUSE" sample --pipeline="$EXAMPLES/eight_gaussians_classifier_guidance.pbtxt" --num=500 \
  --out="$TMP/guided.npy" --png="$TMP/guided.png" > /dev/null 2>&1
[[ "$(head -c 4 "$TMP/guided.png" | tail -c 3)" == "PNG" ]] && pass "png" || fail "png"
"$DIFFUSE" eval --pipeline="$TMP/small.pbtxt" --samples="$TMP/straight.npy" > "$TMP/eval.txt" 2>&1 \
  && grep -q "sliced W2" "$TMP/eval.txt" && pass "eval" || fail "eval"

# 5. Weights to safetensors: Python reads them (plain json + numpy), and sampling from them
#    gives the same samples as from the checkpoint.
"$DIFFUSE" export --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --out="$TMP/weights.safetensors" > /dev/null 2>&1
"$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/weights.safetensors" \
  --num=100 --seed=5 --out="$TMP/from_weights.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP/weights.safetensors" "$TMP/first100.npy" "$TMP/from_weights.npy" <<'PY' \
  && pass "safetensors export, read from Python, sample" || fail "safetensors export/import"
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
assert header["__metadata__"]["format"] == "diffuse-weights-v1", header["__metadata__"]
names = [k for k in header if k != "__metadata__"]
assert names and all(header[k]["dtype"] == "F32" for k in names), names
assert header["fourier_frequencies"]["shape"] == [32, 2], names  # the MLP's buffer B
for k in names:
    b, e = header[k]["data_offsets"]
    w = np.frombuffer(raw[8 + n + b:8 + n + e], np.float32).reshape(header[k]["shape"])
    assert np.isfinite(w).all(), k
assert np.array_equal(np.load(sys.argv[2]), np.load(sys.argv[3]))
PY
# The file's buffers are read back: doubling its Fourier frequencies changes the samples.
/usr/bin/python3 - "$TMP/weights.safetensors" "$TMP/doubled.safetensors" <<'PY'
import json, struct, sys, numpy as np
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
b, e = json.loads(raw[8:8 + n])["fourier_frequencies"]["data_offsets"]
w = np.frombuffer(bytes(raw[8 + n + b:8 + n + e]), np.float32) * 2
raw[8 + n + b:8 + n + e] = w.tobytes()
open(sys.argv[2], "wb").write(raw)
PY
"$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/doubled.safetensors" \
  --num=100 --seed=5 --out="$TMP/doubled.npy" > /dev/null 2>&1
/usr/bin/python3 -c "import numpy as np, sys; sys.exit(np.array_equal(np.load('$TMP/first100.npy'), np.load('$TMP/doubled.npy')))" \
  && pass "safetensors buffers are imported" || fail "safetensors buffers are imported"
# Weights written elsewhere (no description in the metadata) must carry the buffers.
/usr/bin/python3 - "$TMP/weights.safetensors" "$TMP/foreign.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
del header["__metadata__"], header["fourier_frequencies"]
out, blobs = {}, b""
for k, v in header.items():
    b, e = v["data_offsets"]
    out[k] = dict(v, data_offsets=[len(blobs), len(blobs) + e - b])
    blobs += data[b:e]
h = json.dumps(out).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + blobs)
PY
expect_error "foreign weights without the MLP's buffer" \
  "foreign.safetensors lack buffer 'fourier_frequencies'" "$TMP/o9.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/foreign.safetensors" --out="$TMP/o9.npy"
head -c 300 "$TMP/weights.safetensors" > "$TMP/cut.safetensors"
expect_error "truncated safetensors" "cut.safetensors" "$TMP/o8.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/cut.safetensors" --out="$TMP/o8.npy"

# 6. Bad input: one line naming the file/field, non-zero exit, no output.
printf 'data { name: "eight_gaussians" }\nforward { nme: 1 }\n' > "$TMP/malformed.pbtxt"
expect_error "malformed description" "malformed.pbtxt:2:" "$TMP/o1.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/malformed.pbtxt" --out="$TMP/o1.npy"
sed 's/name: "substitution"/name: "ddim_typo"/' "$TMP/small.pbtxt" > "$TMP/unknown.pbtxt"
expect_error "unknown component" "unknown.pbtxt: reverse.name: unknown component 'ddim_typo'" \
  "$TMP/o2.npy" -- "$DIFFUSE" sample --pipeline="$TMP/unknown.pbtxt" --out="$TMP/o2.npy"
expect_error "missing checkpoint" "checkpoint $TMP/nope.pt does not exist" "$TMP/o3.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/nope.pt" --out="$TMP/o3.npy"
head -c 1000 "$TMP/straight/checkpoint.pt" > "$TMP/truncated.pt"
expect_error "truncated checkpoint" "truncated.pt is truncated" "$TMP/o4.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/truncated.pt" --out="$TMP/o4.npy"
head -c 150 "$TMP/first100.npy" > "$TMP/truncated.npy"
expect_error "truncated npy" "truncated.npy: truncated" "$TMP/o5.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --x_T="$TMP/truncated.npy" --out="$TMP/o5.npy"
expect_error "missing pipeline file" "$TMP/absent.pbtxt" "$TMP/o6.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/absent.pbtxt" --out="$TMP/o6.npy"
/usr/bin/python3 -c "import numpy as np; np.save('$TMP/wide.npy', np.zeros((4, 3), np.float32))"
expect_error "x_T of the wrong shape" "wide.npy: x_T has shape [4, 3], want [4, 2]" "$TMP/o7.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --x_T="$TMP/wide.npy" --out="$TMP/o7.npy"

# 7. Classifier-free guidance from the command line, on the exact class-conditional oracle:
# --labels picks the classes, --guidance_scale / --negative_class add or replace the term,
# and the labels are written beside the samples.
printf '%s\n' 'data { name: "eight_gaussians" }' 'forward { name: "gaussian_vp" }' \
  'predictor { name: "mixture_oracle" }' 'prior { name: "standard_normal" }' \
  'reverse { name: "substitution" }' 'sampler { num_steps: 30 }' > "$TMP/oracle.pbtxt"
"$DIFFUSE" sample --pipeline="$TMP/oracle.pbtxt" --num=200 --labels=2 --guidance_scale=3 \
  --out="$TMP/cfg.npy" > /dev/null 2>&1
"$DIFFUSE" sample --pipeline="$TMP/oracle.pbtxt" --num=200 --labels=2 --guidance_scale=3 \
  --negative_class=3 --out="$TMP/cfg_neg.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && pass "cfg flags and labels file" || fail "cfg flags and labels file"
import sys, numpy as np
d = sys.argv[1]
x, y = np.load(d + "/cfg.npy"), np.load(d + "/cfg_labels.npy")
assert x.shape == (200, 2) and y.shape == (200,) and (y == 2).all(), (x.shape, y)
# eight_gaussians: mode k at angle 2 pi k / 8, radius 4, std 0.3 (mode 2 is (0, 4)).
assert np.abs(x - [0, 4]).max() < 1.5, np.abs(x - [0, 4]).max()
# Guiding away from mode 3 (at 135 degrees) pushes samples further from it than from null.
neg = np.load(d + "/cfg_neg.npy")
m3 = 4 * np.array([np.cos(3 * np.pi / 4), np.sin(3 * np.pi / 4)])
assert np.linalg.norm(neg - m3, axis=1).mean() > np.linalg.norm(x - m3, axis=1).mean()
PY
expect_error "bad --labels" "--labels: 'x' is not an integer" "$TMP/o9.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/oracle.pbtxt" --labels=1,x --out="$TMP/o9.npy"
expect_error "guidance scale out of range" "scale" "$TMP/o10.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/oracle.pbtxt" --guidance_scale=1000 --out="$TMP/o10.npy"
expect_error "negative class out of range" "negative_label = 12" "$TMP/o11.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/oracle.pbtxt" --negative_class=12 --out="$TMP/o11.npy"
# Every output's folder is checked before the first is written: a --png into a missing
# folder leaves the previous samples at --out untouched.
"$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --num=10 --out="$TMP/keep.npy" > /dev/null 2>&1
before=$(md5sum < "$TMP/keep.npy")
expect_error "--png into a missing folder" "--png=$TMP/missing/x.png: the folder" "$TMP/missing/x.png" -- \
  "$DIFFUSE" sample --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --num=20 --out="$TMP/keep.npy" --png="$TMP/missing/x.png"
[[ "$(md5sum < "$TMP/keep.npy")" == "$before" ]] && pass "previous --out untouched" \
  || fail "previous --out untouched"
/usr/bin/python3 -c "import numpy as np; np.save('$TMP/empty.npy', np.zeros((0, 2), np.float32)); np.save('$TMP/empty_images.npy', np.zeros((0, 1, 28, 28), np.float32))"
expect_error "eval of an empty array" "empty.npy: holds no samples" "$TMP/none" -- \
  "$DIFFUSE" eval --pipeline="$TMP/small.pbtxt" --samples="$TMP/empty.npy"
expect_error "eval --classifier of an empty array" "empty_images.npy: holds no samples" "$TMP/none" -- \
  "$DIFFUSE" eval --classifier="$TMP/none.pt" --samples="$TMP/empty_images.npy"
expect_error "classifier checkpoint missing" "$TMP/none.pt" "$TMP/o12.npy" -- \
  "$DIFFUSE" eval --classifier="$TMP/none.pt" --samples="$TMP/cfg.npy"

# 8. Token images: the masking example (grey-level tokens, U-Net logits) shrunk to 3 training
# steps and 5 sampling steps writes decoded images: float32 on the 16 bin centres.
sed -e 's/steps: 1500/steps: 3/' -e 's/checkpoint_every: 250/checkpoint_every: 3/' \
    -e 's/sampler { num_steps: 100/sampler { num_steps: 5/' \
    "$EXAMPLES/fashion_mnist_masking.pbtxt" > "$TMP/masking.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/masking.pbtxt" --out="$TMP/masking" > /dev/null 2>&1 \
  && "$DIFFUSE" sample --pipeline="$TMP/masking.pbtxt" --checkpoint="$TMP/masking/checkpoint.pt" \
       --num=4 --out="$TMP/masking.npy" --png="$TMP/masking.png" > /dev/null 2>&1
/usr/bin/python3 - "$TMP/masking.npy" <<'PY' && [[ -s "$TMP/masking.png" ]] \
  && pass "token images decoded" || fail "token images decoded"
import sys, numpy as np
x = np.load(sys.argv[1])
assert x.dtype == np.float32 and x.shape == (4, 1, 28, 28), (x.dtype, x.shape)
k = (x + 1) * 16 / 2 - 0.5  # (2k + 1) / 16 - 1 = x
assert np.allclose(k, np.round(k), atol=1e-4) and k.min() > -0.5 and k.max() < 15.5, k
PY

# 9. Replaying a Python run: x_T and every step's noise from numpy (float64), the
# trajectory checked in numpy against DDPM's closed-form posterior with that noise.
printf '%s\n' 'data { name: "eight_gaussians" }' 'forward { name: "gaussian_vp" }' \
  'predictor { name: "mixture_oracle" options { [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } } }' \
  'prior { name: "standard_normal" }' 'reverse { name: "partial_substitution" }' \
  'sampler { num_steps: 10 grid: LEADING dtype: FLOAT64 }' > "$TMP/replay.pbtxt"
/usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$TMP/replay_x_T.npy', r.standard_normal((50, 2)))
np.save('$TMP/replay_noise.npy', r.standard_normal((10, 50, 2)))"
"$DIFFUSE" sample --pipeline="$TMP/replay.pbtxt" --x_T="$TMP/replay_x_T.npy" \
  --noise="$TMP/replay_noise.npy" --trajectory="$TMP/replay_traj.npy" \
  --x0_trajectory="$TMP/replay_x0.npy" --out="$TMP/replay.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && pass "replay with --noise, --trajectory (float64)" \
  || fail "replay with --noise, --trajectory"
import sys, numpy as np
d = sys.argv[1]
x_T, z = np.load(d + "/replay_x_T.npy"), np.load(d + "/replay_noise.npy")
traj, x0, out = (np.load(d + f) for f in ("/replay_traj.npy", "/replay_x0.npy", "/replay.npy"))
assert traj.dtype == x0.dtype == out.dtype == np.float64, (traj.dtype, out.dtype)
assert traj.shape == (11, 50, 2) and x0.shape == (10, 50, 2), (traj.shape, x0.shape)
assert np.array_equal(traj[0], x_T) and np.array_equal(traj[-1], out)
betas = np.linspace(1e-4, 0.02, 1000)
ab = np.concatenate([[1.0], np.cumprod(1 - betas)])  # ours: t = diffusers' t + 1
times = [100 * k + 1 for k in range(9, -1, -1)] + [0]  # leading, 10 steps
for i in range(10):
    a_t, a_p = ab[times[i]], ab[times[i + 1]]
    beta = 1 - a_t / a_p
    mean = np.sqrt(a_p) * beta / (1 - a_t) * x0[i] + np.sqrt(1 - beta) * (1 - a_p) / (1 - a_t) * traj[i]
    want = mean + (np.sqrt((1 - a_p) / (1 - a_t) * beta) * z[i] if i < 9 else 0)
    assert np.abs(traj[i + 1] - want).max() < 1e-10, (i, np.abs(traj[i + 1] - want).max())
PY
/usr/bin/python3 -c "import numpy as np; np.save('$TMP/short_noise.npy', np.zeros((7, 50, 2)))"
expect_error "noise with too few rows" "short_noise.npy: noise has shape [7, 50, 2]" \
  "$TMP/o13.npy" -- "$DIFFUSE" sample --pipeline="$TMP/replay.pbtxt" \
  --x_T="$TMP/replay_x_T.npy" --noise="$TMP/short_noise.npy" --out="$TMP/o13.npy"

# 10. A diffusers scheduler config becomes the forward/reverse/sampler of a description.
printf '%s\n' '{"_class_name": "DDIMScheduler", "beta_schedule": "linear",' \
  '"num_train_timesteps": 1000, "clip_sample": false, "set_alpha_to_one": true,' \
  '"steps_offset": 0, "prediction_type": "epsilon", "trained_betas": null}' > "$TMP/ddim.json"
"$DIFFUSE" import-scheduler --scheduler_config="$TMP/ddim.json" --num_steps=25 \
  --out="$TMP/imported.pbtxt" > /dev/null 2>&1
{ cat "$TMP/imported.pbtxt"
  printf '%s\n' 'data { name: "eight_gaussians" }' 'predictor { name: "mixture_oracle" }' \
    'prior { name: "standard_normal" }'; } > "$TMP/imported_full.pbtxt"
"$DIFFUSE" sample --pipeline="$TMP/imported_full.pbtxt" --num=100 --out="$TMP/imported.npy" \
  > /dev/null 2>&1 && grep -q "grid: LEADING" "$TMP/imported.pbtxt" \
  && pass "import-scheduler, then sample" || fail "import-scheduler, then sample"
sed 's/"trained_betas"/"karras_mode": 1, "trained_betas"/' "$TMP/ddim.json" > "$TMP/odd.json"
expect_error "unsupported scheduler key" "odd.json: key 'karras_mode'" "$TMP/odd.pbtxt" -- \
  "$DIFFUSE" import-scheduler --scheduler_config="$TMP/odd.json" --out="$TMP/odd.pbtxt"

# 11. Imported Stable Diffusion DDIM and EulerDiscrete configs land where diffusers' own loops
# (written out below in numpy, as diffusers' step() functions compute) land from the same x_T,
# with the exact ring oracle as the model, in float64.
CONFIGS="$TEST_SRCDIR/diffuse/tools/scheduler_configs"
/usr/bin/python3 -c "import numpy as np; np.save('$TMP/sd_x_T.npy', np.random.default_rng(1).standard_normal((64, 2)))"
for cfg in ddim_stable_diffusion:50 euler_discrete:30; do
  name=${cfg%%:*}
  "$DIFFUSE" import-scheduler --scheduler_config="$CONFIGS/$name.json" --num_steps=${cfg##*:} \
    --out="$TMP/$name.pbtxt" > /dev/null 2>&1
  { sed 's/^sampler {/sampler {\n  dtype: FLOAT64/' "$TMP/$name.pbtxt"
    printf '%s\n' 'data { name: "eight_gaussians" }' \
      'predictor { name: "mixture_oracle" options { [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } } }' \
      'prior { name: "standard_normal" options { [type.googleapis.com/diffuse.StandardNormalPriorOptions] { max_terminal_alpha: 0.1 } } }'
  } > "$TMP/${name}_full.pbtxt"
  "$DIFFUSE" sample --pipeline="$TMP/${name}_full.pbtxt" --x_T="$TMP/sd_x_T.npy" \
    --out="$TMP/$name.npy" > /dev/null 2>&1
done
/usr/bin/python3 - "$TMP" <<'PY' && pass "imported DDIM / Euler match diffusers' loops (float64)" \
  || fail "imported DDIM / Euler match diffusers' loops"
import sys, numpy as np
d = sys.argv[1]
x_T = np.load(d + "/sd_x_T.npy")
ac = np.cumprod(1 - np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2)  # scaled_linear
mu = 4 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)

def eps_model(x, a, s):  # exact eps of the ring (std 0.3) at x = a x0 + s eps
    v = a * a * 0.09 + s * s
    diff = x[:, None, :] - a * mu[None]
    logit = -(diff ** 2).sum(2) / (2 * v)
    r = np.exp(logit - logit.max(1, keepdims=True)); r /= r.sum(1, keepdims=True)
    x0 = (r[:, :, None] * (mu[None] + (a * 0.09 / v) * diff)).sum(1)
    return (x - a * x0) / s

# DDIMScheduler.step, eta = 0, "leading", steps_offset 1, set_alpha_to_one false.
x = x_T.copy()
for t in np.arange(0, 50)[::-1] * 20 + 1:
    e = eps_model(x, ac[t] ** 0.5, (1 - ac[t]) ** 0.5)
    a_prev = ac[t - 20] if t - 20 >= 0 else ac[0]
    x0 = (x - (1 - ac[t]) ** 0.5 * e) / ac[t] ** 0.5
    x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * e
err = np.abs(x - np.load(d + "/ddim_stable_diffusion.npy")).max()
assert err < 1e-8, ("ddim", err)

# EulerDiscreteScheduler: float32 linspace timesteps, np.interp of sigmas, scale_model_input.
ts = np.linspace(0, 999, 30, dtype=np.float32)[::-1].copy()
sig = np.interp(ts, np.arange(1000), ((1 - ac) / ac) ** 0.5)
sig = np.concatenate([sig, [0.0]])
x = x_T * (sig[0] ** 2 + 1) ** 0.5  # init_noise_sigma
for i in range(30):
    a = 1 / (sig[i] ** 2 + 1) ** 0.5
    e = eps_model(x * a, a, sig[i] * a)
    x0 = x - sig[i] * e
    x = x + (x - x0) / sig[i] * (sig[i + 1] - sig[i])
err = np.abs(x - np.load(d + "/euler_discrete.npy")).max()
assert err < 1e-8, ("euler", err)
PY

# 12. Diffusion Autoencoders: encode test images to z_sem and x_T, decode them back.
printf '%s\n' 'data { name: "fashion_mnist" }' 'forward { name: "gaussian_vp" }' \
  'predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] { base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4 latent_dim: 16 } } }' \
  'encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] { base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: 16 } } }' \
  'prior { name: "standard_normal" }' 'reverse { name: "substitution" }' 'sampler { num_steps: 10 }' \
  'training { steps: 3 batch_size: 8 checkpoint_every: 3 }' > "$TMP/diffae.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/diffae.pbtxt" --out="$TMP/diffae" > /dev/null 2>&1
"$DIFFUSE" encode --pipeline="$TMP/diffae.pbtxt" --checkpoint="$TMP/diffae/checkpoint.pt" \
  --split=test --indices=0:6 --out="$TMP/z.npy" --x_T_out="$TMP/xT.npy" --png="$TMP/enc.png" \
  > /dev/null 2>&1
"$DIFFUSE" decode --pipeline="$TMP/diffae.pbtxt" --checkpoint="$TMP/diffae/checkpoint.pt" \
  --latent="$TMP/z.npy" --x_T="$TMP/xT.npy" --out="$TMP/dec.npy" --png="$TMP/dec.png" > /dev/null 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && [[ -s "$TMP/enc.png" && -s "$TMP/dec.png" ]] \
  && pass "encode / decode" || fail "encode / decode"
import sys, numpy as np
d = sys.argv[1]
z, xT, x = (np.load(d + f) for f in ("/z.npy", "/xT.npy", "/dec.npy"))
assert z.shape == (6, 16) and xT.shape == (6, 1, 28, 28) and x.shape == (6, 1, 28, 28)
assert np.isfinite(x).all()
PY
/usr/bin/python3 -c "import numpy as np; np.save('$TMP/z_wide.npy', np.zeros((6, 15), np.float32))"
expect_error "latent of the wrong width" "z_wide.npy: predictor 'unet' is conditioned on a latent" \
  "$TMP/o14.npy" -- "$DIFFUSE" decode --pipeline="$TMP/diffae.pbtxt" \
  --checkpoint="$TMP/diffae/checkpoint.pt" --latent="$TMP/z_wide.npy" --out="$TMP/o14.npy"
expect_error "encode without an encoder" "no encoder section" "$TMP/o15.npy" -- \
  "$DIFFUSE" encode --pipeline="$TMP/small.pbtxt" --checkpoint="$TMP/straight/checkpoint.pt" \
  --images="$TMP/first100.npy" --out="$TMP/o15.npy"

# 13. The DiffAE experiments: variations, interpolation (with the plain-DDIM baseline) and
# attribute manipulation, on the tiny model.
grep -v -e encoder -e latent_dim "$TMP/diffae.pbtxt" > "$TMP/plain.pbtxt"
printf '%s\n' 'predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] { base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4 } } }' >> "$TMP/plain.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/plain.pbtxt" --out="$TMP/plain" > /dev/null 2>&1
D="--pipeline=$TMP/diffae.pbtxt --checkpoint=$TMP/diffae/checkpoint.pt"
"$DIFFUSE" vary $D --split=test --indices=0:3 --variations=4 --out="$TMP/vary.npy" \
  --png="$TMP/vary.png" > /dev/null 2>&1
"$DIFFUSE" interpolate $D --split=test --indices=3:7 --frames=5 --baseline_pipeline="$TMP/plain.pbtxt" \
  --baseline_checkpoint="$TMP/plain/checkpoint.pt" --out="$TMP/interp.npy" --png="$TMP/interp.png" \
  > /dev/null 2>&1
"$DIFFUSE" manipulate $D --attribute=0,1 --attribute_indices=0:200 --split=test --indices=0:2 \
  --scales=-1,0,1 --out="$TMP/edit.npy" --png="$TMP/edit.png" > "$TMP/edit.log" 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && grep -q "probe accuracy" "$TMP/edit.log" \
  && pass "vary / interpolate / manipulate" || fail "vary / interpolate / manipulate"
import sys, numpy as np
d = sys.argv[1]
v, i, e = (np.load(d + f) for f in ("/vary.npy", "/interp.npy", "/edit.npy"))
assert v.shape == (3, 4, 1, 28, 28), v.shape
assert i.shape == (2, 2, 5, 1, 28, 28), i.shape  # pairs (3, 4), (5, 6); DiffAE, baseline
assert not np.allclose(i[0, 0, 0], i[1, 0, 0])
assert e.shape == (2, 3, 1, 28, 28), e.shape
assert not np.allclose(v[0, 0], v[0, 1])  # each variation has its own x_T
assert np.isfinite(v).all() and np.isfinite(i).all() and np.isfinite(e).all()
PY
# The baseline's reconstruction: the plain model's DDIM-inverted x_T (encode without an
# encoder gives x_T only), decoded by sample --x_T.
"$DIFFUSE" encode --pipeline="$TMP/plain.pbtxt" --checkpoint="$TMP/plain/checkpoint.pt" \
  --split=test --indices=0:3 --x_T_out="$TMP/xT_plain.npy" > /dev/null 2>&1 \
  && "$DIFFUSE" sample --pipeline="$TMP/plain.pbtxt" --checkpoint="$TMP/plain/checkpoint.pt" \
  --x_T="$TMP/xT_plain.npy" --out="$TMP/recon_plain.npy" > /dev/null 2>&1 \
  && /usr/bin/python3 -c "import numpy as np; x = np.load('$TMP/recon_plain.npy'); assert x.shape == (3, 1, 28, 28) and np.isfinite(x).all(), x.shape" \
  && pass "encode --x_T_out without an encoder (plain DDIM inversion)" \
  || fail "encode --x_T_out without an encoder (plain DDIM inversion)"
expect_error "interpolate needs pairs of images" "pairs of images" "$TMP/o16.npy" -- \
  "$DIFFUSE" interpolate $D --split=test --indices=0:3 --out="$TMP/o16.npy"
expect_error "manipulate with a bad attribute" "--attribute: want NEG,POS" "$TMP/o17.npy" -- \
  "$DIFFUSE" manipulate $D --attribute=3,3 --split=test --indices=0:2 --out="$TMP/o17.npy"

# 14. DiffAE's second stage: the latent_ddim prior's model of z_sem, trained on the encoded
# images by train-latent-prior, then unconditional sampling through it.
sed "s#prior { name: \"standard_normal\" }#prior { name: \"latent_ddim\" options { [type.googleapis.com/diffuse.LatentDdimPriorOptions] { dir: \"$TMP/zprior\" pipeline { forward { name: \"gaussian_vp\" } predictor { name: \"mlp\" options { [type.googleapis.com/diffuse.MlpOptions] { hidden: 32 blocks: 2 } } } prior { name: \"standard_normal\" } reverse { name: \"substitution\" } sampler { num_steps: 10 } training { steps: 30 batch_size: 32 checkpoint_every: 30 log_every: 10 } } } } }#" \
  "$TMP/diffae.pbtxt" > "$TMP/diffae_prior.pbtxt"
expect_error "latent prior before its stage" "train-latent-prior" "$TMP/o18.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/diffae_prior.pbtxt" --checkpoint="$TMP/diffae/checkpoint.pt" \
  --num=4 --out="$TMP/o18.npy"
"$DIFFUSE" train-latent-prior --pipeline="$TMP/diffae_prior.pbtxt" \
  --checkpoint="$TMP/diffae/checkpoint.pt" --split=train --indices=0:256 > "$TMP/zprior.log" 2>&1
"$DIFFUSE" sample --pipeline="$TMP/diffae_prior.pbtxt" --checkpoint="$TMP/diffae/checkpoint.pt" \
  --num=4 --out="$TMP/zsamples.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && pass "train-latent-prior, then sample through it" \
  || fail "train-latent-prior, then sample through it"
import sys, numpy as np
d = sys.argv[1]
z, stats, x = (np.load(d + f) for f in ("/zprior/latents.npy", "/zprior/latent_stats.npy", "/zsamples.npy"))
assert z.shape == (256, 16) and stats.shape == (2, 16), (z.shape, stats.shape)
assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0, ddof=1), 1, atol=1e-3)
assert x.shape == (4, 1, 28, 28) and np.isfinite(x).all()
PY

# 15. Latent diffusion: an autoencoder (VAE) whose prior models its codes, trained in two
# stages (train, then train-latent-prior), sampled by decoding the model's z.
printf '%s\n' 'data { name: "fashion_mnist" }' \
  'encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] { base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: 8 gaussian: true } } }' \
  'decoder { name: "conv_decoder" options { [type.googleapis.com/diffuse.ConvDecoderOptions] { base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: 8 } } }' \
  'sampler { batch_size: 4 }' 'training { steps: 3 batch_size: 8 checkpoint_every: 3 latent_kl_weight: 1 }' \
  > "$TMP/vae.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/vae.pbtxt" --out="$TMP/vae" > /dev/null 2>&1
expect_error "train-latent-prior on an autoencoder without a model of z" 'prior must be "latent_ddim"' \
  "$TMP/o19.npy" -- "$DIFFUSE" train-latent-prior --pipeline="$TMP/vae.pbtxt" \
  --checkpoint="$TMP/vae/checkpoint.pt" --split=train --indices=0:64
{ cat "$TMP/vae.pbtxt"; echo "prior { name: \"latent_ddim\" options { [type.googleapis.com/diffuse.LatentDdimPriorOptions] { dir: \"$TMP/vae_z\" pipeline { forward { name: \"gaussian_vp\" } predictor { name: \"mlp\" options { [type.googleapis.com/diffuse.MlpOptions] { hidden: 32 blocks: 2 } } } prior { name: \"standard_normal\" } reverse { name: \"substitution\" } sampler { num_steps: 10 } training { steps: 30 batch_size: 32 checkpoint_every: 30 log_every: 10 } } } } }"; } \
  > "$TMP/latent_diffusion.pbtxt"
"$DIFFUSE" train-latent-prior --pipeline="$TMP/latent_diffusion.pbtxt" \
  --checkpoint="$TMP/vae/checkpoint.pt" --split=train --indices=0:128 > "$TMP/vae_z.log" 2>&1
"$DIFFUSE" sample --pipeline="$TMP/latent_diffusion.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --num=4 --out="$TMP/latent_samples.npy" > /dev/null 2>&1
"$DIFFUSE" sample --pipeline="$TMP/vae.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --num=4 --out="$TMP/vae_samples.npy" > /dev/null 2>&1
# encode / decode on the autoencoder: z = the mean of q(z | x0), decoded to the mean of
# p(x | z); it has no x_T.
"$DIFFUSE" encode --pipeline="$TMP/vae.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --split=test --indices=0:4 --out="$TMP/vae_codes.npy" > /dev/null 2>&1
"$DIFFUSE" decode --pipeline="$TMP/vae.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --latent="$TMP/vae_codes.npy" --out="$TMP/vae_recon.npy" > /dev/null 2>&1
expect_error "encode x_T of an autoencoder" "an autoencoder's code is z alone" "$TMP/o19b.npy" -- \
  "$DIFFUSE" encode --pipeline="$TMP/vae.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --split=test --indices=0:4 --x_T_out="$TMP/o19b.npy"
expect_error "decode an autoencoder from x_T" "--x_T: $TMP/vae.pbtxt is an autoencoder" "$TMP/o19c.npy" -- \
  "$DIFFUSE" decode --pipeline="$TMP/vae.pbtxt" --checkpoint="$TMP/vae/checkpoint.pt" \
  --latent="$TMP/vae_codes.npy" --x_T="$TMP/vae_codes.npy" --out="$TMP/o19c.npy"
# The codes are tied to the checkpoint they were encoded with: after the VAE trains further,
# reusing them is refused by name.
cp -r "$TMP/vae" "$TMP/vae_more"
sed 's/steps: 3 /steps: 6 /' "$TMP/vae.pbtxt" > "$TMP/vae_more.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/vae_more.pbtxt" --out="$TMP/vae_more" > /dev/null 2>&1
expect_error "train-latent-prior with codes of an earlier checkpoint" "was encoded with another checkpoint" \
  "$TMP/o20.npy" -- "$DIFFUSE" train-latent-prior --pipeline="$TMP/latent_diffusion.pbtxt" \
  --checkpoint="$TMP/vae_more/checkpoint.pt" --split=train --indices=0:128
expect_error "sample through a model of an earlier checkpoint's codes" "was encoded with another checkpoint" \
  "$TMP/o20b.npy" -- "$DIFFUSE" sample --pipeline="$TMP/latent_diffusion.pbtxt" \
  --checkpoint="$TMP/vae_more/checkpoint.pt" --num=2 --out="$TMP/o20b.npy"
/usr/bin/python3 - "$TMP" <<'PY' && pass "latent diffusion: train, train-latent-prior, sample; encode / decode its VAE" \
  || fail "latent diffusion: train, train-latent-prior, sample"
import sys, numpy as np
d = sys.argv[1]
z, x, plain = (np.load(d + f) for f in ("/vae_z/latents.npy", "/latent_samples.npy", "/vae_samples.npy"))
assert z.shape == (128, 8), z.shape
assert x.shape == (4, 1, 28, 28) and np.isfinite(x).all(), x.shape
assert np.abs(x - plain).max() > 1e-4  # z from the model of the codes, not N(0, I)
codes, recon = np.load(d + "/vae_codes.npy"), np.load(d + "/vae_recon.npy")
assert codes.shape == (4, 8) and recon.shape == (4, 1, 28, 28) and np.isfinite(recon).all()
PY

# 16. Classifier guidance with a trained noisy classifier: `train` on a classifier
# description, then a U-Net pipeline guided by it through classifier "trained_classifier";
# other verbs refuse the classifier description.
sed -e 's/base_channels: 32/base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4/' \
  -e 's/^  steps: [0-9]*/  steps: 4/' -e 's/batch_size: 64/batch_size: 8/' \
  -e 's/checkpoint_every: 500/checkpoint_every: 4/' \
  "$EXAMPLES/fashion_mnist_noisy_classifier.pbtxt" > "$TMP/noisy_classifier.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/noisy_classifier.pbtxt" --out="$TMP/noisy_classifier" \
  > "$TMP/noisy_classifier.log" 2>&1
printf '%s\n' 'data { name: "fashion_mnist" }' \
  'forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE num_steps: 1000 } } }' \
  'predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] { base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4 } } }' \
  'prior { name: "standard_normal" }' 'reverse { name: "substitution" }' \
  'sampler { num_steps: 5 batch_size: 4 }' 'training { steps: 2 batch_size: 8 checkpoint_every: 2 }' \
  > "$TMP/small_unet.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/small_unet.pbtxt" --out="$TMP/small_unet" > /dev/null 2>&1
guided() {  # guided SCALE CHECKPOINT
  cat "$TMP/small_unet.pbtxt"
  echo "guidance { name: \"classifier\" options { [type.googleapis.com/diffuse.ClassifierGuidanceOptions] { scale: $1 classifier { name: \"trained_classifier\" options { [type.googleapis.com/diffuse.TrainedClassifierOptions] { checkpoint: \"$2\" } } } } } }"
}
guided 0 "$TMP/noisy_classifier/checkpoint.pt" > "$TMP/guided0.pbtxt"
guided 30 "$TMP/noisy_classifier/checkpoint.pt" > "$TMP/guided30.pbtxt"
for s in 0 30; do
  "$DIFFUSE" sample --pipeline="$TMP/guided$s.pbtxt" --checkpoint="$TMP/small_unet/checkpoint.pt" \
    --num=4 --out="$TMP/guided$s.npy" > /dev/null 2>&1
done
"$DIFFUSE" sample --pipeline="$TMP/small_unet.pbtxt" --checkpoint="$TMP/small_unet/checkpoint.pt" \
  --num=4 --out="$TMP/unguided.npy" > /dev/null 2>&1
expect_error "sample from a classifier description" "a classifier description is trained by" \
  "$TMP/o21.npy" -- "$DIFFUSE" sample --pipeline="$TMP/noisy_classifier.pbtxt" \
  --checkpoint="$TMP/noisy_classifier/checkpoint.pt" --num=2 --out="$TMP/o21.npy"
guided 1 "$TMP/small_unet/checkpoint.pt" > "$TMP/guided_wrong.pbtxt"
expect_error "classifier guidance from a U-Net checkpoint" "was not trained from a classifier description" \
  "$TMP/o22.npy" -- "$DIFFUSE" sample --pipeline="$TMP/guided_wrong.pbtxt" \
  --checkpoint="$TMP/small_unet/checkpoint.pt" --num=2 --out="$TMP/o22.npy"
/usr/bin/python3 - "$TMP" <<'PY' && pass "classifier guidance: train a noisy classifier, sample guided by it" \
  || fail "classifier guidance: train a noisy classifier, sample guided by it"
import sys, numpy as np
d = sys.argv[1]
log = open(d + "/noisy_classifier.log").read()
assert "accuracy" in log, log
g0, g30, plain = (np.load(d + f) for f in ("/guided0.npy", "/guided30.npy", "/unguided.npy"))
labels = np.load(d + "/guided30_labels.npy")
assert list(labels) == [0, 1, 2, 3], labels
assert np.array_equal(g0, plain)            # s = 0: the unguided samples
assert np.abs(g30 - plain).max() > 1e-3     # s = 30 moves them
PY

# 17. Text: a text-image model trained from its description (captions measured from the
# pixels), CLIP guidance toward a prompt with it, and a U-Net conditioned on its prompt
# embeddings, sampled with --prompt and --negative_prompt.
sed -e 's/latent_dim: 64/latent_dim: 16 base_channels: 8 channel_mult: [1, 2] groups: 4/' \
  -e 's/embedding_dim: 64/embedding_dim: 16 hidden_dim: 16/' \
  -e 's/^  steps: [0-9]*/  steps: 4/' -e 's/batch_size: 128/batch_size: 16/' \
  -e 's/checkpoint_every: 250/checkpoint_every: 4/' \
  "$EXAMPLES/fashion_mnist_text_image.pbtxt" > "$TMP/text_image.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/text_image.pbtxt" --out="$TMP/text_image" > "$TMP/text_image.log" 2>&1
{ cat "$TMP/small_unet.pbtxt"
  echo "guidance { name: \"clip\" options { [type.googleapis.com/diffuse.ClipGuidanceOptions] { checkpoint: \"$TMP/text_image/checkpoint.pt\" scale: 1000 } } }"
} > "$TMP/clip.pbtxt"
"$DIFFUSE" sample --pipeline="$TMP/clip.pbtxt" --checkpoint="$TMP/small_unet/checkpoint.pt" \
  --num=4 --prompt="dark sandal;light bag" --out="$TMP/clip.npy" > /dev/null 2>&1
sed -e 's/base_channels: 8 channel_mult/latent_dim: 16 base_channels: 8 channel_mult/' \
  -e 's/^training {.*/training { steps: 2 batch_size: 8 checkpoint_every: 2 condition_dropout: 0.2 }/' \
  "$TMP/small_unet.pbtxt" > "$TMP/text_unet.pbtxt"
echo "text_encoder { name: \"trained_text_encoder\" options { [type.googleapis.com/diffuse.TrainedTextEncoderOptions] { checkpoint: \"$TMP/text_image/checkpoint.pt\" } } }" >> "$TMP/text_unet.pbtxt"
"$DIFFUSE" train --pipeline="$TMP/text_unet.pbtxt" --out="$TMP/text_unet" > /dev/null 2>&1
"$DIFFUSE" sample --pipeline="$TMP/text_unet.pbtxt" --checkpoint="$TMP/text_unet/checkpoint.pt" \
  --num=4 --prompt="dark sandal;bag" --negative_prompt="light" --guidance_scale=2 \
  --out="$TMP/text.npy" > /dev/null 2>&1
"$DIFFUSE" sample --pipeline="$TMP/text_unet.pbtxt" --checkpoint="$TMP/text_unet/checkpoint.pt" \
  --num=4 --prompt="dark sandal;bag" --guidance_scale=2 --out="$TMP/text_null.npy" > /dev/null 2>&1
expect_error "sample from a text-image description" "a text-image description is trained by" \
  "$TMP/o23.npy" -- "$DIFFUSE" sample --pipeline="$TMP/text_image.pbtxt" \
  --checkpoint="$TMP/text_image/checkpoint.pt" --num=2 --out="$TMP/o23.npy"
expect_error "a prompt word outside the vocabulary" "unknown word 'boat'" "$TMP/o24.npy" -- \
  "$DIFFUSE" sample --pipeline="$TMP/text_unet.pbtxt" --checkpoint="$TMP/text_unet/checkpoint.pt" \
  --num=2 --prompt="dark boat" --out="$TMP/o24.npy"
expect_error "a text-conditioned U-Net without a prompt" "set sampler.prompts (or --prompt)" \
  "$TMP/o25.npy" -- "$DIFFUSE" sample --pipeline="$TMP/text_unet.pbtxt" \
  --checkpoint="$TMP/text_unet/checkpoint.pt" --num=2 --out="$TMP/o25.npy"
"$DIFFUSE" zero-shot --checkpoint="$TMP/text_image/checkpoint.pt" --split=test --indices=0:50 \
  > "$TMP/zero_shot.txt" 2>&1
# eval reads FILE_prompts.txt (each prompt word's adherence) with an evaluation classifier
# of one epoch, and refuses a --same_class_as file of another shape.
"$DIFFUSE" train-classifier --out="$TMP/eval_classifier" --epochs=1 > /dev/null 2>&1
"$DIFFUSE" eval --classifier="$TMP/eval_classifier/classifier.pt" --samples="$TMP/text.npy" \
  --same_class_as="$TMP/text_null.npy" > "$TMP/text_eval.txt" 2>&1
expect_error "eval --same_class_as of another shape" "--same_class_as: " "$TMP/o26.npy" -- \
  "$DIFFUSE" eval --classifier="$TMP/eval_classifier/classifier.pt" --samples="$TMP/text.npy" \
  --same_class_as="$TMP/wide.npy"
/usr/bin/python3 - "$TMP" <<'PY' && pass "text: train a text-image model, CLIP guidance, a text-conditioned U-Net" \
  || fail "text: train a text-image model, CLIP guidance, a text-conditioned U-Net"
import sys, numpy as np
d = sys.argv[1]
log = open(d + "/text_image.log").read()
assert "accuracy" in log, log
clip, text, plain, null = (np.load(d + f) for f in ("/clip.npy", "/text.npy", "/unguided.npy", "/text_null.npy"))
assert np.abs(text - null).max() > 1e-4     # --negative_prompt replaces the null embedding
assert clip.shape == text.shape == (4, 1, 28, 28) and np.isfinite(clip).all() and np.isfinite(text).all()
assert np.abs(clip - plain).max() > 1e-3     # the prompt moves the unguided samples
report = open(d + "/text_eval.txt").read()
import re
assert re.search(r"^same class as .*text_null\.npy: [01]\.\d{3} \(\d / 4\)$", report, re.M), report
assert "prompt adherence" in report and "class " in report and "dark " in report, report
zero_shot = open(d + "/zero_shot.txt").read()
assert "(clean images), 50 images" in zero_shot and "clean " in zero_shot, zero_shot
prompts = open(d + "/text_prompts.txt").read().split("\n")
assert prompts[:4] == ["dark sandal", "bag", "dark sandal", "bag"], prompts
PY

# 18. Editing real images: Asyrp learns its h-space shift from --learn_images, saves it, and
# edits test images; the shift loaded back edits them bit for bit the same, and they differ from
# the reconstruction (the chain without the shift); DiffusionCLIP fine-tunes the model or optimizes the noise; eval scores identity.
/usr/bin/python3 -c "
import numpy as np, sys
np.save(sys.argv[1], np.random.default_rng(0).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32))
" "$TMP/learn.npy"
/usr/bin/python3 -c "
import numpy as np, sys
np.save(sys.argv[1], np.full((2, 1, 28, 28), 255, np.float32))
" "$TMP/uint8.npy"
edit_pbtxt() {  # edit_pbtxt FIELDS...
  cat "$TMP/small_unet.pbtxt"
  echo "edit { loss { name: \"clip_direction\" options { [type.googleapis.com/diffuse.ClipDirectionOptions] { checkpoint: \"$TMP/text_image/checkpoint.pt\" source_prompt: \"dark\" target_prompt: \"light\" } } } $* }"
}
edit_pbtxt num_steps: 4 inversion_steps: 4 edit_until: 0.5 boost_below: 0.25 batch_size: 4 > "$TMP/asyrp.pbtxt"
edit_pbtxt method: FINETUNE_MODEL start_time: 0.5 num_steps: 2 inversion_steps: 4 batch_size: 4 learning_rate: 0.0001 > "$TMP/finetune.pbtxt"
edit_pbtxt method: OPTIMIZE_NOISE start_time: 0.5 num_steps: 2 inversion_steps: 4 noise_iterations: 2 > "$TMP/noise.pbtxt"
edit_pbtxt edit_until: 0.2 boost_below: 0.4 > "$TMP/phases.pbtxt"
E=("$DIFFUSE" edit --checkpoint="$TMP/small_unet/checkpoint.pt" --split=test --indices=0:6)
"${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --learn_images="$TMP/learn.npy" \
  --save_learned="$TMP/shift.pt" --out="$TMP/asyrp.npy" --png="$TMP/asyrp.png" > "$TMP/asyrp.txt" 2> "$TMP/asyrp.log"
"${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --learned="$TMP/shift.pt" --out="$TMP/asyrp_loaded.npy" > /dev/null 2>&1
"${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --reconstruct --out="$TMP/asyrp_rec.npy" > /dev/null 2>&1
"${E[@]}" --pipeline="$TMP/finetune.pbtxt" --learn_images="$TMP/learn.npy" --out="$TMP/finetune.npy" > /dev/null 2>&1
"${E[@]}" --pipeline="$TMP/noise.pbtxt" --out="$TMP/noise.npy" > /dev/null 2>&1
"$DIFFUSE" eval --classifier="$TMP/eval_classifier/classifier.pt" --samples="$TMP/asyrp.npy" \
  --same_class_as="$TMP/asyrp_original.npy" > "$TMP/asyrp_eval.txt" 2>&1
expect_error "edit: phases out of order" "edit.boost_below = 0.4 must be <= edit.edit_until = 0.2" \
  "$TMP/o27.npy" -- "${E[@]}" --pipeline="$TMP/phases.pbtxt" --learn_images="$TMP/learn.npy" --out="$TMP/o27.npy"
expect_error "edit: a description without an edit section" "no edit section" "$TMP/o28.npy" -- \
  "${E[@]}" --pipeline="$TMP/small_unet.pbtxt" --out="$TMP/o28.npy"
expect_error "edit: Asyrp with nothing to learn from" "give --learn_images" "$TMP/o29.npy" -- \
  "${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --out="$TMP/o29.npy"
expect_error "edit: images outside [-1, 1]" "values in [" "$TMP/o31.npy" -- \
  "${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --learn_images="$TMP/uint8.npy" --out="$TMP/o31.npy"
expect_error "edit: --shift_scale without a shift" "--shift_scale: edit.method OPTIMIZE_NOISE" \
  "$TMP/o32.npy" -- "${E[@]}" --pipeline="$TMP/noise.pbtxt" --shift_scale=2 --out="$TMP/o32.npy"
expect_error "edit: a learned shift that is not one" "$TMP/learn.npy: not the learned weights" \
  "$TMP/o30.npy" -- "${E[@]}" --pipeline="$TMP/asyrp.pbtxt" --learned="$TMP/learn.npy" --out="$TMP/o30.npy"
/usr/bin/python3 - "$TMP" <<'PY' && pass "edit: Asyrp, DiffusionCLIP fine-tuning and noise optimization" \
  || fail "edit: Asyrp, DiffusionCLIP fine-tuning and noise optimization"
import sys, numpy as np
d = sys.argv[1]
edited, loaded, rec, ft, noise, orig = (np.load(d + f) for f in (
    "/asyrp.npy", "/asyrp_loaded.npy", "/asyrp_rec.npy", "/finetune.npy", "/noise.npy", "/asyrp_original.npy"))
assert edited.shape == ft.shape == noise.shape == orig.shape == (6, 1, 28, 28)
assert np.array_equal(loaded, edited)        # the saved shift, loaded, edits the same
assert not np.array_equal(edited, rec)       # the learned shift moves the images
assert all(np.isfinite(x).all() for x in (edited, ft, noise))
assert open(d + "/asyrp_prompts.txt").read() == "light\n" * 6
assert "edit asyrp: epoch 1  images 8/8" in open(d + "/asyrp.log").read()
assert "edit loss of the edits against the originals: mean" in open(d + "/asyrp.txt").read()
report = open(d + "/asyrp_eval.txt").read()
assert "identity to " in report and "light " in report, report
import os
assert os.path.getsize(d + "/asyrp.png") > 0 and os.path.getsize(d + "/shift.pt") > 0
PY

# 19. The negative ELBO (diffuse elbo) of exact eight_gaussians samples under the exact
# oracle bounds their exact -log p; a VE forward process is refused by name.
/usr/bin/python3 - "$TMP" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(7)
k = rng.integers(0, 8, 4000)
centres = 4 * np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], 1)
x = centres + 0.3 * rng.standard_normal((4000, 2))
np.save(sys.argv[1] + "/ring.npy", x.astype(np.float32))
all_centres = 4 * np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)
d2 = ((x.astype(np.float32).astype(np.float64)[:, None, :] - all_centres[None]) ** 2).sum(2)
log_p = np.log(np.exp(-d2 / (2 * 0.09)).mean(1)) - np.log(2 * np.pi * 0.09)
open(sys.argv[1] + "/ring_nll.txt", "w").write(str(-log_p.mean()))
PY
"$DIFFUSE" elbo --pipeline="$EXAMPLES/eight_gaussians_oracle_ddpm.pbtxt" --images="$TMP/ring.npy" \
  --draws=8 > "$TMP/elbo.txt" 2>&1
expect_error "elbo: a VE forward process" "forward 'gaussian_ve'" "$TMP/o33.npy" -- \
  "$DIFFUSE" elbo --pipeline="$EXAMPLES/eight_gaussians_ve_heun.pbtxt" --images="$TMP/ring.npy"
/usr/bin/python3 - "$TMP" <<'PY' && pass "elbo: the negative ELBO bounds the exact -log p of the ring" \
  || fail "elbo: the negative ELBO bounds the exact -log p of the ring"
import sys, re
d = sys.argv[1]
report = open(d + "/elbo.txt").read()
total = float(re.search(r"^  total +(-?[\d.]+)", report, re.M).group(1))
nll = float(open(d + "/ring_nll.txt").read())
assert "denoising" in report and "reconstruction" in report, report
se = float(re.search(r"^  denoising +[-\d.]+ \+- ([\d.]+)", report, re.M).group(1))
assert nll - 4 * se < total < nll + 2, (total, nll, report)   # a bound, loose by DDPM's fixed variance
PY

# 20. img2img (SDEdit) and inpaint (RePaint) on test images with the tiny plain U-Net.
P="--pipeline=$TMP/plain.pbtxt --checkpoint=$TMP/plain/checkpoint.pt"
"$DIFFUSE" img2img $P --split=test --indices=0:4 --strength=0 --out="$TMP/i2i_0.npy" > /dev/null 2>&1
"$DIFFUSE" img2img $P --split=test --indices=0:4 --strength=0.5 --out="$TMP/i2i.npy" \
  --png="$TMP/i2i.png" > /dev/null 2>&1
"$DIFFUSE" inpaint $P --split=test --indices=0:4 --mask=lower_half --resample=2 --jump=5 \
  --out="$TMP/inpaint.npy" --png="$TMP/inpaint.png" > "$TMP/inpaint.log" 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && [[ -s "$TMP/i2i.png" && -s "$TMP/inpaint.png" ]] \
  && pass "img2img / inpaint ($(head -n 1 "$TMP/inpaint.log"))" || fail "img2img / inpaint"
import sys, numpy as np
d = sys.argv[1]
zero, half, inp = (np.load(d + f) for f in ("/i2i_0.npy", "/i2i.npy", "/inpaint.npy"))
assert zero.shape == half.shape == inp.shape == (4, 1, 28, 28), (zero.shape, half.shape, inp.shape)
# strength 0 returns the images: they are the first test images in [-1, 1]
assert zero.min() >= -1 and zero.max() <= 1 and np.isfinite(half).all() and np.isfinite(inp).all()
assert np.abs(half - zero).max() > 0.01
# inpaint keeps the known (upper) half exactly, generates the lower one
assert np.array_equal(inp[:, :, :14], zero[:, :, :14]), np.abs(inp[:, :, :14] - zero[:, :, :14]).max()
assert np.abs(inp[:, :, 14:] - zero[:, :, 14:]).max() > 0.01
PY
# Images from an image-folder manifest: four 28 x 28 grey PNGs, prepared as the pipeline's
# data (1 x 28 x 28); strength 0 returns them in [-1, 1].
mkdir -p "$TMP/folder"
/usr/bin/python3 - "$TMP/folder" <<'PY'
import json, struct, sys, zlib
d = sys.argv[1]
def png(path, value):
    raw = b"".join(b"\0" + bytes([value] * 28) for _ in range(28))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
with open(d + "/manifest.jsonl", "w") as m:
    for i, v in enumerate([0, 51, 204, 255]):
        png(f"{d}/{i}.png", v)
        m.write(json.dumps({"file": f"{i}.png", "caption": f"grey {v}"}) + "\n")
PY
"$DIFFUSE" img2img $P --images="$TMP/folder/manifest.jsonl" --indices=0:4 --strength=0 \
  --out="$TMP/folder.npy" > /dev/null 2>&1
/usr/bin/python3 - "$TMP" <<'PY' && pass "img2img reads an image folder" || fail "img2img reads an image folder"
import sys, numpy as np
x = np.load(sys.argv[1] + "/folder.npy")
assert x.shape == (4, 1, 28, 28), x.shape
want = np.array([0, 51, 204, 255]) / 127.5 - 1
assert np.allclose(x.reshape(4, -1), want[:, None], atol=1e-6), x.reshape(4, -1)[:, 0]
PY
expect_error "inpaint without a mask" "--mask is required" "$TMP/o40.npy" -- \
  "$DIFFUSE" inpaint $P --split=test --indices=0:2 --out="$TMP/o40.npy"
expect_error "inpaint with an unknown mask keyword" "lower_half, upper_half" "$TMP/o41.npy" -- \
  "$DIFFUSE" inpaint $P --split=test --indices=0:2 --mask=bottom --out="$TMP/o41.npy"
expect_error "img2img strength out of range" "strength = 2 must be in [0, 1]" "$TMP/o42.npy" -- \
  "$DIFFUSE" img2img $P --split=test --indices=0:2 --strength=2 --out="$TMP/o42.npy"

# The evaluation network of an image folder: 24 RGB pictures whose colour is an attribute;
# the pictures themselves, scored as samples with their own captions, agree with the asked
# colour exactly as often as the real pictures do (ratio 1.00) and sit at distance 0.
mkdir -p "$TMP/rgb"
/usr/bin/python3 - "$TMP/rgb" <<'PY'
import json, struct, sys, zlib
import numpy as np
d = sys.argv[1]
def png(path, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * 8 for _ in range(8))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
images, captions = [], []
with open(d + "/manifest.jsonl", "w") as m:
    for i in range(24):
        colour = ["red", "green", "blue"][i % 3]
        rgb = [0, 0, 0]
        rgb[i % 3] = 120 + 5 * i
        png(f"{d}/{i}.png", rgb)
        m.write(json.dumps({"file": f"{i}.png", "caption": f"{colour} square {i}", "colour": colour}) + "\n")
        images.append(np.array(rgb, dtype=np.float32)[:, None, None] * np.ones((3, 8, 8), np.float32) / 127.5 - 1)
        captions.append(f"{colour} square {i}")
np.save(d + "/self.npy", np.stack(images))
open(d + "/self_prompts.txt", "w").write("".join(c + "\n" for c in captions))
np.save(d + "/grey.npy", np.zeros((4, 1, 8, 8), np.float32))
PY
cat > "$TMP/rgb.pbtxt" <<PBTXT
data { name: "image_folder" options { [type.googleapis.com/diffuse.ImageFolderOptions] {
  manifest: "$TMP/rgb/manifest.jsonl" size: 8 test_permille: 500 caption_column: "caption"
  attribute_columns: ["colour"] } } }
training { seed: 5 }
PBTXT
"$DIFFUSE" train-evaluator --pipeline="$TMP/rgb.pbtxt" --out="$TMP/evaluator" --evaluator_epochs=2 \
  > "$TMP/evaluator.out" 2>&1 && grep -q "colour" "$TMP/evaluator/evaluator.txt" \
  && pass "train-evaluator" || fail "train-evaluator: $(tail -n 1 "$TMP/evaluator.out")"
"$DIFFUSE" image-eval --pipeline="$TMP/rgb.pbtxt" --evaluator="$TMP/evaluator/evaluator.pt" \
  --samples="$TMP/rgb/self.npy" > "$TMP/image_eval.out" 2>&1
grep -Eq "colour +[0-9.]+ \| [0-9.]+ \| 1.00  \(24 asked\)" "$TMP/image_eval.out" \
  && grep -q "real picture: 0.0000" "$TMP/image_eval.out" \
  && pass "image-eval scores real pictures as real" || fail "image-eval: $(cat "$TMP/image_eval.out")"
expect_error "image-eval on grey samples" "the evaluator reads images [N, 3, 8, 8], got [4, 1, 8, 8]" "$TMP/none" -- \
  "$DIFFUSE" image-eval --pipeline="$TMP/rgb.pbtxt" --evaluator="$TMP/evaluator/evaluator.pt" --samples="$TMP/rgb/grey.npy"
expect_error "image-eval with another checkpoint" "is not an image evaluator checkpoint" "$TMP/none" -- \
  "$DIFFUSE" image-eval --pipeline="$TMP/rgb.pbtxt" --evaluator="$TMP/straight/checkpoint.pt" --samples="$TMP/rgb/self.npy"
expect_error "train-evaluator on data without pictures" 'reads the pictures of data "image_folder"' "$TMP/ev2/evaluator.pt" -- \
  "$DIFFUSE" train-evaluator --pipeline="$TMP/small.pbtxt" --out="$TMP/ev2"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
