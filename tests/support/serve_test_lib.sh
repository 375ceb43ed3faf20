# Shared by the shell tests of `fnhost serve` (source it after `set -euo pipefail`):
#   serve_test_init NAME   a private work directory, $work, removed on exit with the server
#   fail MESSAGE...        prints the message and the server's log, exits 1
#   start_serve CMD...     runs CMD (an `fnhost serve --port=0 ...` line) in the background,
#                          its output in $work/server.log, and waits at most 30 s for it to
#                          listen; sets $server_pid and $port

serve_test_cleanup() {
  if [[ -n ${server_pid:-} ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

serve_test_init() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-$1-XXXXXX")
  server_pid=
  trap serve_test_cleanup EXIT
}

fail() {
  echo "FAIL: $*" >&2
  echo "--- server log" >&2
  cat "$work/server.log" >&2 || true
  exit 1
}

start_serve() {
  "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/server.log")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "server exited before listening"
    sleep 0.1
  done
  fail "server did not report a port"
}
