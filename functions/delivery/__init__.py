"""Signed webhook deliveries (Standard Webhooks), the subscription API and delivery history.

Handlers (each module documents the environment variables it reads; all are listed in
:mod:`functions.delivery.settings`):

- ``functions.delivery.api.handler``: the subscription API (API Gateway HTTP API, payload 2.0).
- ``functions.delivery.fanout.handler``: events queue (SQS) -> one delivery task per endpoint.
- ``functions.delivery.worker.handler``: tasks queue (SQS) -> signed HTTP attempts, retries, history.

Pure modules, tested without AWS: :mod:`~functions.delivery.signing`, :mod:`~functions.delivery.ssrf`,
:mod:`~functions.delivery.policy`, :mod:`~functions.delivery.routes`. Storage layout:
:mod:`~functions.delivery.schema`; table access: :mod:`~functions.delivery.store`; the HTTP client
pinned to vetted addresses: :mod:`~functions.delivery.sender`.
"""
