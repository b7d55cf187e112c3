#!/usr/bin/env bash
# Checks the native API's OpenAPI document (`whoot-mgmt openapi`, the same bytes served at
# /openapi.json) with openapi-spec-validator, installed into target/openapi-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/openapi-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/openapi/requirements.txt

cargo build --quiet --bin whoot-mgmt
target/debug/whoot-mgmt openapi > target/openapi.json
"$venv/bin/openapi-spec-validator" target/openapi.json
