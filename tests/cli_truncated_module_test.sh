#!/usr/bin/env bash
# `fnhost run ./t.so --data=x` on cuts of a real module, run from another working directory as
# a user would: the whole module answers; every cut exits with a non-zero status below 128 (an
# error, not a signal such as SIGBUS) and one line on stderr that names the file.
#
# usage: cli_truncated_module_test.sh FNHOST_BINARY MODULE
set -uo pipefail

fnhost=$(realpath "$1") || exit 1
module=$(realpath "$2") || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-cli-cut-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() {
  echo "FAIL: $*"
  echo "  stderr: $(cat err)"
  failures=$((failures + 1))
}

size=$(stat -c %s "$module")
cp "$module" whole.so
chmod 0755 whole.so
"$fnhost" run ./whole.so --data=x >out 2>err || fail "the whole module: exit $?"
[[ $(cat out) == "hello, x" ]] || fail "the whole module answered '$(cat out)'"

# The cuts of the issue's report, the headers' edges, then every 8 KiB and the last byte.
cuts=(0 1 63 64 1000 3000 5000 10000)
for ((cut = 8192; cut < size; cut += 8192)); do cuts+=("$cut"); done
cuts+=($((size - 1)))
for cut in "${cuts[@]}"; do
  head -c "$cut" whole.so >t.so
  chmod 0755 t.so
  "$fnhost" run ./t.so --data=x >out 2>err
  code=$?
  if [[ $code == 0 || $code -ge 128 ]]; then
    fail "cut at $cut: exit $code, expected an error below 128"
    continue
  fi
  [[ ! -s out ]] || fail "cut at $cut: something on stdout"
  grep -qF "t.so" err || fail "cut at $cut: stderr does not name t.so"
  [[ $(wc -l <err) == 1 ]] || fail "cut at $cut: $(wc -l <err) lines on stderr, expected one"
done

if [[ $failures != 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS: ${#cuts[@]} cuts of $size bytes refused, each naming the file"
