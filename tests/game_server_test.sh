#!/usr/bin/env bash
# examples/game_server as a user runs it, from another directory with relative module paths:
# the world's checksum after N ticks is the same with and without a mid-game reload to a module
# of the same state schema (the module's per-entity memory carries over), and in process and
# under process isolation. A reload to another schema starts the memory afresh, so its checksum
# differs, as does one tick less: the comparison can fail. Bad flags and a missing module exit
# non-zero with one message naming the flag or the file, and nothing on stdout.
#
# usage: game_server_test.sh GAME_BINARY EXAMPLES_DIR
set -uo pipefail

game=$(realpath "$1")
examples=$(realpath "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-game-server-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/run" "$work/modules"
for module in behaviour behaviour_next behaviour_schema2; do
  install -m 0755 "$examples/$module.so" "$work/modules/" || exit 1
done
failures=0
ticks=300

fail() {
  echo "FAIL: $*"
  echo "  stdout: $(cat "$work/out")"
  echo "  stderr: $(cat "$work/err")"
  failures=$((failures + 1))
}

# run ARGS...: runs the game in $work/run; sets $code and $checksum (empty without one).
run() {
  (cd "$work/run" && exec "$game" "$@") >"$work/out" 2>"$work/err"
  code=$?
  checksum=$(sed -n 's/^ticks=[0-9]* checksum=\([0-9a-f]\{16\}\)$/\1/p' "$work/out")
}

# expect_checksum WANT NAME ARGS...: the run succeeds with checksum WANT.
expect_checksum() {
  local want=$1 name=$2
  shift 2
  run "$@"
  if [[ $code -ne 0 || -z $checksum ]]; then
    fail "$name: exit $code, no checksum"
  elif [[ $checksum != "$want" ]]; then
    fail "$name: checksum $checksum, expected $want"
  fi
}

# expect_error CODE PATTERN NAME ARGS...: exit CODE, nothing on stdout, one line on stderr
# matching PATTERN (then the usage, for flag errors).
expect_error() {
  local want=$1 pattern=$2 name=$3
  shift 3
  run "$@"
  if [[ $code -ne $want ]]; then
    fail "$name: exit $code, expected $want"
  elif [[ -s $work/out ]]; then
    fail "$name: wrote to stdout"
  elif ! head -n 1 "$work/err" | grep -q -- "$pattern"; then
    fail "$name: the message does not match '$pattern'"
  fi
}

module=--module=../modules/behaviour.so
run --ticks=$ticks "$module"
[[ $code -eq 0 && -n $checksum ]] || { fail "plain run: exit $code"; exit 1; }
base=$checksum
grep -q "^ticks=$ticks checksum=" "$work/out" || fail "plain run: no 'ticks=$ticks' line"
grep -q "ticks/s; per-tick call p50 .* p99 " "$work/err" || fail "plain run: no tick rate or p99"

reload=(--reload-at=150 --reload-module=../modules/behaviour_next.so)
expect_checksum "$base" "reload in process" --ticks=$ticks "$module" "${reload[@]}"
grep -q "to 1.1.0 .*: kept_state$" "$work/err" || fail "reload in process did not keep state"
expect_checksum "$base" "process isolation" --ticks=$ticks "$module" --isolation=process
grep -q "isolation=process" "$work/err" || fail "process isolation: not reported"
expect_checksum "$base" "reload under process isolation" --ticks=$ticks "$module" \
  --isolation=process "${reload[@]}"
grep -q "to 1.1.0 .*: kept_state$" "$work/err" || fail "isolated reload did not keep state"
# The default module is behaviour.so next to the executable.
expect_checksum "$base" "default module" --ticks=$ticks
# Bare file names are in the current directory, never looked up in the library path.
(cd "$work/modules" && exec "$game" --ticks=$ticks --module=behaviour.so --reload-at=7 \
  --reload-module=behaviour_next.so) >"$work/out" 2>"$work/err"
grep -q "^ticks=$ticks checksum=$base$" "$work/out" || fail "bare module names: no match"

# The checksum sees a lost memory and a missing tick.
run --ticks=$ticks "$module" --reload-at=150 --reload-module=../modules/behaviour_schema2.so
[[ $code -eq 0 && -n $checksum && $checksum != "$base" ]] ||
  fail "reload to another schema: exit $code, checksum '$checksum' (base $base)"
grep -q "to 2.0.0 .*: init$" "$work/err" || fail "reload to another schema did not run init"
run --ticks=$((ticks - 1)) "$module"
[[ $code -eq 0 && -n $checksum && $checksum != "$base" ]] ||
  fail "one tick less: exit $code, checksum '$checksum' (base $base)"

expect_error 2 "^game_server: --ticks='abc': expected a whole number" "ticks abc" --ticks=abc
expect_error 2 "^game_server: --ticks='0': expected a whole number" "ticks 0" --ticks=0
expect_error 2 "^game_server: --entities='-5'" "negative entities" --entities=-5
expect_error 2 "^game_server: unknown flag '--bogus'" "unknown flag" --bogus=1
expect_error 2 "^game_server: 'ticks=5': flags are written --name=value" "no dashes" ticks=5
expect_error 2 "^game_server: --isolation='thread': expected in_process or process" \
  "bad isolation" --isolation=thread
expect_error 2 "^game_server: --reload-at and --reload-module go together" "reload-at alone" \
  --reload-at=5
expect_error 2 "^game_server: --reload-at=300: must be below --ticks=300" "reload too late" \
  --ticks=300 --reload-at=300 --reload-module=../modules/behaviour_next.so
expect_error 1 "^game_server: starting the behaviour module: .*modules/missing.so" \
  "missing module" --ticks=5 --module=../modules/missing.so
expect_error 1 "^game_server: reload before tick 2: .*modules/missing.so" "missing reload" \
  --ticks=5 "$module" --reload-at=2 --reload-module=../modules/missing.so

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
