"""Fan-out: one bus event in, one delivery task per subscribed endpoint out.

Handler ``functions.delivery.fanout.handler`` consumes the events queue, which the delivery rule
on the entry bus fills with every event that has a ``detail.tenantId`` (SQS batch events; answers
``batchItemFailures``). For each event it

1. reads the tenant's endpoints (cached per process for ``DELIVERY_ENDPOINT_CACHE_SECONDS``),
2. keeps those subscribed to the event type (``eventTypes`` empty = every type; ``invoice.*`` a
   prefix) whose ``filter`` (an EventBridge pattern, :mod:`functions.patterns`: the semantics an API
   destination's rule has) matches the event,
3. stores the message once: the exact Standard Webhooks body, so a resend is byte-identical (and
   the event's envelope when a subscribed endpoint transforms the body); for an event with a single
   delivery the task carries the message instead and the worker stores it with the attempt,
4. records a failed, replayable delivery for subscribed endpoints that are disabled,
5. queues one task ``{"tenantId", "eventId", "endpointId", "eventType", "run": 1}`` per enabled endpoint
   on the tasks queue (ten per ``SendMessageBatch`` across the whole SQS batch), where each is
   delivered and retried on its own (no head-of-line blocking). An event whose tasks could not all
   be queued is reported failed and comes back; the tasks that did get through are dropped as
   duplicates by the worker.

A redelivered event sends its tasks again; the worker's claim on the delivery drops the duplicates.
An event without ``detail.eventId`` (published by hand rather than with ``functions.events.publish``)
is delivered under its EventBridge ``id``, as an API destination delivers it: stable for that
event's deliveries (EventBridge's retries, the events queue's redeliveries, resends and replays),
not across re-publishing (an archive replay gets a new ``id``). An event that breaks the contract
(an ``eventId`` that cannot be a ``webhook-id``: see :data:`functions.events.EVENT_ID_RE`...) is
reported as failed, so it ends in the events dead-letter queue after the queue's receive limit (5),
never silently dropped and never turned into tasks.

Environment: :class:`functions.delivery.settings.FanoutSettings`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from functions import events, logs, metrics, telemetry
from functions.delivery import runtime, signing, store, tasks
from functions.delivery.endpoint_fields import WORKER
from functions.delivery.runtime import Runtime
from functions.delivery.settings import FanoutSettings
from functions.runtime import Clients


class FanoutRuntime(Runtime[FanoutSettings]):
    """The fan-out's settings and clients, and its per-process cache of each tenant's endpoints."""

    def __init__(self, settings: FanoutSettings, clients: Clients) -> None:
        super().__init__(settings, clients)
        self.endpoints: dict[str, tuple[float, list[store.Endpoint]]] = {}
        self.endpoints_lock = threading.Lock()


_state = runtime.process_state(lambda clients: FanoutRuntime(FanoutSettings.from_environ(os.environ), clients))
reset = _state.reset


class ContractError(ValueError):
    """The bus event does not follow hookstack's event contract (functions/events.py)."""


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    state = _state.get()
    failures: list[str] = []
    queued: list[dict[str, Any]] = []
    owners: list[str] = []
    for record in event.get("Records", []):
        try:
            planned = plan(state, _event_of(record["body"]))
        except ContractError as error:
            logs.error(
                "event breaks the contract; left for the dead-letter queue",
                messageId=record.get("messageId"),
                problem=str(error),
            )
            failures.append(record["messageId"])
            continue
        except Exception as error:
            logs.error("fan-out failed; will be retried", messageId=record.get("messageId"), error=repr(error)[:300])
            failures.append(record["messageId"])
            continue
        queued += planned
        owners += [record["messageId"]] * len(planned)
    # One SendMessageBatch per ten tasks across the whole batch, not one per event.
    unsent = state.tasks.send(queued)
    for index in unsent:
        if owners[index] not in failures:
            logs.error("delivery task not queued; the event will be retried", messageId=owners[index])
            failures.append(owners[index])
    metrics.fanned_out(WORKER, len(event.get("Records", [])) - len(failures), len(queued) - len(unsent))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def _event_of(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        # More than 4,300 digits in a number, or nesting deeper than the parser's recursion: valid JSON
        # that no retry will read.
        raise ContractError(f"the SQS body cannot be read as JSON ({str(error)[:120]})") from None


def parse_event(event: Mapping[str, Any]) -> tuple[store.Message, Mapping[str, Any]]:
    """The message to deliver from an EventBridge event (as a rule puts it on SQS)."""
    if not isinstance(event, Mapping):
        raise ContractError("the SQS body is not an EventBridge event object")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ContractError("detail must be a JSON object")
    tenant_id, event_id, event_type = detail.get("tenantId"), detail.get("eventId"), event.get("detail-type")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ContractError("detail.tenantId must be a non-empty string")
    source = "detail.eventId"
    if event_id is None:
        # Published without functions.events.publish: EventBridge's id, as an API destination sees it.
        event_id, source = event.get("id"), "id (the event has no detail.eventId)"
    problem = events.event_id_problem(event_id)
    if problem is not None or not isinstance(event_id, str):
        # It would become an HTTP header (webhook-id) that cannot be sent or signed unambiguously.
        raise ContractError(f"{source} {problem}")
    if not isinstance(event_type, str) or not event_type:
        raise ContractError("detail-type must be a non-empty string")
    event_time = event.get("time")
    if not isinstance(event_time, str) or not event_time:
        event_time = store.iso(time.time())
    try:
        body = signing.payload(event_type, event_time, detail).decode("utf-8")
    except UnicodeEncodeError:
        # Valid JSON ("\ud800"), but no UTF-8 body can carry it: no retry changes that.
        raise ContractError("detail-type or detail holds a lone surrogate that UTF-8 cannot encode") from None
    message = store.Message(
        tenant_id=tenant_id,
        event_id=event_id,
        event_type=event_type,
        event_time=event_time,
        body=body,
        received_at=store.iso(time.time()),
    )
    return message, detail


def endpoints_of(state: FanoutRuntime, tenant_id: str, now: float | None = None) -> list[store.Endpoint]:
    """The tenant's endpoints, from a short per-process cache."""
    moment = time.monotonic() if now is None else now
    with state.endpoints_lock:
        cached = state.endpoints.get(tenant_id)
        if cached and cached[0] > moment:
            return cached[1]
    endpoints, _ = state.table.list_endpoints(tenant_id)
    with state.endpoints_lock:
        cache = state.endpoints
        cache.pop(tenant_id, None)
        if len(cache) >= MAX_CACHED_TENANTS:
            # Every tenant id an event names is cached (most with no endpoint): forget the expired,
            # then the oldest, so a warm process does not grow with the number of tenants ever seen.
            for key in [key for key, (until, _) in cache.items() if until <= moment]:
                del cache[key]
            while len(cache) >= MAX_CACHED_TENANTS:
                del cache[next(iter(cache))]
        cache[tenant_id] = (moment + state.settings.endpoint_cache_seconds, endpoints)
    return endpoints


MAX_CACHED_TENANTS = 10_000


def plan(state: FanoutRuntime, event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Store one event's message (and its skipped deliveries); return the tasks to queue for it."""
    message, _ = parse_event(event)
    subscribed = [
        e
        for e in endpoints_of(state, message.tenant_id)
        if e.declared_enabled and e.subscribes_to(message.event_type) and e.accepts(event)
    ]
    if not subscribed:
        return []
    if any(e.options.transform for e in subscribed):
        # The worker fills a transform's template from the whole event: keep what the body lacks.
        envelope = {key: value for key, value in event.items() if key != "detail"}
        message = dataclasses.replace(message, envelope=json.dumps(envelope, separators=(",", ":")))
    now = time.time()
    expires = store.ttl(now, state.settings.history_ttl_days)
    enabled = [e for e in subscribed if e.enabled]
    carried = None
    if len(enabled) == len(subscribed) == 1 and _carried_size(message) <= tasks.MAX_CARRIED_MESSAGE_BYTES:
        # One delivery: its task carries the message and the worker records it with the attempt,
        # one write instead of two (docs/delivery.md, "Cost"). With more, one stored copy is cheaper.
        carried = store.message_fields(message)
    else:
        state.table.put_message(message, expires)
    for endpoint in subscribed:
        if not endpoint.enabled:
            reason = f"endpoint disabled ({endpoint.disabled_reason})"
            state.table.record_skipped_delivery(endpoint, message, reason, now, expires)
    logs.info(
        "event fanned out",
        tenantId=message.tenant_id,
        eventId=message.event_id,
        eventType=message.event_type,
        tasks=len(enabled),
        skipped=len(subscribed) - len(enabled),
    )
    trace = telemetry.traceparent_to_forward(event["detail"].get(events.TRACEPARENT_KEY))
    return [
        tasks.task(message.tenant_id, message.event_id, e.endpoint_id, message.event_type, 1, carried, trace)
        for e in enabled
    ]


def _carried_size(message: store.Message) -> int:
    """The message's bytes as the task carries them: JSON-escaped (an emoji's 4 bytes take 12, a quote 2)."""
    size = len(message.body.encode("utf-8")) + len((message.envelope or "").encode("utf-8"))
    if size > tasks.MAX_CARRIED_MESSAGE_BYTES:
        return size  # too large already: no need to escape it
    return len(json.dumps(store.message_fields(message), separators=(",", ":")))
