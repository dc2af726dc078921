"""Inbound webhooks: verify, deduplicate, claim-check and enqueue (ingest); rehydrate (enrich).

Handlers: ``functions.inbound.ingest.handler`` (function URL, payload format 2.0) and
``functions.inbound.enrich.handler`` (EventBridge Pipes enrichment of an SQS FIFO batch), whose
environments are the contracts in :mod:`settings`. The ingest's steps: :mod:`request` (event ->
request, body), :mod:`authenticate`, :mod:`claims` (dedupe in the :mod:`ledger`), :mod:`enqueue`
(claim-check, send); :mod:`answers` holds its responses. Per provider: :mod:`kinds` (the registry),
:mod:`schemes` (signature schemes), :mod:`verify` (verification by kind). Pure modules:
:mod:`payload` (bodies), :mod:`envelope` (FIFO message, ids, ordering), :mod:`target` (what the Pipe
puts on the bus), :mod:`source_secrets` (TTL cache). See docs/consumer.md.
"""
