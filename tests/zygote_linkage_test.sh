#!/usr/bin/env bash
# The zygote's linkage (cmake/ZygoteStaticDeps.cmake): with the static archives, no shared copy
# of Abseil, protobuf, libcrypto, xxHash or libseccomp is loaded beside the linked-in one (two
# copies of a library's globals), and every symbol is bound at start (BIND_NOW), so that
# workers inherit resolved symbols instead of looking each one up again.
# Usage: zygote_linkage_test.sh <fnhost-zygote> <ON|OFF: static archives found at configure>
set -euo pipefail
zygote="$1"
static="$2"
dynamic="$(readelf -d "$zygote")"
if [ "$static" != "ON" ]; then
  echo "SKIPPED: the static archives were not found at configure; the zygote links shared ones"
  exit 77
fi
shared="$(grep NEEDED <<<"$dynamic" | grep -E 'libabsl_|libprotobuf|libcrypto|libxxhash|libseccomp' || true)"
if [ -n "$shared" ]; then
  echo "FAIL: $zygote still needs shared libraries it also links statically:" >&2
  echo "$shared" >&2
  exit 1
fi
if ! grep -qE 'FLAGS.*BIND_NOW|FLAGS_1.*NOW' <<<"$dynamic"; then
  echo "FAIL: $zygote is not linked with -z now" >&2
  exit 1
fi
echo "PASS: $zygote needs: $(grep NEEDED <<<"$dynamic" | grep -oE '\[[^]]*\]' | tr '\n' ' ')"
