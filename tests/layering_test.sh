#!/usr/bin/env bash
# scripts/check_layers.py passes on this repository, and fails, naming the cause, on a tree with
# each kind of violation it exists to catch: an include that points up a layer (and with it a
# cycle), a public header that includes the inside, a file over 600 lines, a function over 80.
# usage: layering_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
check="$source_dir/scripts/check_layers.py"
python3 "$check" "$source_dir" > /dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# A minimal tree that passes; each case below breaks one thing in a copy of it.
make_tree() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree/src/common" "$work/tree/src/host" "$work/tree/include/fnhost"
  printf '#include "src/common/strings.h"\n' > "$work/tree/src/host/host.cc"
  printf '// strings\n' > "$work/tree/src/common/strings.h"
  printf '#include "absl/status/status.h"\n#include "fnhost/clock.h"\n' \
    > "$work/tree/include/fnhost/host.h"
}

expect_failure() {  # name, the message expected
  local output
  if output=$(python3 "$check" "$work/tree" 2>&1); then
    echo "FAIL: $1: check_layers.py passed"; failures=$((failures + 1))
  elif ! grep -q -- "$2" <<< "$output"; then
    echo "FAIL: $1: no \"$2\" in:"; echo "$output"; failures=$((failures + 1))
  fi
}

make_tree
python3 "$check" "$work/tree" > /dev/null || { echo "FAIL: the minimal tree does not pass"; exit 1; }

make_tree
printf '#include "src/host/host.h"\n' > "$work/tree/src/common/up.cc"
printf '// host\n' > "$work/tree/src/host/host.h"
expect_failure "upward include" "layer common includes src/host/host.h (layer host), which is not below it"
expect_failure "cycle" "include cycle between layers"

make_tree
printf '#include "src/common/strings.h"\n' >> "$work/tree/include/fnhost/host.h"
expect_failure "public header" 'public header includes "src/common/strings.h"'

make_tree
seq 1 601 | sed 's/^/\/\/ /' > "$work/tree/src/common/long.h"
expect_failure "long file" "src/common/long.h: 601 lines, more than 600"

make_tree
{ echo "int Long(int x) {"; seq 1 80 | sed 's/.*/  x += 1;/'; echo "  return x;"; echo "}"; } \
  > "$work/tree/src/common/long.cc"
expect_failure "long function" "src/common/long.cc:1: a function of 83 lines, more than 80"

make_tree
{ echo "int Wrapped(int x,"; echo "            int y) {"; seq 1 79 | sed 's/.*/  x += y;/'
  echo "  return x;"; echo "}"; } > "$work/tree/src/common/wrapped.cc"
expect_failure "long function with a wrapped signature" "src/common/wrapped.cc:1: a function of 83 lines"

if [ "$failures" -gt 0 ]; then exit 1; fi
echo PASS
