#!/usr/bin/env bash
# `--help` (and `-h`) on every fnhost subcommand: the command's usage on stdout, nothing on
# stderr, exit status 0, and nothing run (no module is named, no file is written).
#
# usage: cli_help_test.sh FNHOST_BINARY
set -uo pipefail

fnhost=$(realpath "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-help-test-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

for command in run inspect serve snapshot sim gen-trace; do
  for flag in --help -h; do
    checks=$((checks + 1))
    # Other flags around --help do not matter, and are not acted on.
    (cd "$work" && "$fnhost" "$command" --out="$work/never" "$flag") >"$work/out" 2>"$work/err"
    code=$?
    if [[ $code != 0 ]] || ! grep -q "^usage: fnhost $command" "$work/out" || [[ -s $work/err ]] ||
      [[ -e $work/never ]]; then
      echo "FAIL: fnhost $command $flag: exit $code"
      echo "  stdout: $(head -c 300 "$work/out")"
      echo "  stderr: $(head -c 300 "$work/err")"
      failures=$((failures + 1))
    fi
  done
done
# An unknown flag is still an error, with the usage on stderr.
checks=$((checks + 1))
"$fnhost" sim --bogus >"$work/out" 2>"$work/err"
if [[ $? != 2 ]] || ! grep -q "unknown flag --bogus" "$work/err" || [[ -s $work/out ]]; then
  echo "FAIL: fnhost sim --bogus"
  failures=$((failures + 1))
fi
echo "$((checks - failures)) passed, $failures failed"
[[ $failures == 0 ]]
