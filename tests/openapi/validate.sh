#!/usr/bin/env bash
# Checks the native API's OpenAPI document (`whoot-mgmt openapi`, the same bytes served at
# /openapi.json) with openapi-spec-validator, installed into target/openapi-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/openapi-venv
. tests/venv.sh
venv "$venv" tests/openapi/requirements.txt
target/debug/whoot-mgmt openapi > target/openapi.json
"$venv/bin/openapi-spec-validator" target/openapi.json
