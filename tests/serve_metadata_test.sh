#!/usr/bin/env bash
# `fnhost serve` maps HTTP headers to a call's context and back, with a real client (curl, over
# a keep-alive connection): x-fn-* request headers reach the module as metadata, what the module
# sets comes back as x-fn-* response headers, and a traceparent makes the call a child span
# whose own traceparent comes back. A bad metadata key is a 400 that names it.
#
# usage: serve_metadata_test.sh FNHOST_BINARY CONTEXT_PROBE_MODULE
set -euo pipefail

fnhost=$(realpath "$1")
module=$(realpath "$2")
if ! command -v curl >/dev/null 2>&1; then
  echo "SKIPPED: curl is not installed"
  exit 77
fi
source "$(dirname "$0")/support/serve_test_lib.sh"
serve_test_init serve-meta
cd "$work"
cp "$module" probe.so
cat >config.textproto <<'CONFIG'
function {
  name: "probe"
  module_path: "probe.so"
}
CONFIG
start_serve "$fnhost" serve --config=config.textproto --port=0
url="http://127.0.0.1:$port/invoke/probe"

# Two requests on one connection: metadata in, then metadata out.
curl -s -D headers.txt --max-time 10 -H 'X-Fn-User: 42' -d 'meta user' "$url" -o meta.txt \
  --next -s -D headers2.txt --max-time 10 -d 'set Cache hit' "$url" -o set.txt \
  || fail "curl failed"
[[ $(cat meta.txt) == "42" ]] || fail "meta user answered '$(cat meta.txt)'"
grep -qi '^x-fn-cache: hit' headers2.txt || fail "no x-fn-cache header: $(cat headers2.txt)"

parent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
curl -s -D trace.txt --max-time 10 -H "traceparent: $parent" -d 'trace' "$url" -o seen.txt \
  || fail "curl failed"
grep -q '^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]\{16\}-01|$' seen.txt \
  || fail "the module saw traceparent '$(cat seen.txt)'"
grep -qi '^traceparent: 00-0af7651916cd43dd8448eb211c80319c-' trace.txt \
  || fail "no traceparent came back: $(cat trace.txt)"

code=$(curl -s -o bad.txt -w '%{http_code}' --max-time 10 -H 'X-Fn-Bad!Key: 1' -d 'list' "$url")
[[ $code == 400 ]] || fail "a bad metadata key answered $code: $(cat bad.txt)"
grep -q 'bad!key' bad.txt || fail "the 400 does not name the key: $(cat bad.txt)"
echo "PASS"
