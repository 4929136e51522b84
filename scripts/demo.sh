#!/usr/bin/env bash
# The original system's curl scenario (ORIGINAL.md, "Testing") against a running kyte-relay
# (started by scripts/run.sh). Kyte's requests are signed by kyte-sim; the kitchen's are curl.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a
# shellcheck source=/dev/null
. ./.env.example
[ -f .env ] && . ./.env
set +a
INGRESS="${KYTE_INGRESS_URL:-http://127.0.0.1:8000}"
TOKEN="${STAFF_TOKEN:-${STAFF_TOKENS#*:}}"; TOKEN="${TOKEN%%,*}"
SIM="${CARGO_TARGET_DIR:-target}/${KYTE_PROFILE:-release}/kyte-sim"
[ -x "$SIM" ] || SIM="${CARGO_TARGET_DIR:-target}/debug/kyte-sim"

echo "# 1. Kyte creates an order"
out="$("$SIM" order --ingress "$INGRESS")"; echo "$out"
ID="$(echo "$out" | sed -n 's/^order id: //p')"
for _ in $(seq 1 50); do
  curl -fsS "$INGRESS/api/orders/$ID/" -H "Authorization: Bearer $TOKEN" >/dev/null 2>&1 && break
  sleep 0.1
done
for status in accepted delayed completed; do
  echo; echo "# the restaurant: $status"
  curl -sS -X PATCH "$INGRESS/api/orders/$ID/" -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d "{\"status\":\"$status\"}"; echo
done
echo; echo "# 5. Kyte cancels (refused: the order is completed)"
"$SIM" cancel --ingress "$INGRESS" "$ID"
sleep 1
echo; echo "# the order as the kitchen sees it"
curl -sS "$INGRESS/api/orders/$ID/" -H "Authorization: Bearer $TOKEN"; echo
echo; echo "# webhooks Kyte received for it"
curl -sS "${KYTE_SIM_URL:-http://127.0.0.1:9000}/received" | python3 -c "
import json, sys
for w in json.load(sys.stdin):
    b = w['body']
    if b.get('order_id') == '$ID':
        print(w['answered'], 'verified' if w['verified'] else 'NOT VERIFIED', b['sequence'], b['type'], json.dumps(b['data']))
"
