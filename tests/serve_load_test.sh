#!/usr/bin/env bash
# `fnhost serve` under a real HTTP load generator: wrk drives more connections than the slow
# function has capacity for (max_instances 1, a small queue, a short deadline). The server must
# stay up and answer every request it cannot serve with 429, some requests with 200, and
# nothing else: no other status and no socket error.
#
# usage: serve_load_test.sh FNHOST_BINARY SLOW_MODULE
# Exits 0 with a "SKIPPED" line when wrk is not installed (ctest shows it as skipped: the test
# sets SKIP_RETURN_CODE 77).
set -euo pipefail

fnhost=$1
slow_module=$2
if ! command -v wrk >/dev/null 2>&1; then
  echo "SKIPPED: wrk is not installed (apt-get install wrk)"
  exit 77
fi

source "$(dirname "$0")/support/serve_test_lib.sh"
serve_test_init serve-load

# A private copy with a known mode: the host refuses group-writable module files.
cp "$slow_module" "$work/slow.so"
chmod 0755 "$work/slow.so"
# A call second in the queue waits 2 to 4 ms for the one running and the one ahead of it (2 ms
# each), so with a 3 ms deadline both kinds of overload happen: a full queue and a deadline
# passed in the queue. Both must be 429.
cat >"$work/config.textproto" <<EOF
function {
  name: "slow"
  module_path: "$work/slow.so"
  pool {
    max_instances: 1
    max_queue: 2
    default_timeout_ms: 3
  }
}
EOF

# Port 0: the server binds a free port and names it in its log.
start_serve "$fnhost" serve --config="$work/config.textproto" --port=0
url="http://127.0.0.1:$port"

# Each wrk thread tallies statuses in its own Lua state; done() adds them up.
cat >"$work/count.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "2000"  -- the slow module spins 2 ms per call
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do io.write(string.format("status %d %d\n", status, n)) end
  local e = summary.errors
  io.write(string.format("errors connect %d read %d write %d timeout %d\n",
                         e.connect, e.read, e.write, e.timeout))
end
EOF

wrk -t2 -c16 -d3s --timeout 5s -s "$work/count.lua" "$url/invoke/slow" >"$work/wrk.out" 2>&1 ||
  fail "wrk failed: $(cat "$work/wrk.out")"
cat "$work/wrk.out"

kill -0 "$server_pid" 2>/dev/null || fail "server died under load"
[[ $(curl -s --max-time 10 "$url/healthz") == ok ]] || fail "/healthz does not answer after load"

ok=$(awk '$1 == "status" && $2 == 200 {print $3}' "$work/wrk.out")
rejected=$(awk '$1 == "status" && $2 == 429 {print $3}' "$work/wrk.out")
others=$(awk '$1 == "status" && $2 != 200 && $2 != 429 {print $2 " x" $3}' "$work/wrk.out")
[[ -z $others ]] || fail "statuses other than 200 and 429: $others"
[[ ${ok:-0} -gt 0 ]] || fail "no request was served (200)"
[[ ${rejected:-0} -gt 0 ]] || fail "no request was rejected (429): the load did not overload"
read -r connect read write timeout < <(awk '$1 == "errors" {print $3, $5, $7, $9}' \
  "$work/wrk.out")
[[ $connect == 0 && $read == 0 && $write == 0 && $timeout == 0 ]] ||
  fail "socket errors: connect $connect read $read write $write timeout $timeout"

# The rejections show in the metrics, by reason (queue_full, deadline).
curl -s --max-time 10 "$url/metrics" >"$work/metrics.txt"
grep -q 'function="slow"' "$work/metrics.txt" || fail "/metrics does not mention the function"
grep 'reason=' "$work/metrics.txt" || fail "/metrics shows no rejection"

kill -TERM "$server_pid"
wait "$server_pid" || fail "server exited with status $? after SIGTERM"
server_pid=
echo "PASS: 200 x$ok, 429 x$rejected, no other status, no socket error"
