#!/usr/bin/env bash
# Publish an event with the AWS CLI (any shell script or language can do the same PutEvents call).
#   examples/publish_cli.sh .sandbox/examples.json acme evt_cli_1
# Against AWS, drop --endpoint-url and the dummy credentials and use the stack output busName.
# PutEvents answers 200 even when an entry failed: check FailedEntryCount (done below with --query).
set -euo pipefail
state_file=${1:-.sandbox/examples.json}
tenant=${2:-acme}
event_id=${3:-evt_cli_$(date +%s%N)}
endpoint=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["aws_endpoint"])' "$state_file")
bus=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bus_names"][0])' "$state_file")
# detail must carry tenantId (rules route on it) and eventId (receivers deduplicate on it).
entries=$(cat <<JSON
[{"EventBusName": "$bus", "Source": "example.cli", "DetailType": "order.created",
  "Detail": "{\"tenantId\": \"$tenant\", \"eventId\": \"$event_id\", \"orderId\": 8, \"total\": 99}"}]
JSON
)
failed=$(AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox \
  aws --endpoint-url "$endpoint" --region us-east-1 events put-events --entries "$entries" \
  --query FailedEntryCount --output text)
if [ "$failed" != "0" ]; then
  echo "PutEvents: $failed entry failed" >&2
  exit 1
fi
echo "{\"published\": \"$event_id\", \"bus\": \"$bus\"}"
