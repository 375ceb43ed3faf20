#!/usr/bin/env bash
# Every top-level document (README.md and the like) that a source comment points to
# exists in the repository, so that no comment sends a reader to a file that is not there.
#
# usage: docs_references_test.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
missing=0
while read -r reference; do
  name=${reference##*:}
  if [[ ! -f $name ]]; then
    echo "FAIL: ${reference%:*} points to $name, which is not in the repository"
    missing=$((missing + 1))
  fi
done < <(grep -roE '\b[A-Z][A-Z0-9_-]*\.md\b' include src cmake tests benchmarks examples \
           scripts proto CMakeLists.txt | sort -u)
[[ $missing == 0 ]] && echo PASS
