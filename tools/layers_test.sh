#!/usr/bin/env bash
# The layer rule (tools/layers.txt) over the whole source tree, and a self-check that the
# checker does fail on an upward include. The tree is found through the runfiles link to
# layers.txt; the test is tagged "external" so that Bazel never serves it from the cache
# (its real input is every source file).
set -euo pipefail
here="$TEST_SRCDIR/diffuse/tools"
check="$here/check_layers.sh"
layers="$(readlink -f "$here/layers.txt")"
exceptions="$(readlink -f "$here/layer_exceptions.txt")"
root="$(dirname "$(dirname "$layers")")"
[[ -f "$root/WORKSPACE" ]] || { echo "cannot find the source tree from $layers"; exit 1; }

echo "== the source tree $root"
bash "$check" "$root" "$layers" "$exceptions"
echo "ok: no include points up a layer beyond the listed exceptions"

# Self-check on a small tree: a forward process that includes the builder must fail, and
# an exception that no longer occurs must fail too.
fake="$TEST_TMPDIR/tree"
mkdir -p "$fake/forward" "$fake/assembly"
printf '#include "forward/forward_process.h"\n' > "$fake/forward/ok.cc"
printf '#include "assembly/builder.h"\n' > "$fake/forward/bad.cc"
: > "$TEST_TMPDIR/none.txt"
if out=$(bash "$check" "$fake" "$layers" "$TEST_TMPDIR/none.txt"); then
  echo "FAILED: the checker accepted forward/bad.cc including assembly/builder.h"; exit 1
fi
[[ "$out" == *"forward/bad.cc (layer 2, forward) includes assembly/builder.h (layer 5"* ]] ||
  { echo "FAILED: unexpected message: $out"; exit 1; }
echo "ok: an upward include fails: $out"
rm "$fake/forward/bad.cc"
echo "forward/bad.cc assembly/builder.h" > "$TEST_TMPDIR/stale.txt"
if out=$(bash "$check" "$fake" "$layers" "$TEST_TMPDIR/stale.txt"); then
  echo "FAILED: the checker accepted a stale exception"; exit 1
fi
echo "ok: a stale exception fails: $out"
