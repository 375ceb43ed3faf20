#!/usr/bin/env bash
# `fnhost_benchmarks --benchmark_format=json` writes one JSON document on stdout, holding the
# benchmark that ran, and the ratio summary on stderr: what compare.py and dashboards read.
#
# usage: json_output_test.sh FNHOST_BENCHMARKS PYTHON3
set -euo pipefail
benchmarks=$1
python=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"$benchmarks" --benchmark_filter='^BM_DirectCall$' --benchmark_min_time=0.01 \
  --benchmark_format=json 2>stderr.txt >stdout.json || { cat stderr.txt; exit 1; }
"$python" - stdout.json <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    names = [run["name"] for run in json.load(f)["benchmarks"]]
assert names == ["BM_DirectCall"], names
PY
grep -q "Ratios against floors" stderr.txt || { echo "no ratio summary on stderr"; exit 1; }
echo PASS
