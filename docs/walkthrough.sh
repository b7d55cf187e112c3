#!/usr/bin/env bash
# From a new server to a verified webhook delivery, on one machine. Needs: bash, curl, python3,
# and whoot-mgmt on PATH (`cargo build --release && export PATH=$PWD/target/release:$PATH`).
# It runs a server of its own in a temporary directory on a free port, and stops it at the end.
set -euo pipefail

DATA=$(mktemp -d)
trap 'kill $SERVER $RECEIVER 2>/dev/null; rm -rf "$DATA"' EXIT
# Picks one field out of JSON: `... | field '["user"]["id"]'`.
field() { python3 -c 'import json, sys; print(eval("json.load(sys.stdin)" + sys.argv[1]))' "$1"; }

# The server, on a free port; the receiver below is on this machine, so loopback is allowed.
whoot-mgmt serve --data-dir "$DATA" --listen 127.0.0.1:0 \
  --webhook-allow-networks 127.0.0.1/32 > "$DATA/serve.out" 2> "$DATA/serve.log" &
SERVER=$!
until grep -q '^listening on ' "$DATA/serve.out" 2>/dev/null; do sleep 0.1; done
ADDR=$(sed -n 's/^listening on http:\/\///p' "$DATA/serve.out")
export WHOOT_DATA_DIR=$DATA   # the admin commands below reach this server through its socket

whoot-mgmt tenant create acme --seats 50
KEY=$(whoot-mgmt key create --tenant acme --scope all --description walkthrough --json | field '["secret"]')
U=http://$ADDR/v1/acme
auth=(-H "Authorization: Bearer $KEY")

# A user as an identity provider creates one, by SCIM:
curl -sf "${auth[@]}" -H 'Content-Type: application/scim+json' "$U/scim/v2/Users" \
  -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@acme.example",
       "name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@acme.example","primary":true}]}'
echo

# And one by the native API; its id is kept:
GRACE=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' "$U/users" \
  -d '{"email":"grace@acme.example","full_name":"Grace Hopper"}' | field '["user"]["id"]')

# A room, and Grace in it with transmit permission:
ROOM=$(whoot-mgmt room create --tenant acme Ops --json | field '["id"]')
curl -sf "${auth[@]}" -H 'Content-Type: application/json' "$U/rooms/$ROOM/members" \
  -d "{\"user_id\":\"$GRACE\",\"tx_permission\":true}"
echo

# A webhook receiver on a free port that checks the Standard Webhooks signature (HMAC-SHA256 of
# `webhook-id.webhook-timestamp.body` with the base64 key after `whsec_`, read from a file):
cat > "$DATA/receiver.py" <<'PY'
import base64, hashlib, hmac, http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        key = base64.b64decode(open(sys.argv[1]).read().strip().removeprefix("whsec_"))
        body = self.rfile.read(int(self.headers["content-length"]))
        signed = f'{self.headers["webhook-id"]}.{self.headers["webhook-timestamp"]}.'.encode() + body
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        ok = any(s.split(",", 1)[1] == want for s in self.headers["webhook-signature"].split())
        print("verified" if ok else "BAD SIGNATURE", json.loads(body)["type"], flush=True)
        self.send_response(200 if ok else 400); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$DATA/receiver.py" "$DATA/whsec" > "$DATA/receiver.out" &
RECEIVER=$!
until [ -s "$DATA/receiver.out" ]; do sleep 0.1; done
PORT=$(head -1 "$DATA/receiver.out")

# Its registration; the signing secret is shown this once, and handed to the receiver:
HOOK_JSON=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' "$U/webhooks" \
  -d "{\"url\":\"http://127.0.0.1:$PORT/hooks\",\"events\":[\"user.created\",\"room.member_added\"]}")
HOOK=$(echo "$HOOK_JSON" | field '["id"]')
echo "$HOOK_JSON" | field '["secret"]' > "$DATA/whsec"

# The next change is delivered, signed, and the receiver verifies it:
curl -sf "${auth[@]}" -H 'Content-Type: application/json' "$U/users" -d '{"email":"edsger@acme.example"}' > /dev/null
until grep -q 'user.created' "$DATA/receiver.out"; do sleep 0.1; done
grep 'user.created' "$DATA/receiver.out"
curl -sf "${auth[@]}" "$U/webhooks/$HOOK/deliveries?limit=1"
echo

# The same change stream as a pull feed:
curl -sf "${auth[@]}" "$U/events?after=0&limit=10" | field '["events"][-1]["type"]'
grep -q 'BAD SIGNATURE' "$DATA/receiver.out" && exit 1
echo "walkthrough: done"
