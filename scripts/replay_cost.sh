#!/usr/bin/env bash
# The replay cost bar of issue 15: `fnhost sim`'s cost per replayed call and policy on a real
# trace against a generated one (1,000 functions, 2 days), same 14 policies, same run; the
# ratio must stay at most 2. Each trace is replayed REPEAT times (default 3), alternating, and
# the medians are compared.
#
# usage: scripts/replay_cost.sh FNHOST_BINARY REAL_TRACE [REPEAT]
#   e.g. scripts/replay_cost.sh build/src/fnhost ../shared/traces/azure2019-invitro-train
set -euo pipefail
fnhost=$1
real=$2
repeat=${3:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-replay-cost-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$fnhost" gen-trace --functions=1000 --days=2 --seed=1 --out="$work/generated" >/dev/null
policies=()
for t in 0m 1m 5m 10m 20m 60m 120m 240m; do policies+=("--policy=fixed:$t"); done
policies+=(--policy=hybrid)
for t in 5m 10m 20m 60m 120m; do policies+=("--policy=fixed:$t,by-memory"); done
ns_per_call() {  # TRACE: the "ns per call and policy" figure of one replay
  "$fnhost" sim --trace="$1" "${policies[@]}" 2>&1 >/dev/null |
    sed -n 's/.*(\([0-9]*\) ns per call and policy).*/\1/p'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
real_ns=() generated_ns=()
for ((i = 0; i < repeat; ++i)); do
  real_ns+=("$(ns_per_call "$real")")
  generated_ns+=("$(ns_per_call "$work/generated")")
done
r=$(printf '%s\n' "${real_ns[@]}" | median)
g=$(printf '%s\n' "${generated_ns[@]}" | median)
echo "real trace:      ${real_ns[*]} ns per call and policy (median $r)"
echo "generated trace: ${generated_ns[*]} ns per call and policy (median $g)"
awk -v r="$r" -v g="$g" 'BEGIN { ratio = r / g; printf "ratio %.2f (bar: at most 2)\n", ratio;
                                 exit ratio <= 2 ? 0 : 1 }'
