#!/usr/bin/env bash
# `fnhost serve --watch` keeps answering while its module file is truncated in place (what
# `cp short.so module.so` does to a deploy) and then rewritten with garbage: the loaded version
# runs from its sealed in-memory copy, and the watcher's reloads of the broken file fail with an
# error that names it. Then a good build copied over the file is reloaded and served.
#
# usage: serve_truncated_module_test.sh FNHOST_BINARY HELLO_MODULE
set -euo pipefail

fnhost=$(realpath "$1")
module=$(realpath "$2")
if ! command -v curl >/dev/null 2>&1; then
  echo "SKIPPED: curl is not installed"
  exit 77
fi
source "$(dirname "$0")/support/serve_test_lib.sh"
serve_test_init serve-cut
cd "$work"

cp "$module" hello.so
chmod 0755 hello.so
cat >config.textproto <<'CONFIG'
function {
  name: "hello"
  module_path: "hello.so"
}
CONFIG
# The module path is relative to the working directory, as a user types it.
start_serve "$fnhost" serve --config=config.textproto --port=0 --watch
url="http://127.0.0.1:$port/invoke/hello"

expect_answer() {  # WHEN: the function answers "hello, x"
  local reply
  reply=$(curl -s --max-time 10 -d x "$url") || fail "$1: no answer (server died?)"
  [[ $reply == "hello, x" ]] || fail "$1: answered '$reply'"
}
# Waits (at most 30 s) until the server log has N lines matching PATTERN.
await_log() {
  local pattern=$1 count=$2
  for _ in $(seq 1 300); do
    [[ $(grep -c -- "$pattern" server.log) -ge $count ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "server died"
    sleep 0.1
  done
  fail "the log never showed $count line(s) matching '$pattern'"
}

expect_answer "before"
head -c 10000 "$module" >short.so
cp short.so hello.so  # truncates the file the server loaded, in place
expect_answer "right after the truncation"
await_log "hello.so changed: .*truncated ELF" 1
expect_answer "after the failed reload of the truncated file"

head -c "$(stat -c %s "$module")" /dev/zero | tr '\0' 'x' >garbage.so
cp garbage.so hello.so
await_log "hello.so changed: .*not an ELF file" 1
for i in 1 2 3; do expect_answer "after the garbage, call $i"; done

cp "$module" hello.so
await_log "hello.so changed: reloaded" 1
expect_answer "after the good build came back"

kill -TERM "$server_pid"
wait "$server_pid" || fail "server exited with status $? after SIGTERM"
server_pid=
echo "PASS: served through a truncation, a rewrite with garbage and a good redeploy"
