#!/usr/bin/env bash
# The subscription API with curl: a tenant adds a webhook endpoint, lists, disables and deletes it.
#   examples/subscriptions.sh .sandbox/examples.json acme http://127.0.0.1:8765/acme/from-api
# Locally the API takes plain HTTP. On AWS every route needs SigV4 (service execute-api): curl 7.75+
# signs with  --aws-sigv4 "aws:amz:<region>:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
# (plus -H "x-amz-security-token: $AWS_SESSION_TOKEN" for temporary credentials), or use
# examples/subscriptions_sigv4.py. The base URL is the stack output subscriptionsApiUrl.
set -euo pipefail
state_file=${1:-.sandbox/examples.json}
tenant=${2:-acme}
endpoint_url=${3:-http://127.0.0.1:8765/$tenant/from-api}
api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["subscriptions_api"])' "$state_file")
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "# create: the answer holds the endpoint's signing secret, shown only this once"
created=$(curl -sS --fail-with-body -X POST "$api/tenants/$tenant/endpoints" \
  -H 'content-type: application/json' \
  -d "{\"url\": \"$endpoint_url\", \"eventTypes\": [\"order.shipped\"], \"description\": \"from curl\"}") \
  || { echo "create failed: $created" >&2; exit 1; }
echo "$created"
id=$(echo "$created" | field id)

echo "# list"
curl -sS --fail-with-body "$api/tenants/$tenant/endpoints"; echo

echo "# disable (PATCH enabled=false; true re-enables it)"
curl -sS --fail-with-body -X PATCH "$api/tenants/$tenant/endpoints/$id" \
  -H 'content-type: application/json' -d '{"enabled": false}'; echo

echo "# delete"
curl -sS --fail-with-body -o /dev/null -w '%{http_code}\n' -X DELETE "$api/tenants/$tenant/endpoints/$id"
