"""The operator view's routes (scope ``operator``, or IAM): every tenant with its endpoints' health,
and the depths of the delivery dead-letter queues (docs/portal.md#the-operator-view).

- ``GET /operator/tenants`` -> ``{"data": [{"tenantId", "endpoints": [endpoint + "health"]}],
  "truncated"}``: tenants found by a ``Scan`` of the delivery table for endpoint definitions (the
  table has no index of tenants: a scan reads the whole table, attempts included, so it is bounded
  by :data:`MAX_SCAN_PAGES` pages and :data:`MAX_TENANTS` tenants and says ``truncated`` past them).
  Each endpoint's ``health`` is its success rate over its last :data:`HEALTH_WINDOW` attempts: one
  query per endpoint, :data:`HEALTH_QUERIES_AT_ONCE` at a time, for at most :data:`MAX_ENDPOINTS`
  endpoints (whole tenants, in tenant order; ``truncated`` past them), so the answer stays within the
  API's timeout and Lambda's 6 MB response on any deployment.
- ``GET /operator/dead-letter-queues`` -> ``{"data": [{"name", "url", "depth", "inFlight"}]}``: the
  queues ``DELIVERY_DEAD_LETTER_QUEUE_URLS`` names (``ApproximateNumberOfMessages``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions.delivery import schema
from functions.delivery.api.http import ApiRuntime, Request

HEALTH_WINDOW = 50  # attempts the success rate is computed over (portal/js/health.js: the same)
MAX_SCAN_PAGES = 20  # 1 MB each: what one request of the operator view may read of the table
MAX_TENANTS = 200
MAX_ENDPOINTS = 1_000  # listed with their health: about a second of queries, well under a megabyte
HEALTH_QUERIES_AT_ONCE = 16
SUCCEEDED = "succeeded"


def endpoint_health(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate (``None`` without attempts) over the newest :data:`HEALTH_WINDOW` attempts."""
    recent = attempts[:HEALTH_WINDOW]
    succeeded = sum(1 for attempt in recent if attempt.get("outcome") == SUCCEEDED)
    return {
        "attempts": len(recent),
        "succeeded": succeeded,
        "successRate": round(succeeded / len(recent), 4) if recent else None,
    }


def tenant_ids(state: ApiRuntime) -> tuple[list[str], bool]:
    """Every tenant with an endpoint definition, sorted; and whether the scan stopped early."""
    found: set[str] = set()
    request: dict[str, Any] = {
        "TableName": state.table.name,
        "FilterExpression": "begins_with(sk, :endpoint)",
        "ProjectionExpression": "pk",
        "ExpressionAttributeValues": {":endpoint": {"S": schema.ENDPOINT_PREFIX}},
    }
    for _ in range(MAX_SCAN_PAGES):
        response = state.table.client.scan(**request)
        for item in response.get("Items", []):
            pk = item["pk"]["S"]
            if pk.startswith("T#"):
                found.add(pk[2:])
        if "LastEvaluatedKey" not in response:
            return sorted(found)[:MAX_TENANTS], len(found) > MAX_TENANTS
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return sorted(found)[:MAX_TENANTS], True


def list_tenants(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    ids, truncated = tenant_ids(state)
    listed: list[tuple[str, list[Any]]] = []
    count = 0
    for tenant_id in ids:
        endpoints, _ = state.table.list_endpoints(tenant_id)
        if count + len(endpoints) > MAX_ENDPOINTS:
            truncated = True
            break
        listed.append((tenant_id, endpoints))
        count += len(endpoints)

    def health(tenant_id: str, endpoint_id: str) -> dict[str, Any]:
        attempts, _ = state.table.list_attempts(tenant_id, endpoint_id=endpoint_id, limit=HEALTH_WINDOW)
        return endpoint_health(attempts)

    with ThreadPoolExecutor(max_workers=HEALTH_QUERIES_AT_ONCE) as pool:
        healths = {
            (tenant_id, endpoint.endpoint_id): pool.submit(health, tenant_id, endpoint.endpoint_id)
            for tenant_id, endpoints in listed
            for endpoint in endpoints
        }
        tenants = [
            {
                "tenantId": tenant_id,
                "endpoints": [
                    {**endpoint.to_api(), "health": healths[tenant_id, endpoint.endpoint_id].result()}
                    for endpoint in endpoints
                ],
            }
            for tenant_id, endpoints in listed
        ]
    return 200, {"data": tenants, "truncated": truncated}


def list_dead_letter_queues(request: Request, state: ApiRuntime) -> tuple[int, Any]:
    queues = []
    for url in state.settings.dead_letter_queue_urls:
        attributes = state.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        queues.append(
            {
                "name": url.rstrip("/").rsplit("/", 1)[-1],
                "url": url,
                "depth": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            }
        )
    return 200, {"data": queues}
