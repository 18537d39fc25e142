#!/usr/bin/env bash
# Usage: check_layers.sh ROOT LAYERS EXCEPTIONS
# Prints every #include "dir/..." in ROOT's library files (not *_test.cc, not test_support)
# that points to a higher layer than its own file's, unless EXCEPTIONS lists it; prints every
# listed exception that no longer occurs. Exits 1 if it printed anything.
set -euo pipefail
root=$1 layers=$2 exceptions=$3
cd "$root"
find . -path ./third_party -prune -o -path './bazel-*' -prune -o \
    \( -name '*.cc' -o -name '*.h' \) -print | sed 's#^\./##' | sort |
  grep -v -e '_test\.cc$' -e '/test_support\.' |
  xargs grep -HE '^#include "[a-z_0-9]+/' |
  sed -E 's#^([^:]+):\#include "([^"]+)".*#\1 \2#' |
  awk -v layers="$layers" -v exceptions="$exceptions" '
    BEGIN {
      while ((getline line < layers) > 0) {
        if (line ~ /^#/ || line == "") continue
        n = split(line, f, " ")
        for (i = 2; i <= n; i++) layer[f[i]] = f[1]
      }
      while ((getline line < exceptions) > 0) {
        sub(/#.*/, "", line)
        if (split(line, f, " ") == 2) allowed[f[1] " " f[2]] = 0
      }
      bad = 0
    }
    {
      split($1, a, "/"); split($2, b, "/")
      if (!(a[1] in layer)) {
        print $1 ": directory " a[1] " has no layer in " layers; bad = 1; next
      }
      if (!(b[1] in layer)) next  # absl/, google/, gtest/: outside the toolkit
      if (layer[b[1]] + 0 <= layer[a[1]] + 0) next
      key = $1 " " $2
      if (key in allowed) { allowed[key] = 1; next }
      print $1 " (layer " layer[a[1]] ", " a[1] ") includes " $2 " (layer " layer[b[1]] \
            ", " b[1] ")"
      bad = 1
    }
    END {
      for (k in allowed) if (!allowed[k]) {
        print "exception no longer needed, remove it from " exceptions ": " k; bad = 1
      }
      exit bad
    }'
