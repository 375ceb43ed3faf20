#!/usr/bin/env bash
# Whole-process cold starts of the recommender example with hyperfine: `fnhost run` that builds
# the state by init, against `fnhost run --snapshot-dir` that restores the snapshot built ahead
# of time by `fnhost snapshot`. Each run is a fresh process: exec, dynamic linking, Host
# creation, module load, state init or restore, the first response, exit. `fnhost help` (exec,
# dynamic linking, exit) is the floor of any run.
#
# usage: scripts/bench-snapshot-processes.sh [MIB]     (default 64 MiB of item vectors)
# env:   BUILD=build-dir (default build), RUNS=N (default 3; an init at 64 MiB takes seconds),
#        OUT=results.md (default: a temporary file, printed at the end)
# The model file is generated on first use and cached in BUILD/bench-data, shared with the
# benchmarks (benchmarks/recommender_state.h); scratch files go there too, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB="${1:-64}"
BUILD="${BUILD:-build}"
RUNS="${RUNS:-3}"
FNHOST="$BUILD/src/fnhost"
MODULE="$BUILD/examples/recommender.so"
DATA="$(mkdir -p "$BUILD/bench-data" && cd "$BUILD/bench-data" && pwd)"
# The same config as benchmarks/recommender_state.h: 32 floats of 4 bytes per item.
CONFIG="items=$((MIB * 1048576 / 128)) dim=32 topics=256 seed=1"
CONFIG="$CONFIG model=$DATA/recommender-${MIB}mib.txt"
QUERY="item=1000042 k=5"

if ! command -v hyperfine >/dev/null; then
  echo "hyperfine is not installed (apt-get install hyperfine)" >&2
  exit 1
fi
cmake --build "$BUILD" --target fnhost_cli fnhost_example_recommender >/dev/null

WORK="$(mktemp -d "$DATA/snapshot-processes-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
OUT="${OUT:-$WORK/results.md}"

echo "== generating the model if needed, and checking the init run" >&2
"$FNHOST" run "$MODULE" --init-config="$CONFIG" --data="$QUERY" >/dev/null 2>"$WORK/init.err"
grep -q "state from init" "$WORK/init.err" || { cat "$WORK/init.err" >&2; exit 1; }

echo "== fnhost snapshot (ahead of time)" >&2
"$FNHOST" snapshot "$MODULE" --out="$WORK/snapshots/" --init-config="$CONFIG" >&2
"$FNHOST" run "$MODULE" --init-config="$CONFIG" --data="$QUERY" --snapshot-dir="$WORK/snapshots" \
  >/dev/null 2>"$WORK/restore.err"
grep -q "state from snapshot" "$WORK/restore.err" || { cat "$WORK/restore.err" >&2; exit 1; }
grep -E "cold start|state (init|restore)" "$WORK/init.err" "$WORK/restore.err" >&2

echo "== hyperfine: $RUNS runs each, $MIB MiB of state" >&2
hyperfine --style basic --runs "$RUNS" --export-markdown "$OUT" \
  --command-name "process floor (fnhost help)" "$FNHOST help" \
  --command-name "init ($MIB MiB)" \
  "$FNHOST run $MODULE --init-config='$CONFIG' --data='$QUERY'" \
  --command-name "restore ($MIB MiB)" \
  "$FNHOST run $MODULE --init-config='$CONFIG' --data='$QUERY' --snapshot-dir=$WORK/snapshots"
cat "$OUT"
