#!/usr/bin/env bash
# Runs scim2-tester against a fresh server (empty temp data dir, bootstrap key), at both SCIM
# base URLs, and with a key on the strict SCIM profile. Installs the checker into
# target/scim-venv. Fails on any failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/scim-venv
. tests/venv.sh
venv "$venv" tests/conformance/requirements.txt
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

# The same checks with a key on the strict SCIM profile (the 2026 interop profiles).
strict=$(target/debug/whoot-mgmt --data-dir "$data/store" --json key create --tenant default \
  --scope all --scim-profile strict --description "scim2-tester, strict" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')

status=0
for base in "$addr/scim/v2" "$addr/v1/default/scim/v2"; do
  echo "== scim2-tester against $base (compatible key)"
  "$venv/bin/python" tests/conformance/run_scim2_tester.py "$base" "$key" || status=1
done
echo "== scim2-tester against $addr/scim/v2 (strict key)"
"$venv/bin/python" tests/conformance/run_scim2_tester.py "$addr/scim/v2" "$strict" --strict || status=1
exit $status
