#!/usr/bin/env bash
# Runs scim2-tester against a fresh server (empty temp data dir, bootstrap key), at both SCIM
# base URLs. Installs the checker into target/scim-venv. Fails on any failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/scim-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt

cargo build --quiet --bin whoot-mgmt
data=$(mktemp -d)
out="$data/stdout"
# The checker sends bursts of requests: no per-key limit for this run.
target/debug/whoot-mgmt serve --data-dir "$data/store" --listen 127.0.0.1:0 --rate-limit 0 >"$out" 2>"$data/stderr" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$out" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$out")
[ -n "$addr" ] || { echo "server did not start:"; cat "$data/stderr"; exit 1; }
key=$(cat "$data/store/initial-api-key")

status=0
for base in "$addr/scim/v2" "$addr/v1/default/scim/v2"; do
  echo "== scim2-tester against $base"
  "$venv/bin/python" tests/conformance/run_scim2_tester.py "$base" "$key" || status=1
done
exit $status
