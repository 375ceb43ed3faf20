#!/usr/bin/env bash
# Sets everything up and serves the example functions on http://127.0.0.1:8080
# (try: curl -d world localhost:8080/invoke/hello; curl localhost:8080/metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/src/fnhost serve --config=examples/fnhost.textproto --port="${PORT:-8080}" "$@"
