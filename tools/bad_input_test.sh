#!/usr/bin/env bash
# The bad-input catalog: every class of malformed input the CLI has met (descriptions,
# checkpoints, safetensors, .npy arrays, IDX files, flags, output paths), each checked for
# the same four things:
#   exit status exactly 1;
#   exactly one line on stderr (besides the training verbs' BLAS banner), naming the file
#     or field at fault;
#   no file left behind in the output folder;
#   a previous output at the same path byte-identical afterwards.
set -u
DIFFUSE="$TEST_SRCDIR/diffuse/tools/diffuse"
EXAMPLES="$TEST_SRCDIR/diffuse/pipeline/examples"
W="$TEST_TMPDIR/inputs"  # the bad inputs and the good ones they are made from
O="$TEST_TMPDIR/outputs"  # the only folder the refused commands may write to
mkdir -p "$W" "$O"
cases=0
failures=0

# Every path under $O and every file's checksum; a run directory's .lock holds the pid of
# its last trainer, so only its presence counts.
snapshot() {
  (cd "$O" && find . | sort && find . -type f ! -name .lock -print0 | sort -z | xargs -0 -r md5sum)
}

# refuse NAME WANT OUTPUT -- COMMAND...: an OUTPUT file (a name with an extension) gets a
# previous version first; afterwards nothing under $O may have changed (a run directory
# named OUTPUT must not appear, an existing one must keep its files).
refuse() {
  local name="$1" want="$2" out="$3"
  shift 4
  cases=$((cases + 1))
  [[ -e "$out" || "$(basename "$out")" != *.* ]] || printf 'previous output\n' > "$out"
  local before err rc lines
  before=$(snapshot)
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$err" | grep -v '^BLAS ' | grep -c .)
  local last
  last=$(printf '%s\n' "$err" | grep -v '^BLAS ' | tail -n 1)
  if [[ $rc -ne 1 ]]; then
    failures=$((failures + 1)); echo "FAILED: $name: exit status $rc, want 1 ($last)"
  elif [[ $lines -ne 1 ]]; then
    failures=$((failures + 1)); echo "FAILED: $name: $lines lines on stderr:"; printf '%s\n' "$err"
  elif [[ "$last" != *"$want"* ]]; then
    failures=$((failures + 1)); echo "FAILED: $name: '$last' lacks '$want'"
  elif [[ "$(snapshot)" != "$before" ]]; then
    failures=$((failures + 1)); echo "FAILED: $name: the output folder changed"
    diff <(echo "$before") <(snapshot) | head -n 5
  else
    echo "ok: $name ($last)"
  fi
}

py() { /usr/bin/python3 -c "import numpy as np, struct, json; $1"; }

# --- Good inputs to damage ---------------------------------------------------------------
sed -e 's/steps: 6000/steps: 20/' -e 's/checkpoint_every: 1000/checkpoint_every: 20/' \
    -e 's/log_every: 500/log_every: 10/' -e 's/hidden: 128/hidden: 32/' \
    "$EXAMPLES/eight_gaussians_ddim.pbtxt" > "$W/small.pbtxt"
sed 's/hidden: 32/hidden: 16/' "$W/small.pbtxt" > "$W/narrow.pbtxt"
sed 's/schedule: SIGMOID num_steps/schedule: LINEAR num_steps/' "$W/small.pbtxt" > "$W/linear.pbtxt"
sed 's/learning_rate: 0.002/learning_rate: 0.001/' "$W/small.pbtxt" > "$W/other_lr.pbtxt"
"$DIFFUSE" train --pipeline="$W/small.pbtxt" --out="$W/run" > /dev/null 2>&1
"$DIFFUSE" train --pipeline="$W/narrow.pbtxt" --out="$W/narrow" > /dev/null 2>&1
"$DIFFUSE" export --pipeline="$W/narrow.pbtxt" --checkpoint="$W/narrow/checkpoint.pt" \
  --out="$W/narrow.safetensors" > /dev/null 2>&1
"$DIFFUSE" export --pipeline="$W/small.pbtxt" --checkpoint="$W/run/checkpoint.pt" \
  --out="$W/good.safetensors" > /dev/null 2>&1
CK="$W/run/checkpoint.pt"
[[ -s "$CK" && -s "$W/narrow/checkpoint.pt" && -s "$W/good.safetensors" ]] \
  || { echo "FAILED: could not train the inputs"; exit 1; }
S=("$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$CK")

# refuse_edit NAME WANT FILE SED_ARGS...: the small description edited by sed into W/FILE,
# then refused by `sample`.
refuse_edit() {
  local name="$1" want="$2" file="$3"
  shift 3
  sed "$@" "$W/small.pbtxt" > "$W/$file"
  refuse "$name" "$want" "$O/s.npy" -- "$DIFFUSE" sample --pipeline="$W/$file" --out="$O/s.npy"
}

# refuse_while_locked NAME WANT DIR -- COMMAND...: refuse, while another process holds
# DIR/.lock (flock(1) takes the same flock(2) lock the trainers take).
refuse_while_locked() {
  local dir="$3"
  mkdir -p "$dir"
  flock -n "$dir/.lock" sleep 60 &
  local holder=$!
  sleep 0.3
  refuse "$@"
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
}

# --- 1. Descriptions -------------------------------------------------------------------
printf 'data { name: "eight_gaussians" }\nforward { name: "gaussian_vp" \n' > "$W/unclosed.pbtxt"
refuse "unclosed brace" "unclosed.pbtxt:3:" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/unclosed.pbtxt" --out="$O/s.npy"
printf 'data { name: "eight_gaussians" }\nforward { nme: 1 }\n' > "$W/field.pbtxt"
refuse "unknown field" "field.pbtxt:2:" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/field.pbtxt" --out="$O/s.npy"
refuse_edit "unknown component" "reverse.name: unknown component 'ddim_typo'" component.pbtxt \
  's/name: "substitution"/name: "ddim_typo"/'
refuse_edit "unknown data" "data.name: unknown component 'nine_gaussians'" data.pbtxt \
  's/name: "eight_gaussians"/name: "nine_gaussians"/'
py "open('$W/deep.pbtxt', 'w').write('prior { options { ' * 200000)"
refuse "messages nested 200,000 deep" "deep.pbtxt:1:" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/deep.pbtxt" --out="$O/s.npy"
refuse_edit "options of another component" "wrong_options.pbtxt:10:" wrong_options.pbtxt \
  's/diffuse.GaussianVpOptions/diffuse.MlpOptions/'
refuse_edit "zero sampling steps" "sampler.num_steps = 0" zero_steps.pbtxt \
  's/sampler { num_steps: 50/sampler { num_steps: 0/'
refuse_edit "2^31 steps on a continuous grid" "sampler.num_steps = 2147483647 must be in [1, 100000]" \
  2e31.pbtxt -e 's/num_steps: 1000 }/num_steps: 1000 continuous_time: true }/' \
  -e 's/sampler { num_steps: 50/sampler { num_steps: 2147483647/'
refuse_edit "10^8 steps on a Karras grid" "sampler.num_steps = 100000000 must be in [1, 100000]" \
  karras.pbtxt 's/sampler { num_steps: 50 grid: TRAILING/sampler { num_steps: 100000000 grid: KARRAS/'
refuse_edit "incompatible reverse process" "reverse 'absorbing_posterior' with forward" \
  incompatible.pbtxt 's/name: "substitution"/name: "absorbing_posterior"/'
: > "$W/empty.pbtxt"
refuse "empty description" "empty.pbtxt" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/empty.pbtxt" --out="$O/s.npy"
head -c 3000 "$CK" > "$W/binary.pbtxt"
refuse "binary description" "binary.pbtxt" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/binary.pbtxt" --out="$O/s.npy"
refuse "missing description" "$W/absent.pbtxt" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/absent.pbtxt" --out="$O/s.npy"
mkdir -p "$W/folder.pbtxt"
refuse "description is a folder" "folder.pbtxt" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/folder.pbtxt" --out="$O/s.npy"
for bad in "steps: 20/steps: 0|training.steps = 0" "batch_size: 512/batch_size: -1|training.batch_size = -1" \
           "learning_rate: 0.002/learning_rate: 0|training.learning_rate" \
           "ema_decay: 0.995/ema_decay: 1.5|training.ema_decay"; do
  IFS='|' read -r edit want <<< "$bad"
  sed "s/$edit/" "$W/small.pbtxt" > "$W/training.pbtxt"
  refuse "training option ($want)" "$want" "$O/new_run" -- \
    "$DIFFUSE" train --pipeline="$W/training.pbtxt" --out="$O/new_run"
  rm -rf "$O/new_run"
done

# --- 2. Checkpoints --------------------------------------------------------------------
refuse "missing checkpoint" "checkpoint $W/nope.pt does not exist" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/nope.pt" --out="$O/s.npy"
head -c 5000 "$CK" > "$W/truncated.pt"
refuse "truncated checkpoint" "truncated.pt is truncated" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/truncated.pt" --out="$O/s.npy"
py "b = bytearray(open('$CK', 'rb').read()); b[len(b) * 3 // 4] ^= 1; open('$W/flipped.pt', 'wb').write(b)"
refuse "checkpoint with a flipped bit" "flipped.pt is corrupted: CRC-32" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/flipped.pt" --out="$O/s.npy"
refuse "checkpoint of another width" "parameter 'time_in.weight' is [16, 64] there, [32, 64] here" \
  "$O/s.npy" -- "$DIFFUSE" sample --pipeline="$W/small.pbtxt" \
  --checkpoint="$W/narrow/checkpoint.pt" --out="$O/s.npy"
refuse "checkpoint of another description" \
  "trained from another description: forward.options" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/linear.pbtxt" --checkpoint="$CK" --out="$O/s.npy"
cp "$W/small.pbtxt" "$W/text.pt"
refuse "a text file as checkpoint" "text.pt is not a diffuse checkpoint" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/text.pt" --out="$O/s.npy"
: > "$W/empty.pt"
refuse "an empty checkpoint" "empty.pt is not a diffuse checkpoint" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/empty.pt" --out="$O/s.npy"
py "open('$W/old.pt', 'wb').write(b'PK\x03\x04' + bytes(200))"
refuse "a pre-v3 checkpoint (a LibTorch archive)" \
  "old.pt is in the v1 format (a LibTorch archive, which this version reads only to convert it); run \`diffuse upgrade-checkpoint" \
  "$O/s.npy" -- "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/old.pt" --out="$O/s.npy"
py "import zlib; b = struct.pack('<Q', 1 << 60) + b'{}'; open('$W/blob.pt', 'wb').write(b'diffuse-checkpoint-v3 crc32=%08x bytes=%d\n' % (zlib.crc32(b), len(b)) + b)"
refuse "a checksummed checkpoint whose blob lies about its size" "blob.pt: header length" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --checkpoint="$W/blob.pt" --out="$O/s.npy"
refuse "upgrade of a checkpoint that is already v3" "is already v3" "$O/u.pt" -- \
  "$DIFFUSE" upgrade-checkpoint --checkpoint="$CK" --out="$O/u.pt"
cp "$CK" "$O/in_place.pt"
refuse "in-place upgrade of a v3 checkpoint (no backup left behind)" "is already v3" \
  "$O/in_place.pt" -- "$DIFFUSE" upgrade-checkpoint --checkpoint="$O/in_place.pt"
cp "$CK" "$O/twice.pt"
printf 'an earlier conversion\n' > "$O/twice.pt.v2"
refuse "in-place upgrade over an earlier conversion's backup" \
  "twice.pt.v2 exists (an earlier conversion's original)" "$O/twice.pt" -- \
  "$DIFFUSE" upgrade-checkpoint --checkpoint="$O/twice.pt"
sed 's/steps: 2000/steps: 2/' "$EXAMPLES/fashion_mnist_vae.pbtxt" > "$W/vae.pbtxt"
refuse "a diffusion verb on an autoencoder description" \
  "vae.pbtxt: decoder 'conv_decoder': an autoencoder description is trained by \`train\` (and its model of z by \`train-latent-prior\`) and sampled by \`sample\`" \
  "$O/z.npy" -- "$DIFFUSE" vary --pipeline="$W/vae.pbtxt" --checkpoint="$CK" --split=test --out="$O/z.npy"
sed 's/{ latent_dim: 32 } }/{ latent_dim: 31 } }/' "$W/vae.pbtxt" > "$W/vae_width.pbtxt"
refuse "an autoencoder whose decoder reads another width" \
  "decoder 'conv_decoder' reads z of width 31 but encoder 'semantic_encoder' produces z of width 32" "$O/vae" -- \
  "$DIFFUSE" train --pipeline="$W/vae_width.pbtxt" --out="$O/vae"
refuse "export of a corrupted checkpoint" "flipped.pt is corrupted" "$O/w.safetensors" -- \
  "$DIFFUSE" export --pipeline="$W/small.pbtxt" --checkpoint="$W/flipped.pt" --out="$O/w.safetensors"
refuse "export under another description" "trained from another description" \
  "$O/w.safetensors" -- "$DIFFUSE" export --pipeline="$W/linear.pbtxt" --checkpoint="$CK" \
  --out="$O/w.safetensors"
cp -r "$W/run" "$O/run"
refuse "resume under another description" \
  "training.learning_rate: 0.002 in the checkpoint, 0.001 here" "$O/run" -- \
  "$DIFFUSE" train --pipeline="$W/other_lr.pbtxt" --out="$O/run"
cp "$W/flipped.pt" "$O/run/checkpoint.pt"
refuse "resume from a corrupted checkpoint" "checkpoint.pt is corrupted" "$O/run" -- \
  "$DIFFUSE" train --pipeline="$W/small.pbtxt" --out="$O/run"
refuse_while_locked "a second trainer on a directory in use" "$O/run is in use by another run" \
  "$O/run" -- "$DIFFUSE" train --pipeline="$W/small.pbtxt" --out="$O/run"
refuse_while_locked "a second classifier trainer on a directory in use" \
  "$O/classifier is in use by another run" "$O/classifier" -- \
  "$DIFFUSE" train-classifier --out="$O/classifier" --epochs=1

# --- 3. Safetensors --------------------------------------------------------------------
T=("$DIFFUSE" sample --pipeline="$W/small.pbtxt" --out="$O/s.npy")
head -c 300 "$W/good.safetensors" > "$W/cut.safetensors"
refuse "truncated safetensors" "cut.safetensors" "$O/s.npy" -- "${T[@]}" --checkpoint="$W/cut.safetensors"
edit_header() {  # edit_header OUT PYTHON_EXPRESSION_ON_h (the parsed header)
  py "raw = open('$W/good.safetensors', 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
h = json.loads(raw[8:8 + n]); $2
t = json.dumps(h).encode(); open('$W/$1', 'wb').write(struct.pack('<Q', len(t)) + t + raw[8 + n:])"
}
edit_header negative.safetensors "h['input.weight']['shape'] = [-32, 2]"
refuse "safetensors: negative shape" "negative.safetensors: entry 'input.weight': shape dimension -32" \
  "$O/s.npy" -- "${T[@]}" --checkpoint="$W/negative.safetensors"
edit_header overflow.safetensors "h['input.weight']['shape'] = [2**32, 2**32, 2**10]"
refuse "safetensors: overflowing shape" "overflow.safetensors: entry 'input.weight': shape dimension" \
  "$O/s.npy" -- "${T[@]}" --checkpoint="$W/overflow.safetensors"
py "raw = open('$W/good.safetensors', 'rb').read(); open('$W/long_header.safetensors', 'wb').write(struct.pack('<Q', 2**62) + raw[8:])"
refuse "safetensors: header longer than the file" "long_header.safetensors" "$O/s.npy" -- \
  "${T[@]}" --checkpoint="$W/long_header.safetensors"
refuse "safetensors of another description" "narrow.safetensors" "$O/s.npy" -- \
  "${T[@]}" --checkpoint="$W/narrow.safetensors"

# --- 4. Arrays (--x_T, eval --samples) -------------------------------------------------
py "np.save('$W/scalar.npy', np.float32(1)); np.save('$W/empty.npy', np.zeros((0, 2), np.float32))
np.save('$W/wide.npy', np.zeros((4, 3), np.float32)); np.save('$W/good.npy', np.zeros((8, 2), np.float32))
np.save('$W/complex.npy', np.zeros((4, 2), np.complex64))"
head -c 100 "$W/good.npy" > "$W/truncated.npy"
npy_header() {  # npy_header FILE SHAPE: a version-1 header declaring SHAPE, and no payload
  py "h = \"{'descr': '<f4', 'fortran_order': False, 'shape': $2, }\".ljust(117) + '\n'
open('$W/$1', 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())"
}
npy_header overflow.npy "(4294967296, 4294967296)"
npy_header negative.npy "(-8, 2)"
printf 'not an array' > "$W/text.npy"
for bad in "scalar.npy:a 0-d array" "empty.npy:holds no samples" \
           "wide.npy:x_T has shape [4, 3], want [4, 2]" "truncated.npy:truncated" \
           "overflow.npy:has more than 2^60 elements" "negative.npy:bad .npy shape" \
           "complex.npy:dtype" "text.npy:text.npy"; do
  refuse "--x_T ${bad%%:*}" "${bad#*:}" "$O/s.npy" -- "${S[@]}" --x_T="$W/${bad%%:*}" --out="$O/s.npy"
done
refuse "eval of an empty array" "empty.npy: holds no samples" "$O/none" -- \
  "$DIFFUSE" eval --pipeline="$W/small.pbtxt" --samples="$W/empty.npy"
refuse "eval of samples of the wrong width" "samples must be [N, 2]" "$O/none" -- \
  "$DIFFUSE" eval --pipeline="$W/small.pbtxt" --samples="$W/wide.npy"

# --- 5. Flags and output paths ---------------------------------------------------------
refuse "--num=0" "--num = 0 must be >= 1" "$O/s.npy" -- "${S[@]}" --num=0 --out="$O/s.npy"
refuse "--num=-5" "--num = -5 must be >= 1" "$O/s.npy" -- "${S[@]}" --num=-5 --out="$O/s.npy"
refuse "--num=10^12" "--num = 1000000000000" "$O/s.npy" -- "${S[@]}" --num=1000000000000 --out="$O/s.npy"
refuse "--num with trajectories beyond the memory bound" "--num = 20000000" "$O/s.npy" -- \
  "${S[@]}" --num=20000000 --trajectory="$O/t.npy" --out="$O/s.npy"
refuse "--num that is not a number" "num" "$O/s.npy" -- "${S[@]}" --num=lots --out="$O/s.npy"
mkdir -p "$O/a_folder.npy"
refuse "--out is a folder" "a_folder.npy is a folder" "$O/a_folder.npy" -- "${S[@]}" --num=4 --out="$O/a_folder.npy"
refuse "--out into a missing folder" "--out=$O/missing/s.npy: the folder" "$O/s.npy" -- \
  "${S[@]}" --num=4 --out="$O/missing/s.npy"
refuse "--png into a missing folder" "--png=$O/missing/s.png: the folder" "$O/s.npy" -- \
  "${S[@]}" --num=4 --out="$O/s.npy" --png="$O/missing/s.png"
refuse "--out unwritable" "--out=/proc/s.npy: cannot write there" "$O/s.npy" -- \
  "${S[@]}" --num=4 --out=/proc/s.npy
refuse "--out missing" "--out" "$O/s.npy" -- "${S[@]}" --num=4
refuse "--labels not integers" "--labels: 'x' is not an integer" "$O/s.npy" -- \
  "${S[@]}" --labels=1,x --out="$O/s.npy"
refuse "--guidance_scale out of range" "scale" "$O/s.npy" -- \
  "${S[@]}" --guidance_scale=1e9 --out="$O/s.npy"
refuse "--checkpoint missing for a trained network" "--checkpoint is required" "$O/s.npy" -- \
  "$DIFFUSE" sample --pipeline="$W/small.pbtxt" --out="$O/s.npy"

# --- 6. IDX files (Fashion-MNIST) ------------------------------------------------------
mkdir -p "$W/idx"
py "open('$W/idx/train-images-idx3-ubyte.gz', 'wb').write(bytes([0, 0, 8, 3]) + struct.pack('>III', 60000, 28, 28) + bytes(1000))"
printf 'data { name: "fashion_mnist" options { [type.googleapis.com/diffuse.FashionMnistOptions] { dir: "%s" } } }\n' \
  "$W/idx" > "$W/fm.pbtxt"
grep -v '^data' "$W/small.pbtxt" >> "$W/fm.pbtxt"
refuse "IDX: truncated payload" "train-images-idx3-ubyte.gz: truncated" "$O/fm_run" -- \
  "$DIFFUSE" train --pipeline="$W/fm.pbtxt" --out="$O/fm_run"
rm -rf "$O/fm_run"
py "open('$W/idx/train-images-idx3-ubyte.gz', 'wb').write(bytes([0, 0, 8, 4]) + b'\xff' * 16)"
refuse "IDX: dimensions beyond 2 GiB" "larger than 2 GiB" "$O/fm_run" -- \
  "$DIFFUSE" train --pipeline="$W/fm.pbtxt" --out="$O/fm_run"
rm -rf "$O/fm_run"
py "open('$W/idx/train-images-idx3-ubyte.gz', 'wb').write(b'PK\x03\x04' + bytes(100))"
refuse "IDX: bad magic" "bad magic" "$O/fm_run" -- \
  "$DIFFUSE" train --pipeline="$W/fm.pbtxt" --out="$O/fm_run"
rm -rf "$O/fm_run"

echo "$cases cases, $failures failed"
[[ $cases -ge 40 && $failures -eq 0 ]]
