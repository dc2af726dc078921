"""Signed webhook deliveries (Standard Webhooks), the subscription API and delivery history.

Handlers (each reads its environment through its frozen settings class in
:mod:`functions.delivery.settings`, the runtime contract the component and the sandbox write with;
:mod:`functions.delivery.runtime` holds the settings and the boto3 clients per process):

- ``functions.delivery.api.handler``: the subscription API (API Gateway HTTP API, payload 2.0), a
  package split by resource (endpoints, secrets, messages) over one route table
  (:mod:`~functions.delivery.routes`).
- ``functions.delivery.fanout.handler``: events queue (SQS) -> one delivery task per endpoint.
- ``functions.delivery.worker.handler``: tasks queue (SQS) -> signed HTTP attempts, retries, history.

Pure modules, tested without AWS: :mod:`~functions.delivery.signing`, :mod:`~functions.delivery.ssrf`,
:mod:`~functions.delivery.policy`, :mod:`~functions.delivery.routes`. Storage layout:
:mod:`~functions.delivery.schema`; status words: :mod:`~functions.delivery.vocab`; table access:
:class:`functions.delivery.store.DeliveryTable` (a package split by resource); the tasks queue:
:mod:`~functions.delivery.tasks`; the HTTP client pinned to vetted addresses:
:mod:`~functions.delivery.sender`.
"""
