"""SQS FIFO deduplication for moto as AWS documents it (moto 5.x approximates it).

AWS: a FIFO queue that accepted a message with a ``MessageDeduplicationId`` (explicit, or the body's
SHA-256 with content-based deduplication) accepts any other message with that id within the next 5
minutes without delivering it, whether or not the first was received or deleted meanwhile; with
``DeduplicationScope: messageGroup`` the id is scoped to its message group. moto instead compares a
new message only with those still in the queue, and without a lock: a message already received and
deleted is forgotten at once, and two concurrent sends of one id can both pass its check.

The inbound ingest relies on the documented behaviour (docs/consumer.md, "Idempotency": a duplicate
that looks the ledger up before the first request's record is readable sends again, and SQS drops
it), so the sandbox's moto server installs this, and so do the tests that prove it in-process. Only
sends are deduplicated: a message moving to its dead-letter queue keeps its id and is never dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from functions.inbound.ledger import FIFO_DEDUPLICATION_SECONDS

_LOCK = threading.Lock()
_SENDING = threading.local()
# The attribute of a moto Queue that remembers (scope, deduplication id) -> when it was accepted.
_ACCEPTED = "_hookstack_accepted_deduplication_ids"


def install_fifo_deduplication(set_attribute: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make moto's FIFO queues deduplicate sends as AWS does (``set_attribute``: e.g. a test's
    ``monkeypatch.setattr``, which undoes it after the test)."""
    from moto.sqs.models import Queue, SQSBackend

    original_send = SQSBackend.send_message
    original_add = Queue.add_message
    if getattr(original_add, "hookstack_fifo_deduplication", False):
        return  # already installed in this process

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _SENDING.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _SENDING.active = False

    def add_message(self: Any, message: Any) -> None:
        if not self.fifo_queue or not getattr(_SENDING, "active", False) or not message.deduplication_id:
            original_add(self, message)
            return
        scoped = self.attributes.get("DeduplicationScope") == "messageGroup"
        key = (message.group_id if scoped else "", message.deduplication_id)
        now = int(message.sent_timestamp) / 1000
        with _LOCK:  # check and accept in one step: concurrent sends of one id cannot both pass
            accepted: dict[tuple[str, str], float] = self.__dict__.setdefault(_ACCEPTED, {})
            for stale in [k for k, at in accepted.items() if now - at >= FIFO_DEDUPLICATION_SECONDS]:
                del accepted[stale]
            if key in accepted:
                return  # accepted (the caller gets a success), not delivered: what AWS does
            accepted[key] = now
            # This check replaces moto's (queue-wide, whatever the scope): hide the id from it.
            deduplication_id, message.deduplication_id = message.deduplication_id, None
            try:
                original_add(self, message)
            finally:
                message.deduplication_id = deduplication_id

    add_message.hookstack_fifo_deduplication = True  # type: ignore[attr-defined]
    set_attribute(SQSBackend, "send_message", send_message)
    set_attribute(Queue, "add_message", add_message)
