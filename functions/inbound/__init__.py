"""Inbound webhooks: verify, deduplicate, claim-check and enqueue (ingest); rehydrate (enrich).

Handlers: ``functions.inbound.ingest.handler`` (function URL, payload format 2.0) and
``functions.inbound.enrich.handler`` (EventBridge Pipes enrichment of an SQS FIFO batch).
Pure modules: :mod:`verify` (signature schemes), :mod:`envelope` (FIFO message, ids, ordering),
:mod:`target` (what the Pipe puts on the bus), :mod:`source_secrets` (TTL cache), :mod:`ledger` (dedupe).
See docs/consumer.md.
"""
