#!/usr/bin/env bash
# The `fnhost run` and `fnhost inspect` commands as a user sees them: the response on stdout,
# the cold-start breakdown (and p50/p99 for --repeat > 1) on stderr, the module's metadata from
# inspect; and for every error a non-zero exit, nothing on stdout and exactly one line on
# stderr that names the file (when there is one) and the cause. Then paths as a person types
# them: each command started in a directory other than the build's, with relative paths (a bare
# file name, ./x, ../dir/x). A bare module name must not be looked up in the library search
# path; a config's paths resolve against the config's directory; path flags against the current
# directory; messages name files in full.
#
# usage: cli_test.sh FNHOST_BINARY TEST_MODULE_DIR
set -uo pipefail

fnhost=$(realpath "$1")
modules=$(realpath "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/fnhost-cli-test-XXXXXX")
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0

fail() {
  echo "FAIL: $*"
  echo "  stdout: $(cat "$work/out")"
  echo "  stderr: $(cat "$work/err")"
  failures=$((failures + 1))
}

# run_ok NAME ARGS...: the command must exit 0.
run_ok() {
  run_ok_in . "$@"
}
# run_ok_in DIR NAME ARGS...: the same, started in DIR.
run_ok_in() {
  local dir=$1 name=$2
  shift 2
  (cd "$dir" && exec "$fnhost" "$@") >"$work/out" 2>"$work/err"
  local code=$?
  [[ $code == 0 ]] || fail "$name: exit $code, expected 0"
}

# run_error NAME EXPECTED... -- ARGS...: the command must exit non-zero, print one line on
# stderr containing every EXPECTED string, and (for run) nothing on stdout. inspect may have
# printed the ELF facts it could read before the load failed.
run_error() {
  local name=$1
  shift
  local expected=()
  while [[ $1 != -- ]]; do
    expected+=("$1")
    shift
  done
  shift
  "$fnhost" "$@" >"$work/out" 2>"$work/err"
  local code=$?
  [[ $code != 0 ]] || fail "$name: exit 0, expected an error"
  [[ $1 == inspect || ! -s $work/out ]] || fail "$name: something on stdout"
  local lines
  lines=$(wc -l <"$work/err")
  [[ $lines == 1 && $(tail -c1 "$work/err" | od -An -c) == *'\n'* ]] ||
    fail "$name: $lines lines on stderr, expected exactly one"
  expect_has err "$name" "${expected[@]}"
}

expect_stdout() {  # NAME TEXT: stdout is exactly TEXT (and a newline)
  [[ $(cat "$work/out") == "$2" ]] || fail "$1: stdout is not '$2'"
}
expect_has() {  # out|err NAME TEXT...: the command's stdout or stderr contains every TEXT
  local stream=$1 name=$2
  shift 2
  for text in "$@"; do
    grep -qF -- "$text" "$work/$stream" || fail "$name: std$stream does not mention '$text'"
  done
}
expect_stderr_lacks() {  # NAME TEXT
  ! grep -qF -- "$2" "$work/err" || fail "$1: stderr mentions '$2'"
}

# Private copies with a known mode: the host refuses group-writable module files.
for module in hello init_fails wrong_abi no_entry abi1_greeter context_probe; do
  cp "$modules/$module.so" "$work/$module.so"
  chmod 0755 "$work/$module.so"
done
printf 'not an ELF file, just text\n' >"$work/text.so"
chmod 0755 "$work/text.so"
mkdir "$work/dir.so"
cp "$work/hello.so" "$work/writable.so"
chmod 0775 "$work/writable.so"

# ---- fnhost run ----
phases=("cold start" "file checks" "dlopen" "abi check" "state init" "instance create")
run_ok "run once" run "$work/hello.so" --data=world
expect_stdout "run once" "hello, world"
expect_has err "run once" "${phases[@]}"
expect_stderr_lacks "run once" "p50"

run_ok "run repeated" run "$work/hello.so" --data=x --repeat=200
expect_stdout "run repeated" "hello, x"
expect_has err "run repeated" "${phases[@]}" "warm calls: 199" "p50" "p99"

# A module built for ABI 1 by the release before loads and answers, in both modes.
run_ok "run ABI-1 module" run "$work/abi1_greeter.so" --data=world
expect_stdout "run ABI-1 module" "hello, world (call 1)"
run_ok "run ABI-1 module isolated" run "$work/abi1_greeter.so" --isolation=process --data=world
expect_stdout "run ABI-1 module isolated" "hello, world (call 1)"

# Request metadata in, response metadata out (keys lower-cased), and a granted service.
run_ok "run with metadata" run "$work/context_probe.so" --metadata=User=42 --data="meta user"
expect_stdout "run with metadata" "42"
run_ok "run response metadata" run "$work/context_probe.so" --data="set Cache hit"
expect_has err "run response metadata" "response metadata: cache=hit"
run_error "run bad metadata" "--metadata=a!b=1" -- run "$work/context_probe.so" --metadata='a!b=1'
run_ok "run granted kv" run "$work/context_probe.so" --grant=kv --data=id
run_error "run service not offered" "service 'echo' is not offered" "context_probe.so" -- \
  run "$work/context_probe.so" --init-config=echo --data=id

run_error "run missing file" "$work/missing.so" "No such file" -- run "$work/missing.so"
run_error "run directory" "$work/dir.so" "directory" -- run "$work/dir.so"
run_error "run non-ELF file" "$work/text.so" "ELF" -- run "$work/text.so"
run_error "run wrong ABI" "$work/wrong_abi.so" "ABI" -- run "$work/wrong_abi.so"
run_error "run plain executable" "/bin/true" "executable" -- run /bin/true
run_error "run group-writable" "$work/writable.so" "writable by its group" -- \
  run "$work/writable.so"
run_error "run no entry symbol" "$work/no_entry.so" "fnhost_module_entry" -- \
  run "$work/no_entry.so"
run_error "run init fails" "$work/init_fails.so" "init failed on purpose" -- \
  run "$work/init_fails.so"
run_error "run bad flag" "--bogus" -- run "$work/hello.so" --bogus=1
run_error "run bad repeat" "--repeat" -- run "$work/hello.so" --repeat=zero
run_error "run zero repeat" "--repeat" -- run "$work/hello.so" --repeat=0
run_error "run no module" "MODULE.so" -- run

# ---- the worker sandbox ----
run_ok "run strict sandbox" run "$work/hello.so" --isolation=process --sandbox=strict --data=world
expect_stdout "run strict sandbox" "hello, world"
expect_has err "run strict sandbox" "sandbox strict: " "worker spawn"
expect_has err "run strict sandbox" "no memory limit"
run_ok "run strict sandbox, opens uncounted" run "$work/hello.so" --isolation=process \
  --sandbox=strict --no-count-refused-opens --data=world
expect_stdout "run strict sandbox, opens uncounted" "hello, world"
run_error "run uncounted opens in process" "--no-count-refused-opens needs --isolation=process" -- \
  run "$work/hello.so" --no-count-refused-opens
# The config file's sandbox fields as flags; a relative --read-path is taken from where it is
# typed.
run_ok_in "$work" "run strict sandbox with limits" run hello.so --isolation=process \
  --sandbox=strict --memory-limit=256MiB --pids-limit=16 --cpu-time-limit=2s --read-path=. \
  --on-denial=kill --data=world
expect_stdout "run strict sandbox with limits" "hello, world"
expect_has err "run strict sandbox with limits" "sandbox strict: " "pids"
expect_stderr_lacks "run strict sandbox with limits" "no memory limit"
run_error "run sandbox limit in process" "--memory-limit needs --isolation=process" -- \
  run "$work/hello.so" --memory-limit=1MiB
run_error "run bad memory limit" "--memory-limit=lots" "MiB" -- \
  run "$work/hello.so" --isolation=process --sandbox=strict --memory-limit=lots
run_error "run bad on-denial" "--on-denial must be errno or kill" -- \
  run "$work/hello.so" --isolation=process --sandbox=strict --on-denial=maybe
run_error "run missing read path" "read_paths entry '$work/nonexistent'" -- \
  run "$work/hello.so" --isolation=process --sandbox=strict --read-path="$work/nonexistent"
run_error "run unknown syscall" "allow_syscalls entry 'frobnicate'" -- \
  run "$work/hello.so" --isolation=process --sandbox=strict --allow-syscall=frobnicate
run_error "run sandbox in process" "--sandbox needs --isolation=process" -- \
  run "$work/hello.so" --sandbox=strict
run_error "run bad sandbox level" "unknown sandbox level 'tight'" -- \
  run "$work/hello.so" --isolation=process --sandbox=tight
run_ok "inspect strict sandbox" inspect "$work/hello.so" --isolation=process --sandbox=strict
expect_has out "inspect strict sandbox" "sandbox       strict: " "kernel" "seccomp-bpf: " \
  "landlock: " "memory cgroup: "
run_ok "inspect strict sandbox with limits" inspect "$work/hello.so" --isolation=process \
  --sandbox=strict --memory-limit=64MiB --pids-limit=8
expect_has out "inspect strict sandbox with limits" "sandbox       strict: "
! grep -qF "no memory limit" "$work/out" ||
  fail "inspect strict sandbox with limits: the memory limit is not in force"

# ---- fnhost inspect ----
run_ok "inspect" inspect "$work/hello.so"
expect_has out "inspect" "$work/hello.so" "hello 1.0.0" "abi version" "size" \
  "dependencies" "dlopen"
run_error "inspect missing file" "$work/missing.so" "No such file" -- inspect "$work/missing.so"
run_error "inspect non-ELF file" "$work/text.so" "ELF" -- inspect "$work/text.so"
run_error "inspect wrong ABI" "$work/wrong_abi.so" "ABI" -- inspect "$work/wrong_abi.so"
run_error "inspect no entry symbol" "$work/no_entry.so" "fnhost_module_entry" -- \
  inspect "$work/no_entry.so"
run_error "inspect no file" "usage" -- inspect

# ---- paths as typed: every command from another directory, with relative paths ----
mkdir "$work/mods" "$work/elsewhere" "$work/mods/snaps" "$work/served-snaps"
# Copies with a known mode: the host refuses group-writable module files.
for module in hello canary snapshot_counter escape_artist; do
  install -m 0755 "$modules/$module.so" "$work/mods/$module.so"
done

# run
run_ok_in "$work/mods" "run bare name" run hello.so --data=world
[[ $(cat "$work/out") == "hello, world" ]] || fail "run bare name: wrong reply"
run_ok_in "$work/elsewhere" "run ../dir/name" run ../mods/hello.so --data=x
[[ $(cat "$work/out") == "hello, x" ]] || fail "run ../dir/name: wrong reply"
(cd "$work/elsewhere" && "$fnhost" run missing.so) >"$work/out" 2>"$work/err" &&
  fail "run missing relative file: exit 0"
expect_has err "run missing relative file" "$work/elsewhere/missing.so" "No such file"

# inspect
run_ok_in "$work/mods" "inspect bare name" inspect hello.so
expect_has out "inspect bare name" "$work/mods/hello.so" "hello 1.0.0"

# snapshot, then run and inspect with it
run_ok_in "$work/mods" "snapshot bare name" snapshot snapshot_counter.so --out=snaps/
expect_has out "snapshot bare name" "wrote $work/mods/snaps/main."
run_ok_in "$work/elsewhere" "run --snapshot-dir relative" run ./../mods/snapshot_counter.so \
  --snapshot-dir=../mods/snaps
expect_has err "run --snapshot-dir relative" "state from snapshot"
snap=$(cd "$work/mods/snaps" && ls -- *.snap)
run_ok_in "$work/mods/snaps" "inspect snapshot bare name" inspect "$snap"
expect_has out "inspect snapshot bare name" "all checksums match"

# serve: a config beside its modules, named bare; --snapshot-dir relative
cat >"$work/mods/host.textproto" <<'CONFIG'
function {
  name: "hello"
  module_path: "hello.so"
  canary { module_path: "./canary.so" share: 1 }
}
function { name: "counter" module_path: "snapshot_counter.so" }
function {
  name: "boxed"
  module_path: "hello.so"
  isolation: PROCESS
  sandbox { level: STRICT cpu_time_limit_ms: 5000 }
}
function {
  name: "burner"
  module_path: "escape_artist.so"
  isolation: PROCESS
  sandbox { level: STRICT cpu_time_limit_ms: 200 }
}
function {
  name: "hog"
  module_path: "escape_artist.so"
  isolation: PROCESS
  sandbox { level: STRICT memory_limit_bytes: 33554432 }
}
CONFIG
(cd "$work/mods" && exec "$fnhost" serve --config=host.textproto --port=0 \
  --snapshot-dir=../served-snaps) >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/server.log")
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $port ]]; then
  fail "serve: not listening: $(cat "$work/server.log")"
else
  url="http://127.0.0.1:$port"
  grep -qF "registered hello -> $work/mods/hello.so" "$work/server.log" ||
    fail "serve: the log does not name $work/mods/hello.so"
  # The canary loads in the background; once it does, it takes every call.
  reply=
  for _ in $(seq 1 100); do
    reply=$(curl -s --max-time 10 -d world "$url/invoke/hello")
    [[ $reply == "canary done" ]] && break
    sleep 0.1
  done
  [[ $reply == "canary done" ]] || fail "serve: the canary never answered (last reply '$reply')"
  [[ $(curl -s --max-time 10 -d 1 "$url/invoke/counter") == origin=* ]] ||
    fail "serve: counter does not answer"
  [[ $(curl -s --max-time 10 -d box "$url/invoke/boxed") == "hello, box" ]] ||
    fail "serve: the sandboxed function does not answer"
  curl -s --max-time 10 "$url/metrics" |
    grep -qF 'fnhost_sandbox_in_force{function="boxed",layer="level",mechanism="strict"} 1' ||
    fail "serve: /metrics does not say the strict sandbox is in force"
  # The sandbox's limits: past the CPU limit 504, past the memory limit 500 (a retry would run
  # out again, so not 429); the host serves on.
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -d 'burn-cpu 5000' "$url/invoke/burner")
  [[ $code == 504 ]] || fail "serve: a call past its CPU limit answered $code, not 504"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -d 'allocate 256' "$url/invoke/hog")
  [[ $code == 500 ]] || fail "serve: a call past its memory limit answered $code, not 500"
  [[ $(curl -s --max-time 10 -d box "$url/invoke/boxed") == "hello, box" ]] ||
    fail "serve: the sandboxed function does not answer after the others' limits"
  # The host writes the counter's snapshot in the background after its init.
  for _ in $(seq 1 100); do
    compgen -G "$work/served-snaps/counter.*.snap" >/dev/null && break
    sleep 0.1
  done
  compgen -G "$work/served-snaps/counter.*.snap" >/dev/null ||
    fail "serve: no snapshot in --snapshot-dir=../served-snaps"
  kill -TERM "$server_pid"
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$server_pid" 2>/dev/null && fail "serve: still running 10 s after SIGTERM"
  server_pid=
fi
grep -q "not set" "$work/server.log" && fail "serve: $(grep "not set" "$work/server.log")"

if [[ $failures != 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
